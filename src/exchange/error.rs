//! Typed errors of the Exchange client, with messages an Exchange administrator can act on, and the
//! classification the pool uses (transient? server down? shell limit?).

use crate::bridge_protocol::OpenFailureKind;
use crate::model::exchange::ErrorRecord;
use crate::oauth::OAuthError;
use std::time::Duration;

/// What went wrong talking to Exchange.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The PowerShell host could not be started.
    #[error(
        "cannot start the PowerShell host '{program}': {source}. Check that PowerShell is installed and the configured path (PowerShellPath) is right."
    )]
    Spawn {
        /// Program that was started.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The connection to the server broke (child exited, network lost, TLS failed).
    #[error(
        "lost the connection to Exchange server {server}: {message}. The connector recycles the session and, if the server stays unreachable, fails over to another Client Access server."
    )]
    Transport {
        /// Server (FQDN or URL) that was in use.
        server: String,
        /// What happened.
        message: String,
    },
    /// The remote session stopped working (expired, server restarted).
    #[error("the remote PowerShell session on {server} is no longer usable: {message}")]
    SessionBroken {
        /// Server.
        server: String,
        /// Exchange's words.
        message: String,
    },
    /// `New-PSSession` failed.
    #[error(
        "cannot open the Exchange management session on {server} ({kind:?}): {message}. {hint}"
    )]
    OpenFailed {
        /// Server.
        server: String,
        /// Why, as the bridge classified it.
        kind: OpenFailureKind,
        /// Exchange's message.
        message: String,
        /// What to do.
        hint: &'static str,
    },
    /// The account has reached `PowerShellMaxConcurrency`.
    #[error(
        "Exchange refuses another remote shell for the service account ({message}). The connector reduces its parallelism; if this persists, close other sessions of the account or raise PowerShellMaxConcurrency in its throttling policy."
    )]
    TooManyShells {
        /// The limit Exchange named, when it did.
        limit: Option<u32>,
        /// Exchange's message.
        message: String,
    },
    /// Exchange or the REST service asked us to slow down.
    #[error("Exchange is throttling the connector: {message}")]
    Throttled {
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The message.
        message: String,
    },
    /// The account may not run a cmdlet.
    #[error(
        "the service account may not run {cmdlet}: {message}. Assign it an Exchange management role that grants {cmdlet} (for example 'Organization Client Access' and 'Recipient Policies'), or use the Organization Management role group."
    )]
    PermissionDenied {
        /// The cmdlet.
        cmdlet: String,
        /// Exchange's message.
        message: String,
    },
    /// The permission check found cmdlets the account cannot run.
    #[error(
        "the service account cannot run these cmdlets the connector needs: {}. Assign it Exchange management roles that grant them (for example the 'Organization Client Access', 'Recipient Policies' and 'View-Only Configuration' roles), or add it to the Organization Management role group.",
        missing.join(", ")
    )]
    MissingCmdlets {
        /// Cmdlets (or alternatives, "A (or B)") the account lacks.
        missing: Vec<String>,
    },
    /// The object does not exist.
    #[error("{cmdlet}: the object '{target}' was not found: {message}")]
    NotFound {
        /// The cmdlet.
        cmdlet: String,
        /// What was looked for.
        target: String,
        /// Exchange's message.
        message: String,
    },
    /// Any other error a cmdlet reported.
    #[error("{cmdlet} failed ({category}{id}): {message}", id = error_id.as_deref().map(|i| format!(", error id {i}")).unwrap_or_default())]
    Cmdlet {
        /// The cmdlet.
        cmdlet: String,
        /// `CategoryInfo.Category`, or the REST category.
        category: String,
        /// Exchange's message.
        message: String,
        /// Exchange's 8-hex-digit error id, or the REST error code.
        error_id: Option<String>,
    },
    /// REST `InvokeCommand` answered with an HTTP error that is not a cmdlet error.
    #[error("Exchange REST API answered HTTP {status} for {cmdlet}: {message}")]
    Http {
        /// Cmdlet.
        cmdlet: String,
        /// HTTP status.
        status: u16,
        /// Message from the body (or the body's start).
        message: String,
    },
    /// REST refused the token even after a fresh one was fetched.
    #[error(
        "Exchange REST API refused the access token (HTTP {status}): {message}. Check that the app has the Exchange.ManageAsApp permission with admin consent and an Exchange administrator role."
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Message from the body.
        message: String,
    },
    /// Getting a token failed.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// A record did not have the expected shape.
    #[error("cannot read the output of {cmdlet}: {message}")]
    Decode {
        /// Cmdlet.
        cmdlet: String,
        /// Serde's message (field names only, never values).
        message: String,
    },
    /// The bridge said something the protocol does not allow.
    #[error("the PowerShell bridge broke the protocol: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("{what} on {server} did not answer within {seconds} s")]
    Timeout {
        /// What was waited for.
        what: String,
        /// Server.
        server: String,
        /// Seconds waited.
        seconds: u64,
    },
    /// Every Client Access server was tried and none answered.
    #[error(
        "no Client Access server answered (tried {tried}). Last error: {last}. Check that the servers are up and reachable from the connector on the PowerShell port."
    )]
    NoServerReachable {
        /// Servers tried.
        tried: String,
        /// The last error.
        last: Box<ExchangeError>,
    },
    /// The primary does not answer and no other Client Access server is known yet.
    #[error(
        "the Client Access server {server} does not answer, and no other Client Access server is known \
         to fail over to: the others are discovered (Get-ExchangeServer) after a first successful \
         connection and remembered in the state database. Start {server} or make it reachable, or set \
         ExchangePowerShellURL to a server that answers. Last error: {last}"
    )]
    NoFailoverTarget {
        /// The primary.
        server: String,
        /// Its error.
        last: Box<ExchangeError>,
    },
    /// Bad configuration.
    #[error("invalid Exchange client configuration: {0}")]
    Config(String),
    /// The pool was shut down.
    #[error("the Exchange client was shut down")]
    Closed,
}

