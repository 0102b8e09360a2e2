//! Onboarding against the lab's empty tenant: an admin signs in (device code approved through the
//! control API, or the consent page of the PKCE flow), the connector creates its app, service
//! principal, grants and certificate, finds them again on a second run, and removes them; the bad
//! cases end in a typed error with nothing half-created.

use crate::common::{TestLab, lab_with};
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
use exchange_connector::onboarding::{
    self, AdminToken, AuthCodeSignIn, Authority, ConsentOutcome, DeviceCodeSignIn, DirectoryClient,
    OnboardOptions, OnboardingError, Progress,
};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SIGN_IN_CLIENT: &str = "onboarding-test-public-client";

struct Onboarding {
    lab: TestLab,
    http: reqwest::Client,
    control: reqwest::Client,
    authority: Authority,
}

async fn empty_tenant() -> Onboarding {
    let lab = lab_with(Scenario::empty_tenant()).await;
    let ca = lab.endpoints.ca_cert_pem.clone();
    let http = exchange_connector::connection::onboarding_http(Some(Path::new(&ca)), None)
        .expect("onboarding client");
    let control = crate::common::client(&ca);
    let authority = Authority {
        login_base: lab.endpoints.login_base.clone(),
        graph_base: lab.endpoints.graph_base.clone(),
        tenant: lab.endpoints.tenant_id.clone(),
    };
    let settings = control
        .put(format!("{}/sign-in/settings", lab.endpoints.control_base))
        .json(&json!({"pollIntervalSeconds": 1}))
        .send()
        .await
        .unwrap();
    assert!(settings.status().is_success());
    Onboarding {
        lab,
        http,
        control,
        authority,
    }
}

impl Onboarding {
    /// Changes the lab's sign-in settings (poll interval, faults).
    async fn sign_in_settings(&self, settings: Value) {
        let answer = self
            .control
            .put(format!(
                "{}/sign-in/settings",
                self.lab.endpoints.control_base
            ))
            .json(&settings)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }

