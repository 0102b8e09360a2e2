//! `diagnose`: checks the configured path end to end, one line per check with OK/FAIL and a fix for
//! each failure, in the order a connection is built (configuration, secrets, DNS, TLS, proxy, Exchange
//! sign-in and cmdlets, Autodiscover, EWS, Graph sign-in and permissions); the diagnostics bundle
//! (`.zip`, every secret redacted); and `--user`: "why is this phone blocked?".

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, ExchangeServerType};
use crate::notify::{AuthScheme, MailboxCredential};
use crate::policy::PolicySettings;
use crate::secret::Secret;
use crate::secrets::SecretStore;
use crate::service::setup;
use crate::sync::SyncEngine;

/// Every secret key the store may hold for an instance (all are redacted from bundles).
pub const SECRET_KEYS: &[&str] = &[
    "ExchangePassword",
    "NotificationPassword",
    "ClientSecret",
    "ClientCertificate",
    "CertificatePassword",
    "ProxyPassword",
];

/// How long one network check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Passed.
    Ok,
    /// Failed: see the fix.
    Fail,
    /// Not run (an earlier check failed, or it does not apply).
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`Exchange sign-in`, ...).
    pub name: String,
    /// Result.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, for a failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }

    /// The check as one line (`OK   name: detail` / `FAIL name: detail -> fix`).
    pub fn line(&self) -> String {
        let word = match self.status {
            Status::Ok => "OK  ",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        match &self.fix {
            Some(fix) => format!("{word} {}: {} -> fix: {fix}", self.name, self.detail),
            None => format!("{word} {}: {}", self.name, self.detail),
        }
    }
}

/// The report as text, one line per check.
pub fn report_text(checks: &[Check]) -> String {
    let mut out: String = checks.iter().map(|c| c.line() + "\n").collect();
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    out.push_str(&if failed == 0 {
        "All checks passed.\n".to_string()
    } else {
        format!("{failed} check(s) failed.\n")
    });
    out
}

/// What the checks run against.
pub struct Target<'a> {
    /// Configuration folder.
    pub config_dir: &'a Path,
    /// Instance (secret entries).
    pub instance: &'a str,
    /// The secret store (the worker's, when diagnose runs as the service's user).
    pub secrets: &'a dyn SecretStore,
}

fn host_port(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_matches(['[', ']']).to_string();
    Some((host, u.port_or_known_default()?))
}

