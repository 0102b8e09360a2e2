//! What every subcommand shares: the configuration folder, the instance and the secret store.

use anyhow::Context as _;
use exchange_connector::secret::Secret;
use exchange_connector::secrets::{self, SecretStore, StoreKind};
use std::io::BufRead as _;
use std::path::PathBuf;

/// The resolved global options.
#[derive(Clone)]
pub struct Context {
    /// Configuration folder.
    pub config_dir: PathBuf,
    /// Instance name.
    pub instance: String,
    /// The worker's control channel address, when not the instance's default (`--channel`).
    pub channel: Option<String>,
    store_kind: StoreKind,
}

impl Context {
    /// Checks the instance name and resolves the folder.
    pub fn new(
        config_dir: Option<PathBuf>,
        instance: String,
        secret_store: &str,
    ) -> anyhow::Result<Self> {
        secrets::check_instance(&instance)?;
        let store_kind: StoreKind = secret_store.parse().map_err(anyhow::Error::msg)?;
        let config_dir =
            config_dir.unwrap_or_else(|| exchange_connector::config::default_config_dir(&instance));
        Ok(Context {
            config_dir,
            instance,
            channel: None,
            store_kind,
        })
    }

    /// Opens the secret store (only when a subcommand needs it: opening the OS store can be slow).
    pub fn store(&self) -> anyhow::Result<Box<dyn SecretStore>> {
        Ok(self.open_store()?)
    }

    /// [`Context::store`] with the library's error.
    pub fn open_store(&self) -> Result<Box<dyn SecretStore>, secrets::SecretError> {
        secrets::open(self.store_kind, &self.config_dir)
    }
}

impl Context {
    /// Where the worker of this instance listens.
    pub fn channel_address(&self) -> exchange_connector::service::channel::ChannelAddress {
        match &self.channel {
            Some(a) => exchange_connector::service::channel::ChannelAddress(a.clone()),
            None => {
                exchange_connector::service::channel::ChannelAddress::for_instance(&self.instance)
            }
        }
    }
}

/// Reads one secret from standard input (its first line, without the line end).
pub fn read_secret_line(what: &str) -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading {what} from standard input"))?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n'])))
}
