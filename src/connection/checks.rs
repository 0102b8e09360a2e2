//! The connection checks, in the order a connection is built: the stored secrets and the app's
//! certificate, DNS and TLS per endpoint, the proxy, Exchange sign-in and cmdlet rights, the
//! notification path (Autodiscover, EWS), Intune sign-in and permissions. Connect shows them as its
//! lines (one per [`CheckId`], titles translated) and `diagnose` prints them with their fixes; both
//! run this one pipeline on clients built by [`super::Clients`], so both go through the configured
//! proxy for every call.
//!
//! Each result is a [`Check`]: its line ([`CheckId`]), its own name (`TLS to Exchange`, stable: scripts
//! and tests look for it), OK/FAIL/SKIP, what was found and, for a failure, why and what to do.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{ClientOptions, Clients, SyncSetup};
use crate::coded;
use crate::config::{Config, ExchangeServerType};
use crate::error_text::chain;
use crate::intune::IntuneClient;
use crate::model::intune::ExchangeConnector;
use crate::notify::{GraphMailError, MailRoute};
use crate::policy::PolicySettings;
use crate::secrets::SecretStore;
use crate::service::setup;
use crate::text_code::TextCode;

/// How long one network check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the Exchange sign-in (opening a session and reading the role assignments) may take.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(120);

/// The lines of the checks, in the order they run (Connect shows one line per id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckId {
    /// The configuration, the package (or the stored app credential) and the other secrets.
    Package,
    /// DNS and TLS to the Exchange server (and the other endpoints).
    Server,
    /// The proxy and its credentials.
    Proxy,
    /// Exchange sign-in.
    SignIn,
    /// The cmdlets the account may run.
    Cmdlets,
    /// Autodiscover and EWS for the notification account.
    Notification,
    /// Intune sign-in, permissions and the connector registration.
    Intune,
    /// Secrets and configuration saved.
    Save,
}

impl CheckId {
    /// Every line, in order.
    pub const ALL: [CheckId; 8] = [
        CheckId::Package,
        CheckId::Server,
        CheckId::Proxy,
        CheckId::SignIn,
        CheckId::Cmdlets,
        CheckId::Notification,
        CheckId::Intune,
        CheckId::Save,
    ];

    /// The i18n key of the line's title.
    pub fn label_key(self) -> &'static str {
        match self {
            CheckId::Package => "chk_package",
            CheckId::Server => "chk_server",
            CheckId::Proxy => "chk_proxy",
            CheckId::SignIn => "chk_signin",
            CheckId::Cmdlets => "chk_cmdlets",
            CheckId::Notification => "chk_notify",
            CheckId::Intune => "chk_intune",
            CheckId::Save => "chk_save",
        }
    }
}

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

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its line.
    pub id: CheckId,
    /// What was checked (`Exchange sign-in`, `TLS to Graph`, ...).
    pub name: String,
    /// Result.
    pub status: Status,
    /// What was found; for a failure, what failed (English).
    pub detail: String,
    /// Why it failed: the server's own words when it gave any (never translated).
    pub cause: Option<String>,
    /// What to do, for a failure (English).
    pub fix: Option<String>,
    /// The detail as a code with parameters, which the GUI translates.
    #[serde(skip)]
    pub detail_code: Box<TextCode>,
    /// The fix as a code with parameters, which the GUI translates.
    #[serde(skip)]
    pub fix_code: Option<Box<TextCode>>,
}

impl Check {
    fn with(id: CheckId, name: String, status: Status, detail: TextCode) -> Check {
        Check {
            id,
            name,
            status,
            detail: detail.english.clone(),
            cause: None,
            fix: None,
            detail_code: Box::new(detail),
            fix_code: None,
        }
    }

    /// A passed check.
    pub fn ok(id: CheckId, name: impl Into<String>, detail: impl Into<TextCode>) -> Check {
        Check::with(id, name.into(), Status::Ok, detail.into())
    }

    /// A failed check: what failed, why (the server's words, kept as they are), and what to do.
    pub fn fail(
        id: CheckId,
        name: impl Into<String>,
        detail: impl Into<TextCode>,
        cause: impl Into<String>,
        fix: impl Into<TextCode>,
    ) -> Check {
        let cause = cause.into();
        let fix = fix.into();
        Check {
            cause: (!cause.is_empty()).then_some(cause),
            fix: Some(fix.english.clone()),
            fix_code: Some(Box::new(fix)),
            ..Check::with(id, name.into(), Status::Fail, detail.into())
        }
    }

    /// A check not run.
    pub fn skip(id: CheckId, name: impl Into<String>, detail: impl Into<TextCode>) -> Check {
        Check::with(id, name.into(), Status::Skip, detail.into())
    }

    /// The check as one line (`OK   name: detail` / `FAIL name: detail: cause -> fix: ...`).
    pub fn line(&self) -> String {
        let word = match self.status {
            Status::Ok => "OK  ",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        let mut text = format!("{word} {}: {}", self.name, self.detail);
        if let Some(cause) = &self.cause {
            // "What failed." reads on with its cause; a phrase takes a colon.
            text.push_str(if self.detail.ends_with('.') {
                " "
            } else {
                ": "
            });
            text.push_str(cause);
        }
        if let Some(fix) = &self.fix {
            text.push_str(" -> fix: ");
            text.push_str(fix);
        }
        text
    }
}

/// What the pipeline reports while it runs.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A line's checks started.
    Running(CheckId),
    /// A check finished.
    Done(Check),
}

