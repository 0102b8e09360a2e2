//! Every client of a run, built in one place: the HTTP clients (strict TLS with the optional
//! `TrustedCaFile`, the configured proxy and never the system's), the token client, Intune (Graph),
//! Exchange (PowerShell bridge or REST `InvokeCommand`, in a runspace pool with CAS failover) and the
//! notification mailer. The worker, `sync`, the setup's Connect and `diagnose` all build their clients
//! here, so they reach the servers the same way; no other module constructs a client (a test checks).
//!
//! * [`SyncSetup`] is the data of a run (from the configuration and the secret store, see
//!   [`crate::service::setup::sync_setup`], or from the lab's endpoints file in tests);
//!   [`Clients::build`] turns it into clients and [`SyncSetup::build`] into a [`SyncEngine`].
//! * [`checks`] is the one connection check pipeline that Connect shows and `diagnose` prints.
//! * [`handoff`] gives typed secrets to the running worker, or to the local store when none runs.

pub mod checks;
pub mod handoff;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::bridge_protocol::{Authentication, BridgeProxy};
use crate::exchange::bridge::BridgeConfig;
use crate::exchange::failover::FailoverConfig;
use crate::exchange::pool::{PoolConfig, RetryPolicy};
use crate::exchange::rest::RestConfig;
use crate::exchange::{CasServer, ExchangeClient};
use crate::intune::{IntuneClient, IntuneConfig};
use crate::notify::{GraphMailer, MailRoute, MailTransport, Notifier, NotifierConfig};
use crate::oauth::{ClientCredential, OAuthConfig, TokenClient};
use crate::policy::PolicySettings;
use crate::proxy::ConfiguredProxy;
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use crate::sync::{SyncConfig, SyncEngine, SyncError};

/// How the connector reaches Exchange.
// One value per engine build: boxing the larger variant would buy nothing (and Windows' PathBuf makes
// it larger still, which is where clippy notices).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ExchangeTransport {
    /// Exchange Online (or the lab's): REST `InvokeCommand` with the app's token.
    Rest {
        /// `https://outlook.office365.com` or the lab's `exchange_rest_base`.
        base_url: String,
        /// Token scope (`https://outlook.office365.com/.default`).
        scope: String,
    },
    /// On-premises: the PowerShell bridge.
    Bridge {
        /// PowerShell host program.
        program: PathBuf,
        /// Arguments before the bridge's own (e.g. `-NoProfile -NonInteractive -File <script>`).
        prefix_args: Vec<String>,
        /// The configured Client Access server.
        server: CasServer,
        /// `-Authentication` of the remote session.
        authentication: Authentication,
        /// Service account (`DOMAIN\user`).
        user_name: String,
        /// Its password (from the secret store; sent to the bridge on stdin only).
        password: Secret,
        /// `IsCasFailoverEnabled`.
        failover: bool,
        /// The configured proxy, for the remote session.
        proxy: Option<BridgeProxy>,
    },
}

impl ExchangeTransport {
    /// The URL the connector talks to for Exchange: the remote PowerShell endpoint or the REST base.
    pub fn url(&self) -> &str {
        match self {
            ExchangeTransport::Rest { base_url, .. } => base_url,
            ExchangeTransport::Bridge { server, .. } => &server.connection_uri,
        }
    }
}

/// Everything needed to build the clients and the [`SyncEngine`] of a run: filled from the
/// configuration and the secret store by [`crate::service::setup::sync_setup`], or from the lab's
/// endpoints file by tests.
#[derive(Debug, Clone)]
pub struct SyncSetup {
    /// Entra login base (`https://login.microsoftonline.com`).
    pub login_base: String,
    /// Tenant id.
    pub tenant: String,
    /// The connector app's client id.
    pub client_id: String,
    /// Its secret or certificate.
    pub credential: ClientCredential,
    /// Graph base (`https://graph.microsoft.com`).
    pub graph_base: String,
    /// Graph token scope.
    pub graph_scope: String,
    /// `$top` of Graph lists (at most 1000).
    pub graph_page_size: u32,
    /// Attempts per Graph request on throttling or server errors.
    pub graph_max_attempts: u32,
    /// An extra CA file to trust (TLS is never switched off).
    pub extra_ca: Option<PathBuf>,
    /// Exchange transport.
    pub exchange: ExchangeTransport,
    /// Runspaces (1 unless `EnableParallelCommandSupport`; see [`crate::exchange::pool::parallel_runspaces`]).
    pub runspaces: usize,
    /// The state database file.
    pub store_path: PathBuf,
    /// The access policy.
    pub settings: PolicySettings,
    /// Engine settings.
    pub config: SyncConfig,
    /// The configured proxy (with its credentials) for every HTTP call; `None`: direct. The system
    /// proxy is never used.
    pub proxy: Option<ConfiguredProxy>,
    /// How to mail the owners of blocked or quarantined devices; `None`: no mail.
    pub notifier: Option<NotifierConfig>,
}

