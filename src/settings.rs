//! The settings registry: ONE definition per setting (key, label, help, default, kind), and everything
//! else — the configuration file, the answers file, the CLI, `config show` and `docs/settings.md` — is
//! driven from [`SETTINGS`] (the ripgrep pattern: one table, many outputs, so they cannot drift).
//!
//! Keys are the XML element names of `OnPremisesExchangeConnectorServiceConfiguration.xml` and the keys
//! of the answers file. Secret settings are never written to the configuration file; they live in the
//! secret store (see `crate::secrets`). Validators do not do I/O: they check the shape of a value and
//! say what is wrong and how to fix it.

use crate::address::{ProxyAddressError, ProxySpec, check_host};
use crate::coded;
use crate::text_code::TextCode;
use std::fmt;

/// What kind of value a setting holds; decides its validator and how the GUI edits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (non-empty, one line).
    Text,
    /// A DNS name or IP address (no scheme, no port).
    Host,
    /// Host names separated by commas (written `a, b`).
    HostList,
    /// The proxy: `host`, `host:port`, `[::1]:8080` or `http(s)://host:port`.
    ProxyAddress,
    /// A TCP port, 1–65535.
    Port,
    /// `DOMAIN\user` or a UPN `user@domain`.
    DomainUser,
    /// An SMTP address.
    Mailbox,
    /// An absolute URL; `https_only` refuses `http://`.
    Url {
        /// Whether only `https://` is accepted.
        https_only: bool,
    },
    /// `true` or `false`.
    Bool,
    /// One of a fixed list (case-insensitive on input, written as listed).
    Enum(&'static [&'static str]),
    /// A whole number in an inclusive range.
    Number {
        /// Smallest value.
        min: u32,
        /// Largest value.
        max: u32,
    },
    /// A file path.
    Path,
    /// A time of day, `HH:MM` (24 h, local time).
    TimeOfDay,
    /// A GUID, e.g. a tenant or client id.
    Guid,
    /// A secret: kept in the secret store, never in the configuration file.
    Secret,
}

impl Kind {
    /// A short name for the documentation table.
    pub fn describe(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Host => "host name".into(),
            Kind::HostList => "host names, comma-separated".into(),
            Kind::ProxyAddress => "host[:port] or http(s) URL".into(),
            Kind::Port => "port (1–65535)".into(),
            Kind::DomainUser => "DOMAIN\\user or UPN".into(),
            Kind::Mailbox => "mail address".into(),
            Kind::Url { https_only: true } => "https URL".into(),
            Kind::Url { https_only: false } => "http(s) URL".into(),
            Kind::Bool => "true / false".into(),
            Kind::Enum(values) => values.join(" / "),
            Kind::Number { min, max } => format!("number {min}–{max}"),
            Kind::Path => "file path".into(),
            Kind::TimeOfDay => "time HH:MM".into(),
            Kind::Guid => "GUID".into(),
            Kind::Secret => "secret".into(),
        }
    }
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// XML element / answers-file key, e.g. `ProxyPort`.
    pub key: &'static str,
    /// Short English label (the GUI translates by key).
    pub label: &'static str,
    /// English help text: what it does and what to enter.
    pub help: &'static str,
    /// Default value as text, if the setting has one.
    pub default: Option<&'static str>,
    /// The kind of value.
    pub kind: Kind,
    /// When a configuration is incomplete without it.
    pub required: Required,
}

/// When a setting must have a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Never: optional, or it has a default.
    No,
    /// Always.
    Always,
    /// Only for on-premises Exchange (`ExchangeServerType` `OnPremises`): Exchange Online is reached
    /// with the app's token, so it has no Client Access server and no service account.
    OnPremises,
}

impl Required {
    /// Whether the setting must have a value for this kind of Exchange.
    pub fn applies(self, hosted: bool) -> bool {
        match self {
            Required::No => false,
            Required::Always => true,
            Required::OnPremises => !hosted,
        }
    }

    /// The documentation's word.
    pub fn describe(self) -> &'static str {
        match self {
            Required::No => "",
            Required::Always => "yes",
            Required::OnPremises => "on premises",
        }
    }
}

/// A value that does not fit its setting. Displays as `Key: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingError {
    /// The setting's key (or the unknown key as written).
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The message as a code with parameters (the setup GUI translates it); plain for messages
    /// without a code.
    pub code: Box<TextCode>,
}

