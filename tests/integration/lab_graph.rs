//! The lab's simulated Graph: authentication and permissions, managed devices with `$select`,
//! `$filter`, `$top` and server-driven paging, transitive group members, users, throttling, and the
//! retired connector's objects.

use crate::idgraph_support;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use exchange_connector::lab::faults::{Storm, Surface};
use idgraph_support::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

const DEVICES: &str = "/v1.0/deviceManagement/managedDevices";

fn assert_graph_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.json);
    let error = &reply.json["error"];
    assert_eq!(error["code"], code, "{error}");
    assert!(error["message"].is_string());
    let inner = &error["innerError"];
    assert!(inner["date"].is_string(), "{error}");
    assert!(inner["request-id"].is_string(), "{error}");
    assert_eq!(inner["client-request-id"], "test-client-request");
}

fn message(reply: &Reply) -> &str {
    reply.json["error"]["message"].as_str().unwrap_or_default()
}

/// Follows `@odata.nextLink` verbatim until absent; returns every item and the number of pages.
async fn follow(fx: &Fixture, first: &str, token: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut url = first.to_string();
    loop {
        let reply = fx.get(&url, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {:?}", reply.json);
        pages += 1;
        items.extend(reply.json["value"].as_array().unwrap().iter().cloned());
        match reply.json["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&format!("{GRAPH_BASE}/")), "{next}");
                url = next.to_string();
            }
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    (items, pages)
}

#[tokio::test]
async fn missing_invalid_and_expired_tokens_get_401_with_a_challenge() {
    let fx = fixture(1);
    let reply = fx.get(DEVICES, "").await;
    assert_graph_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );
    assert_eq!(message(&reply), "Access token is empty.");
    assert!(
        reply.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );

    let empty = axum::http::Request::get(DEVICES)
        .header("authorization", "Bearer ")
        .header("client-request-id", "test-client-request")
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = fx.send(empty).await;
    assert_eq!(message(&reply), "Access token is empty.");

    let reply = fx.get(DEVICES, "not-a-token").await;
    assert_graph_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );

    // "Expire every token now": tokens issued before the instant are refused.
    let token = fx.token().await;
    assert_eq!(fx.get(DEVICES, &token).await.status, StatusCode::OK);
    fx.state.faults().tokens_not_before = Some(Utc::now() + chrono::Duration::seconds(1));
    let reply = fx.get(DEVICES, &token).await;
    assert_graph_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );
    assert_eq!(
        message(&reply),
        "Access token has expired or is not yet valid."
    );
    fx.state.faults().tokens_not_before = None;

    // A short lifetime: the token dies on its own.
    fx.state.faults().token_lifetime_seconds = 1;
    let token = fx.token().await;
    assert_eq!(fx.get(DEVICES, &token).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let reply = fx.get(DEVICES, &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        message(&reply),
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn missing_role_gets_403_naming_the_permission() {
    let fx = fixture(1);
    let token = fx.token_for(LIMITED_CLIENT_ID, LIMITED_SECRET).await;
    let reply = fx.get(DEVICES, &token).await;
    assert_graph_error(&reply, StatusCode::FORBIDDEN, "Forbidden");
    assert!(
        message(&reply).contains("DeviceManagementManagedDevices.Read.All"),
        "{}",
        message(&reply)
    );
    // Reading connectors is within its permission; creating one is not.
    let list = fx
        .get("/beta/deviceManagement/exchangeConnectors", &token)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let create = fx
        .graph(
            Method::POST,
            "/beta/deviceManagement/exchangeConnectors",
            &token,
            Some(json!({"serverName": "cas01"})),
        )
        .await;
    assert_graph_error(&create, StatusCode::FORBIDDEN, "Forbidden");
    assert!(message(&create).contains("DeviceManagementServiceConfig.ReadWrite.All"));
    // Directory reads get Entra's own refusal.
    let members = fx
        .get(&format!("/v1.0/groups/{GROUP_1}/transitiveMembers"), &token)
        .await;
    assert_graph_error(
        &members,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    );
}

#[tokio::test]
async fn paging_follows_next_links_over_thousands_of_devices() {
    let fx = fixture(2500);
    let token = fx.token().await;

    let (items, pages) = follow(&fx, &format!("{DEVICES}?$top=300"), &token).await;
    assert_eq!(pages, 9);
    assert_eq!(items.len(), 2500);
    let ids: HashSet<&str> = items.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2500, "no device twice");

    // Default page: Intune's 1000, with the context and a next link on the lab's Graph base.
    let first = fx.get(DEVICES, &token).await;
    assert_eq!(first.json["value"].as_array().unwrap().len(), 1000);
    assert_eq!(
        first.json["@odata.context"],
        format!("{GRAPH_BASE}/v1.0/$metadata#deviceManagement/managedDevices")
    );
    let next = first.json["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skiptoken="), "{next}");
    let (all, pages) = follow(&fx, DEVICES, &token).await;
    assert_eq!((all.len(), pages), (2500, 3));

    // Beta works the same; $count reports the total; a $top above 1000 is capped at 1000.
    let beta = fx
        .get(
            "/beta/deviceManagement/managedDevices?$top=5000&$count=true",
            &token,
        )
        .await;
    assert_eq!(beta.json["value"].as_array().unwrap().len(), 1000);
    assert_eq!(beta.json["@odata.count"], 2500);
    assert!(
        beta.json["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{GRAPH_BASE}/beta/"))
    );

    let bad = fx.get(&format!("{DEVICES}?$top=0"), &token).await;
    assert_graph_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");
    let bad = fx
        .get(&format!("{DEVICES}?$skiptoken=nonsense"), &token)
        .await;
    assert_graph_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");
    assert!(fx.state.counters.graph_requests.load(Ordering::Relaxed) >= 13);
}

