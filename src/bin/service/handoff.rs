//! Secrets hand-off for the CLI: [`exchange_connector::connection::handoff::hand_off`] on a small
//! runtime, with this invocation's channel and secret store.

use crate::common::Context;
use exchange_connector::connection::handoff::{self, SecretsPlace};
use exchange_connector::secret::Secret;
use std::collections::BTreeMap;

/// Hands the secrets to the running worker, or stores them in this invocation's store when none runs.
pub fn hand_off(ctx: &Context, secrets: &[(&'static str, Secret)]) -> anyhow::Result<SecretsPlace> {
    let secrets: BTreeMap<String, Secret> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(handoff::hand_off(
        &ctx.channel_address(),
        || ctx.open_store(),
        &ctx.instance,
        &secrets,
    ))?)
}
