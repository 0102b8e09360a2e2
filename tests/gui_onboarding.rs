//! The wizard's first step against the lab's empty tenant (no connector app): the admin signs in
//! (the browser's PKCE flow through the lab's consent page, or a device code approved through the lab's
//! control API), sees what will be created, creates it, and — when they may not grant the
//! permissions — waits until another admin consents; then the existing steps, Connect and the first
//! sync run on the app the step made. On a server that reaches Entra only through a proxy, the proxy set
//! on the step carries the sign-in and the Graph calls. Snapshots of the step in English, French and Dutch.
//!
//! Update the images with `UPDATE_SNAPSHOTS=1 cargo test --test gui_onboarding`.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use exchange_connector::coded;
use exchange_connector::gui::app::SetupApp;
use exchange_connector::gui::i18n::Lang;
use exchange_connector::gui::lab_demo;
use exchange_connector::gui::wizard::Step;
use exchange_connector::gui::wizard::first_sync::FirstSyncState;
use exchange_connector::gui::wizard::sign_in::{Browser, FixedTarget, Phase, SignInPanel};
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::sign_in::consent_in_browser;
use exchange_connector::onboarding::apply::{consent_role, needed_permissions};
use exchange_connector::onboarding::{Authority, Plan};
use exchange_connector::store::RunOutcome;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "common/mod.rs"]
mod common;
#[path = "gui_support/mod.rs"]
mod gui_support;
use common::ProxyAuth;
use gui_support::{Fixture, SERVICE, StopOnDrop, harness, replace_text, wait_until};

const NEXT: &str = "Next ▶";

/// A fixture whose lab tenant has no connector app, device codes polled every second.
fn empty_tenant() -> Fixture {
    let fx = Fixture::with_scenario(Scenario::empty_tenant());
    let answer = control(&fx, "PUT", "settings", json!({"pollIntervalSeconds": 1}));
    assert!(answer.is_object(), "{answer}");
    fx
}