/// What the checks run against.
pub struct CheckRun<'a> {
    /// The configuration (saved, or the one a form describes).
    pub config: &'a Config,
    /// Where its secrets are (the worker's store, or [`super::handoff::PendingSecrets`]).
    pub secrets: &'a dyn SecretStore,
    /// The instance (secret entries).
    pub instance: &'a str,
    /// The configuration folder (notification template, state database name).
    pub config_dir: &'a Path,
    /// Client timeouts and pinned names; see [`ClientOptions::for_checks`].
    pub options: ClientOptions,
    /// The policy, for the group read of the Intune permissions.
    pub policy: PolicySettings,
    /// Connect stops at the first failure; `diagnose` runs everything it can.
    pub stop_at_first_failure: bool,
    /// A last change to the run's set-up before the clients are built (Connect's PowerShell host).
    pub adjust: Option<&'a (dyn Fn(&mut SyncSetup) + Send + Sync)>,
}

/// What the pipeline leaves for the caller.
pub struct Outcome {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The Intune client, when every check passed (Connect registers the connector with it).
    pub intune: Option<IntuneClient>,
    /// The connectors Intune has registered (read by the permission check).
    pub connectors: Vec<ExchangeConnector>,
}

impl Outcome {
    /// Whether a check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// The report as text, one line per check, then the count of failures.
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

/// Collects the checks and reports each one as it finishes.
struct Recorder<'p> {
    checks: Vec<Check>,
    progress: &'p (dyn Fn(Progress) + Send + Sync),
    stop_at_first_failure: bool,
}

impl Recorder<'_> {
    fn running(&self, id: CheckId) {
        (self.progress)(Progress::Running(id));
    }

    fn push(&mut self, check: Check) {
        (self.progress)(Progress::Done(check.clone()));
        self.checks.push(check);
    }

    /// Whether the pipeline stops here.
    fn halted(&self) -> bool {
        self.stop_at_first_failure && self.checks.iter().any(|c| c.status == Status::Fail)
    }

    fn passed(&self, name: &str) -> bool {
        self.checks
            .iter()
            .any(|c| c.name == name && c.status == Status::Ok)
    }

    fn finish(self, clients: Option<Clients>, connectors: Vec<ExchangeConnector>) -> Outcome {
        let failed = self.checks.iter().any(|c| c.status == Status::Fail);
        Outcome {
            checks: self.checks,
            intune: clients.filter(|_| !failed).map(|c| c.intune),
            connectors,
        }
    }
}

fn host_port(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_matches(['[', ']']).to_string();
    Some((host, u.port_or_known_default()?))
}

/// Runs the checks in order, reporting each through `progress`.
pub async fn run(run: &CheckRun<'_>, progress: &(dyn Fn(Progress) + Send + Sync)) -> Outcome {
    let mut rec = Recorder {
        checks: Vec::new(),
        progress,
        stop_at_first_failure: run.stop_at_first_failure,
    };
    let config = run.config;

    // Secrets and the clients built from them.
    rec.running(CheckId::Package);
    let (clients, setup) = secrets_and_clients(run, &mut rec);
    if rec.halted() {
        return rec.finish(None, Vec::new());
    }

    // DNS and TLS.
    rec.running(CheckId::Server);
    let exchange_url = match config.exchange_server_type {
        ExchangeServerType::OnPremises => config.powershell_url(),
        ExchangeServerType::Hosted => config.exchange_rest_base.clone(),
    };
    let proxy = config.proxy_spec();
    let proxied = matches!(proxy, Ok(Some(_)));
    dns(&mut rec, &exchange_url, proxied, &run.options).await;
    if rec.halted() {
        return rec.finish(None, Vec::new());
    }
    tls(&mut rec, config, &exchange_url, proxied, &run.options).await;
    if rec.halted() {
        return rec.finish(None, Vec::new());
    }

    // The proxy.
    rec.running(CheckId::Proxy);
    match &proxy {
        Ok(None) => rec.push(Check::skip(
            CheckId::Proxy,
            "proxy",
            coded!("ck_no_proxy", "no proxy configured"),
        )),
        Ok(Some(_)) => {
            let check = proxy_check(run, clients.as_ref(), &exchange_url).await;
            rec.push(check);
        }
        Err(e) => rec.push(Check::fail(
            CheckId::Proxy,
            "proxy",
            coded!("ck_proxy_invalid", "The proxy address is not valid."),
            chain(e),
            coded!("ck_fix_proxy_host_port", "fix ProxyHost / ProxyPort"),
        )),
    }
    if rec.halted() {
        return rec.finish(None, Vec::new());
    }

    // Exchange sign-in and the cmdlets.
    rec.running(CheckId::SignIn);
    exchange(&mut rec, config, clients.as_ref(), &exchange_url, proxied).await;
    if config.exchange_server_type == ExchangeServerType::OnPremises
        && let Some(clients) = &clients
        && rec.passed("Exchange sign-in")
    {
        rec.push(exchange_version(clients).await);
    }
    if let Some(clients) = &clients {
        clients.exchange.shutdown().await;
    }
    if rec.halted() {
        return rec.finish(None, Vec::new());
    }

    // Autodiscover and EWS.
    rec.running(CheckId::Notification);
    notification(&mut rec, config, clients.as_ref(), setup.as_ref()).await;
    if rec.halted() {
        return rec.finish(None, Vec::new());
    }

    // Intune.
    rec.running(CheckId::Intune);
    let connectors = intune(
        &mut rec,
        config,
        clients.as_ref(),
        setup.as_ref(),
        &run.policy,
    )
    .await;
    rec.finish(clients, connectors)
}

