//! Connect: the real checks, run on a background tokio runtime, reported line by line over a channel.
//!
//! Each check is one [`CheckLine`]; a failure says what failed, why (the server's own words when it gave
//! any) and what to do, and the remaining lines are left unchecked. Nothing here touches the wizard's
//! fields: they stay as typed whatever happens. On success the secrets go to the worker over the control
//! channel (or, when no worker runs, to the local secret store) and the configuration file is written —
//! in that order, so a failure leaves no configuration that names missing secrets.

use crate::bridge_protocol::Authentication;
use crate::certificate::ClientCertificate;
use crate::config::Config;
use crate::exchange::bridge::{BridgeConfig, BridgeConnector};
use crate::exchange::failover::{Failover, FailoverConfig};
use crate::exchange::pool::{PoolConfig, RetryPolicy, RunspacePool};
use crate::exchange::rest::{RestConfig, RestConnector};
use crate::exchange::{CasServer, ExchangeClient, PermissionReport};
use crate::gui::wizard::{Field, ServerType, WizardState};
use crate::intune::{IntuneClient, IntuneConfig};
use crate::model::intune::ExchangeConnector;
use crate::notify::auth::{AuthScheme, MailboxCredential};
use crate::oauth::{ClientCredential, OAuthConfig, TokenClient};
use crate::package::ConnectorPackage;
use crate::proxy::ProxySpec;
use crate::secret::Secret;
use crate::secrets::SecretStore;
use crate::service::channel::ChannelAddress;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// The checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckId {
    /// The package and its certificate.
    Package,
    /// DNS and TLS to the Exchange server.
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
    /// Every check, in order.
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

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What failed, in a sentence.
    pub what: String,
    /// Why: the server's own words when it gave any.
    pub why: String,
    /// What to do.
    pub fix: String,
}

/// The state of one line.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckState {
    /// Not started.
    Pending,
    /// Running (spinner).
    Running,
    /// Passed, with a short detail.
    Passed(String),
    /// Failed.
    Failed(Failure),
    /// Not run because an earlier check failed.
    Skipped,
}

/// Replace the existing connector(s)?
#[derive(Debug)]
pub struct ReplaceQuestion {
    /// Descriptions of the connectors Intune already has for this organisation.
    pub existing: Vec<String>,
    /// The answer: `true` to replace.
    pub answer: tokio::sync::oneshot::Sender<bool>,
}

/// What happened after every check passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSuccess {
    /// The configuration file written.
    pub config_path: PathBuf,
    /// Where the secrets went.
    pub secrets_where: String,
    /// Whether they went to the running worker over the channel (else to the local store).
    pub secrets_to_worker: bool,
    /// The package file, when its folder is not a secure place (offer to delete it).
    pub insecure_package: Option<PathBuf>,
}

/// A message from the checks to the UI.
#[derive(Debug)]
pub enum ConnectEvent {
    /// A line changed.
    Line(CheckId, CheckState),
    /// Ask *Replace?*.
    AskReplace(ReplaceQuestion),
    /// Finished: `Ok` when everything passed and was saved.
    Finished(Result<ConnectSuccess, ()>),
}

/// Where the checks run and where they save: everything that differs between the product, the lab
/// demo and the tests.
#[derive(Debug, Clone)]
pub struct ConnectEnv {
    /// The connector instance.
    pub instance: String,
    /// The configuration folder.
    pub config_dir: PathBuf,
    /// The worker's control channel.
    pub channel: ChannelAddress,
    /// Local secret store folder when no worker runs: `None` for the platform's store.
    pub secrets_dir: Option<PathBuf>,
    /// Host names pinned to addresses (like a hosts file), e.g. the lab's CAS names.
    pub resolve: Vec<(String, SocketAddr)>,
    /// The PowerShell host and its arguments; `None` for the platform's host with the bridge script.
    pub bridge_host: Option<(PathBuf, Vec<String>)>,
    /// The bridge script (`exchange-bridge.ps1`).
    pub bridge_script: PathBuf,
    /// `PowerShellAuthentication` of the remote session.
    pub powershell_authentication: Authentication,
    /// Graph/Entra bases to use instead of the package's (never set in production).
    pub cloud_override: Option<(String, String)>,
    /// Settings this environment adds to the saved configuration where it has none yet, by registry
    /// key (the lab demo: its PowerShell stand-in, Basic authentication, the EWS URL; empty in
    /// production).
    pub extra_settings: Vec<(String, String)>,
}

