//! Benchmark of the Exchange client against a generated lab: lists every device and applies list
//! changes with 20 ms per cmdlet call, with one runspace and with the pool, over the PowerShell bridge
//! (the lab's `pwsh` stand-in) and over REST. Prints calls made, wall time and peak memory; asserts
//! nothing about time.
//!
//! ```text
//! cargo build --release --bin exchange-connector-lab
//! cargo run --release --example bench_exchange_client
//! ```
//!
//! Environment: `BENCH_USERS` (20000), `BENCH_DEVICES` (50000), `BENCH_CHANGES` (10000),
//! `BENCH_LATENCY_MS` (20), `BENCH_POOL` (8), `BENCH_MODES` (`bridge1,bridge-pool,rest1,rest-pool`),
//! `LAB_BIN` (path of `exchange-connector-lab`; default: next to this example's target dir).
//! The lab runs in the same process, so peak memory includes the lab's organisation.
//!
//! Figures of one run (release, 2 shared cores, 20,000 users, 50,000 devices, 20 ms per call; the lab
//! alone was 165 MiB resident after start; "calls" are the lab's counted cmdlet calls — the bridge's
//! first call is the CAS discovery `Get-ExchangeServer`, REST lists in pages of 1000):
//!
//! | mode | runspaces | operation | items | calls | wall s | peak MiB (process) |
//! |---|---|---|---|---|---|---|
//! | bridge | 1 | list all devices | 50000 | 2 | 0.39 | 190 |
//! | bridge | 1 | apply list changes | 10000 | 10000 | 223.53 | 190 |
//! | bridge | 8 | list all devices | 50000 | 2 | 0.54 | 194 |
//! | bridge | 8 | apply list changes | 10000 | 10000 | 28.79 | 195 |
//! | REST | 1 | list all devices | 50000 | 50 | 3.33 | 205 |
//! | REST | 1 | apply list changes | 10000 | 10000 | 225.33 | 205 |
//! | REST | 8 | list all devices | 50000 | 50 | 3.62 | 205 |
//! | REST | 8 | apply list changes | 10000 | 10000 | 29.85 | 205 |

use exchange_connector::bridge_protocol::Authentication;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::exchange::bridge::{BridgeConfig, BridgeConnector};
use exchange_connector::exchange::failover::{Failover, FailoverConfig};
use exchange_connector::exchange::pool::{PoolConfig, RunspacePool};
use exchange_connector::exchange::rest::{RestConfig, RestConnector};
use exchange_connector::exchange::{CasServer, DeviceListEdit, ExchangeClient};
use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::server::{LabOptions, RunningLab, start};
use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
use exchange_connector::secret::Secret;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

