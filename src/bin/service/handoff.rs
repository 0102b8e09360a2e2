//! Secrets hand-off: when the instance's worker runs, secrets go over the control channel into the
//! worker's own store (Windows credential vaults are per user: the admin's vault is not the
//! service account's), instead of into the caller's store.

use crate::common::Context;
use exchange_connector::secret::Secret;
use exchange_connector::service::channel::{ChannelClient, ChannelError, Reply, Request};
use std::collections::BTreeMap;

/// Sends the secrets to the running worker. `Ok(Some(message))`: the worker stored them;
/// `Ok(None)`: no worker runs (store them locally).
pub fn to_worker(
    ctx: &Context,
    secrets: &[(&'static str, Secret)],
) -> anyhow::Result<Option<String>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let address = ctx.channel_address();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = match ChannelClient::connect(&address).await {
            Ok(c) => c,
            Err(ChannelError::NotRunning { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let secrets: BTreeMap<String, Secret> = secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        match client.request(&Request::StoreSecrets { secrets }).await? {
            Reply::Accepted { message } => Ok(Some(message)),
            Reply::Error { message } => {
                anyhow::bail!("the running worker did not store the secrets: {message}")
            }
            other => anyhow::bail!("unexpected reply from the worker: {other:?}"),
        }
    })
}