/// Runs every check in order; later checks are skipped when what they need failed.
pub async fn run_checks(target: &Target<'_>) -> Vec<Check> {
    let mut checks = Vec::new();
    // 1. Configuration.
    let config = match Config::load(target.config_dir) {
        Ok(loaded) => {
            checks.push(Check::ok(
                "configuration",
                format!(
                    "{} is valid{}",
                    target.config_dir.join(crate::config::CONFIG_FILE).display(),
                    if loaded.warnings.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", loaded.warnings.join("; "))
                    }
                ),
            ));
            loaded.config
        }
        Err(e) => {
            checks.push(Check::fail(
                "configuration",
                crate::error_text::chain(&e),
                "run `exchange-connector-service configure` (or the setup) to write a valid configuration",
            ));
            return checks;
        }
    };
    // 2. Secrets.
    let on_prem = config.exchange_server_type == ExchangeServerType::OnPremises;
    let mut needed: Vec<&str> = Vec::new();
    if on_prem {
        needed.push("ExchangePassword");
    }
    if config.notification_mailbox.is_some() {
        needed.push("NotificationPassword");
    }
    if config.proxy.enabled && config.proxy.user.is_some() {
        needed.push("ProxyPassword");
    }
    let mut missing = Vec::new();
    for key in &needed {
        match target.secrets.get(target.instance, key) {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(key.to_string()),
            Err(e) => missing.push(format!("{key} ({e})")),
        }
    }
    let app = setup::client_credential(target.secrets, target.instance);
    if let Err(e) = &app {
        missing.push(e.to_string());
    }
    if missing.is_empty() {
        checks.push(Check::ok(
            "secrets",
            format!(
                "stored in the {}: {}",
                target.secrets.describe(),
                needed.join(", ") + if needed.is_empty() { "" } else { ", " } + "app credential"
            ),
        ));
    } else {
        checks.push(Check::fail(
            "secrets",
            format!("missing: {}", missing.join("; ")),
            "store them with `exchange-connector-service configure --answers FILE --secrets-stdin` (run it as an administrator while the service runs: they are handed to the service's own store)",
        ));
    }

    // 3. DNS of the Exchange endpoint.
    let exchange_url = if on_prem {
        config.powershell_url()
    } else {
        config.exchange_rest_base.clone()
    };
    let exchange_endpoint = host_port(&exchange_url);
    let dns_ok = match &exchange_endpoint {
        Some((host, port)) => {
            match tokio::time::timeout(
                CHECK_TIMEOUT,
                tokio::net::lookup_host((host.as_str(), *port)),
            )
            .await
            {
                Ok(Ok(addrs)) => {
                    let addrs: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                    checks.push(Check::ok(
                        "DNS",
                        format!("{host} resolves to {}", addrs.join(", ")),
                    ));
                    true
                }
                Ok(Err(e)) => {
                    checks.push(Check::fail(
                        "DNS",
                        format!("{host} does not resolve: {e}"),
                        "check ExchangeServer / ExchangePowerShellURL and this machine's DNS servers",
                    ));
                    false
                }
                Err(_) => {
                    checks.push(Check::fail(
                        "DNS",
                        format!("{host}: no answer within {} s", CHECK_TIMEOUT.as_secs()),
                        "check this machine's DNS servers",
                    ));
                    false
                }
            }
        }
        None => {
            checks.push(Check::fail(
                "DNS",
                format!("'{exchange_url}' is not a URL"),
                "fix ExchangePowerShellURL or ExchangeRestBase",
            ));
            false
        }
    };

    // 4. TLS per endpoint (direct; through a proxy the proxy's CONNECT is checked instead).
    let proxy = config.proxy_spec();
    let mut endpoints: Vec<(&str, String)> = vec![
        ("Exchange", exchange_url.clone()),
        ("sign-in", config.login_base.clone()),
        ("Graph", config.graph_base.clone()),
    ];
    if let Some(ews) = &config.exchange_web_service_url {
        endpoints.push(("EWS", ews.clone()));
    }
    let tls_config = crate::tls::client_config(config.trusted_ca_file.as_deref());
    let mut exchange_tls_ok = dns_ok;
    match (&proxy, tls_config) {
        (Ok(Some(_)), _) => checks.push(Check::skip(
            "TLS",
            "a proxy is configured: TLS is negotiated through it (see the sign-in checks)",
        )),
        (_, Err(e)) => {
            exchange_tls_ok = false;
            checks.push(Check::fail(
                "TLS",
                e.to_string(),
                "fix TrustedCaFile: it must be a readable PEM file",
            ));
        }
        (_, Ok(tls)) => {
            let tls = Arc::new(tls);
            for (label, url) in &endpoints {
                let name = format!("TLS to {label}");
                let check = match host_port(url) {
                    Some((host, port)) => tls_check(&name, tls.clone(), &host, port).await,
                    None => Check::fail(name, format!("'{url}' is not a URL"), "fix the URL"),
                };
                if *label == "Exchange" && check.status != Status::Ok {
                    exchange_tls_ok = false;
                }
                checks.push(check);
            }
        }
    }

    // 5. Proxy.
    match &proxy {
        Ok(None) => checks.push(Check::skip("proxy", "no proxy configured")),
        Ok(Some(spec)) => {
            let authority = spec.authority();
            match tokio::time::timeout(
                CHECK_TIMEOUT,
                tokio::net::TcpStream::connect(authority.as_str()),
            )
            .await
            {
                Ok(Ok(_)) => checks.push(Check::ok(
                    "proxy",
                    format!("{authority} accepts connections"),
                )),
                Ok(Err(e)) => checks.push(Check::fail(
                    "proxy",
                    format!("{authority}: {e}"),
                    "check ProxyHost/ProxyPort and that the proxy runs",
                )),
                Err(_) => checks.push(Check::fail(
                    "proxy",
                    format!("{authority}: no answer"),
                    "check ProxyHost/ProxyPort and the firewall",
                )),
            }
        }
        Err(e) => checks.push(Check::fail(
            "proxy",
            e.to_string(),
            "fix ProxyHost / ProxyPort",
        )),
    }

    // 6-7. Exchange sign-in and cmdlet permissions.
    let policy = setup::policy_from_file(target.config_dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    let engine = if missing.is_empty() {
        build_probe(&config, target).map_err(|e| e.to_string())
    } else {
        Err("secrets are missing".to_string())
    };
    match &engine {
        Err(e) => {
            checks.push(Check::skip("Exchange sign-in", format!("not tried: {e}")));
            checks.push(Check::skip("cmdlet permissions", "not tried"));
        }
        Ok(_) if !exchange_tls_ok => {
            checks.push(Check::fail(
                "Exchange sign-in",
                format!("{exchange_url} cannot be reached (see DNS/TLS above)"),
                "start the Client Access server or point ExchangePowerShellURL at one that runs",
            ));
            checks.push(Check::skip("cmdlet permissions", "not tried"));
        }
        Ok(engine) => {
            let result = tokio::time::timeout(
                Duration::from_secs(120),
                engine.exchange().check_permissions(),
            )
            .await;
            match result {
                Ok(Ok(report)) => {
                    checks.push(Check::ok(
                        "Exchange sign-in",
                        format!(
                            "a session to {exchange_url} opened as {}",
                            config.exchange_user
                        ),
                    ));
                    if report.missing_required.is_empty() {
                        checks.push(Check::ok(
                            "cmdlet permissions",
                            format!(
                                "all required cmdlets granted ({} available)",
                                report.granted.len()
                            ),
                        ));
                    } else {
                        checks.push(Check::fail(
                            "cmdlet permissions",
                            format!("the account cannot run: {}", report.missing_required.join(", ")),
                            "assign the service account a role (e.g. Organization Management, or a custom role with these cmdlets)",
                        ));
                    }
                }
                Ok(Err(e)) => {
                    let text = crate::error_text::chain(&e);
                    checks.push(Check::fail(
                        "Exchange sign-in",
                        text,
                        "check ExchangeUser and the ExchangePassword (store it again with configure), that the account is not locked or expired, and PowerShellAuthentication",
                    ));
                    checks.push(Check::skip("cmdlet permissions", "not tried"));
                }
                Err(_) => {
                    checks.push(Check::fail(
                        "Exchange sign-in",
                        "no answer within 120 s",
                        "check that the Client Access server's /PowerShell/ endpoint answers",
                    ));
                    checks.push(Check::skip("cmdlet permissions", "not tried"));
                }
            }
        }
    }

    // 8-9. Autodiscover and EWS.
    let notification = config.notification_mailbox.clone();
    let password = target
        .secrets
        .get(target.instance, "NotificationPassword")
        .ok()
        .flatten();
    let http = crate::tls::http_client_builder(config.trusted_ca_file.as_deref())
        .ok()
        .and_then(|b| crate::notify::auth::http1_client(b.timeout(CHECK_TIMEOUT)).ok());
    let mut ews_url = config.exchange_web_service_url.clone();
    match (&notification, &ews_url, &http) {
        (None, _, _) => checks.push(Check::skip("Autodiscover", "no NotificationMailbox")),
        (_, Some(url), _) => checks.push(Check::skip(
            "Autodiscover",
            format!("ExchangeWebServiceURL is set ({url})"),
        )),
        (_, _, None) => checks.push(Check::fail(
            "Autodiscover",
            "cannot build the HTTP client",
            "check TrustedCaFile",
        )),
        (Some(mailbox), None, Some(http)) => {
            let credential = MailboxCredential {
                user: mailbox.clone(),
                password: password.clone().unwrap_or_else(|| Secret::new("")),
                scheme: AuthScheme::Ntlm,
            };
            match crate::notify::autodiscover::discover(http, mailbox, &credential).await {
                Ok(found) => {
                    checks.push(Check::ok(
                        "Autodiscover",
                        format!("{} via {} ({:?})", found.ews_url, found.via, found.protocol),
                    ));
                    ews_url = Some(found.ews_url);
                }
                Err(e) => checks.push(Check::fail(
                    "Autodiscover",
                    format!("no EWS URL for {mailbox}: {} candidate(s) failed", e.attempts.len()),
                    format!(
                        "make autodiscover.{} (or {}) resolve to a Client Access server over HTTPS, or set ExchangeWebServiceURL",
                        e.domain, e.domain
                    ),
                )),
            }
        }
    }
    match (&ews_url, &http) {
        (Some(url), Some(http)) => {
            match http
                .post(url)
                .header("Content-Type", "text/xml; charset=utf-8")
                .body("")
                .send()
                .await
            {
                Ok(r) if r.status().is_server_error() => checks.push(Check::fail(
                    "EWS",
                    format!("{url} answered HTTP {}", r.status().as_u16()),
                    "check the EWS virtual directory on the Client Access server",
                )),
                Ok(r) => checks.push(Check::ok(
                    "EWS",
                    format!(
                        "{url} answers (HTTP {} before sign-in)",
                        r.status().as_u16()
                    ),
                )),
                Err(e) => checks.push(Check::fail(
                    "EWS",
                    format!("{url}: {}", crate::error_text::chain(&e)),
                    "check ExchangeWebServiceURL, DNS and the firewall",
                )),
            }
        }
        _ => checks.push(Check::skip("EWS", "no EWS URL")),
    }

    // 10-11. Graph sign-in and permissions.
    graph_checks(&config, &app, &policy, &mut checks).await;
    if let Ok(engine) = engine {
        engine.shutdown().await;
    }
    checks
}