/// A call to the lab's `/control/sign-in/...` API.
fn control(fx: &Fixture, method: &str, path: &str, body: Value) -> Value {
    let e = &fx.lab().endpoints;
    let client = exchange_connector::tls::http_client_builder(Some(Path::new(&e.ca_cert_pem)))
        .unwrap()
        .build()
        .unwrap();
    let url = format!("{}/sign-in/{path}", e.control_base);
    fx.rt.block_on(async {
        let request = match method {
            "PUT" => client.put(&url).json(&body),
            "GET" => client.get(&url),
            _ => client.post(&url).json(&body),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        serde_json::from_str(&text)
            .unwrap_or_else(|_| json!({"status": status.as_u16(), "text": text}))
    })
}

/// The person at the browser: the lab's consent page, signed in with `role`, accepted.
struct LabBrowser {
    runtime: tokio::runtime::Handle,
    ca: PathBuf,
    role: &'static str,
}

impl Browser for LabBrowser {
    fn open(&mut self, url: &str) -> Result<(), String> {
        let (ca, url, role) = (self.ca.clone(), url.to_string(), self.role);
        self.runtime.spawn(async move {
            consent_in_browser(&ca, &url, "admin@contoso.lab", role)
                .await
                .expect("the consent page");
        });
        Ok(())
    }
}

/// The app on the empty tenant, its sign-in step aimed at the lab with `browser`.
fn onboarding_app(fx: &Fixture, role: &'static str) -> SetupApp {
    let e = &fx.lab().endpoints;
    let mut app = fx.app_with(lab_demo::prefill_for_sign_in(e), Lang::En);
    let target = lab_demo::sign_in_target(e);
    let browser = LabBrowser {
        runtime: fx.rt.handle().clone(),
        ca: PathBuf::from(&e.ca_cert_pem),
        role,
    };
    app.sign_in = SignInPanel::with_target(target, Box::new(browser));
    app.sign_in.consent_poll = Duration::from_secs(1);
    app
}

fn phase_is(app: &SetupApp, f: impl Fn(&Phase) -> bool) -> bool {
    f(&app.sign_in.phase)
}

fn click(h: &mut Harness<'_, SetupApp>, label: &str) {
    h.get_by_label(label).click();
    h.step();
    h.step();
}

/// Waits for the plan, checks it is shown, and presses *Create*.
fn confirm_and_create(h: &mut Harness<'_, SetupApp>) {
    wait_until(h, "the plan", |a| {
        phase_is(a, |p| matches!(p, Phase::Confirm(_) | Phase::Failed(_)))
    });
    if let Phase::Failed(message) = &h.state().sign_in.phase {
        panic!("sign-in failed: {message}");
    }
    h.get_by_label("What setup will create");
    assert!(
        h.query_all_by_label_contains("DeviceManagementManagedDevices.Read.All")
            .count()
            >= 2
    );
    h.get_by_label_contains("create the app registration 'Exchange Connector'");
    // Nothing exists before Create.
    assert_eq!(h.state().sign_in.lines.len(), 0);
    h.check_accessibility();
    click(h, "Create");
}

/// Waits until the device-code sign-in shows its code or fails.
fn wait_for_device_code(h: &mut Harness<'_, SetupApp>) {
    wait_until(h, "the device code", |a| {
        phase_is(a, |p| {
            matches!(
                p,
                Phase::SigningIn {
                    device: Some(_),
                    ..
                } | Phase::Failed(_)
            )
        })
    });
}

/// The device code the step shows, once it does.
fn shown_device_code(h: &mut Harness<'_, SetupApp>) -> String {
    wait_for_device_code(h);
    match &h.state().sign_in.phase {
        Phase::SigningIn {
            device: Some(prompt),
            ..
        } => prompt.user_code.clone(),
        other => panic!("{other:?}"),
    }
}

/// The admin types `code` on another device, signed in as `user` with `role`.
fn approve_device_code(fx: &Fixture, code: &str, user: &str, role: &str) {
    let approved = control(
        fx,
        "POST",
        "device-codes/approve",
        json!({"userCode": code, "user": user, "role": role}),
    );
    assert_eq!(approved["ok"], true, "{approved}");
}

#[test]
fn sign_in_creates_the_app_then_connect_and_the_first_sync_run_on_it() {
    let fx = empty_tenant();
    let mut h = harness(onboarding_app(&fx, "Global Administrator"));
    h.step();
    assert_eq!(h.state().step, Step::Package);
    h.get_by_label("Sign in to Microsoft Entra");
    // Next waits for the app.
    assert!(!h.state().wizard.step_is_valid(Step::Package));
    h.check_accessibility();
    click(&mut h, "Sign in with the browser");
    confirm_and_create(&mut h);
    wait_until(&mut h, "the app", |a| {
        phase_is(a, |p| matches!(p, Phase::Ready { .. } | Phase::Failed(_)))
    });
    let client_id = match &h.state().sign_in.phase {
        Phase::Ready { client_id } => client_id.clone(),
        other => panic!("{other:?}"),
    };
    h.get_by_label_contains("The connector's app is ready");
    assert!(
        h.state()
            .sign_in
            .lines
            .iter()
            .any(|l| l.english.contains("granted")),
        "{:?}",
        h.state().sign_in.lines
    );
    let lab = fx.lab();
    assert_eq!(lab.state.directory().applications.len(), 1);
    assert_eq!(lab.state.directory().applications[0].app_id, client_id);

    // The existing steps, then Connect on the app just made.
    while h.state().step < Step::Connect {
        let before = h.state().step;
        click(&mut h, NEXT);
        assert_ne!(h.state().step, before, "Next did not leave {before:?}");
    }
    click(&mut h, "Connect");
    wait_until(&mut h, "Connect to finish", |a| {
        a.connect.as_ref().is_some_and(|c| c.outcome.is_some())
    });
    let outcome = h.state().connect.as_ref().unwrap();
    assert!(
        matches!(outcome.outcome, Some(Ok(_))),
        "{:?}",
        outcome.lines
    );
    // No package file: nothing to delete; straight to the first sync.
    assert!(h.state().delete_prompt.is_none());
    assert_eq!(h.state().step, Step::FirstSync);
    let config = fx.config();
    assert_eq!(config.client_id, client_id);
    assert_eq!(
        config.application_object_id.as_deref(),
        Some(lab.state.directory().applications[0].id.as_str())
    );
    assert_eq!(lab.state.tenant().exchange_connectors.len(), 1);

    // The worker Connect's configuration describes makes the first sync, which the step follows.
    let env = fx.env();
    let _worker = StopOnDrop(
        std::process::Command::new(SERVICE)
            .args(["--instance", &env.instance, "--channel", &env.channel.0])
            .args(["--secret-store", "file", "--config-dir"])
            .arg(&env.config_dir)
            .arg("run")
            .arg("--log-dir")
            .arg(fx.dir.path().join("logs"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(&mut h, "the first sync", |a| {
        a.first_sync.as_ref().is_some_and(|f| f.is_over())
    });
    match &h.state().first_sync.as_ref().unwrap().state {
        FirstSyncState::Done(done) => {
            // Signed in as the app the step made: the run read Exchange and Intune (the lab's guard
            // may hold its plan, as on the demo organisation).
            assert_ne!(done.outcome, RunOutcome::Failed, "{done:?}");
            assert!(done.devices_seen > 0, "{done:?}");
        }
        other => panic!("{other:?}"),
    }
    h.get_by_label("✔ 5. Connection");
    h.check_accessibility();
}

#[test]
fn an_admin_who_may_not_grant_waits_for_another_admins_consent() {
    let fx = empty_tenant();
    let mut h = harness(onboarding_app(&fx, "Application Administrator"));
    h.step();
    click(&mut h, "No browser here: use a device code");
    let code = shown_device_code(&mut h);
    // The code and where to type it are on the page, with Copy buttons.
    h.get_by_label(&code);
    h.get_by_label_contains("devicelogin");
    h.check_accessibility();
    approve_device_code(&fx, &code, "apps@contoso.lab", "Application Administrator");
    confirm_and_create(&mut h);
    wait_until(&mut h, "the consent question", |a| {
        phase_is(a, |p| {
            matches!(p, Phase::WaitingForConsent { .. } | Phase::Failed(_))
        })
    });
    let client_id = fx.lab().state.directory().applications[0].app_id.clone();
    match &h.state().sign_in.phase {
        Phase::WaitingForConsent { url, role, missing } => {
            assert!(url.contains("/v2.0/adminconsent?client_id="), "{url}");
            assert!(url.contains(&client_id), "{url}");
            assert!(
                role.english.contains("Privileged Role Administrator"),
                "{role}"
            );
            assert_eq!(missing.len(), 4);
        }
        other => panic!("{other:?}"),
    }
    h.get_by_label("An administrator must still grant the permissions.");
    h.get_by_label("Who can approve: Privileged Role Administrator (or Global Administrator)");
    h.get_by_label_contains("/v2.0/adminconsent?client_id=");
    // Still waiting: Next stays disabled and checking again changes nothing.
    click(&mut h, "Check again");
    for _ in 0..10 {
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(phase_is(h.state(), |p| matches!(
        p,
        Phase::WaitingForConsent { .. }
    )));
    assert!(!h.state().wizard.step_is_valid(Step::Package));
    h.check_accessibility();

    // An admin without the right to grant cannot consent; a Privileged Role Administrator can.
    let refused = control(
        &fx,
        "POST",
        "admin-consent",
        json!({"clientId": client_id, "role": "Application Administrator"}),
    );
    assert!(refused["error"].as_str().is_some(), "{refused}");
    let granted = control(
        &fx,
        "POST",
        "admin-consent",
        json!({"clientId": client_id, "role": "Privileged Role Administrator"}),
    );
    assert_eq!(
        granted["granted"].as_array().map(Vec::len),
        Some(4),
        "{granted}"
    );
    // The wizard notices by itself (it checks every second here) and carries on.
    wait_until(&mut h, "the consent", |a| {
        phase_is(a, |p| matches!(p, Phase::Ready { .. } | Phase::Failed(_)))
    });
    assert!(
        matches!(&h.state().sign_in.phase, Phase::Ready { client_id: c } if *c == client_id),
        "{:?}",
        h.state().sign_in.phase
    );
    assert!(h.state().wizard.step_is_valid(Step::Package));
    click(&mut h, NEXT);
    assert_eq!(h.state().step, Step::Server);
}

#[test]
fn the_sign_in_and_graph_go_through_the_proxy_set_on_the_sign_in_step() {
    let fx = empty_tenant();
    let (refusing, _) = fx.rt.block_on(common::forward_proxy(ProxyAuth::NtlmOnly));
    let (port, tunnels) = fx.rt.block_on(common::forward_proxy(ProxyAuth::Basic(
        r"CONTOSO\svc-proxy",
        "proxy-pass",
    )));
    let mut h = harness(onboarding_app(&fx, "Global Administrator"));
    h.step();
    // No proxy yet: the section is collapsed.
    assert!(h.query_by_label("Proxy server name").is_none());
    click(&mut h, "Proxy server");
    click(
        &mut h,
        "Use a proxy server when synchronising mobile device information",
    );
    // The proxy step's form, on the proxy step's settings, with its validation.
    replace_text(&mut h, "Proxy server name", "127.0.0.1");
    replace_text(&mut h, "Port number", "70000");
    h.get_by_label_contains("'70000' is not a port; use a number from 1 to 65535");
    click(&mut h, "No browser here: use a device code");
    assert!(
        matches!(&h.state().sign_in.phase, Phase::Failed(m) if m.contains("Fix the proxy server's settings first")),
        "{:?}",
        h.state().sign_in.phase
    );
    h.check_accessibility();

    // A proxy that refuses this server: the sign-in cannot reach Entra without it.
    replace_text(&mut h, "Port number", &refusing.to_string());
    click(&mut h, "No browser here: use a device code");
    wait_for_device_code(&mut h);
    assert!(
        matches!(&h.state().sign_in.phase, Phase::Failed(m) if m.to_ascii_lowercase().contains("tunnel")),
        "{:?}",
        h.state().sign_in.phase
    );

    // The proxy that lets it through with its Basic credentials.
    replace_text(&mut h, "Port number", &port.to_string());
    click(&mut h, "Use credentials to connect to the proxy server");
    replace_text(&mut h, "Proxy user (domain\\user)", r"CONTOSO\svc-proxy");
    replace_text(&mut h, "Proxy password", "proxy-pass");
    click(&mut h, "No browser here: use a device code");
    let code = shown_device_code(&mut h);
    let cloud = fx
        .lab()
        .endpoints
        .login_base
        .trim_start_matches("https://")
        .to_string();
    // The device code request went through the proxy.
    assert!(
        tunnels.lock().unwrap().contains(&cloud),
        "{:?}",
        tunnels.lock().unwrap()
    );
    approve_device_code(&fx, &code, "admin@contoso.lab", "Global Administrator");
    confirm_and_create(&mut h);
    wait_until(&mut h, "the app", |a| {
        phase_is(a, |p| matches!(p, Phase::Ready { .. } | Phase::Failed(_)))
    });
    assert!(
        matches!(&h.state().sign_in.phase, Phase::Ready { .. }),
        "{:?}",
        h.state().sign_in.phase
    );
    assert_eq!(fx.lab().state.directory().applications.len(), 1);
    // Every tunnel (the token, Graph's reads and the app's creation) went to the lab's cloud, and the
    // proxy step shows the proxy the sign-in used.
    let seen = tunnels.lock().unwrap().clone();
    assert!(seen.iter().all(|t| *t == cloud), "{seen:?}");
    click(&mut h, NEXT);
    click(&mut h, NEXT);
    assert_eq!(h.state().step, Step::Proxy);
    h.get_by_label("Proxy server");
    assert_eq!(h.state().wizard.proxy_port, port.to_string());
    assert!(h.state().wizard.step_is_valid(Step::Proxy));
}

/// The sign-in step says onboarding's plan (each action, each permission's reason) and the consent
/// wait in French: onboarding codes its lines, so none reaches a French admin in English.
#[test]
fn the_plan_and_the_consent_wait_are_said_in_french() {
    let fx = Fixture::without_lab();
    let mut app = fx.app_with(Default::default(), Lang::Fr);
    app.sign_in.phase = Phase::Confirm(Box::new(sample_plan()));
    let mut h = harness(app);
    h.step();
    h.step();
    h.get_by_label_contains(
        "créer l'inscription d'application « Exchange Connector » (étiquette ExchangeConnector",
    );
    h.get_by_label_contains("créer son principal de service (application d'entreprise)");
    // A grant line nests the permission's reason, in French too.
    h.get_by_label_contains(
        "accorder l'autorisation d'application Microsoft Graph GroupMember.Read.All (lire les membres des groupes ciblés)",
    );
    assert!(
        h.query_by_label_contains("create the app registration")
            .is_none()
    );
    assert!(h.query_by_label_contains("read the members").is_none());

    h.state_mut().sign_in.lines = vec![coded!(
        "ob_consent_granted",
        "an administrator granted the permissions"
    )];
    h.state_mut().sign_in.phase = Phase::WaitingForConsent {
        url: "https://login.microsoftonline.com/common/adminconsent".into(),
        role: consent_role(),
        missing: vec!["User.Read.All".into()],
    };
    h.step();
    h.step();
    h.get_by_label_contains("Administrateur de rôle privilégié (ou Administrateur général)");
    h.get_by_label_contains("un administrateur a accordé les autorisations");
    assert!(h.query_by_label_contains("Privileged Role").is_none());
}

/// Fixed text (no lab ports) so the images are the same on every run.
fn sample_plan() -> Plan {
    Plan {
        tenant: "contoso.onmicrosoft.com".into(),
        app_name: "Exchange Connector".into(),
        existing: None,
        permissions: needed_permissions(false),
        certificate_days: 730,
    }
}

#[test]
fn snapshots_of_the_sign_in_step() {
    let fx = Fixture::without_lab();
    let mut results = egui_kittest::SnapshotResults::new();
    for lang in Lang::ALL {
        let code = match lang {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Nl => "nl",
        };
        for screen in ["sign_in", "sign_in_proxy", "plan", "consent"] {
            let mut app = fx.app_with(Default::default(), lang);
            app.sign_in.tenant = "contoso.onmicrosoft.com".into();
            match screen {
                "sign_in_proxy" => {
                    app.wizard.proxy_enabled = true;
                    app.wizard.proxy_host = "proxy.contoso.com".into();
                    app.wizard.proxy_port = "8080".into();
                }
                "plan" => {
                    app.sign_in.fixed = Some(FixedTarget {
                        authority: Authority {
                            login_base: "https://login.microsoftonline.com".into(),
                            graph_base: "https://graph.microsoft.com".into(),
                            tenant: "contoso.onmicrosoft.com".into(),
                        },
                        ca_file: None,
                        client_id: "14d82eec-204b-4c2f-b7e8-296a70dab67e".into(),
                        exchange_rest_base: "https://outlook.office365.com".into(),
                    });
                    app.sign_in.phase = Phase::Confirm(Box::new(sample_plan()));
                }
                "consent" => {
                    // The lines as onboarding codes them (the same keys and English as `apply`).
                    app.sign_in.lines = vec![
                        coded!(
                            "ob_created_app",
                            "created the app registration '{app}' (client id {app_id}) with certificate {thumbprint}",
                            app = "Exchange Connector",
                            app_id = "0c5d2a7f-93e4-4b61-8f0a-6e1d2c3b4a59",
                            thumbprint = "3F2A9C1B7E4D5A6F8B0C1D2E3F4A5B6C7D8E9F01"
                        ),
                        coded!(
                            "ob_created_sp",
                            "created the service principal {id}",
                            id = "5b7e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4"
                        ),
                        coded!(
                            "ob_may_not_grant",
                            "the signed-in account may not grant {resource} / {permission}: a {role} must consent",
                            resource = "Microsoft Graph",
                            permission = "DeviceManagementManagedDevices.Read.All"
                        )
                        .with_text("role", consent_role()),
                    ];
                    app.sign_in.phase = Phase::WaitingForConsent {
                        url: "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/adminconsent?client_id=0c5d2a7f-93e4-4b61-8f0a-6e1d2c3b4a59&scope=https%3A%2F%2Fgraph%2Emicrosoft%2Ecom%2F%2Edefault".into(),
                        role: consent_role(),
                        missing: needed_permissions(false)
                            .iter()
                            .map(|p| p.value.to_string())
                            .collect(),
                    };
                }
                _ => {}
            }
            let mut h = harness(app);
            for _ in 0..4 {
                h.step();
            }
            h.check_accessibility();
            results.add(h.try_snapshot(format!("onboarding/{screen}_{code}")));
        }
    }
}
