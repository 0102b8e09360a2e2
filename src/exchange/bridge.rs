//! On-premises transport: a PowerShell child running `assets/exchange-bridge.ps1`, spoken to in the
//! JSON-lines protocol of [`crate::bridge_protocol`]. One child is one runspace.
//!
//! The credential goes to the child only in the `open` line on its stdin — never in its arguments or
//! environment. Records are read and deserialised one line at a time as the bridge writes them, so a
//! 50,000-device listing is never held as JSON text. Closing stdin makes the bridge remove its remote
//! session; a child that does not exit in time is killed (and `kill_on_drop` is the last resort).

use super::error::open_hint;
use super::{
    CasServer, Connector, ExchangeError, Invocation, InvokeOutcome, RecordSink, Transport,
};
use crate::bridge_protocol::{Authentication, BridgeProxy, Reply, Request};
use crate::secret::Secret;
use futures_util::future::BoxFuture;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How to start the bridge and what to open.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The PowerShell host (`powershell.exe`, `pwsh`, or a stand-in).
    pub program: PathBuf,
    /// Arguments before anything else (e.g. `-NoProfile -NonInteractive -File <script>`).
    pub prefix_args: Vec<String>,
    /// `-Authentication` of the remote session.
    pub authentication: Authentication,
    /// `DOMAIN\user` or UPN of the service account.
    pub user_name: String,
    /// Its password.
    pub password: Secret,
    /// Proxy for the remote session.
    pub proxy: Option<BridgeProxy>,
    /// Longest wait for the session to open.
    pub open_timeout: Duration,
    /// Longest silence of the bridge during a call (a record, an error or the end).
    pub idle_timeout: Duration,
    /// How long the bridge gets to remove its session when closed before it is killed.
    pub close_timeout: Duration,
}

impl BridgeConfig {
    /// The platform's PowerShell host for `script`: Windows PowerShell by its full path on Windows
    /// ([`windows_powershell`]), `pwsh` elsewhere.
    pub fn default_host(script: &Path) -> (PathBuf, Vec<String>) {
        let script = script.display().to_string();
        if cfg!(windows) {
            (
                windows_powershell(),
                [
                    "-NoProfile",
                    "-NonInteractive",
                    "-ExecutionPolicy",
                    "Bypass",
                    "-File",
                    &script,
                ]
                .map(String::from)
                .to_vec(),
            )
        } else {
            (
                PathBuf::from("pwsh"),
                ["-NoProfile", "-NonInteractive", "-File", &script]
                    .map(String::from)
                    .to_vec(),
            )
        }
    }

    /// A configuration with the platform's host and default timeouts.
    pub fn new(script: &Path, user_name: &str, password: Secret) -> Self {
        let (program, prefix_args) = Self::default_host(script);
        BridgeConfig {
            program,
            prefix_args,
            authentication: Authentication::Kerberos,
            user_name: user_name.to_string(),
            password,
            proxy: None,
            open_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(15 * 60),
            close_timeout: Duration::from_secs(10),
        }
    }
}

/// Windows PowerShell 5.1 by its full path, `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`:
/// never looked up through `PATH`, where a folder an unprivileged user can write could come first.
pub fn windows_powershell() -> PathBuf {
    let root = std::env::var_os("SystemRoot")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\Windows"));
    root.join("System32")
        .join("WindowsPowerShell")
        .join("v1.0")
        .join("powershell.exe")
}

/// The bridge script's file name.
pub const SCRIPT_NAME: &str = "exchange-bridge.ps1";

/// Where the bridge script may be, for programs in `exe_dir`, in order: the installed layout first
/// (`assets\` beside the programs, as the MSI puts it: `wix/main.wxs`), then beside the programs (a
/// development build), then the Linux package's share folders.
pub fn script_candidates(exe_dir: &Path) -> Vec<PathBuf> {
    vec![
        exe_dir.join("assets").join(SCRIPT_NAME),
        exe_dir.join(SCRIPT_NAME),
        exe_dir
            .join("../share/exchange-connector")
            .join(SCRIPT_NAME),
        PathBuf::from("/usr/share/exchange-connector").join(SCRIPT_NAME),
    ]
}