/// An engine only to reach Exchange with the configured transport (default policy; it never runs).
fn build_probe(config: &Config, target: &Target<'_>) -> Result<SyncEngine, String> {
    // An in-memory-like store in a temporary place would do, but the real one is harmless: nothing
    // is written until a run.
    setup::sync_setup(
        config,
        target.secrets,
        target.instance,
        target.config_dir,
        PolicySettings::default(),
    )
    .map_err(|e| e.to_string())?
    .build()
    .map_err(|e| e.to_string())
}

async fn tls_check(name: &str, tls: Arc<rustls::ClientConfig>, host: &str, port: u16) -> Check {
    let server_name = match rustls::pki_types::ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => return Check::fail(name, format!("{host}: {e}"), "fix the host name"),
    };
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        let version = stream
            .get_ref()
            .1
            .protocol_version()
            .map(|v| match v {
                rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
                rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
                other => format!("{other:?}"),
            })
            .unwrap_or_else(|| "unknown version".into());
        Ok::<_, String>(version)
    };
    match tokio::time::timeout(CHECK_TIMEOUT, attempt).await {
        Ok(Ok(version)) => Check::ok(name, format!("{host}:{port} negotiated {version}")),
        Ok(Err(e)) if e.contains("cannot connect") => Check::fail(
            name,
            e,
            "check that the server runs and that the firewall allows HTTPS from this machine",
        ),
        Ok(Err(e)) => Check::fail(
            name,
            e,
            "trust the server's CA (TrustedCaFile, or the OS store) and make sure it offers TLS 1.2 or newer",
        ),
        Err(_) => Check::fail(
            name,
            format!(
                "{host}:{port}: no answer within {} s",
                CHECK_TIMEOUT.as_secs()
            ),
            "check the firewall",
        ),
    }
}