impl ExchangeError {
    /// Builds the typed error for an error record a cmdlet wrote.
    pub fn from_record(cmdlet: &str, record: &ErrorRecord) -> ExchangeError {
        classify(
            cmdlet,
            &record.category_info.category,
            &record.exception.type_name,
            &record.exception.message,
            record.exchange_error_id().map(str::to_string).or_else(|| {
                Some(record.fully_qualified_error_id.clone()).filter(|s| !s.is_empty())
            }),
            &record.category_info.target_name,
        )
    }

    /// Worth retrying (possibly on another runspace or server).
    pub fn is_transient(&self) -> bool {
        match self {
            ExchangeError::Transport { .. }
            | ExchangeError::SessionBroken { .. }
            | ExchangeError::TooManyShells { .. }
            | ExchangeError::Throttled { .. }
            | ExchangeError::Timeout { .. }
            | ExchangeError::NoServerReachable { .. }
            | ExchangeError::NoFailoverTarget { .. } => true,
            ExchangeError::OpenFailed { kind, .. } => {
                matches!(
                    kind,
                    OpenFailureKind::Transport | OpenFailureKind::Throttled
                )
            }
            ExchangeError::Http { status, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            }
            ExchangeError::OAuth(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The runspace that produced this error must not be reused.
    pub fn recycles_runspace(&self) -> bool {
        matches!(
            self,
            ExchangeError::Transport { .. }
                | ExchangeError::SessionBroken { .. }
                | ExchangeError::Timeout { .. }
                | ExchangeError::Protocol(_)
                | ExchangeError::OpenFailed { .. }
        )
    }

    /// The server in use looks down: try another Client Access server.
    pub fn server_unreachable(&self) -> bool {
        match self {
            ExchangeError::Transport { .. } | ExchangeError::Timeout { .. } => true,
            ExchangeError::OpenFailed { kind, .. } => *kind == OpenFailureKind::Transport,
            _ => false,
        }
    }

    /// Delay the server asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExchangeError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Classifies a cmdlet error from its category, exception type and message.
pub(crate) fn classify(
    cmdlet: &str,
    category: &str,
    exception_type: &str,
    message: &str,
    error_id: Option<String>,
    target: &str,
) -> ExchangeError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("concurrent shells") || lower.contains("maximum number of concurrent") {
        return ExchangeError::TooManyShells {
            limit: shell_limit(message),
            message: message.to_string(),
        };
    }
    if lower.contains("maximum number of concurrent requests per tenant")
        || lower.contains("user load quota")
        || lower.contains("micro delay")
    {
        return ExchangeError::Throttled {
            retry_after: None,
            message: message.to_string(),
        };
    }
    let type_lower = exception_type.to_ascii_lowercase();
    if category.eq_ignore_ascii_case("PermissionDenied")
        || type_lower.contains("commandnotfound")
        || lower.contains("is not recognized as the name of a cmdlet")
        || lower.contains("access denied")
    {
        return ExchangeError::PermissionDenied {
            cmdlet: cmdlet.to_string(),
            message: message.to_string(),
        };
    }
    if category.eq_ignore_ascii_case("ObjectNotFound") || type_lower.contains("notfound") {
        return ExchangeError::NotFound {
            cmdlet: cmdlet.to_string(),
            target: target.to_string(),
            message: message.to_string(),
        };
    }
    ExchangeError::Cmdlet {
        cmdlet: cmdlet.to_string(),
        category: if category.is_empty() {
            "NotSpecified".to_string()
        } else {
            category.to_string()
        },
        message: message.to_string(),
        error_id,
    }
}

/// Reads N out of "This user is allowed a maximum of N concurrent shells".
pub(crate) fn shell_limit(message: &str) -> Option<u32> {
    let lower = message.to_ascii_lowercase();
    let start = lower.find("maximum of ")? + "maximum of ".len();
    lower[start..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
}

/// Windows' words for an expired password (ERROR_PASSWORD_EXPIRED, ERROR_PASSWORD_MUST_CHANGE,
/// Kerberos' KDC_ERR_KEY_EXPIRED), lowercase.
const PASSWORD_EXPIRED: &[&str] = &[
    "password of this user has expired",
    "password has expired",
    "password for this account has expired",
    "password must be changed",
    "kdc_err_key_expired",
];

/// What to tell the admin for each way opening a session can fail (`message`: the server's words).
pub(crate) fn open_hint(kind: OpenFailureKind, message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if PASSWORD_EXPIRED.iter().any(|p| lower.contains(p)) {
        return "The service account's password has expired: set a new one in Active Directory (or let the account's password never expire), then store it with the setup (Settings) or `configure`.";
    }
    match kind {
        OpenFailureKind::Transport => {
            "Check that the server is up, that its name resolves and that the connector can reach https://<server>/PowerShell/ (firewall, proxy, TLS trust)."
        }
        OpenFailureKind::Authentication => {
            "The server refused the service account's credentials: check the user name (DOMAIN\\user) and password, and that the account has RemotePowerShellEnabled."
        }
        OpenFailureKind::Throttled => {
            "The service account has too many open remote shells (PowerShellMaxConcurrency); the connector will retry with fewer."
        }
        OpenFailureKind::Other => "See the server's message.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_password_is_named_as_such() {
        let hint = open_hint(
            OpenFailureKind::Authentication,
            "Connecting to remote server cas01.contoso.com failed with the following error message : The password of this user has expired.",
        );
        assert!(hint.contains("password has expired"), "{hint}");
        let hint = open_hint(
            OpenFailureKind::Authentication,
            "The user name or password is incorrect.",
        );
        assert!(hint.contains("check the user name"), "{hint}");
    }

    #[test]
    fn classifies_shell_limit_and_permissions() {
        let e = classify(
            "Get-MobileDevice",
            "OpenError",
            "PSRemotingTransportException",
            "The WS-Management service cannot process the request. This user is allowed a maximum of 18 concurrent shells, which has been exceeded.",
            None,
            "",
        );
        assert!(matches!(
            e,
            ExchangeError::TooManyShells {
                limit: Some(18),
                ..
            }
        ));
        assert!(e.is_transient());
        let e = classify(
            "Set-CASMailbox",
            "ObjectNotFound",
            "System.Management.Automation.CommandNotFoundException",
            "The term 'Set-CASMailbox' is not recognized as the name of a cmdlet",
            None,
            "",
        );
        assert!(
            matches!(e, ExchangeError::PermissionDenied { ref cmdlet, .. } if cmdlet == "Set-CASMailbox")
        );
        assert!(e.to_string().contains("Set-CASMailbox"));
        let e = classify(
            "Get-CASMailbox",
            "NotSpecified",
            "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
            "The operation couldn't be performed because object 'nobody' couldn't be found",
            None,
            "nobody",
        );
        assert!(matches!(e, ExchangeError::NotFound { .. }));
        assert!(!e.is_transient());
    }
}