impl ConnectEnv {
    /// The product's environment for an instance.
    pub fn for_instance(instance: &str) -> ConnectEnv {
        let config_dir = crate::config::default_config_dir(instance);
        // The saved PowerShellAuthentication (Kerberos when nothing is saved yet).
        let powershell_authentication = match crate::config::Config::load(&config_dir) {
            Ok(loaded) => match loaded.config.powershell_authentication {
                crate::config::PowerShellAuthentication::Kerberos => Authentication::Kerberos,
                crate::config::PowerShellAuthentication::Negotiate => Authentication::Negotiate,
                crate::config::PowerShellAuthentication::Basic => Authentication::Basic,
            },
            Err(_) => Authentication::default(),
        };
        ConnectEnv {
            instance: instance.to_string(),
            config_dir,
            channel: ChannelAddress::for_instance(instance),
            secrets_dir: None,
            resolve: Vec::new(),
            bridge_host: None,
            // The installed layout (`assets\` beside the programs) first.
            bridge_script: crate::exchange::bridge::installed_script(),
            powershell_authentication,
            cloud_override: None,
            extra_settings: Vec::new(),
        }
    }

    fn secret_store(&self) -> Result<Box<dyn SecretStore>, String> {
        match &self.secrets_dir {
            Some(dir) => Ok(Box::new(crate::secrets::FileStore::new(dir.clone()))),
            None => {
                crate::secrets::default_for_platform(&self.config_dir).map_err(|e| e.to_string())
            }
        }
    }

    fn http(&self, ca: Option<&Path>) -> Result<reqwest::ClientBuilder, String> {
        let mut builder = crate::tls::http_client_builder(ca)
            .map_err(|e| e.to_string())?
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        for (name, addr) in &self.resolve {
            builder = builder.resolve(name, *addr);
        }
        Ok(builder)
    }
}

/// What Connect (or Settings' *Check and save*) works on: a copy of the fields taken when the button was
/// pressed.
#[derive(Clone)]
pub struct ConnectInput {
    /// The fields.
    pub wizard: WizardState,
    /// Register the connector in Intune (Connect) or only check sign-in (Settings).
    pub register: bool,
}

/// The running checks, as the UI sees them.
#[derive(Debug)]
pub struct ConnectRun {
    /// One line per check.
    pub lines: Vec<(CheckId, CheckState)>,
    /// A pending *Replace?* question.
    pub question: Option<ReplaceQuestion>,
    /// The outcome, once finished.
    pub outcome: Option<Result<ConnectSuccess, ()>>,
    events: mpsc::Receiver<ConnectEvent>,
}

impl ConnectRun {
    /// Starts the checks on `runtime`; `repaint` is called after each event.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        env: ConnectEnv,
        input: ConnectInput,
        repaint: impl Fn() + Send + Sync + 'static,
    ) -> ConnectRun {
        let (tx, rx) = mpsc::channel();
        let repaint = Arc::new(repaint);
        runtime.spawn(async move {
            let send = |event: ConnectEvent| {
                let _ = tx.send(event);
                repaint();
            };
            run_checks(&env, &input, &send).await;
        });
        ConnectRun {
            lines: CheckId::ALL
                .iter()
                .map(|&c| (c, CheckState::Pending))
                .collect(),
            question: None,
            outcome: None,
            events: rx,
        }
    }

    /// Takes the events that arrived; returns whether anything changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Ok(event) = self.events.try_recv() {
            changed = true;
            match event {
                ConnectEvent::Line(id, state) => {
                    if let Some(line) = self.lines.iter_mut().find(|(c, _)| *c == id) {
                        line.1 = state;
                    }
                }
                ConnectEvent::AskReplace(q) => self.question = Some(q),
                ConnectEvent::Finished(outcome) => {
                    for line in &mut self.lines {
                        if matches!(line.1, CheckState::Pending | CheckState::Running) {
                            line.1 = CheckState::Skipped;
                        }
                    }
                    self.outcome = Some(outcome);
                }
            }
        }
        changed
    }

    /// Answers the pending *Replace?* question.
    pub fn answer_replace(&mut self, replace: bool) {
        if let Some(q) = self.question.take() {
            let _ = q.answer.send(replace);
        }
    }

    /// Whether the checks are still running.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// The state of a line.
    pub fn state(&self, id: CheckId) -> &CheckState {
        self.lines
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, s)| s)
            .unwrap_or(&CheckState::Pending)
    }
}