impl SettingError {
    /// Makes an error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingError::coded(key, TextCode::plain(message))
    }

    /// Makes an error for `key` from a coded message.
    pub fn coded(key: impl Into<String>, code: TextCode) -> Self {
        SettingError {
            key: key.into(),
            message: code.english.clone(),
            code: Box::new(code),
        }
    }
}

const SERVER_TYPES: &[&str] = &["OnPremises", "Hosted"];
const PS_AUTH: &[&str] = &["Kerberos", "Negotiate", "Basic"];
const LANGUAGES: &[&str] = &["en", "fr", "nl"];

/// Every setting, in the order of the configuration file and of the documentation.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "ExchangeServer",
        label: "Exchange server",
        help: "FQDN of the Client Access server the connector talks to (choose the one with the lowest latency; in a mixed 2010/2013 organisation, a 2013 or newer CAS). On premises only: Exchange Online needs none.",
        default: None,
        kind: Kind::Host,
        required: Required::OnPremises,
    },
    Setting {
        key: "ExchangeServerType",
        label: "Exchange type",
        help: "OnPremises (remote PowerShell to the CAS) or Hosted (Exchange Online REST).",
        default: Some("OnPremises"),
        kind: Kind::Enum(SERVER_TYPES),
        required: Required::No,
    },
    Setting {
        key: "ExchangePowerShellURL",
        label: "Exchange PowerShell URL",
        help: "Remote PowerShell endpoint. Leave empty for https://<ExchangeServer>/PowerShell/.",
        default: None,
        kind: Kind::Url { https_only: false },
        required: Required::No,
    },
    Setting {
        key: "ExchangeUser",
        label: "Exchange service account",
        help: "Account that runs the Exchange cmdlets, as DOMAIN\\user or a UPN. On premises only: Exchange Online is reached with the app's token.",
        default: None,
        kind: Kind::DomainUser,
        required: Required::OnPremises,
    },
    Setting {
        key: "ExchangePassword",
        label: "Exchange service account password",
        help: "Password of ExchangeUser. Kept in the secret store.",
        default: None,
        kind: Kind::Secret,
        required: Required::No,
    },
    Setting {
        key: "PowerShellAuthentication",
        label: "PowerShell authentication",
        help: "How the connector signs in to remote PowerShell: Kerberos, Negotiate or Basic (Basic only over https).",
        default: Some("Kerberos"),
        kind: Kind::Enum(PS_AUTH),
        required: Required::No,
    },
    Setting {
        key: "PowerShellPath",
        label: "PowerShell program",
        help: "powershell.exe or pwsh to run the bridge with. Leave empty to find it on the PATH.",
        default: None,
        kind: Kind::Path,
        required: Required::No,
    },
    Setting {
        key: "IsCasFailoverEnabled",
        label: "CAS failover",
        help: "Discover the other Client Access servers and fail over to them when the configured one is down.",
        default: Some("true"),
        kind: Kind::Bool,
        required: Required::No,
    },
    Setting {
        key: "EnableParallelCommandSupport",
        label: "Parallel commands",
        help: "Run several PowerShell runspaces in parallel (advised from 5,000 devices; use a dedicated account). Restart the service after changing it.",
        default: Some("false"),
        kind: Kind::Bool,
        required: Required::No,
    },
    Setting {
        key: "MaxRunspaces",
        label: "Maximum runspaces",
        help: "Upper bound on parallel runspaces when parallel commands are on; keep it below the account's PowerShellMaxConcurrency (18 by default).",
        default: Some("15"),
        kind: Kind::Number { min: 1, max: 64 },
        required: Required::No,
    },
    Setting {
        key: "NotificationMailbox",
        label: "Notification mailbox",
        help: "Mailbox that sends the notification mails (its UPN must equal its SMTP address). Leave empty to send no mail.",
        default: None,
        kind: Kind::Mailbox,
        required: Required::No,
    },
    Setting {
        key: "NotificationPassword",
        label: "Notification mailbox password",
        help: "Password of the notification mailbox. Kept in the secret store.",
        default: None,
        kind: Kind::Secret,
        required: Required::No,
    },
    Setting {
        key: "NotificationLanguage",
        label: "Notification language",
        help: "Language of the mails sent to users: en, fr or nl.",
        default: Some("en"),
        kind: Kind::Enum(LANGUAGES),
        required: Required::No,
    },
    Setting {
        key: "ExchangeWebServiceURL",
        label: "EWS URL",
        help: "Hard-codes the EWS URL (https://<host>/EWS/Exchange.asmx); notifications then skip Autodiscover.",
        default: None,
        kind: Kind::Url { https_only: true },
        required: Required::No,
    },
    Setting {
        key: "AutodiscoverRedirectHosts",
        label: "Autodiscover redirect hosts",
        help: "Hosts outside the notification mailbox's domain that Autodiscover may redirect to (HTTPS only), e.g. autodiscover.contoso-mail.com. Hosts of the mailbox's domain are always allowed; a redirect anywhere else is refused.",
        default: None,
        kind: Kind::HostList,
        required: Required::No,
    },
    Setting {
        key: "TrustedCaFile",
        label: "Extra trusted CA file",
        help: "PEM file of a CA to trust besides the operating system's store (for an internal CA). TLS is always verified.",
        default: None,
        kind: Kind::Path,
        required: Required::No,
    },
    Setting {
        key: "ProxyEnabled",
        label: "Use a proxy",
        help: "Send every outbound HTTP call through the proxy below (the system proxy is never read).",
        default: Some("false"),
        kind: Kind::Bool,
        required: Required::No,
    },
    Setting {
        key: "ProxyHost",
        label: "Proxy",
        help: "Proxy as host, host:port, [IPv6]:port or http://host:port.",
        default: None,
        kind: Kind::ProxyAddress,
        required: Required::No,
    },
    Setting {
        key: "ProxyPort",
        label: "Proxy port",
        help: "Port of the proxy, if ProxyHost does not name one.",
        default: None,
        kind: Kind::Port,
        required: Required::No,
    },
    Setting {
        key: "ProxyUser",
        label: "Proxy user",
        help: "User for Basic proxy authentication (DOMAIN\\user or user). Leave empty when the proxy lets this host through.",
        default: None,
        kind: Kind::Text,
        required: Required::No,
    },
    Setting {
        key: "ProxyPassword",
        label: "Proxy password",
        help: "Password of ProxyUser. Kept in the secret store.",
        default: None,
        kind: Kind::Secret,
        required: Required::No,
    },
    Setting {
        key: "QuickSyncIntervalMinutes",
        label: "Quick sync interval (minutes)",
        help: "Minutes between quick syncs.",
        default: Some("1"),
        kind: Kind::Number { min: 1, max: 1440 },
        required: Required::No,
    },
    Setting {
        key: "FullSyncTime",
        label: "Full sync time",
        help: "Local time of the daily full sync, HH:MM.",
        default: Some("02:00"),
        kind: Kind::TimeOfDay,
        required: Required::No,
    },
    Setting {
        key: "TenantId",
        label: "Tenant id",
        help: "Entra tenant id (GUID), from the connector package.",
        default: None,
        kind: Kind::Guid,
        required: Required::Always,
    },
    Setting {
        key: "ClientId",
        label: "Application (client) id",
        help: "Application id the connector signs in as (GUID), from the connector package.",
        default: None,
        kind: Kind::Guid,
        required: Required::Always,
    },
    Setting {
        key: "ApplicationObjectId",
        label: "Application object id",
        help: "Object id of the connector's app registration, written by onboarding; with it the service rolls its own certificate (Graph addKey/removeKey) from 30 days before expiry.",
        default: None,
        kind: Kind::Guid,
        required: Required::No,
    },
    Setting {
        key: "ClientSecret",
        label: "Client secret",
        help: "Client secret of the application, if it signs in with a secret rather than the package's certificate. Kept in the secret store.",
        default: None,
        kind: Kind::Secret,
        required: Required::No,
    },
    Setting {
        key: "ClientCertificate",
        label: "Client certificate",
        help: "The package's certificate with its key (PFX, base64). Set by importing the connector package. Kept in the secret store.",
        default: None,
        kind: Kind::Secret,
        required: Required::No,
    },
    Setting {
        key: "CertificatePassword",
        label: "Certificate password",
        help: "Password of ClientCertificate. Kept in the secret store.",
        default: None,
        kind: Kind::Secret,
        required: Required::No,
    },
    Setting {
        key: "LoginBase",
        label: "Sign-in base URL",
        help: "Entra sign-in base URL.",
        default: Some("https://login.microsoftonline.com"),
        kind: Kind::Url { https_only: true },
        required: Required::No,
    },
    Setting {
        key: "GraphBase",
        label: "Graph base URL",
        help: "Microsoft Graph base URL.",
        default: Some("https://graph.microsoft.com"),
        kind: Kind::Url { https_only: true },
        required: Required::No,
    },
    Setting {
        key: "ExchangeRestBase",
        label: "Exchange Online REST base URL",
        help: "Exchange Online REST base URL (Hosted only).",
        default: Some("https://outlook.office365.com"),
        kind: Kind::Url { https_only: true },
        required: Required::No,
    },
];

