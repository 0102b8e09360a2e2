//! `exchange-connector-lab pwsh`: the PowerShell stand-in. It speaks exactly the JSON-lines protocol
//! of [`crate::bridge_protocol`] on stdin/stdout, as `assets/exchange-bridge.ps1` does under a real
//! PowerShell host, and talks HTTPS to the lab CAS's `/PowerShell/` endpoint
//! ([`super::powershell_endpoint`]) instead of WS-Management.
//!
//! Credentials arrive only in the first `open` line on stdin. Nothing but protocol lines goes to
//! stdout; warnings and diagnostics go to stderr, never with a secret.

use super::powershell_endpoint::{InvokeBody, OpenRefusal, Opened};
use crate::bridge_protocol::{OpenFailureKind, Reply, Request};
use crate::model::exchange::{CategoryInfo, ErrorRecord, ExceptionInfo};
use futures_util::StreamExt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Arguments of `exchange-connector-lab pwsh`.
#[derive(Debug, clap::Args)]
pub struct PwshArgs {
    /// PEM file of the lab CA to trust.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Arguments a PowerShell host would get (`-NoProfile -File ...`); accepted and ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub powershell_args: Vec<String>,
}

const TROUBLESHOOTING: &str =
    "For more information, see the about_Remote_Troubleshooting Help topic.";

/// Runs the stand-in until stdin closes.
pub async fn run(args: PwshArgs) -> ExitCode {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let first = loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.trim().is_empty() => continue,
            Ok(Some(line)) => break line,
            // Nothing asked, nothing to do.
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pwsh stand-in: cannot read stdin: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let open = match serde_json::from_str::<Request>(&first) {
        Ok(Request::Open {
            connection_uri,
            user_name,
            password,
            proxy,
            open_timeout_seconds,
            ..
        }) => OpenArgs {
            connection_uri,
            user_name,
            password: password.expose().to_string(),
            proxy_url: proxy.map(|p| {
                (
                    p.url,
                    p.user_name,
                    p.password.map(|s| s.expose().to_string()),
                )
            }),
            timeout: Duration::from_secs(u64::from(open_timeout_seconds.unwrap_or(60).max(1))),
        },
        _ => {
            let error = open_error(
                "localhost",
                "Other",
                "The first message must be an open request.".into(),
            );
            write_reply(
                &mut out,
                &Reply::OpenFailed {
                    error,
                    kind: OpenFailureKind::Other,
                },
            )
            .await;
            return ExitCode::from(2);
        }
    };
    let mut session = match Session::open(&args, open).await {
        Ok((session, opened)) => {
            write_reply(
                &mut out,
                &Reply::Opened {
                    runspace_id: opened.runspace_id,
                    server: opened.server,
                    ps_version: Some(opened.ps_version),
                },
            )
            .await;
            session
        }
        Err((kind, error)) => {
            write_reply(&mut out, &Reply::OpenFailed { error, kind }).await;
            return ExitCode::from(2);
        }
    };
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("pwsh stand-in: cannot read stdin: {e}");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Request>(&line) {
            Ok(Request::Invoke {
                id,
                cmdlet,
                parameters,
            }) => {
                session.invoke(&mut out, id, cmdlet, parameters).await;
            }
            Ok(Request::Close) => break,
            Ok(Request::Open { .. }) => eprintln!("pwsh stand-in: ignoring a second open request"),
            Err(e) => eprintln!("pwsh stand-in: ignoring a malformed request line: {e}"),
        }
    }
    session.close().await;
    ExitCode::SUCCESS
}

struct OpenArgs {
    connection_uri: String,
    user_name: String,
    password: String,
    proxy_url: Option<(String, Option<String>, Option<String>)>,
    timeout: Duration,
}

struct Session {
    client: reqwest::Client,
    host: String,
    invoke_url: reqwest::Url,
    session_url: reqwest::Url,
    broken: bool,
}

/// The error record PowerShell gives when `New-PSSession` fails.
fn open_error(host: &str, id: &str, message: String) -> ErrorRecord {
    ErrorRecord {
        exception: ExceptionInfo {
            type_name: "System.Management.Automation.Remoting.PSRemotingTransportException".into(),
            message: format!(
                "Connecting to remote server {host} failed with the following error message : {message} {TROUBLESHOOTING}"
            ),
        },
        category_info: CategoryInfo {
            category: "OpenError".into(),
            activity: String::new(),
            reason: "PSRemotingTransportException".into(),
            target_name: host.to_string(),
        },
        fully_qualified_error_id: format!("{id},PSSessionOpenFailed"),
    }
}

/// The error record of a command whose transport failed.
fn transport_error(host: &str, message: &str) -> ErrorRecord {
    ErrorRecord {
        exception: ExceptionInfo {
            type_name: "System.Management.Automation.Remoting.PSRemotingTransportException".into(),
            message: format!(
                "Processing data from remote server {host} failed with the following error message : {message} {TROUBLESHOOTING}"
            ),
        },
        category_info: CategoryInfo {
            category: "OpenError".into(),
            activity: String::new(),
            reason: "PSRemotingTransportException".into(),
            target_name: host.to_string(),
        },
        fully_qualified_error_id: "JobFailure".into(),
    }
}

