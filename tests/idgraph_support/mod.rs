//! Shared fixture of the identity and Graph lab tests: a small tenant served by the two routers,
//! called in-process with `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::lab::org::ExchangeOrg;
use exchange_connector::lab::tenant::{LabApp, LabGroup, Tenant};
use exchange_connector::lab::{Endpoints, LabCredentials, LabState, graph, identity};
use exchange_connector::model::exchange::AccessLevel;
use exchange_connector::model::intune::{
    ComplianceState, ConditionalAccessSettings, ExchangeOnPremisesPolicy, GraphAccessLevel,
    ManagedDevice, ManagementAgent, User,
};
use exchange_connector::secret::Secret;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt as _;

pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_SECRET: &str = "lab~secret+with/odd=chars";
pub const LIMITED_CLIENT_ID: &str = "99999999-2222-3333-4444-555555555555";
pub const LIMITED_SECRET: &str = "limited-secret";
pub const LOGIN_BASE: &str = "https://127.0.0.1:4443";
pub const GRAPH_BASE: &str = "https://127.0.0.1:4443";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Groups: G1 = {u1, G2}, G2 = {u2, G3}, G3 = {u3, G1} (a cycle), G4 = {} ; u4 is in no group.
pub const GROUP_1: &str = "aaaaaaaa-0000-0000-0000-000000000001";
pub const GROUP_2: &str = "aaaaaaaa-0000-0000-0000-000000000002";
pub const GROUP_3: &str = "aaaaaaaa-0000-0000-0000-000000000003";
pub const GROUP_4: &str = "aaaaaaaa-0000-0000-0000-000000000004";

/// The connector app's certificate (RSA key generation is slow; made once per test binary).
pub fn certificate() -> &'static ClientCertificate {
    static CERT: OnceLock<ClientCertificate> = OnceLock::new();
    CERT.get_or_init(|| ClientCertificate::generate("lab-connector", 30).unwrap())
}

/// A certificate registered nowhere.
pub fn stranger_certificate() -> &'static ClientCertificate {
    static CERT: OnceLock<ClientCertificate> = OnceLock::new();
    CERT.get_or_init(|| ClientCertificate::generate("stranger", 30).unwrap())
}

pub fn user_id(n: usize) -> String {
    format!("bbbbbbbb-0000-0000-0000-{n:012}")
}

/// The `n`-th generated device: every third non-compliant, last sync one hour apart going back from
/// 2024-06-01.
pub fn device(n: usize) -> ManagedDevice {
    let last_sync = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap() - Duration::hours(n as i64);
    ManagedDevice {
        id: format!("dddddddd-0000-0000-0000-{n:012}"),
        user_id: Some(user_id(n % 5 + 1)),
        device_name: Some(format!("Phone {n}")),
        user_principal_name: Some(format!("user{}@contoso.lab", n % 5 + 1)),
        email_address: Some(format!("user{}@contoso.lab", n % 5 + 1)),
        operating_system: Some(
            if n.is_multiple_of(2) {
                "iOS"
            } else {
                "Android"
            }
            .into(),
        ),
        os_version: Some("17.5".into()),
        model: Some("iPhone".into()),
        manufacturer: Some("Apple".into()),
        management_agent: Some(ManagementAgent::EasMdm),
        compliance_state: Some(if n.is_multiple_of(3) {
            ComplianceState::Noncompliant
        } else {
            ComplianceState::Compliant
        }),
        eas_activated: Some(true),
        eas_activation_date_time: None,
        eas_device_id: Some(format!("EASDEV{n:06}")),
        exchange_last_successful_sync_date_time: None,
        exchange_access_state: None,
        exchange_access_state_reason: None,
        last_sync_date_time: Some(last_sync),
        enrolled_date_time: None,
        azure_ad_registered: Some(true),
        azure_ad_device_id: None,
    }
}