/// The bridge script of the running program: the first of [`script_candidates`] that exists, else
/// the installed location (so an error names where it should be).
pub fn installed_script() -> PathBuf {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let candidates = script_candidates(&exe_dir);
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone())
}

/// Opens bridge sessions.
#[derive(Debug, Clone)]
pub struct BridgeConnector {
    config: Arc<BridgeConfig>,
}

impl BridgeConnector {
    /// A connector with this configuration.
    pub fn new(config: BridgeConfig) -> Self {
        BridgeConnector {
            config: Arc::new(config),
        }
    }
}

impl Connector for BridgeConnector {
    fn connect<'a>(
        &'a self,
        server: Option<&'a CasServer>,
    ) -> BoxFuture<'a, Result<Box<dyn Transport>, ExchangeError>> {
        Box::pin(async move {
            let server = server.ok_or_else(|| {
                ExchangeError::Config("the PowerShell bridge needs a Client Access server".into())
            })?;
            let session = BridgeSession::open(&self.config, server).await?;
            Ok(Box::new(session) as Box<dyn Transport>)
        })
    }
}

/// One bridge child: one remote runspace.
pub struct BridgeSession {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    next_id: u64,
    server: String,
    runspace_id: String,
    broken: bool,
    idle_timeout: Duration,
    close_timeout: Duration,
}

impl std::fmt::Debug for BridgeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeSession")
            .field("server", &self.server)
            .field("runspace_id", &self.runspace_id)
            .finish()
    }
}

const STDERR_TAIL: usize = 5;

