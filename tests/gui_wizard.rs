//! The setup wizard step by step, driven as an admin would (egui_kittest + AccessKit): Next only when a
//! step validates, the whole setup with Tab and Enter only against an in-process lab, hosted Exchange
//! asking only what it needs, the optional notification mailbox, failed Connect lines leading back to
//! their step, and snapshots of every step in English, French and Dutch at 1024×768 and at 1.5×
//! pixels per point. Every test runs the accessibility check.
//!
//! Headless; the snapshot test renders with wgpu (lavapipe on Linux CI). Update the images with
//! `UPDATE_SNAPSHOTS=1 cargo test --test gui_wizard`.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use exchange_connector::gui::app::{FALLBACK_WINDOW_SIZE, Page, SetupApp, initial_window_size};
use exchange_connector::gui::connect::{CheckId, CheckState, ConnectRun, ConnectSuccess, Failure};
use exchange_connector::gui::i18n::Lang;
use exchange_connector::gui::wizard::first_sync::{FirstSync, FirstSyncOutcome, FirstSyncState};
use exchange_connector::gui::wizard::{PackageSummary, ServerType, Step, WizardState};
use exchange_connector::service::messages::{ProgressEvent, RunPhase, SyncKind};
use exchange_connector::store::RunOutcome;
use exchange_connector::text_code::TextCode;
use std::path::PathBuf;

#[path = "gui_support/mod.rs"]
mod gui_support;
use gui_support::{Fixture, harness, wait_until};
const NEXT: &str = "Next ▶";

fn connect_finished(app: &SetupApp) -> bool {
    app.connect.as_ref().is_some_and(|c| c.outcome.is_some())
}

/// Presses Tab until the widget named `label` has the keyboard focus.
fn tab_to(h: &mut Harness<'_, SetupApp>, label: &str) {
    for _ in 0..60 {
        h.key_press(egui::Key::Tab);
        h.step();
        h.step();
        if h.query_by_label(label).is_some_and(|n| n.is_focused()) {
            return;
        }
    }
    panic!("Tab never reached '{label}'");
}

/// Tab to `label`, then Enter.
fn press_with_keyboard(h: &mut Harness<'_, SetupApp>, label: &str) {
    tab_to(h, label);
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
}

/// Presses Next with the mouse until the wizard shows `step`.
fn next_until(h: &mut Harness<'_, SetupApp>, step: Step) {
    while h.state().step < step {
        let before = h.state().step;
        h.get_by_label(NEXT).click();
        h.step();
        h.step();
        assert_ne!(h.state().step, before, "Next did not leave {before:?}");
    }
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

#[test]
fn the_window_opens_at_a_size_that_suits_the_monitor() {
    use egui::vec2;
    assert_eq!(initial_window_size(None), FALLBACK_WINDOW_SIZE);
    assert_eq!(
        initial_window_size(Some(vec2(1280.0, 900.0))),
        vec2(1024.0, 720.0)
    );
    assert_eq!(
        initial_window_size(Some(vec2(3840.0, 2160.0))),
        vec2(1600.0, 1100.0)
    );
    assert_eq!(
        initial_window_size(Some(vec2(800.0, 600.0))),
        vec2(800.0, 600.0)
    );
}

#[test]
fn next_is_enabled_only_when_the_step_validates() {
    let fx = Fixture::without_lab();
    let mut h = harness(fx.app());
    h.step();
    assert_eq!(h.state().step, Step::Package);
    // No package: Next does nothing, and the later steps cannot be opened from the list.
    h.get_by_label(NEXT).click();
    h.step();
    h.step();
    assert_eq!(h.state().step, Step::Package);
    h.get_by_label("○ 3. Proxy").click();
    h.step();
    assert_eq!(h.state().step, Step::Package);
    // Without the sign-in: the package form. Enter in the empty field shows why.
    h.get_by_label("I already have a connector package").click();
    h.step();
    h.step();
    h.state_mut().wizard.submit_requested = true;
    h.step();
    h.step();
    h.get_by_label("⚠ Choose the connector package (.zip) downloaded from Intune.");
    h.check_accessibility();
}

#[test]
fn the_wizard_walks_step_by_step_and_the_list_shows_what_is_done() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    // A package given up front: the first step shows it (the sign-in's alternative), with its tenant.
    h.get_by_label("Sign in to Microsoft Entra");
    h.get_by_label("I already have a connector package");
    let tenant = fx.lab.as_ref().unwrap().endpoints.tenant_id.clone();
    h.get_by_label_contains(&tenant);
    next_until(&mut h, Step::Accounts);
    h.get_by_label("✔ 1. Sign in to Microsoft Entra");
    h.get_by_label("✔ 2. Exchange server");
    h.get_by_label("✔ 3. Proxy");
    h.get_by_label("○ 4. Accounts");
    h.get_by_label("Step 4 / 6");
    // Back returns without losing anything.
    h.get_by_label("◀ Back").click();
    h.step();
    h.step();
    assert_eq!(h.state().step, Step::Proxy);
    // The step list goes to any step already reached.
    h.get_by_label("○ 4. Accounts").click();
    h.step();
    h.step();
    assert_eq!(h.state().step, Step::Accounts);
    // A wrong value disables Next on its step, and says why.
    h.state_mut().wizard.exchange_user = "admin".into();
    h.step();
    h.step();
    h.get_by_label("Complete this step to continue.");
    h.get_by_label(NEXT).click();
    h.step();
    h.step();
    assert_eq!(h.state().step, Step::Accounts);
    h.get_by_label_contains("'admin' must be DOMAIN\\user");
    h.check_accessibility();
}