fn fail(what: impl Into<String>, why: impl Into<String>, fix: impl Into<String>) -> CheckState {
    CheckState::Failed(Failure {
        what: what.into(),
        why: why.into(),
        fix: fix.into(),
    })
}

/// The whole error chain of `e`, one sentence after another.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

struct Prepared {
    package: ConnectorPackage,
    certificate: Arc<ClientCertificate>,
    ca: Option<PathBuf>,
    login_base: String,
    graph_base: String,
}

async fn run_checks(
    env: &ConnectEnv,
    input: &ConnectInput,
    send: &(dyn Fn(ConnectEvent) + Send + Sync),
) {
    let w = &input.wizard;
    let line = |id, state| send(ConnectEvent::Line(id, state));
    let finish_failed = || send(ConnectEvent::Finished(Err(())));

    // 1. Package and certificate.
    line(CheckId::Package, CheckState::Running);
    let package_path = PathBuf::from(w.package_path.trim());
    let prepared = match prepare(env, w, &package_path) {
        Ok(p) => p,
        Err(state) => {
            line(CheckId::Package, state);
            return finish_failed();
        }
    };
    line(
        CheckId::Package,
        CheckState::Passed(format!(
            "tenant {}, certificate {}",
            prepared.package.manifest.tenant_id,
            prepared.certificate.sha1_thumbprint_hex()
        )),
    );

    // 2. DNS and TLS to the server.
    line(CheckId::Server, CheckState::Running);
    let target = server_url(w, &prepared);
    let state = check_server(env, w, &prepared, &target).await;
    let ok = matches!(state, CheckState::Passed(_));
    line(CheckId::Server, state);
    if !ok {
        return finish_failed();
    }

    // 3. Proxy.
    line(CheckId::Proxy, CheckState::Running);
    let state = check_proxy(env, w, &prepared, &target).await;
    let ok = matches!(state, CheckState::Passed(_));
    line(CheckId::Proxy, state);
    if !ok {
        return finish_failed();
    }

    // 4 and 5. Exchange sign-in and the cmdlets.
    line(CheckId::SignIn, CheckState::Running);
    let report = match exchange_permissions(env, w, &prepared, &target).await {
        Ok((server, report)) => {
            line(
                CheckId::SignIn,
                CheckState::Passed(format!("{} on {server}", w.exchange_user.trim())),
            );
            report
        }
        Err(state) => {
            line(CheckId::SignIn, state);
            return finish_failed();
        }
    };
    line(CheckId::Cmdlets, CheckState::Running);
    if !report.missing_required.is_empty() {
        line(
            CheckId::Cmdlets,
            fail(
                format!(
                    "The account {} may not run every cmdlet the connector needs.",
                    w.exchange_user.trim()
                ),
                format!("Missing: {}.", report.missing_required.join(", ")),
                "Add the account to a role group (or a management role assignment) that grants these cmdlets, then click Connect again.",
            ),
        );
        return finish_failed();
    }
    line(
        CheckId::Cmdlets,
        CheckState::Passed(format!("{} cmdlets granted", report.granted.len())),
    );

    // 6. Autodiscover and EWS.
    line(CheckId::Notification, CheckState::Running);
    let state = check_notification(env, w, &prepared).await;
    let ok = matches!(state, CheckState::Passed(_));
    line(CheckId::Notification, state);
    if !ok {
        return finish_failed();
    }

    // 7. Intune.
    line(CheckId::Intune, CheckState::Running);
    let state = check_intune(env, input, &prepared, send).await;
    let ok = matches!(state, CheckState::Passed(_));
    line(CheckId::Intune, state);
    if !ok {
        return finish_failed();
    }

    // 8. Save.
    line(CheckId::Save, CheckState::Running);
    match save(env, w, &prepared).await {
        Ok(success) => {
            line(
                CheckId::Save,
                CheckState::Passed(format!(
                    "{}; secrets: {}",
                    success.config_path.display(),
                    success.secrets_where
                )),
            );
            send(ConnectEvent::Finished(Ok(success)));
        }
        Err(state) => {
            line(CheckId::Save, state);
            finish_failed();
        }
    }
}