    async fn control_post(&self, path: &str, body: Value) -> reqwest::StatusCode {
        self.control
            .post(format!(
                "{}/sign-in/{path}",
                self.lab.endpoints.control_base
            ))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn directory(&self) -> Value {
        self.control
            .get(format!(
                "{}/sign-in/directory",
                self.lab.endpoints.control_base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A device-code sign-in answered through the control API: approved with `role`, or declined
    /// (`None`).
    async fn sign_in(&self, role: Option<&str>) -> Result<AdminToken, OnboardingError> {
        let flow =
            DeviceCodeSignIn::start(self.http.clone(), self.authority.clone(), SIGN_IN_CLIENT)
                .await
                .expect("device code");
        let prompt = flow.prompt().clone();
        assert!(prompt.message.contains(&prompt.user_code));
        let status = match role {
            Some(role) => {
                self.control_post(
                    "device-codes/approve",
                    json!({"userCode": prompt.user_code, "user": "admin@contoso.lab", "role": role}),
                )
                .await
            }
            None => {
                self.control_post("device-codes/deny", json!({"userCode": prompt.user_code}))
                    .await
            }
        };
        assert!(status.is_success(), "control answered {status}");
        flow.wait().await
    }

    fn graph(&self, token: AdminToken) -> DirectoryClient {
        DirectoryClient::new(self.http.clone(), &self.authority.graph_base, token)
    }
}

/// Signs in with `role`, plans and applies: the admin's Graph client and the outcome.
async fn onboard_as(
    o: &Onboarding,
    role: &str,
    options: &OnboardOptions,
) -> (
    DirectoryClient,
    Result<onboarding::OnboardingResult, OnboardingError>,
) {
    let token = o.sign_in(Some(role)).await.expect("signed in");
    let graph = o.graph(token);
    let plan = onboarding::plan(&graph, &o.authority, options)
        .await
        .unwrap();
    let mut lines = Vec::new();
    let result =
        onboarding::apply(&graph, &o.authority, &plan, None, &mut collect(&mut lines)).await;
    (graph, result)
}

/// The app's own token client with `certificate`.
fn app_tokens(o: &Onboarding, client_id: &str, certificate: &ClientCertificate) -> TokenClient {
    TokenClient::new(
        OAuthConfig::new(
            &o.lab.endpoints.login_base,
            &o.lab.endpoints.tenant_id,
            client_id,
            ClientCredential::Certificate(Arc::new(certificate.clone())),
        ),
        crate::common::client(&o.lab.endpoints.ca_cert_pem),
    )
}

fn collect(lines: &mut Vec<String>) -> impl FnMut(Progress) + Send + '_ {
    move |p: Progress| lines.push(p.line.to_string())
}

#[tokio::test]
async fn empty_tenant_onboards_once_and_removes() {
    let o = empty_tenant().await;
    let token = o
        .sign_in(Some("Global Administrator"))
        .await
        .expect("signed in");
    let graph = o.graph(token);
    let options = OnboardOptions::default();

    let plan = onboarding::plan(&graph, &o.authority, &options)
        .await
        .unwrap();
    assert!(plan.existing.is_none());
    assert_eq!(plan.permissions.len(), 4);
    let shown = plan.to_string();
    assert!(
        shown.contains("DeviceManagementManagedDevices.Read.All"),
        "{shown}"
    );
    assert!(shown.contains("create the app registration"), "{shown}");

    let mut lines = Vec::new();
    let result = onboarding::apply(&graph, &o.authority, &plan, None, &mut collect(&mut lines))
        .await
        .expect("onboarded");
    assert_eq!(result.consent, ConsentOutcome::Granted);
    assert!(result.changed);
    let certificate = result.new_certificate.expect("a certificate made here");
    assert_eq!(lines.len(), 6, "one line per action: {lines:?}");

    let directory = o.directory().await;
    let apps = directory["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["keys"], 1);
    let mut granted: Vec<&str> = apps[0]["granted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            "DeviceManagementManagedDevices.Read.All",
            "DeviceManagementServiceConfig.ReadWrite.All",
            "GroupMember.Read.All",
            "User.Read.All"
        ]
    );

    // The connector signs in as the new app with the certificate made here.
    let tokens = app_tokens(&o, &result.client_id, &certificate);
    let scope = format!("{}/.default", o.lab.endpoints.graph_base);
    tokens
        .token(&scope)
        .await
        .expect("app-only token with the new certificate");

    // A second run finds everything and creates nothing.
    let again = onboarding::plan(&graph, &o.authority, &options)
        .await
        .unwrap();
    assert!(again.existing.is_some());
    assert!(again.permissions.iter().all(|p| p.granted));
    assert!(
        again
            .actions(Some(&certificate.sha1_thumbprint_hex()))
            .is_empty()
    );
    let mut lines = Vec::new();
    let second = onboarding::apply(
        &graph,
        &o.authority,
        &again,
        Some(&certificate),
        &mut collect(&mut lines),
    )
    .await
    .unwrap();
    assert!(!second.changed, "{lines:?}");
    assert!(second.new_certificate.is_none());
    assert_eq!(second.client_id, result.client_id);
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 1);
    assert_eq!(directory["servicePrincipals"], 1);
    assert_eq!(directory["assignments"], 4);

    // Remove deletes all of it, and the app can no longer sign in.
    let mut lines = Vec::new();
    let removed = onboarding::remove(&graph, &mut collect(&mut lines))
        .await
        .unwrap();
    assert_eq!(removed.as_deref(), Some(result.client_id.as_str()));
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 0);
    assert_eq!(directory["servicePrincipals"], 0);
    assert_eq!(directory["assignments"], 0);
    assert!(o.lab.state.tenant().app(&result.client_id).is_none());
}

#[tokio::test]
async fn admin_without_rights_creates_nothing() {
    let o = empty_tenant().await;
    let (_, outcome) = onboard_as(&o, "Intune Administrator", &OnboardOptions::default()).await;
    let error = outcome.unwrap_err();
    assert!(
        matches!(error, OnboardingError::MayNotCreateApps { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("nothing was created") && text.contains("Application Administrator"),
        "{text}"
    );
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 0);
    assert_eq!(directory["servicePrincipals"], 0);
}

#[tokio::test]
async fn admin_who_may_not_grant_gets_the_consent_url() {
    let o = empty_tenant().await;
    let (_, outcome) =
        onboard_as(&o, "Application Administrator", &OnboardOptions::default()).await;
    let result = outcome.expect("app created, consent pending");
    match &result.consent {
        ConsentOutcome::NeedsAdmin { url, role, missing } => {
            assert!(url.contains("/v2.0/adminconsent?client_id="), "{url}");
            assert!(url.contains(&result.client_id), "{url}");
            assert!(
                role.english.contains("Privileged Role Administrator"),
                "{role}"
            );
            assert_eq!(missing.len(), 4);
        }
        other => panic!("expected consent to be needed, got {other:?}"),
    }
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 1);
    assert_eq!(directory["assignments"], 0);
}

#[tokio::test]
async fn declined_sign_in_is_a_clear_error() {
    let o = empty_tenant().await;
    let error = o.sign_in(None).await.unwrap_err();
    assert!(matches!(error, OnboardingError::Declined { .. }), "{error}");
    assert!(error.to_string().contains("nothing was created"));
    assert_eq!(
        o.directory().await["applications"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn expired_code_is_a_clear_error() {
    let o = empty_tenant().await;
    let flow = DeviceCodeSignIn::start(o.http.clone(), o.authority.clone(), SIGN_IN_CLIENT)
        .await
        .unwrap();
    assert!(
        o.control_post("device-codes/expire", json!({}))
            .await
            .is_success()
    );
    let error = flow.wait().await.unwrap_err();
    assert!(matches!(error, OnboardingError::CodeExpired), "{error}");
    assert!(error.to_string().contains("expired"));
}

/// The browser flow: authorize URL with PKCE, the lab's consent page, the redirect to the loopback
/// listener, the code redeemed with the verifier.
#[tokio::test]
async fn browser_sign_in_with_pkce_and_loopback_redirect() {
    let o = empty_tenant().await;
    let flow = AuthCodeSignIn::start(o.http.clone(), o.authority.clone(), SIGN_IN_CLIENT)
        .await
        .unwrap();
    let url = flow.browser_url().to_string();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A"),
        "{url}"
    );
    let browser =
        exchange_connector::tls::http_client_builder(Some(Path::new(&o.lab.endpoints.ca_cert_pem)))
            .unwrap()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
    let finish = tokio::spawn(flow.finish(Duration::from_secs(60)));
    let page = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("consent form")
        .to_string();
    let consent = browser
        .post(format!(
            "{}/{}/oauth2/v2.0/authorize/consent",
            o.lab.endpoints.login_base, o.lab.endpoints.tenant_id
        ))
        .form(&[
            ("request", request.as_str()),
            ("user", "admin@contoso.lab"),
            ("role", "Global Administrator"),
            ("decision", "accept"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), reqwest::StatusCode::FOUND);
    let location = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("http://localhost:"), "{location}");
    let back = browser
        .get(location.replace("localhost", "127.0.0.1"))
        .send()
        .await
        .unwrap();
    assert!(back.status().is_success());
    let token = finish
        .await
        .unwrap()
        .expect("token for the code and verifier");
    let graph = o.graph(token);
    let plan = onboarding::plan(&graph, &o.authority, &OnboardOptions::default())
        .await
        .expect("the delegated token reads the directory");
    assert!(plan.existing.is_none());
}

/// `addKey` and `removeKey` on the lab check the proof of possession: signed by a current
/// certificate of the app, `aud` 00000002-0000-0000-c000-000000000000, `iss` the app's object id.
#[tokio::test]
async fn add_and_remove_key_need_a_valid_proof() {
    let o = empty_tenant().await;
    let (_, result, current) = onboarded_with(&o, &OnboardOptions::default()).await;
    let app_token = app_tokens(&o, &result.client_id, &current)
        .token(&format!("{}/.default", o.lab.endpoints.graph_base))
        .await
        .unwrap();
    let proof = |signer: &ClientCertificate, iss: &str| {
        let now = chrono::Utc::now().timestamp();
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(signer.private_key_pem().expose().as_bytes())
                .unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &json!({"aud": "00000002-0000-0000-c000-000000000000", "iss": iss, "nbf": now, "exp": now + 600}),
            &key,
        )
        .unwrap()
    };
    let next = ClientCertificate::generate("Exchange Connector next", 30).unwrap();
    use base64::Engine as _;
    let new_key = json!({
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64::engine::general_purpose::STANDARD.encode(&next.certificate_der),
    });
    let client = crate::common::client(&o.lab.endpoints.ca_cert_pem);
    let add = |proof: String| {
        client
            .post(format!(
                "{}/v1.0/applications/{}/addKey",
                o.lab.endpoints.graph_base, result.object_id
            ))
            .bearer_auth(app_token.expose())
            .json(&json!({"keyCredential": new_key, "passwordCredential": null, "proof": proof}))
            .send()
    };
    // Signed by a certificate the app does not hold: refused.
    let refused = add(proof(&next, &result.object_id)).await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Authentication_MissingOrMalformed");
    // Wrong issuer: refused.
    let refused = add(proof(&current, "someone-else")).await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    // Signed by the current certificate: added.
    let added = add(proof(&current, &result.object_id)).await.unwrap();
    assert!(added.status().is_success(), "{}", added.status());
    let added: Value = added.json().await.unwrap();
    assert_eq!(o.directory().await["applications"][0]["keys"], 2);
    let old_key = {
        let state = o.lab.state.directory();
        state.applications[0].key_credentials[0].key_id.clone()
    };
    assert_ne!(added["keyId"].as_str().unwrap(), old_key);
    // The new key proves possession to remove the old one.
    let removed = client
        .post(format!(
            "{}/v1.0/applications/{}/removeKey",
            o.lab.endpoints.graph_base, result.object_id
        ))
        .bearer_auth(app_token.expose())
        .json(&json!({"keyId": old_key, "proof": proof(&next, &result.object_id)}))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(o.directory().await["applications"][0]["keys"], 1);
}

/// Runs `exchange-connector-service onboard` against the lab, approving its device code as a Global
/// Administrator when it prints it. Returns (success, stdout, stderr).
async fn run_onboard(o: &Onboarding, home: &Path, extra: &[&str]) -> (bool, String, String) {
    let endpoints = o.lab.dir.path().join("endpoints.json");
    let mut args = vec!["onboard", "--lab-endpoints", endpoints.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_signing_in(o, home, &args, "Global Administrator").await
}

/// Runs `exchange-connector-service` with `args` (a command that signs in with a device code) on a
/// machine whose folders are in `home`, approving the code it prints as an admin with `role`.
/// Returns (success, stdout, stderr).
async fn run_signing_in(
    o: &Onboarding,
    home: &Path,
    args: &[&str],
    role: &str,
) -> (bool, String, String) {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exchange-connector-service"));
    cmd.arg("--config-dir")
        .arg(home.join("config"))
        .args(["--secret-store", "file", "--channel"])
        .arg(home.join("no-worker.sock"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (code_tx, code_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(code) = line
                .split("(code ")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
            {
                let _ = code_tx.send(code.to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let code = tokio::task::spawn_blocking(move || code_rx.recv_timeout(Duration::from_secs(120)))
        .await
        .unwrap();
    if let Ok(code) = code {
        let status = o
            .control_post(
                "device-codes/approve",
                json!({"userCode": code, "role": role}),
            )
            .await;
        assert!(status.is_success());
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = reader.join().unwrap();
    (
        output.status.success(),
        stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A configured connector in `home` (the lab's Exchange), still naming the lab's unregistered app.
fn configure_for_lab(o: &Onboarding, home: &Path) {
    let configured = std::process::Command::new(env!("CARGO_BIN_EXE_exchange-connector-service"))
        .arg("--config-dir")
        .arg(home.join("config"))
        .args(["--secret-store", "file", "--channel"])
        .arg(home.join("no-worker.sock"))
        .arg("configure")
        .arg("--lab-endpoints")
        .arg(o.lab.dir.path().join("endpoints.json"))
        .output()
        .unwrap();
    assert!(
        configured.status.success(),
        "{}",
        String::from_utf8_lossy(&configured.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_onboard_dry_run_apply_again_and_remove() {
    let o = empty_tenant().await;
    let home = tempfile::tempdir().unwrap();
    configure_for_lab(&o, home.path());

    let (ok, out, err) = run_onboard(&o, home.path(), &["--dry-run"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("DeviceManagementManagedDevices.Read.All"),
        "{out}"
    );
    assert!(out.contains("Dry run: nothing was created."), "{out}");
    assert_eq!(
        o.directory().await["applications"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let (ok, out, err) = run_onboard(&o, home.path(), &[]).await;
    assert!(ok, "{out}\n{err}");
    let directory = o.directory().await;
    let apps = directory["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{out}");
    let app_id = apps[0]["appId"].as_str().unwrap().to_string();
    let config = exchange_connector::config::Config::load(&home.path().join("config"))
        .unwrap()
        .config;
    assert_eq!(config.client_id, app_id);
    assert_eq!(config.tenant_id, o.lab.endpoints.tenant_id);
    // The certificate made here is in the store, and it is the one the app holds.
    let (certificate, password) = stored_certificate(&home.path().join("config"));
    assert!(
        !out.contains(password.expose()),
        "the password never reaches the output"
    );
    let held = o.lab.state.directory().applications[0].key_credentials[0]
        .thumbprint
        .clone();
    assert_eq!(held, certificate.sha1_thumbprint_hex());

    // Again: nothing new.
    let (ok, out, err) = run_onboard(&o, home.path(), &[]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("nothing to do"), "{out}");
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 1);
    assert_eq!(directory["applications"][0]["keys"], 1);

    let (ok, out, err) = run_onboard(&o, home.path(), &["--remove"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("deleted the app registration {app_id}")),
        "{out}"
    );
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 0);
    assert_eq!(directory["servicePrincipals"], 0);
}

/// Onboarded by a Global Administrator with a certificate that expires in ten days (rotation is due).
async fn onboarded_expiring_in_ten_days(
    o: &Onboarding,
) -> (onboarding::OnboardingResult, ClientCertificate) {
    let options = OnboardOptions {
        certificate_days: 10,
        ..OnboardOptions::default()
    };
    let (_, result, certificate) = onboarded_with(o, &options).await;
    (result, certificate)
}

/// Onboarded by a Global Administrator: the admin's Graph client, the outcome and the certificate
/// made here.
async fn onboarded_with(
    o: &Onboarding,
    options: &OnboardOptions,
) -> (
    DirectoryClient,
    onboarding::OnboardingResult,
    ClientCertificate,
) {
    let (graph, outcome) = onboard_as(o, "Global Administrator", options).await;
    let mut result = outcome.expect("onboarded");
    let certificate = result
        .new_certificate
        .take()
        .expect("a certificate made here");
    (graph, result, certificate)
}

/// The library's key roll: a certificate that expires within 30 days is replaced through `addKey`
/// (proved by the current key) and `removeKey` (proved by the new one); the app then signs in with
/// the new certificate only.
#[tokio::test]
async fn certificate_rolls_with_add_and_remove_key() {
    use exchange_connector::onboarding::rotation;
    let o = empty_tenant().await;
    let (result, current) = onboarded_expiring_in_ten_days(&o).await;
    assert!(rotation::needs_rotation(&current, chrono::Utc::now()));
    let token_of = |certificate: &ClientCertificate| app_tokens(&o, &result.client_id, certificate);
    let scope = format!("{}/.default", o.lab.endpoints.graph_base);
    let app_token = token_of(&current).token(&scope).await.unwrap();
    let next = ClientCertificate::generate("Exchange Connector", 365).unwrap();
    let rolled = rotation::roll_key(
        &o.http,
        &o.lab.endpoints.graph_base,
        &app_token,
        &result.object_id,
        &current,
        &next,
    )
    .await
    .expect("rolled");
    assert!(rolled.removed.is_some());
    assert_eq!(o.directory().await["applications"][0]["keys"], 1);
    token_of(&next)
        .token(&scope)
        .await
        .expect("the new certificate signs in");
    assert!(
        token_of(&current).token(&scope).await.is_err(),
        "the old certificate no longer signs in"
    );
}

/// The service rolls its own certificate: onboarded with a certificate that expires in ten days, the
/// running worker adds a new key to its app (`addKey`, proved by the current key), stores the new
/// certificate, removes the old key (`removeKey`), says so in status and the log, and the next run
/// still signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_rolls_its_certificate_before_it_expires() {
    use crate::worker;
    use exchange_connector::secrets::{FileStore, SecretStore as _};
    use exchange_connector::sync::SyncOutcome;
    let o = empty_tenant().await;
    let options = OnboardOptions {
        certificate_days: 10,
        hosted_exchange: true,
        ..OnboardOptions::default()
    };
    let (_, outcome) = onboard_as(&o, "Global Administrator", &options).await;
    let result = outcome.expect("onboarded");
    assert_eq!(result.consent, ConsentOutcome::Granted);
    let short = result.new_certificate.expect("a certificate made here");

    // A connector configured for the lab, then switched to the onboarded app and its certificate.
    let c = worker::configure(&o.lab);
    let answers = c.config_dir().join("onboarded.txt");
    std::fs::write(
        &answers,
        format!(
            "ClientId={}\nApplicationObjectId={}\n",
            result.client_id, result.object_id
        ),
    )
    .unwrap();
    c.cli(&["configure", "--answers", answers.to_str().unwrap()], None);
    c.use_certificate(&short);
    let store = FileStore::new(c.config_dir().join("secrets"));
    use base64::Engine as _;

    let mut child = c.start(&["--quick-interval-seconds", "2"]);
    let mut client = worker::connect(&c.socket()).await;
    let s = worker::wait_status(&mut client, "the certificate's rotation", |s| {
        s.certificate.as_ref().is_some_and(|c| c.rotated.is_some())
    })
    .await;
    let certificate = s.certificate.clone().unwrap();
    let rotated = certificate.rotated.clone().unwrap();
    assert!(rotated.contains(&short.sha1_thumbprint_hex()), "{rotated}");
    assert!(certificate.warning.is_none(), "{certificate:?}");
    assert!(certificate.expires > chrono::Utc::now() + chrono::Duration::days(300));

    // The app holds the new key only, and it is the stored certificate.
    let held: Vec<String> = o.lab.state.directory().applications[0]
        .key_credentials
        .iter()
        .map(|k| k.thumbprint.clone())
        .collect();
    let pfx = store.get("default", "ClientCertificate").unwrap().unwrap();
    let password = store
        .get("default", "CertificatePassword")
        .unwrap()
        .unwrap();
    let stored = ClientCertificate::from_pfx(
        &base64::engine::general_purpose::STANDARD
            .decode(pfx.expose())
            .unwrap(),
        &password,
    )
    .unwrap();
    assert_ne!(stored.sha1_thumbprint_hex(), short.sha1_thumbprint_hex());
    assert_eq!(held, vec![stored.sha1_thumbprint_hex()]);
    assert!(rotated.contains(&stored.sha1_thumbprint_hex()), "{rotated}");

    // Only the new certificate signs in, and the worker's next run does.
    let scope = format!("{}/.default", o.lab.endpoints.graph_base);
    app_tokens(&o, &result.client_id, &stored)
        .token(&scope)
        .await
        .expect("the stored certificate signs in");
    assert!(
        app_tokens(&o, &result.client_id, &short)
            .token(&scope)
            .await
            .is_err()
    );
    let before = s.last_report.as_ref().and_then(|r| r.run_id).unwrap_or(0);
    let after = worker::wait_status(&mut client, "a run after the rotation", |s| {
        s.last_report
            .as_ref()
            .is_some_and(|r| r.run_id.unwrap_or(0) > before)
    })
    .await;
    let report = after.last_report.unwrap();
    assert_ne!(report.outcome, SyncOutcome::Failed, "{report:?}");
    assert!(c.logs().contains("certificate was rolled"));
    assert!(worker::terminate(&mut child).success());
}

/// A failure in the middle of `apply` (the third grant refused by a lab fault) undoes what the run
/// created: no app registration, service principal or grant is left half-made, and the error says
/// what failed.
#[tokio::test]
async fn a_failure_mid_apply_leaves_nothing_half_created() {
    let o = empty_tenant().await;
    o.sign_in_settings(json!({"failGrantAfter": 2})).await;
    let token = o
        .sign_in(Some("Global Administrator"))
        .await
        .expect("signed in");
    let graph = o.graph(token);
    let plan = onboarding::plan(&graph, &o.authority, &OnboardOptions::default())
        .await
        .unwrap();
    let mut lines = Vec::new();
    let error = onboarding::apply(&graph, &o.authority, &plan, None, &mut collect(&mut lines))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OnboardingError::Graph { status: 503, .. }),
        "{error}"
    );
    assert!(
        lines.iter().filter(|l| l.starts_with("granted")).count() == 2,
        "{lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("undoing what this run created")
    );
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 0);
    assert_eq!(directory["servicePrincipals"], 0);
    assert_eq!(directory["assignments"], 0);
    // Nothing of it can sign in either.
    assert!(
        o.lab
            .state
            .tenant()
            .apps
            .iter()
            .all(|a| a.display_name != plan.app_name)
    );
}

/// The lab's Graph keeps keys as Entra does: a key's `key` (the certificate) is returned only by
/// `GET /applications/{id}?$select=keyCredentials` on one app, `null` in a list or an unselected get;
/// `PATCH` with `keyCredentials` replaces the whole collection, so a key it omits is deleted.
#[tokio::test]
async fn lab_returns_key_values_only_when_selected_and_patch_replaces_the_keys() {
    use base64::Engine as _;
    let o = empty_tenant().await;
    let (graph, result, first) = onboarded_with(&o, &OnboardOptions::default()).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&first.certificate_der);

    let listed = graph.list("list", "applications").await.unwrap().remove(0);
    assert!(listed["keyCredentials"][0]["key"].is_null(), "{listed}");
    let unselected = graph
        .get("get", &format!("applications/{}", result.object_id))
        .await
        .unwrap();
    assert!(unselected["keyCredentials"][0]["key"].is_null());
    let selected = graph
        .get(
            "get",
            &format!("applications/{}?$select=keyCredentials", result.object_id),
        )
        .await
        .unwrap();
    assert_eq!(selected["keyCredentials"][0]["key"], encoded.as_str());
    assert!(
        selected.get("displayName").is_none(),
        "only what was selected"
    );
    // A list never carries the key, even when selected.
    let listed = graph
        .list("list", "applications?$select=id,keyCredentials")
        .await
        .unwrap();
    assert!(listed[0]["keyCredentials"][0]["key"].is_null());

    // Sending the keys back as read without $select fails: their `key` is null.
    let unselected_keys = unselected["keyCredentials"].clone();
    let refused = graph
        .send(
            reqwest::Method::PATCH,
            &format!("applications/{}", result.object_id),
            Some(&json!({ "keyCredentials": unselected_keys })),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.status, 400, "{}", refused.message);

    // A PATCH with only a new key deletes the first one.
    let second = ClientCertificate::generate("Exchange Connector", 30).unwrap();
    graph
        .patch(
            "replace",
            &format!("applications/{}", result.object_id),
            &json!({ "keyCredentials": [{
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": base64::engine::general_purpose::STANDARD.encode(&second.certificate_der),
            }]}),
        )
        .await
        .unwrap();
    let held: Vec<String> = o.lab.state.directory().applications[0]
        .key_credentials
        .iter()
        .map(|k| k.thumbprint.clone())
        .collect();
    assert_eq!(held, vec![second.sha1_thumbprint_hex()]);
}

/// A second server onboards against the tenant that already has the app: it finds the app (no
/// second registration), makes its own certificate and adds its key next to the first server's
/// (Graph `GET ?$select=keyCredentials`, then `PATCH` with the existing keys and the new one); both
/// servers sign in.
#[tokio::test]
async fn a_second_server_adds_its_own_key_and_keeps_the_first() {
    let o = empty_tenant().await;
    let (_, first, first_certificate) = onboarded_with(&o, &OnboardOptions::default()).await;

    let token = o.sign_in(Some("Application Administrator")).await.unwrap();
    let graph = o.graph(token);
    let plan = onboarding::plan(&graph, &o.authority, &OnboardOptions::default())
        .await
        .unwrap();
    assert!(plan.existing.is_some());
    let actions = plan
        .actions(None)
        .iter()
        .map(|a| a.english.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        actions.contains("add this server's certificate to the existing app"),
        "{actions}"
    );
    let mut lines = Vec::new();
    let second = onboarding::apply(&graph, &o.authority, &plan, None, &mut collect(&mut lines))
        .await
        .expect("second server onboarded");
    assert_eq!(second.client_id, first.client_id);
    let second_certificate = second.new_certificate.expect("a certificate made here");
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "added this server's certificate (thumbprint {})",
            second_certificate.sha1_thumbprint_hex()
        ))),
        "{lines:?}"
    );
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 1);
    assert_eq!(directory["applications"][0]["keys"], 2);
    for certificate in [&first_certificate, &second_certificate] {
        assert!(
            signs_in(&o, &first.client_id, certificate).await,
            "each server's certificate signs in"
        );
    }
}

/// The certificate `onboard` stored in the file store of the configuration folder `config_dir`, and
/// its PFX password.
fn stored_certificate(
    config_dir: &Path,
) -> (ClientCertificate, exchange_connector::secret::Secret) {
    use base64::Engine as _;
    use exchange_connector::secrets::SecretStore as _;
    let store = exchange_connector::secrets::FileStore::new(config_dir.join("secrets"));
    let pfx = store
        .get("default", "ClientCertificate")
        .unwrap()
        .expect("certificate stored");
    let password = store
        .get("default", "CertificatePassword")
        .unwrap()
        .unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(pfx.expose())
        .unwrap();
    (
        ClientCertificate::from_pfx(&der, &password).unwrap(),
        password,
    )
}

/// Whether the app `client_id` gets a Graph token with `certificate`.
async fn signs_in(o: &Onboarding, client_id: &str, certificate: &ClientCertificate) -> bool {
    app_tokens(o, client_id, certificate)
        .token(&format!("{}/.default", o.lab.endpoints.graph_base))
        .await
        .is_ok()
}

/// The thumbprints of the keys the lab's (only) app holds, sorted.
fn held_thumbprints(o: &Onboarding) -> Vec<String> {
    let mut held: Vec<String> = o.lab.state.directory().applications[0]
        .key_credentials
        .iter()
        .map(|k| k.thumbprint.clone())
        .collect();
    held.sort();
    held
}

/// The lab's (only) app holds exactly the keys of these thumbprints.
fn assert_app_holds(o: &Onboarding, thumbprints: &[String]) {
    let mut expected = thumbprints.to_vec();
    expected.sort();
    assert_eq!(held_thumbprints(o), expected);
}

/// Two servers' keys on one app: server A's service rolls its certificate (`addKey`, store,
/// `removeKey` of its own key id), and server B's key is still there and B still signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_rolls_only_its_own_key() {
    use exchange_connector::secrets::FileStore;
    let o = empty_tenant().await;
    let (first, server_a) = onboarded_expiring_in_ten_days(&o).await;

    let token = o
        .sign_in(Some("Cloud Application Administrator"))
        .await
        .unwrap();
    let mut lines = Vec::new();
    let server_b = onboarding::add_server(
        &o.graph(token),
        &OnboardOptions::default(),
        &mut collect(&mut lines),
    )
    .await
    .expect("server B's key added");
    assert_eq!(server_b.app.app_id, first.client_id);
    let server_b = server_b.certificate;
    assert_eq!(o.directory().await["applications"][0]["keys"], 2);

    // Server A's service rolls, as the worker does.
    let c = crate::worker::configure(&o.lab);
    let mut config = exchange_connector::config::Config::load(&c.config_dir())
        .unwrap()
        .config;
    config.application_object_id = Some(first.object_id.clone());
    let scope = format!("{}/.default", o.lab.endpoints.graph_base);
    let app_token = app_tokens(&o, &first.client_id, &server_a)
        .token(&scope)
        .await
        .unwrap();
    let store = FileStore::new(c.config_dir().join("secrets"));
    let rotated = exchange_connector::service::rotation::rotate(
        &config, &store, "default", &server_a, app_token,
    )
    .await
    .expect("server A rolled");
    assert_app_holds(
        &o,
        &[
            rotated.new_thumbprint.clone(),
            server_b.sha1_thumbprint_hex(),
        ],
    );
    assert!(
        signs_in(&o, &first.client_id, &server_b).await,
        "server B still signs in"
    );
    let (rolled, _) = stored_certificate(&c.config_dir());
    assert_eq!(rolled.sha1_thumbprint_hex(), rotated.new_thumbprint);
    assert!(
        signs_in(&o, &first.client_id, &rolled).await,
        "server A signs in with its new certificate"
    );
    assert!(
        !signs_in(&o, &first.client_id, &server_a).await,
        "server A's old key is gone"
    );
}

/// `onboard` on a second server of a tenant that has the app: `--dry-run` says it would add this
/// server's certificate; the run adds it (the first server's key stays), stores it here and says so;
/// `--remove` still removes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_onboard_on_a_second_server_adds_its_own_key() {
    let o = empty_tenant().await;
    let (_, first, first_certificate) = onboarded_with(&o, &OnboardOptions::default()).await;
    let second_server = tempfile::tempdir().unwrap();
    configure_for_lab(&o, second_server.path());

    let (ok, out, err) = run_onboard(&o, second_server.path(), &["--dry-run"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "add this server's certificate to the existing app {}",
            first.client_id
        )),
        "{out}"
    );
    assert!(out.contains("Dry run: nothing was created."), "{out}");
    assert_eq!(o.directory().await["applications"][0]["keys"], 1);

    let (ok, out, err) = run_onboard(&o, second_server.path(), &[]).await;
    assert!(ok, "{out}\n{err}");
    let (stored, password) = stored_certificate(&second_server.path().join("config"));
    assert!(
        out.contains(&format!(
            "found the app {}, added this server's certificate (thumbprint {})",
            first.client_id,
            stored.sha1_thumbprint_hex()
        )),
        "{out}"
    );
    assert!(!out.contains(password.expose()));
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 1);
    assert_app_holds(
        &o,
        &[
            first_certificate.sha1_thumbprint_hex(),
            stored.sha1_thumbprint_hex(),
        ],
    );
    let config = exchange_connector::config::Config::load(&second_server.path().join("config"))
        .unwrap()
        .config;
    assert_eq!(config.client_id, first.client_id);
    assert_eq!(
        config.application_object_id.as_deref(),
        Some(first.object_id.as_str())
    );

    // Again on the second server: its key is found, nothing is added.
    let (ok, out, err) = run_onboard(&o, second_server.path(), &[]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(o.directory().await["applications"][0]["keys"], 2);

    let (ok, out, err) = run_onboard(&o, second_server.path(), &["--remove"]).await;
    assert!(ok, "{out}\n{err}");
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 0);
    assert_eq!(directory["servicePrincipals"], 0);
    assert_eq!(directory["assignments"], 0);
}

/// The README's second-server command (`package create --sign-in ...`), run as written there
/// (its `--tenant` swapped for the lab's endpoints): the package holds a new certificate whose key was
/// added to the app beside the first server's, opens with the password in its manifest (never
/// printed), and signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_package_for_a_second_server() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let documented = readme
        .lines()
        .find(|l| l.contains("package create --sign-in"))
        .expect("the README says how to make a second server's package");
    let words: Vec<&str> = documented
        .split("  #")
        .next()
        .unwrap()
        .split_whitespace()
        .skip_while(|w| *w != "package")
        .collect();
    let o = empty_tenant().await;
    let (_, outcome) = onboard_as(&o, "Global Administrator", &OnboardOptions::default()).await;
    let first = outcome.unwrap();
    let admin = tempfile::tempdir().unwrap();
    let endpoints = o.lab.dir.path().join("endpoints.json");
    // The lab's endpoints instead of the tenant's domain; the package in the admin's folder.
    let mut args: Vec<String> = Vec::new();
    let mut zip = None;
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        match *word {
            "--tenant" => {
                rest.next();
                args.push("--lab-endpoints".into());
                args.push(endpoints.to_string_lossy().into_owned());
            }
            "--out" => {
                let out = admin.path().join(rest.next().unwrap());
                args.push("--out".into());
                args.push(out.to_string_lossy().into_owned());
                zip = Some(out);
            }
            word => args.push(word.to_string()),
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run_signing_in(&o, admin.path(), &args, "Application Administrator").await;
    assert!(ok, "{args:?}\n{out}\n{err}");
    let zip = zip.expect("the documented command names --out");
    let package = exchange_connector::package::ConnectorPackage::read(&zip).unwrap();
    assert_eq!(package.manifest.client_id, first.client_id);
    assert_eq!(package.manifest.tenant_id, o.lab.endpoints.tenant_id);
    let certificate = ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )
    .unwrap();
    assert!(
        !out.contains(package.manifest.certificate_password.expose())
            && !err.contains(package.manifest.certificate_password.expose()),
        "the password is never printed"
    );
    assert!(
        out.contains(&format!(
            "added this server's certificate (thumbprint {})",
            certificate.sha1_thumbprint_hex()
        )),
        "{out}"
    );
    assert_app_holds(
        &o,
        &[
            first.new_certificate.unwrap().sha1_thumbprint_hex(),
            certificate.sha1_thumbprint_hex(),
        ],
    );
    assert!(
        signs_in(&o, &first.client_id, &certificate).await,
        "the package's certificate signs in"
    );
}

/// `package create --sign-in` where nothing was onboarded tells the admin to onboard first, and an
/// admin who may not change the app is told which role can; neither changes anything or writes a
/// package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_for_a_second_server_bad_cases() {
    let o = empty_tenant().await;
    let admin = tempfile::tempdir().unwrap();
    let endpoints = o.lab.dir.path().join("endpoints.json");
    let out = admin.path().join("second.zip");
    let args = [
        "package",
        "create",
        "--sign-in",
        "--lab-endpoints",
        endpoints.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    // Fails with an error that says each of `expected`, and writes no package.
    let refused = |role: &'static str, expected: &'static [&'static str]| {
        let (o, admin, args, out) = (&o, admin.path(), &args, &out);
        async move {
            let (ok, stdout, err) = run_signing_in(o, admin, args, role).await;
            assert!(!ok, "{stdout}");
            assert!(expected.iter().all(|e| err.contains(e)), "{err}");
            assert!(!out.exists());
        }
    };
    refused(
        "Global Administrator",
        &[
            "no app registration tagged ExchangeConnectorOnboarded",
            "onboard",
        ],
    )
    .await;
    assert_eq!(
        o.directory().await["applications"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "never creates an app"
    );

    let (_, outcome) = onboard_as(&o, "Global Administrator", &OnboardOptions::default()).await;
    outcome.unwrap();
    refused(
        "Intune Administrator",
        &[
            "may not change the certificates",
            "Application Administrator",
        ],
    )
    .await;
    assert_eq!(o.directory().await["applications"][0]["keys"], 1);
}

/// A second server's onboarding that fails after its key was added (a grant refused by a lab fault)
/// takes that key off again: the app keeps exactly the first server's key.
#[tokio::test]
async fn a_second_server_failing_mid_apply_takes_its_key_off_again() {
    let o = empty_tenant().await;
    // The first server's admin may create the app but not grant: the grants are still missing.
    let (_, outcome) =
        onboard_as(&o, "Application Administrator", &OnboardOptions::default()).await;
    let first = outcome.unwrap();
    let first_certificate = first.new_certificate.unwrap();
    o.sign_in_settings(json!({"failGrantAfter": 0})).await;
    let (_, outcome) = onboard_as(&o, "Global Administrator", &OnboardOptions::default()).await;
    let error = outcome.unwrap_err();
    assert!(
        matches!(&error, OnboardingError::Graph { status: 503, .. }),
        "{error}"
    );
    assert_eq!(
        held_thumbprints(&o),
        vec![first_certificate.sha1_thumbprint_hex()]
    );
}

/// The admin closed the browser (or never signed in): the flow ends with a clear error after its
/// wait, and nothing was created.
#[tokio::test]
async fn a_browser_closed_before_sign_in_is_a_clear_error_and_creates_nothing() {
    let o = empty_tenant().await;
    let flow = AuthCodeSignIn::start(o.http.clone(), o.authority.clone(), SIGN_IN_CLIENT)
        .await
        .unwrap();
    let error = flow
        .finish(Duration::from_secs(1))
        .await
        .expect_err("no browser came back");
    let text = error.to_string();
    assert!(text.contains("browser closed?"), "{text}");
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 0);
}

/// Someone deleted the connector's app in the Entra admin center: the connector's sign-in says so
/// (AADSTS700016 and what to do), and onboarding again makes a new, working app — no leftovers of
/// the old one are reused.
#[tokio::test]
async fn an_app_deleted_behind_our_back_is_named_and_onboarding_again_recreates_it() {
    let o = empty_tenant().await;
    let (graph, result) = onboard_as(&o, "Global Administrator", &OnboardOptions::default()).await;
    let first = result.expect("onboarded");
    let certificate = first
        .new_certificate
        .clone()
        .expect("a certificate made here");
    let deleted = graph
        .send(
            reqwest::Method::DELETE,
            &format!("applications/{}", first.object_id),
            None,
        )
        .await
        .expect("Graph answered");
    assert!(deleted.is_ok(), "{deleted:?}");

    let scope = format!("{}/.default", o.lab.endpoints.graph_base);
    let refused = app_tokens(&o, &first.client_id, &certificate)
        .token(&scope)
        .await
        .expect_err("the deleted app cannot sign in");
    let text = exchange_connector::error_text::chain(&refused);
    assert!(
        text.contains("700016") && text.contains("no app with this client id"),
        "{text}"
    );

    let plan = onboarding::plan(&graph, &o.authority, &OnboardOptions::default())
        .await
        .unwrap();
    assert!(
        plan.existing.is_none(),
        "the deleted app is not found again"
    );
    let mut lines = Vec::new();
    let again = onboarding::apply(&graph, &o.authority, &plan, None, &mut collect(&mut lines))
        .await
        .expect("onboarded again");
    assert_ne!(again.client_id, first.client_id);
    let renewed = again.new_certificate.expect("a new certificate");
    app_tokens(&o, &again.client_id, &renewed)
        .token(&scope)
        .await
        .expect("the new app signs in");
    let directory = o.directory().await;
    assert_eq!(directory["applications"].as_array().unwrap().len(), 1);
    assert_eq!(directory["servicePrincipals"], 1);
}
