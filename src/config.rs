//! The connector's configuration file, `OnPremisesExchangeConnectorServiceConfiguration.xml`: one
//! element per non-secret setting of [`crate::settings::SETTINGS`], named by its key, so the documented
//! elements (`IsCasFailoverEnabled`, `EnableParallelCommandSupport`, `ExchangeWebServiceURL`) work as the
//! original's procedures say. The file holds no secret: secrets live in [`crate::secrets`].
//!
//! Two phases (as ripgrep does): the file or an answers file gives *values* (key → text), validated
//! per setting by the registry; [`Config::from_values`] turns them into the typed [`Config`] and checks
//! what involves several settings, reporting every problem at once.
//!
//! An admin's hand edit must not stop the service: unknown elements are kept (written back verbatim)
//! and reported as warnings; only a value the connector cannot use is an error.

use crate::address::{ProxyAddressError, ProxySpec};
use crate::settings::{self, SETTINGS, SettingError};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// File name of the configuration file.
pub const CONFIG_FILE: &str = "OnPremisesExchangeConnectorServiceConfiguration.xml";
/// Root element of the configuration file.
pub const ROOT_ELEMENT: &str = "OnPremisesExchangeConnectorServiceConfiguration";
/// The instance used when none is named.
pub const DEFAULT_INSTANCE: &str = "default";

/// Why the configuration could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No configuration file yet.
    #[error(
        "no configuration in {dir}: run `exchange-connector-service configure --answers FILE` (or the setup program) first"
    )]
    NotConfigured {
        /// The folder looked in.
        dir: PathBuf,
    },
    /// Reading or writing the file.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// read / write / create.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not well-formed XML.
    #[error(
        "{path} is not well-formed XML ({reason}); fix the file by hand or run `configure` again"
    )]
    Xml {
        /// The file.
        path: PathBuf,
        /// Where and what.
        reason: String,
    },
    /// Values the connector cannot use; every one is listed.
    #[error("{} problem(s) in the configuration:\n{}", .0.len(), list(.0))]
    Invalid(Vec<SettingError>),
}

fn list(errors: &[SettingError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The domain of the placeholder service account earlier setups wrote for Exchange Online.
const HOSTED_PLACEHOLDER_DOMAIN: &str = "@app.invalid";

/// `ExchangeServerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExchangeServerType {
    /// Remote PowerShell to an on-premises CAS.
    #[default]
    OnPremises,
    /// Exchange Online REST.
    Hosted,
}

/// `PowerShellAuthentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PowerShellAuthentication {
    /// Kerberos.
    #[default]
    Kerberos,
    /// Negotiate (Kerberos or NTLM).
    Negotiate,
    /// Basic (https only).
    Basic,
}

/// `NotificationLanguage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotificationLanguage {
    /// English.
    #[default]
    En,
    /// French.
    Fr,
    /// Dutch.
    Nl,
}

/// The proxy settings (the password is a secret: `ProxyPassword` in the store).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySettings {
    /// `ProxyEnabled`.
    pub enabled: bool,
    /// `ProxyHost` as written (host, host:port or URL).
    pub host: Option<String>,
    /// `ProxyPort`.
    pub port: Option<u16>,
    /// `ProxyUser`.
    pub user: Option<String>,
}

/// An element the connector does not know, kept so a hand edit survives a save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownElement {
    /// Element name.
    pub name: String,
    /// Its content, still XML-escaped, written back verbatim.
    pub raw_content: String,
}

