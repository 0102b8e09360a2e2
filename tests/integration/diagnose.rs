//! `exchange-connector-service diagnose` against the lab: every check passes on a healthy lab, each
//! injected fault is named by the right check with a fix, the bundle holds no secret, and `--user`
//! explains a user's devices.

use crate::common;

use common::{TestLab, small_lab};
use exchange_connector::secret::Secret;
use exchange_connector::secrets::{FileStore, SecretStore};
use std::path::PathBuf;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_exchange-connector-service");
const LAB_BIN: &str = env!("CARGO_BIN_EXE_exchange-connector-lab");

pub(crate) struct Connector {
    pub(crate) dir: tempfile::TempDir,
}

impl Connector {
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub(crate) fn store(&self) -> FileStore {
        FileStore::new(self.config_dir().join("secrets"))
    }

    /// Runs the binary; returns (success, stdout + stderr).
    pub(crate) fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(BIN)
            .arg("--config-dir")
            .arg(self.config_dir())
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

    pub(crate) fn configure(&self, answers: &str) {
        let file = self.dir.path().join("answers.txt");
        std::fs::write(&file, answers).unwrap();
        let (ok, out) = self.run(&["configure", "--answers", file.to_str().unwrap()]);
        assert!(ok, "{out}");
    }

    pub(crate) fn diagnose(&self) -> String {
        self.run(&["diagnose"]).1
    }
}

/// On-premises through the lab's PowerShell stand-in (a wrapper stands in for `pwsh`).
pub(crate) fn configure(lab: &TestLab) -> Connector {
    let c = Connector {
        dir: tempfile::tempdir().unwrap(),
    };
    let endpoints = lab.dir.path().join("endpoints.json");
    let (ok, out) = c.run(&["configure", "--lab-endpoints", endpoints.to_str().unwrap()]);
    assert!(ok, "{out}");
    let wrapper = c.dir.path().join("pwsh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{LAB_BIN}' pwsh --ca-file '{}' \"$@\"\n",
            lab.endpoints.ca_cert_pem
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    c.configure(&format!(
        "PowerShellPath={}\nIsCasFailoverEnabled=false\n",
        wrapper.display()
    ));
    c
}

/// The line of a check, asserting its word.
pub(crate) fn line<'a>(report: &'a str, word: &str, check: &str) -> &'a str {
    let prefix = format!("{word} {check}");
    report
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{report}"))
}

