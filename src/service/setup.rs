//! The production [`SyncSetup`]: filled from the configuration file and the secret store (tests fill
//! one from the lab's endpoints file themselves; this module knows nothing of the lab).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bridge_protocol::{Authentication, BridgeProxy};
use crate::certificate::ClientCertificate;
use crate::config::{Config, ExchangeServerType, NotificationLanguage, PowerShellAuthentication};
use crate::exchange::CasServer;
use crate::exchange::bridge::BridgeConfig;
use crate::notify::{
    AuthScheme, DEFAULT_ENROL_LINK, EwsRoute, Language, MailRoute, MailboxCredential,
    NotifierConfig, Template,
};
use crate::oauth::ClientCredential;
use crate::policy::PolicySettings;
use crate::secret::Secret;
use crate::secrets::{SecretError, SecretStore};
use crate::sync::SyncConfig;
use crate::sync::cli::{ExchangeTransport, SyncSetup};

/// The state database's file name in the configuration folder.
pub const STATE_DB: &str = "state.db";
/// The policy file in the configuration folder (JSON of [`PolicySettings`]); without it a run uses the
/// default policy ([`crate::policy_import`]).
pub const POLICY_FILE: &str = "policy.json";
/// Graph token scope of the public cloud.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// A notification template in the configuration folder replaces the shipped one (`Subject: ...` on
/// the first line, then the HTML with `{user}`, `{device}` and `{enrol_link}`).
pub const NOTIFICATION_TEMPLATE_FILE: &str = "notification-template.html";
/// Exchange Online token scope (REST `InvokeCommand`).
pub const EXCHANGE_SCOPE: &str = "https://outlook.office365.com/.default";

/// Why the engine's set-up could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum SetupProblem {
    /// The secret store failed.
    #[error("secret store: {0}")]
    Secrets(#[from] SecretError),
    /// A secret the configuration needs is not stored.
    #[error(
        "{0} is not stored in the secret store; store it with `exchange-connector-service configure` (or the setup)"
    )]
    MissingSecret(&'static str),
    /// The stored client certificate cannot be opened.
    #[error(
        "the stored client certificate cannot be opened ({0}); import the connector package again"
    )]
    Certificate(String),
    /// The proxy settings cannot be used.
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
    /// A configured value cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// The policy file cannot be read.
    #[error("policy file {path}: {reason}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The app's credential: the client secret when stored, else the package's certificate.
pub fn client_credential(
    store: &dyn SecretStore,
    instance: &str,
) -> Result<ClientCredential, SetupProblem> {
    if let Some(secret) = store.get(instance, "ClientSecret")? {
        return Ok(ClientCredential::Secret(secret));
    }
    let Some(pfx) = store.get(instance, "ClientCertificate")? else {
        return Err(SetupProblem::MissingSecret(
            "ClientSecret (or ClientCertificate)",
        ));
    };
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(pfx.expose().trim())
        .map_err(|e| SetupProblem::Certificate(e.to_string()))?;
    let password = store
        .get(instance, "CertificatePassword")?
        .unwrap_or_else(|| Secret::new(""));
    let cert = ClientCertificate::from_pfx(&der, &password)
        .map_err(|e| SetupProblem::Certificate(e.to_string()))?;
    Ok(ClientCredential::Certificate(Arc::new(cert)))
}

/// The Exchange transport of a configuration.
pub fn exchange_transport(
    config: &Config,
    store: &dyn SecretStore,
    instance: &str,
) -> Result<ExchangeTransport, SetupProblem> {
    match config.exchange_server_type {
        ExchangeServerType::Hosted => Ok(ExchangeTransport::Rest {
            base_url: config.exchange_rest_base.clone(),
            scope: EXCHANGE_SCOPE.to_string(),
        }),
        ExchangeServerType::OnPremises => {
            let password = store
                .get(instance, "ExchangePassword")?
                .ok_or(SetupProblem::MissingSecret("ExchangePassword"))?;
            let server = CasServer::from_uri(&config.powershell_url())
                .map_err(|e| SetupProblem::Config(e.to_string()))?;
            let (default_program, prefix_args) =
                BridgeConfig::default_host(&crate::exchange::bridge::installed_script());
            let program = config.powershell_path.clone().unwrap_or(default_program);
            Ok(ExchangeTransport::Bridge {
                program,
                prefix_args,
                server,
                authentication: match config.powershell_authentication {
                    PowerShellAuthentication::Kerberos => Authentication::Kerberos,
                    PowerShellAuthentication::Negotiate => Authentication::Negotiate,
                    PowerShellAuthentication::Basic => Authentication::Basic,
                },
                user_name: config.exchange_user.clone(),
                password,
                failover: config.is_cas_failover_enabled,
                proxy: bridge_proxy(config, store, instance)?,
            })
        }
    }
}