async fn graph_checks(
    config: &Config,
    app: &Result<crate::oauth::ClientCredential, setup::SetupProblem>,
    policy: &PolicySettings,
    checks: &mut Vec<Check>,
) {
    let Ok(credential) = app else {
        checks.push(Check::skip("Graph sign-in", "no app credential stored"));
        checks.push(Check::skip("Graph permissions", "not tried"));
        return;
    };
    let http = match crate::tls::http_client_builder(config.trusted_ca_file.as_deref())
        .map_err(|e| e.to_string())
        .and_then(|b| b.timeout(CHECK_TIMEOUT).build().map_err(|e| e.to_string()))
    {
        Ok(h) => h,
        Err(e) => {
            checks.push(Check::fail("Graph sign-in", e, "check TrustedCaFile"));
            return;
        }
    };
    let tokens = crate::oauth::TokenClient::new(
        crate::oauth::OAuthConfig::new(
            &config.login_base,
            &config.tenant_id,
            &config.client_id,
            credential.clone(),
        ),
        http.clone(),
    );
    let token = match tokens.token(setup::GRAPH_SCOPE).await {
        Ok(t) => {
            checks.push(Check::ok(
                "Graph sign-in",
                format!(
                    "token for app {} in tenant {}",
                    config.client_id, config.tenant_id
                ),
            ));
            t
        }
        Err(e) => {
            checks.push(Check::fail(
                "Graph sign-in",
                crate::error_text::chain(&e),
                "import the current connector package (or store the current ClientSecret); check TenantId and ClientId",
            ));
            checks.push(Check::skip("Graph permissions", "not tried"));
            return;
        }
    };
    let base = config.graph_base.trim_end_matches('/');
    let mut reads = vec![(
        "managed devices",
        format!("{base}/v1.0/deviceManagement/managedDevices?$top=1&$select=id"),
        "grant the app DeviceManagementManagedDevices.Read.All (admin consent)",
    )];
    if let Some(group) = policy.included_groups.first() {
        reads.push((
            "groups",
            format!("{base}/v1.0/groups/{group}?$select=id"),
            "grant the app GroupMember.Read.All (admin consent)",
        ));
    }
    let mut problems = Vec::new();
    let mut passed = Vec::new();
    for (what, url, fix) in reads {
        match http.get(&url).bearer_auth(token.expose()).send().await {
            Ok(r) if r.status().is_success() => passed.push(what),
            Ok(r) => problems.push((format!("{what}: HTTP {}", r.status().as_u16()), fix)),
            Err(e) => problems.push((
                format!("{what}: {}", crate::error_text::chain(&e)),
                "check that Graph is reachable",
            )),
        }
    }
    if problems.is_empty() {
        checks.push(Check::ok(
            "Graph permissions",
            format!("read {}", passed.join(" and ")),
        ));
    } else {
        let detail: Vec<String> = problems.iter().map(|(d, _)| d.clone()).collect();
        let fixes: Vec<&str> = problems.iter().map(|(_, f)| *f).collect();
        checks.push(Check::fail(
            "Graph permissions",
            detail.join("; "),
            fixes.join("; "),
        ));
    }
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// File I/O.
    #[error("diagnostics bundle {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The zip writer.
    #[error("diagnostics bundle {path}: {message}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Replaces every secret (and its base64 forms) with `***`.
#[derive(Debug, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for every secret stored for the instance, plus `extra`.
    pub fn from_store(store: &dyn SecretStore, instance: &str, extra: &[Secret]) -> Redactor {
        let mut r = Redactor::default();
        for key in SECRET_KEYS {
            if let Ok(Some(s)) = store.get(instance, key) {
                r.add(s.expose());
            }
        }
        for s in extra {
            r.add(s.expose());
        }
        r
    }

    /// Adds a secret.
    pub fn add(&mut self, secret: &str) {
        use base64::Engine as _;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        // Very short values would redact ordinary text; they are not secrets worth the name.
        if secret.len() < 4 {
            return;
        }
        self.needles.push(secret.to_string());
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            self.needles.push(engine.encode(secret.as_bytes()));
        }
        // A base64 secret (the certificate) may also appear decoded-and-reencoded without padding.
        self.needles.push(secret.trim_end_matches('=').to_string());
        // Longest first, so a secret inside another's encoding is not half-replaced.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        self.needles.dedup();
    }

    /// The text with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if !n.is_empty() && out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "***");
            }
        }
        out
    }
}

