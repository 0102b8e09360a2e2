//! Issue 11: one run per store across real processes (the worker, CLI syncs), the Client Access servers
//! remembered in the store so a fresh process fails over and comes back, and the access policy kept
//! locally (the retired Intune settings imported once, at `configure`, never read by a run).

use crate::common;

use crate::exchange_client::{Options, bridge_client, token_client};
use common::{TestLab, small_lab};
use exchange_connector::intune::{IntuneClient, IntuneConfig};
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::policy::PolicySettings;
use exchange_connector::store::{RunKind, RunOutcome, Store};
use exchange_connector::sync::{RunOptions, SyncConfig, SyncEngine, SyncKind, SyncOutcome};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_exchange-connector-service");

/// A connector folder driven through the real binary; its CLI never finds a worker on its channel.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn db(&self) -> PathBuf {
        self.config_dir().join("state.db")
    }

    fn command(&self, channel: &str) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config-dir")
            .arg(self.config_dir())
            .args(["--secret-store", "file", "--channel"])
            .arg(self.dir.path().join(channel))
            .env_remove("EXCHANGE_CONNECTOR_INSTANCE")
            .env("RUST_LOG", "info");
        c
    }

    /// Runs a CLI command; whether it succeeded and its whole output.
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .command("cli.sock")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// A CLI dry run is refused because another run holds the store, and the refusal names it.
    fn refused_naming(&self, holder: &[String]) {
        let (ok, text) = self.cli(DRY_RUN);
        assert!(!ok, "a second run must be refused: {text}");
        let refusal = "another sync is running against the state database".to_string();
        for part in std::iter::once(&refusal).chain(holder) {
            assert!(
                text.contains(part.as_str()),
                "{part:?} missing from: {text}"
            );
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.cli(args);
        assert!(ok, "{args:?} failed: {text}");
        text
    }
}

/// `configure --lab-endpoints`, then Exchange's REST transport (no PowerShell needed); returns the
/// folder and what the lab `configure` printed.
fn configured(lab: &TestLab) -> (Folder, String) {
    let folder = Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    let endpoints = lab.dir.path().join("endpoints.json");
    let printed = folder.ok(&["configure", "--lab-endpoints", endpoints.to_str().unwrap()]);
    let answers = folder.dir.path().join("answers.txt");
    std::fs::write(&answers, "ExchangeServerType=Hosted\n").unwrap();
    folder.ok(&["configure", "--answers", answers.to_str().unwrap()]);
    (folder, printed)
}

