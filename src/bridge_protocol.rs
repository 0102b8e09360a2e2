//! The PowerShell bridge protocol: JSON lines over a child process's stdin/stdout.
//!
//! On-premises, the connector does not speak MS-PSRP itself. It starts a PowerShell host
//! (`powershell.exe` on Windows, `pwsh` elsewhere) running `assets/exchange-bridge.ps1`, which opens the
//! `Microsoft.Exchange` remote session to `http(s)://<CAS>/PowerShell/` and relays cmdlet calls. The lab's
//! stand-in (`exchange-connector-lab pwsh`) speaks exactly the same protocol, so the client is tested end
//! to end against it.
//!
//! # Framing
//!
//! Every message is one JSON object on one line (UTF-8, `\n`-terminated, no embedded newlines).
//! The client writes [`Request`]s to the bridge's stdin; the bridge writes [`Reply`]s to stdout. The
//! bridge writes nothing else to stdout; diagnostics go to stderr (never a secret).
//!
//! # Conversation
//!
//! 1. The client writes one [`Request::Open`] carrying the connection URI, the authentication mechanism
//!    and the credential. **Credentials travel only here, on stdin — never as command-line arguments or
//!    environment variables.**
//! 2. The bridge answers [`Reply::Opened`] (with the runspace id and the server that answered) or
//!    [`Reply::OpenFailed`] with the error record, and then exits with status 2.
//! 3. The client sends [`Request::Invoke`] messages, each with an id unique within the conversation. One
//!    at a time: a bridge is one runspace; parallelism comes from several bridges (the pool).
//!    For each invoke the bridge writes zero or more [`Reply::Record`] (one per output object, in
//!    order, streamed as they arrive so a 50,000-device listing never sits in memory whole), zero or more
//!    [`Reply::Error`] (one per non-terminating or terminating error record), then exactly one
//!    [`Reply::End`]. A terminating error ends the invoke with `End { ok: false }`; the session stays
//!    usable unless `Reply::End::session_broken` is true.
//! 4. The client closes stdin (or sends [`Request::Close`]). The bridge removes its PowerShell session
//!    (`Remove-PSSession`) and exits 0. A bridge whose stdin closes unexpectedly also removes its session.
//!
//! # Values
//!
//! Parameters are a JSON object: parameter name → value. Strings, numbers, booleans and arrays map to
//! the PowerShell types; `null` is `$null`; `true` alone on a switch parameter means the switch is
//! present. An object is a hashtable, used for multi-valued edits: `{"Add": ["id1"], "Remove": ["id2"]}`
//! is `@{Add="id1"; Remove="id2"}`. Because Exchange's remote sessions run in restricted language mode,
//! the bridge never builds script text: it calls the cmdlet by name with a parameter dictionary
//! (`& $cmdlet @parameters`), which restricted mode allows.
//!
//! Output records carry Exchange's own property names. Dates are ISO-8601 UTC strings
//! (`2024-05-01T09:30:00.0000000Z`), enums are their names, multi-valued properties are arrays.
//! Error records use [`crate::model::exchange::ErrorRecord`]'s shape (PowerShell's `ErrorRecord`
//! property names: `Exception{Type,Message}`, `CategoryInfo{Category,Activity,Reason,TargetName}`,
//! `FullyQualifiedErrorId`).

use crate::model::exchange::ErrorRecord;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How the remote session authenticates (`-Authentication` of `New-PSSession`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Authentication {
    /// Kerberos: the on-premises default.
    #[default]
    Kerberos,
    /// Negotiate (Kerberos, falling back to NTLM).
    Negotiate,
    /// Basic over HTTPS.
    Basic,
}

/// Proxy settings for the remote session (`New-PSSessionOption -ProxyAccessType ...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeProxy {
    /// `http://host:port`.
    pub url: String,
    /// `DOMAIN\user`, when the proxy needs credentials.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<Secret>,
}