fn prepare(env: &ConnectEnv, w: &WizardState, path: &Path) -> Result<Prepared, CheckState> {
    let package = ConnectorPackage::read(path).map_err(|e| {
        fail(
            "The connector package cannot be used.",
            e.to_string(),
            "Download the connector package for your tenant again from the Intune admin center and choose that file.",
        )
    })?;
    let certificate = ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )
    .map_err(|e| {
        fail(
            "The package's certificate cannot be opened.",
            e.to_string(),
            "Download the connector package again; do not repack it.",
        )
    })?;
    let ca = Some(w.trusted_ca_file.trim())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    if let Some(ca) = &ca
        && let Err(e) = crate::tls::http_client_builder(Some(ca))
    {
        return Err(fail(
            "The trusted CA file cannot be used.",
            e.to_string(),
            "Give a PEM file holding the CA certificate, or leave the field empty.",
        ));
    }
    let (login_base, graph_base) = env.cloud_override.clone().unwrap_or_else(|| {
        (
            package.manifest.login_base.clone(),
            package.manifest.graph_base.clone(),
        )
    });
    Ok(Prepared {
        certificate: Arc::new(certificate),
        package,
        ca,
        login_base,
        graph_base,
    })
}

/// The URL the connector will talk to for Exchange.
fn server_url(w: &WizardState, p: &Prepared) -> String {
    let custom = w.powershell_url.trim();
    if !custom.is_empty() {
        return custom.to_string();
    }
    let server = w.server.trim();
    match w.server_type {
        ServerType::OnPremises => format!("https://{server}/PowerShell/"),
        ServerType::Hosted => p
            .package
            .manifest
            .exchange_rest_base
            .clone()
            .unwrap_or_else(|| format!("https://{server}/")),
    }
}

async fn check_server(env: &ConnectEnv, w: &WizardState, p: &Prepared, target: &str) -> CheckState {
    let url = match url::Url::parse(target) {
        Ok(u) => u,
        Err(e) => {
            return fail(
                "The Exchange address is not a URL.",
                format!("{target}: {e}"),
                "Correct the server name (or the remote PowerShell URL under Advanced).",
            );
        }
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    if w.proxy_enabled {
        return CheckState::Passed(format!("{host}: resolved by the proxy"));
    }
    let address = match env
        .resolve
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&host))
    {
        Some((_, addr)) => addr.to_string(),
        None => match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => a.ip().to_string(),
                None => {
                    return fail(
                        format!("The name {host} does not resolve."),
                        "DNS returned no address.",
                        "Check the server's name (use the FQDN of a Client Access server) and this computer's DNS settings.",
                    );
                }
            },
            Err(e) => {
                return fail(
                    format!("The name {host} does not resolve."),
                    e.to_string(),
                    "Check the server's name (use the FQDN of a Client Access server) and this computer's DNS settings.",
                );
            }
        },
    };
    let client = match env
        .http(p.ca.as_deref())
        .and_then(|b| b.build().map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            return fail(
                "The HTTPS client cannot be set up.",
                e,
                "Check the trusted CA file.",
            );
        }
    };
    match client.get(url.clone()).send().await {
        Ok(response) => CheckState::Passed(format!(
            "{host} ({address}): TLS verified, HTTP {}",
            response.status().as_u16()
        )),
        Err(e) => fail(
            format!("No secure connection to {host}:{port}."),
            chain(&e),
            "Check that the server is running and reachable from this computer (firewall, port 443), and that its certificate is trusted (install its CA, or set the trusted CA file under Advanced).",
        ),
    }
}

fn proxy_spec(w: &WizardState) -> Result<ProxySpec, String> {
    let port = match w.proxy_port.trim() {
        "" => None,
        p => Some(p.parse::<u16>().map_err(|e| e.to_string())?),
    };
    ProxySpec::parse(w.proxy_host.trim(), port).map_err(|e| e.to_string())
}

