//! The Intune (Graph) client against the lab: both token flows, paging, filters, group membership,
//! throttling, token expiry and missing permissions.

use crate::common;

use common::{TestLab, small_lab};
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::intune::{IntuneClient, IntuneConfig, IntuneError};
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
use exchange_connector::package::ConnectorPackage;
use exchange_connector::secret::Secret;
use std::path::Path;
use std::sync::Arc;

fn client_with(lab: &TestLab, credential: ClientCredential, page_size: u32) -> IntuneClient {
    let e = &lab.endpoints;
    let ca = Path::new(&e.ca_cert_pem);
    let http = exchange_connector::tls::http_client_builder(Some(ca))
        .unwrap()
        .build()
        .unwrap();
    let tokens = TokenClient::new(
        OAuthConfig::new(&e.login_base, &e.tenant_id, &e.client_id, credential),
        http.clone(),
    );
    let mut config = IntuneConfig::new(&e.graph_base);
    config.page_size = page_size;
    config.max_backoff = std::time::Duration::from_millis(50);
    IntuneClient::new(http, Arc::new(tokens), config)
}

fn secret_client(lab: &TestLab) -> IntuneClient {
    client_with(
        lab,
        ClientCredential::Secret(Secret::new(lab.endpoints.client_secret.clone())),
        1000,
    )
}

