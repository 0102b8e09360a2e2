//! Exchange Online as it is in December 2026, against the lab's hosted mode: EWS and Autodiscover are
//! blocked (Basic refused), notifications go through Graph `sendMail` from the notification mailbox,
//! a mailbox outside the app's RBAC for Applications scope is refused with the admin's fix, and every
//! hosted request goes through the configured proxy.

use crate::common;

use common::{ProxyAuth, TestLab, client, forward_proxy, lab_with};
use exchange_connector::connection::{ExchangeTransport, SyncSetup};
use exchange_connector::lab::SENT_VIA_GRAPH;
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::notify::{Language, MailRoute, NotifierConfig};
use exchange_connector::oauth::ClientCredential;
use exchange_connector::policy::PolicySettings;
use exchange_connector::secret::Secret;
use exchange_connector::sync::{RunOptions, SyncConfig, SyncKind, SyncOutcome};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_exchange-connector-service");

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

async fn graph_token(lab: &TestLab) -> String {
    let e = &lab.endpoints;
    let answer: serde_json::Value = client(&e.ca_cert_pem)
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            e.login_base, e.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", e.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
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
    let token = graph_token(&lab).await;
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
    let e = &lab.endpoints;
    SyncSetup {
        login_base: e.login_base.clone(),
        tenant: e.tenant_id.clone(),
        client_id: e.client_id.clone(),
        credential: ClientCredential::Secret(Secret::new(e.client_secret.clone())),
        graph_base: e.graph_base.clone(),
        graph_scope: "https://graph.microsoft.com/.default".into(),
        graph_page_size: 1000,
        graph_max_attempts: 3,
        extra_ca: Some(e.ca_cert_pem.clone().into()),
        exchange: ExchangeTransport::Rest {
            base_url: e.exchange_rest_base.clone(),
            scope: "https://outlook.office365.com/.default".into(),
        },
        runspaces: 2,
        store_path: lab.dir.path().join("hosted.db"),
        settings: PolicySettings {
            enabled: true,
            included_groups: e.policy.included_groups.clone(),
            excluded_groups: e.policy.excluded_groups.clone(),
            unmanaged_default_access: lab.state.org().settings.default_access_level,
            ..PolicySettings::default()
        },
        config: SyncConfig {
            watermark_overlap: Duration::ZERO,
            actor: "TEST\\hosted".into(),
            crash_after_sends: None,
        },
        proxy: Some(exchange_connector::proxy::ConfiguredProxy {
            spec: exchange_connector::proxy::ProxySpec::parse(
                &format!("127.0.0.1:{proxy_port}"),
                None,
            )
            .unwrap(),
            credentials: None,
        }),
        notifier: Some(NotifierConfig {
            mailbox: e.notification_account.address.clone(),
            route: MailRoute::Graph,
            language: Language::Nl,
            template: None,
            enrol_link: "https://portal.manage.microsoft.com/".into(),
        }),
    }
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
    let seen: HashSet<String> = tunnels.lock().unwrap().iter().cloned().collect();
    assert!(
        seen.contains(&authority(&lab.endpoints.graph_base)),
        "{seen:?}"
    );
    for cas in &lab.endpoints.cas_servers {
        assert!(!seen.contains(&authority(&cas.base_url)), "{seen:?}");
    }

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

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(BIN)
            .arg("--config-dir")
            .arg(self.dir.path().join("config"))
            .args(["--secret-store", "file", "--channel"])
            .arg(self.dir.path().join("none.sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn configure(&self, answers: &str) {
        let file = self.dir.path().join("answers.txt");
        std::fs::write(&file, answers).unwrap();
        let (ok, out) = self.run(&["configure", "--answers", file.to_str().unwrap()]);
        assert!(ok, "{out}");
    }
}

fn line<'a>(report: &'a str, word: &str, check: &str) -> &'a str {
    let prefix = format!("{word} {check}");
    report
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_cli_sync_and_diagnose_use_graph_and_the_proxy_and_name_the_rbac_fix() {
    let lab = hosted_lab().await;
    let cli = Cli {
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
    let store = exchange_connector::secrets::FileStore::new(cli.dir.path().join("config/secrets"));
    use exchange_connector::secrets::SecretStore as _;
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
        let out = cli.run(&["diagnose"]).1;
        (cli, out)
    })
    .await
    .unwrap();
    assert!(!report.contains("FAIL"), "{report}");
    line(&report, "OK  ", "Graph sendMail");
    line(&report, "OK  ", "Mail.Send scope");
    line(&report, "SKIP", "EWS");
    assert_eq!(ews_requests(&lab), 0, "{report}");
    let seen: HashSet<String> = tunnels.lock().unwrap().iter().cloned().collect();
    assert!(
        seen.contains(&authority(&lab.endpoints.graph_base)),
        "{seen:?}"
    );
    for cas in &lab.endpoints.cas_servers {
        assert!(!seen.contains(&authority(&cas.base_url)), "{seen:?}");
    }

    // Without the RBAC scope: the check fails and prints the two commands with the real names.
    lab.state.tenant_mut().apps[0].mail_send_scope.clear();
    let (_cli, report) = tokio::task::spawn_blocking(move || {
        let out = cli.run(&["diagnose"]).1;
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