#[test]
fn the_whole_setup_with_tab_and_enter_only() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    for step in [Step::Server, Step::Proxy, Step::Accounts, Step::Connect] {
        press_with_keyboard(&mut h, NEXT);
        assert_eq!(h.state().step, step);
        h.check_accessibility();
    }
    press_with_keyboard(&mut h, "Connect");
    wait_until(&mut h, "Connect to finish", connect_finished);
    assert_eq!(failed_line(h.state()), None);
    h.get_by_label("Delete the connector package?");
    h.check_accessibility();
    press_with_keyboard(&mut h, "Keep it");
    assert_eq!(h.state().step, Step::FirstSync);
    h.get_by_label("✔ 5. Connection");
    h.check_accessibility();
    press_with_keyboard(&mut h, "Open the status page");
    assert_eq!(h.state().page, Page::Status);
    assert_eq!(fx.config().exchange_server, "cas01.contoso.lab");
    assert_eq!(
        fx.lab
            .as_ref()
            .unwrap()
            .state
            .tenant()
            .exchange_connectors
            .len(),
        1
    );
}

#[test]
fn a_failed_line_leads_back_to_the_step_that_holds_the_field() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    next_until(&mut h, Step::Accounts);
    h.state_mut().wizard.exchange_password = "not-the-password".into();
    next_until(&mut h, Step::Connect);
    h.get_by_label("Connect").click();
    h.step();
    wait_until(&mut h, "Connect to finish", connect_finished);
    let (id, text) = failed_line(h.state()).unwrap();
    assert_eq!(id, CheckId::SignIn, "{text}");
    h.get_by_label("✖ Exchange sign-in");
    h.check_accessibility();
    h.get_by_label("Go to Accounts").click();
    h.step();
    h.step();
    assert_eq!(h.state().step, Step::Accounts);
    assert_eq!(h.state().wizard.exchange_password, "not-the-password");
}

#[test]
fn each_check_line_links_to_the_step_of_its_fields() {
    use ServerType::{Hosted, OnPremises};
    let to = |id, t| Step::of_check(id, t);
    assert_eq!(to(CheckId::Package, OnPremises), Some(Step::Package));
    assert_eq!(to(CheckId::Server, OnPremises), Some(Step::Server));
    assert_eq!(to(CheckId::Proxy, OnPremises), Some(Step::Proxy));
    assert_eq!(to(CheckId::SignIn, OnPremises), Some(Step::Accounts));
    assert_eq!(to(CheckId::Cmdlets, OnPremises), Some(Step::Accounts));
    assert_eq!(to(CheckId::Notification, OnPremises), Some(Step::Accounts));
    assert_eq!(to(CheckId::Intune, OnPremises), Some(Step::Package));
    assert_eq!(to(CheckId::Save, OnPremises), None);
    // Hosted Exchange signs in with the package's app.
    assert_eq!(to(CheckId::SignIn, Hosted), Some(Step::Package));
    assert_eq!(to(CheckId::Cmdlets, Hosted), Some(Step::Package));
    // Every field's step holds it.
    let w = WizardState::default();
    for field in w.active_fields() {
        assert!(Step::of_field(field).fields().contains(&field), "{field:?}");
    }
}