/// The port of the lab CAS `host` (its FQDN) from the `endpoints.json` beside the lab's CA file.
fn lab_cas_port(ca_file: Option<&std::path::Path>, host: &str) -> Option<u16> {
    let file = ca_file?.parent()?.join("endpoints.json");
    let endpoints: crate::lab::endpoints::Endpoints =
        serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    let cas = endpoints
        .cas_servers
        .iter()
        .find(|c| c.fqdn.eq_ignore_ascii_case(host))?;
    reqwest::Url::parse(&cas.base_url).ok()?.port()
}

const CANNOT_CONNECT: &str = "WinRM cannot complete the operation. Verify that the specified computer name is valid, that the computer is accessible over the network, and that a firewall exception for the WinRM service is enabled and allows access from this computer. By default, the WinRM firewall exception for public profiles limits access to remote computers within the same local subnet.";

impl Session {
    async fn open(
        args: &PwshArgs,
        open: OpenArgs,
    ) -> Result<(Session, Opened), (OpenFailureKind, ErrorRecord)> {
        let mut url = reqwest::Url::parse(&open.connection_uri).map_err(|e| {
            (
                OpenFailureKind::Other,
                open_error(
                    &open.connection_uri,
                    "PSSessionInvalidUri",
                    format!("The connection URI is not valid: {e}."),
                ),
            )
        })?;
        let host = url.host_str().unwrap_or_default().to_string();
        let transport = |message: String| {
            (
                OpenFailureKind::Transport,
                open_error(&host, "CannotConnect", message),
            )
        };
        let mut builder = crate::tls::http_client_builder(args.ca_file.as_deref())
            .map_err(|e| transport(format!("{CANNOT_CONNECT} ({e})")))?
            .connect_timeout(open.timeout);
        // The lab's CAS names (cas01.contoso.lab) live only in its endpoints file: point them at loopback,
        // on that server's own port when the endpoints file beside the CA names it (a discovered server's
        // URI carries the primary's port, as real servers all listen on 443).
        if !host.is_empty() && host.trim_matches(['[', ']']).parse::<IpAddr>().is_err() {
            if let Some(port) = lab_cas_port(args.ca_file.as_deref(), &host) {
                let _ = url.set_port(Some(port));
            }
            let port = url.port_or_known_default().unwrap_or(443);
            builder = builder.resolve(
                &host,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            );
        }
        if let Some((proxy_url, user, password)) = &open.proxy_url {
            let mut proxy = reqwest::Proxy::all(proxy_url.as_str())
                .map_err(|e| transport(format!("The proxy URL is not valid: {e}.")))?;
            if let Some(user) = user {
                proxy = proxy.basic_auth(user, password.as_deref().unwrap_or(""));
            }
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| transport(format!("{CANNOT_CONNECT} ({e})")))?;
        let response = client
            .post(url.clone())
            .basic_auth(&open.user_name, Some(&open.password))
            .timeout(open.timeout)
            .send()
            .await
            .map_err(|e| {
                eprintln!("pwsh stand-in: cannot reach {host}: {e}");
                transport(CANNOT_CONNECT.to_string())
            })?;
        let status = response.status();
        if status.is_success() {
            let opened: Opened = response.json().await.map_err(|e| {
                transport(format!(
                    "The server sent an answer that could not be read: {e}."
                ))
            })?;
            let mut session_url = url.clone();
            session_url.set_query(None);
            session_url.set_path(&format!("/PowerShell/{}", opened.runspace_id));
            let mut invoke_url = session_url.clone();
            invoke_url.set_path(&format!("/PowerShell/{}/invoke", opened.runspace_id));
            return Ok((
                Session {
                    client,
                    host,
                    invoke_url,
                    session_url,
                    broken: false,
                },
                opened,
            ));
        }
        let refusal: Option<OpenRefusal> = response.json().await.ok();
        let (kind, id, message) = match (status.as_u16(), refusal) {
            (401, r) => (
                OpenFailureKind::Authentication,
                "AccessDenied",
                r.map_or_else(|| "Access is denied.".to_string(), |r| r.message),
            ),
            (_, Some(r)) if r.kind == "Throttled" => {
                (OpenFailureKind::Throttled, "-2144108094", r.message)
            }
            (_, Some(r)) if r.kind == "Transport" => {
                (OpenFailureKind::Transport, "CannotConnect", r.message)
            }
            (_, Some(r)) => (OpenFailureKind::Other, "PSSessionOpenFailed", r.message),
            (code, None) => (
                OpenFailureKind::Transport,
                "CannotConnect",
                format!(
                    "The WinRM client received an HTTP status code of {code} from the remote WS-Management service."
                ),
            ),
        };
        Err((kind, open_error(&host, id, message)))
    }

