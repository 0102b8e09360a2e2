//! The setup GUI driven as a user would, by labels (egui_kittest + AccessKit): validation messages,
//! Connect against an in-process lab and each failure it can inject, Replace, changing the proxy later,
//! Quick sync from the status page against a fake worker, and snapshots of the main screens.
//!
//! Headless: the query tests need no GPU. The snapshot tests render with wgpu; on Linux CI install
//! `mesa-vulkan-drivers` (lavapipe). Update images with `UPDATE_SNAPSHOTS=1 cargo test --test gui`.

#[path = "common/mod.rs"]
mod common;
#[path = "gui_support/mod.rs"]
mod gui_support;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use exchange_connector::gui::app::{Page, SetupApp};
use exchange_connector::gui::connect::{CheckId, CheckState};
use exchange_connector::gui::devices::Clock;
use exchange_connector::gui::i18n::Lang;
use exchange_connector::gui::wizard::first_sync::{FirstSync, FirstSyncState};
use exchange_connector::gui::wizard::{Step, WizardState};
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::policy::ListKind;
use exchange_connector::service::channel::{ChannelClient, ChannelHandler, serve};
use exchange_connector::service::messages::{
    Connection, ExchangeServerInUse, ProgressEvent, Reply, Request, RunPhase, StatusReply, SyncKind,
};
use exchange_connector::store::{AuditEntry, AuditRecord, ChangeOp, RunOutcome};
use exchange_connector::sync::StatusReport;
use exchange_connector::sync::cli::RunSummary;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

use gui_support::{Fixture, replace_text, wait_until};

fn harness(app: SetupApp) -> Harness<'static, SetupApp> {
    Harness::builder()
        .with_size([1000.0, 2400.0])
        .build_ui_state(|ui, app: &mut SetupApp| app.show(ui), app)
}

/// Focuses the field named `label` and types `text`, as a user would.
fn type_into(h: &mut Harness<'_, SetupApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
    h.step();
}

fn finished(app: &SetupApp) -> bool {
    app.connect.as_ref().is_some_and(|c| c.outcome.is_some())
}

/// Presses Next, as the admin would, until the wizard shows `step`.
fn next_until(h: &mut Harness<'_, SetupApp>, step: Step) {
    while h.state().step < step {
        let before = h.state().step;
        h.get_by_label("Next ▶").click();
        h.step();
        h.step();
        assert_ne!(
            h.state().step,
            before,
            "Next did not leave {before:?}: {:?}",
            h.state().wizard.errors(Lang::En)
        );
    }
}

fn connect(h: &mut Harness<'_, SetupApp>) {
    next_until(h, Step::Connect);
    h.get_by_label("Connect").click();
    h.step();
    wait_until(h, "Connect to finish", finished);
}

fn failed_line(app: &SetupApp) -> Option<(CheckId, String)> {
    app.connect
        .as_ref()?
        .lines
        .iter()
        .find_map(|(id, s)| match s {
            CheckState::Failed(f) => Some((*id, format!("{} / {} / {}", f.what, f.why, f.fix))),
            _ => None,
        })
}

fn assert_fields_kept(before: &WizardState, after: &WizardState) {
    assert_eq!(before.package_path, after.package_path);
    assert_eq!(before.server, after.server);
    assert_eq!(before.exchange_user, after.exchange_user);
    assert_eq!(before.exchange_password, after.exchange_password);
    assert_eq!(before.notification_mailbox, after.notification_mailbox);
    assert_eq!(before.notification_password, after.notification_password);
    assert_eq!(before.proxy_host, after.proxy_host);
    assert_eq!(before.proxy_port, after.proxy_port);
}

#[test]
fn each_validation_message_appears_as_typed() {
    let fx = Fixture::without_lab();
    let mut h = harness(fx.app());
    h.step();
    // The wizard shows one step at a time: open the steps that hold these fields.
    h.state_mut().open_step(Step::Proxy);
    h.step();
    h.get_by_label("Use a proxy server when synchronising mobile device information")
        .click();
    h.step();
    h.step();
    type_into(&mut h, "Port number", "70000");
    h.step();
    h.step();
    h.get_by_label_contains("'70000' is not a port; use a number from 1 to 65535");

    h.state_mut().open_step(Step::Accounts);
    h.step();
    type_into(&mut h, "User (domain\\user)", "admin");
    h.step();
    h.step();
    h.get_by_label_contains("'admin' must be DOMAIN\\user");

    type_into(&mut h, "Mailbox", "notify@");
    h.step();
    h.step();
    h.get_by_label_contains("'notify@' is not a mail address");

    // Untouched empty passwords are flagged once Connect is pressed, and nothing starts.
    h.state_mut().open_step(Step::Connect);
    h.step();
    h.get_by_label("Connect").click();
    h.step();
    h.step();
    h.get_by_label("Correct the fields marked in red, then click Connect again.");
    assert!(h.state().connect.is_none());
    h.get_all_by_label("Go to Accounts").next().unwrap().click();
    h.step();
    h.step();
    assert_eq!(h.state().step, Step::Accounts);
    assert!(h.get_all_by_label("⚠ Enter the password.").count() >= 2);

    // Fixing the port clears its message.
    h.state_mut().open_step(Step::Proxy);
    h.step();
    h.step();
    h.get_by_label_contains("is not a port");
    h.state_mut().wizard.proxy_port = "8080".into();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("is not a port").is_none());
    h.check_accessibility();
}

