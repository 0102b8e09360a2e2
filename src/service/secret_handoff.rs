//! Handing secrets to the service that will use them.
//!
//! On Windows a credential vault (and a DPAPI key) belongs to one account: secrets the setup stored
//! in the administrator's own vault could never be read by `NT SERVICE\ExchangeConnector`. So on
//! Windows the secrets go to the service over its pipe and nowhere else: the caller must be elevated
//! (the pipe admits only elevated administrators), a stopped service is started and asked again, and
//! there is no fallback to the caller's vault. On Linux the worker and the CLI share a store (root's
//! or the service user's file store), so a worker that is not running means "store them here".

use super::channel::{ChannelAddress, ChannelClient, ChannelError, Reply, Request};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a service that was just started has to open its pipe.
pub const START_WAIT: Duration = Duration::from_secs(60);

/// What became of the secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// The running worker stored them (its message).
    Stored(String),
    /// No worker runs and the caller may store them in its own store (never on Windows).
    NoWorker,
}

/// Why the secrets were not handed over. Nothing was stored anywhere.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
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
    /// The channel failed (includes a pipe served by the wrong account).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The worker refused the secrets.
    #[error("the service did not store the secrets: {0}")]
    Refused(String),
    /// The worker answered something else.
    #[error("unexpected reply from the service: {0}")]
    Unexpected(String),
}

/// Hands `secrets` to the worker of `instance` listening on `address` (see the module doc).
pub async fn hand_to_worker(
    instance: &str,
    address: &ChannelAddress,
    secrets: &BTreeMap<String, Secret>,
) -> Result<Handoff, HandoffError> {
    if secrets.is_empty() {
        return Ok(Handoff::NoWorker);
    }
    let mut client = match connect(instance, address).await? {
        Some(client) => client,
        None => return Ok(Handoff::NoWorker),
    };
    match client
        .request(&Request::StoreSecrets {
            secrets: secrets.clone(),
        })
        .await?
    {
        Reply::Accepted { message } => Ok(Handoff::Stored(message)),
        Reply::Error { message } => Err(HandoffError::Refused(message)),
        other => Err(HandoffError::Unexpected(format!("{other:?}"))),
    }
}

/// A verified client, or `None` when no worker runs and the caller may store locally (Linux).
#[cfg(not(windows))]
async fn connect(
    _instance: &str,
    address: &ChannelAddress,
) -> Result<Option<ChannelClient>, HandoffError> {
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
) -> Result<Option<ChannelClient>, HandoffError> {
    if !crate::win::sid::is_elevated().unwrap_or(false) {
        return Err(HandoffError::NotElevated);
    }
    match ChannelClient::connect(address).await {
        Err(ChannelError::NotRunning { .. }) => {}
        other => return Ok(Some(other?)),
    }
    let service = super::windows::service_name(instance);
    let cannot_start = |reason: String| HandoffError::CannotStart {
        service: service.clone(),
        reason,
    };
    // Already starting is fine: wait for its pipe like after our own start.
    if let Err(e) = super::windows::start(instance)
        && !matches!(
            super::windows::state(instance).as_deref(),
            Ok("StartPending" | "Running")
        )
    {
        return Err(cannot_start(crate::error_text::chain(&e)));
    }
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        match ChannelClient::connect(address).await {
            Err(ChannelError::NotRunning { .. }) if tokio::time::Instant::now() < deadline => {
                if let Ok("Stopped") = super::windows::state(instance).as_deref() {
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