/// The typed configuration. Holds no secret.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `ExchangeServer`: CAS FQDN.
    pub exchange_server: String,
    /// `ExchangeServerType`.
    pub exchange_server_type: ExchangeServerType,
    /// `ExchangePowerShellURL`, if set (else see [`Config::powershell_url`]).
    pub exchange_powershell_url: Option<String>,
    /// `ExchangeUser`.
    pub exchange_user: String,
    /// `PowerShellAuthentication`.
    pub powershell_authentication: PowerShellAuthentication,
    /// `PowerShellPath`.
    pub powershell_path: Option<PathBuf>,
    /// `IsCasFailoverEnabled`.
    pub is_cas_failover_enabled: bool,
    /// `EnableParallelCommandSupport`.
    pub enable_parallel_command_support: bool,
    /// `MaxRunspaces`.
    pub max_runspaces: u32,
    /// `NotificationMailbox`.
    pub notification_mailbox: Option<String>,
    /// `NotificationLanguage`.
    pub notification_language: NotificationLanguage,
    /// `ExchangeWebServiceURL`.
    pub exchange_web_service_url: Option<String>,
    /// `AutodiscoverRedirectHosts`: hosts outside the mailbox's domain Autodiscover may redirect to.
    pub autodiscover_redirect_hosts: Vec<String>,
    /// `TrustedCaFile`.
    pub trusted_ca_file: Option<PathBuf>,
    /// `ProxyEnabled`, `ProxyHost`, `ProxyPort`, `ProxyUser`.
    pub proxy: ProxySettings,
    /// `QuickSyncIntervalMinutes`.
    pub quick_sync_interval_minutes: u32,
    /// `FullSyncTime`.
    pub full_sync_time: chrono::NaiveTime,
    /// `TenantId`.
    pub tenant_id: String,
    /// `ClientId`.
    pub client_id: String,
    /// `ApplicationObjectId`: the app registration's object id, when onboarding made it (the
    /// certificate rotation's proof names it).
    pub application_object_id: Option<String>,
    /// `LoginBase`.
    pub login_base: String,
    /// `GraphBase`.
    pub graph_base: String,
    /// `ExchangeRestBase`.
    pub exchange_rest_base: String,
    /// Elements this version does not know, kept as they were.
    pub unknown: Vec<UnknownElement>,
}

/// A loaded configuration and what was noticed on the way (unknown elements and the like).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Warnings for the log and `config show`.
    pub warnings: Vec<String>,
}

/// Setting values as text, keyed by registry key (non-secret settings only).
pub type Values = BTreeMap<String, String>;

impl fmt::Display for ExchangeServerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExchangeServerType::OnPremises => "OnPremises",
            ExchangeServerType::Hosted => "Hosted",
        })
    }
}

impl fmt::Display for PowerShellAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerShellAuthentication::Kerberos => "Kerberos",
            PowerShellAuthentication::Negotiate => "Negotiate",
            PowerShellAuthentication::Basic => "Basic",
        })
    }
}

impl fmt::Display for NotificationLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotificationLanguage::En => "en",
            NotificationLanguage::Fr => "fr",
            NotificationLanguage::Nl => "nl",
        })
    }
}

