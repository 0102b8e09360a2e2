//! The real `exchange-connector-service run` against the lab: scheduled syncs, status and sync over
//! the control channel with progress, the secrets hand-off into the worker's own store, and a stop
//! in the middle of a run that loses nothing.

use crate::common;

use common::{TestLab, generated_lab, small_lab};
use exchange_connector::model::exchange::DeviceAccessState;
use exchange_connector::policy::PolicySettings;
use exchange_connector::secrets::{FileStore, SecretStore};
use exchange_connector::service::channel::{ChannelAddress, ChannelClient};
use exchange_connector::service::messages::{
    Connection, Registration, Reply, Request, RunPhase, StatusReply, SyncKind,
};
use exchange_connector::store::Store;
use exchange_connector::sync::{StatusReport, SyncOutcome, status_report};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_exchange-connector-service");

/// A connector configured for a lab in a temporary folder.
pub(crate) struct Connector {
    dir: tempfile::TempDir,
}

impl Connector {
    pub(crate) fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub(crate) fn socket(&self) -> ChannelAddress {
        ChannelAddress(self.dir.path().join("worker.sock").display().to_string())
    }

    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config-dir")
            .arg(self.config_dir())
            .args(["--secret-store", "file", "--channel"])
            .arg(&self.socket().0)
            .env_remove("EXCHANGE_CONNECTOR_INSTANCE")
            .env("RUST_LOG", "info");
        c
    }

    pub(crate) fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write as _;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?} failed: {text}");
        text
    }

    pub(crate) fn start(&self, extra: &[&str]) -> Child {
        self.command()
            .arg("run")
            .arg("--log-dir")
            .arg(self.dir.path().join("logs"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Makes `certificate` the connector's credential in its store (instead of the lab's secret).
    pub(crate) fn use_certificate(
        &self,
        certificate: &exchange_connector::certificate::ClientCertificate,
    ) {
        use base64::Engine as _;
        use exchange_connector::secret::Secret;
        let password = Secret::new("pfx-pass");
        let store = FileStore::new(self.config_dir().join("secrets"));
        let pfx = base64::engine::general_purpose::STANDARD
            .encode(certificate.to_pfx(&password).unwrap());
        store
            .set("default", "ClientCertificate", &Secret::new(pfx))
            .unwrap();
        store
            .set("default", "CertificatePassword", &password)
            .unwrap();
        store.delete("default", "ClientSecret").unwrap();
    }

    pub(crate) fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("logs")).unwrap() {
            text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
        }
        text
    }
}

/// Configures a connector for the lab (the real `configure --lab-endpoints`), on Exchange's REST
/// transport, with the lab's targeting as the policy and the guard off (every plan applies).
pub(crate) fn configure(lab: &TestLab) -> Connector {
    let c = Connector {
        dir: tempfile::tempdir().unwrap(),
    };
    let endpoints = lab.dir.path().join("endpoints.json");
    c.cli(
        &["configure", "--lab-endpoints", endpoints.to_str().unwrap()],
        None,
    );
    let answers = c.dir.path().join("answers.txt");
    std::fs::write(&answers, "ExchangeServerType=Hosted\n").unwrap();
    c.cli(&["configure", "--answers", answers.to_str().unwrap()], None);
    let policy = PolicySettings {
        enabled: true,
        included_groups: lab.endpoints.policy.included_groups.clone(),
        excluded_groups: lab.endpoints.policy.excluded_groups.clone(),
        unmanaged_default_access: lab.state.org().settings.default_access_level,
        mass_change_threshold_percent: 100.0,
        ..PolicySettings::default()
    };
    std::fs::write(
        c.config_dir().join("policy.json"),
        serde_json::to_string(&policy).unwrap(),
    )
    .unwrap();
    c
}