impl BridgeSession {
    /// Starts the bridge and opens the remote session on `server`.
    pub async fn open(config: &BridgeConfig, server: &CasServer) -> Result<Self, ExchangeError> {
        let mut command = Command::new(&config.program);
        command
            .args(&config.prefix_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| ExchangeError::Spawn {
            program: config.program.display().to_string(),
            source,
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExchangeError::Protocol(
                "the child's pipes are missing".into(),
            ));
        };
        // Diagnostics from the bridge (never a secret, by the protocol) go to tracing; the last lines
        // are kept to explain an early exit.
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let fqdn = server.fqdn.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %fqdn, "bridge: {line}");
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut session = BridgeSession {
            child: Some(child),
            stdin: Some(stdin),
            stdout: BufReader::new(stdout).lines(),
            stderr_tail,
            next_id: 1,
            server: server.fqdn.clone(),
            runspace_id: String::new(),
            broken: false,
            idle_timeout: config.idle_timeout,
            close_timeout: config.close_timeout,
        };
        let open = Request::Open {
            connection_uri: server.connection_uri.clone(),
            authentication: config.authentication,
            user_name: config.user_name.clone(),
            password: config.password.clone(),
            proxy: config.proxy.clone(),
            open_timeout_seconds: Some(config.open_timeout.as_secs().min(u32::MAX as u64) as u32),
        };
        session.send(&open).await?;
        // The bridge bounds its own wait; ours is a little longer so its error wins.
        let wait = config.open_timeout + Duration::from_secs(10);
        let line = session.read_line(wait, "opening the session").await?;
        match parse_reply(&line)? {
            Reply::Opened {
                runspace_id,
                server: answered,
                ..
            } => {
                session.runspace_id = runspace_id;
                if !answered.is_empty() {
                    session.server = answered;
                }
                tracing::debug!(server = %session.server, runspace = %session.runspace_id, "Exchange session opened");
                Ok(session)
            }
            Reply::OpenFailed { error, kind } => {
                session.broken = true;
                let message = error.exception.message.clone();
                let typed = super::error::classify(
                    "New-PSSession",
                    &error.category_info.category,
                    &error.exception.type_name,
                    &message,
                    None,
                    "",
                );
                if let ExchangeError::TooManyShells { .. } = typed {
                    return Err(typed);
                }
                let hint = open_hint(kind, &message);
                Err(ExchangeError::OpenFailed {
                    server: server.fqdn.clone(),
                    kind,
                    message,
                    hint,
                })
            }
            other => Err(ExchangeError::Protocol(format!(
                "expected 'opened' or 'openFailed', got {}",
                op_name(&other)
            ))),
        }
    }

    /// The remote runspace id.
    pub fn runspace_id(&self) -> &str {
        &self.runspace_id
    }

    async fn send(&mut self, request: &Request) -> Result<(), ExchangeError> {
        let mut line = request.to_line();
        line.push('\n');
        let server = self.server.clone();
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(ExchangeError::SessionBroken {
                server,
                message: "the session is closed".into(),
            });
        };
        let written = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        }
        .await;
        written.map_err(|e| {
            self.broken = true;
            ExchangeError::Transport {
                server,
                message: format!(
                    "cannot write to the PowerShell host: {e}{}",
                    self.stderr_hint()
                ),
            }
        })
    }

    async fn read_line(&mut self, wait: Duration, what: &str) -> Result<String, ExchangeError> {
        match tokio::time::timeout(wait, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => {
                self.broken = true;
                Err(ExchangeError::Transport {
                    server: self.server.clone(),
                    message: format!(
                        "the PowerShell host exited while {what}{}",
                        self.stderr_hint()
                    ),
                })
            }
            Ok(Err(e)) => {
                self.broken = true;
                Err(ExchangeError::Transport {
                    server: self.server.clone(),
                    message: format!("cannot read from the PowerShell host: {e}"),
                })
            }
            Err(_) => {
                self.broken = true;
                Err(ExchangeError::Timeout {
                    what: what.to_string(),
                    server: self.server.clone(),
                    seconds: wait.as_secs(),
                })
            }
        }
    }

    fn stderr_hint(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                " (its last words: {})",
                tail.iter().cloned().collect::<Vec<_>>().join(" | ")
            )
        }
    }

    async fn run(
        &mut self,
        invocation: &Invocation,
        sink: &mut dyn RecordSink,
    ) -> Result<InvokeOutcome, ExchangeError> {
        if self.broken {
            return Err(ExchangeError::SessionBroken {
                server: self.server.clone(),
                message: "an earlier call broke the session".into(),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.send(&Request::Invoke {
            id,
            cmdlet: invocation.cmdlet.clone(),
            parameters: invocation.parameters.clone(),
        })
        .await?;
        let mut outcome = InvokeOutcome::default();
        let mut sink_error = None;
        let what = format!("running {}", invocation.cmdlet);
        loop {
            let line = self.read_line(self.idle_timeout, &what).await?;
            let reply = parse_reply(&line).inspect_err(|_| self.broken = true)?;
            match reply {
                Reply::Record { id: rid, record } if rid == id => {
                    // Keep draining after a bad record, so the conversation stays in step.
                    if sink_error.is_none()
                        && let Err(e) = sink.record(record)
                    {
                        sink_error = Some(e);
                    }
                }
                Reply::Error { id: rid, error } if rid == id => outcome.errors.push(error),
                Reply::End {
                    id: rid,
                    ok,
                    count,
                    session_broken,
                } if rid == id => {
                    outcome.count = count;
                    if session_broken {
                        self.broken = true;
                        // The remote end went away (server stopped, session expired): treat it as a
                        // transport loss so the pool recycles and, if need be, fails over.
                        let message = outcome
                            .errors
                            .first()
                            .map(|e| e.exception.message.clone())
                            .unwrap_or_else(|| "the remote session broke".into());
                        return Err(ExchangeError::Transport {
                            server: self.server.clone(),
                            message,
                        });
                    }
                    if let Some(e) = sink_error {
                        return Err(e);
                    }
                    if !ok {
                        return Err(match outcome.errors.first() {
                            Some(record) => ExchangeError::from_record(&invocation.cmdlet, record),
                            None => ExchangeError::Cmdlet {
                                cmdlet: invocation.cmdlet.clone(),
                                category: "NotSpecified".into(),
                                message: "the cmdlet stopped without an error record".into(),
                                error_id: None,
                            },
                        });
                    }
                    return Ok(outcome);
                }
                other => {
                    self.broken = true;
                    return Err(ExchangeError::Protocol(format!(
                        "unexpected '{}' while waiting for invoke {id}",
                        op_name(&other)
                    )));
                }
            }
        }
    }

    /// Asks the bridge to remove its session and exit; kills it after the close timeout.
    pub async fn shutdown(mut self) {
        if !self.broken {
            let _ = self.send(&Request::Close).await;
        }
        self.stdin.take();
        if let Some(child) = self.child.take() {
            reap(child, self.close_timeout).await;
        }
    }
}

async fn reap(mut child: Child, wait: Duration) {
    match tokio::time::timeout(wait, child.wait()).await {
        Ok(_) => {}
        Err(_) => {
            tracing::warn!(
                "the PowerShell host did not exit after closing its session: killing it"
            );
            let _ = child.kill().await;
        }
    }
}

fn parse_reply(line: &str) -> Result<Reply, ExchangeError> {
    serde_json::from_str(line).map_err(|e| {
        // Show the start only: a record line may be long, and it never holds a secret.
        let start: String = line.chars().take(120).collect();
        ExchangeError::Protocol(format!("unreadable line from the bridge ({e}): {start}"))
    })
}

fn op_name(reply: &Reply) -> &'static str {
    match reply {
        Reply::Opened { .. } => "opened",
        Reply::OpenFailed { .. } => "openFailed",
        Reply::Record { .. } => "record",
        Reply::Error { .. } => "error",
        Reply::End { .. } => "end",
    }
}

impl Transport for BridgeSession {
    fn invoke<'a>(
        &'a mut self,
        invocation: &'a Invocation,
        sink: &'a mut dyn RecordSink,
    ) -> BoxFuture<'a, Result<InvokeOutcome, ExchangeError>> {
        Box::pin(self.run(invocation, sink))
    }

    fn server(&self) -> &str {
        &self.server
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin((*self).shutdown())
    }
}