impl Config {
    /// Builds the typed configuration from values (keys as in the registry). Every value is checked by
    /// its setting, then the checks that involve several settings run; all problems are returned.
    pub fn from_values(values: &Values) -> Result<Config, Vec<SettingError>> {
        let mut errors = Vec::new();
        let mut norm: BTreeMap<&'static str, String> = BTreeMap::new();
        for (key, value) in values {
            match settings::lookup(key) {
                Ok(s) if s.is_secret() => errors.push(SettingError::new(
                    s.key,
                    "is a secret and cannot be kept in the configuration file; store it with `configure`",
                )),
                Ok(s) => match s.validate(value) {
                    Ok(v) => {
                        norm.insert(s.key, v);
                    }
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(e),
            }
        }
        // Exchange Online needs no server or service account: what is required depends on the kind.
        let hosted = norm
            .get("ExchangeServerType")
            .is_some_and(|t| t == "Hosted");
        for s in SETTINGS.iter().filter(|s| s.required.applies(hosted)) {
            if !norm.contains_key(s.key) && !values.keys().any(|k| k.eq_ignore_ascii_case(s.key)) {
                errors.push(SettingError::new(
                    s.key,
                    format!("is required; set it ({})", s.help),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Past this point every present value is valid and normalised; parse failures cannot occur,
        // and defaults come from the registry.
        let mut config = Config::default();
        for field in FIELDS {
            let value = norm.get(field.key).cloned().or_else(|| {
                settings::find(field.key)
                    .and_then(|s| s.default)
                    .map(String::from)
            });
            if let Some(value) = value {
                (field.set)(&mut config, value);
            }
        }
        // Earlier setups wrote a placeholder service account for Exchange Online (`<client id>@app.invalid`,
        // no mailbox): such a file still loads, and the placeholder is dropped (the next save omits it).
        if config.exchange_server_type == ExchangeServerType::Hosted
            && config.exchange_user.ends_with(HOSTED_PLACEHOLDER_DOMAIN)
        {
            config.exchange_user.clear();
        }
        config.check_combinations().map(|()| config)
    }

    /// The Exchange server this configuration talks to, as the Intune registration names it:
    /// `ExchangeServer` on premises; for Exchange Online (which has no server setting) the host of the
    /// REST endpoint, unless an older file named one.
    pub fn server_name(&self) -> String {
        if self.exchange_server_type == ExchangeServerType::OnPremises
            || !self.exchange_server.is_empty()
        {
            return self.exchange_server.clone();
        }
        url::Url::parse(&self.exchange_rest_base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "outlook.office365.com".to_string())
    }

    /// Checks that involve several settings.
    fn check_combinations(&self) -> Result<(), Vec<SettingError>> {
        let mut errors = Vec::new();
        if (self.proxy.enabled || self.proxy.host.is_some())
            && let Err(e) = self.proxy_spec_inner(true)
        {
            let key = match e {
                ProxyAddressError::PortConflict { .. } => "ProxyPort",
                _ => "ProxyHost",
            };
            errors.push(SettingError::coded(key, e.text()));
        }
        if let Some(user) = &self.proxy.user
            && user.contains(':')
        {
            errors.push(SettingError::new(
                "ProxyUser",
                format!("'{user}' contains ':', which Basic authentication cannot carry; use the account name without ':'"),
            ));
        }
        if self.powershell_authentication == PowerShellAuthentication::Basic
            && self.powershell_url().starts_with("http://")
        {
            errors.push(SettingError::new(
                "PowerShellAuthentication",
                "Basic over http:// would send the password in clear; use an https:// ExchangePowerShellURL or Kerberos",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The values of the configuration (registry order; every non-secret setting that has a value,
    /// defaults included, so the file shows them), as written to the file.
    pub fn to_values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for s in SETTINGS.iter().filter(|s| !s.is_secret()) {
            // `FIELDS` has an entry for every non-secret setting: `every_setting_has_one_field` checks it.
            if let Some(value) = field(s.key).and_then(|f| (f.get)(self)) {
                out.push((s.key, value));
            }
        }
        out
    }

    /// The remote PowerShell endpoint: `ExchangePowerShellURL`, else `https://<ExchangeServer>/PowerShell/`.
    pub fn powershell_url(&self) -> String {
        self.exchange_powershell_url
            .clone()
            .unwrap_or_else(|| format!("https://{}/PowerShell/", self.exchange_server))
    }

    /// The proxy to use, or `None` when `ProxyEnabled` is false.
    pub fn proxy_spec(&self) -> Result<Option<ProxySpec>, ProxyAddressError> {
        self.proxy_spec_inner(false)
    }

    fn proxy_spec_inner(
        &self,
        even_if_disabled: bool,
    ) -> Result<Option<ProxySpec>, ProxyAddressError> {
        if !self.proxy.enabled && !even_if_disabled {
            return Ok(None);
        }
        match &self.proxy.host {
            Some(host) => ProxySpec::parse(host, self.proxy.port).map(Some),
            None if self.proxy.enabled => Err(ProxyAddressError::NoHost),
            None => Ok(None),
        }
    }

    /// The configuration file's text.
    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- Exchange Connector configuration. Secrets are not kept here: they are in the secret store. See docs/settings.md. -->\n<{ROOT_ELEMENT}>\n"
        );
        for (key, value) in self.to_values() {
            out.push_str(&format!(
                "  <{key}>{}</{key}>\n",
                quick_xml::escape::escape(value.as_str())
            ));
        }
        for u in &self.unknown {
            out.push_str(&format!("  <{0}>{1}</{0}>\n", u.name, u.raw_content));
        }
        out.push_str(&format!("</{ROOT_ELEMENT}>\n"));
        out
    }

    /// Parses the configuration file's text (`path` is only for messages).
    pub fn from_xml(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
        let parsed = parse_xml(text).map_err(|reason| ConfigError::Xml {
            path: path.to_path_buf(),
            reason,
        })?;
        let mut warnings = parsed.warnings;
        let mut values = Values::new();
        let mut unknown = Vec::new();
        for (name, raw, text) in parsed.elements {
            match settings::find(&name) {
                Some(s) if s.is_secret() => warnings.push(format!(
                    "{name}: secrets are not read from the configuration file; remove the element and store the secret with `configure`"
                )),
                Some(_) if text.trim().is_empty() => {}
                Some(_) => {
                    if values.insert(name.clone(), text).is_some() {
                        warnings.push(format!("{name} appears more than once; the last one is used"));
                    }
                }
                None => {
                    warnings.push(format!(
                        "{name}: unknown element, kept as it is and ignored (a newer version's setting or a typo?)"
                    ));
                    unknown.push(UnknownElement {
                        name,
                        raw_content: raw,
                    });
                }
            }
        }
        let mut config = Config::from_values(&values).map_err(ConfigError::Invalid)?;
        config.unknown = unknown;
        Ok(Loaded { config, warnings })
    }

    /// Loads `<dir>/OnPremisesExchangeConnectorServiceConfiguration.xml`.
    pub fn load(dir: &Path) -> Result<Loaded, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotConfigured {
                    dir: dir.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        Config::from_xml(&text, &path)
    }

    /// Reads the raw values and unknown elements of an existing file without validating them, so
    /// `configure` can update a file that has problems. `None` when there is no file.
    pub fn load_values(dir: &Path) -> Result<Option<(Values, Vec<UnknownElement>)>, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ConfigError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let parsed = parse_xml(&text).map_err(|reason| ConfigError::Xml { path, reason })?;
        let mut values = Values::new();
        let mut unknown = Vec::new();
        for (name, raw, text) in parsed.elements {
            match settings::find(&name) {
                Some(s) if s.is_secret() => {}
                Some(_) if text.trim().is_empty() => {}
                Some(_) => {
                    values.insert(name, text);
                }
                None => unknown.push(UnknownElement {
                    name,
                    raw_content: raw,
                }),
            }
        }
        Ok(Some((values, unknown)))
    }

    /// Writes the file atomically and owner-only ([`crate::atomic_file`]): a crash leaves the old file
    /// or the new one, never half of either. Creates `dir` if needed. Returns the file's path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ConfigError> {
        std::fs::create_dir_all(dir).map_err(|source| ConfigError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(CONFIG_FILE);
        crate::atomic_file::write(&path, self.to_xml().as_bytes()).map_err(|source| {
            ConfigError::Io {
                action: "write",
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }
}

/// How one setting of the registry reads from and writes to [`Config`]: the one place that maps keys
/// to fields, in both directions. Values reaching `set` are already validated and normalised by the
/// registry, so the parses there cannot fail on a value from the file.
struct Field {
    key: &'static str,
    get: fn(&Config) -> Option<String>,
    set: fn(&mut Config, String),
}

/// Every non-secret setting of [`SETTINGS`], exactly once (checked by `every_setting_has_one_field`,
/// and `every_setting_survives_the_file` walks each through the file and back).
const FIELDS: &[Field] = &[
    Field {
        key: "ExchangeServer",
        // Empty for Exchange Online, which has none: not written.
        get: |c| Some(c.exchange_server.clone()).filter(|v| !v.is_empty()),
        set: |c, v| c.exchange_server = v,
    },
    Field {
        key: "ExchangeServerType",
        get: |c| Some(c.exchange_server_type.to_string()),
        set: |c, v| {
            c.exchange_server_type = match v.as_str() {
                "Hosted" => ExchangeServerType::Hosted,
                _ => ExchangeServerType::OnPremises,
            }
        },
    },
    Field {
        key: "ExchangePowerShellURL",
        get: |c| c.exchange_powershell_url.clone(),
        set: |c, v| c.exchange_powershell_url = Some(v),
    },
    Field {
        key: "ExchangeUser",
        get: |c| Some(c.exchange_user.clone()).filter(|v| !v.is_empty()),
        set: |c, v| c.exchange_user = v,
    },
    Field {
        key: "PowerShellAuthentication",
        get: |c| Some(c.powershell_authentication.to_string()),
        set: |c, v| {
            c.powershell_authentication = match v.as_str() {
                "Negotiate" => PowerShellAuthentication::Negotiate,
                "Basic" => PowerShellAuthentication::Basic,
                _ => PowerShellAuthentication::Kerberos,
            }
        },
    },
    Field {
        key: "PowerShellPath",
        get: |c| path_text(&c.powershell_path),
        set: |c, v| c.powershell_path = Some(PathBuf::from(v)),
    },
    Field {
        key: "IsCasFailoverEnabled",
        get: |c| Some(c.is_cas_failover_enabled.to_string()),
        set: |c, v| c.is_cas_failover_enabled = v == "true",
    },
    Field {
        key: "EnableParallelCommandSupport",
        get: |c| Some(c.enable_parallel_command_support.to_string()),
        set: |c, v| c.enable_parallel_command_support = v == "true",
    },
    Field {
        key: "MaxRunspaces",
        get: |c| Some(c.max_runspaces.to_string()),
        set: |c, v| c.max_runspaces = v.parse().unwrap_or(1),
    },
    Field {
        key: "NotificationMailbox",
        get: |c| c.notification_mailbox.clone(),
        set: |c, v| c.notification_mailbox = Some(v),
    },
    Field {
        key: "NotificationLanguage",
        get: |c| Some(c.notification_language.to_string()),
        set: |c, v| {
            c.notification_language = match v.as_str() {
                "fr" => NotificationLanguage::Fr,
                "nl" => NotificationLanguage::Nl,
                _ => NotificationLanguage::En,
            }
        },
    },
    Field {
        key: "ExchangeWebServiceURL",
        get: |c| c.exchange_web_service_url.clone(),
        set: |c, v| c.exchange_web_service_url = Some(v),
    },
    Field {
        key: "AutodiscoverRedirectHosts",
        get: |c| {
            (!c.autodiscover_redirect_hosts.is_empty())
                .then(|| c.autodiscover_redirect_hosts.join(", "))
        },
        set: |c, v| {
            c.autodiscover_redirect_hosts = v.split(',').map(|h| h.trim().to_string()).collect()
        },
    },
    Field {
        key: "TrustedCaFile",
        get: |c| path_text(&c.trusted_ca_file),
        set: |c, v| c.trusted_ca_file = Some(PathBuf::from(v)),
    },
    Field {
        key: "ProxyEnabled",
        get: |c| Some(c.proxy.enabled.to_string()),
        set: |c, v| c.proxy.enabled = v == "true",
    },
    Field {
        key: "ProxyHost",
        get: |c| c.proxy.host.clone(),
        set: |c, v| c.proxy.host = Some(v),
    },
    Field {
        key: "ProxyPort",
        get: |c| c.proxy.port.map(|p| p.to_string()),
        set: |c, v| c.proxy.port = v.parse().ok(),
    },
    Field {
        key: "ProxyUser",
        get: |c| c.proxy.user.clone(),
        set: |c, v| c.proxy.user = Some(v),
    },
    Field {
        key: "QuickSyncIntervalMinutes",
        get: |c| Some(c.quick_sync_interval_minutes.to_string()),
        set: |c, v| c.quick_sync_interval_minutes = v.parse().unwrap_or(1),
    },
    Field {
        key: "FullSyncTime",
        get: |c| Some(c.full_sync_time.format("%H:%M").to_string()),
        set: |c, v| {
            c.full_sync_time = chrono::NaiveTime::parse_from_str(&v, "%H:%M").unwrap_or_default()
        },
    },
    Field {
        key: "TenantId",
        get: |c| Some(c.tenant_id.clone()),
        set: |c, v| c.tenant_id = v,
    },
    Field {
        key: "ClientId",
        get: |c| Some(c.client_id.clone()),
        set: |c, v| c.client_id = v,
    },
    Field {
        key: "ApplicationObjectId",
        get: |c| c.application_object_id.clone(),
        set: |c, v| c.application_object_id = Some(v),
    },
    Field {
        key: "LoginBase",
        get: |c| Some(c.login_base.clone()),
        set: |c, v| c.login_base = v,
    },
    Field {
        key: "GraphBase",
        get: |c| Some(c.graph_base.clone()),
        set: |c, v| c.graph_base = v,
    },
    Field {
        key: "ExchangeRestBase",
        get: |c| Some(c.exchange_rest_base.clone()),
        set: |c, v| c.exchange_rest_base = v,
    },
];

fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

fn path_text(path: &Option<PathBuf>) -> Option<String> {
    path.as_ref().map(|p| p.display().to_string())
}

struct ParsedXml {
    /// (name, raw content, unescaped text).
    elements: Vec<(String, String, String)>,
    warnings: Vec<String>,
}

fn parse_xml(text: &str) -> Result<ParsedXml, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut out = ParsedXml {
        elements: Vec::new(),
        warnings: Vec::new(),
    };
    let at = |reader: &quick_xml::Reader<&[u8]>, e: &dyn fmt::Display| {
        format!("at byte {}: {e}", reader.buffer_position())
    };
    let mut in_root = false;
    loop {
        match reader.read_event().map_err(|e| at(&reader, &e))? {
            Event::Start(e) if !in_root => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name != ROOT_ELEMENT {
                    out.warnings.push(format!(
                        "the root element is <{name}>, expected <{ROOT_ELEMENT}>; reading it anyway"
                    ));
                }
                in_root = true;
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let raw = reader
                    .read_text(e.name())
                    .map_err(|err| at(&reader, &err))?
                    .into_owned();
                let text = quick_xml::escape::unescape(&raw)
                    .map_err(|err| at(&reader, &err))?
                    .into_owned();
                out.elements.push((name, raw, text));
            }
            Event::Empty(e) if in_root => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                out.elements.push((name, String::new(), String::new()));
            }
            Event::End(_) => in_root = false,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The folder that holds the configurations of every instance:
/// Windows `%ProgramData%\ExchangeConnector`; Linux `/etc/exchange-connector` when running as root
/// (the service), else `$XDG_CONFIG_HOME/exchange-connector` (or `~/.config/exchange-connector`).
pub fn default_base_dir() -> PathBuf {
    #[cfg(windows)]
    {
        // `directories` has no ProgramData; the variable is set on every Windows since Vista.
        let program_data = std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        program_data.join("ExchangeConnector")
    }
    #[cfg(not(windows))]
    {
        if running_as_root() {
            return PathBuf::from("/etc/exchange-connector");
        }
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."));
        config_home.join("exchange-connector")
    }
}

/// The configuration folder of an instance: the base folder for `default`, else
/// `<base>/instances/<name>`.
pub fn default_config_dir(instance: &str) -> PathBuf {
    let base = default_base_dir();
    if instance == DEFAULT_INSTANCE {
        base
    } else {
        base.join("instances").join(instance)
    }
}

#[cfg(not(windows))]
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user; avoids an unsafe geteuid call.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Values {
        [
            ("ExchangeServer", "cas01.contoso.com"),
            ("ExchangeUser", "CONTOSO\\svc-eas"),
            ("TenantId", "11111111-2222-3333-4444-555555555555"),
            ("ClientId", "66666666-7777-8888-9999-000000000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn exchange_online_needs_no_server_or_account_and_on_premises_does() {
        let mut hosted = minimal();
        hosted.remove("ExchangeServer");
        hosted.remove("ExchangeUser");
        hosted.insert("ExchangeServerType".into(), "hosted".into());
        let c = Config::from_values(&hosted).unwrap();
        assert_eq!(c.exchange_server_type, ExchangeServerType::Hosted);
        // Nothing is written for them, and the file reads back the same.
        let xml = c.to_xml();
        assert!(!xml.contains("<ExchangeServer>"), "{xml}");
        assert!(!xml.contains("<ExchangeUser>"), "{xml}");
        let dir = tempfile::tempdir().unwrap();
        c.save(dir.path()).unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().config, c);
        assert_eq!(c.server_name(), "outlook.office365.com");

        // On premises both are still required, and the errors name them.
        hosted.insert("ExchangeServerType".into(), "OnPremises".into());
        let errors = Config::from_values(&hosted).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["ExchangeServer", "ExchangeUser"], "{errors:?}");

        // A file an earlier setup wrote (a placeholder account for hosted) still loads; the
        // placeholder is dropped.
        let mut earlier = minimal();
        earlier.insert("ExchangeServerType".into(), "Hosted".into());
        earlier.insert("ExchangeServer".into(), "outlook.office365.com".into());
        earlier.insert(
            "ExchangeUser".into(),
            "66666666-7777-8888-9999-000000000000@app.invalid".into(),
        );
        let c = Config::from_values(&earlier).unwrap();
        assert_eq!(c.exchange_user, "");
        assert_eq!(c.server_name(), "outlook.office365.com");
        assert!(!c.to_xml().contains("app.invalid"));
    }

    #[test]
    fn documented_defaults() {
        let c = Config::from_values(&minimal()).unwrap();
        assert!(c.is_cas_failover_enabled);
        assert!(!c.enable_parallel_command_support);
        assert!(c.exchange_web_service_url.is_none());
        assert_eq!(c.powershell_url(), "https://cas01.contoso.com/PowerShell/");
        let xml = c.to_xml();
        assert!(xml.contains("<IsCasFailoverEnabled>true</IsCasFailoverEnabled>"));
        assert!(xml.contains("<EnableParallelCommandSupport>false</EnableParallelCommandSupport>"));
    }

    #[test]
    fn xml_round_trip_keeps_unknown_elements_and_warns() {
        let mut v = minimal();
        v.insert(
            "ExchangeWebServiceURL".into(),
            "https://mail.contoso.com/EWS/Exchange.asmx".into(),
        );
        v.insert("ProxyEnabled".into(), "true".into());
        v.insert("ProxyHost".into(), "proxy.contoso.com:8080".into());
        v.insert("ProxyUser".into(), "CONTOSO\\proxy & co".into());
        let c = Config::from_values(&v).unwrap();
        let xml = c.to_xml().replace(
            &format!("</{ROOT_ELEMENT}>"),
            &format!("  <FutureThing a=\"1\"><Inner>x &amp; y</Inner></FutureThing>\n  <ExchangePassword>oops</ExchangePassword>\n</{ROOT_ELEMENT}>"),
        );
        let loaded = Config::from_xml(&xml, Path::new("t.xml")).unwrap();
        assert_eq!(
            loaded.config.proxy.user.as_deref(),
            Some("CONTOSO\\proxy & co")
        );
        assert_eq!(loaded.config.unknown.len(), 1);
        assert!(loaded.warnings.iter().any(|w| w.contains("FutureThing")));
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.starts_with("ExchangePassword"))
        );
        let again = loaded.config.to_xml();
        assert!(
            again.contains("<FutureThing><Inner>x &amp; y</Inner></FutureThing>"),
            "{again}"
        );
        assert!(!again.contains("oops"));
        let reloaded = Config::from_xml(&again, Path::new("t.xml")).unwrap().config;
        assert_eq!(reloaded, loaded.config);
    }

    #[test]
    fn every_problem_is_reported() {
        let mut v = minimal();
        v.remove("TenantId");
        v.insert("ProxyPort".into(), "70000".into());
        v.insert("ExchangeUser".into(), "admin".into());
        v.insert("ExchangePassword".into(), "x".into());
        let errors = Config::from_values(&v).unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"TenantId"), "{errors:?}");
        assert!(keys.contains(&"ProxyPort"));
        assert!(keys.contains(&"ExchangeUser"));
        assert!(keys.contains(&"ExchangePassword"));
    }

    #[test]
    fn combinations_are_checked() {
        let mut v = minimal();
        v.insert("ProxyEnabled".into(), "true".into());
        v.insert("ProxyHost".into(), "proxy.contoso.com".into());
        v.insert("PowerShellAuthentication".into(), "Basic".into());
        v.insert(
            "ExchangePowerShellURL".into(),
            "http://cas01/PowerShell/".into(),
        );
        let errors = Config::from_values(&v).unwrap_err();
        let text: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("ProxyHost:") && e.contains("names no port")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("PowerShellAuthentication:")),
            "{text:?}"
        );
    }

    #[test]
    fn save_is_atomic_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_values(&minimal()).unwrap();
        let path = c.save(dir.path()).unwrap();
        c.save(dir.path()).unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().config, c);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(names, [path]);
        assert!(matches!(
            Config::load(&dir.path().join("none")),
            Err(ConfigError::NotConfigured { .. })
        ));
    }