#[tokio::test]
async fn reads_devices_and_targeting_with_a_client_secret() {
    let lab = small_lab().await;
    let intune = secret_client(&lab);
    let devices = intune.managed_devices(None).await.unwrap();
    assert_eq!(devices.len(), 7);
    let bob = devices
        .iter()
        .find(|d| d.eas_device_id.as_deref() == Some("BOBSAMSUNG00002"))
        .unwrap();
    assert_eq!(
        bob.compliance_state.as_ref().unwrap().as_str(),
        "noncompliant"
    );
    assert!(bob.user_principal_name.is_some());

    let members = intune
        .group_members(
            &lab.endpoints.policy.included_groups,
            &lab.endpoints.policy.excluded_groups,
        )
        .await
        .unwrap();
    // Erin is targeted only through the nested Sales group; Frank is included and excluded.
    assert!(
        members
            .included_users
            .contains("0b5c3a9e-0000-4000-8000-000000000005")
    );
    assert!(
        members
            .excluded_users
            .contains("0b5c3a9e-0000-4000-8000-000000000006")
    );
    assert!(
        !members
            .included_users
            .contains("0b5c3a9e-0000-4000-8000-000000000009"),
        "the notification mailbox is not targeted"
    );

    let missing = intune
        .group_members(&["00000000-0000-4000-8000-0000000000ff".into()], &[])
        .await
        .unwrap_err();
    assert!(matches!(missing, IntuneError::NotFound { .. }), "{missing}");
    assert!(
        missing
            .to_string()
            .contains("00000000-0000-4000-8000-0000000000ff")
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn certificate_from_the_connector_package_signs_in() {
    let lab = small_lab().await;
    let package = ConnectorPackage::read(Path::new(&lab.endpoints.package_zip)).unwrap();
    let cert = ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )
    .unwrap();
    let intune = client_with(&lab, ClientCredential::Certificate(Arc::new(cert)), 1000);
    assert_eq!(intune.managed_devices(None).await.unwrap().len(), 7);

    // A certificate the tenant does not know is refused with Entra's reason.
    let stranger = ClientCertificate::generate("stranger", 5).unwrap();
    let refused = client_with(
        &lab,
        ClientCredential::Certificate(Arc::new(stranger)),
        1000,
    );
    let err = refused.managed_devices(None).await.unwrap_err();
    assert!(matches!(err, IntuneError::Token(_)), "{err}");
    assert!(err.to_string().contains("AADSTS"), "{err}");
    lab.shutdown().await;
}

/// A sync reads only what a decision needs; `diagnose` reads what it shows.
#[tokio::test]
async fn a_sync_asks_graph_only_for_what_a_decision_reads() {
    let lab = common::generated_lab(100, 200, 9).await;
    let intune = client_with(
        &lab,
        ClientCredential::Secret(Secret::new(lab.endpoints.client_secret.clone())),
        1000,
    );
    let full = intune.managed_devices(None).await.unwrap();
    let lean = intune.decision_records(None).await.unwrap();
    assert_eq!(full.len(), lean.len());
    assert!(
        full.iter()
            .any(|d| d.device_name.is_some() && d.model.is_some())
    );
    for (f, l) in full.iter().zip(&lean) {
        assert_eq!(f.id, l.id);
        assert_eq!(f.eas_device_id, l.eas_device_id);
        assert_eq!(f.management_agent, l.management_agent);
        assert_eq!(f.compliance_state, l.compliance_state);
        assert_eq!(f.last_sync_date_time, l.last_sync_date_time);
        assert_eq!(
            (
                &l.device_name,
                &l.model,
                &l.user_principal_name,
                &l.operating_system
            ),
            (&None, &None, &None, &None),
            "{}: only the decision's properties were sent",
            l.id
        );
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn pages_are_followed_and_filters_are_server_side() {
    let lab = common::generated_lab(400, 1000, 5).await;
    let intune = client_with(
        &lab,
        ClientCredential::Secret(Secret::new(lab.endpoints.client_secret.clone())),
        100,
    );
    let before = lab
        .state
        .counters
        .graph_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let all = intune.managed_devices(None).await.unwrap();
    let expected = lab.state.tenant().managed_devices.len();
    assert_eq!(all.len(), expected);
    let pages = lab
        .state
        .counters
        .graph_requests
        .load(std::sync::atomic::Ordering::Relaxed)
        - before;
    assert_eq!(
        pages as usize,
        expected.div_ceil(100),
        "one request per page of 100"
    );

    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    assert!(
        intune
            .managed_devices_changed_since(since)
            .await
            .unwrap()
            .is_empty()
    );
    let target = all
        .iter()
        .find(|d| d.eas_device_id.is_some())
        .unwrap()
        .eas_device_id
        .clone()
        .unwrap();
    let http = common::client(&lab.endpoints.ca_cert_pem);
    let answer = http
        .post(format!(
            "{}/managed-devices/{target}/compliance",
            lab.endpoints.control_base
        ))
        .json(&serde_json::json!({"complianceState": "noncompliant"}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let changed = intune.managed_devices_changed_since(since).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].eas_device_id.as_deref(), Some(target.as_str()));
    lab.shutdown().await;
}

#[tokio::test]
async fn throttling_is_waited_out_and_a_long_storm_is_reported() {
    let lab = small_lab().await;
    let intune = secret_client(&lab);
    lab.state.faults().storms.push(Storm {
        surface: Surface::Graph,
        status: 429,
        remaining: 2,
        retry_after_seconds: 1,
    });
    let started = std::time::Instant::now();
    assert_eq!(intune.managed_devices(None).await.unwrap().len(), 7);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After is honoured"
    );

    lab.state.faults().storms.push(Storm {
        surface: Surface::Graph,
        status: 503,
        remaining: 50,
        retry_after_seconds: 0,
    });
    let err = intune.managed_devices(None).await.unwrap_err();
    assert!(
        matches!(err, IntuneError::Throttled { status: 503, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    lab.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    let lab = small_lab().await;
    let intune = secret_client(&lab);
    assert_eq!(intune.managed_devices(None).await.unwrap().len(), 7);
    let tokens_before = lab
        .state
        .counters
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    lab.state.faults().tokens_not_before = Some(chrono::Utc::now());
    assert_eq!(intune.managed_devices(None).await.unwrap().len(), 7);
    let tokens_after = lab
        .state
        .counters
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(tokens_after - tokens_before, 1, "exactly one renewal");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_missing_permission_is_named() {
    let lab = small_lab().await;
    lab.state.tenant_mut().apps[0]
        .graph_roles
        .retain(|r| !r.starts_with("DeviceManagementManagedDevices"));
    let intune = secret_client(&lab);
    let err = intune.managed_devices(None).await.unwrap_err();
    assert!(matches!(err, IntuneError::Forbidden { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("DeviceManagementManagedDevices.Read.All"),
        "{err}"
    );
    lab.shutdown().await;
}