#[tokio::test]
async fn select_returns_only_the_selected_properties() {
    let fx = fixture(1500);
    let token = fx.token().await;
    let url = format!(
        "{DEVICES}?$select={}&$top=700",
        enc("id,easDeviceId,complianceState,serialNumber")
    );
    let (items, pages) = follow(&fx, &url, &token).await;
    assert_eq!((items.len(), pages), (1500, 3));
    for item in &items {
        let keys: HashSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            HashSet::from(["id", "easDeviceId", "complianceState", "serialNumber"]),
            "{item}"
        );
    }
    assert_eq!(items[3]["easDeviceId"], "EASDEV000003");
    assert!(items[3]["serialNumber"].is_null());

    let first = fx.get(&url, &token).await;
    assert_eq!(
        first.json["@odata.context"],
        format!(
            "{GRAPH_BASE}/v1.0/$metadata#deviceManagement/managedDevices(id,easDeviceId,complianceState,serialNumber)"
        )
    );

    let bad = fx
        .get(&format!("{DEVICES}?$select=id,colour"), &token)
        .await;
    assert_graph_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(
        message(&bad),
        "Could not find a property named 'colour' on type 'microsoft.graph.managedDevice'."
    );

    // $select on a single device.
    let one = fx
        .get(
            &format!("{DEVICES}/{}?$select=deviceName", device(7).id),
            &token,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["deviceName"], "Phone 7");
    assert!(one.json.get("id").is_none());
}