    /// Fails an invoke at the transport level: the bridge must be recycled.
    async fn fail<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut W,
        id: u64,
        count: u64,
        message: &str,
    ) {
        self.broken = true;
        write_reply(
            out,
            &Reply::Error {
                id,
                error: transport_error(&self.host, message),
            },
        )
        .await;
        write_reply(
            out,
            &Reply::End {
                id,
                ok: false,
                count,
                session_broken: true,
            },
        )
        .await;
    }

    async fn invoke<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut W,
        id: u64,
        cmdlet: String,
        parameters: serde_json::Map<String, serde_json::Value>,
    ) {
        if self.broken {
            self.fail(out, id, 0, "The session state is Broken.").await;
            return;
        }
        let body = InvokeBody { cmdlet, parameters };
        let response = match self
            .client
            .post(self.invoke_url.clone())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("pwsh stand-in: invoke failed: {e}");
                self.fail(out, id, 0, "The WS-Management service cannot process the request: the connection to the server was lost.")
                    .await;
                return;
            }
        };
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let message = match response.json::<OpenRefusal>().await {
                Ok(r) if r.kind == "SessionBroken" => {
                    format!("The session state is Broken. {}", r.message)
                }
                Ok(r) => r.message,
                Err(_) => format!("The WinRM client received an HTTP status code of {status}."),
            };
            self.fail(out, id, 0, &message).await;
            return;
        }
        let mut stream = response.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        let mut count = 0u64;
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    pending.extend_from_slice(&chunk);
                    let mut buf = Vec::with_capacity(pending.len() + 64);
                    let mut consumed = 0;
                    let mut ended = false;
                    while let Some(nl) = pending[consumed..].iter().position(|b| *b == b'\n') {
                        let line = &pending[consumed..consumed + nl];
                        consumed += nl + 1;
                        if translate(line, id, &mut buf, &mut count) {
                            ended = true;
                        }
                    }
                    pending.drain(..consumed);
                    if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
                        return;
                    }
                    if ended {
                        return;
                    }
                }
                Some(Err(e)) => {
                    eprintln!("pwsh stand-in: connection lost during an invoke: {e}");
                    break;
                }
                None => break,
            }
        }
        // The stream stopped before its end line: the server went away.
        self.fail(
            out,
            id,
            count,
            "The connection to the remote server was closed unexpectedly.",
        )
        .await;
    }

    async fn close(self) {
        // Remove-PSSession: best effort, so the account's shell quota is released.
        let result = self
            .client
            .delete(self.session_url.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Err(e) = result {
            eprintln!("pwsh stand-in: could not remove the session: {e}");
        }
    }
}

/// Translates one line of the endpoint's NDJSON into bridge replies appended to `out`. Returns
/// `true` on the end line.
fn translate(line: &[u8], id: u64, out: &mut Vec<u8>, count: &mut u64) -> bool {
    const RECORD: &[u8] = b"{\"record\":";
    // Fast path: records are wrapped verbatim, without re-parsing 50,000 objects.
    if line.starts_with(RECORD) && line.ends_with(b"}") {
        out.extend_from_slice(format!("{{\"op\":\"record\",\"id\":{id},\"record\":").as_bytes());
        out.extend_from_slice(&line[RECORD.len()..]);
        out.push(b'\n');
        *count += 1;
        return false;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        return false;
    };
    if let Some(w) = value.get("warning").and_then(|w| w.as_str()) {
        eprintln!("WARNING: {w}");
    } else if let Some(error) = value
        .get("error")
        .and_then(|e| serde_json::from_value::<ErrorRecord>(e.clone()).ok())
    {
        out.extend_from_slice(Reply::Error { id, error }.to_line().as_bytes());
        out.push(b'\n');
    } else if let Some(end) = value.get("end") {
        let ok = end.get("ok").and_then(|v| v.as_bool()).unwrap_or(false);
        let reply = Reply::End {
            id,
            ok,
            count: *count,
            session_broken: false,
        };
        out.extend_from_slice(reply.to_line().as_bytes());
        out.push(b'\n');
        return true;
    }
    false
}

async fn write_reply<W: AsyncWrite + Unpin>(out: &mut W, reply: &Reply) {
    let mut line = reply.to_line();
    line.push('\n');
    // A closed stdout means the client is gone; nothing useful is left to do with the error.
    let _ = out.write_all(line.as_bytes()).await;
    let _ = out.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_endpoint_lines() {
        let mut out = Vec::new();
        let mut count = 0;
        assert!(!translate(
            br#"{"record":{"A":1}}"#,
            7,
            &mut out,
            &mut count
        ));
        assert!(translate(
            br#"{"end":{"ok":true,"count":1}}"#,
            7,
            &mut out,
            &mut count
        ));
        let text = String::from_utf8(out).unwrap();
        let replies: Vec<Reply> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            replies,
            vec![
                Reply::Record {
                    id: 7,
                    record: serde_json::json!({"A": 1})
                },
                Reply::End {
                    id: 7,
                    ok: true,
                    count: 1,
                    session_broken: false
                }
            ]
        );
    }
}
