//! The control channel between the running worker and its local clients (the setup GUI, the CLI):
//! JSON lines over a Unix socket on Linux and a named pipe on Windows. No network listener.
//!
//! Who may connect: on Linux the socket file is `0600` and every peer's credentials are checked
//! (root or the worker's own user only); on Windows the pipe's DACL grants access to SYSTEM,
//! Administrators and the worker's own account only.
//!
//! Conversation: the client writes one [`Request`] per line and reads one [`Reply`] per line, in order.
//! After [`Request::Subscribe`] the server streams [`Reply::Progress`] lines until the client goes away.
//! Secrets travel only inside [`Request::StoreSecrets`]; every `Debug` of a request prints them as `***`.
//! The messages themselves, typed end to end, are in [`super::messages`].

use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, watch};

pub use super::messages::{ProgressEvent, Reply, Request, RunPhase, SyncKind};

/// Longest line accepted: a request never needs more, and a bigger one is refused, not buffered.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// What the worker does with requests.
pub trait ChannelHandler: Send + Sync + 'static {
    /// Answers one request (never `Subscribe`, which the server handles).
    fn handle(&self, request: Request) -> impl Future<Output = Reply> + Send;
    /// A new receiver of progress events.
    fn subscribe(&self) -> broadcast::Receiver<ProgressEvent>;
}

/// Why the channel could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The worker is not listening.
    #[error(
        "the connector's worker is not running (nothing listens on {address}). Start the service, or run the command without it."
    )]
    NotRunning {
        /// Socket path or pipe name.
        address: String,
    },
    /// Access refused.
    #[error(
        "access to the worker's control channel {address} was refused: only administrators (root) and the service's own account may use it"
    )]
    AccessDenied {
        /// Socket path or pipe name.
        address: String,
    },
    /// The pipe is served by a process that is not the service (Windows): nothing was sent.
    #[error(
        "the control channel {address} is served by a process running as {account}, not by the connector's service ({expected}); nothing was sent to it. Another program may be posing as the service: stop it (Task Manager, Details, the process with id {pid}), then start the service."
    )]
    WrongServer {
        /// Pipe name.
        address: String,
        /// The SID the serving process runs as.
        account: String,
        /// The accounts accepted.
        expected: String,
        /// The serving process.
        pid: u32,
    },
    /// I/O.
    #[error("control channel {address}: {source}")]
    Io {
        /// Socket path or pipe name.
        address: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The other side spoke something else.
    #[error("control channel {address}: unexpected message: {message}")]
    Protocol {
        /// Socket path or pipe name.
        address: String,
        /// What was wrong.
        message: String,
    },
}

/// Where the channel listens: a socket path (Linux) or a pipe name (Windows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAddress(pub String);

impl ChannelAddress {
    /// The default address of a connector instance.
    pub fn for_instance(instance: &str) -> ChannelAddress {
        if cfg!(windows) {
            ChannelAddress(format!(r"\\.\pipe\ExchangeConnector-{instance}"))
        } else {
            let base = if std::env::var_os("XDG_RUNTIME_DIR").is_some() && !is_root() {
                std::path::PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_default())
                    .join("exchange-connector")
            } else {
                std::path::PathBuf::from("/run/exchange-connector")
            };
            ChannelAddress(base.join(format!("{instance}.sock")).display().to_string())
        }
    }
}

#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // Our own uid, without libc: a file we just own tells it.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

async fn serve_connection<S, H>(stream: S, handler: Arc<H>, address: String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: ChannelHandler,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = read_limited_line(&mut lines, &mut line).await;
        let request = match read {
            Ok(0) => return,
            Ok(_) => serde_json::from_str::<Request>(line.trim()),
            Err(e) => {
                let _ = write_reply(&mut write, &Reply::Error { message: e.into() }).await;
                return;
            }
        };
        let reply = match request {
            Ok(Request::Subscribe) => {
                let mut events = handler.subscribe();
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            if write_reply(&mut write, &Reply::Progress(event))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
            Ok(request) => handler.handle(request).await,
            Err(e) => Reply::Error {
                message: format!("not a control request: {e}").into(),
            },
        };
        if write_reply(&mut write, &reply).await.is_err() {
            tracing::debug!(%address, "control client went away before its reply");
            return;
        }
    }
}