/// The configured proxy as the PowerShell bridge takes it (credentials on stdin with the rest).
fn bridge_proxy(
    config: &Config,
    store: &dyn SecretStore,
    instance: &str,
) -> Result<Option<BridgeProxy>, SetupProblem> {
    Ok(
        crate::proxy::configured(config, store, instance)?.map(|p| BridgeProxy {
            url: p.spec.url(),
            user_name: p.credentials.as_ref().map(|(u, _)| u.clone()),
            password: p.credentials.map(|(_, password)| password),
        }),
    )
}

/// The policy from [`POLICY_FILE`], or `None` when there is no such file. Refused from a folder
/// others can write (they could plant a policy that allows every device).
pub fn policy_from_file(config_dir: &Path) -> Result<Option<PolicySettings>, SetupProblem> {
    let path = config_dir.join(POLICY_FILE);
    if path.exists() {
        trusted_folder(config_dir, POLICY_FILE)?;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SetupProblem::Policy {
                path,
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| SetupProblem::Policy {
            path,
            reason: e.to_string(),
        })
}

/// A [`SyncSetup`] from the configuration and the secret store, with `settings` as the policy.
pub fn sync_setup(
    config: &Config,
    store: &dyn SecretStore,
    instance: &str,
    config_dir: &Path,
    settings: PolicySettings,
) -> Result<SyncSetup, SetupProblem> {
    let runspaces = if config.enable_parallel_command_support {
        crate::exchange::pool::parallel_runspaces(Some(config.max_runspaces.max(1) as usize), 18, 2)
    } else {
        1
    };
    Ok(SyncSetup {
        login_base: config.login_base.clone(),
        tenant: config.tenant_id.clone(),
        client_id: config.client_id.clone(),
        credential: client_credential(store, instance)?,
        graph_base: config.graph_base.clone(),
        graph_scope: graph_scope(&config.graph_base),
        graph_page_size: 1000,
        graph_max_attempts: 5,
        extra_ca: config.trusted_ca_file.clone(),
        exchange: exchange_transport(config, store, instance)?,
        runspaces,
        store_path: config_dir.join(STATE_DB),
        settings,
        config: SyncConfig {
            actor: actor(),
            ..SyncConfig::default()
        },
        proxy: crate::proxy::configured(config, store, instance)?,
        notifier: notifier_config(config, store, instance, config_dir)?,
    })
}

/// The token scope of a Graph base: the base itself for Microsoft's clouds (national clouds have their
/// own resource), the public resource otherwise (the lab, or a gateway in front of Graph).
pub fn graph_scope(graph_base: &str) -> String {
    let base = graph_base.trim_end_matches('/');
    if base.contains("graph.microsoft") || base.contains("microsoftgraph") {
        format!("{base}/.default")
    } else {
        GRAPH_SCOPE.to_string()
    }
}

/// The secrets a configuration needs in the store, besides the app's credential (`ClientSecret` or
/// `ClientCertificate`): Exchange Online needs no Exchange or mailbox password (the app's token does
/// it all); on premises the Exchange account's password, and the notification account's when a
/// notification mailbox is set; the proxy's when a proxy user is set.
pub fn required_secrets(config: &Config) -> Vec<&'static str> {
    let mut needed = Vec::new();
    if config.exchange_server_type == ExchangeServerType::OnPremises {
        needed.push("ExchangePassword");
        if config.notification_mailbox.is_some() {
            needed.push("NotificationPassword");
        }
    }
    if config.proxy.enabled && config.proxy.user.is_some() {
        needed.push("ProxyPassword");
    }
    needed
}