#[test]
fn hosted_asks_only_the_tenant_an_optional_mailbox_and_the_proxy() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    next_until(&mut h, Step::Server);
    h.get_by_label("Hosted Microsoft Exchange Server").click();
    h.step();
    h.step();
    assert_eq!(h.state().wizard.server_type, ServerType::Hosted);
    // The tenant from the package; no server name or PowerShell URL.
    let tenant = fx.lab.as_ref().unwrap().endpoints.tenant_id.clone();
    h.get_by_label_contains(&tenant);
    h.get_by_label_contains("no server name, Exchange account or password is needed");
    assert!(h.query_by_label("Server address").is_none());
    assert!(
        h.query_by_label("Name or FQDN of a Client Access server")
            .is_none()
    );
    h.check_accessibility();
    next_until(&mut h, Step::Accounts);
    // No Exchange account or password; the mailbox is optional and needs no password.
    assert!(h.query_by_label("User (domain\\user)").is_none());
    assert!(h.query_by_label("Password").is_none());
    h.state_mut().wizard.notification_mailbox.clear();
    h.step();
    h.step();
    h.get_by_label_contains("No notification mailbox: users get no mail");
    h.check_accessibility();
    next_until(&mut h, Step::Connect);
    // With a mailbox, Connect says it sends one test message to that mailbox itself.
    h.state_mut().wizard.notification_mailbox = "notify@contoso.lab".into();
    h.step();
    h.get_by_label_contains(
        "Connect sends one test message from the notification mailbox to itself",
    );
    h.state_mut().wizard.notification_mailbox.clear();
    h.step();
    h.get_by_label("Connect").click();
    h.step();
    wait_until(&mut h, "Connect to finish", connect_finished);
    assert_eq!(failed_line(h.state()), None);
    let config = fx.config();
    assert_eq!(
        config.exchange_server_type,
        exchange_connector::config::ExchangeServerType::Hosted
    );
    // No placeholder service account or server is written for Exchange Online.
    assert_eq!(config.exchange_user, "");
    assert_eq!(config.exchange_server, "");
    assert_eq!(config.notification_mailbox, None);
    // No Exchange or mailbox password was stored anywhere.
    let secrets = fx.env().secrets_dir.unwrap();
    let stored = read_all(&secrets);
    let lab = fx.lab.as_ref().unwrap();
    assert!(!stored.contains("ExchangePassword"), "{stored}");
    assert!(!stored.contains(&lab.endpoints.service_account.password));
    assert!(!stored.contains("NotificationPassword"), "{stored}");
}

#[test]
fn without_a_notification_mailbox_connect_saves_and_says_no_mail_is_sent() {
    let fx = Fixture::with_lab();
    let mut h = harness(fx.app());
    h.step();
    next_until(&mut h, Step::Accounts);
    h.get_by_label_contains("Optional: leave the mailbox empty to send no notification mail.");
    h.state_mut().wizard.notification_mailbox.clear();
    h.state_mut().wizard.notification_password.clear();
    h.step();
    h.step();
    h.get_by_label_contains("No notification mailbox: users get no mail");
    // The mailbox's password is not asked without a mailbox.
    assert!(h.query_by_label("⚠ Enter the password.").is_none());
    h.check_accessibility();
    next_until(&mut h, Step::Connect);
    h.get_by_label("Connect").click();
    h.step();
    wait_until(&mut h, "Connect to finish", connect_finished);
    assert_eq!(failed_line(h.state()), None);
    assert!(matches!(
        h.state().connect.as_ref().unwrap().state(CheckId::Notification),
        CheckState::Passed(text) if text.contains("no NotificationMailbox")
    ));
    assert_eq!(fx.config().notification_mailbox, None);
}