fn vm(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lab_bin() -> PathBuf {
    if let Ok(path) = std::env::var("LAB_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/examples/bench_exchange_client -> target/<profile>/exchange-connector-lab
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("exchange-connector-lab"))
        .expect("target dir")
}

fn http(lab: &RunningLab) -> reqwest::Client {
    exchange_connector::tls::http_client_builder(Some(Path::new(&lab.endpoints.ca_cert_pem)))
        .expect("tls")
        .build()
        .expect("client")
}

fn bridge(lab: &RunningLab, runspaces: usize) -> ExchangeClient {
    let e = &lab.endpoints;
    let config = BridgeConfig {
        program: lab_bin(),
        prefix_args: vec!["pwsh".into(), "--ca-file".into(), e.ca_cert_pem.clone()],
        authentication: Authentication::Basic,
        user_name: e.service_account.user.clone(),
        password: Secret::new(e.service_account.password.clone()),
        proxy: None,
        open_timeout: std::time::Duration::from_secs(30),
        idle_timeout: std::time::Duration::from_secs(600),
        close_timeout: std::time::Duration::from_secs(5),
    };
    let cas = &e.cas_servers[0];
    let failover = Failover::new(
        CasServer {
            name: cas.name.clone(),
            fqdn: cas.fqdn.clone(),
            connection_uri: cas.powershell_url.clone(),
        },
        FailoverConfig {
            uri_overrides: e
                .cas_servers
                .iter()
                .map(|c| (c.fqdn.clone(), c.powershell_url.clone()))
                .collect(),
            ..Default::default()
        },
    );
    let pool = RunspacePool::new(
        Arc::new(BridgeConnector::new(config)),
        Some(failover),
        PoolConfig {
            max_runspaces: runspaces,
            ..Default::default()
        },
        None,
    );
    ExchangeClient::new(pool)
}

fn rest(lab: &RunningLab, runspaces: usize) -> ExchangeClient {
    let e = &lab.endpoints;
    let pfx = std::fs::read(&e.client_certificate_pfx).expect("pfx");
    let cert =
        ClientCertificate::from_pfx(&pfx, &Secret::new(e.client_certificate_password.clone()))
            .expect("cert");
    let oauth = OAuthConfig::new(
        &e.login_base,
        &e.tenant_id,
        &e.client_id,
        ClientCredential::Certificate(Arc::new(cert)),
    );
    let tokens = Arc::new(TokenClient::new(oauth, http(lab)));
    let mut config = RestConfig::new(&e.exchange_rest_base, &e.tenant_id);
    config.anchor_domain = e.domain.clone();
    let pool = RunspacePool::new(
        Arc::new(RestConnector::new(config, tokens, http(lab))),
        None,
        PoolConfig {
            max_runspaces: runspaces,
            ..Default::default()
        },
        None,
    );
    ExchangeClient::new(pool)
}

#[tokio::main]
async fn main() {
    let users = env_or("BENCH_USERS", 20_000);
    let devices = env_or("BENCH_DEVICES", 50_000);
    let changes = env_or("BENCH_CHANGES", 10_000);
    let latency = env_or("BENCH_LATENCY_MS", 20) as u64;
    let pool_size = env_or("BENCH_POOL", 8);
    let modes = std::env::var("BENCH_MODES")
        .unwrap_or_else(|_| "bridge1,bridge-pool,rest1,rest-pool".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    let lab = start(LabOptions {
        scenario: generate(GenerateSpec {
            users,
            devices,
            seed: 42,
        }),
        dir: dir.path().to_path_buf(),
    })
    .await
    .expect("lab starts");
    println!(
        "lab: {users} users, {devices} devices, started in {:.1} s, RSS {:.0} MiB; latency {latency} ms per call",
        t.elapsed().as_secs_f64(),
        vm("VmRSS:")
    );
    lab.state.faults().exchange_latency_ms = latency;
    let aliases: Vec<String> = lab
        .state
        .org()
        .mailboxes
        .iter()
        .map(|m| m.cas.identity.clone())
        .collect();

    println!("| mode | runspaces | operation | items | calls | wall s | peak MiB (process) |");
    println!("|---|---|---|---|---|---|---|");
    for (round, mode) in modes
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .enumerate()
    {
        let runspaces = if mode.ends_with("pool") { pool_size } else { 1 };
        let client = if mode.starts_with("bridge") {
            bridge(&lab, runspaces)
        } else {
            rest(&lab, runspaces)
        };
        let calls = || lab.state.counters.exchange_calls.load(Ordering::Relaxed);

        let c0 = calls();
        let t = Instant::now();
        let listed = client.list_devices().await.expect("list");
        let wall = t.elapsed().as_secs_f64();
        println!(
            "| {mode} | {runspaces} | list all devices | {} | {} | {wall:.2} | {:.0} |",
            listed.len(),
            calls() - c0,
            vm("VmHWM:")
        );
        drop(listed);

        // Distinct DeviceIds per round, so every change really changes a list.
        let edits: Vec<(String, DeviceListEdit)> = (0..changes)
            .map(|i| {
                let id = format!("BENCH{round}-{i:06}");
                let edit = if i % 2 == 0 {
                    DeviceListEdit::allow(&id)
                } else {
                    DeviceListEdit::block(&id)
                };
                (aliases[i % aliases.len()].clone(), edit)
            })
            .collect();
        let c0 = calls();
        let t = Instant::now();
        let results = client.apply_list_edits(&edits).await;
        let wall = t.elapsed().as_secs_f64();
        let failed = results.iter().filter(|r| r.is_err()).count();
        println!(
            "| {mode} | {} | apply list changes | {changes} ({failed} failed) | {} | {wall:.2} | {:.0} |",
            client.pool().limit(),
            calls() - c0,
            vm("VmHWM:")
        );
        client.shutdown().await;
    }
    lab.shutdown().await;
}