/// A message from the client to the bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Request {
    /// Open the remote session. Always the first message.
    #[serde(rename_all = "camelCase")]
    Open {
        /// `http(s)://<CAS>/PowerShell/`.
        connection_uri: String,
        /// Authentication mechanism.
        authentication: Authentication,
        /// `DOMAIN\user` or UPN.
        user_name: String,
        /// Password.
        password: Secret,
        /// Optional proxy.
        #[serde(default)]
        proxy: Option<BridgeProxy>,
        /// Seconds to wait for the session to open.
        #[serde(default)]
        open_timeout_seconds: Option<u32>,
    },
    /// Run one cmdlet.
    #[serde(rename_all = "camelCase")]
    Invoke {
        /// Correlates the replies.
        id: u64,
        /// Cmdlet name, e.g. `Get-MobileDevice`.
        cmdlet: String,
        /// Parameters (see the module docs for the value mapping).
        #[serde(default)]
        parameters: Map<String, Value>,
    },
    /// Remove the session and exit.
    Close,
}

/// A message from the bridge to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Reply {
    /// The session is open.
    #[serde(rename_all = "camelCase")]
    Opened {
        /// `RunspaceId` of the remote runspace.
        runspace_id: String,
        /// The server that answered (FQDN).
        server: String,
        /// PowerShell version of the host, for diagnostics.
        #[serde(default)]
        ps_version: Option<String>,
    },
    /// The session could not be opened; the bridge exits after this.
    #[serde(rename_all = "camelCase")]
    OpenFailed {
        /// Why, with the server's own words.
        error: ErrorRecord,
        /// `Transport` (server unreachable, TLS, proxy), `Authentication` (credentials refused),
        /// `Throttled` (too many concurrent shells) or `Other`.
        kind: OpenFailureKind,
    },
    /// One output object of an invoke.
    Record {
        /// The invoke's id.
        id: u64,
        /// The object, with Exchange's property names.
        record: Value,
    },
    /// One error record of an invoke.
    Error {
        /// The invoke's id.
        id: u64,
        /// The error record.
        error: ErrorRecord,
    },
    /// The invoke is finished.
    #[serde(rename_all = "camelCase")]
    End {
        /// The invoke's id.
        id: u64,
        /// `false` when a terminating error stopped the cmdlet.
        ok: bool,
        /// Number of records written.
        count: u64,
        /// The session no longer works (transport lost, session expired): the client must recycle
        /// this bridge.
        #[serde(default)]
        session_broken: bool,
    },
}

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpenFailureKind {
    /// Could not reach the server (DNS, TCP, TLS, proxy).
    Transport,
    /// The server refused the credentials.
    Authentication,
    /// The account has too many open shells (`PowerShellMaxConcurrency`).
    Throttled,
    /// Anything else.
    Other,
}

impl Request {
    /// Serialises as one line, without the trailing newline.
    pub fn to_line(&self) -> String {
        // Serialising these types cannot fail: every field is a string, number, map or Secret.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Reply {
    /// Serialises as one line, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes_are_stable() {
        let open = Request::Open {
            connection_uri: "https://cas01.contoso.lab/PowerShell/".into(),
            authentication: Authentication::Kerberos,
            user_name: "CONTOSO\\svc-eas".into(),
            password: Secret::new("pw"),
            proxy: None,
            open_timeout_seconds: None,
        };
        let line = open.to_line();
        assert!(
            line.starts_with(r#"{"op":"open","connectionUri":"https://cas01"#),
            "{line}"
        );
        let mut parameters = Map::new();
        parameters.insert(
            "ActiveSyncAllowedDeviceIDs".into(),
            serde_json::json!({"Add": ["A1"], "Remove": []}),
        );
        let invoke = Request::Invoke {
            id: 7,
            cmdlet: "Set-CASMailbox".into(),
            parameters,
        };
        let back: Request = serde_json::from_str(&invoke.to_line()).expect("parse");
        assert_eq!(back, invoke);
        let end: Reply =
            serde_json::from_str(r#"{"op":"end","id":7,"ok":true,"count":0}"#).expect("end");
        assert_eq!(
            end,
            Reply::End {
                id: 7,
                ok: true,
                count: 0,
                session_broken: false
            }
        );
    }
}