/// How the notification account signs in to EWS on premises: NTLM (Exchange's default, also what
/// Negotiate falls back to) unless the admin chose Basic for remote PowerShell, and Basic only to an
/// https EWS URL (a Basic password over http would be readable on the wire).
fn ews_scheme(config: &Config) -> AuthScheme {
    let https = config
        .exchange_web_service_url
        .as_deref()
        .is_none_or(|url| url.to_ascii_lowercase().starts_with("https://"));
    match config.powershell_authentication {
        PowerShellAuthentication::Basic if https => AuthScheme::Basic,
        _ => AuthScheme::Ntlm,
    }
}

/// How notification mails are sent, or `None` when no `NotificationMailbox` is configured: Graph
/// `sendMail` for Exchange Online (EWS there is blocked since 1 October 2026 and Basic is off since
/// 2022), EWS with the notification account's password on premises.
pub fn notifier_config(
    config: &Config,
    store: &dyn SecretStore,
    instance: &str,
    config_dir: &Path,
) -> Result<Option<NotifierConfig>, SetupProblem> {
    let Some(mailbox) = config.notification_mailbox.clone() else {
        return Ok(None);
    };
    let route = match config.exchange_server_type {
        ExchangeServerType::Hosted => MailRoute::Graph,
        ExchangeServerType::OnPremises => {
            let password = store
                .get(instance, "NotificationPassword")?
                .ok_or(SetupProblem::MissingSecret("NotificationPassword"))?;
            MailRoute::Ews(EwsRoute {
                credential: MailboxCredential {
                    user: mailbox.clone(),
                    password,
                    scheme: ews_scheme(config),
                },
                ews_url: config.exchange_web_service_url.clone(),
                autodiscover_redirect_hosts: config.autodiscover_redirect_hosts.clone(),
            })
        }
    };
    let template_path = config_dir.join(NOTIFICATION_TEMPLATE_FILE);
    if template_path.exists() {
        trusted_folder(config_dir, NOTIFICATION_TEMPLATE_FILE)?;
    }
    let template = match std::fs::read_to_string(&template_path) {
        Ok(text) => Some(
            Template::parse(&text)
                .map_err(|e| SetupProblem::Config(format!("{}: {e}", template_path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(SetupProblem::Config(format!(
                "{}: {e}",
                template_path.display()
            )));
        }
    };
    Ok(Some(NotifierConfig {
        mailbox,
        route,
        language: match config.notification_language {
            NotificationLanguage::En => Language::En,
            NotificationLanguage::Fr => Language::Fr,
            NotificationLanguage::Nl => Language::Nl,
        },
        template,
        enrol_link: DEFAULT_ENROL_LINK.to_string(),
    }))
}

/// Refuses to load `what` from `config_dir` when others than the administrators and the service may
/// write it ([`crate::file_rights::check_not_writable_by_others`]).
fn trusted_folder(config_dir: &Path, what: &str) -> Result<(), SetupProblem> {
    // The folder's instance, from the layout of `config::default_config_dir` (`...\instances\<name>`
    // for others than the default): its service's SID is trusted, as is the caller's own account.
    let instance = match (
        config_dir.parent().and_then(Path::file_name),
        config_dir.file_name(),
    ) {
        (Some(parent), Some(name)) if parent == "instances" => name.to_string_lossy().into_owned(),
        _ => crate::config::DEFAULT_INSTANCE.to_string(),
    };
    crate::file_rights::check_not_writable_by_others(
        config_dir,
        &crate::service::windows::service_name(&instance),
        what,
    )
    .map_err(|e| SetupProblem::Config(e.to_string()))
}

/// `HOST\account` for the audit trail.
fn actor() -> String {
    let user = std::env::var("USERNAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "exchange-connector".into());
    format!("{}\\{user}", super::registration::host_name())
}