async fn check_proxy(env: &ConnectEnv, w: &WizardState, p: &Prepared, target: &str) -> CheckState {
    if !w.proxy_enabled {
        return CheckState::Passed("no proxy".into());
    }
    let spec = match proxy_spec(w) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                "The proxy address is not valid.",
                e,
                "Correct the proxy name and port.",
            );
        }
    };
    let password = w.secret(Field::ProxyPassword);
    let credentials = w.proxy_auth.then(|| (w.proxy_user.trim(), &password));
    let authority = url::Url::parse(target)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(443)
            )
        })
        .unwrap_or_default();
    if let Err(e) = crate::proxy::probe_connect(&spec, credentials, &authority).await {
        return fail(
            format!(
                "The proxy {} refused to connect to {authority}.",
                spec.url()
            ),
            chain(&e),
            "Check the proxy name, port and credentials with your network team; the connector can sign in to a proxy with Basic credentials only.",
        );
    }
    // Then TLS through the tunnel.
    let proxy = match spec.to_reqwest(credentials) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                "The proxy cannot be used.",
                chain(&e),
                "Correct the proxy settings.",
            );
        }
    };
    let client = match env
        .http(p.ca.as_deref())
        .and_then(|b| b.proxy(proxy).build().map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            return fail(
                "The HTTPS client cannot be set up.",
                e,
                "Check the trusted CA file.",
            );
        }
    };
    match client.get(target).send().await {
        Ok(r) => CheckState::Passed(format!(
            "{}: tunnel open, HTTP {}",
            spec.url(),
            r.status().as_u16()
        )),
        Err(e) => fail(
            format!("No secure connection through the proxy {}.", spec.url()),
            chain(&e),
            "Check that the proxy lets this computer reach the Exchange server on port 443.",
        ),
    }
}

async fn exchange_permissions(
    env: &ConnectEnv,
    w: &WizardState,
    p: &Prepared,
    target: &str,
) -> Result<(String, PermissionReport), CheckState> {
    let pool_config = PoolConfig {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
        },
        ..PoolConfig::default()
    };
    let user = w.exchange_user.trim();
    let (pool, server) = match w.server_type {
        ServerType::OnPremises => {
            let mut config =
                BridgeConfig::new(&env.bridge_script, user, w.secret(Field::ExchangePassword));
            if let Some((program, args)) = &env.bridge_host {
                config.program = program.clone();
                config.prefix_args = args.clone();
            }
            config.authentication = env.powershell_authentication;
            config.open_timeout = Duration::from_secs(30);
            let server = w.server.trim().to_string();
            let primary = CasServer {
                name: server.split('.').next().unwrap_or(&server).to_uppercase(),
                fqdn: server.clone(),
                connection_uri: target.to_string(),
            };
            let failover = FailoverConfig {
                enabled: false,
                ..FailoverConfig::default()
            };
            // Like the service's sessions: the whole forest in view (multi-domain forests).
            let pool_config = PoolConfig {
                session_init: crate::exchange::cmdlets::on_premises_session_init(),
                ..pool_config
            };
            (
                RunspacePool::new(
                    Arc::new(BridgeConnector::new(config)),
                    Some(Failover::new(primary, failover)),
                    pool_config,
                    None,
                ),
                server,
            )
        }
        ServerType::Hosted => {
            let http = env
                .http(p.ca.as_deref())
                .and_then(|b| b.build().map_err(|e| e.to_string()))
                .map_err(|e| {
                    fail(
                        "The HTTPS client cannot be set up.",
                        e,
                        "Check the trusted CA file.",
                    )
                })?;
            let tokens = TokenClient::new(
                OAuthConfig::new(
                    &p.login_base,
                    &p.package.manifest.tenant_id,
                    &p.package.manifest.client_id,
                    ClientCredential::Certificate(p.certificate.clone()),
                ),
                http.clone(),
            );
            let config = RestConfig::new(target, &p.package.manifest.tenant_id);
            (
                RunspacePool::new(
                    Arc::new(RestConnector::new(config, Arc::new(tokens), http)),
                    None,
                    pool_config,
                    None,
                ),
                target.to_string(),
            )
        }
    };
    let client = ExchangeClient::new(pool);
    let result = client.check_permissions().await;
    result.map(|r| (server, r)).map_err(|e| {
        let why = chain(&e);
        let fix = if e.server_unreachable() {
            "Check that the Client Access server is running and that remote PowerShell (/PowerShell/) is enabled on it."
        } else {
            "Check the Exchange account's user name (DOMAIN\\user) and password, and that the account is not locked out."
        };
        fail(format!("Signing in to Exchange as {user} failed."), why, fix)
    })
}