/// The `secrets` check: every secret the configuration needs is stored and the app credential
/// opens; then the run's set-up and its clients.
fn secrets_and_clients(
    run: &CheckRun<'_>,
    rec: &mut Recorder<'_>,
) -> (Option<Clients>, Option<SyncSetup>) {
    let config = run.config;
    let needed = setup::required_secrets(config);
    let mut missing = Vec::new();
    for key in &needed {
        match run.secrets.get(run.instance, key) {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(key.to_string()),
            Err(e) => missing.push(format!("{key} ({e})")),
        }
    }
    if let Err(e) = setup::client_credential(run.secrets, run.instance) {
        missing.push(e.to_string());
    }
    if !missing.is_empty() {
        rec.push(Check::fail(
            CheckId::Package,
            "secrets",
            coded!("ck_secrets_missing", "missing: {list}", list = missing.join("; ")),
            "",
            coded!("ck_fix_store_secrets", "store them with `exchange-connector-service configure --answers FILE --secrets-stdin` (run it as an administrator while the service runs: they are handed to the service's own store), or connect again in the setup"),
        ));
        return (None, None);
    }
    let built = setup::sync_setup(
        config,
        run.secrets,
        run.instance,
        run.config_dir,
        run.policy.clone(),
    )
    .map_err(|e| e.to_string())
    .and_then(|mut setup| {
        if let Some(adjust) = run.adjust {
            adjust(&mut setup);
        }
        let clients = Clients::build(&setup, &run.options).map_err(|e| chain(&e))?;
        Ok((clients, setup))
    });
    match built {
        Ok((clients, setup)) => {
            rec.push(Check::ok(
                CheckId::Package,
                "secrets",
                coded!(
                    "ck_secrets_ok",
                    "in the {store}: {names}app credential",
                    names = needed.iter().map(|k| format!("{k}, ")).collect::<String>()
                )
                .with_text("store", run.secrets.describe()),
            ));
            (Some(clients), Some(setup))
        }
        Err(e) => {
            rec.push(Check::fail(
                CheckId::Package,
                "secrets",
                coded!("ck_setup_failed", "The connection cannot be set up."),
                e,
                coded!("ck_fix_setup", "correct the setting named (TrustedCaFile must be a readable PEM file; the proxy needs its password), then check again"),
            ));
            (None, None)
        }
    }
}

/// The address of `host`: pinned, or from DNS.
async fn resolve(
    host: &str,
    port: u16,
    options: &ClientOptions,
) -> Result<Vec<SocketAddr>, String> {
    if let Some((_, address)) = options
        .resolve
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(host))
    {
        return Ok(vec![*address]);
    }
    match tokio::time::timeout(CHECK_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addresses)) => {
            let addresses: Vec<SocketAddr> = addresses.collect();
            if addresses.is_empty() {
                Err("DNS returned no address".into())
            } else {
                Ok(addresses)
            }
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}

async fn dns(rec: &mut Recorder<'_>, exchange_url: &str, proxied: bool, options: &ClientOptions) {
    let Some((host, port)) = host_port(exchange_url) else {
        rec.push(Check::fail(
            CheckId::Server,
            "DNS",
            coded!("ck_not_a_url", "'{url}' is not a URL", url = exchange_url),
            "",
            coded!(
                "ck_fix_exchange_url",
                "fix ExchangeServer / ExchangePowerShellURL or ExchangeRestBase"
            ),
        ));
        return;
    };
    if proxied {
        rec.push(Check::skip(
            CheckId::Server,
            "DNS",
            coded!(
                "ck_dns_by_proxy",
                "{host}: resolved by the proxy",
                host = host
            ),
        ));
        return;
    }
    match resolve(&host, port, options).await {
        Ok(addresses) => {
            let addresses: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
            rec.push(Check::ok(
                CheckId::Server,
                "DNS",
                coded!("ck_dns_ok", "{host} resolves to {addresses}", host = host, addresses = addresses.join(", ")),
            ));
        }
        Err(e) => rec.push(Check::fail(
            CheckId::Server,
            "DNS",
            coded!("ck_dns_fail", "The name {host} does not resolve.", host = host),
            e,
            coded!("ck_fix_dns", "check the server's name (the FQDN of a Client Access server: ExchangeServer / ExchangePowerShellURL) and this computer's DNS servers"),
        )),
    }
}