pub fn tenant(devices: usize) -> Tenant {
    let users = (1..=5)
        .map(|n| User {
            id: user_id(n),
            user_principal_name: format!("user{n}@contoso.lab"),
            mail: Some(format!("user{n}@contoso.lab")),
            display_name: Some(format!("User {n}")),
            preferred_language: Some("en-US".into()),
        })
        .collect();
    let group = |id: &str, name: &str, members: Vec<String>| LabGroup {
        id: id.into(),
        display_name: name.into(),
        members,
    };
    Tenant {
        tenant_id: TENANT_ID.into(),
        display_name: "Contoso Lab".into(),
        apps: vec![
            LabApp {
                client_id: CLIENT_ID.into(),
                display_name: "Exchange Connector".into(),
                client_secret: Some(Secret::new(CLIENT_SECRET)),
                certificates: vec![certificate().certificate_der.clone()],
                graph_roles: vec![
                    "DeviceManagementManagedDevices.Read.All".into(),
                    "DeviceManagementServiceConfig.ReadWrite.All".into(),
                    "GroupMember.Read.All".into(),
                    "User.Read.All".into(),
                ],
                exchange_roles: vec!["Exchange.ManageAsApp".into()],
                mail_send_scope: Vec::new(),
            },
            LabApp {
                client_id: LIMITED_CLIENT_ID.into(),
                display_name: "Limited".into(),
                client_secret: Some(Secret::new(LIMITED_SECRET)),
                certificates: Vec::new(),
                graph_roles: vec!["DeviceManagementServiceConfig.Read.All".into()],
                exchange_roles: Vec::new(),
                mail_send_scope: Vec::new(),
            },
        ],
        users,
        groups: vec![
            group(GROUP_1, "Sales", vec![user_id(1), GROUP_2.into()]),
            group(GROUP_2, "Sales EMEA", vec![user_id(2), GROUP_3.into()]),
            group(
                GROUP_3,
                "Sales Paris",
                vec![user_id(3), GROUP_1.into(), user_id(1)],
            ),
            group(GROUP_4, "Empty", Vec::new()),
        ],
        managed_devices: (0..devices).map(device).collect(),
        exchange_connectors: Vec::new(),
        conditional_access_settings: ConditionalAccessSettings {
            id: "cas-1".into(),
            enabled: true,
            included_groups: vec![GROUP_1.into()],
            excluded_groups: Vec::new(),
            override_default_rule: false,
        },
        exchange_on_premises_policy: ExchangeOnPremisesPolicy {
            id: "policy-1".into(),
            notification_content: None,
            default_access_level: Some(GraphAccessLevel::Quarantine),
            access_rules: Vec::new(),
            known_device_classes: Vec::new(),
        },
    }
}

pub struct Fixture {
    pub state: Arc<LabState>,
    pub app: Router,
}

pub fn fixture(devices: usize) -> Fixture {
    let org = ExchangeOrg::new("Contoso", "contoso.lab", "CONTOSO", AccessLevel::Allow);
    let credentials = LabCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        client_certificate_pfx: Vec::new(),
        client_certificate_password: Secret::new("pfx"),
        service_account_user: "CONTOSO\\svc".into(),
        service_account_password: Secret::new("pw"),
        notification_address: "notify@contoso.lab".into(),
        notification_password: Secret::new("pw"),
    };
    let state = Arc::new(LabState::new(org, tenant(devices), credentials));
    let _ = state.endpoints.set(Endpoints {
        login_base: LOGIN_BASE.into(),
        graph_base: GRAPH_BASE.into(),
        tenant_id: TENANT_ID.into(),
        ..Endpoints::default()
    });
    let app = identity::router()
        .merge(graph::router())
        .with_state(state.clone());
    Fixture { state, app }
}

/// A response, with the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Fixture {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
        }
    }

    /// POSTs a form to `/{tenant}/oauth2/v2.0/token`.
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::post(format!("/{tenant}/oauth2/v2.0/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// A Graph token for an app, by client secret.
    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let reply = self
            .token_request(
                TENANT_ID,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
        reply.json["access_token"].as_str().unwrap().to_string()
    }

    pub async fn token(&self) -> String {
        self.token_for(CLIENT_ID, CLIENT_SECRET).await
    }

    /// A Graph request; `url` may be absolute (a nextLink): its scheme and host are dropped.
    pub async fn graph(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let path = match url.strip_prefix(GRAPH_BASE) {
            Some(rest) => rest.to_string(),
            None => url.to_string(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("client-request-id", "test-client-request");
        if !token.is_empty() {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(json) => builder
                .header("content-type", "application/json")
                .body(Body::from(json.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    pub async fn get(&self, url: &str, token: &str) -> Reply {
        self.graph(Method::GET, url, token, None).await
    }
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