#[test]
fn french_and_dutch_labels_switch_in_the_ui() {
    let fx = Fixture::without_lab();
    let mut h = harness(fx.app());
    h.step();
    h.state_mut().lang = Lang::Fr;
    h.state_mut().open_step(Step::Server);
    h.step();
    h.step();
    h.get_by_label("Serveur Microsoft Exchange sur site");
    h.state_mut().open_step(Step::Connect);
    h.step();
    h.step();
    h.get_by_label("Se connecter");
    h.state_mut().lang = Lang::Nl;
    h.step();
    h.step();
    h.get_by_label("Verbinden");
    h.check_accessibility();
}

#[test]
fn full_connect_against_the_lab_ends_on_the_status_page() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    // The package's tenant is shown.
    let tenant = fx.lab().endpoints.tenant_id.clone();
    h.get_by_label_contains(&tenant);
    connect(&mut h);
    assert_eq!(failed_line(h.state()), None);
    assert!(matches!(
        h.state().connect.as_ref().unwrap().outcome,
        Some(Ok(_))
    ));
    // The package sits in a folder others may read: the seeds' warning is offered.
    h.get_by_label("Delete the connector package?");
    h.get_by_label("Keep it").click();
    h.step();
    h.step();
    // The wizard's last step follows the first sync; from there the status page.
    assert_eq!(h.state().step, Step::FirstSync);
    h.get_by_label("Open the status page").click();
    h.step();
    h.step();
    assert_eq!(h.state().page, Page::Status);
    wait_until(&mut h, "the worker's state", |a| {
        a.status.worker != exchange_connector::gui::status::WorkerState::Unknown
    });
    h.get_by_label_contains("The connector service is not running");
    h.get_by_label("Start the connector service");
    // Configuration written, secrets in the store, one connector registered.
    let env = fx.env();
    let config = exchange_connector::config::Config::load(&env.config_dir)
        .unwrap()
        .config;
    assert_eq!(config.exchange_server, "cas01.contoso.lab");
    let text =
        std::fs::read_to_string(env.config_dir.join(exchange_connector::config::CONFIG_FILE))
            .unwrap();
    assert!(!text.contains(&fx.lab().endpoints.service_account.password));
    assert_eq!(fx.lab().state.tenant().exchange_connectors.len(), 1);
    // The retired connector's policy was imported from the tenant, once, into the local file.
    let imported = h.state().connect.as_ref().unwrap().lines.iter().any(
        |(_, s)| matches!(s, CheckState::Passed(text) if text.contains("imported the retired connector's settings")),
    );
    assert!(imported, "{:?}", h.state().connect.as_ref().unwrap().lines);
    assert!(env.config_dir.join("policy.json").is_file());
    h.check_accessibility();
}

#[test]
fn unreachable_server_fails_the_server_line_and_keeps_the_fields() {
    let fx = Fixture::with_lab();
    fx.rt.block_on(fx.lab().stop_cas("CAS01")).unwrap();
    let mut h = harness(fx.app());
    h.step();
    let before = h.state().wizard.clone();
    connect(&mut h);
    let (id, text) = failed_line(h.state()).unwrap();
    assert_eq!(id, CheckId::Server, "{text}");
    h.get_by_label("✖ DNS and TLS to the Exchange server");
    h.get_by_label_contains("No secure connection to cas01.contoso.lab");
    assert_fields_kept(&before, &h.state().wizard);
    assert_eq!(h.state().page, Page::Setup);
}

#[test]
fn wrong_password_fails_the_sign_in_line() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    h.state_mut().wizard.exchange_password = "not-the-password".into();
    let before = h.state().wizard.clone();
    connect(&mut h);
    let (id, text) = failed_line(h.state()).unwrap();
    assert_eq!(id, CheckId::SignIn, "{text}");
    h.get_by_label("✖ Exchange sign-in");
    h.get_by_label_contains("Signing in to Exchange as");
    assert_fields_kept(&before, &h.state().wizard);
}