#[tokio::test]
async fn filter_on_last_sync_compliance_and_keys() {
    let fx = fixture(2000);
    let token = fx.token().await;
    let all: Vec<_> = (0..2000).map(device).collect();

    let cutoff = "2024-05-01T00:00:00Z";
    let cutoff_time: DateTime<Utc> = cutoff.parse().unwrap();
    let url = format!(
        "{DEVICES}?$filter={}&$top=250",
        enc(&format!("lastSyncDateTime ge {cutoff}"))
    );
    let (items, _) = follow(&fx, &url, &token).await;
    let expected = all
        .iter()
        .filter(|d| d.last_sync_date_time.unwrap() >= cutoff_time)
        .count();
    assert!(expected > 250 && expected < 2000);
    assert_eq!(items.len(), expected);

    let url = format!(
        "{DEVICES}?$filter={}",
        enc(&format!("lastSyncDateTime gt {cutoff}"))
    );
    let (items, _) = follow(&fx, &url, &token).await;
    assert_eq!(
        items.len(),
        expected - 1,
        "exactly one device synced at the cutoff"
    );

    let url = format!(
        "{DEVICES}?$filter={}",
        enc("complianceState eq 'noncompliant'")
    );
    let (items, _) = follow(&fx, &url, &token).await;
    assert_eq!(
        items.len(),
        (0..2000usize).filter(|n| n.is_multiple_of(3)).count()
    );
    assert!(items.iter().all(|d| d["complianceState"] == "noncompliant"));

    let url = format!(
        "{DEVICES}?$filter={}",
        enc(&format!(
            "complianceState eq 'noncompliant' and lastSyncDateTime ge {cutoff}"
        ))
    );
    let (items, _) = follow(&fx, &url, &token).await;
    let both = all
        .iter()
        .filter(|d| {
            d.last_sync_date_time.unwrap() >= cutoff_time
                && d.compliance_state.as_ref().unwrap().as_str() == "noncompliant"
        })
        .count();
    assert_eq!(items.len(), both);

    let url = format!(
        "{DEVICES}?$filter={}",
        enc("easDeviceId eq 'EASDEV000042' or easDeviceId eq 'easdev000043'")
    );
    let (items, _) = follow(&fx, &url, &token).await;
    assert_eq!(items.len(), 2);

    // Filtered paging with a small page: every match once, in order.
    let url = format!(
        "{DEVICES}?$filter={}&$top=7",
        enc("complianceState eq 'noncompliant'")
    );
    let (small_pages, pages) = follow(&fx, &url, &token).await;
    let expected_ids: Vec<String> = (0..2000usize)
        .filter(|n| n.is_multiple_of(3))
        .map(|n| device(n).id)
        .collect();
    let got_ids: Vec<&str> = small_pages
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(got_ids, expected_ids);
    assert_eq!(pages, expected_ids.len().div_ceil(7));

    let url = format!(
        "{DEVICES}?$filter={}&$count=true&$top=1",
        enc(&format!("userId eq '{}'", user_id(2)))
    );
    let reply = fx.get(&url, &token).await;
    assert_eq!(reply.json["@odata.count"], 400);

    let bad = fx
        .get(
            &format!("{DEVICES}?$filter={}", enc("complianceState eq")),
            &token,
        )
        .await;
    assert_graph_error(&bad, StatusCode::BAD_REQUEST, "BadRequest");
    let bad = fx
        .get(
            &format!("{DEVICES}?$filter={}", enc("colour eq 'red'")),
            &token,
        )
        .await;
    assert!(message(&bad).contains("'colour'"));
}