/// Why the clients or the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// TLS or HTTP client set-up.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// HTTP client.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The proxy settings.
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    /// The store.
    #[error("cannot open the state store: {0}")]
    Store(#[from] StoreError),
    /// The engine refused the settings.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// How patient the clients are, and what a check run changes about them. The defaults are the
/// worker's.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Longest time of one HTTP request.
    pub timeout: Duration,
    /// Longest time to open a TCP connection; `None`: only `timeout` applies.
    pub connect_timeout: Option<Duration>,
    /// Host names pinned to addresses (like a hosts file): the lab's names in tests and the demo.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Retries of Exchange calls; `None`: the pool's default.
    pub exchange_retry: Option<RetryPolicy>,
    /// Longest time to open a bridge session; `None`: the bridge's default.
    pub bridge_open_timeout: Option<Duration>,
    /// `false`: stay on the configured Client Access server (a check of that server must not be
    /// answered by another one).
    pub cas_failover: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(120),
            connect_timeout: None,
            resolve: Vec::new(),
            exchange_retry: None,
            bridge_open_timeout: None,
            cas_failover: true,
        }
    }
}

impl ClientOptions {
    /// The options of a connection check: short timeouts, two attempts, no failover.
    pub fn for_checks() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Some(Duration::from_secs(10)),
            resolve: Vec::new(),
            exchange_retry: Some(RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(1),
            }),
            bridge_open_timeout: Some(Duration::from_secs(30)),
            cas_failover: false,
        }
    }
}

/// An HTTP client builder for every outbound call: strict TLS (the OS store plus `extra_ca`) and
/// `proxy` only — the system proxy is switched off first.
pub fn http_builder(
    extra_ca: Option<&Path>,
    proxy: Option<&ConfiguredProxy>,
    options: &ClientOptions,
) -> Result<reqwest::ClientBuilder, crate::proxy::ProxyError> {
    let mut builder = crate::tls::http_client_builder(extra_ca)?
        .no_proxy()
        .timeout(options.timeout);
    if let Some(connect) = options.connect_timeout {
        builder = builder.connect_timeout(connect);
    }
    for (name, address) in &options.resolve {
        builder = builder.resolve(name, *address);
    }
    Ok(match proxy {
        Some(proxy) => builder.proxy(proxy.to_reqwest()?),
        None => builder,
    })
}

/// The HTTP client builder of a configuration: its `TrustedCaFile` and its proxy with the proxy
/// password from the secret store (the worker's timeouts).
pub fn http_client(
    config: &crate::config::Config,
    secrets: &dyn crate::secrets::SecretStore,
    instance: &str,
) -> Result<reqwest::ClientBuilder, crate::proxy::ProxyError> {
    let proxy = crate::proxy::configured(config, secrets, instance)?;
    http_builder(
        config.trusted_ca_file.as_deref(),
        proxy.as_ref(),
        &ClientOptions::default(),
    )
}

/// The HTTP client of onboarding (the admin's sign-in and the Graph calls that create the connector's
/// app): the same strict TLS and explicit proxy as every other client, and no redirects followed, so a
/// token or the admin's bearer never travels to another host.
pub fn onboarding_http(
    extra_ca: Option<&Path>,
    proxy: Option<&ConfiguredProxy>,
) -> Result<reqwest::Client, crate::onboarding::OnboardingError> {
    let options = ClientOptions {
        timeout: Duration::from_secs(60),
        connect_timeout: Some(Duration::from_secs(15)),
        ..ClientOptions::default()
    };
    let client = |e: &dyn std::error::Error| {
        crate::onboarding::OnboardingError::Client(crate::error_text::chain(e))
    };
    http_builder(extra_ca, proxy, &options)
        .map_err(|e| client(&e))?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| client(&e))
}