pub(crate) async fn connect(address: &ChannelAddress) -> ChannelClient {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ChannelClient::connect(address).await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("worker never listened: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub(crate) async fn status(client: &mut ChannelClient) -> StatusReply {
    match client.request(&Request::Status).await.unwrap() {
        Reply::Status(status) => *status,
        other => panic!("{other:?}"),
    }
}

/// The store's part of a status (the worker could read its store).
fn report(s: &StatusReply) -> &StatusReport {
    s.report.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

/// Polls the status until `check` holds.
pub(crate) async fn wait_status(
    client: &mut ChannelClient,
    what: &str,
    check: impl Fn(&StatusReply) -> bool,
) -> StatusReply {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let s = status(client).await;
        if check(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_syncs_on_schedule_answers_the_channel_and_stops_cleanly() {
    let lab = small_lab().await;
    let c = configure(&lab);
    let mut child = c.start(&["--quick-interval-seconds", "2"]);
    let address = c.socket();
    let mut client = connect(&address).await;
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&address.0).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(
        mode, 0o600,
        "only the worker's user (and root) may use the channel"
    );

    // On its own: a full sync first (none yet), then quick syncs on the interval.
    let s = wait_status(&mut client, "a scheduled full and quick sync", |s| {
        s.report
            .as_ref()
            .is_ok_and(|r| r.last_full_sync.is_some() && r.last_quick_sync.is_some())
    })
    .await;
    assert_eq!(
        s.instance, "default",
        "the running worker of this instance answered"
    );
    assert_eq!(s.connection, Connection::Connected, "{s:#?}");
    assert!(
        matches!(s.registration, Registration::Registered { .. }),
        "registered in Intune as an Exchange connector: {s:#?}"
    );
    let registered = lab.state.tenant().exchange_connectors.len();
    assert!(registered >= 1, "the lab tenant lists the connector");
    let devices: u64 = report(&s).devices_by_state.values().sum();
    assert!(devices > 0, "device counts by state: {s:#?}");
    // The CLI reads the same reply: both last syncs, not "never".
    let printed = c.cli(&["status"], None);
    assert!(printed.contains("worker:          running"), "{printed}");
    for line in ["last full sync:  20", "last quick sync: 20"] {
        assert!(printed.contains(line), "{line:?} in {printed}");
    }

    // A sync on request, with its progress streamed to a subscriber.
    let mut watcher = connect(&address).await;
    let first = watcher.request(&Request::Subscribe);
    // Subscribe has no reply of its own: the first line is the first event. Ask for the run from
    // the other client once the subscription is in place.
    let run_request = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut asker = connect(&address).await;
        asker
            .request(&Request::Sync {
                kind: SyncKind::Full,
                dry_run: false,
            })
            .await
            .unwrap()
    };
    let (first, accepted) = tokio::join!(first, run_request);
    assert!(matches!(accepted, Reply::Accepted { .. }), "{accepted:?}");
    let mut events = vec![first.unwrap()];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let finished = events.iter().any(|r| {
            matches!(r, Reply::Progress(event) if event.phase == RunPhase::Finished && event.kind == SyncKind::Full)
        });
        if finished {
            break;
        }
        assert!(Instant::now() < deadline, "no finished event: {events:?}");
        events.push(watcher.next_reply().await.unwrap());
    }
    let phases: Vec<RunPhase> = events
        .iter()
        .filter_map(|r| match r {
            Reply::Progress(event) if event.kind == SyncKind::Full => Some(event.phase),
            _ => None,
        })
        .collect();
    assert!(phases.contains(&RunPhase::Started), "{phases:?}");
    let finished = events
        .iter()
        .find_map(|r| match r {
            Reply::Progress(event)
                if event.phase == RunPhase::Finished && event.kind == SyncKind::Full =>
            {
                Some(event.message.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(finished.english.contains("Devices synced:"), "{finished}");

    // Notifications: the first syncs mailed the owners of the devices they restricted, once each.
    let outbox = || lab.state.outbox.lock().unwrap().clone();
    let mails_before = outbox();
    assert!(
        !mails_before.is_empty(),
        "the owners of restricted devices were mailed"
    );
    let recipients: std::collections::HashSet<_> =
        mails_before.iter().map(|m| m.to.clone()).collect();
    assert_eq!(
        recipients.len(),
        mails_before.len(),
        "one mail per restricted device, not one per sync: {mails_before:?}"
    );
    // A targeted user's new phone: exactly one more mail, to its owner, with the enrolment link.
    let alice = lab
        .state
        .org()
        .mailboxes
        .iter()
        .find(|m| m.cas.identity == "alice")
        .map(|m| m.cas.primary_smtp_address.clone())
        .unwrap();
    let added = common::client(&lab.endpoints.ca_cert_pem)
        .post(format!("{}/partnerships", lab.endpoints.control_base))
        .json(
            &serde_json::json!({"mailbox": "alice", "deviceId": "ALICENEWPHONE01",
            "deviceType": "Android", "deviceModel": "Pixel 9", "friendlyName": "Pixel of Alice"}),
        )
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success(), "{added:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox().len() == mails_before.len() {
        assert!(Instant::now() < deadline, "no mail for the new phone");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let two more scheduled quick syncs run: still exactly one mail for it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mails = outbox();
    assert_eq!(mails.len(), mails_before.len() + 1, "{mails:?}");
    let mail = mails.last().unwrap();
    assert!(mail.to.iter().any(|t| t.eq_ignore_ascii_case(&alice)));
    assert!(mail.body.contains("Pixel of Alice"), "{}", mail.body);
    assert!(mail.body.contains("https://portal.manage.microsoft.com/"));

    // Status carries what the setup's status page shows: recent changes with their reasons, the
    // per-day history; and "why is this phone blocked?" answers per device.
    let s = status(&mut client).await;
    let recent = &s.recent_changes;
    assert!(!recent.is_empty(), "{s:#?}");
    assert!(
        recent
            .iter()
            .all(|c| !c.entry.mailbox.is_empty() && !c.entry.reason.is_empty())
    );
    assert!(!s.history.is_empty(), "{s:#?}");
    let view = exchange_connector::gui::status::StatusView::from_status(&s);
    assert!(
        view.last_full.is_some() && view.last_quick.is_some(),
        "{view:?}"
    );
    assert!(!view.devices.is_empty() && !view.recent.is_empty() && !view.history.is_empty());
    let answer = match client
        .request(&Request::LookupUser {
            user: alice.clone(),
        })
        .await
        .unwrap()
    {
        Reply::LookupUser(found) => found,
        other => panic!("{other:?}"),
    };
    let phone = answer
        .devices
        .iter()
        .find(|d| d.device.device_id == "ALICENEWPHONE01")
        .unwrap_or_else(|| panic!("{answer:#?}"));
    assert_ne!(
        phone.device.access_state,
        DeviceAccessState::Allowed,
        "{phone:#?}"
    );
    let decision = &phone.decision.as_ref().expect("a decision").decision;
    assert_eq!(decision.reason.as_str(), "notEnrolled", "{phone:#?}");
    assert!(decision.explanation.len() > 10);
    let lines = exchange_connector::gui::status::lookup_lines(&answer);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ALICENEWPHONE01 (Pixel 9)")),
        "{lines:?}"
    );
    match client
        .request(&Request::LookupUser {
            user: "nobody@contoso.lab".into(),
        })
        .await
        .unwrap()
    {
        Reply::Error { message } => assert!(message.english.contains("no device"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Two requests while one runs: one runs, the other is queued, never two at once.
    let mut a = connect(&address).await;
    let r1 = a
        .request(&Request::Sync {
            kind: SyncKind::Quick,
            dry_run: false,
        })
        .await
        .unwrap();
    let r2 = a
        .request(&Request::Sync {
            kind: SyncKind::Quick,
            dry_run: false,
        })
        .await
        .unwrap();
    for r in [&r1, &r2] {
        assert!(matches!(r, Reply::Accepted { .. }), "{r:?}");
    }

    // Secrets hand-off: configure while the worker runs sends them over the channel.
    let answers = c.dir.path().join("answers2.txt");
    std::fs::write(&answers, "NotificationLanguage=fr\n").unwrap();
    let printed = c.cli(
        &[
            "configure",
            "--answers",
            answers.to_str().unwrap(),
            "--secrets-stdin",
        ],
        Some("ProxyPassword=handed-over-s3cret\n"),
    );
    assert!(
        printed.contains("handed to the running worker"),
        "{printed}"
    );
    assert!(!printed.contains("handed-over-s3cret"));
    let worker_store = FileStore::new(c.config_dir().join("secrets"));
    assert_eq!(
        worker_store
            .get("default", "ProxyPassword")
            .unwrap()
            .unwrap()
            .expose(),
        "handed-over-s3cret",
        "the worker can read what setup handed over"
    );
    assert_other_user_cannot_read(&worker_store.path());

    // The admin's grep phrases.
    let logs = c.logs();
    for phrase in ["full sync", "quick sync", "Devices synced:"] {
        assert!(logs.contains(phrase), "logs lack {phrase:?}:\n{logs}");
    }
    assert!(
        !logs.contains("handed-over-s3cret"),
        "a secret reached the log"
    );
    for secret in [
        lab.endpoints.client_secret.as_str(),
        lab.endpoints.service_account.password.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }

    // SIGTERM: a clean stop, the socket removed.
    let exit = terminate(&mut child);
    assert!(exit.success(), "{exit:?}");
    assert!(!Path::new(&address.0).exists(), "socket removed on stop");
    let logs = c.logs();
    assert!(logs.contains("worker stopped"), "{logs}");
}

/// The file store is 0600, owned by the worker's user, and an unprivileged user cannot read it even
/// when every folder above it is open.
fn assert_other_user_cannot_read(file: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(meta.uid(), me, "owned by the worker's user");
    if me != 0 {
        eprintln!("not root: cannot switch to another user to try reading the secrets file");
        return;
    }
    // Open every folder above so only the file's own mode protects it.
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d.starts_with(std::env::temp_dir()) && d != std::env::temp_dir() {
            let mode = std::fs::metadata(d).unwrap().permissions().mode();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
        dir = d.parent();
    }
    let path = file.to_str().unwrap();
    let attempt = if which("setpriv") {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "cat",
                path,
            ])
            .output()
    } else if which("su") {
        Command::new("su")
            .args(["nobody", "-s", "/bin/sh", "-c", &format!("cat '{path}'")])
            .output()
    } else {
        eprintln!("neither setpriv nor su exists: skipping the other-user read");
        return;
    };
    let out = attempt.unwrap();
    assert!(
        !out.status.success(),
        "another user read the secrets file: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_in_the_middle_of_a_run_loses_nothing() {
    let lab = generated_lab(150, 300, 7).await;
    let c = configure(&lab);
    // Slow Exchange down so the stop lands inside the run.
    lab.state.faults().exchange_latency_ms = 30;
    // No grace: the run is cut off at once, as if the machine shut down.
    let mut child = c.start(&["--stop-grace-seconds", "0"]);
    let mut client = connect(&c.socket()).await;
    wait_status(&mut client, "the first run to start", |s| {
        s.current_run.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let exit = terminate(&mut child);
    assert!(exit.success(), "{exit:?}");
    lab.state.faults().exchange_latency_ms = 0;

    // The run was cut off: its record never finished.
    {
        let store = Store::open(c.config_dir().join("state.db")).unwrap();
        let runs = store.recent_runs(5).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(
            runs[0].ended_at.is_none(),
            "the stop landed inside the run: {runs:?}"
        );
    }

    // Start again: the next runs converge and the journal is empty.
    let mut child = c.start(&["--quick-interval-seconds", "600"]);
    let mut client = connect(&c.socket()).await;
    let s = wait_status(&mut client, "a successful full sync", |s| {
        s.report.as_ref().is_ok_and(|r| r.last_full_sync.is_some()) && s.current_run.is_none()
    })
    .await;
    let converged_by = s.last_report.as_ref().and_then(|r| r.run_id).unwrap();
    let r = client
        .request(&Request::Sync {
            kind: SyncKind::Full,
            dry_run: false,
        })
        .await
        .unwrap();
    assert!(matches!(r, Reply::Accepted { .. }), "{r:?}");
    let s = wait_status(&mut client, "the requested full sync", |s| {
        s.current_run.is_none()
            && s.last_report
                .as_ref()
                .is_some_and(|r| r.run_id > Some(converged_by) && r.kind == SyncKind::Full)
    })
    .await;
    let last = s.last_report.as_ref().unwrap();
    assert_eq!(last.outcome, SyncOutcome::Succeeded, "{s:#?}");
    assert_eq!(
        last.changes_planned, 0,
        "a converged organisation needs no change: {s:#?}"
    );
    terminate(&mut child);
    let store = Store::open(c.config_dir().join("state.db")).unwrap();
    let report = status_report(&store).unwrap();
    assert_eq!(report.open_journal_entries, 0);
}

/// Seen under Wine in CI: the service, started again with no Exchange and no tenant answering, took
/// minutes to stop (its start-up registration and version read retried on), so Windows Installer
/// found it running. A stop must end those at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_tenant_and_exchange_do_not_answer_ends_the_worker_at_once() {
    let lab = small_lab().await;
    let c = configure(&lab);
    // Every Graph request and Exchange call now takes ten minutes: far beyond the 60 s that
    // `terminate` waits, and beyond the client's own 120 s timeout.
    {
        let mut faults = lab.state.faults();
        faults.graph_latency_ms = 600_000;
        faults.exchange_latency_ms = 600_000;
    }
    let mut child = c.start(&["--stop-grace-seconds", "5"]);
    let _client = connect(&c.socket()).await;
    // The registration request is in flight once the channel answers; give it a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let exit = terminate(&mut child);
    assert!(exit.success(), "{exit:?}");
    let logs = c.logs();
    assert!(
        logs.contains("stop requested while the worker was getting ready"),
        "the stop did not land in the start-up steps: {logs}"
    );
    assert!(logs.contains("worker stopped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_near_its_expiry_is_in_status_and_mailed_to_the_admins_once_a_day() {
    use exchange_connector::certificate::ClientCertificate;
    let lab = small_lab().await;
    let c = configure(&lab);
    // The connector signs in with a certificate that expires in ten days.
    let now = std::time::SystemTime::now();
    let cert = ClientCertificate::generate_valid(
        "Exchange Connector test",
        now - Duration::from_secs(3600),
        now + Duration::from_secs(10 * 86_400 + 3600),
    )
    .unwrap();
    // Registered with the app, as a real expiring certificate is: hosted mail goes through Graph
    // with the app's token.
    lab.state.tenant_mut().apps[0]
        .certificates
        .push(cert.certificate_der.clone());
    c.use_certificate(&cert);

    let mut child = c.start(&["--quick-interval-seconds", "2"]);
    let mut client = connect(&c.socket()).await;
    let s = wait_status(&mut client, "the certificate's expiry", |s| {
        s.certificate.is_some()
    })
    .await;
    let warning = s
        .certificate
        .as_ref()
        .and_then(|c| c.warning.as_deref())
        .unwrap_or_default();
    assert!(
        warning.contains("expires on") && warning.contains("in 10 days"),
        "{s:#?}"
    );
    assert!(warning.contains("connector package"), "{warning}");
    // One mail to the admins (the notification mailbox), not one per run.
    let warned = || {
        lab.state
            .outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.subject.contains("certificate"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while warned().is_empty() {
        assert!(Instant::now() < deadline, "no warning mail");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mails = warned();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]
            .to
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&lab.endpoints.notification_account.address))
    );
    assert!(mails[0].body.contains("expires on"), "{}", mails[0].body);
    assert!(c.logs().contains("expires on"));
    assert!(terminate(&mut child).success());
}