/// TLS per endpoint, directly (through a proxy, the proxy check tunnels to Exchange instead).
async fn tls(
    rec: &mut Recorder<'_>,
    config: &Config,
    exchange_url: &str,
    proxied: bool,
    options: &ClientOptions,
) {
    if proxied {
        rec.push(Check::skip(
            CheckId::Server,
            "TLS",
            coded!(
                "ck_tls_by_proxy",
                "a proxy is configured: TLS is negotiated through it (see the proxy check)"
            ),
        ));
        return;
    }
    let tls = match crate::tls::client_config(config.trusted_ca_file.as_deref()) {
        Ok(tls) => Arc::new(tls),
        Err(e) => {
            rec.push(Check::fail(
                CheckId::Server,
                "TLS",
                coded!("ck_ca_unusable", "The trusted CA file cannot be used."),
                e.to_string(),
                coded!(
                    "ck_fix_ca",
                    "fix TrustedCaFile: it must be a readable PEM file holding the CA certificate"
                ),
            ));
            return;
        }
    };
    let mut endpoints: Vec<(&str, String)> = vec![
        ("Exchange", exchange_url.to_string()),
        ("sign-in", config.login_base.clone()),
        ("Graph", config.graph_base.clone()),
    ];
    if let Some(ews) = &config.exchange_web_service_url {
        endpoints.push(("EWS", ews.clone()));
    }
    for (label, url) in endpoints {
        let name = format!("TLS to {label}");
        let check = match host_port(&url) {
            Some((host, port)) => tls_check(&name, tls.clone(), &host, port, options).await,
            None => Check::fail(
                CheckId::Server,
                name,
                coded!("ck_not_a_url", "'{url}' is not a URL", url = url),
                "",
                coded!("ck_fix_url", "fix the URL"),
            ),
        };
        let stop = check.status == Status::Fail && rec.stop_at_first_failure;
        rec.push(check);
        if stop {
            return;
        }
    }
}

/// A TLS handshake with `host:port`, naming the negotiated version.
async fn tls_check(
    name: &str,
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    options: &ClientOptions,
) -> Check {
    let unreachable = |cause: String, fix: TextCode| {
        Check::fail(
            CheckId::Server,
            name,
            coded!(
                "ck_tls_fail",
                "No secure connection to {host}:{port}.",
                host = host,
                port = port
            ),
            cause,
            fix,
        )
    };
    let server_name = match rustls::pki_types::ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => {
            return unreachable(
                e.to_string(),
                coded!("ck_fix_host_name", "fix the host name"),
            );
        }
    };
    let attempt = async {
        let addresses = resolve(host, port, options)
            .await
            .map_err(|e| (format!("{host} does not resolve: {e}"), true))?;
        let tcp = tokio::net::TcpStream::connect(addresses.as_slice())
            .await
            .map_err(|e| (format!("cannot connect: {e}"), true))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(|e| (format!("TLS handshake failed: {e}"), false))?;
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
        Ok::<_, (String, bool)>(version)
    };
    match tokio::time::timeout(CHECK_TIMEOUT, attempt).await {
        Ok(Ok(version)) => Check::ok(
            CheckId::Server,
            name,
            coded!(
                "ck_tls_ok",
                "{host}:{port} negotiated {version}",
                host = host,
                port = port,
                version = version
            ),
        ),
        Ok(Err((cause, true))) => unreachable(
            cause,
            coded!(
                "ck_fix_reachable",
                "check that the server is running and reachable from this computer (firewall, port 443)"
            ),
        ),
        Ok(Err((cause, false))) => unreachable(
            cause,
            coded!(
                "ck_fix_trust_ca",
                "trust the server's CA (install it, or set the trusted CA file: TrustedCaFile) and make sure the server offers TLS 1.2 or newer"
            ),
        ),
        Err(_) => unreachable(
            format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            coded!("ck_fix_firewall", "check the firewall"),
        ),
    }
}

/// The proxy lets this computer tunnel to Exchange (with its credentials), and TLS works through it.
async fn proxy_check(run: &CheckRun<'_>, clients: Option<&Clients>, exchange_url: &str) -> Check {
    let name = "proxy";
    let configured = match crate::proxy::configured(run.config, run.secrets, run.instance) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Check::skip(
                CheckId::Proxy,
                name,
                coded!("ck_no_proxy", "no proxy configured"),
            );
        }
        Err(e) => {
            return Check::fail(
                CheckId::Proxy,
                name,
                coded!("ck_proxy_unusable", "The proxy cannot be used."),
                chain(&e),
                coded!(
                    "ck_fix_proxy_settings",
                    "correct the proxy settings (ProxyHost, ProxyPort, ProxyUser and its password)"
                ),
            );
        }
    };
    let authority = host_port(exchange_url)
        .map(|(h, p)| format!("{h}:{p}"))
        .unwrap_or_default();
    let url = configured.spec.url();
    if let Err(e) =
        crate::proxy::probe_connect(&configured.spec, configured.credential_pair(), &authority)
            .await
    {
        return Check::fail(
            CheckId::Proxy,
            name,
            coded!(
                "ck_proxy_refused",
                "The proxy {url} refused to connect to {authority}.",
                url = url,
                authority = authority
            ),
            chain(&e),
            coded!(
                "ck_fix_proxy_refused",
                "check the proxy name, port and credentials with your network team; the connector can sign in to a proxy with Basic credentials only"
            ),
        );
    }
    let Some(clients) = clients else {
        return Check::ok(
            CheckId::Proxy,
            name,
            coded!(
                "ck_proxy_tunnel",
                "{url}: tunnel to {authority} open",
                url = url,
                authority = authority
            ),
        );
    };
    match clients.http.get(exchange_url).send().await {
        Ok(r) => Check::ok(
            CheckId::Proxy,
            name,
            coded!(
                "ck_proxy_tunnel_http",
                "{url}: tunnel open, HTTP {status}",
                url = url,
                status = r.status().as_u16()
            ),
        ),
        Err(e) => Check::fail(
            CheckId::Proxy,
            name,
            coded!(
                "ck_proxy_tls_fail",
                "No secure connection through the proxy {url}.",
                url = url
            ),
            chain(&e),
            coded!(
                "ck_fix_proxy_reach",
                "check that the proxy lets this computer reach the Exchange server on port 443"
            ),
        ),
    }
}