impl Setting {
    /// Whether the setting is a secret (kept in the secret store, never in the configuration file).
    pub fn is_secret(&self) -> bool {
        self.kind == Kind::Secret
    }

    /// Checks a value and returns it normalised (trimmed; enums and booleans spelled canonically).
    /// The error names the key, what is wrong and how to fix it.
    pub fn validate(&self, value: &str) -> Result<String, SettingError> {
        validate_coded(&self.kind, value).map_err(|code| SettingError::coded(self.key, code))
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)
    }
}

/// The setting with this exact key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The setting for a key as an admin may have typed it: exact, else case-insensitive.
pub fn lookup(key: &str) -> Result<&'static Setting, SettingError> {
    if let Some(s) = find(key) {
        return Ok(s);
    }
    if let Some(s) = SETTINGS.iter().find(|s| s.key.eq_ignore_ascii_case(key)) {
        return Ok(s);
    }
    let hint = closest(key)
        .map(|k| format!("; did you mean {k}?"))
        .unwrap_or_else(|| "; see docs/settings.md for the list".to_string());
    Err(SettingError::new(key, format!("is not a setting{hint}")))
}

/// The secret settings.
pub fn secret_keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(|s| s.is_secret()).map(|s| s.key)
}

/// The closest known key (edit distance ≤ 3), to suggest on a typo.
fn closest(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    SETTINGS
        .iter()
        .map(|s| (levenshtein(&lower, &s.key.to_ascii_lowercase()), s.key))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Validates `value` against `kind`; the message does not include the key (the caller adds it).
pub fn validate_kind(kind: &Kind, value: &str) -> Result<String, String> {
    validate_coded(kind, value).map_err(|code| code.english)
}

/// [`validate_kind`] with the message as a code with parameters.
pub fn validate_coded(kind: &Kind, value: &str) -> Result<String, TextCode> {
    let v = value.trim();
    if v.is_empty() {
        return Err(coded!(
            "st_empty",
            "is empty; give a value or remove the key to use the default"
        ));
    }
    if v.contains(['\n', '\r']) {
        return Err(coded!("st_one_line", "must be on one line"));
    }
    match kind {
        Kind::Text | Kind::Path | Kind::Secret => Ok(v.to_string()),
        Kind::Host => check_host(v).map(|h| h.to_string()),
        Kind::HostList => v
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| check_host(h).map(|h| h.to_ascii_lowercase()))
            .collect::<Result<Vec<_>, _>>()
            .map(|hosts| hosts.join(", ")),
        // Normalised to one spelling (http://host:port) when the address names its port.
        Kind::ProxyAddress => ProxySpec::parse(v, None)
            .map(|spec| spec.url())
            .or_else(|e| match e {
                // The port may come from ProxyPort: checked when the two are combined.
                ProxyAddressError::NoPort { .. } => Ok(v.to_string()),
                other => Err(other.text()),
            }),
        Kind::Port => match v.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => Ok(p.to_string()),
            _ => Err(coded!(
                "st_port",
                "'{value}' is not a port; use a number from 1 to 65535",
                value = v
            )),
        },
        Kind::DomainUser => check_domain_user(v).map(|_| v.to_string()),
        Kind::Mailbox => check_mailbox(v).map(|_| v.to_string()),
        Kind::Url { https_only } => check_url(v, *https_only).map(|_| v.to_string()),
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok("true".into()),
            "false" | "no" | "0" => Ok("false".into()),
            _ => Err(coded!(
                "st_bool",
                "'{value}' is not a yes/no value; use true or false",
                value = v
            )),
        },
        Kind::Enum(values) => values
            .iter()
            .find(|x| x.eq_ignore_ascii_case(v))
            .map(|x| x.to_string())
            .ok_or_else(|| {
                coded!(
                    "st_enum",
                    "'{value}' is not one of {values}",
                    value = v,
                    values = values.join(", ")
                )
            }),
        Kind::Number { min, max } => match v.parse::<u32>() {
            Ok(n) if (*min..=*max).contains(&n) => Ok(n.to_string()),
            _ => Err(coded!(
                "st_number",
                "'{value}' is not a whole number from {min} to {max}; use a number in that range",
                value = v,
                min = min,
                max = max
            )),
        },
        Kind::TimeOfDay => chrono::NaiveTime::parse_from_str(v, "%H:%M")
            .map(|t| t.format("%H:%M").to_string())
            .map_err(|_| {
                coded!(
                    "st_time",
                    "'{value}' is not a time of day; use HH:MM, 24-hour (for example 02:00)",
                    value = v
                )
            }),
        Kind::Guid => uuid::Uuid::parse_str(v)
            .map(|u| u.to_string())
            .map_err(|_| {
                coded!(
                    "st_guid",
                    "'{value}' is not a GUID; copy it from the connector package or the Entra admin center (for example 00000000-0000-0000-0000-000000000000)",
                    value = v
                )
            }),
    }
}