async fn read_limited_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    line: &mut String,
) -> Result<usize, String> {
    let mut bytes = Vec::new();
    loop {
        let available = reader.fill_buf().await.map_err(|e| e.to_string())?;
        if available.is_empty() {
            break;
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(pos) => {
                bytes.extend_from_slice(&available[..=pos]);
                reader.consume(pos + 1);
                break;
            }
            None => {
                let n = available.len();
                bytes.extend_from_slice(available);
                reader.consume(n);
            }
        }
        if bytes.len() > MAX_LINE_BYTES {
            return Err(format!(
                "request longer than {MAX_LINE_BYTES} bytes refused"
            ));
        }
    }
    *line = String::from_utf8(bytes).map_err(|_| "request is not UTF-8".to_string())?;
    Ok(line.len())
}

async fn write_reply<W: AsyncWrite + Unpin>(write: &mut W, reply: &Reply) -> std::io::Result<()> {
    let mut text = serde_json::to_string(reply)
        .unwrap_or_else(|_| "{\"reply\":\"error\",\"message\":\"unserialisable reply\"}".into());
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.flush().await
}

/// Serves the channel until `shutdown` turns true.
#[cfg(unix)]
pub async fn serve<H: ChannelHandler>(
    address: &ChannelAddress,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ChannelError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let path = std::path::Path::new(&address.0);
    let io = |source| ChannelError::Io {
        address: address.0.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A socket left by a crashed worker would make bind fail.
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(ChannelError::Io {
                address: address.0.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another worker already listens here",
                ),
            });
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let owner = std::fs::metadata(path).map_err(io)?.uid();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let allowed = stream.peer_cred().map(|c| c.uid() == 0 || c.uid() == owner).unwrap_or(false);
                if !allowed {
                    tracing::warn!(socket = %address.0, "refused a control connection from another user");
                    continue;
                }
                tokio::spawn(serve_connection(stream, handler.clone(), address.0.clone()));
            }
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// The DACL of the pipe: full access for SYSTEM, Administrators and the pipe's owner (the worker's
/// account); nobody else. `P` protects it from inherited entries.
#[cfg(windows)]
pub const PIPE_SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)";

#[cfg(windows)]
mod windows_pipe {
    use std::ffi::c_void;
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{
        ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
    };
    use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;

    /// A security descriptor built from SDDL, freed on drop.
    pub struct SecurityDescriptor(*mut c_void);

    // The descriptor is only read by the OS while a pipe instance is created.
    unsafe impl Send for SecurityDescriptor {}
    // Never mutated after creation, so shared references may cross threads (the serve future is spawned).
    unsafe impl Sync for SecurityDescriptor {}

    impl SecurityDescriptor {
        pub fn from_sddl(sddl: &str) -> std::io::Result<Self> {
            let wide: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
            let mut descriptor: *mut c_void = std::ptr::null_mut();
            // SAFETY: `wide` is NUL-terminated; the out pointer is valid; the result is freed in Drop.
            let ok = unsafe {
                ConvertStringSecurityDescriptorToSecurityDescriptorW(
                    wide.as_ptr(),
                    SDDL_REVISION_1,
                    &mut descriptor,
                    std::ptr::null_mut(),
                )
            };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(SecurityDescriptor(descriptor))
        }

        pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
            SECURITY_ATTRIBUTES {
                nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
                lpSecurityDescriptor: self.0,
                bInheritHandle: 0,
            }
        }
    }

    impl Drop for SecurityDescriptor {
        fn drop(&mut self) {
            // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW with LocalAlloc.
            unsafe {
                LocalFree(self.0);
            }
        }
    }
}