/// The clients of a run, all through the same TLS settings and proxy.
pub struct Clients {
    /// The HTTP client (Graph, tokens, REST `InvokeCommand`, probes).
    pub http: reqwest::Client,
    /// The HTTP/1.1 client of Autodiscover and EWS (NTLM needs one connection per handshake).
    pub mail_http: reqwest::Client,
    /// App-only tokens.
    pub tokens: Arc<TokenClient>,
    /// Graph.
    pub intune: IntuneClient,
    /// Exchange, through the runspace pool.
    pub exchange: ExchangeClient,
    /// The notification mailer, when a notification mailbox is configured.
    pub notifier: Option<Notifier>,
}

impl Clients {
    /// Builds every client of `setup`.
    #[allow(clippy::result_large_err)]
    pub fn build(setup: &SyncSetup, options: &ClientOptions) -> Result<Clients, SetupError> {
        let builder = || http_builder(setup.extra_ca.as_deref(), setup.proxy.as_ref(), options);
        let http = builder()?
            .build()
            .map_err(|e| SetupError::Http(crate::error_text::chain(&e)))?;
        let mail_http = crate::notify::auth::http1_client(builder()?)
            .map_err(|e| SetupError::Http(crate::error_text::chain(&e)))?;
        let tokens = app_tokens(
            &http,
            &setup.login_base,
            &setup.tenant,
            &setup.client_id,
            &setup.credential,
        );
        let mut intune_config = IntuneConfig::new(&setup.graph_base);
        intune_config.scope = setup.graph_scope.clone();
        intune_config.page_size = setup.graph_page_size.clamp(1, 1000);
        intune_config.max_attempts = setup.graph_max_attempts.max(1);
        let intune = IntuneClient::new(http.clone(), tokens.clone(), intune_config);
        // Exchange Online: Graph `sendMail` on the run's HTTP client (the proxy, the TLS settings)
        // with the app's token; on premises: EWS on the HTTP/1.1 client.
        let notifier = setup.notifier.clone().map(|config| {
            let transport = match &config.route {
                MailRoute::Graph => MailTransport::Graph(GraphMailer::new(
                    http.clone(),
                    tokens.clone(),
                    &setup.graph_base,
                    &setup.graph_scope,
                )),
                MailRoute::Ews(_) => MailTransport::Ews(mail_http.clone()),
            };
            Notifier::with_transport(transport, config)
        });
        let mut pool_config = PoolConfig {
            max_runspaces: setup.runspaces.max(1),
            ..PoolConfig::default()
        };
        if let Some(retry) = &options.exchange_retry {
            pool_config.retry = retry.clone();
        }
        let exchange = exchange_client(
            &setup.exchange,
            &setup.tenant,
            &tokens,
            &http,
            pool_config,
            options,
        );
        Ok(Clients {
            http,
            mail_http,
            tokens,
            intune,
            exchange,
            notifier,
        })
    }
}

/// What the setup's Settings page needs to read the directory (its group search): the app, its
/// credential, Graph, and the configuration's way out (CA file and proxy).
#[derive(Debug, Clone)]
pub struct DirectoryAccess {
    /// Entra login base.
    pub login_base: String,
    /// Tenant id.
    pub tenant: String,
    /// The connector app's client id.
    pub client_id: String,
    /// Its secret or certificate.
    pub credential: ClientCredential,
    /// Graph base.
    pub graph_base: String,
    /// Graph token scope.
    pub graph_scope: String,
    /// An extra CA file to trust.
    pub extra_ca: Option<PathBuf>,
    /// The configured proxy; `None`: direct (never the system's).
    pub proxy: Option<ConfiguredProxy>,
}

/// The connector app's token client (secret or certificate) on `http`.
fn app_tokens(
    http: &reqwest::Client,
    login_base: &str,
    tenant: &str,
    client_id: &str,
    credential: &ClientCredential,
) -> Arc<TokenClient> {
    Arc::new(TokenClient::new(
        OAuthConfig::new(login_base, tenant, client_id, credential.clone()),
        http.clone(),
    ))
}

/// The Graph client of the Settings page's group search: the same TLS settings and proxy as a run's.
#[allow(clippy::result_large_err)]
pub fn directory_client(
    access: &DirectoryAccess,
    options: &ClientOptions,
) -> Result<IntuneClient, SetupError> {
    let http = http_builder(access.extra_ca.as_deref(), access.proxy.as_ref(), options)?
        .build()
        .map_err(|e| SetupError::Http(crate::error_text::chain(&e)))?;
    let tokens = app_tokens(
        &http,
        &access.login_base,
        &access.tenant,
        &access.client_id,
        &access.credential,
    );
    let mut config = IntuneConfig::new(&access.graph_base);
    config.scope = access.graph_scope.clone();
    Ok(IntuneClient::new(http, tokens, config))
}

