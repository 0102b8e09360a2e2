//! Secrets hand-off: secrets go over the control channel into the worker's own store (Windows
//! credential vaults are per user: the admin's vault is not the service account's). On Windows
//! there is no fallback: the caller must be elevated, a stopped service is started, and the pipe's
//! server must be the service ([`exchange_connector::service::secret_handoff`]). On Linux a worker
//! that is not running means the caller stores them in the shared store.

use crate::common::Context;
use exchange_connector::secret::Secret;
use exchange_connector::service::secret_handoff::{Handoff, hand_to_worker};
use std::collections::BTreeMap;

/// Sends the secrets to the worker. `Ok(Some(message))`: the worker stored them; `Ok(None)`: no
/// worker runs and the caller may store them itself (never on Windows).
pub fn to_worker(
    ctx: &Context,
    secrets: &[(&'static str, Secret)],
) -> anyhow::Result<Option<String>> {
    let secrets: BTreeMap<String, Secret> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(hand_to_worker(
        &ctx.instance,
        &ctx.channel_address(),
        &secrets,
    ))? {
        Handoff::Stored(message) => Ok(Some(message)),
        Handoff::NoWorker => Ok(None),
    }
}