#[test]
fn missing_cmdlet_permission_is_named() {
    let fx = Fixture::with_lab();
    let user = fx.lab().endpoints.service_account.user.clone();
    {
        let mut org = fx.lab().state.org_mut();
        for account in org.accounts.iter_mut().filter(|a| a.is_named(&user)) {
            account
                .granted_cmdlets
                .retain(|c| !c.eq_ignore_ascii_case("Set-CASMailbox"));
        }
    }
    let mut h = harness(fx.app());
    h.step();
    connect(&mut h);
    let (id, text) = failed_line(h.state()).unwrap();
    assert_eq!(id, CheckId::Cmdlets, "{text}");
    h.get_by_label("✖ Exchange cmdlet permissions");
    h.get_by_label_contains("Set-CASMailbox");
}

#[test]
fn autodiscover_failure_fails_the_notification_line() {
    let fx = Fixture::with_lab();
    fx.lab().state.faults().storms.push(Storm {
        surface: Surface::Autodiscover,
        status: 500,
        remaining: 1000,
        retry_after_seconds: 0,
    });
    let mut h = harness(fx.app());
    h.step();
    let before = h.state().wizard.clone();
    connect(&mut h);
    let (id, text) = failed_line(h.state()).unwrap();
    assert_eq!(id, CheckId::Notification, "{text}");
    h.get_by_label("✖ Autodiscover and EWS for the notification account");
    h.get_by_label_contains("Autodiscover found no Exchange Web Services URL");
    assert_fields_kept(&before, &h.state().wizard);
}

/// A proxy that answers 407 offering only NTLM and Negotiate (which the connector cannot answer).
fn proxy_407(rt: &tokio::runtime::Runtime) -> u16 {
    rt.block_on(common::forward_proxy(common::ProxyAuth::NtlmOnly))
        .0
}

/// A proxy that tunnels CONNECT to 127.0.0.1 (the lab's names all live there).
fn tunnelling_proxy(rt: &tokio::runtime::Runtime) -> u16 {
    rt.block_on(common::forward_proxy(common::ProxyAuth::None))
        .0
}

#[test]
fn proxy_407_fails_the_proxy_line_and_keeps_the_fields() {
    let fx = Fixture::with_lab();
    let port = proxy_407(&fx.rt);
    let mut h = harness(fx.app());
    h.step();
    next_until(&mut h, Step::Proxy);
    h.get_by_label("Use a proxy server when synchronising mobile device information")
        .click();
    h.step();
    h.step();
    type_into(&mut h, "Proxy server name", "127.0.0.1");
    type_into(&mut h, "Port number", &port.to_string());
    h.step();
    let before = h.state().wizard.clone();
    connect(&mut h);
    let (id, text) = failed_line(h.state()).unwrap();
    assert_eq!(id, CheckId::Proxy, "{text}");
    assert!(text.contains("407") || text.contains("NTLM"), "{text}");
    h.get_by_label("✖ Proxy server and its credentials");
    assert_fields_kept(&before, &h.state().wizard);
}

#[test]
fn replace_deletes_the_original_connector_and_registers_this_one() {
    let fx = Fixture::with_lab();
    let original: exchange_connector::model::intune::ExchangeConnector =
        serde_json::from_value(serde_json::json!({
            "id": "original-connector",
            "serverName": "cas09.contoso.lab",
            "connectorServerName": "OLDHOST",
            "exchangeConnectorType": "onPremises",
        }))
        .unwrap();
    fx.lab()
        .state
        .tenant_mut()
        .exchange_connectors
        .push(original);
    let mut h = harness(fx.app());
    h.step();
    next_until(&mut h, Step::Connect);
    h.get_by_label("Connect").click();
    wait_until(&mut h, "the Replace question", |a| {
        a.connect.as_ref().is_some_and(|c| c.question.is_some())
    });
    h.get_by_label("Replace the existing connector?");
    h.get_by_label("Replace").click();
    h.step();
    wait_until(&mut h, "Connect to finish", finished);
    assert_eq!(failed_line(h.state()), None);
    let tenant = fx.lab().state.tenant();
    assert_eq!(tenant.exchange_connectors.len(), 1);
    assert_ne!(tenant.exchange_connectors[0].id, "original-connector");
    assert_eq!(
        tenant.exchange_connectors[0].server_name.as_deref(),
        Some("cas01.contoso.lab")
    );
}