async fn check_notification(env: &ConnectEnv, w: &WizardState, p: &Prepared) -> CheckState {
    let mailbox = w.notification_mailbox.trim();
    let credential = MailboxCredential {
        user: mailbox.to_string(),
        password: w.secret(Field::NotificationPassword),
        scheme: AuthScheme::Ntlm,
    };
    let client = match env
        .http(p.ca.as_deref())
        .and_then(|b| crate::notify::auth::http1_client(b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            return fail(
                "The HTTPS client cannot be set up.",
                e,
                "Check the trusted CA file.",
            );
        }
    };
    let found = match crate::notify::autodiscover::discover(&client, mailbox, &credential).await {
        Ok(f) => f,
        Err(e) => {
            return fail(
                format!("Autodiscover found no Exchange Web Services URL for {mailbox}."),
                e.to_string(),
                "Check the mailbox address and password, and that Autodiscover and EWS are configured on the Client Access server.",
            );
        }
    };
    // EWS: an authenticated request that changes nothing.
    let body = r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>"#;
    match crate::notify::auth::post(
        &client,
        &found.ews_url,
        "text/xml; charset=utf-8",
        body,
        &reqwest::header::HeaderMap::new(),
        &credential,
    )
    .await
    {
        Ok(r) if r.status().as_u16() != 401 && r.status().as_u16() != 403 => {
            CheckState::Passed(format!("EWS {}", found.ews_url))
        }
        Ok(r) => fail(
            format!("EWS at {} refused the notification account.", found.ews_url),
            format!("HTTP {}", r.status()),
            "Check the notification mailbox's password.",
        ),
        Err(e) => fail(
            format!("EWS at {} cannot be reached.", found.ews_url),
            chain(&e),
            "Check the mailbox's password and that EWS is enabled on the Client Access server.",
        ),
    }
}

fn same_organisation(existing: &ExchangeConnector, server: &str) -> bool {
    let domain = |s: &str| s.split_once('.').map(|(_, d)| d.to_ascii_lowercase());
    let ours = domain(server);
    existing
        .server_name
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(server) || (ours.is_some() && domain(s) == ours))
        || existing
            .exchange_organization
            .as_deref()
            .zip(ours.as_deref())
            .is_some_and(|(org, d)| org.eq_ignore_ascii_case(d))
}