#[tokio::test]
async fn transitive_members_follow_nesting_and_survive_a_cycle() {
    let fx = fixture(0);
    let token = fx.token().await;
    let reply = fx
        .get(&format!("/v1.0/groups/{GROUP_1}/transitiveMembers"), &token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
    let items = reply.json["value"].as_array().unwrap();
    let users: HashSet<&str> = items
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.user")
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let groups: HashSet<&str> = items
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.group")
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let expected_users = [user_id(1), user_id(2), user_id(3)];
    assert_eq!(
        users,
        expected_users
            .iter()
            .map(String::as_str)
            .collect::<HashSet<_>>()
    );
    assert_eq!(groups, HashSet::from([GROUP_2, GROUP_3]));
    assert_eq!(items.len(), 5, "each member once: {items:?}");
    let u1 = items.iter().find(|m| m["id"] == user_id(1)).unwrap();
    assert_eq!(u1["userPrincipalName"], "user1@contoso.lab");

    // Paging with $top, and $select.
    let url =
        format!("/v1.0/groups/{GROUP_3}/transitiveMembers?$top=2&$select=id,userPrincipalName");
    let (paged, pages) = follow(&fx, &url, &token).await;
    assert_eq!((paged.len(), pages), (5, 3));
    for m in &paged {
        let keys: HashSet<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(keys.contains("id") && keys.contains("@odata.type"), "{m}");
        assert!(!keys.contains("displayName"), "{m}");
    }

    // Cast to users only.
    let url = format!("/v1.0/groups/{GROUP_2}/transitiveMembers/microsoft.graph.user");
    let (only_users, _) = follow(&fx, &url, &token).await;
    assert_eq!(only_users.len(), 3);
    assert!(
        only_users
            .iter()
            .all(|m| m["@odata.type"] == "#microsoft.graph.user")
    );

    let empty = fx
        .get(&format!("/v1.0/groups/{GROUP_4}/transitiveMembers"), &token)
        .await;
    assert_eq!(empty.json["value"], json!([]));
    assert!(empty.json.get("@odata.nextLink").is_none());

    let missing = fx
        .get(
            "/v1.0/groups/00000000-0000-0000-0000-00000000dead/transitiveMembers",
            &token,
        )
        .await;
    assert_graph_error(&missing, StatusCode::NOT_FOUND, "Request_ResourceNotFound");

    let bad_top = fx
        .get(
            &format!("/v1.0/groups/{GROUP_1}/transitiveMembers?$top=1000"),
            &token,
        )
        .await;
    assert_graph_error(&bad_top, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn users_by_id_or_upn() {
    let fx = fixture(0);
    let token = fx.token().await;
    let by_upn = fx.get("/v1.0/users/user2%40contoso.lab", &token).await;
    assert_eq!(by_upn.status, StatusCode::OK, "{:?}", by_upn.json);
    assert_eq!(by_upn.json["id"], user_id(2));
    assert_eq!(by_upn.json["preferredLanguage"], "en-US");
    let by_id = fx
        .get(&format!("/v1.0/users/{}?$select=mail", user_id(3)), &token)
        .await;
    assert_eq!(by_id.json["mail"], "user3@contoso.lab");
    assert!(by_id.json.get("userPrincipalName").is_none());
    let missing = fx.get("/v1.0/users/nobody@contoso.lab", &token).await;
    assert_graph_error(&missing, StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn storms_answer_429_with_retry_after_and_503() {
    let fx = fixture(3);
    let token = fx.token().await;
    fx.state.faults().storms.push(Storm {
        surface: Surface::Graph,
        status: 429,
        remaining: 2,
        retry_after_seconds: 3,
    });
    fx.state.faults().storms.push(Storm {
        surface: Surface::Graph,
        status: 503,
        remaining: 1,
        retry_after_seconds: 0,
    });
    for _ in 0..2 {
        let reply = fx.get(DEVICES, &token).await;
        assert_graph_error(&reply, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
        assert_eq!(reply.headers["retry-after"], "3");
    }
    let reply = fx.get(DEVICES, &token).await;
    assert_graph_error(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    );
    assert!(reply.headers.get("retry-after").is_none());
    assert_eq!(fx.get(DEVICES, &token).await.status, StatusCode::OK);
    assert_eq!(fx.state.counters.graph_requests.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn per_app_budget_throttles_until_the_window_resets() {
    let fx = fixture(3);
    let token = fx.token().await;
    let other = fx.token_for(LIMITED_CLIENT_ID, LIMITED_SECRET).await;
    {
        let mut faults = fx.state.faults();
        faults.graph_requests_per_window = 3;
        faults.graph_window_seconds = 2;
    }
    for _ in 0..3 {
        assert_eq!(fx.get(DEVICES, &token).await.status, StatusCode::OK);
    }
    let reply = fx.get(DEVICES, &token).await;
    assert_graph_error(&reply, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // The budget is per app.
    let list = fx
        .get("/beta/deviceManagement/exchangeConnectors", &other)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(fx.get(DEVICES, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn latency_is_added_to_graph_requests() {
    let fx = fixture(1);
    let token = fx.token().await;
    fx.state.faults().graph_latency_ms = 300;
    let started = std::time::Instant::now();
    assert_eq!(fx.get(DEVICES, &token).await.status, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn exchange_connectors_crud_and_sync() {
    let fx = fixture(0);
    let token = fx.token().await;
    let base = "/beta/deviceManagement/exchangeConnectors";

    let created = fx
        .graph(
            Method::POST,
            base,
            &token,
            Some(json!({
                "@odata.type": "#microsoft.graph.deviceManagementExchangeConnector",
                "serverName": "cas01.contoso.lab",
                "connectorServerName": "conn01",
                "exchangeConnectorType": "onPremises",
                "status": "connectionPending",
                "version": "1.0.0",
                "exchangeOrganization": "Contoso",
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    let id = created.json["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert_eq!(
        created.json["@odata.type"],
        "#microsoft.graph.deviceManagementExchangeConnector"
    );
    assert!(created.headers["location"].to_str().unwrap().ends_with(&id));

    let list = fx.get(base, &token).await;
    assert_eq!(list.json["value"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["value"][0]["serverName"], "cas01.contoso.lab");

    let patched = fx
        .graph(
            Method::PATCH,
            &format!("{base}/{id}"),
            &token,
            Some(json!({"status": "connected", "lastSyncDateTime": "2024-06-01T10:00:00Z"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.json);
    assert_eq!(patched.json["status"], "connected");
    assert_eq!(patched.json["serverName"], "cas01.contoso.lab");

    let got = fx.get(&format!("{base}/{id}"), &token).await;
    assert_eq!(got.json["status"], "connected");
    assert_eq!(
        fx.state.tenant().exchange_connectors[0]
            .status
            .as_ref()
            .unwrap()
            .as_str(),
        "connected"
    );

    let sync = fx
        .graph(
            Method::POST,
            &format!("{base}/{id}/sync"),
            &token,
            Some(json!({"syncType": "fullSync"})),
        )
        .await;
    assert_eq!(sync.status, StatusCode::NO_CONTENT);
    let bad_sync = fx
        .graph(
            Method::POST,
            &format!("{base}/{id}/sync"),
            &token,
            Some(json!({"syncType": "sometimes"})),
        )
        .await;
    assert_graph_error(&bad_sync, StatusCode::BAD_REQUEST, "BadRequest");

    let bad_patch = fx
        .graph(
            Method::PATCH,
            &format!("{base}/{id}"),
            &token,
            Some(json!({"lastSyncDateTime": 12})),
        )
        .await;
    assert_graph_error(&bad_patch, StatusCode::BAD_REQUEST, "BadRequest");

    let deleted = fx
        .graph(Method::DELETE, &format!("{base}/{id}"), &token, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = fx.get(&format!("{base}/{id}"), &token).await;
    assert_graph_error(&gone, StatusCode::NOT_FOUND, "ResourceNotFound");
    let sync_gone = fx
        .graph(Method::POST, &format!("{base}/{id}/sync"), &token, None)
        .await;
    assert_eq!(sync_gone.status, StatusCode::NOT_FOUND);
    assert_eq!(fx.get(base, &token).await.json["value"], json!([]));

    let put = fx
        .graph(
            Method::PUT,
            &format!("{base}/{id}"),
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn conditional_access_settings_and_exchange_policy() {
    let fx = fixture(0);
    let token = fx.token().await;
    for version in ["v1.0", "beta"] {
        let url = format!("/{version}/deviceManagement/conditionalAccessSettings");
        let got = fx.get(&url, &token).await;
        assert_eq!(got.status, StatusCode::OK, "{:?}", got.json);
        assert_eq!(got.json["enabled"], true);
        assert_eq!(got.json["includedGroups"], json!([GROUP_1]));
        assert_eq!(
            got.json["@odata.type"],
            "#microsoft.graph.onPremisesConditionalAccessSettings"
        );
    }
    let patched = fx
        .graph(
            Method::PATCH,
            "/v1.0/deviceManagement/conditionalAccessSettings",
            &token,
            Some(json!({"excludedGroups": [GROUP_4], "overrideDefaultRule": true})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.json);
    assert_eq!(patched.json["excludedGroups"], json!([GROUP_4]));
    assert_eq!(patched.json["includedGroups"], json!([GROUP_1]));
    assert!(
        fx.state
            .tenant()
            .conditional_access_settings
            .override_default_rule
    );

    let policy = fx
        .get("/beta/deviceManagement/exchangeOnPremisesPolicy", &token)
        .await;
    assert_eq!(policy.status, StatusCode::OK);
    assert_eq!(policy.json["defaultAccessLevel"], "quarantine");
    let patched = fx
        .graph(
            Method::PATCH,
            "/beta/deviceManagement/exchangeOnPremisesPolicy",
            &token,
            Some(json!({
                "@odata.type": "#microsoft.graph.deviceManagementExchangeOnPremisesPolicy",
                "notificationContent": "PGh0bWw+R2V0IHN0YXJ0ZWQ8L2h0bWw+",
                "defaultAccessLevel": "block",
                "accessRules": [{"deviceClass": {"name": "iPhone", "type": "family"}, "accessLevel": "allow"}],
            })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.json);
    assert_eq!(patched.json["defaultAccessLevel"], "block");
    assert_eq!(
        patched.json["accessRules"][0]["deviceClass"]["name"],
        "iPhone"
    );
    let by_id = fx
        .get(
            "/beta/deviceManagement/exchangeOnPremisesPolicies/policy-1",
            &token,
        )
        .await;
    assert_eq!(by_id.json["defaultAccessLevel"], "block");
    let nested = fx
        .get(
            "/beta/deviceManagement/exchangeOnPremisesPolicy/conditionalAccessSettings",
            &token,
        )
        .await;
    assert_eq!(nested.json["overrideDefaultRule"], true);

    // The policy is a beta-only resource.
    let v1 = fx
        .get("/v1.0/deviceManagement/exchangeOnPremisesPolicy", &token)
        .await;
    assert_graph_error(&v1, StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(
        message(&v1),
        "Resource not found for the segment 'exchangeOnPremisesPolicy'."
    );
}

#[tokio::test]
async fn unknown_segments_get_graphs_400() {
    let fx = fixture(0);
    let token = fx.token().await;
    let reply = fx.get("/v1.0/deviceManagement/widgets", &token).await;
    assert_graph_error(&reply, StatusCode::BAD_REQUEST, "BadRequest");
    assert_eq!(
        message(&reply),
        "Resource not found for the segment 'widgets'."
    );
    let reply = fx.get("/v1.0/planets", &token).await;
    assert_eq!(
        message(&reply),
        "Resource not found for the segment 'planets'."
    );
    assert_eq!(reply.headers["client-request-id"], "test-client-request");
    assert!(reply.headers.get("request-id").is_some());
}

use crate::common;

/// Over loopback HTTPS against a running generated lab: raw paging with `$top` following next links
/// verbatim, the connector's own Graph client (certificate credential), and the per-app budget.
#[tokio::test]
async fn https_paging_and_throttling_against_the_running_lab() {
    use exchange_connector::certificate::ClientCertificate;
    use exchange_connector::intune::{IntuneClient, IntuneConfig};
    use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
    use exchange_connector::secret::Secret;
    use std::sync::Arc;

    let lab = common::generated_lab(400, 3000, 11).await;
    let e = lab.endpoints.clone();
    let http = common::client(&e.ca_cert_pem);
    let total = lab.state.tenant().managed_devices.len();
    assert!(
        total > 1000,
        "the generated tenant has {total} managed devices"
    );

    let body: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            e.login_base, e.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", e.client_secret.as_str()),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();

    let mut url = format!(
        "{}/v1.0/deviceManagement/managedDevices?$top=700&$select=id,easDeviceId",
        e.graph_base
    );
    let mut ids = HashSet::new();
    let mut pages = 0;
    loop {
        let page: Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        for d in page["value"].as_array().unwrap() {
            assert!(ids.insert(d["id"].as_str().unwrap().to_string()));
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(ids.len(), total);
    assert_eq!(pages, total.div_ceil(700));

    // The connector's Graph client, signing in with the lab's certificate.
    let pfx = std::fs::read(&e.client_certificate_pfx).unwrap();
    let cert =
        ClientCertificate::from_pfx(&pfx, &Secret::new(e.client_certificate_password.clone()))
            .unwrap();
    let config = OAuthConfig::new(
        &e.login_base,
        &e.tenant_id,
        &e.client_id,
        ClientCredential::Certificate(Arc::new(cert)),
    );
    let tokens = Arc::new(TokenClient::new(config, http.clone()));
    let intune = IntuneClient::new(http.clone(), tokens, IntuneConfig::new(&e.graph_base));
    let devices = intune.managed_devices(None).await.unwrap();
    assert_eq!(devices.len(), total);
    let members = intune
        .group_members(&e.policy.included_groups, &e.policy.excluded_groups)
        .await
        .unwrap();
    let mut expected = HashSet::new();
    for group in &e.policy.included_groups {
        let (users, _) = lab.state.tenant().transitive_members(group);
        expected.extend(users.into_iter().map(|u| u.to_ascii_lowercase()));
    }
    assert!(!expected.is_empty());
    assert_eq!(members.included_users, expected);

    // A short storm: the connector's client waits out Retry-After and gets through.
    lab.state.faults().storms.push(Storm {
        surface: Surface::Graph,
        status: 429,
        remaining: 2,
        retry_after_seconds: 1,
    });
    let connectors = intune.exchange_connectors().await.unwrap();
    assert!(connectors.is_empty());
    assert!(lab.state.faults().storms.is_empty());

    // The per-app budget: 429 with Retry-After once spent.
    {
        let mut faults = lab.state.faults();
        faults.graph_requests_per_window = 2;
        faults.graph_window_seconds = 30;
    }
    let devices_url = format!(
        "{}/v1.0/deviceManagement/managedDevices?$top=1",
        e.graph_base
    );
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let reply = http
            .get(&devices_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(reply.status().as_u16());
        if reply.status() == 429 {
            retry_after = reply
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: Value = reply.json().await.unwrap();
            assert_eq!(body["error"]["code"], "TooManyRequests");
        }
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    assert!(retry_after.is_some_and(|s| (1..=30).contains(&s)));
    lab.shutdown().await;
}
