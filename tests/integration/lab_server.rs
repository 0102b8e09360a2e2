//! The lab's core: endpoints file, TLS from its own CA, the control API, CAS stop/start, the
//! connector package, scenarios and the generator.

use crate::common;

use common::{TestLab, client, small_lab};
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::lab::Endpoints;
use exchange_connector::model::intune::ComplianceState;
use exchange_connector::package::ConnectorPackage;
use serde_json::{Value, json};

#[tokio::test]
async fn endpoints_file_names_everything_a_client_needs() {
    let lab = small_lab().await;
    let text = std::fs::read_to_string(lab.dir.path().join("endpoints.json")).unwrap();
    let raw: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "login_base",
        "graph_base",
        "exchange_rest_base",
        "autodiscover_url",
        "ews_url",
        "control_base",
        "ca_cert_pem",
        "tenant_id",
        "client_id",
        "client_secret",
        "client_certificate_pfx",
        "client_certificate_password",
        "cas_servers",
        "service_account",
        "notification_account",
        "policy",
        "package_zip",
    ] {
        assert!(raw.get(key).is_some(), "endpoints file lacks {key}");
    }
    let endpoints: Endpoints = serde_json::from_str(&text).unwrap();
    assert_eq!(endpoints.cas_servers.len(), 3);
    assert_eq!(endpoints.service_account.user, "CONTOSO\\svc-eas");
    assert_eq!(endpoints.notification_account.address, "notify@contoso.lab");
    assert_eq!(endpoints.policy.included_groups.len(), 1);
    assert!(std::path::Path::new(&endpoints.ca_cert_pem).exists());

    // The package opens, matches the tenant, and its certificate is the one the tenant trusts.
    let package = ConnectorPackage::read(std::path::Path::new(&endpoints.package_zip)).unwrap();
    assert_eq!(package.manifest.tenant_id, endpoints.tenant_id);
    assert_eq!(package.manifest.client_id, endpoints.client_id);
    let cert = ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )
    .unwrap();
    let registered = lab.state.tenant().apps[0].certificates.clone();
    assert_eq!(registered, vec![cert.certificate_der.clone()]);
    lab.shutdown().await;
}

#[tokio::test]
async fn tls_is_verified_against_the_lab_ca_only() {
    let lab = small_lab().await;
    let status = format!("{}/status", lab.endpoints.control_base);
    let trusted = client(&lab.endpoints.ca_cert_pem);
    assert!(
        trusted
            .get(&status)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    // A client that does not trust the lab CA must refuse the connection.
    let untrusted = exchange_connector::tls::http_client_builder(None)
        .unwrap()
        .build()
        .unwrap();
    let err = untrusted
        .get(&status)
        .send()
        .await
        .expect_err("untrusted CA must fail");
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );
    // Names of the organisation resolve to the lab with a DNS override, and the certificate covers them.
    let port = lab.endpoints.cas_servers[0]
        .base_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let by_name = exchange_connector::tls::http_client_builder(Some(std::path::Path::new(
        &lab.endpoints.ca_cert_pem,
    )))
    .unwrap()
    .resolve("cas01.contoso.lab", ([127, 0, 0, 1], port).into())
    .build()
    .unwrap();
    let answer = by_name
        .get(format!("https://cas01.contoso.lab:{port}/"))
        .send()
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    lab.shutdown().await;
}