/// `Exchange sign-in` and `cmdlet permissions`.
async fn exchange(
    rec: &mut Recorder<'_>,
    config: &Config,
    clients: Option<&Clients>,
    exchange_url: &str,
    proxied: bool,
) {
    let user = match config.exchange_server_type {
        ExchangeServerType::OnPremises => config.exchange_user.trim().to_string(),
        ExchangeServerType::Hosted => format!("the app {}", config.client_id),
    };
    let user = user.as_str();
    let sign_in = "Exchange sign-in";
    let cmdlets = "cmdlet permissions";
    let Some(clients) = clients else {
        rec.push(Check::skip(
            CheckId::SignIn,
            sign_in,
            coded!("ck_not_tried_secrets", "not tried: the secrets are missing"),
        ));
        rec.push(Check::skip(
            CheckId::Cmdlets,
            cmdlets,
            coded!("ck_not_tried", "not tried"),
        ));
        return;
    };
    if !proxied && !rec.passed("TLS to Exchange") {
        rec.push(Check::fail(
            CheckId::SignIn,
            sign_in,
            coded!(
                "ck_exchange_unreachable",
                "{url} cannot be reached (see DNS/TLS above).",
                url = exchange_url
            ),
            "",
            coded!(
                "ck_fix_start_cas",
                "start the Client Access server or point ExchangePowerShellURL at one that runs"
            ),
        ));
        rec.push(Check::skip(
            CheckId::Cmdlets,
            cmdlets,
            coded!("ck_not_tried", "not tried"),
        ));
        return;
    }
    let report = match tokio::time::timeout(SIGN_IN_TIMEOUT, clients.exchange.check_permissions())
        .await
    {
        Ok(Ok(report)) => {
            rec.push(Check::ok(
                CheckId::SignIn,
                sign_in,
                coded!(
                    "ck_signin_ok",
                    "a session to {url} opened as {user}",
                    url = exchange_url,
                    user = user
                ),
            ));
            report
        }
        Ok(Err(e)) => {
            let fix = if e.server_unreachable() {
                coded!(
                    "ck_fix_remote_powershell",
                    "check that the Client Access server is running and that remote PowerShell (/PowerShell/) is enabled on it"
                )
            } else {
                coded!(
                    "ck_fix_exchange_account",
                    "check the Exchange account's user name (DOMAIN\\user, ExchangeUser) and password (store it again), that the account is not locked out or expired, and PowerShellAuthentication"
                )
            };
            rec.push(Check::fail(
                CheckId::SignIn,
                sign_in,
                coded!(
                    "ck_signin_fail",
                    "Signing in to Exchange as {user} failed.",
                    user = user
                ),
                chain(&e),
                fix,
            ));
            rec.push(Check::skip(
                CheckId::Cmdlets,
                cmdlets,
                coded!("ck_not_tried", "not tried"),
            ));
            return;
        }
        Err(_) => {
            rec.push(Check::fail(
                CheckId::SignIn,
                sign_in,
                coded!(
                    "ck_signin_fail",
                    "Signing in to Exchange as {user} failed.",
                    user = user
                ),
                format!("no answer within {} s", SIGN_IN_TIMEOUT.as_secs()),
                coded!(
                    "ck_fix_ps_endpoint",
                    "check that the Client Access server's /PowerShell/ endpoint answers"
                ),
            ));
            rec.push(Check::skip(
                CheckId::Cmdlets,
                cmdlets,
                coded!("ck_not_tried", "not tried"),
            ));
            return;
        }
    };
    rec.running(CheckId::Cmdlets);
    if report.missing_required.is_empty() {
        rec.push(Check::ok(
            CheckId::Cmdlets,
            cmdlets,
            coded!(
                "ck_cmdlets_ok",
                "all required cmdlets granted ({n} available)",
                n = report.granted.len()
            ),
        ));
    } else {
        rec.push(Check::fail(
            CheckId::Cmdlets,
            cmdlets,
            coded!("ck_cmdlets_fail", "The account {user} may not run every cmdlet the connector needs.", user = user),
            format!("Missing: {}.", report.missing_required.join(", ")),
            coded!("ck_fix_role_group", "add the account to a role group (e.g. Organization Management) or a management role assignment that grants these cmdlets"),
        ));
    }
}