/// The Exchange client of a transport: REST, or the bridge with the failover of its Client Access
/// server.
fn exchange_client(
    transport: &ExchangeTransport,
    tenant: &str,
    tokens: &Arc<TokenClient>,
    http: &reqwest::Client,
    pool: PoolConfig,
    options: &ClientOptions,
) -> ExchangeClient {
    match transport {
        ExchangeTransport::Rest { base_url, scope } => {
            let mut rest = RestConfig::new(base_url, tenant);
            rest.scope = scope.clone();
            ExchangeClient::online(rest, tokens.clone(), http.clone(), pool, None)
        }
        ExchangeTransport::Bridge {
            program,
            prefix_args,
            server,
            authentication,
            user_name,
            password,
            failover,
            proxy,
        } => {
            let mut bridge = BridgeConfig::new(Path::new(""), user_name, password.clone());
            bridge.proxy = proxy.clone();
            bridge.program = program.clone();
            bridge.prefix_args = prefix_args.clone();
            bridge.authentication = *authentication;
            if let Some(open) = options.bridge_open_timeout {
                bridge.open_timeout = open;
            }
            let failover = FailoverConfig {
                enabled: *failover && options.cas_failover,
                ..FailoverConfig::default()
            };
            ExchangeClient::on_premises(bridge, server.clone(), failover, pool, None)
        }
    }
}

impl SyncSetup {
    /// Builds the clients, opens the store and returns the engine.
    #[allow(clippy::result_large_err)]
    pub fn build(self) -> Result<SyncEngine, SetupError> {
        let clients = Clients::build(&self, &ClientOptions::default())?;
        let store = Store::open(&self.store_path)?;
        let exchange_online = matches!(self.exchange, ExchangeTransport::Rest { .. });
        let mut engine = SyncEngine::new(
            clients.exchange,
            clients.intune,
            store,
            self.settings,
            self.config,
        )?;
        engine.set_exchange_online(exchange_online);
        if let Some(notifier) = clients.notifier {
            engine.set_notifier(notifier);
        }
        if let Some(proxy) = self.proxy {
            engine.set_proxy(proxy);
        }
        Ok(engine)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// A client constructor, and the module that defines it (which may use it).
    const CONSTRUCTORS: &[(&str, &str)] = &[
        ("TokenClient::new", "oauth.rs"),
        ("IntuneClient::new", "intune.rs"),
        ("RestConnector::new", "exchange/"),
        ("BridgeConnector::new", "exchange/"),
        ("ExchangeClient::on_premises", "exchange/"),
        ("ExchangeClient::online", "exchange/"),
        ("ExchangeClient::new", "exchange/"),
        ("RunspacePool::new", "exchange/"),
        ("Notifier::new", "notify/"),
        ("Notifier::with_transport", "notify/"),
        ("GraphMailer::new", "notify/"),
        ("http_client_builder(", "tls.rs"),
        ("reqwest::Client::builder", "tls.rs"),
        ("Client::builder()", "tls.rs"),
        ("http1_client(", "notify/"),
    ];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The production lines of a file: comments and the unit tests at its end left out.
    fn production_lines(text: &str) -> Vec<&str> {
        let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
        text[..end]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect()
    }

    /// Every constructor call in `src/` outside this module, the lab and the defining modules.
    fn constructions_outside_connection() -> (Vec<String>, usize) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let (mut found, mut in_connection) = (Vec::new(), 0);
        for file in files {
            let relative = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            for line in production_lines(&text) {
                for (constructor, home) in CONSTRUCTORS {
                    if !line.contains(constructor) || relative.starts_with(home) {
                        continue;
                    }
                    if relative.starts_with("connection/") {
                        in_connection += 1;
                    } else if !relative.starts_with("lab/") {
                        found.push(format!("src/{relative}: {}", line.trim()));
                    }
                }
            }
        }
        (found, in_connection)
    }

    #[test]
    fn only_connection_constructs_clients() {
        let (found, in_connection) = constructions_outside_connection();
        // The scan sees this module's own constructions (tokens, Intune, both Exchange transports,
        // the notifier, the HTTP clients), so it reads what it should.
        assert!(in_connection >= 7, "{in_connection}");
        assert!(
            found.is_empty(),
            "clients are built only in src/connection/ (see ARCHITECTURE.md):\n{}",
            found.join("\n")
        );
    }
}
