//! Exchange Online as it is in December 2026, against the lab's hosted mode: EWS and Autodiscover are
//! blocked (Basic refused), notifications go through Graph `sendMail` from the notification mailbox,
//! a mailbox outside the app's RBAC for Applications scope is refused with the admin's fix, and every
//! hosted request goes through the configured proxy.

use crate::common;
use crate::diagnose::{Connector, line};

use common::{ProxyAuth, TestLab, client, forward_proxy, lab_with};
use exchange_connector::connection::SyncSetup;
use exchange_connector::lab::SENT_VIA_GRAPH;
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::notify::{Language, MailRoute, NotifierConfig};
use exchange_connector::sync::{RunOptions, SyncKind, SyncOutcome};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

async fn hosted_lab() -> TestLab {
    lab_with(Scenario::small_hosted()).await
}

fn ews_requests(lab: &TestLab) -> u64 {
    lab.state.counters.ews_requests.load(Ordering::Relaxed)
}

/// `host:port` of a lab URL, as a proxy tunnel names it.
fn authority(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
}

/// The proxy tunnelled to the cloud listener (token, Graph, REST, sendMail) and to no Client Access
/// server.
fn assert_tunnelled_to_the_cloud_only(lab: &TestLab, tunnels: &std::sync::Mutex<Vec<String>>) {
    let seen: HashSet<String> = tunnels.lock().unwrap().iter().cloned().collect();
    assert!(
        seen.contains(&authority(&lab.endpoints.graph_base)),
        "{seen:?}"
    );
    for cas in &lab.endpoints.cas_servers {
        assert!(!seen.contains(&authority(&cas.base_url)), "{seen:?}");
    }
}

fn graph_token(lab: &TestLab) -> String {
    use exchange_connector::lab::tokens::{Resource, mint};
    mint(&lab.state, &lab.endpoints.client_id, Resource::Graph)
        .expect("the lab's app gets a token")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_lab_blocks_ews_and_scopes_graph_send_mail() {
    let lab = hosted_lab().await;
    let e = &lab.endpoints;
    let http = client(&e.ca_cert_pem);
    let before = ews_requests(&lab);

    // EWS with Basic: refused, only Bearer offered. With a token: blocked, and says so.
    for url in [
        e.ews_url.clone(),
        format!("{}/EWS/Exchange.asmx", e.exchange_rest_base),
    ] {
        let basic = http
            .post(&url)
            .basic_auth(
                &e.notification_account.address,
                Some(&e.notification_account.password),
            )
            .body("<soap:Envelope/>")
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status().as_u16(), 401, "{url}");
        let offered: Vec<String> = basic
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            offered.iter().all(|o| o.starts_with("Bearer")),
            "{offered:?}"
        );
        let bearer = http
            .post(&url)
            .bearer_auth("a-token")
            .body("<soap:Envelope/>")
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status().as_u16(), 403);
        assert!(bearer.text().await.unwrap().contains("1 October 2026"));
    }
    assert_eq!(
        ews_requests(&lab),
        before + 4,
        "refused requests are counted too"
    );

    // sendMail as the notification mailbox (in the app's scope): accepted, in the outbox via Graph.
    let token = graph_token(&lab);
    let send = |from: String, save: bool| {
        let http = http.clone();
        let url = format!("{}/v1.0/users/{from}/sendMail", e.graph_base);
        let token = token.clone();
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({
                    "message": {"subject": "Hello", "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
                                "toRecipients": [{"emailAddress": {"address": "dave@contoso.lab"}}]},
                    "saveToSentItems": save,
                }))
                .send()
                .await
                .unwrap()
        }
    };
    let accepted = send(e.notification_account.address.clone(), false).await;
    assert_eq!(accepted.status().as_u16(), 202);
    let sent = lab.state.outbox.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent.via, SENT_VIA_GRAPH);
    assert_eq!(sent.disposition, "SendOnly");
    assert_eq!(sent.to, vec!["dave@contoso.lab".to_string()]);
    assert!(
        sent.from
            .eq_ignore_ascii_case(&e.notification_account.address)
    );

    // As a mailbox outside the scope: Graph's own 403 shape.
    let denied = send("alice@contoso.lab".into(), true).await;
    assert_eq!(denied.status().as_u16(), 403);
    let body: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");
    assert_eq!(
        body["error"]["message"],
        "Access is denied. Check credentials and try again."
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());
    // An unknown user: 404.
    assert_eq!(
        send("nobody@contoso.lab".into(), true)
            .await
            .status()
            .as_u16(),
        404
    );
    let counters: serde_json::Value = http
        .get(format!("{}/counters", e.control_base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["ewsRequests"], before + 4);
    assert_eq!(counters["sendMailRequests"], 3);
    lab.shutdown().await;
}

