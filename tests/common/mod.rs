//! Shared helpers for the integration tests: start a lab on loopback and make clients that trust its CA.
#![allow(dead_code)]

use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::server::{LabOptions, RunningLab, start};
use std::path::Path;

/// A started lab and the temporary folder that holds its files.
pub struct TestLab {
    pub lab: RunningLab,
    pub dir: tempfile::TempDir,
}

impl std::ops::Deref for TestLab {
    type Target = RunningLab;
    fn deref(&self) -> &RunningLab {
        &self.lab
    }
}

/// Starts the small hand-made scenario.
pub async fn small_lab() -> TestLab {
    lab_with(Scenario::small()).await
}

/// Starts a generated organisation.
pub async fn generated_lab(users: usize, devices: usize, seed: u64) -> TestLab {
    lab_with(generate(GenerateSpec {
        users,
        devices,
        seed,
    }))
    .await
}

/// Starts a lab for a scenario.
pub async fn lab_with(scenario: Scenario) -> TestLab {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(LabOptions {
        scenario,
        dir: dir.path().to_path_buf(),
    })
    .await
    .expect("lab starts");
    TestLab { lab, dir }
}

/// An HTTP client that trusts the lab's CA (and nothing is switched off).
pub fn client(ca: &str) -> reqwest::Client {
    exchange_connector::tls::http_client_builder(Some(Path::new(ca)))
        .expect("tls")
        .build()
        .expect("client")
}