async fn check_intune(
    env: &ConnectEnv,
    input: &ConnectInput,
    p: &Prepared,
    send: &(dyn Fn(ConnectEvent) + Send + Sync),
) -> CheckState {
    let w = &input.wizard;
    let mut builder = match env.http(p.ca.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            return fail(
                "The HTTPS client cannot be set up.",
                e,
                "Check the trusted CA file.",
            );
        }
    };
    if w.proxy_enabled {
        let password = w.secret(Field::ProxyPassword);
        let creds = w.proxy_auth.then(|| (w.proxy_user.trim(), &password));
        match proxy_spec(w).and_then(|s| s.to_reqwest(creds).map_err(|e| e.to_string())) {
            Ok(proxy) => builder = builder.proxy(proxy),
            Err(e) => {
                return fail(
                    "The proxy cannot be used.",
                    e,
                    "Correct the proxy settings.",
                );
            }
        }
    }
    let http = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            return fail(
                "The HTTPS client cannot be set up.",
                e.to_string(),
                "Check the trusted CA file.",
            );
        }
    };
    let tokens = TokenClient::new(
        OAuthConfig::new(
            &p.login_base,
            &p.package.manifest.tenant_id,
            &p.package.manifest.client_id,
            ClientCredential::Certificate(p.certificate.clone()),
        ),
        http.clone(),
    );
    let mut config = IntuneConfig::new(&p.graph_base);
    config.max_attempts = 2;
    let intune = IntuneClient::new(http, Arc::new(tokens), config);
    let fix = "Check that the package belongs to this tenant and that the app still has the DeviceManagementServiceConfig.ReadWrite.All permission with admin consent (Intune admin center).";
    let connectors = match intune.exchange_connectors().await {
        Ok(c) => c,
        Err(e) => return fail("Signing in to Intune failed.", chain(&e), fix),
    };
    if !input.register {
        return CheckState::Passed(format!("{} connector(s) registered", connectors.len()));
    }
    let server = w.server.trim();
    let same: Vec<&ExchangeConnector> = connectors
        .iter()
        .filter(|c| same_organisation(c, server))
        .collect();
    if !same.is_empty() {
        let (answer, reply) = tokio::sync::oneshot::channel();
        send(ConnectEvent::AskReplace(ReplaceQuestion {
            existing: same
                .iter()
                .map(|c| {
                    format!(
                        "{} on {} (last sync {})",
                        c.server_name.as_deref().unwrap_or("?"),
                        c.connector_server_name.as_deref().unwrap_or("?"),
                        c.last_sync_date_time
                            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_else(|| "never".into())
                    )
                })
                .collect(),
            answer,
        }));
        if !reply.await.unwrap_or(false) {
            return fail(
                "Intune already has a connector for this organisation.",
                "You chose not to replace it.",
                "Click Connect and choose Replace to install this connector instead, or cancel to keep the original.",
            );
        }
        for c in &same {
            if let Err(e) = intune.delete_connector(&c.id).await {
                return fail(
                    "The existing connector could not be removed from Intune.",
                    chain(&e),
                    fix,
                );
            }
        }
    }
    let host = std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into());
    let kind = match w.server_type {
        ServerType::OnPremises => "onPremises",
        ServerType::Hosted => "hosted",
    };
    let record: ExchangeConnector = match serde_json::from_value(serde_json::json!({
        "serverName": server,
        "connectorServerName": host,
        "exchangeConnectorType": kind,
        "version": env!("CARGO_PKG_VERSION"),
        "status": "connected",
    })) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                "The connector record cannot be built.",
                e.to_string(),
                "Report this as a bug.",
            );
        }
    };
    match intune.register_connector(&record).await {
        Ok(c) => CheckState::Passed(format!(
            "registered as {}{}",
            c.id,
            if same.is_empty() {
                ""
            } else {
                " (replaced the original)"
            }
        )),
        Err(e) => fail(
            "Registering the connector in Intune failed.",
            chain(&e),
            fix,
        ),
    }
}

/// The configuration the fields describe.
/// The keys the wizard edits; every other saved setting (schedule, language, PowerShell options,
/// `ExchangeWebServiceURL`, ...) is kept as it was.
const WIZARD_KEYS: &[&str] = &[
    "ExchangeServer",
    "ExchangeServerType",
    "ExchangePowerShellURL",
    "ExchangeUser",
    "NotificationMailbox",
    "TrustedCaFile",
    "ProxyEnabled",
    "ProxyHost",
    "ProxyPort",
    "ProxyUser",
    "TenantId",
    "ClientId",
    "LoginBase",
    "GraphBase",
    "ExchangeRestBase",
];

/// The configuration of the wizard's fields on top of `saved` (the values already in the file, see
/// `Config::load_values`): the wizard's keys replaced, the rest kept.
pub fn config_from(
    w: &WizardState,
    p_tenant: &str,
    p_client: &str,
    login: &str,
    graph: &str,
    rest: Option<&str>,
    saved: crate::config::Values,
) -> Result<Config, String> {
    let mut values = saved;
    values.retain(|k, _| !WIZARD_KEYS.contains(&k.as_str()));
    let mut put = |k: &str, v: &str| {
        if !v.trim().is_empty() {
            values.insert(k.to_string(), v.trim().to_string());
        }
    };
    put("ExchangeServer", &w.server);
    put(
        "ExchangeServerType",
        match w.server_type {
            ServerType::OnPremises => "OnPremises",
            ServerType::Hosted => "Hosted",
        },
    );
    put("ExchangePowerShellURL", &w.powershell_url);
    put("ExchangeUser", &w.exchange_user);
    put("NotificationMailbox", &w.notification_mailbox);
    put("TrustedCaFile", &w.trusted_ca_file);
    put(
        "ProxyEnabled",
        if w.proxy_enabled { "true" } else { "false" },
    );
    if w.proxy_enabled {
        put("ProxyHost", &w.proxy_host);
        put("ProxyPort", &w.proxy_port);
        if w.proxy_auth {
            put("ProxyUser", &w.proxy_user);
        }
    }
    put("TenantId", p_tenant);
    put("ClientId", p_client);
    put("LoginBase", login);
    put("GraphBase", graph);
    if let Some(rest) = rest {
        put("ExchangeRestBase", rest);
    }
    Config::from_values(&values).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    })
}