/// Every file under `dir`, as text.
fn read_all(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&read_all(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push_str(&text);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Snapshots: every step, en/fr/nl, at 1024×768 and at 1.5 pixels per point.

/// A screen to draw.
#[derive(Clone, Copy, Debug)]
enum Screen {
    Package,
    ServerOnPremises,
    ServerHosted,
    Proxy,
    AccountsOnPremises,
    AccountsHosted,
    ConnectFailed,
    ConnectDone,
    FirstSyncRunning,
    FirstSyncDone,
}

impl Screen {
    const ALL: [Screen; 10] = [
        Screen::Package,
        Screen::ServerOnPremises,
        Screen::ServerHosted,
        Screen::Proxy,
        Screen::AccountsOnPremises,
        Screen::AccountsHosted,
        Screen::ConnectFailed,
        Screen::ConnectDone,
        Screen::FirstSyncRunning,
        Screen::FirstSyncDone,
    ];

    fn name(self) -> &'static str {
        match self {
            Screen::Package => "package",
            Screen::ServerOnPremises => "server_on_premises",
            Screen::ServerHosted => "server_hosted",
            Screen::Proxy => "proxy",
            Screen::AccountsOnPremises => "accounts_on_premises",
            Screen::AccountsHosted => "accounts_hosted",
            Screen::ConnectFailed => "connect_failed",
            Screen::ConnectDone => "connect_done",
            Screen::FirstSyncRunning => "first_sync_running",
            Screen::FirstSyncDone => "first_sync_done",
        }
    }
}

/// Fixed fields (no temporary paths, no lab ports) so the images are the same on every run.
fn sample_wizard(hosted: bool) -> WizardState {
    WizardState {
        package_path: r"C:\Users\admin\Downloads\ExchangeConnector_Contoso.zip".into(),
        server_type: if hosted {
            ServerType::Hosted
        } else {
            ServerType::OnPremises
        },
        server: "cas01.contoso.com".into(),
        proxy_enabled: true,
        proxy_host: "proxy.contoso.com".into(),
        proxy_port: "80800".into(),
        proxy_auth: true,
        proxy_user: r"CONTOSO\svc-proxy".into(),
        proxy_password: "secret".into(),
        exchange_user: r"CONTOSO\svc-eas".into(),
        exchange_password: "secret".into(),
        notification_mailbox: if hosted {
            String::new()
        } else {
            "eas-notify@contoso.com".into()
        },
        notification_password: "secret".into(),
        touched: [exchange_connector::gui::wizard::Field::ProxyPort].into(),
        ..WizardState::default()
    }
}

fn failure(what: &str, why: &str, fix: &str) -> CheckState {
    CheckState::Failed(Failure {
        what: what.into(),
        why: why.into(),
        fix: fix.into(),
    })
}

fn passed(detail: &str) -> CheckState {
    CheckState::Passed(detail.into())
}

fn sample_app(fx: &Fixture, screen: Screen, lang: Lang) -> SetupApp {
    let hosted = matches!(screen, Screen::ServerHosted | Screen::AccountsHosted);
    let mut app = fx.app_with(sample_wizard(hosted), lang);
    app.wizard.package = Some(Ok(PackageSummary {
        tenant: "Contoso Ltd (8f2b5c1e-4a7d-4e19-9c3b-2d6f0a8e7b41)".into(),
        app: "Exchange Connector (0c5d2a7f-93e4-4b61-8f0a-6e1d2c3b4a59)".into(),
    }));
    let long_detail = "tenant 8f2b5c1e-4a7d-4e19-9c3b-2d6f0a8e7b41, certificate 3C411908A9659DE3A669DF1338B12424A1B2C3D4; https://cas01.contoso.com/PowerShell/ answered with TLS 1.3 and a certificate issued by Contoso Issuing CA 02, valid until 2027-06-30";
    let step = match screen {
        Screen::Package => Step::Package,
        Screen::ServerOnPremises | Screen::ServerHosted => Step::Server,
        Screen::Proxy => Step::Proxy,
        Screen::AccountsOnPremises | Screen::AccountsHosted => Step::Accounts,
        Screen::ConnectFailed | Screen::ConnectDone => Step::Connect,
        Screen::FirstSyncRunning | Screen::FirstSyncDone => Step::FirstSync,
    };
    if step > Step::Proxy {
        app.wizard.proxy_port = "8080".into();
    }
    // The lines before the sign-in, the same in both Connect screens.
    let first_three = vec![
        (CheckId::Package, passed(long_detail)),
        (
            CheckId::Server,
            passed("cas01.contoso.com resolves to 10.0.4.17; TLS 1.3"),
        ),
        (
            CheckId::Proxy,
            passed("proxy.contoso.com:8080 tunnels to cas01.contoso.com:443"),
        ),
    ];
    let push = |mut lines: Vec<(CheckId, CheckState)>, line| {
        lines.push(line);
        lines
    };
    match screen {
        Screen::ConnectFailed => {
            app.connect = Some(ConnectRun::finished(
                [
                    (
                        CheckId::SignIn,
                        failure(
                            r"Signing in to Exchange as CONTOSO\svc-eas failed.",
                            "Connecting to remote server cas01.contoso.com failed with the following error message: Access is denied. For more information, see the about_Remote_Troubleshooting Help topic.",
                            r"check the Exchange account's user name (DOMAIN\user, ExchangeUser) and password (store it again), that the account is not locked out or expired, and PowerShellAuthentication",
                        ),
                    ),
                    (CheckId::Cmdlets, CheckState::Skipped),
                    (CheckId::Notification, CheckState::Skipped),
                    (CheckId::Intune, CheckState::Skipped),
                    (CheckId::Save, CheckState::Skipped),
                ]
                .into_iter()
                .fold(first_three.clone(), push),
                Err(()),
            ));
        }
        Screen::ConnectDone => {
            let package = PathBuf::from(
                r"C:\Users\admin\Downloads\Exchange Connector packages\Contoso production tenant\ExchangeConnector_Contoso_2026-12-03.zip",
            );
            let success = ConnectSuccess {
                config_path: PathBuf::from(
                    r"C:\ProgramData\ExchangeConnector\default\OnPremisesExchangeConnectorServiceConfiguration.xml",
                ),
                secrets_where: "the connector service's credential store".into(),
                secrets_to_worker: true,
                insecure_package: Some(package.clone()),
            };
            app.connect = Some(ConnectRun::finished(
                [
                    (
                        CheckId::SignIn,
                        passed(
                            r"a session to https://cas01.contoso.com/PowerShell/ opened as CONTOSO\svc-eas",
                        ),
                    ),
                    (
                        CheckId::Cmdlets,
                        passed("all required cmdlets granted (23 available)"),
                    ),
                    (
                        CheckId::Notification,
                        passed(
                            "Autodiscover: https://mail.contoso.com/EWS/Exchange.asmx; EWS answered as eas-notify@contoso.com",
                        ),
                    ),
                    (
                        CheckId::Intune,
                        passed("registered as 6a1f0c2e-7b3d-4c85-9e21-0d4f8a6b2c17"),
                    ),
                    (
                        CheckId::Save,
                        passed(
                            r"C:\ProgramData\ExchangeConnector\default\OnPremisesExchangeConnectorServiceConfiguration.xml; secrets: the connector service's credential store",
                        ),
                    ),
                ]
                .into_iter()
                .fold(first_three.clone(), push),
                Ok(success.clone()),
            ));
            app.success = Some(success);
            app.delete_prompt = Some(package);
        }
        Screen::FirstSyncRunning => {
            app.first_sync = Some(FirstSync::showing(FirstSyncState::Running(ProgressEvent {
                run_id: Some(1),
                kind: SyncKind::Full,
                phase: RunPhase::Running,
                done: 162,
                total: Some(471),
                // The worker's own line, coded: said in the language of the screen.
                message: exchange_connector::service::worker::running_line(),
            })));
        }
        Screen::FirstSyncDone => {
            app.first_sync = Some(FirstSync::showing(FirstSyncState::Done(FirstSyncOutcome {
                outcome: RunOutcome::Succeeded,
                devices_seen: 471,
                devices_by_state: [
                    ("Allowed".to_string(), 402),
                    ("Blocked".to_string(), 51),
                    ("Quarantined".to_string(), 12),
                    ("Exempt".to_string(), 6),
                ]
                .into(),
                message: None,
            })));
        }
        _ => {}
    }
    if matches!(screen, Screen::FirstSyncRunning | Screen::FirstSyncDone) {
        app.success = Some(ConnectSuccess {
            config_path: PathBuf::new(),
            secrets_where: TextCode::default(),
            secrets_to_worker: true,
            insecure_package: None,
        });
    }
    app.open_step(step);
    app
}

fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Fr => "fr",
        Lang::Nl => "nl",
    }
}

#[test]
fn snapshots_of_every_wizard_step() {
    let fx = Fixture::without_lab();
    let mut results = egui_kittest::SnapshotResults::new();
    for (scale, screens) in [(1.0, &Screen::ALL[..]), (1.5, &Screen::ALL[..])] {
        for lang in Lang::ALL {
            for &screen in screens {
                let app = sample_app(&fx, screen, lang);
                let mut h = Harness::builder()
                    .with_size(FALLBACK_WINDOW_SIZE / scale)
                    .with_pixels_per_point(scale)
                    .build_ui_state(|ui, app: &mut SetupApp| app.show(ui), app);
                for _ in 0..4 {
                    h.step();
                }
                h.check_accessibility();
                let suffix = if scale == 1.0 { "" } else { "_x1.5" };
                results.add(h.try_snapshot(format!(
                    "wizard/{}_{}{suffix}",
                    screen.name(),
                    lang_code(lang)
                )));
            }
        }
    }
}
