//! The connector's registration in Intune (`deviceManagementExchangeConnector`, Graph beta), so admins
//! see it where they looked for the retired connector: server, connector host, organisation, version,
//! status and `lastSyncDateTime`. A tenant that refuses is not fatal: the worker carries on and says
//! so in its status.

use chrono::{DateTime, Utc};

use crate::config::{Config, ExchangeServerType};
use crate::intune::{IntuneClient, IntuneError};
use crate::model::intune::{ExchangeConnector, ExchangeConnectorStatus, ExchangeConnectorType};

/// This host's name, as `connectorServerName`.
pub use crate::host::host_name;

/// Registers the connector, or finds the registration of this server and host made earlier.
/// Returns its id.
pub async fn register(intune: &IntuneClient, config: &Config) -> Result<String, IntuneError> {
    let host = host_name();
    let existing = intune.exchange_connectors().await?;
    let version = env!("CARGO_PKG_VERSION").to_string();
    if let Some(found) = existing.iter().find(|c| {
        c.server_name
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(&config.server_name()))
            && c.connector_server_name
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&host))
    }) {
        intune
            .update_connector(
                &found.id,
                serde_json::json!({ "version": version, "status": "connected" }),
            )
            .await?;
        return Ok(found.id.clone());
    }
    let created = intune
        .register_connector(&ExchangeConnector {
            id: String::new(),
            last_sync_date_time: None,
            status: Some(ExchangeConnectorStatus::Connected),
            primary_smtp_address: config.notification_mailbox.clone(),
            server_name: Some(config.server_name()),
            connector_server_name: Some(host),
            exchange_connector_type: Some(match config.exchange_server_type {
                ExchangeServerType::OnPremises => ExchangeConnectorType::OnPremises,
                ExchangeServerType::Hosted => ExchangeConnectorType::Hosted,
            }),
            version: Some(version),
            exchange_alias: None,
            exchange_organization: None,
        })
        .await?;
    Ok(created.id)
}

/// Records a run on the registration: `lastSyncDateTime` after a successful run, and the status.
pub async fn report_run(
    intune: &IntuneClient,
    id: &str,
    succeeded: bool,
    at: DateTime<Utc>,
) -> Result<(), IntuneError> {
    let changes = if succeeded {
        serde_json::json!({ "lastSyncDateTime": at, "status": "connected" })
    } else {
        serde_json::json!({ "status": "disconnected" })
    };
    intune.update_connector(id, changes).await
}