async fn save(
    env: &ConnectEnv,
    w: &WizardState,
    p: &Prepared,
) -> Result<ConnectSuccess, CheckState> {
    use base64::Engine as _;
    let m = &p.package.manifest;
    // Settings the wizard does not show (schedule, language, PowerShell options, unknown elements of
    // a newer version) stay as saved.
    let (mut saved, unknown) = Config::load_values(&env.config_dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    for (key, value) in &env.extra_settings {
        saved.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let mut config = config_from(
        w,
        &m.tenant_id,
        &m.client_id,
        &p.login_base,
        &p.graph_base,
        m.exchange_rest_base.as_deref(),
        saved,
    )
    .map_err(|e| {
        fail(
            "The configuration is not valid.",
            e,
            "Correct the fields named above.",
        )
    })?;
    config.unknown = unknown;
    let mut secrets: BTreeMap<String, Secret> = BTreeMap::new();
    secrets.insert("ExchangePassword".into(), w.secret(Field::ExchangePassword));
    secrets.insert(
        "NotificationPassword".into(),
        w.secret(Field::NotificationPassword),
    );
    if w.proxy_enabled && w.proxy_auth {
        secrets.insert("ProxyPassword".into(), w.secret(Field::ProxyPassword));
    }
    secrets.insert(
        "ClientCertificate".into(),
        Secret::new(base64::engine::general_purpose::STANDARD.encode(&p.package.certificate_pfx)),
    );
    secrets.insert("CertificatePassword".into(), m.certificate_password.clone());

    // Secrets first: to the worker (on Windows always: a stopped service is started, and nothing
    // ever goes to this account's own vault, which the service cannot read), else (Linux, no worker)
    // to the local store.
    use crate::service::secret_handoff::{Handoff, HandoffError, hand_to_worker};
    let mut secrets_to_worker = true;
    let secrets_where = match hand_to_worker(&env.instance, &env.channel, &secrets).await {
        Ok(Handoff::Stored(_)) => "the connector service's credential store".to_string(),
        Err(HandoffError::Refused(message)) => {
            return Err(fail(
                "The connector service refused the secrets.",
                message,
                "Check the service's log, then click Connect again.",
            ));
        }
        Err(HandoffError::NotElevated) => {
            return Err(fail(
                "Setup is not running as an administrator.",
                chain(&HandoffError::NotElevated),
                "Close setup and start it again with 'Run as administrator'.",
            ));
        }
        Err(e) => {
            return Err(fail(
                "The connector service could not be reached.",
                chain(&e),
                "Start the service (services.msc), then click Connect again.",
            ));
        }
        Ok(Handoff::NoWorker) => {
            secrets_to_worker = false;
            let store = env.secret_store().map_err(|e| {
                fail(
                    "The credential store cannot be opened.",
                    e,
                    "Run setup as an administrator.",
                )
            })?;
            // All or nothing: a secret the store cannot take is refused before any is stored.
            let all: Vec<(&str, &Secret)> = secrets.iter().map(|(k, v)| (k.as_str(), v)).collect();
            crate::secrets::store_all(store.as_ref(), &env.instance, &all).map_err(|e| {
                fail(
                    "Storing the secrets failed; nothing was stored.",
                    chain(&e),
                    "Run setup as an administrator.",
                )
            })?;
            store.describe()
        }
    };
    let config_path = config.save(&env.config_dir).map_err(|e| {
        fail(
            "The configuration file could not be written.",
            chain(&e),
            "Run setup as an administrator.",
        )
    })?;
    let package = PathBuf::from(w.package_path.trim());
    let insecure_package = (!folder_is_secure(&package)).then_some(package);
    Ok(ConnectSuccess {
        config_path,
        secrets_where,
        secrets_to_worker,
        insecure_package,
    })
}

/// Whether only the owner (and administrators) can read files in the package's folder.
pub fn folder_is_secure(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let check = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o077 == 0)
                .unwrap_or(false)
        };
        check(file) && file.parent().is_some_and(check)
    }
    #[cfg(not(unix))]
    {
        // Downloads and the desktop are readable by other tools of the same user and often synced:
        // treat a package anywhere but under ProgramData as not secure.
        let _ = file;
        false
    }
}