#[test]
fn changing_the_proxy_later_is_checked_before_it_is_saved() {
    let fx = Fixture::with_lab();
    let refusing = proxy_407(&fx.rt);
    let tunnelling = tunnelling_proxy(&fx.rt);
    let mut h = harness(fx.app());
    h.step();
    connect(&mut h);
    assert_eq!(failed_line(h.state()), None);
    let env = fx.env();
    let load = || {
        exchange_connector::config::Config::load(&env.config_dir)
            .unwrap()
            .config
    };
    assert!(!load().proxy.enabled);
    // Settings the wizard does not show, changed meanwhile, survive Check and save: the schedule,
    // the notification language, and an element of a newer version.
    let mut scheduled = load();
    scheduled.quick_sync_interval_minutes = 7;
    scheduled.notification_language = exchange_connector::config::NotificationLanguage::Nl;
    scheduled
        .unknown
        .push(exchange_connector::config::UnknownElement {
            name: "FutureSetting".into(),
            raw_content: "kept".into(),
        });
    scheduled.save(&env.config_dir).unwrap();

    h.get_by_label("Settings").click();
    h.step();
    h.step();
    h.get_by_label("Use a proxy server when synchronising mobile device information")
        .click();
    h.step();
    h.step();
    type_into(&mut h, "Proxy server name", "127.0.0.1");
    type_into(&mut h, "Port number", &refusing.to_string());
    h.step();
    h.get_by_label("Check and save").click();
    h.step();
    wait_until(&mut h, "the check", |a| {
        a.settings_run.as_ref().is_some_and(|r| r.outcome.is_some())
    });
    h.get_by_label("Nothing was saved.");
    h.get_by_label("✖ Proxy server and its credentials");
    assert!(!load().proxy.enabled, "a refused proxy must not be saved");

    h.state_mut().settings.proxy_port = tunnelling.to_string();
    h.step();
    h.get_by_label("Check and save").click();
    h.step();
    wait_until(&mut h, "the check", |a| {
        a.settings_run.as_ref().is_some_and(|r| r.outcome.is_some())
    });
    let run = h.state().settings_run.as_ref().unwrap();
    assert!(matches!(run.outcome, Some(Ok(_))), "{:?}", run.lines);
    h.get_by_label("✔ Saved.");
    let saved = load();
    assert!(saved.proxy.enabled);
    assert_eq!(saved.proxy.port, Some(tunnelling));
    assert_eq!(saved.quick_sync_interval_minutes, 7, "the schedule is kept");
    assert_eq!(
        saved.notification_language,
        exchange_connector::config::NotificationLanguage::Nl,
        "the notification language is kept"
    );
    assert!(
        saved
            .unknown
            .iter()
            .any(|u| u.name == "FutureSetting" && u.raw_content == "kept"),
        "unknown elements are kept: {:?}",
        saved.unknown
    );
}

/// A successful run of the fake worker.
fn run(started_at: &str, duration_seconds: f64) -> RunSummary {
    RunSummary {
        id: 1,
        started_at: started_at.parse().unwrap(),
        ended_at: None,
        duration_seconds: Some(duration_seconds),
        outcome: RunOutcome::Succeeded,
        devices_seen: 368,
        error: None,
    }
}

/// An entry the fake worker added to a list.
fn change(at: &str, user: &str, device: &str, list: ListKind, reason: &str) -> AuditRecord {
    AuditRecord {
        id: 1,
        at: at.parse().unwrap(),
        entry: AuditEntry {
            run_id: None,
            actor: r"HOST\svc".into(),
            mailbox: user.into(),
            list,
            op: ChangeOp::Add,
            device_id: device.into(),
            reason: reason.into(),
            error: None,
        },
    }
}

/// A worker stand-in: answers Status from shared state; Sync emits progress and moves the last quick
/// sync to a fixed time.
struct FakeWorker {
    last_quick: Arc<Mutex<Option<&'static str>>>,
    events: broadcast::Sender<ProgressEvent>,
    applied: Applied,
}

/// The configurations a [`FakeWorker`] was asked to apply.
type Applied = Arc<Mutex<Vec<std::collections::BTreeMap<String, String>>>>;