/// `Exchange version` (on premises): `Get-ExchangeServer`'s `AdminDisplayVersion` of every server,
/// and whether Microsoft still supports it. An unsupported version passes (the connector works with
/// it) but says so: Exchange 2016 and 2019 left support on 14 October 2025.
async fn exchange_version(clients: &Clients) -> Check {
    let name = "Exchange version";
    match tokio::time::timeout(CHECK_TIMEOUT, clients.exchange.exchange_versions()).await {
        Ok(Ok(versions)) if !versions.is_empty() => {
            let lines = versions
                .iter()
                .map(|(server, version)| version.summary_of(server))
                .collect();
            Check::ok(CheckId::Cmdlets, name, TextCode::joined(lines))
        }
        Ok(Ok(_)) => Check::skip(
            CheckId::Cmdlets,
            name,
            coded!("ck_version_none", "Get-ExchangeServer listed no server"),
        ),
        Ok(Err(e)) => Check::skip(
            CheckId::Cmdlets,
            name,
            coded!(
                "ck_version_unread",
                "Get-ExchangeServer could not be read: {error}",
                error = chain(&e)
            ),
        ),
        Err(_) => Check::skip(
            CheckId::Cmdlets,
            name,
            coded!(
                "ck_version_timeout",
                "Get-ExchangeServer gave no answer within {seconds} s",
                seconds = CHECK_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// `Autodiscover` (when no EWS URL is configured) and `EWS` (an authenticated request that changes
/// nothing), as the notification account.
async fn notification(
    rec: &mut Recorder<'_>,
    config: &Config,
    clients: Option<&Clients>,
    setup: Option<&SyncSetup>,
) {
    let id = CheckId::Notification;
    let Some(mailbox) = config.notification_mailbox.as_deref() else {
        rec.push(Check::skip(
            id,
            "Autodiscover",
            coded!("ck_no_notification_mailbox", "no NotificationMailbox"),
        ));
        rec.push(Check::skip(
            id,
            "EWS",
            coded!("ck_no_notification_mailbox", "no NotificationMailbox"),
        ));
        return;
    };
    let (Some(clients), Some(notifier)) = (clients, setup.and_then(|s| s.notifier.as_ref())) else {
        rec.push(Check::skip(
            id,
            "Autodiscover",
            coded!("ck_not_tried_secrets", "not tried: the secrets are missing"),
        ));
        rec.push(Check::skip(id, "EWS", coded!("ck_not_tried", "not tried")));
        return;
    };
    let route = match &notifier.route {
        MailRoute::Ews(route) => route,
        MailRoute::Graph => {
            let why = coded!(
                "ck_graph_route",
                "Exchange Online: notifications go through Graph sendMail (EWS there is blocked since 1 October 2026)"
            );
            rec.push(Check::skip(id, "Autodiscover", why.clone()));
            rec.push(Check::skip(id, "EWS", why));
            hosted_notification(rec, config, clients, mailbox).await;
            return;
        }
    };
    let credential = &route.credential;
    let ews_url = match &config.exchange_web_service_url {
        Some(url) => {
            rec.push(Check::skip(
                id,
                "Autodiscover",
                coded!(
                    "ck_ews_url_set",
                    "ExchangeWebServiceURL is set ({url})",
                    url = url
                ),
            ));
            url.clone()
        }
        None => {
            match crate::notify::autodiscover::discover_with(
                &clients.mail_http,
                mailbox,
                credential,
                &route.redirect_policy(),
            )
            .await
            {
                Ok(found) => {
                    rec.push(Check::ok(
                        id,
                        "Autodiscover",
                        coded!(
                            "ck_autodiscover_ok",
                            "{url} via {via} ({protocol})",
                            url = found.ews_url,
                            via = found.via,
                            protocol = format!("{:?}", found.protocol)
                        ),
                    ));
                    found.ews_url
                }
                Err(e) => {
                    rec.push(Check::fail(
                        id,
                        "Autodiscover",
                        coded!("ck_autodiscover_fail", "Autodiscover found no Exchange Web Services URL for {mailbox}.", mailbox = mailbox),
                        format!("{} candidate(s) failed: {}", e.attempts.len(), e.attempts.join("; ")),
                        coded!(
                            "ck_fix_autodiscover",
                            "make autodiscover.{domain} (or {domain}) resolve to a Client Access server over HTTPS, check the mailbox's address and password, or set ExchangeWebServiceURL",
                            domain = e.domain
                        ),
                    ));
                    rec.push(Check::skip(
                        id,
                        "EWS",
                        coded!("ck_no_ews_url", "no EWS URL"),
                    ));
                    return;
                }
            }
        }
    };
    let body = r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>"#;
    let check = match crate::notify::auth::post(
        &clients.mail_http,
        &ews_url,
        "text/xml; charset=utf-8",
        body,
        &reqwest::header::HeaderMap::new(),
        credential,
    )
    .await
    {
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => Check::fail(
            id,
            "EWS",
            coded!(
                "ck_ews_refused",
                "EWS at {url} refused the notification account {mailbox}.",
                url = ews_url,
                mailbox = mailbox
            ),
            format!("HTTP {}", r.status()),
            coded!(
                "ck_fix_notify_password",
                "check the notification mailbox's password (NotificationPassword)"
            ),
        ),
        Ok(r) if r.status().is_server_error() => Check::fail(
            id,
            "EWS",
            coded!("ck_ews_failed", "EWS at {url} failed.", url = ews_url),
            format!("HTTP {}", r.status()),
            coded!(
                "ck_fix_ews_vdir",
                "check the EWS virtual directory on the Client Access server"
            ),
        ),
        Ok(r) => Check::ok(
            id,
            "EWS",
            coded!(
                "ck_ews_ok",
                "{url} answers {mailbox} (HTTP {status})",
                url = ews_url,
                mailbox = mailbox,
                status = r.status().as_u16()
            ),
        ),
        Err(e) => Check::fail(
            id,
            "EWS",
            coded!(
                "ck_ews_unreachable",
                "EWS at {url} cannot be reached.",
                url = ews_url
            ),
            chain(&e),
            coded!(
                "ck_fix_ews",
                "check ExchangeWebServiceURL, the mailbox's password, and that EWS is enabled on the Client Access server"
            ),
        ),
    };
    rec.push(check);
}

/// The subject of the message the `Graph sendMail` check sends to the notification mailbox itself.
pub const SEND_CHECK_SUBJECT: &str = "Exchange Connector: notification check";

/// `Graph sendMail` and `Mail.Send scope` (Exchange Online): proves the app may send as the notification
/// mailbox, and only as it.
///
/// Why a real `sendMail` (to the mailbox itself, `saveToSentItems: false`, so nothing is kept in Sent
/// Items and no user gets mail): RBAC for Applications grants each application role separately, and
/// only `sendMail` is governed by `Application Mail.Send`; a read (`GET /users/{id}/messages`) is
/// governed by `Application Mail.Read` and would prove nothing about sending. `Test-ServicePrincipalAuthorization`
/// answers the question too, but needs Exchange admin rights the connector does not otherwise have.
///
/// Why the token's `roles`: the Entra permission `Mail.Send` is unscoped ("send mail as any user")
/// and adds to the RBAC grant, so an app that has it may send as every mailbox whatever the scope says.
/// Entra's access tokens for Graph are JWTs whose `roles` claim lists the application permissions.
async fn hosted_notification(
    rec: &mut Recorder<'_>,
    config: &Config,
    clients: &Clients,
    mailbox: &str,
) {
    let id = CheckId::Notification;
    let name = "Graph sendMail";
    let Some(mailer) = clients.notifier.as_ref().and_then(|n| n.graph_mailer()) else {
        rec.push(Check::skip(
            id,
            name,
            coded!("ck_no_graph_notifier", "no Graph notifier was built"),
        ));
        return;
    };
    let [scope_command, assignment_command] =
        crate::notify::graph_mail::rbac_commands(&config.client_id, mailbox);
    let admin_fix = coded!(
        "ck_fix_rbac",
        "an Exchange admin runs, in Exchange Online PowerShell: {scope_command} ; {assignment_command} (RBAC for Applications; a change takes up to two hours to apply), or `exchange-connector-service rbac-mail` does it when the app holds role management in Exchange",
        scope_command = scope_command,
        assignment_command = assignment_command
    );
    let html = "<p>This message checks that the Exchange Connector may send notifications as this mailbox. Nothing to do.</p>";
    match mailer
        .send(mailbox, mailbox, SEND_CHECK_SUBJECT, html, false)
        .await
    {
        Ok(()) => rec.push(Check::ok(
            id,
            name,
            coded!(
                "ck_sendmail_ok",
                "the app may send as {mailbox} (a check message went to the mailbox itself, not kept in Sent Items)",
                mailbox = mailbox
            ),
        )),
        Err(GraphMailError::Denied { code, message, .. }) => {
            rec.push(Check::fail(
                id,
                name,
                coded!("ck_sendmail_denied", "Exchange Online refused to let the app send as {mailbox}.", mailbox = mailbox),
                format!("HTTP 403 {code}: {message}"),
                admin_fix,
            ));
            return;
        }
        Err(e) => {
            rec.push(Check::fail(
                id,
                name,
                coded!("ck_sendmail_fail", "Graph did not send a check message as {mailbox}.", mailbox = mailbox),
                chain(&e),
                coded!("ck_fix_sendmail", "check NotificationMailbox (a mailbox in this tenant) and that Graph is reachable"),
            ));
            return;
        }
    }
    let scope = "Mail.Send scope";
    match mailer.token().await {
        Ok(token) if token_roles(token.expose()).iter().any(|r| r.eq_ignore_ascii_case("Mail.Send")) => {
            rec.push(Check::fail(
                id,
                scope,
                coded!("ck_mail_send_tenant_wide", "The app may send as every mailbox of the tenant, not only the notification mailbox."),
                "it has the Entra application permission Mail.Send, which is unscoped and adds to any RBAC scope",
                coded!(
                    "ck_fix_remove_mail_send",
                    "remove the admin consent for Microsoft Graph Mail.Send from the app (Entra admin center > Enterprise applications > the app > Permissions), then: an Exchange admin runs, in Exchange Online PowerShell: {scope_command} ; {assignment_command} (RBAC for Applications; a change takes up to two hours to apply)",
                    scope_command = scope_command,
                    assignment_command = assignment_command
                ),
            ));
        }
        Ok(_) => rec.push(Check::ok(
            id,
            scope,
            coded!(
                "ck_mail_send_scoped",
                "no tenant-wide Mail.Send: the app sends only where RBAC for Applications lets it ({mailbox})",
                mailbox = mailbox
            ),
        )),
        Err(e) => rec.push(Check::fail(
            id,
            scope,
            coded!("ck_no_token_roles", "No Graph token to read the app's permissions."),
            chain(&e),
            coded!("ck_fix_app_credential", "check the app credential (connector package or ClientSecret)"),
        )),
    }
}

/// The `roles` claim of a JWT access token (empty when the token cannot be read: it is only
/// inspected, never trusted for anything but this warning).
fn token_roles(token: &str) -> Vec<String> {
    use base64::Engine as _;
    let Some(payload) = token.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return Vec::new();
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("roles").cloned())
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

/// `Graph sign-in` and `Graph permissions` (managed devices, a policy group, the Exchange connector
/// registrations); returns the registrations read.
async fn intune(
    rec: &mut Recorder<'_>,
    config: &Config,
    clients: Option<&Clients>,
    setup: Option<&SyncSetup>,
    policy: &PolicySettings,
) -> Vec<ExchangeConnector> {
    let id = CheckId::Intune;
    let (Some(clients), Some(setup)) = (clients, setup) else {
        rec.push(Check::skip(
            id,
            "Graph sign-in",
            coded!("ck_no_app_credential", "no app credential stored"),
        ));
        rec.push(Check::skip(
            id,
            "Graph permissions",
            coded!("ck_not_tried", "not tried"),
        ));
        return Vec::new();
    };
    let token = match clients.tokens.token(&setup.graph_scope).await {
        Ok(t) => {
            rec.push(Check::ok(
                id,
                "Graph sign-in",
                coded!(
                    "ck_graph_token",
                    "token for app {app} in tenant {tenant}",
                    app = config.client_id,
                    tenant = config.tenant_id
                ),
            ));
            t
        }
        Err(e) => {
            rec.push(Check::fail(
                id,
                "Graph sign-in",
                coded!("ck_intune_signin_fail", "Signing in to Intune failed."),
                chain(&e),
                coded!("ck_fix_intune_signin", "import the current connector package (or store the current ClientSecret); check TenantId and ClientId"),
            ));
            rec.push(Check::skip(
                id,
                "Graph permissions",
                coded!("ck_not_tried", "not tried"),
            ));
            return Vec::new();
        }
    };
    let base = config.graph_base.trim_end_matches('/');
    let mut reads = vec![(
        "managed devices",
        format!("{base}/v1.0/deviceManagement/managedDevices?$top=1&$select=id"),
        coded!(
            "ck_fix_grant_devices",
            "grant the app DeviceManagementManagedDevices.Read.All (admin consent)"
        ),
    )];
    if let Some(group) = policy.included_groups.first() {
        reads.push((
            "groups",
            format!("{base}/v1.0/groups/{group}?$select=id"),
            coded!(
                "ck_fix_grant_groups",
                "grant the app GroupMember.Read.All (admin consent)"
            ),
        ));
    }
    let mut problems: Vec<(String, TextCode)> = Vec::new();
    for (what, url, fix) in reads {
        match clients
            .http
            .get(&url)
            .bearer_auth(token.expose())
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => problems.push((format!("{what}: HTTP {}", r.status().as_u16()), fix)),
            Err(e) => problems.push((
                format!("{what}: {}", chain(&e)),
                coded!("ck_fix_graph_reachable", "check that Graph is reachable"),
            )),
        }
    }
    let connectors = match clients.intune.exchange_connectors().await {
        Ok(c) => c,
        Err(e) => {
            problems.push((
                format!("connector registrations: {}", chain(&e)),
                coded!("ck_fix_connector_registrations", "check that the package belongs to this tenant and that the app has DeviceManagementServiceConfig.ReadWrite.All with admin consent (Intune admin center)"),
            ));
            Vec::new()
        }
    };
    if problems.is_empty() {
        rec.push(Check::ok(
            id,
            "Graph permissions",
            if policy.included_groups.is_empty() {
                coded!(
                    "ck_graph_read",
                    "read managed devices and the connector registrations ({n})",
                    n = connectors.len()
                )
            } else {
                coded!(
                    "ck_graph_read_groups",
                    "read managed devices and groups and the connector registrations ({n})",
                    n = connectors.len()
                )
            },
        ));
    } else {
        let detail: Vec<String> = problems.iter().map(|(d, _)| d.clone()).collect();
        let fixes: Vec<TextCode> = problems.iter().map(|(_, f)| f.clone()).collect();
        rec.push(Check::fail(
            id,
            "Graph permissions",
            coded!(
                "ck_intune_refused",
                "Intune refused a read the connector needs."
            ),
            detail.join("; "),
            TextCode::joined(fixes),
        ));
    }
    connectors
}
