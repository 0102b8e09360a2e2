//! Secrets on their way to where the worker reads them: when the instance's worker runs, they go over
//! the control channel into the worker's own store (Windows credential vaults are per user: the
//! admin's vault is not the service account's); when none runs, into the local store. Callers save the
//! configuration only after this succeeded, so a failure never leaves a configuration that names
//! missing secrets. `configure` (answers file and `--lab-endpoints`) and the setup's Connect use it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::secret::Secret;
use crate::secrets::{SecretError, SecretStore};
use crate::service::channel::{ChannelAddress, ChannelClient, ChannelError, Reply, Request};

/// Where the secrets went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsPlace {
    /// The running worker stored them; its answer.
    Worker(String),
    /// No worker runs: they are in this local store (its description).
    Local(String),
}

impl SecretsPlace {
    /// Whether the running worker took them.
    pub fn is_worker(&self) -> bool {
        matches!(self, SecretsPlace::Worker(_))
    }
}

/// Why the secrets could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    /// The control channel failed (other than "no worker runs").
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
    /// The local store refused one.
    #[error("storing {key} failed: {source}")]
    Store {
        /// The secret's key.
        key: String,
        /// Cause.
        source: SecretError,
    },
}

/// Hands `secrets` to the worker listening on `channel`, or (no worker runs) stores them in the store
/// `local` opens, under `instance`.
pub async fn hand_off(
    channel: &ChannelAddress,
    local: impl FnOnce() -> Result<Box<dyn SecretStore>, SecretError>,
    instance: &str,
    secrets: &BTreeMap<String, Secret>,
) -> Result<SecretsPlace, HandOffError> {
    if !secrets.is_empty() {
        match ChannelClient::connect(channel).await {
            Ok(mut client) => {
                return match client
                    .request(&Request::StoreSecrets {
                        secrets: secrets.clone(),
                    })
                    .await?
                {
                    Reply::Accepted { message } => Ok(SecretsPlace::Worker(message)),
                    Reply::Error { message } => Err(HandOffError::Refused(message)),
                    other => Err(HandOffError::Unexpected(format!("{other:?}"))),
                };
            }
            Err(ChannelError::NotRunning { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let store = local().map_err(HandOffError::OpenStore)?;
    for (key, value) in secrets {
        store
            .set(instance, key, value)
            .map_err(|source| HandOffError::Store {
                key: key.clone(),
                source,
            })?;
    }
    Ok(SecretsPlace::Local(store.describe()))
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

    fn describe(&self) -> String {
        "form (not stored yet)".into()
    }
}
