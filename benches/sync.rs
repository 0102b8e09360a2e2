//! Sync engine at scale against the lab: a full sync of 20,000 mailboxes / 50,000 devices with 20 ms
//! per Exchange call and the default parallel runspace count, then a quick sync with 1% of the devices
//! changed, then the naive strategy (per mailbox: read its devices, read its CAS mailbox, write its
//! lists) on a sample. Prints figures; asserts nothing about time.
//!
//! Run: `cargo bench --bench sync`. Environment: `SYNC_USERS` (20000), `SYNC_DEVICES` (50000),
//! `SYNC_LATENCY_MS` (20), `SYNC_NAIVE_MAILBOXES` (2000, the naive sample; its time is extrapolated).
//!
//! Peak memory is the process's VmHWM, which includes the in-process lab.
//!
//! Figures of one release run (2 shared cores, REST transport, 8 runspaces, 20 ms per call):
//!
//! | run | Exchange calls (lab) | Graph requests | wall | lower bound | ratio |
//! |---|---|---|---|---|---|
//! | first full sync (16,906 mailboxes changed) | 16,978 (72 reads + 16,906 writes) | 58 | 53.8 s | 42.5 s | 1.27 |
//! | full sync, nothing to change | 72 | 58 | 3.5 s | 0.18 s | 19 (50 sequential listing pages alone are 1 s) |
//! | quick sync, 500 devices (1%) flipped | 416 (238 reads + 178 writes) | 20 | 2.7 s | 1.04 s | 2.6 |
//! | naive, per mailbox (2,000 sampled, extrapolated) | 60,000 | — | 168 s | 42.5 s | 3.96 |
//!
//! Peak memory 376 MiB, lab included (the lab alone: 184 MiB).

use exchange_connector::exchange::Invocation;
use exchange_connector::exchange::pool::parallel_runspaces;
use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::server::{LabOptions, start};
use exchange_connector::model::intune::ComplianceState;
use exchange_connector::oauth::ClientCredential;
use exchange_connector::policy::PolicySettings;
use exchange_connector::secret::Secret;
use exchange_connector::sync::cli::{ExchangeTransport, SyncSetup, format_report};
use exchange_connector::sync::{RunOptions, RunReport, SyncConfig, SyncKind};
use futures_util::StreamExt as _;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
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

/// (reads + changed mailboxes) / runspaces × latency, in seconds.
fn lower_bound(reads: u64, changed: u64, runspaces: usize, latency_ms: u64) -> f64 {
    (reads + changed) as f64 / runspaces as f64 * latency_ms as f64 / 1000.0
}

/// Prints a run. `lab_calls` is what the lab served (every REST page is a call charged the latency;
/// the pool counts a paged listing once).
fn print_run(name: &str, r: &RunReport, lab_calls: u64, runspaces: usize, latency_ms: u64) -> f64 {
    let writes = (r.changes_applied + r.changes_failed) as u64;
    let reads = lab_calls.saturating_sub(writes);
    let bound = lower_bound(reads, writes, runspaces, latency_ms);
    let wall = r.duration_ms as f64 / 1000.0;
    println!(
        "{name}: outcome {:?}, devices {}, mailboxes {}, changes applied {} (failed {}), Exchange calls {} ({} reads + {} writes), Graph requests {}, wall {:.1} s, lower bound {:.2} s, ratio {:.2}, peak memory {:.0} MiB",
        r.outcome,
        r.devices_seen,
        r.mailboxes_seen,
        r.changes_applied,
        r.changes_failed,
        lab_calls,
        reads,
        writes,
        r.graph_requests,
        wall,
        bound,
        if bound > 0.0 { wall / bound } else { f64::NAN },
        peak_rss_mib()
    );
    bound
}