/// What goes into a bundle besides the configuration folder's file.
#[derive(Debug)]
pub struct BundleInput<'a> {
    /// Configuration folder.
    pub config_dir: &'a Path,
    /// Log folder (the newest files are included, each cut to its last 2 MB).
    pub log_dir: &'a Path,
    /// The diagnose report text.
    pub report: &'a str,
}

/// Writes the diagnostics `.zip`: configuration, recent logs, recent runs and changes, the diagnose
/// report. Entries are stored uncompressed so a scan of the file's bytes finds any secret that slipped
/// through; every text passes the redactor first.
pub fn write_bundle(
    path: &Path,
    input: &BundleInput<'_>,
    redactor: &Redactor,
) -> Result<(), BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let zerr = |e: zip::result::ZipError| BundleError::Zip {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut entries: Vec<(String, String)> = Vec::new();
    let config_file = input.config_dir.join(crate::config::CONFIG_FILE);
    entries.push((
        crate::config::CONFIG_FILE.to_string(),
        std::fs::read_to_string(&config_file)
            .unwrap_or_else(|e| format!("cannot read {}: {e}", config_file.display())),
    ));
    if let Ok(text) = std::fs::read_to_string(input.config_dir.join(setup::POLICY_FILE)) {
        entries.push((setup::POLICY_FILE.to_string(), text));
    }
    entries.push(("diagnose.txt".into(), input.report.to_string()));
    // Recent runs and changes from the store.
    let store_path = input.config_dir.join(setup::STATE_DB);
    let runs = match crate::store::Store::open(&store_path) {
        Ok(store) => {
            let runs = store.recent_runs(50).map(|runs| {
                runs.iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id.0, "kind": r.kind.as_str(), "started_at": r.started_at,
                            "ended_at": r.ended_at, "outcome": r.outcome.as_str(),
                            "error": r.error, "counts": r.counts,
                        })
                    })
                    .collect::<Vec<_>>()
            });
            let status = crate::sync::status_report(&store).ok();
            serde_json::to_string_pretty(&serde_json::json!({
                "runs": runs.unwrap_or_default(),
                "status": status,
            }))
            .unwrap_or_default()
        }
        Err(e) => format!("cannot open the state store {}: {e}", store_path.display()),
    };
    entries.push(("runs.json".into(), runs));
    // The newest log files.
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(input.log_dir)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect()
        })
        .unwrap_or_default();
    logs.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, log) in logs.into_iter().take(3) {
        let bytes = std::fs::read(&log).unwrap_or_default();
        let tail = &bytes[bytes.len().saturating_sub(2 * 1024 * 1024)..];
        let name = log
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        entries.push((
            format!("logs/{name}"),
            String::from_utf8_lossy(tail).into_owned(),
        ));
    }
    // Owner-only: the bundle is redacted, but names mailboxes, servers and devices.
    let file = crate::file_rights::create_owner_only(path).map_err(io)?;
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in entries {
        zip.start_file(name, options).map_err(zerr)?;
        zip.write_all(redactor.redact(&text).as_bytes())
            .map_err(io)?;
    }
    zip.finish().map_err(zerr)?;
    Ok(())
}