/// Serves the channel until `shutdown` turns true.
#[cfg(windows)]
pub async fn serve<H: ChannelHandler>(
    address: &ChannelAddress,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ChannelError> {
    use tokio::net::windows::named_pipe::ServerOptions;
    let io = |source| ChannelError::Io {
        address: address.0.clone(),
        source,
    };
    let descriptor = windows_pipe::SecurityDescriptor::from_sddl(PIPE_SDDL).map_err(io)?;
    let create = |first: bool| {
        let mut attributes = descriptor.attributes();
        // SAFETY: `attributes` points to a valid descriptor that outlives the call.
        unsafe {
            ServerOptions::new()
                .first_pipe_instance(first)
                .reject_remote_clients(true)
                .create_with_security_attributes_raw(
                    &address.0,
                    &mut attributes as *mut _ as *mut std::ffi::c_void,
                )
        }
    };
    let mut server = create(true).map_err(io)?;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            connected = server.connect() => {
                connected.map_err(io)?;
                let next = create(false).map_err(io)?;
                let stream = std::mem::replace(&mut server, next);
                tokio::spawn(serve_connection(stream, handler.clone(), address.0.clone()));
            }
        }
    }
    Ok(())
}

/// A client of the channel.
pub struct ChannelClient {
    address: String,
    reader: BufReader<tokio::io::ReadHalf<Box<dyn Stream>>>,
    writer: tokio::io::WriteHalf<Box<dyn Stream>>,
}

impl std::fmt::Debug for ChannelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelClient")
            .field("address", &self.address)
            .finish()
    }
}

/// A byte stream (socket or pipe).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The accounts a client accepts as the server of a named pipe, checked against the serving
/// process's token before anything is sent (a local user could otherwise create the pipe while the
/// service is stopped and collect the secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedServers {
    sids: Vec<String>,
    /// Wine only: also the client's own account (see [`verify_pipe_server`]).
    own_account_under_wine: bool,
}

impl AcceptedServers {
    /// The service of `instance` (its `NT SERVICE\...` SID, as the token user or a group) or SYSTEM.
    pub fn service(instance: &str) -> Self {
        let name = super::windows::service_name(instance);
        AcceptedServers {
            sids: vec![
                crate::win::sid::service_sid(&name),
                crate::win::sid::SYSTEM.to_string(),
            ],
            own_account_under_wine: true,
        }
    }

    /// Exactly these SIDs, under Wine too (tests, and a worker run by hand under another account).
    pub fn only(sids: Vec<String>) -> Self {
        AcceptedServers {
            sids,
            own_account_under_wine: false,
        }
    }

    /// The accepted SIDs.
    pub fn sids(&self) -> &[String] {
        &self.sids
    }

    /// The service accepted for a pipe named `\\.\pipe\ExchangeConnector-<instance>`; SYSTEM
    /// alone for any other name.
    pub fn for_address(address: &ChannelAddress) -> Self {
        match address.0.rsplit_once(r"\ExchangeConnector-") {
            Some((_, instance)) if crate::secrets::check_instance(instance).is_ok() => {
                Self::service(instance)
            }
            _ => AcceptedServers::only(vec![crate::win::sid::SYSTEM.to_string()]),
        }
    }
}

/// Checks who serves the pipe the client just opened. Under Wine every process, services
/// included, runs as the one Unix user and Wine has no service SIDs: there (and only there, see
/// [`crate::win::sid::running_under_wine`]) a server running as the client's own account is
/// accepted for [`AcceptedServers::service`]. That is the one stand-in of this check; its refusal
/// path is tested under Wine with an explicit [`AcceptedServers::only`].
#[cfg(windows)]
fn verify_pipe_server(
    pipe: &tokio::net::windows::named_pipe::NamedPipeClient,
    accepted: &AcceptedServers,
    address: &str,
) -> Result<(), ChannelError> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::Pipes::GetNamedPipeServerProcessId;
    let io = |source| ChannelError::Io {
        address: address.to_string(),
        source,
    };
    let mut pid = 0u32;
    // SAFETY: a live pipe handle owned by `pipe`; valid out pointer.
    if unsafe { GetNamedPipeServerProcessId(pipe.as_raw_handle() as _, &mut pid) } == 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    let identity = crate::win::sid::process_identity(pid).map_err(io)?;
    let mut sids = accepted.sids.clone();
    if accepted.own_account_under_wine && crate::win::sid::running_under_wine() {
        sids.push(crate::win::sid::current_user_sid().map_err(io)?);
    }
    if identity.is_any_of(&sids) {
        Ok(())
    } else {
        Err(ChannelError::WrongServer {
            address: address.to_string(),
            account: identity.user,
            expected: accepted.sids.join(" or "),
            pid,
        })
    }
}