#[tokio::main]
async fn main() {
    let users = env_or("SYNC_USERS", 20_000);
    let devices = env_or("SYNC_DEVICES", 50_000);
    let latency_ms = env_or("SYNC_LATENCY_MS", 20) as u64;
    let naive_sample = env_or("SYNC_NAIVE_MAILBOXES", 2_000);
    let runspaces = parallel_runspaces(None, 18, 2);

    let t0 = Instant::now();
    let scenario = generate(GenerateSpec {
        users,
        devices,
        seed: 42,
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(LabOptions {
        scenario,
        dir: dir.path().to_path_buf(),
    })
    .await
    .expect("lab starts");
    println!(
        "lab: {users} users, {devices} devices, ready in {:.1} s, peak memory {:.0} MiB; {latency_ms} ms per Exchange call; {runspaces} runspaces",
        t0.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    lab.state.faults().exchange_latency_ms = latency_ms;

    let e = &lab.endpoints;
    let settings = PolicySettings {
        enabled: true,
        included_groups: e.policy.included_groups.clone(),
        excluded_groups: e.policy.excluded_groups.clone(),
        unmanaged_default_access: lab.state.org().settings.default_access_level,
        ..PolicySettings::default()
    };
    let engine = SyncSetup {
        login_base: e.login_base.clone(),
        tenant: e.tenant_id.clone(),
        client_id: e.client_id.clone(),
        credential: ClientCredential::Secret(Secret::new(e.client_secret.clone())),
        graph_base: e.graph_base.clone(),
        graph_scope: "https://graph.microsoft.com/.default".into(),
        graph_page_size: 1000,
        graph_max_attempts: 6,
        extra_ca: Some(e.ca_cert_pem.clone().into()),
        exchange: ExchangeTransport::Rest {
            base_url: e.exchange_rest_base.clone(),
            scope: "https://outlook.office365.com/.default".into(),
        },
        runspaces,
        store_path: dir.path().join("state.db"),
        settings,
        config: SyncConfig {
            watermark_overlap: Duration::from_secs(1),
            ..SyncConfig::default()
        },
        proxy: None,
        notifier: None,
    }
    .build()
    .expect("engine");

    // The first full sync: an organisation switching enforcement on (the admin confirmed the guard).
    let confirm = RunOptions {
        confirm_guard: true,
        ..RunOptions::default()
    };
    let calls = || lab.state.counters.exchange_calls.load(Ordering::Relaxed);
    // `--confirm` applies only a plan the guard held: the first run holds it (reads only), the
    // confirmed run applies it and is the one measured.
    let mut c0 = calls();
    let first = engine.run(SyncKind::Full, RunOptions::default()).await;
    let full = if first.outcome == exchange_connector::sync::SyncOutcome::HeldByGuard {
        c0 = calls();
        engine.run(SyncKind::Full, confirm).await
    } else {
        first
    };
    print!("{}", format_report(&full));
    let full_bound = print_run(
        "full sync (first)",
        &full,
        calls() - c0,
        runspaces,
        latency_ms,
    );
    let c1 = calls();
    let again = engine.run(SyncKind::Full, RunOptions::default()).await;
    print_run(
        "full sync (converged, nothing to apply)",
        &again,
        calls() - c1,
        runspaces,
        latency_ms,
    );

    // 1% of the managed devices flip compliance.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let flips = devices / 100;
    {
        let mut tenant = lab.state.tenant_mut();
        let now = chrono::Utc::now();
        for d in tenant
            .managed_devices
            .iter_mut()
            .filter(|d| d.eas_device_id.is_some())
            .take(flips)
        {
            d.compliance_state = Some(match d.compliance_state {
                Some(ComplianceState::Compliant) => ComplianceState::Noncompliant,
                _ => ComplianceState::Compliant,
            });
            d.last_sync_date_time = Some(now);
        }
    }
    let c2 = calls();
    let quick = engine.run(SyncKind::Quick, confirm).await;
    print_run(
        &format!("quick sync ({flips} devices changed)"),
        &quick,
        calls() - c2,
        runspaces,
        latency_ms,
    );

    // The naive strategy on a sample: per mailbox, read its devices, read it, write its lists.
    let mailboxes: Vec<(String, Vec<String>)> = lab
        .state
        .org()
        .mailboxes
        .iter()
        .filter(|m| !m.devices.is_empty())
        .take(naive_sample)
        .map(|m| {
            (
                m.cas.identity.clone(),
                m.cas.active_sync_allowed_device_ids.clone(),
            )
        })
        .collect();
    let total_mailboxes = lab
        .state
        .org()
        .mailboxes
        .iter()
        .filter(|m| !m.devices.is_empty())
        .count();
    let exchange = engine.exchange().clone();
    let t = Instant::now();
    let calls_before = exchange.pool().stats().calls;
    let sample = mailboxes.len();
    futures_util::stream::iter(mailboxes)
        .map(|(mailbox, allowed)| {
            let exchange = exchange.clone();
            async move {
                let _ = exchange.mailbox_devices(&mailbox).await;
                let _ = exchange.cas_mailbox(&mailbox).await;
                let write = Invocation::new("Set-CASMailbox")
                    .param("Identity", mailbox.as_str())
                    .param(
                        "ActiveSyncAllowedDeviceIDs",
                        json!({"Add": allowed, "Remove": []}),
                    );
                let _ = exchange.call_void(&write).await;
            }
        })
        .buffer_unordered(runspaces)
        .collect::<Vec<_>>()
        .await;
    let naive_wall = t.elapsed().as_secs_f64();
    let naive_calls = exchange.pool().stats().calls - calls_before;
    let scale = total_mailboxes as f64 / sample.max(1) as f64;
    let naive_full = naive_wall * scale;
    println!(
        "naive (per mailbox: devices, CAS mailbox, write) on {sample} of {total_mailboxes} mailboxes: {naive_calls} calls, {naive_wall:.1} s; extrapolated {naive_full:.1} s for all, ratio to the full sync's lower bound {:.2} (engine's ratio {:.2})",
        if full_bound > 0.0 {
            naive_full / full_bound
        } else {
            f64::NAN
        },
        if full_bound > 0.0 {
            full.duration_ms as f64 / 1000.0 / full_bound
        } else {
            f64::NAN
        },
    );
    println!(
        "peak memory (process, lab included): {:.0} MiB",
        peak_rss_mib()
    );
    engine.shutdown().await;
    lab.shutdown().await;
}
