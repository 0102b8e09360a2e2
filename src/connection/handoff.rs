//! Secrets on their way to where the worker reads them — the one hand-off, used by `configure`
//! (answers file and `--lab-endpoints`) and the setup's Connect. Callers save the configuration only
//! after this succeeded, so a failure never leaves a configuration that names missing secrets.
//!
//! On Windows a credential vault (and a DPAPI key) belongs to one account: secrets stored in the
//! administrator's own vault could never be read by `NT SERVICE\ExchangeConnector`. So on Windows the
//! secrets go to the service over its pipe and nowhere else: the caller must be elevated (the pipe
//! admits only elevated administrators, and the client checks the pipe's server is the service), a
//! stopped service is started and asked again, and there is no fallback to the caller's vault. On
//! Linux the worker and the CLI share a store (root's or the service user's file store), so a worker
//! that is not running means "store them here", all or nothing ([`crate::secrets::store_all`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::secret::Secret;
use crate::secrets::{SecretError, SecretStore};
use crate::service::channel::{ChannelAddress, ChannelClient, ChannelError, Reply, Request};
use crate::text_code::TextCode;

/// How long a service that was just started has to open its pipe.
pub const START_WAIT: Duration = Duration::from_secs(60);

/// Where the secrets went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsPlace {
    /// The running worker stored them; its answer.
    Worker(TextCode),
    /// No worker runs (never on Windows): they are in this local store (its description).
    Local(TextCode),
}

impl SecretsPlace {
    /// Whether the running worker took them.
    pub fn is_worker(&self) -> bool {
        matches!(self, SecretsPlace::Worker(_))
    }
}

/// Why the secrets could not be handed over. Nothing was stored anywhere.
#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    /// Not elevated (Windows).
    #[error(
        "this program is not running as an administrator, and only an elevated administrator may hand secrets to the service; nothing was stored. Right-click it and choose 'Run as administrator' (or use an elevated prompt)."
    )]
    NotElevated,
    /// The service could not be started (Windows).
    #[error(
        "the service {service} is not running and could not be started ({reason}); nothing was stored. Start it (services.msc) and try again; if it stops at once, read its log and the Application event log."
    )]
    CannotStart {
        /// Service name.
        service: String,
        /// Why.
        reason: String,
    },
    /// The control channel failed (other than "no worker runs"; includes a pipe served by the wrong
    /// account).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The worker refused them.
    #[error("the running worker did not store the secrets: {0}")]
    Refused(String),
    /// The worker answered something else.
    #[error("unexpected reply from the worker: {0}; update the connector service")]
    Unexpected(String),
    /// The local store cannot be opened.
    #[error("the local secret store cannot be opened: {0}")]
    OpenStore(SecretError),
    /// The local store refused the set (checked before any was stored, so none was).
    #[error("storing the secrets failed, none was stored: {0}")]
    Store(SecretError),
}

/// Hands `secrets` to the worker of `instance` listening on `channel`, or (no worker runs, not on
/// Windows) stores them all in the store `local` opens.
pub async fn hand_off(
    channel: &ChannelAddress,
    local: impl FnOnce() -> Result<Box<dyn SecretStore>, SecretError>,
    instance: &str,
    secrets: &BTreeMap<String, Secret>,
) -> Result<SecretsPlace, HandOffError> {
    if !secrets.is_empty()
        && let Some(mut client) = connect(instance, channel).await?
    {
        return match client
            .request(&Request::StoreSecrets {
                secrets: secrets.clone(),
            })
            .await?
        {
            Reply::Accepted { message } => Ok(SecretsPlace::Worker(message)),
            Reply::Error { message } => Err(HandOffError::Refused(message.to_string())),
            other => Err(HandOffError::Unexpected(format!("{other:?}"))),
        };
    }
    let store = local().map_err(HandOffError::OpenStore)?;
    let all: Vec<(&str, &Secret)> = secrets.iter().map(|(k, v)| (k.as_str(), v)).collect();
    crate::secrets::store_all(store.as_ref(), instance, &all).map_err(HandOffError::Store)?;
    Ok(SecretsPlace::Local(store.describe()))
}

/// A client to the worker, or `None` when no worker runs and the caller may store locally.
#[cfg(not(windows))]
async fn connect(
    _instance: &str,
    address: &ChannelAddress,
) -> Result<Option<ChannelClient>, HandOffError> {
    match ChannelClient::connect(address).await {
        Ok(client) => Ok(Some(client)),
        Err(ChannelError::NotRunning { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A verified client; a stopped service is started first. Never `None` on Windows.
#[cfg(windows)]
async fn connect(
    instance: &str,
    address: &ChannelAddress,
) -> Result<Option<ChannelClient>, HandOffError> {
    use crate::service::windows;
    if !crate::win::sid::is_elevated().unwrap_or(false) {
        return Err(HandOffError::NotElevated);
    }
    match ChannelClient::connect(address).await {
        Err(ChannelError::NotRunning { .. }) => {}
        other => return Ok(Some(other?)),
    }
    let service = windows::service_name(instance);
    let cannot_start = |reason: String| HandOffError::CannotStart {
        service: service.clone(),
        reason,
    };
    // Already starting is fine: wait for its pipe like after our own start.
    if let Err(e) = windows::start(instance)
        && !matches!(
            windows::state(instance).as_deref(),
            Ok("StartPending" | "Running")
        )
    {
        return Err(cannot_start(crate::error_text::chain(&e)));
    }
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        match ChannelClient::connect(address).await {
            Err(ChannelError::NotRunning { .. }) if tokio::time::Instant::now() < deadline => {
                if let Ok("Stopped") = windows::state(instance).as_deref() {
                    return Err(cannot_start("it stopped right after starting".into()));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(ChannelError::NotRunning { .. }) => {
                return Err(cannot_start(format!(
                    "its control channel did not open within {} seconds",
                    START_WAIT.as_secs()
                )));
            }
            other => return Ok(Some(other?)),
        }
    }
}

/// Secrets typed into a form and not stored yet, read as a [`SecretStore`] so the checks build their
/// clients exactly as the worker will from its store.
#[derive(Debug, Default)]
pub struct PendingSecrets(Mutex<BTreeMap<String, Secret>>);

impl PendingSecrets {
    /// The secrets, by key (any instance).
    pub fn new(secrets: BTreeMap<String, Secret>) -> PendingSecrets {
        PendingSecrets(Mutex::new(secrets))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Secret>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SecretStore for PendingSecrets {
    fn get(&self, _instance: &str, key: &str) -> Result<Option<Secret>, SecretError> {
        Ok(self.map().get(key).cloned())
    }

    fn set(&self, _instance: &str, key: &str, value: &Secret) -> Result<(), SecretError> {
        self.map().insert(key.to_string(), value.clone());
        Ok(())
    }

    fn delete(&self, _instance: &str, key: &str) -> Result<(), SecretError> {
        self.map().remove(key);
        Ok(())
    }

    fn describe(&self) -> TextCode {
        crate::coded!("ss_pending_form", "form (not stored yet)")
    }
}