#[tokio::test]
async fn cas_can_be_stopped_and_started_again() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let cas2 = lab.endpoints.cas_servers[1].base_url.clone();
    assert!(http.get(format!("{cas2}/")).send().await.is_ok());
    let stop = http
        .post(format!("{}/cas/CAS02/stop", lab.endpoints.control_base))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 204);
    // A fresh client, so no pooled connection hides the outage.
    let fresh = client(&lab.endpoints.ca_cert_pem);
    assert!(
        fresh.get(format!("{cas2}/")).send().await.is_err(),
        "a stopped CAS must not answer"
    );
    let status: Value = http
        .get(format!("{}/status", lab.endpoints.control_base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["casServers"][1],
        json!({"name": "CAS02", "running": false})
    );
    lab.start_cas("cas02.contoso.lab").await.unwrap();
    let fresh = client(&lab.endpoints.ca_cert_pem);
    assert!(
        fresh.get(format!("{cas2}/")).send().await.is_ok(),
        "a restarted CAS answers on the same port"
    );
    let unknown = http
        .post(format!("{}/cas/CAS09/stop", lab.endpoints.control_base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    lab.shutdown().await;
}

#[tokio::test]
async fn control_api_changes_compliance_and_adds_a_new_phone() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let base = &lab.endpoints.control_base;

    let devices: Vec<Value> = http
        .get(format!("{base}/devices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(devices.len(), 9);
    let heidi = devices
        .iter()
        .find(|d| d["deviceId"] == "HEIDISAMSUNG008")
        .unwrap();
    assert_eq!(heidi["deviceAccessState"], "Blocked");
    assert_eq!(heidi["deviceAccessStateReason"], "Individual");

    let before = lab
        .state
        .tenant()
        .managed_devices
        .iter()
        .find(|d| d.eas_device_id.as_deref() == Some("ALICEIPHONE0001"))
        .unwrap()
        .last_sync_date_time;
    let changed = http
        .post(format!("{base}/managed-devices/ALICEIPHONE0001/compliance"))
        .json(&json!({"complianceState": "noncompliant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let tenant = lab.state.tenant().clone();
    let alice = tenant
        .managed_devices
        .iter()
        .find(|d| d.eas_device_id.as_deref() == Some("ALICEIPHONE0001"))
        .unwrap();
    assert_eq!(
        alice.compliance_state.as_ref().map(|c| c.as_str()),
        Some("noncompliant")
    );
    assert!(
        alice.last_sync_date_time > before,
        "a compliance change moves lastSyncDateTime"
    );

    // Flipping many at once: each named device turned, and turning them again restores them.
    let compliance = |lab: &TestLab, id: &str| {
        lab.state
            .tenant()
            .managed_devices
            .iter()
            .find(|d| d.id == id)
            .and_then(|d| d.compliance_state.clone())
    };
    let flip = |n: usize| {
        http.post(format!("{base}/managed-devices/flip-compliance"))
            .json(&json!({ "count": n }))
            .send()
    };
    let first: Value = flip(3).await.unwrap().json().await.unwrap();
    let ids: Vec<String> = serde_json::from_value(first["flipped"].clone()).unwrap();
    assert_eq!(ids.len(), 3);
    let turned: Vec<_> = ids.iter().map(|id| compliance(&lab, id)).collect();
    let again: Value = flip(3).await.unwrap().json().await.unwrap();
    assert_eq!(again["flipped"], first["flipped"], "the same devices");
    for (id, was) in ids.iter().zip(&turned) {
        let now = compliance(&lab, id);
        assert_ne!(now, *was, "{id} turned back");
        assert!(
            matches!(
                now,
                Some(ComplianceState::Compliant) | Some(ComplianceState::Noncompliant)
            ),
            "{id}: {now:?}"
        );
    }

    let missing = http
        .post(format!("{base}/managed-devices/NOPE/compliance"))
        .json(&json!({"complianceState": "compliant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let created = http
        .post(format!("{base}/partnerships"))
        .json(&json!({"mailbox": "dave", "deviceId": "DAVENEWPHONE010", "deviceType": "iPhone", "deviceModel": "iPhone16C1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let record: Value = created.json().await.unwrap();
    assert_eq!(record["DeviceId"], "DAVENEWPHONE010");
    assert_eq!(
        record["DeviceAccessState"], "Allowed",
        "default Allow applies to a new phone"
    );
    assert_eq!(record["DeviceAccessStateReason"], "Global");
    let duplicate = http
        .post(format!("{base}/partnerships"))
        .json(&json!({"mailbox": "dave", "deviceId": "DAVENEWPHONE010", "deviceType": "iPhone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
    let bad = http
        .post(format!("{base}/partnerships"))
        .json(&json!({"mailbox": "dave", "deviceId": "has space", "deviceType": "iPhone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let faults: Value = http
        .patch(format!("{base}/faults"))
        .json(&json!({"exchangeLatencyMs": 20, "maxConcurrentShells": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["exchangeLatencyMs"], 20);
    assert_eq!(faults["maxConcurrentShells"], 5);
    assert_eq!(
        faults["tokenLifetimeSeconds"], 3599,
        "a patch keeps the other settings"
    );
    let bad_patch = http
        .patch(format!("{base}/faults"))
        .json(&json!({"exchangeLatencyMs": "slow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_patch.status(), 400);
    assert_eq!(
        lab.state.faults().exchange_latency_ms,
        20,
        "a refused patch changes nothing"
    );

    let expire = http
        .post(format!("{base}/tokens/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(expire.status(), 204);
    assert!(lab.state.faults().tokens_not_before.is_some());
    lab.shutdown().await;
}

#[tokio::test]
async fn a_scenario_file_round_trips_and_bad_files_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    let scenario = exchange_connector::lab::scenario::Scenario::small();
    std::fs::write(&path, serde_json::to_string_pretty(&scenario).unwrap()).unwrap();
    let loaded = exchange_connector::lab::scenario::Scenario::load(&path).unwrap();
    let (org, tenant, _) = loaded.build().unwrap();
    assert_eq!(org.mailboxes.len(), 9);
    assert_eq!(tenant.managed_devices.len(), 7);

    std::fs::write(&path, "{\"organization\": {\"name\": 3}}").unwrap();
    let err = exchange_connector::lab::scenario::Scenario::load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scenario.json") && err.contains("line"),
        "{err}"
    );

    let mut broken = exchange_connector::lab::scenario::Scenario::small();
    broken.organization.service_account = "CONTOSO\\nobody".into();
    let err = broken.build().unwrap_err().to_string();
    assert!(err.contains("nobody"), "{err}");
}

#[tokio::test]
async fn generated_organisation_has_the_promised_mix() {
    let lab = common::generated_lab(500, 1250, 11).await;
    {
        let org = lab.state.org();
        assert_eq!(org.device_count(), 1250);
        assert_eq!(
            org.mailboxes.len(),
            501,
            "500 users and the notification mailbox"
        );
        let tenant = lab.state.tenant();
        let enrolled = tenant
            .managed_devices
            .iter()
            .filter(|d| d.eas_device_id.is_some())
            .count();
        let share = enrolled as f64 / 1250.0;
        assert!(
            (0.65..0.81).contains(&share),
            "about 73% enrolled, got {share}"
        );
        let hand_made = org
            .mailboxes
            .iter()
            .filter(|m| {
                !m.cas.active_sync_allowed_device_ids.is_empty()
                    || !m.cas.active_sync_blocked_device_ids.is_empty()
            })
            .count();
        assert!(hand_made > 0, "some admin-made entries");
        let (included, _) = tenant.transitive_members(&lab.endpoints.policy.included_groups[0]);
        assert!(
            included.len() > 350 && included.len() < 500,
            "most but not all users targeted: {}",
            included.len()
        );
        let families: std::collections::BTreeSet<_> = org
            .mailboxes
            .iter()
            .flat_map(|m| m.devices.iter().map(|d| d.device.device_type.clone()))
            .collect();
        assert!(families.len() >= 5, "{families:?}");
    }
    lab.shutdown().await;
}