fn check_domain_user(v: &str) -> Result<(), TextCode> {
    let bad = || {
        coded!(
            "st_domain_user",
            "'{value}' must be DOMAIN\\user (for example CONTOSO\\svc-eas) or a UPN (svc-eas@contoso.com)",
            value = v
        )
    };
    if let Some((domain, user)) = v.split_once('\\') {
        let ok = |s: &str| !s.is_empty() && !s.contains(['\\', '@', ' ', '/']);
        return if ok(domain) && ok(user) {
            Ok(())
        } else {
            Err(bad())
        };
    }
    if v.contains('@') {
        return check_mailbox(v).map_err(|_| bad());
    }
    Err(bad())
}

fn check_mailbox(v: &str) -> Result<(), TextCode> {
    let bad = || {
        coded!(
            "st_mailbox",
            "'{value}' is not a mail address; use name@domain (for example notify@contoso.com)",
            value = v
        )
    };
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.contains([' ', '@', '\\', '<', '>', ','])
        || !domain.contains('.')
        || check_host(domain).is_err()
    {
        return Err(bad());
    }
    Ok(())
}

fn check_url(v: &str, https_only: bool) -> Result<(), TextCode> {
    let url = url::Url::parse(v).map_err(|e| {
        coded!(
            "st_url",
            "'{value}' is not a URL ({error}); write it in full, for example https://host/path",
            value = v,
            error = e
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => return Err(coded!("st_https", "'{value}' must use https://", value = v)),
        other => {
            return Err(coded!(
                "st_scheme",
                "'{value}' has scheme '{scheme}'; use an http:// or https:// URL",
                value = v,
                scheme = other
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(coded!(
            "st_no_host",
            "'{value}' has no host name",
            value = v
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(coded!(
            "st_url_credentials",
            "'{value}' contains a user name or password; remove it (secrets belong in the secret store)",
            value = v
        ));
    }
    Ok(())
}

/// The Markdown documentation of every setting, as checked in at `docs/settings.md`.
pub fn settings_doc() -> String {
    let mut out = String::from(
        "# Configuration settings\n\n\
         <!-- Generated from src/settings.rs (`exchange-connector-service settings-doc`); a test keeps them equal. -->\n\n\
         The configuration file `OnPremisesExchangeConnectorServiceConfiguration.xml` holds one element per\n\
         setting below, named by its key; the answers file of `configure --answers` uses the same keys.\n\
         Secret settings are never written to the configuration file: they go to the secret store (Windows\n\
         Credential Manager, local persistence; on Linux the Secret Service or a file readable only by the\n\
         service's user). If an answers file holds secrets, delete it once `configure` has stored them.\n\n\
         ## Answers file\n\n\
         `exchange-connector-service [--config-dir DIR] [--instance NAME] configure --answers FILE` reads\n\
         `Key = value` lines (`#` starts a comment; quotes around a value are optional) or a JSON object\n\
         `{\"Key\": \"value\"}`. Keys not given keep their current value; an empty value clears a key (back\n\
         to its default). Every problem is reported at once with its line, and nothing is written until all\n\
         are fixed. To keep secrets out of the file, pipe them as `Key=value` lines to `--secrets-stdin`.\n\
         `config show` prints the result, secrets only as `stored` or `missing`.\n\n\
         `configure --lab-endpoints FILE` configures the connector for a running lab from its `endpoints.json`\n\
         (and imports the lab's connector package); `package create` builds a connector package.\n\n\
         ## Where things are\n\n\
         The configuration folder is `%ProgramData%\\ExchangeConnector` on Windows, `/etc/exchange-connector`\n\
         for root on Linux and `$XDG_CONFIG_HOME/exchange-connector` otherwise; an instance other than\n\
         `default` (`--instance NAME`, one per Exchange organisation) uses `instances/NAME` below it, and\n\
         `--config-dir DIR` overrides the folder. `--secret-store auto|os|file` chooses the secret store;\n\
         the file store keeps `secrets/secrets.json` (mode 0600, folder 0700) in the configuration folder.\n\n\
         ## Settings\n\n\
         | Key | Label | Kind | Default | Required | Description |\n\
         |---|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let default = s.default.map(|d| format!("`{d}`")).unwrap_or_default();
        let required = s.required.describe();
        let kind = s.kind.describe().replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            s.key,
            s.label,
            kind,
            default,
            required,
            s.help.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(key: &str, value: &str) -> String {
        find(key).unwrap().validate(value).unwrap_err().to_string()
    }

    #[test]
    fn messages_say_what_is_wrong_and_how_to_fix_it() {
        assert_eq!(
            err("ProxyPort", "70000"),
            "ProxyPort: '70000' is not a port; use a number from 1 to 65535"
        );
        assert_eq!(
            err("ExchangeUser", "admin"),
            "ExchangeUser: 'admin' must be DOMAIN\\user (for example CONTOSO\\svc-eas) or a UPN (svc-eas@contoso.com)"
        );
        assert!(err("ExchangeServer", "https://cas01/").contains("is a URL"));
        assert!(err("GraphBase", "http://graph").contains("must use https://"));
        assert!(err("NotificationMailbox", "notify").contains("is not a mail address"));
        assert!(err("FullSyncTime", "25:00").contains("HH:MM"));
        assert!(err("ExchangeServerType", "cloud").contains("OnPremises, Hosted"));
    }

    #[test]
    fn valid_values_are_normalised() {
        let v = |k: &str, x: &str| find(k).unwrap().validate(x).unwrap();
        assert_eq!(v("ProxyEnabled", "Yes"), "true");
        assert_eq!(v("ExchangeServerType", "hosted"), "Hosted");
        assert_eq!(v("ExchangeUser", "CONTOSO\\svc-eas"), "CONTOSO\\svc-eas");
        assert_eq!(v("ExchangeUser", "svc@contoso.com"), "svc@contoso.com");
        assert_eq!(
            v("ExchangeServer", "cas01.contoso.com"),
            "cas01.contoso.com"
        );
        assert_eq!(v("ExchangeServer", "10.0.0.1"), "10.0.0.1");
        assert_eq!(v("FullSyncTime", "2:05"), "02:05");
        assert_eq!(v("ProxyHost", "proxy.contoso.com"), "proxy.contoso.com");
        assert_eq!(v("ProxyHost", "PROXY:8080"), "http://proxy:8080");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        assert_eq!(lookup("proxyport").unwrap().key, "ProxyPort");
        let e = lookup("ProxyPrt").unwrap_err().to_string();
        assert!(e.contains("did you mean ProxyPort?"), "{e}");
    }

    #[test]
    fn keys_are_unique_and_defaults_validate() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..].iter().all(|o| o.key != s.key),
                "{}",
                s.key
            );
            if let Some(d) = s.default {
                s.validate(d).unwrap();
            }
            assert!(!(s.is_secret() && s.required != Required::No));
        }
    }
}
