//! Issue 13, the rest of Exchange Online as it is in December 2026, through the real CLI against the
//! lab: `rbac-mail` sets up RBAC for Applications for the notification mailbox (once, only when the app
//! may), a hosted configuration needs no Exchange server or account, and EAS clients below protocol
//! 16.1 are flagged for Exchange Online only.

use crate::common;
use crate::diagnose::Connector;

use common::{TestLab, client, lab_with, small_lab};
use exchange_connector::config::Config;
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::service::messages::DeviceLookup;
use exchange_connector::store::Store;

/// `POST /users/{from}/sendMail` with the app's Graph token; the HTTP status.
async fn send_mail_status(lab: &TestLab, from: &str) -> u16 {
    use exchange_connector::lab::tokens::{Resource, mint};
    let token = mint(&lab.state, &lab.endpoints.client_id, Resource::Graph)
        .expect("the lab's app gets a token")
        .0;
    client(&lab.endpoints.ca_cert_pem)
        .post(format!(
            "{}/v1.0/users/{from}/sendMail",
            lab.endpoints.graph_base
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "message": {"subject": "s", "body": {"contentType": "Text", "content": "b"},
                        "toRecipients": [{"emailAddress": {"address": "dave@contoso.lab"}}]},
            "saveToSentItems": false,
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The CLI configured for the lab's Exchange Online mode.
fn hosted_cli(lab: &TestLab) -> Connector {
    let cli = Connector {
        dir: tempfile::tempdir().unwrap(),
    };
    let endpoints = lab.dir.path().join("endpoints.json");
    let (ok, out) = cli.run(&["configure", "--lab-endpoints", endpoints.to_str().unwrap()]);
    assert!(ok, "{out}");
    cli.configure("ExchangeServerType=Hosted\n");
    cli
}

/// Runs the CLI off the test's runtime (the lab answers on it).
async fn run(cli: Connector, args: &'static [&'static str]) -> (Connector, bool, String) {
    tokio::task::spawn_blocking(move || {
        let (ok, out) = cli.run(args);
        (cli, ok, out)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_mail_scopes_send_mail_to_the_notification_mailbox_once() {
    let lab = lab_with(Scenario::small_hosted()).await;
    let notify = lab.endpoints.notification_account.address.clone();
    let client_id = lab.endpoints.client_id.clone();
    // The app starts with no RBAC for Applications grant at all.
    lab.state.tenant_mut().apps[0].mail_send_scope.clear();
    assert_eq!(send_mail_status(&lab, &notify).await, 403);
    let cli = hosted_cli(&lab);

    // The app holds no role management in Exchange: nothing is created, the commands are printed.
    let (cli, ok, out) = run(cli, &["rbac-mail"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("New-ManagementScope -Name \"Exchange Connector notification mailbox\" -RecipientRestrictionFilter"), "{out}");
    assert!(
        out.contains(&format!(
            "New-ManagementRoleAssignment -App {client_id} -Role \"Application Mail.Send\""
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("New-ServicePrincipal -AppId {client_id}")),
        "{out}"
    );
    assert!(lab.state.org().app_rbac.scopes.is_empty());
    assert_eq!(send_mail_status(&lab, &notify).await, 403);

    // With role management (Organization Management) but no service principal id: it says what to give.
    lab.state
        .org_mut()
        .app_rbac
        .role_managers
        .push(client_id.clone());
    let (cli, ok, out) = run(cli, &["rbac-mail"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("--service-principal-id"), "{out}");

    // Now it creates the three objects, and sendMail follows the scope.
    let (cli, ok, out) = run(
        cli,
        &[
            "rbac-mail",
            "--service-principal-id",
            "5e1f0c3a-0000-4000-8000-0000000000aa",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("service principal: created"), "{out}");
    assert!(
        out.contains("management scope \"Exchange Connector notification mailbox\": created"),
        "{out}"
    );
    assert!(
        out.contains("role assignment: \"Application Mail.Send\" assigned"),
        "{out}"
    );
    assert_eq!(send_mail_status(&lab, &notify).await, 202);
    assert_eq!(send_mail_status(&lab, "alice@contoso.lab").await, 403);

    // Again: everything is found, nothing is duplicated.
    let (_cli, ok, out) = run(cli, &["rbac-mail"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("already knows the app"), "{out}");
    assert!(out.contains("already holds only"), "{out}");
    assert!(
        out.contains("already holds \"Application Mail.Send\""),
        "{out}"
    );
    {
        let org = lab.state.org();
        assert_eq!(org.app_rbac.service_principals.len(), 1);
        assert_eq!(org.app_rbac.scopes.len(), 1);
        assert_eq!(org.app_rbac.assignments.len(), 1);
    }
    assert_eq!(send_mail_status(&lab, &notify).await, 202);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_config_without_server_or_account_syncs_and_flags_old_eas_clients() {
    let lab = lab_with(Scenario::small_hosted()).await;
    let cli = hosted_cli(&lab);
    // Drop the two on-premises keys from the file: it still saves, loads and validates.
    let config_dir = cli.dir.path().join("config");
    let mut config = Config::load(&config_dir).unwrap().config;
    config.exchange_server.clear();
    config.exchange_user.clear();
    config.save(&config_dir).unwrap();
    let xml =
        std::fs::read_to_string(config_dir.join(exchange_connector::config::CONFIG_FILE)).unwrap();
    assert!(!xml.contains("<ExchangeServer>"), "{xml}");
    assert!(!xml.contains("<ExchangeUser>"), "{xml}");
    assert!(!xml.contains("app.invalid"), "{xml}");
    let loaded = Config::load(&config_dir).unwrap().config;
    assert_eq!(loaded, config);
    let (cli, ok, out) = run(cli, &["config", "show"]).await;
    assert!(ok, "{out}");

    // It syncs against Exchange Online (the guard holds the first plan; the admin confirms).
    let (cli, _, _) = run(cli, &["sync", "--full"]).await;
    let (cli, ok, out) = run(cli, &["sync", "--full", "--confirm"]).await;
    assert!(ok, "{out}");
    assert!(!lab.state.outbox.lock().unwrap().is_empty(), "{out}");

    // Frank's Samsung (EAS 16.0) and Grace's Lumia (14.1) cannot reach Exchange Online: flagged in
    // the status and in the look-up, as a flag, not a decision.
    // diagnose says first that the sendMail check mails the notification mailbox itself.
    let (cli, _, report) = run(cli, &["diagnose"]).await;
    assert!(
        report.starts_with("Note: the Graph sendMail check sends one test message from"),
        "{report}"
    );
    let (cli, ok, status) = run(cli, &["status"]).await;
    assert!(ok, "{status}");
    assert!(status.contains("2 device(s) cannot sync"), "{status}");
    assert!(status.contains("does not block them"), "{status}");
    let (cli, ok, frank) = run(cli, &["diagnose", "--user", "frank"]).await;
    assert!(ok, "{frank}");
    assert!(
        frank.contains("EAS protocol: CANNOT SYNC: EAS protocol 16.0 is below 16.1"),
        "{frank}"
    );
    assert!(frank.contains("flagged only"), "{frank}");
    let (_cli, ok, alice) = run(cli, &["diagnose", "--user", "alice"]).await;
    assert!(ok, "{alice}");
    assert!(alice.contains("EAS protocol: 16.1"), "{alice}");
    assert!(!alice.contains("CANNOT SYNC"), "{alice}");

    // The control channel's look-up carries the same (the worker builds it from the store).
    let store = Store::open(config_dir.join("state.db")).unwrap();
    assert_eq!(store.eas_protocol_refused_count().unwrap(), 2);
    let grace = store.inventory_for_mailbox("grace").unwrap();
    let lumia = grace
        .iter()
        .find(|d| d.device_id == "GRACEWP00000007")
        .unwrap();
    assert_eq!(lumia.client_version.as_deref(), Some("14.1"));
    let line = DeviceLookup {
        device: lumia.clone(),
        decision: None,
    }
    .line();
    assert!(line.contains("EAS protocol 14.1 is below 16.1"), "{line}");
    let iphone = grace
        .iter()
        .find(|d| d.device_id == "GRACEIPHONE0007")
        .unwrap();
    assert!(!iphone.eas_protocol_refused);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_premises_devices_below_16_1_are_not_flagged() {
    let lab = small_lab().await;
    let cli = crate::diagnose::configure(&lab);
    let (cli, _, _) = run(cli, &["sync", "--full"]).await;
    let (cli, ok, out) = run(cli, &["sync", "--full", "--confirm"]).await;
    assert!(ok, "{out}");
    let (cli, ok, status) = run(cli, &["status"]).await;
    assert!(ok, "{status}");
    assert!(!status.contains("cannot sync"), "{status}");
    let (cli, ok, grace) = run(cli, &["diagnose", "--user", "grace"]).await;
    assert!(ok, "{grace}");
    assert!(!grace.contains("EAS protocol"), "{grace}");
    // The protocol is kept (the same store for both kinds), the flag is not set.
    let store = Store::open(cli.dir.path().join("config").join("state.db")).unwrap();
    let lumia = store
        .inventory_for_mailbox("grace")
        .unwrap()
        .into_iter()
        .find(|d| d.device_id == "GRACEWP00000007")
        .unwrap();
    assert_eq!(lumia.client_version.as_deref(), Some("14.1"));
    assert!(!lumia.eas_protocol_refused);
    assert_eq!(store.eas_protocol_refused_count().unwrap(), 0);
    lab.shutdown().await;
}