impl ChannelHandler for FakeWorker {
    async fn handle(&self, request: Request) -> Reply {
        match request {
            Request::Status => Reply::Status(Box::new(StatusReply {
                connection: Connection::Connected,
                exchange_server: Some(ExchangeServerInUse {
                    server: "cas01.contoso.lab".into(),
                    failed_over_from: None,
                    version: None,
                    version_supported: None,
                    unsupported: None,
                }),
                report: Ok(StatusReport {
                    last_quick_sync: self.last_quick.lock().unwrap().map(|t| run(t, 2.5)),
                    last_full_sync: Some(run("2026-11-23T02:00:00+00:00", 41.0)),
                    devices_by_state: [
                        ("Allowed".to_string(), 312),
                        ("Blocked".to_string(), 41),
                        ("Quarantined".to_string(), 9),
                        ("Exempt".to_string(), 6),
                    ]
                    .into(),
                    held_plan: None,
                    ..StatusReport::default()
                }),
                recent_changes: vec![
                    change(
                        "2026-11-23T11:58:00Z",
                        "dave@contoso.lab",
                        "DAVESAMSUNG0004",
                        ListKind::Block,
                        "not enrolled in Intune",
                    ),
                    change(
                        "2026-11-23T11:57:00Z",
                        "alice@contoso.lab",
                        "ALICEIPHONE0001",
                        ListKind::Allow,
                        "compliant",
                    ),
                ],
                ..StatusReply::default()
            })),
            Request::Sync {
                kind: SyncKind::Quick,
                ..
            } => {
                let events = self.events.clone();
                let last = self.last_quick.clone();
                tokio::spawn(async move {
                    for (phase, done) in [(RunPhase::Reading, 1u64), (RunPhase::Applying, 2)] {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let _ = events.send(ProgressEvent {
                            run_id: Some(7),
                            kind: SyncKind::Quick,
                            phase,
                            done,
                            total: Some(2),
                            message: format!("{phase}…").into(),
                        });
                    }
                    *last.lock().unwrap() = Some("2026-11-23T12:00:00+00:00");
                    let _ = events.send(ProgressEvent {
                        run_id: Some(7),
                        kind: SyncKind::Quick,
                        phase: RunPhase::Finished,
                        done: 2,
                        total: Some(2),
                        message: "done".into(),
                    });
                });
                Reply::Accepted {
                    message: "Quick sync started.".into(),
                }
            }
            Request::ApplyConfig { values } => {
                self.applied.lock().unwrap().push(values);
                Reply::Accepted {
                    message: "configuration saved; it takes effect with the next run".into(),
                }
            }
            _ => Reply::Error {
                message: "not supported by the fake".into(),
            },
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.events.subscribe()
    }
}

fn status_harness(fx: &Fixture) -> (Harness<'static, SetupApp>, watch::Sender<bool>) {
    let (h, stop, _) = status_harness_applied(fx);
    (h, stop)
}

fn status_harness_applied(
    fx: &Fixture,
) -> (Harness<'static, SetupApp>, watch::Sender<bool>, Applied) {
    let env = fx.env();
    let (events, _) = broadcast::channel(16);
    let applied = Applied::default();
    let worker = Arc::new(FakeWorker {
        last_quick: Arc::new(Mutex::new(Some("2026-11-23T11:00:00+00:00"))),
        events,
        applied: applied.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let address = env.channel.clone();
    fx.rt
        .spawn(async move { serve(&address, worker, stopped).await });
    // Wait for the socket.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(&env.channel.0).exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut app = fx.app();
    app.page = Page::Status;
    let mut h = Harness::builder()
        .with_size([1000.0, 900.0])
        .build_ui_state(|ui, app: &mut SetupApp| app.show(ui), app);
    wait_until(&mut h, "the status", |a| a.status.view.is_some());
    (h, stop, applied)
}

#[test]
fn quick_sync_from_the_status_page_updates_the_last_sync_time() {
    let fx = Fixture::without_lab();
    let (mut h, _stop) = status_harness(&fx);
    // Times are shown local (with their age); the UTC time is on hover.
    h.get_by_label_contains(&local("2026-11-23T11:00:00Z"));
    h.get_by_label("Quick sync").click();
    h.step();
    wait_until(&mut h, "the new last quick sync", |a| {
        a.status
            .view
            .as_ref()
            .and_then(|v| v.last_quick.as_ref())
            .is_some_and(|r| r.when.starts_with("2026-11-23T12:00"))
    });
    h.get_by_label_contains(&local("2026-11-23T12:00:00Z"));
    // The run is over: its announcement went with it (it once stayed under the finished run).
    h.run();
    assert!(
        h.query_by_label_contains("Quick sync started.").is_none(),
        "the finished run is still announced"
    );
    assert!(h.state().status.message.is_none());
    h.check_accessibility();
}

/// An instant as the status page shows it: local time, to the minute.
fn local(utc: &str) -> String {
    Clock::default().local(utc.parse().unwrap())
}

/// A worker process, stopped when the test ends (passed or not).
/// The status page fed by a real worker's reply shows the last sync times (it once showed "never"
/// against a real worker while a stand-in's hand-written reply read fine).
#[test]
fn the_status_page_shows_a_real_workers_last_sync_times() {
    let fx = Fixture::with_lab();
    let env = fx.env();
    // Configured for the lab on Exchange's REST transport, the guard off (every plan applies).
    let _worker = gui_support::start_lab_worker(&env, fx.lab(), fx.dir.path(), 100.0, 2);

    let mut app = fx.app();
    app.page = Page::Status;
    app.status.poll_every = Duration::from_millis(300);
    let mut h = harness(app);
    let deadline = Instant::now() + Duration::from_secs(120);
    let view = loop {
        h.step();
        let view = h.state().status.view.clone();
        if let Some(v) = view.filter(|v| v.last_full.is_some() && v.last_quick.is_some()) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed both last syncs: {:?}",
            h.state().status
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    h.step();
    h.step();
    for run in [view.last_full.unwrap(), view.last_quick.unwrap()] {
        assert!(run.when.starts_with("20"), "a time: {run:?}");
        // Shown local, to the minute (both runs and recent changes may share that minute).
        let local = Clock::default().local(run.at);
        assert!(
            h.query_all_by_label_contains(&local).next().is_some(),
            "{local} is shown"
        );
    }
    assert!(
        h.query_by_label("never").is_none(),
        "a real worker's last syncs are shown, not \"never\""
    );
    assert!(!h.state().status.view.as_ref().unwrap().devices.is_empty());
}

/// A real worker's answer to *Sync* and its progress lines are said in French: they cross the channel
/// coded, so no English sentence of the worker reaches a French admin (they once came as English).
#[test]
fn a_real_workers_reply_and_progress_lines_are_said_in_french() {
    let fx = Fixture::with_lab();
    let env = fx.env();
    // A quick sync every 2 s: a whole run's lines come by even if the subscription starts mid-run.
    let _worker = gui_support::start_lab_worker(&env, fx.lab(), fx.dir.path(), 100.0, 2);
    let channel = env.channel.clone();
    let (accepted, running, finished) = fx.rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs(120);
        let connect = || async {
            loop {
                match ChannelClient::connect(&channel).await {
                    Ok(client) => break client,
                    Err(e) => {
                        assert!(Instant::now() < deadline, "no worker: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        let mut subscription = connect().await;
        let mut reply = subscription.request(&Request::Subscribe).await;
        let mut running = None;
        let finished = loop {
            match reply {
                Ok(Reply::Progress(event)) if event.phase == RunPhase::Running => {
                    running = Some(event)
                }
                Ok(Reply::Progress(event))
                    if event.phase == RunPhase::Finished && running.is_some() =>
                {
                    break event;
                }
                Ok(Reply::Progress(_)) => {}
                other => panic!("the subscription ended: {other:?}"),
            }
            assert!(Instant::now() < deadline, "no whole run was seen");
            reply = subscription.next_reply().await;
        };
        let accepted = match connect()
            .await
            .request(&Request::Sync {
                kind: SyncKind::Full,
                dry_run: false,
            })
            .await
        {
            Ok(Reply::Accepted { message }) => message,
            other => panic!("the sync was not accepted: {other:?}"),
        };
        (accepted, running.unwrap(), finished)
    });
    // The worker's own English stays for the CLI.
    assert!(accepted.english.contains("full sync"), "{accepted:?}");

    // The status page shows the answer after its translated sentence.
    let mut app = fx.app_with(WizardState::default(), Lang::Fr);
    app.page = Page::Status;
    let mut h = harness(app);
    wait_until(&mut h, "the status", |a| a.status.view.is_some());
    h.state_mut().status.message = Some((true, accepted));
    for _ in 0..4 {
        h.step();
    }
    h.get_by_label_contains("Le service du connecteur a accepté la demande");
    // "démarrage de la synchronisation complète", or queued behind the run in flight.
    h.get_by_label_contains("la synchronisation complète");
    assert!(h.query_by_label_contains("full sync").is_none());

    // The first-sync step shows the run's progress line, then its outcome line.
    for (event, french, english) in [
        (
            running,
            "lecture d'Exchange et d'Intune, planification et application des modifications",
            "reading Exchange and Intune",
        ),
        (finished, "appareils synchronisés", "Devices synced"),
    ] {
        let mut app = fx.app_with(WizardState::default(), Lang::Fr);
        app.first_sync = Some(FirstSync::showing(FirstSyncState::Running(event)));
        app.page = Page::Setup;
        app.open_step(Step::FirstSync);
        let mut h = harness(app);
        for _ in 0..4 {
            h.step();
        }
        h.get_by_label_contains(french);
        assert!(h.query_by_label_contains(english).is_none());
    }
}

#[test]
fn snapshots_of_the_main_screens() {
    let fx = Fixture::without_lab();
    let mut results = egui_kittest::SnapshotResults::new();
    {
        let mut h = Harness::builder()
            .with_size([1000.0, 1300.0])
            .build_ui_state(|ui, app: &mut SetupApp| app.show(ui), fx.app());
        h.run();
        results.add(h.try_snapshot("wizard_empty"));
        h.state_mut().open_step(Step::Connect);
        h.run();
        h.get_by_label("Connect").click();
        h.run();
        results.add(h.try_snapshot("wizard_errors"));
    }
    {
        let (mut h, _stop) = status_harness(&fx);
        // A stopped clock in UTC: the ages and local times do not move with the day or the machine.
        h.state_mut().status.devices.clock = Clock::fixed(
            "2026-11-23T12:30:00Z".parse().unwrap(),
            chrono::FixedOffset::east_opt(0).unwrap(),
        );
        h.step();
        h.step();
        results.add(h.try_snapshot("status"));
    }
    {
        let fx = Fixture::without_lab();
        fx.write_minimal_config();
        let mut h = Harness::builder()
            .with_size([1000.0, 1100.0])
            .build_ui_state(|ui, app: &mut SetupApp| app.show(ui), fx.app());
        h.step();
        h.get_by_label("Settings").click();
        h.step();
        h.step();
        h.get_by_label("Access policy").click();
        for _ in 0..4 {
            h.step();
        }
        results.add(h.try_snapshot("settings_policy"));
        h.get_by_label("Notification mail").click();
        for _ in 0..4 {
            h.step();
        }
        results.add(h.try_snapshot("settings_notification"));
    }
}

#[test]
fn the_icon_png_is_the_drawn_icon() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/icon.png");
    let rgba = exchange_connector::gui::icon_rgba(64);
    let image = image::RgbaImage::from_raw(64, 64, rgba).unwrap();
    let current = image::open(&path).ok().map(|i| i.to_rgba8());
    if current.as_ref() != Some(&image) {
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            image.save(&path).unwrap();
        } else {
            panic!(
                "assets/icon.png is not the drawn icon; run with UPDATE_SNAPSHOTS=1 to rewrite it"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Settings: access policy, notification mail, schedule.

/// A configured app on the Settings page's `tab`.
fn settings_tab(fx: &Fixture, tab: &str) -> Harness<'static, SetupApp> {
    fx.write_minimal_config();
    let mut h = harness(fx.app());
    h.step();
    h.get_by_label("Settings").click();
    h.step();
    h.step();
    h.get_by_label(tab).click();
    h.step();
    h.step();
    h
}

fn save_more(h: &mut Harness<'_, SetupApp>) {
    h.get_by_label("Save").click();
    h.step();
    h.step();
}

fn save_more_and_wait(h: &mut Harness<'_, SetupApp>) {
    save_more(h);
    wait_until(h, "the settings to be saved", |a| {
        a.more.save.as_ref().is_some_and(|s| s.outcome.is_some())
    });
    h.get_by_label("✔ The settings are saved.");
}

const EXCLUDED: &str = "Exempt groups (one Entra group object id per line)";
const THRESHOLD: &str = "Mass-change guard threshold (%)";

#[test]
fn settings_policy_bad_group_and_threshold_show_messages_and_save_nothing() {
    let fx = Fixture::without_lab();
    let mut h = settings_tab(&fx, "Access policy");
    h.get_by_label_contains("No policy is saved here yet");
    type_into(&mut h, EXCLUDED, "not-a-guid");
    h.get_by_label_contains(
        "Line 1: 'not-a-guid' is not a group object id. Copy the group's Object ID",
    );
    // Typing after the default 10 makes 105.
    type_into(&mut h, THRESHOLD, "5");
    h.get_by_label_contains("'105' is not a percentage from 1 to 100");
    h.check_accessibility();

    save_more(&mut h);
    h.get_by_label("Nothing was saved. Correct these fields:");
    h.get_by_label_contains("• Exempt groups (one Entra group object id per line): Line 1");
    h.get_by_label_contains("• Mass-change guard threshold (%): '105'");
    assert!(h.state().more.save.is_none(), "nothing may start");
    let dir = fx.env().config_dir;
    assert!(!dir.join("policy.json").exists());
    assert!(!dir.join("notification-template.html").exists());
}

#[test]
fn settings_policy_valid_change_saves_policy_json() {
    let fx = Fixture::without_lab();
    let mut h = settings_tab(&fx, "Access policy");
    h.get_by_role_and_label(
        egui::accesskit::Role::ComboBox,
        "Devices not enrolled in Intune",
    )
    .click();
    h.step();
    h.step();
    h.get_by_label("Quarantine").click();
    h.step();
    h.step();
    type_into(&mut h, EXCLUDED, "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");
    replace_text(&mut h, THRESHOLD, "25");
    save_more_and_wait(&mut h);
    h.get_by_label(
        "The connector service is not running: the new settings apply when it next starts.",
    );

    let dir = fx.env().config_dir;
    let text = std::fs::read_to_string(dir.join("policy.json")).unwrap();
    let saved: exchange_connector::policy::PolicySettings = serde_json::from_str(&text).unwrap();
    assert_eq!(
        saved,
        exchange_connector::policy::PolicySettings {
            unenrolled_action: exchange_connector::policy::EnforcementAction::Quarantine,
            excluded_groups: vec!["0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into()],
            mass_change_threshold_percent: 25.0,
            ..Default::default()
        }
    );
    assert!(
        !dir.join("notification-template.html").exists(),
        "an untouched template keeps the shipped one"
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn settings_notification_needs_the_enrol_link_and_previews_the_new_subject() {
    let fx = Fixture::without_lab();
    let mut h = settings_tab(&fx, "Notification mail");
    // The shipped template's preview, with the sample fields.
    h.get_by_label("Subject: Action needed: get iPhone 16 ready for company email");
    h.check_accessibility();

    replace_text(&mut h, "Body (HTML)", "<p>Hello {user}</p>");
    h.get_by_label_contains("⚠ the notification template has no {enrol_link} placeholder");
    h.get_by_label("No preview until the template is correct.");
    save_more(&mut h);
    h.get_by_label("Nothing was saved. Correct these fields:");
    let file = fx.env().config_dir.join("notification-template.html");
    assert!(!file.exists());

    replace_text(
        &mut h,
        "Body (HTML)",
        "<p>Hello {user},</p><p>enrol {device} <a href=\"{enrol_link}\">here</a>.</p>",
    );
    replace_text(&mut h, "Subject", "Enrol {device} now");
    h.get_by_label("Subject: Enrol iPhone 16 now");
    h.get_by_label_contains(
        "Hello Alex Example,\n\nenrol iPhone 16 here (https://portal.manage.microsoft.com/).",
    );
    save_more_and_wait(&mut h);
    let saved =
        exchange_connector::notify::Template::parse(&std::fs::read_to_string(&file).unwrap())
            .unwrap();
    assert_eq!(saved.subject, "Enrol {device} now");
    assert!(saved.html.contains("{enrol_link}"));
    assert!(!fx.env().config_dir.join("policy.json").exists());

    // Reset to default, saved, removes the custom file: the shipped template applies again.
    h.get_by_label("Reset to default").click();
    h.step();
    h.step();
    h.get_by_label("Subject: Action needed: get iPhone 16 ready for company email");
    save_more_and_wait(&mut h);
    assert!(!file.exists());
}

#[test]
fn settings_schedule_is_checked_by_the_registry_and_saved_in_the_configuration() {
    let fx = Fixture::without_lab();
    let mut h = settings_tab(&fx, "Schedule");
    let quick = "Quick sync interval (minutes)";
    let full = "Daily full sync time (HH:MM)";
    replace_text(&mut h, quick, "0");
    h.get_by_label_contains("'0' is not a whole number from 1 to 1440");
    replace_text(&mut h, full, "25:00");
    h.get_by_label_contains("'25:00' is not a time of day; use HH:MM");
    h.check_accessibility();
    save_more(&mut h);
    h.get_by_label("Nothing was saved. Correct these fields:");
    let env = fx.env();
    let load = || {
        exchange_connector::config::Config::load(&env.config_dir)
            .unwrap()
            .config
    };
    assert_eq!(load().quick_sync_interval_minutes, 1);
    assert_eq!(load().full_sync_time.format("%H:%M").to_string(), "02:00");

    replace_text(&mut h, quick, "15");
    replace_text(&mut h, full, "3:30");
    save_more_and_wait(&mut h);
    let saved = load();
    assert_eq!(saved.quick_sync_interval_minutes, 15);
    assert_eq!(saved.full_sync_time.format("%H:%M").to_string(), "03:30");
    assert_eq!(
        saved.exchange_server, "cas01.contoso.lab",
        "the rest is kept"
    );
    assert!(!env.config_dir.join("policy.json").exists());
}

#[test]
fn settings_save_asks_the_running_worker_to_reload() {
    let fx = Fixture::without_lab();
    fx.write_minimal_config();
    let (mut h, _stop, applied) = status_harness_applied(&fx);
    h.get_by_label("Settings").click();
    h.step();
    h.step();
    h.get_by_label("Schedule").click();
    h.step();
    h.step();
    replace_text(&mut h, "Quick sync interval (minutes)", "5");
    save_more_and_wait(&mut h);
    h.get_by_label_contains("The connector service reloads them now.");
    let applied = applied.lock().unwrap();
    assert_eq!(applied.len(), 1, "one reload request");
    assert_eq!(applied[0]["QuickSyncIntervalMinutes"], "5");
    assert_eq!(applied[0]["ExchangeServer"], "cas01.contoso.lab");
}

#[test]
fn settings_preview_text_and_group_and_threshold_checks() {
    use exchange_connector::gui::settings_policy::{PolicyPanel, html_to_text};
    assert_eq!(
        html_to_text(
            "<html><head><style>p{}</style></head><body><p>Hello <b>Alex</b>,</p>\n<p>enrol <a href=\"https://x/?a=1&amp;b=2\">here</a>.<br>Thanks &amp; bye</p><ul><li>one</li><li>two</li></ul></body></html>"
        ),
        "Hello Alex,\n\nenrol here (https://x/?a=1&b=2).\nThanks & bye\n\n• one\n• two"
    );
    let ok = PolicyPanel::parse_groups("\n0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\n\n", Lang::En);
    assert_eq!(
        ok,
        Ok(vec!["0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".to_string()])
    );
    let bad = PolicyPanel::parse_groups("x\n0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\ny", Lang::En);
    assert_eq!(bad.unwrap_err().len(), 2);
    assert_eq!(PolicyPanel::parse_threshold("25", Lang::En), Ok(25.0));
    assert!(PolicyPanel::parse_threshold("0", Lang::En).is_err());
    assert!(PolicyPanel::parse_threshold("101", Lang::En).is_err());
}