    #[test]
    fn every_setting_has_one_field() {
        for s in SETTINGS.iter().filter(|s| !s.is_secret()) {
            let count = FIELDS.iter().filter(|f| f.key == s.key).count();
            assert_eq!(count, 1, "{} needs exactly one entry in FIELDS", s.key);
        }
        for f in FIELDS {
            assert!(
                settings::find(f.key).is_some_and(|s| !s.is_secret() && s.key == f.key),
                "FIELDS names {}, which is not a non-secret setting of the registry",
                f.key
            );
        }
    }

    /// A valid value for a setting that is not its default, so a key lost on the way cannot pass for
    /// one that came back with its default.
    fn sample(s: &settings::Setting) -> Option<String> {
        use settings::Kind;
        let value = match s.kind {
            Kind::Secret => return None,
            Kind::Text => "sample text".to_string(),
            Kind::Host => "host.example.com".to_string(),
            Kind::HostList => "mail.example.net, Autodiscover.Example.org".to_string(),
            // The port comes from ProxyPort (set too), as an admin may write it.
            Kind::ProxyAddress => "proxy.example.com".to_string(),
            Kind::Port => "3128".to_string(),
            Kind::DomainUser => "EXAMPLE\\svc".to_string(),
            Kind::Mailbox => "notify@example.com".to_string(),
            Kind::Url { .. } => format!("https://{}.example.com/path", s.key.to_lowercase()),
            Kind::Bool => (s.default != Some("true")).to_string(),
            Kind::Enum(values) => values
                .iter()
                .rev()
                .find(|v| Some(**v) != s.default)
                .map(|v| v.to_string())?,
            Kind::Number { min, max } => [max, min]
                .iter()
                .map(u32::to_string)
                .find(|v| Some(v.as_str()) != s.default)?,
            Kind::Path => format!("/opt/example/{}", s.key),
            Kind::TimeOfDay => "13:45".to_string(),
            Kind::Guid => "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".to_string(),
        };
        Some(value)
    }