const DRY_RUN: &[&str] = &["sync", "--quick", "--dry-run"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_sync_is_refused_while_another_process_runs_on_the_store_and_names_it() {
    let lab = small_lab().await;
    let (folder, _) = configured(&lab);
    // This test process runs against the store, as a second CLI or service would.
    let holder = Store::open(folder.db()).unwrap();
    let run = holder.begin_run(RunKind::Full).unwrap();
    folder.refused_naming(&[
        format!("process {}", std::process::id()),
        format!("a full sync (run {})", run.0),
        "since ".to_string(),
    ]);
    holder
        .finish_run(run, RunOutcome::Succeeded, &serde_json::json!({}), None)
        .unwrap();
    // The store is free again: the next run goes ahead.
    folder.ok(DRY_RUN);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_sync_that_misses_the_worker_is_refused_while_the_worker_runs() {
    let lab = small_lab().await;
    let (folder, _) = configured(&lab);
    // Slow Exchange so the worker's first (full) run is still going when the CLI starts.
    lab.state.faults().exchange_latency_ms = 1500;
    let mut worker = folder
        .command("worker.sock")
        .arg("run")
        .arg("--log-dir")
        .arg(folder.dir.path().join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let worker_pid = worker.id();
    // Wait for the worker's run to begin (its row in the store).
    loop {
        let running = Store::open(folder.db())
            .ok()
            .and_then(|s| s.recent_runs(1).ok())
            .is_some_and(|runs| {
                runs.first()
                    .is_some_and(|r| r.outcome == RunOutcome::Running)
            });
        if running {
            break;
        }
        assert!(
            worker.try_wait().unwrap().is_none(),
            "the worker stopped before running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The CLI talks to another channel, so it finds no worker and runs locally.
    folder.refused_naming(&[
        format!("process {worker_pid}"),
        "exchange-connector-service worker".to_string(),
    ]);
    // The worker dies in its run: the lock dies with it.
    worker.kill().unwrap();
    worker.wait().unwrap();
    lab.state.faults().exchange_latency_ms = 0;
    // The store is free again: the next run goes ahead.
    folder.ok(DRY_RUN);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_policy_is_imported_once_at_configure_and_never_read_by_a_run() {
    let lab = small_lab().await;
    let (folder, printed) = configured(&lab);
    assert!(
        printed.contains("imported the retired connector's settings"),
        "{printed}"
    );
    let policy_file = folder.config_dir().join("policy.json");
    let imported: PolicySettings =
        serde_json::from_str(&std::fs::read_to_string(&policy_file).unwrap()).unwrap();
    let expected = {
        let tenant = lab.state.tenant();
        PolicySettings::from_legacy(
            &tenant.conditional_access_settings,
            Some(&tenant.exchange_on_premises_policy),
        )
    };
    assert_eq!(imported, expected);
    // Once: a later configure keeps the local policy (the admin may have edited it).
    let answers = folder.dir.path().join("again.txt");
    std::fs::write(&answers, "QuickSyncIntervalMinutes=7\n").unwrap();
    let again = folder.ok(&["configure", "--answers", answers.to_str().unwrap()]);
    assert!(again.contains("kept the local policy"), "{again}");

    // Without a local policy, building a run's engine asks Graph nothing: the default policy applies.
    std::fs::remove_file(&policy_file).unwrap();
    let secrets = exchange_connector::secrets::FileStore::new(folder.config_dir().join("secrets"));
    let graph_before = lab.state.counters.graph_requests.load(Ordering::Relaxed);
    let (engine, _) = exchange_connector::service::worker::build_engine(
        &folder.config_dir(),
        &secrets,
        "default",
    )
    .await
    .unwrap();
    assert_eq!(
        lab.state.counters.graph_requests.load(Ordering::Relaxed),
        graph_before,
        "no Graph request to build a run"
    );
    assert_eq!(engine.settings(), &PolicySettings::default());
    engine.shutdown().await;

    // Graph failing at configure is a warning, not a failure; no policy file is written.
    lab.state.faults().storms.push(Storm {
        surface: Surface::Graph,
        status: 400,
        remaining: 1000,
        retry_after_seconds: 0,
    });
    let third = folder.ok(&["configure", "--answers", answers.to_str().unwrap()]);
    assert!(
        third.contains("warning: the retired connector's policy could not be imported"),
        "{third}"
    );
    assert!(!policy_file.exists());
    lab.state.faults().storms.clear();
    lab.shutdown().await;
}

/// An engine on the PowerShell bridge (the lab's stand-in, failover on) whose store is `db`, built
/// from nothing but the configuration, as a fresh process would.
fn bridge_engine(lab: &TestLab, db: &Path) -> SyncEngine {
    let e = &lab.endpoints;
    let exchange = bridge_client(lab, Options::default());
    let tokens = token_client(lab);
    let intune = IntuneClient::new(
        common::client(&e.ca_cert_pem),
        tokens,
        IntuneConfig::new(&e.graph_base),
    );
    let policy = PolicySettings {
        enabled: true,
        included_groups: e.policy.included_groups.clone(),
        excluded_groups: e.policy.excluded_groups.clone(),
        ..PolicySettings::default()
    };
    SyncEngine::new(
        exchange,
        intune,
        Store::open(db).unwrap(),
        policy,
        SyncConfig::default(),
    )
    .unwrap()
}

const DRY: RunOptions = RunOptions {
    dry_run: true,
    confirm_guard: false,
    rollout: false,
};

/// One dry run with a fresh engine; the report and the Client Access server it ended on.
async fn fresh_run(lab: &TestLab, db: &Path) -> (exchange_connector::sync::RunReport, String) {
    let engine = bridge_engine(lab, db);
    let report = engine.run(SyncKind::Full, DRY).await;
    let current = engine.exchange().pool().failover().unwrap().current().name;
    engine.shutdown().await;
    (report, current)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_process_fails_over_with_the_remembered_servers_and_returns_to_the_primary() {
    let lab = small_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let primary = lab.endpoints.cas_servers[0].clone();
    assert!(
        lab.endpoints.cas_servers.len() >= 2,
        "the lab has spare CAS"
    );

    // A first-ever run with the primary down: nothing is known to fail over to, and it says so.
    lab.stop_cas(&primary.name).await.unwrap();
    let (report, _) = fresh_run(&lab, &dir.path().join("first.db")).await;
    assert_eq!(report.outcome, SyncOutcome::Failed);
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("no other Client Access server is known"),
        "{error}"
    );
    lab.start_cas(&primary.name).await.unwrap();

    // A run on the primary discovers the other servers; the store keeps them.
    let db = dir.path().join("state.db");
    let (report, current) = fresh_run(&lab, &db).await;
    assert_eq!(report.outcome, SyncOutcome::DryRun, "{:?}", report.error);
    assert_eq!(current, primary.name);
    let remembered: Vec<String> = Store::open(&db)
        .unwrap()
        .cas_servers(&primary.fqdn)
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    let others: Vec<String> = lab.endpoints.cas_servers[1..]
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(remembered, others);

    // The primary is down when the next process starts: it fails over to a remembered server.
    lab.stop_cas(&primary.name).await.unwrap();
    let (report, current) = fresh_run(&lab, &db).await;
    assert_eq!(report.outcome, SyncOutcome::DryRun, "{:?}", report.error);
    assert!(others.contains(&current), "on {current}");
    let used = Store::open(&db)
        .unwrap()
        .cas_servers(&primary.fqdn)
        .unwrap();
    assert!(
        used.iter()
            .any(|k| k.name == current && k.last_used_at.is_some()),
        "{used:?}"
    );

    // The primary is back: the next process is on it again.
    lab.start_cas(&primary.name).await.unwrap();
    let (report, current) = fresh_run(&lab, &db).await;
    assert_eq!(report.outcome, SyncOutcome::DryRun, "{:?}", report.error);
    assert_eq!(current, primary.name);
    lab.shutdown().await;
}

/// The issue's own steps with the real binary: `configure --lab-endpoints` (on-premises, through the
/// lab's `pwsh` stand-in), a sync, CAS01 stopped, `sync --quick` in a new process.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_sync_fails_over_when_the_configured_cas_is_down_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let lab = small_lab().await;
    let folder = Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    let endpoints = lab.dir.path().join("endpoints.json");
    folder.ok(&["configure", "--lab-endpoints", endpoints.to_str().unwrap()]);
    let pwsh = folder.dir.path().join("lab-pwsh");
    std::fs::write(
        &pwsh,
        format!(
            "#!/bin/sh\nexec '{}' pwsh --ca-file '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_exchange-connector-lab"),
            lab.endpoints.ca_cert_pem
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pwsh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let answers = folder.dir.path().join("answers.txt");
    std::fs::write(&answers, format!("PowerShellPath={}\n", pwsh.display())).unwrap();
    folder.ok(&["configure", "--answers", answers.to_str().unwrap()]);

    folder.ok(DRY_RUN);
    let primary = &lab.endpoints.cas_servers[0];
    lab.stop_cas(&primary.name).await.unwrap();
    let text = folder.ok(DRY_RUN);
    assert!(text.contains("DryRun"), "{text}");
    lab.start_cas(&primary.name).await.unwrap();
    folder.ok(DRY_RUN);
    lab.shutdown().await;
}