fn hosted_setup(lab: &TestLab, proxy_port: u16) -> SyncSetup {
    let mut setup = crate::sync_engine::setup(
        lab,
        &lab.dir.path().join("hosted.db"),
        crate::sync_engine::rest(lab),
        2,
    );
    setup.proxy = Some(exchange_connector::proxy::ConfiguredProxy {
        spec: exchange_connector::proxy::ProxySpec::parse(&format!("127.0.0.1:{proxy_port}"), None)
            .unwrap(),
        credentials: None,
    });
    setup.notifier = Some(NotifierConfig {
        mailbox: lab.endpoints.notification_account.address.clone(),
        route: MailRoute::Graph,
        language: Language::Nl,
        template: None,
        enrol_link: "https://portal.manage.microsoft.com/".into(),
    });
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_sync_notifies_through_graph_with_no_ews_request_all_through_the_proxy() {
    let lab = hosted_lab().await;
    let (port, tunnels) = forward_proxy(ProxyAuth::None).await;
    let engine = hosted_setup(&lab, port).build().expect("engine builds");
    let report = confirmed(&engine, SyncKind::Full).await;
    assert_eq!(report.outcome, SyncOutcome::Succeeded, "{report:?}");
    assert!(report.notifications_sent > 0, "{report:?}");
    assert_eq!(report.notifications_failed, 0, "{report:?}");
    let outbox = lab.state.outbox.lock().unwrap().clone();
    assert_eq!(outbox.len(), report.notifications_sent);
    let dutch = exchange_connector::notify::Template::default_for(Language::Nl);
    for mail in &outbox {
        assert_eq!(mail.via, SENT_VIA_GRAPH);
        assert_eq!(mail.disposition, "SendAndSaveCopy");
        assert!(mail.body.contains("https://portal.manage.microsoft.com/"));
        assert!(
            mail.subject
                .starts_with(&dutch.subject.chars().take(8).collect::<String>())
        );
    }
    assert_eq!(ews_requests(&lab), 0, "a hosted run makes no EWS request");

    // Every request went through the proxy: token, Graph, REST and sendMail all live on the cloud
    // listener, and nothing reached a Client Access server.
    assert_tunnelled_to_the_cloud_only(&lab, &tunnels);

    // The mailbox out of the app's scope: nothing sent, the admin's fix named, tried again next run.
    lab.state.tenant_mut().apps[0].mail_send_scope.clear();
    control_partnership(&lab).await;
    let refused = confirmed(&engine, SyncKind::Quick).await;
    assert_eq!(refused.notifications_sent, 0, "{refused:?}");
    assert!(refused.notifications_failed > 0, "{refused:?}");
    let warning = refused.warnings.join("\n");
    assert!(warning.contains("Application Mail.Send"), "{warning}");
    assert!(warning.contains("diagnose"), "{warning}");
    assert_eq!(ews_requests(&lab), 0);
    engine.shutdown().await;
    lab.shutdown().await;
}

/// A run and, when the mass-change guard holds its plan, the admin's confirmation.
async fn confirmed(
    engine: &exchange_connector::sync::SyncEngine,
    kind: SyncKind,
) -> exchange_connector::sync::RunReport {
    let first = engine.run(kind, RunOptions::default()).await;
    if first.outcome != SyncOutcome::HeldByGuard {
        return first;
    }
    let confirm = RunOptions {
        confirm_guard: true,
        ..RunOptions::default()
    };
    engine.run(kind, confirm).await
}

/// A targeted user's new, unenrolled phone: the next run restricts it and mails its owner.
async fn control_partnership(lab: &TestLab) {
    let response = client(&lab.endpoints.ca_cert_pem)
        .post(format!("{}/partnerships", lab.endpoints.control_base))
        .json(&serde_json::json!({"mailbox": "dave", "deviceId": "DAVENEWPHONE009", "deviceType": "Android"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_cli_sync_and_diagnose_use_graph_and_the_proxy_and_name_the_rbac_fix() {
    let lab = hosted_lab().await;
    let cli = Connector {
        dir: tempfile::tempdir().unwrap(),
    };
    let endpoints = lab.dir.path().join("endpoints.json");
    let (ok, out) = cli.run(&["configure", "--lab-endpoints", endpoints.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (port, tunnels) = forward_proxy(ProxyAuth::None).await;
    cli.configure(&format!(
        "ExchangeServerType=Hosted\nProxyEnabled=true\nProxyHost=127.0.0.1\nProxyPort={port}\n"
    ));
    // No Exchange or mailbox password is needed for Exchange Online.
    use exchange_connector::secrets::SecretStore as _;
    let store = cli.store();
    store.delete("default", "ExchangePassword").unwrap();
    store.delete("default", "NotificationPassword").unwrap();

    let (cli, (ok, sync)) = tokio::task::spawn_blocking(move || {
        // The guard holds the first run's plan (the small organisation blocks many at once); the
        // admin confirms it.
        let _ = cli.run(&["sync", "--full"]);
        let out = cli.run(&["sync", "--full", "--confirm"]);
        (cli, out)
    })
    .await
    .unwrap();
    assert!(ok, "{sync}");
    let outbox = lab.state.outbox.lock().unwrap().clone();
    assert!(!outbox.is_empty(), "{sync}");
    assert!(outbox.iter().all(|m| m.via == SENT_VIA_GRAPH));

    let (cli, report) = tokio::task::spawn_blocking(move || {
        let out = cli.diagnose();
        (cli, out)
    })
    .await
    .unwrap();
    assert!(!report.contains("FAIL"), "{report}");
    line(&report, "OK  ", "Graph sendMail");
    line(&report, "OK  ", "Mail.Send scope");
    line(&report, "SKIP", "EWS");
    assert_eq!(ews_requests(&lab), 0, "{report}");
    assert_tunnelled_to_the_cloud_only(&lab, &tunnels);

    // Without the RBAC scope: the check fails and prints the two commands with the real names.
    lab.state.tenant_mut().apps[0].mail_send_scope.clear();
    let (_cli, report) = tokio::task::spawn_blocking(move || {
        let out = cli.diagnose();
        (cli, out)
    })
    .await
    .unwrap();
    let failed = line(&report, "FAIL", "Graph sendMail");
    assert!(failed.contains("ErrorAccessDenied"), "{failed}");
    let address = &lab.endpoints.notification_account.address;
    assert!(
        failed.contains(&format!(
            "New-ManagementScope -Name \"Exchange Connector notification mailbox\" -RecipientRestrictionFilter \"PrimarySmtpAddress -eq '{address}'\""
        )),
        "{failed}"
    );
    assert!(
        failed.contains(&format!(
            "New-ManagementRoleAssignment -App {} -Role \"Application Mail.Send\" -CustomResourceScope \"Exchange Connector notification mailbox\"",
            lab.endpoints.client_id
        )),
        "{failed}"
    );
    assert_eq!(ews_requests(&lab), 0);
    lab.shutdown().await;
}