/// Why `--user` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Building the clients.
    #[error("{0}")]
    Setup(String),
    /// Exchange refused the lookup.
    #[error("Exchange: {0}")]
    Exchange(#[from] crate::exchange::ExchangeError),
}

/// "Why is this phone blocked?": each of the user's devices with Exchange's state and reason
/// (`Get-MobileDevice -Mailbox`), Intune's record (the managed device with that `easDeviceId`) and the
/// connector's last decision with its reason and when it was applied.
pub async fn explain_user(
    config_dir: &Path,
    secrets: &dyn SecretStore,
    instance: &str,
    upn: &str,
) -> Result<String, ExplainError> {
    use std::fmt::Write as _;
    let config = Config::load(config_dir)?.config;
    let engine = build_probe(
        &config,
        &Target {
            config_dir,
            instance,
            secrets,
        },
    )
    .map_err(ExplainError::Setup)?;
    let devices = engine.exchange().mailbox_devices(upn).await;
    let devices = match devices {
        Ok(d) => d,
        Err(e) => {
            engine.shutdown().await;
            return Err(e.into());
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "{upn}: {} device(s) in Exchange", devices.len());
    for device in &devices {
        let _ = writeln!(
            out,
            "\n{} ({} {}, DeviceId {})",
            device.friendly_name.as_deref().unwrap_or(&device.name),
            device.device_type,
            device.device_model.as_deref().unwrap_or(""),
            device.device_id
        );
        let _ = writeln!(
            out,
            "  Exchange: {:?}, reason {:?}{}",
            device.device_access_state,
            device.device_access_state_reason,
            device
                .device_access_control_rule
                .as_deref()
                .map(|r| format!(" (rule {r})"))
                .unwrap_or_default()
        );
        // DeviceIds are letters and digits; anything else is not put in a filter.
        let intune = if device.device_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            engine
                .intune()
                .managed_devices(Some(&format!("easDeviceId eq '{}'", device.device_id)))
                .await
                .map_err(|e| e.to_string())
        } else {
            Ok(Vec::new())
        };
        match intune {
            Ok(records) if records.is_empty() => {
                let _ = writeln!(
                    out,
                    "  Intune: no managed device with this Exchange ActiveSync id (not enrolled, or enrolled without the mail profile)"
                );
            }
            Ok(records) => {
                for r in records {
                    let _ = writeln!(
                        out,
                        "  Intune: {} {}, compliance {:?}, access {:?} ({:?}), last check-in {}",
                        r.device_name.as_deref().unwrap_or(&r.id),
                        r.operating_system.as_deref().unwrap_or(""),
                        r.compliance_state,
                        r.exchange_access_state,
                        r.exchange_access_state_reason,
                        r.last_sync_date_time
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into())
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  Intune: cannot read ({e})");
            }
        }
        let decision = engine.with_store(|s| s.decisions_for_device(&device.device_id));
        match decision
            .ok()
            .and_then(|d| d.into_iter().max_by_key(|r| r.decided_at))
        {
            Some(d) => {
                let _ = writeln!(
                    out,
                    "  Connector: {:?} because {} (reason {:?}), decided {}, {}",
                    d.decision.desired,
                    d.decision.explanation,
                    d.decision.reason,
                    d.decided_at.to_rfc3339(),
                    d.applied_at
                        .map(|t| format!("applied {}", t.to_rfc3339()))
                        .unwrap_or_else(|| "not applied (nothing to change, or not yet)".into())
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  Connector: no decision yet (no sync has seen this device)"
                );
            }
        }
    }
    engine.shutdown().await;
    Ok(out)
}
