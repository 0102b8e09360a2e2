//! The production Exchange client against the lab's Exchange surface, over both transports: the
//! bridge (with the `pwsh` stand-in as the PowerShell host) and REST `InvokeCommand` (with a token
//! from the lab's Entra endpoint). Proves the two sides agree on the wire.

use crate::common;

use common::{TestLab, small_lab};
use exchange_connector::bridge_protocol::Authentication;
use exchange_connector::exchange::bridge::{BridgeConfig, BridgeConnector};
use exchange_connector::exchange::failover::{Failover, FailoverConfig};
use exchange_connector::exchange::pool::{PoolConfig, RunspacePool};
use exchange_connector::exchange::rest::{RestConfig, RestConnector};
use exchange_connector::exchange::{CasServer, DeviceListEdit, ExchangeClient, ExchangeError};
use exchange_connector::model::exchange::{AccessLevel, DeviceAccessState, RuleCharacteristic};
use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
use exchange_connector::secret::Secret;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn bridge_client(lab: &TestLab, user: &str, password: &str) -> ExchangeClient {
    let mut config = BridgeConfig::new(
        Path::new("exchange-bridge.ps1"),
        user,
        Secret::new(password),
    );
    config.program = PathBuf::from(env!("CARGO_BIN_EXE_exchange-connector-lab"));
    config.prefix_args = vec![
        "pwsh".into(),
        "--ca-file".into(),
        lab.endpoints.ca_cert_pem.clone(),
    ];
    config.authentication = Authentication::Basic;
    let cas = &lab.endpoints.cas_servers[0];
    let port = cas.base_url.rsplit(':').next().unwrap();
    let primary = CasServer {
        name: cas.name.clone(),
        fqdn: cas.fqdn.clone(),
        connection_uri: format!("https://{}:{port}/PowerShell/", cas.fqdn),
    };
    let pool = RunspacePool::new(
        Arc::new(BridgeConnector::new(config)),
        Some(Failover::new(primary, FailoverConfig::default())),
        PoolConfig::default(),
        None,
    );
    ExchangeClient::new(pool)
}

fn rest_client(lab: &TestLab) -> ExchangeClient {
    let e = &lab.endpoints;
    let ca = Path::new(&e.ca_cert_pem);
    let http = exchange_connector::tls::http_client_builder(Some(ca))
        .unwrap()
        .build()
        .unwrap();
    let tokens = TokenClient::new(
        OAuthConfig::new(
            &e.login_base,
            &e.tenant_id,
            &e.client_id,
            ClientCredential::Secret(Secret::new(e.client_secret.clone())),
        ),
        http.clone(),
    );
    let mut config = RestConfig::new(&e.exchange_rest_base, &e.tenant_id);
    config.page_size = 4;
    let pool = RunspacePool::new(
        Arc::new(RestConnector::new(config, Arc::new(tokens), http)),
        None,
        PoolConfig::default(),
        None,
    );
    ExchangeClient::new(pool)
}

async fn exercise(client: &ExchangeClient) {
    let devices = client.list_devices().await.unwrap();
    assert_eq!(devices.len(), 9);
    let report = client.check_permissions().await.unwrap();
    assert!(report.missing_required.is_empty(), "{report:?}");

    client
        .edit_device_lists("dave", &DeviceListEdit::block("DAVESAMSUNG0004"))
        .await
        .unwrap();
    let dave = client.mailbox_devices("dave").await.unwrap();
    assert_eq!(dave[0].device_access_state, DeviceAccessState::Blocked);
    let cas = client.cas_mailbox("dave").await.unwrap();
    assert_eq!(
        cas.active_sync_blocked_device_ids,
        vec!["DAVESAMSUNG0004".to_string()]
    );
    client
        .edit_device_lists("dave", &DeviceListEdit::allow("DAVESAMSUNG0004"))
        .await
        .unwrap();
    let cas = client.cas_mailbox("dave").await.unwrap();
    assert!(cas.active_sync_blocked_device_ids.is_empty());
    assert_eq!(
        cas.active_sync_allowed_device_ids,
        vec!["DAVESAMSUNG0004".to_string()]
    );

    let with_devices = client.cas_mailboxes_with_devices().await.unwrap();
    assert_eq!(with_devices.len(), 8);
    let stats = client.device_statistics("grace").await.unwrap();
    assert_eq!(stats.len(), 2);
    let settings = client.organization_settings().await.unwrap();
    assert_eq!(settings.default_access_level, AccessLevel::Allow);

    let rule = client
        .new_device_access_rule(
            "SM-S911B",
            RuleCharacteristic::DeviceModel,
            AccessLevel::Quarantine,
        )
        .await
        .unwrap();
    assert_eq!(rule.name, "SM-S911B (DeviceModel)");
    let bob = client.mailbox_devices("bob").await.unwrap();
    assert_eq!(bob[0].device_access_state, DeviceAccessState::Quarantined);
    let rules = client.device_access_rules().await.unwrap();
    assert_eq!(rules.len(), 2);
    client
        .remove_device_access_rule(&rule.identity)
        .await
        .unwrap();

    let since = chrono::Utc::now() - chrono::Duration::minutes(5);
    let changed = client.list_devices_changed_since(since).await.unwrap();
    assert!(
        changed.iter().any(|d| d.device_id == "BOBSAMSUNG00002"),
        "{changed:?}"
    );
    assert!(!client.exchange_servers().await.unwrap().is_empty());
    assert_eq!(client.recipients(None).await.unwrap().len(), 9);
    assert_eq!(client.device_classes().await.unwrap().len(), 3);

    let missing = client.cas_mailbox("nobody").await.unwrap_err();
    assert!(
        matches!(missing, ExchangeError::NotFound { .. }),
        "{missing:?}"
    );
}

#[tokio::test]
async fn production_client_over_the_bridge_stand_in() {
    let lab = small_lab().await;
    let (user, password) = (
        lab.endpoints.service_account.user.clone(),
        lab.endpoints.service_account.password.clone(),
    );
    let client = bridge_client(&lab, &user, &password);
    exercise(&client).await;
    client.shutdown().await;
    assert_eq!(
        lab.state.shells.lock().unwrap().len(),
        0,
        "sessions are removed on shutdown"
    );

    // The helpdesk account lacks the write cmdlets: the permission check says which.
    let helpdesk = bridge_client(&lab, "CONTOSO\\helpdesk", "Lab-Helpdesk-Pass-1");
    let report = helpdesk.check_permissions().await.unwrap();
    assert!(report.granted.contains(&"Get-MobileDevice".to_string()));
    assert!(
        report
            .missing_required
            .contains(&"Set-CASMailbox".to_string()),
        "{report:?}"
    );
    // And a cmdlet it lacks reads as not granted, as restricted RBAC does remotely.
    let denied = helpdesk
        .edit_device_lists("dave", &DeviceListEdit::block("DAVESAMSUNG0004"))
        .await
        .unwrap_err();
    assert!(
        matches!(denied, ExchangeError::PermissionDenied { .. }),
        "{denied:?}"
    );
    helpdesk.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test]
async fn production_client_over_rest() {
    let lab = small_lab().await;
    let client = rest_client(&lab);
    exercise(&client).await;
    client.shutdown().await;
    lab.shutdown().await;
}