fn first_failure(report: &str) -> &str {
    report
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("nothing failed:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_passes_on_a_healthy_lab_and_names_each_injected_fault() {
    let lab = small_lab().await;
    let c = configure(&lab);

    // Healthy: every check passes, with the negotiated TLS version per endpoint.
    let report = c.diagnose();
    eprintln!("{report}");
    assert!(!report.contains("FAIL"), "{report}");
    for check in [
        "configuration",
        "secrets",
        "DNS",
        "TLS to Exchange",
        "TLS to sign-in",
        "TLS to Graph",
        "Exchange sign-in",
        "cmdlet permissions",
        "EWS",
        "Graph sign-in",
        "Graph permissions",
    ] {
        line(&report, "OK  ", check);
    }
    assert!(
        line(&report, "OK  ", "TLS to Exchange").contains("TLS 1."),
        "{report}"
    );
    assert!(report.contains("All checks passed."));

    // Wrong Exchange password: the sign-in fails, with what to do.
    let good = c
        .store()
        .get("default", "ExchangePassword")
        .unwrap()
        .unwrap();
    c.store()
        .set(
            "default",
            "ExchangePassword",
            &Secret::new("not-the-password"),
        )
        .unwrap();
    let report = c.diagnose();
    let fail = first_failure(&report);
    eprintln!("{fail}");
    assert!(fail.starts_with("FAIL Exchange sign-in"), "{report}");
    assert!(fail.contains("fix:"), "{fail}");
    c.store().set("default", "ExchangePassword", &good).unwrap();

    // A missing cmdlet: named.
    let removed = {
        let mut org = lab.state.org_mut();
        let user = lab.endpoints.service_account.user.clone();
        let account = org.accounts.iter_mut().find(|a| a.is_named(&user)).unwrap();
        account
            .granted_cmdlets
            .retain(|c| !c.eq_ignore_ascii_case("Set-CASMailbox"));
        user
    };
    let report = c.diagnose();
    let fail = first_failure(&report);
    assert!(fail.starts_with("FAIL cmdlet permissions"), "{report}");
    assert!(fail.contains("Set-CASMailbox"), "{fail}");
    {
        let mut org = lab.state.org_mut();
        let account = org
            .accounts
            .iter_mut()
            .find(|a| a.is_named(&removed))
            .unwrap();
        account.granted_cmdlets.push("Set-CASMailbox".into());
    }

    // The token endpoint refuses the app's secret: Graph sign-in.
    let secret = lab.state.tenant_mut().apps[0].client_secret.clone();
    lab.state.tenant_mut().apps[0].client_secret = Some(Secret::new("rotated-elsewhere"));
    let report = c.diagnose();
    let fail = first_failure(&report);
    assert!(fail.starts_with("FAIL Graph sign-in"), "{report}");
    lab.state.tenant_mut().apps[0].client_secret = secret;

    // The CAS is down: TLS to Exchange and the sign-in fail.
    let http = common::client(&lab.endpoints.ca_cert_pem);
    let cas = lab.endpoints.cas_servers[0].name.clone();
    let r = http
        .post(format!("{}/cas/{cas}/stop", lab.endpoints.control_base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let report = c.diagnose();
    let fail = first_failure(&report);
    eprintln!("{report}");
    assert!(fail.starts_with("FAIL TLS to Exchange"), "{report}");
    line(&report, "FAIL", "Exchange sign-in");
    http.post(format!("{}/cas/{cas}/start", lab.endpoints.control_base))
        .send()
        .await
        .unwrap();

    // Autodiscover unreachable (no ExchangeWebServiceURL; the mail domain has no Autodiscover).
    c.configure("ExchangeWebServiceURL=\n");
    let report = c.diagnose();
    let fail = first_failure(&report);
    assert!(fail.starts_with("FAIL Autodiscover"), "{report}");
    assert!(fail.contains("ExchangeWebServiceURL"), "{fail}");
    c.configure(&format!(
        "ExchangeWebServiceURL={}\n",
        lab.endpoints.ews_url
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_holds_no_secret_and_user_explains_devices() {
    let lab = small_lab().await;
    let c = configure(&lab);
    let store = c.store();
    let mut secrets: Vec<String> = [
        "ExchangePassword",
        "NotificationPassword",
        "ClientSecret",
        "ClientCertificate",
        "CertificatePassword",
    ]
    .iter()
    .map(|k| {
        store
            .get("default", k)
            .unwrap()
            .unwrap()
            .expose()
            .to_string()
    })
    .collect();
    // A proxy password too, and every secret planted in the logs, the runs and the policy file.
    store
        .set("default", "ProxyPassword", &Secret::new("proxy-pw-9876"))
        .unwrap();
    secrets.push("proxy-pw-9876".into());
    let logs = c.dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut planted = String::new();
    for s in &secrets {
        planted.push_str(&format!("error talking to server with password {s}\n"));
        use base64::Engine as _;
        planted.push_str(&format!(
            "Authorization: Basic {}\n",
            base64::engine::general_purpose::STANDARD.encode(s)
        ));
    }
    std::fs::write(logs.join("Connector0.log"), &planted).unwrap();
    std::fs::write(
        c.config_dir().join("policy.json"),
        serde_json::json!({ "note": planted }).to_string(),
    )
    .unwrap();
    {
        let db = exchange_connector::store::Store::open(c.config_dir().join("state.db")).unwrap();
        let run = db
            .begin_run(exchange_connector::store::RunKind::Full)
            .unwrap();
        db.finish_run(
            run,
            exchange_connector::store::RunOutcome::Failed,
            &serde_json::json!({ "devices_seen": 1 }),
            Some(&planted),
        )
        .unwrap();
    }
    let zip_path = c.dir.path().join("bundle.zip");
    let (_, out) = c.run(&[
        "diagnose",
        "--bundle",
        zip_path.to_str().unwrap(),
        "--log-dir",
        logs.to_str().unwrap(),
    ]);
    assert!(out.contains("Diagnostics bundle written"), "{out}");
    let bytes = std::fs::read(&zip_path).unwrap();
    let mut texts = vec![String::from_utf8_lossy(&bytes).into_owned()];
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        use std::io::Read as _;
        let mut entry = archive.by_index(i).unwrap();
        names.push(entry.name().unwrap().to_string());
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        texts.push(text);
    }
    for wanted in [
        "OnPremisesExchangeConnectorServiceConfiguration.xml",
        "diagnose.txt",
        "runs.json",
        "logs/Connector0.log",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{names:?}");
    }
    assert!(texts.iter().any(|t| t.contains("error talking to server")));
    assert_no_secret(&texts, &secrets);
    assert_no_secret(&[out], &secrets);

    // --user: each device with Exchange's state, Intune's record and the connector's decision.
    let upn = lab.state.org().mailboxes[0]
        .cas
        .primary_smtp_address
        .clone();
    let (ok, text) = c.run(&["diagnose", "--user", &upn]);
    assert!(ok, "{text}");
    eprintln!("{text}");
    assert!(text.contains("device(s) in Exchange"), "{text}");
    assert!(text.contains("Exchange:"), "{text}");
    assert!(text.contains("Intune:"), "{text}");
    assert!(text.contains("Connector:"), "{text}");
}

fn assert_no_secret(texts: &[String], secrets: &[String]) {
    use base64::Engine as _;
    for s in secrets {
        let forms = [
            s.clone(),
            base64::engine::general_purpose::STANDARD.encode(s),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(s),
        ];
        for t in texts {
            for f in &forms {
                assert!(
                    !t.contains(f.as_str()),
                    "a secret (or its base64) is in the bundle"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_goes_through_the_configured_proxy() {
    let lab = small_lab().await;
    let c = configure(&lab);
    let (port, seen) = common::forward_proxy(common::ProxyAuth::None).await;
    c.configure(&format!(
        "ProxyEnabled=true\nProxyHost=127.0.0.1\nProxyPort={port}\n"
    ));
    let report = tokio::task::spawn_blocking(move || (c.diagnose(), c))
        .await
        .unwrap()
        .0;
    eprintln!("{report}");
    assert!(!report.contains("FAIL"), "{report}");
    line(&report, "OK  ", "proxy");
    line(&report, "OK  ", "Graph sign-in");
    line(&report, "OK  ", "EWS");
    // The sign-in and Graph calls went through the proxy too, not around it.
    let cloud = url::Url::parse(&lab.endpoints.graph_base).unwrap();
    let cloud = format!("{}:{}", cloud.host_str().unwrap(), cloud.port().unwrap());
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&cloud), "{cloud} not in {seen:?}");
}