impl ChannelClient {
    /// Connects to a running worker. On Windows the pipe's server must be the instance's service
    /// ([`AcceptedServers::for_address`]).
    pub async fn connect(address: &ChannelAddress) -> Result<ChannelClient, ChannelError> {
        Self::connect_to(address, &AcceptedServers::for_address(address)).await
    }

    /// Connects to a worker whose process runs as one of `accepted` (Windows; Unix checks the
    /// socket's owner and mode instead).
    pub async fn connect_to(
        address: &ChannelAddress,
        accepted: &AcceptedServers,
    ) -> Result<ChannelClient, ChannelError> {
        let name = address.0.clone();
        let map = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ChannelError::NotRunning {
                    address: name.clone(),
                }
            }
            std::io::ErrorKind::PermissionDenied => ChannelError::AccessDenied {
                address: name.clone(),
            },
            _ => ChannelError::Io {
                address: name.clone(),
                source: e,
            },
        };
        #[cfg(unix)]
        let stream: Box<dyn Stream> = Box::new(
            tokio::net::UnixStream::connect(&address.0)
                .await
                .map_err(map)?,
        );
        #[cfg(windows)]
        let stream: Box<dyn Stream> = {
            // Every instance of the pipe may be taken for a moment (the server makes the next one
            // after each connection): wait a little, as Windows' own clients do.
            const ERROR_PIPE_BUSY: i32 = 231;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            let pipe = loop {
                match tokio::net::windows::named_pipe::ClientOptions::new().open(&address.0) {
                    Err(e)
                        if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    other => break other.map_err(map)?,
                }
            };
            verify_pipe_server(&pipe, accepted, &address.0)?;
            Box::new(pipe)
        };
        #[cfg(not(windows))]
        let _ = accepted;
        let (read, writer) = tokio::io::split(stream);
        Ok(ChannelClient {
            address: address.0.clone(),
            reader: BufReader::new(read),
            writer,
        })
    }

    /// Sends a request and reads its reply.
    pub async fn request(&mut self, request: &Request) -> Result<Reply, ChannelError> {
        let mut text = serde_json::to_string(request).map_err(|e| ChannelError::Protocol {
            address: self.address.clone(),
            message: e.to_string(),
        })?;
        text.push('\n');
        let io = |source| ChannelError::Io {
            address: self.address.clone(),
            source,
        };
        self.writer.write_all(text.as_bytes()).await.map_err(io)?;
        self.writer.flush().await.map_err(io)?;
        self.next_reply().await
    }

    /// Reads the next reply (after `Subscribe`: the next progress event).
    pub async fn next_reply(&mut self) -> Result<Reply, ChannelError> {
        let mut line = String::new();
        let n = read_limited_line(&mut self.reader, &mut line)
            .await
            .map_err(|message| ChannelError::Protocol {
                address: self.address.clone(),
                message,
            })?;
        if n == 0 {
            return Err(ChannelError::Protocol {
                address: self.address.clone(),
                message: "the worker closed the channel".into(),
            });
        }
        serde_json::from_str(line.trim()).map_err(|e| ChannelError::Protocol {
            address: self.address.clone(),
            message: e.to_string(),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::collections::BTreeMap;

    struct Fake {
        events: broadcast::Sender<ProgressEvent>,
        stored: std::sync::Mutex<Vec<String>>,
    }

    impl ChannelHandler for Fake {
        async fn handle(&self, request: Request) -> Reply {
            match request {
                Request::Status => Reply::Status(Box::default()),
                Request::Sync { kind, .. } => {
                    let _ = self.events.send(ProgressEvent {
                        run_id: Some(1),
                        kind,
                        phase: RunPhase::Reading,
                        done: 0,
                        total: None,
                        message: "reading Exchange".into(),
                    });
                    Reply::Accepted {
                        message: format!("{kind:?} sync started").into(),
                    }
                }
                Request::StoreSecrets { secrets } => {
                    self.stored.lock().unwrap().extend(secrets.keys().cloned());
                    Reply::Accepted {
                        message: "stored".into(),
                    }
                }
                other => Reply::Error {
                    message: format!("not supported: {other:?}").into(),
                },
            }
        }

        fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
            self.events.subscribe()
        }
    }

    #[test]
    fn a_pipe_client_expects_the_instance_service_or_system() {
        let default = AcceptedServers::for_address(&ChannelAddress(
            r"\\.\pipe\ExchangeConnector-default".into(),
        ));
        assert_eq!(
            default.sids(),
            [
                crate::win::sid::service_sid("ExchangeConnector"),
                crate::win::sid::SYSTEM.to_string()
            ]
        );
        let other =
            AcceptedServers::for_address(&ChannelAddress(r"\\.\pipe\ExchangeConnector-eu".into()));
        assert_eq!(
            other.sids()[0],
            crate::win::sid::service_sid("ExchangeConnector$eu")
        );
        // A pipe of another name: SYSTEM only.
        let odd = AcceptedServers::for_address(&ChannelAddress(r"\\.\pipe\something".into()));
        assert_eq!(odd.sids(), [crate::win::sid::SYSTEM.to_string()]);
    }

    #[tokio::test]
    async fn requests_replies_and_progress_stream() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let address = ChannelAddress(dir.path().join("w.sock").display().to_string());
        let (events, _) = broadcast::channel(16);
        let handler = Arc::new(Fake {
            events,
            stored: Default::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn({
            let address = address.clone();
            let handler = handler.clone();
            async move { serve(&address, handler, stopped).await }
        });
        let mut client = loop {
            match ChannelClient::connect(&address).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        let mode = std::fs::metadata(&address.0).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            client.request(&Request::Status).await.unwrap(),
            Reply::Status(_)
        ));

        let mut watcher = ChannelClient::connect(&address).await.unwrap();
        let mut text = serde_json::to_string(&Request::Subscribe).unwrap();
        text.push('\n');
        watcher.writer.write_all(text.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let accepted = client
            .request(&Request::Sync {
                kind: SyncKind::Quick,
                dry_run: false,
            })
            .await
            .unwrap();
        assert!(matches!(accepted, Reply::Accepted { .. }));
        match watcher.next_reply().await.unwrap() {
            Reply::Progress(event) => assert_eq!(event.phase, RunPhase::Reading),
            other => panic!("{other:?}"),
        }

        let mut secrets = BTreeMap::new();
        secrets.insert("ExchangePassword".to_string(), Secret::new("pw-123"));
        let request = Request::StoreSecrets { secrets };
        assert!(
            !format!("{request:?}").contains("pw-123"),
            "Debug never shows a secret"
        );
        client.request(&request).await.unwrap();
        assert_eq!(
            handler.stored.lock().unwrap().as_slice(),
            ["ExchangePassword".to_string()]
        );

        // Garbage gets an error reply, not a dropped connection.
        let reply = {
            client.writer.write_all(b"{not json}\n").await.unwrap();
            client.next_reply().await.unwrap()
        };
        assert!(matches!(reply, Reply::Error { .. }));

        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
        assert!(
            !std::path::Path::new(&address.0).exists(),
            "socket removed on shutdown"
        );
        let err = ChannelClient::connect(&address).await.unwrap_err();
        assert!(matches!(err, ChannelError::NotRunning { .. }), "{err}");
        assert!(err.to_string().contains("not running"));
    }
}