impl Drop for BridgeSession {
    fn drop(&mut self) {
        // Closing stdin tells the bridge to remove its remote session; give it time, then kill.
        self.stdin.take();
        if let Some(child) = self.child.take() {
            let wait = self.close_timeout;
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(reap(child, wait));
            }
            // Without a runtime the child is dropped here, and kill_on_drop ends it.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MSI's layout, read from `wix/main.wxs`: the folder path (below the programs' folder) of the
    /// component that carries `exchange-bridge.ps1`.
    fn msi_script_folder() -> PathBuf {
        let wxs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wix/main.wxs")).unwrap();
        let at = wxs
            .find(&format!("Name=\"{SCRIPT_NAME}\""))
            .expect("the MSI installs the bridge script");
        // Every <Directory Name="..."> opened after INSTALLDIR and not closed before the file.
        let install = wxs.find("Id=\"INSTALLDIR\"").unwrap();
        let mut folders: Vec<String> = Vec::new();
        let mut rest = &wxs[install..at];
        rest = &rest[rest.find('>').unwrap() + 1..];
        while let Some(pos) = rest
            .find("<Directory")
            .into_iter()
            .chain(rest.find("</Directory>"))
            .min()
        {
            if rest[pos..].starts_with("</Directory>") {
                folders.pop();
                rest = &rest[pos + "</Directory>".len()..];
            } else {
                let tag = &rest[pos..pos + rest[pos..].find('>').unwrap()];
                let name = tag
                    .split("Name=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                folders.push(name.to_string());
                rest = &rest[pos + tag.len()..];
            }
        }
        folders.iter().collect()
    }

    #[test]
    fn the_installed_script_is_found_where_the_msi_puts_it() {
        let programs = Path::new(r"C:\Program Files\Exchange Connector");
        let installed = programs.join(msi_script_folder()).join(SCRIPT_NAME);
        assert_eq!(msi_script_folder(), Path::new("assets"));
        assert_eq!(
            script_candidates(programs)[0],
            installed,
            "the installed layout comes first"
        );
    }

    #[test]
    fn windows_powershell_is_named_by_its_full_path() {
        let path = windows_powershell();
        assert!(path.is_absolute() || !cfg!(windows), "{}", path.display());
        assert!(
            path.ends_with(Path::new("System32/WindowsPowerShell/v1.0/powershell.exe"))
                || path
                    .display()
                    .to_string()
                    .ends_with(r"System32\WindowsPowerShell\v1.0\powershell.exe")
        );
    }
}