    #[test]
    fn every_setting_survives_the_file() {
        let values: Values = SETTINGS
            .iter()
            .filter_map(|s| sample(s).map(|v| (s.key.to_string(), v)))
            .collect();
        let expected: Vec<(&str, String)> = SETTINGS
            .iter()
            .filter_map(|s| sample(s).map(|v| (s.key, s.validate(&v).unwrap())))
            .collect();
        assert_eq!(
            expected.len(),
            SETTINGS.iter().filter(|s| !s.is_secret()).count()
        );
        for (key, value) in &expected {
            assert_ne!(
                settings::find(key).and_then(|s| s.default),
                Some(value.as_str()),
                "the sample of {key} must differ from its default"
            );
        }
        let config = Config::from_values(&values).unwrap();
        let dir = tempfile::tempdir().unwrap();
        config.save(dir.path()).unwrap();
        let loaded = Config::load(dir.path()).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config, config);
        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        for (key, value) in &expected {
            let element = format!(
                "<{key}>{}</{key}>",
                quick_xml::escape::escape(value.as_str())
            );
            assert!(text.contains(&element), "{key} was lost: {text}");
        }
        assert_eq!(loaded.config.to_values(), expected);
    }

    #[test]
    fn broken_xml_is_a_clear_error() {
        let err = Config::from_xml(
            "<OnPremisesExchangeConnectorServiceConfiguration><ExchangeServer>x</Exch",
            Path::new("c.xml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not well-formed XML"), "{err}");
    }
}
