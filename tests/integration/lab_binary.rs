//! The real `exchange-connector-lab` binary: serves a generated organisation, writes its endpoints file
//! once listening, answers over HTTPS, and exits cleanly on Ctrl-C (SIGINT).

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn lab_binary() -> &'static str {
    env!("CARGO_BIN_EXE_exchange-connector-lab")
}

#[cfg(unix)]
#[tokio::test]
async fn serve_writes_endpoints_answers_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints_path = dir.path().join("out").join("endpoints.json");
    let mut child = Command::new(lab_binary())
        .args([
            "serve",
            "--generate",
            "users=30,devices=70,seed=9",
            "--endpoints-file",
        ])
        .arg(&endpoints_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !endpoints_path.exists() {
        assert!(
            Instant::now() < deadline,
            "the lab did not write its endpoints file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let endpoints: exchange_connector::lab::Endpoints =
        serde_json::from_str(&std::fs::read_to_string(&endpoints_path).unwrap()).unwrap();
    let http = common::client(&endpoints.ca_cert_pem);
    let status: serde_json::Value = http
        .get(format!("{}/status", endpoints.control_base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["devices"], 70);
    assert_eq!(status["mailboxes"], 31);

    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "Ctrl-C must end the lab cleanly, got {exit:?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("lab ready"), "{stderr}");
    assert!(stderr.contains("stopping the lab"), "{stderr}");
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let out = Command::new(lab_binary())
        .args([
            "serve",
            "--generate",
            "users=lots",
            "--endpoints-file",
            "x.json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'lots' is not a whole number"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let out = Command::new(lab_binary())
        .args(["serve", "--scenario"])
        .arg(&missing)
        .args(["--endpoints-file"])
        .arg(dir.path().join("e.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the scenario file") && stderr.contains("nope.json"),
        "{stderr}"
    );
}

#[test]
fn scenario_subcommand_prints_a_loadable_scenario() {
    let out = Command::new(lab_binary())
        .args(["scenario"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let scenario: exchange_connector::lab::scenario::Scenario =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(scenario.organization.mailboxes.len(), 9);
}
