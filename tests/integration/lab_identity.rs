//! The lab's simulated Entra ID: client-credentials grant with a secret (body or Basic) and with a
//! certificate assertion, Entra's error shapes, OpenID discovery and instance discovery.

use crate::idgraph_support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use chrono::Utc;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::lab::faults::{Storm, Surface};
use idgraph_support::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn public_aud() -> String {
    format!("https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token")
}

#[derive(Clone, Copy)]
enum Thumb {
    Sha1,
    Sha256,
    None,
}

struct AssertionSpec {
    alg: Algorithm,
    thumb: Thumb,
    aud: String,
    iss: String,
    exp_in: i64,
    nbf_in: i64,
}

impl Default for AssertionSpec {
    fn default() -> Self {
        AssertionSpec {
            alg: Algorithm::RS256,
            thumb: Thumb::Sha1,
            aud: public_aud(),
            iss: CLIENT_ID.into(),
            exp_in: 600,
            nbf_in: 0,
        }
    }
}

fn assertion(cert: &ClientCertificate, spec: AssertionSpec) -> String {
    let mut header = Header::new(spec.alg);
    header.typ = Some("JWT".into());
    match spec.thumb {
        Thumb::Sha1 => header.x5t = Some(cert.x5t()),
        Thumb::Sha256 => header.x5t_s256 = Some(cert.x5t_s256()),
        Thumb::None => {}
    }
    let now = Utc::now().timestamp();
    let claims = json!({
        "aud": spec.aud,
        "iss": spec.iss,
        "sub": spec.iss,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now + spec.nbf_in,
        "iat": now + spec.nbf_in,
        "exp": now + spec.exp_in,
    });
    let key = EncodingKey::from_rsa_pem(cert.private_key_pem().expose().as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn assertion_request(fx: &Fixture, jwt: &str) -> Reply {
    fx.token_request(
        TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", jwt),
            ("scope", GRAPH_SCOPE),
        ],
    )
    .await
}

/// Entra's error shape, and the AADSTS code in both places.
fn assert_entra_error(reply: &Reply, status: StatusCode, error: &str, code: u64) {
    assert_eq!(reply.status, status, "{:?}", reply.json);
    let j = &reply.json;
    assert_eq!(j["error"], error, "{j}");
    assert_eq!(j["error_codes"], json!([code]), "{j}");
    let description = j["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(description.contains("Trace ID: "), "{description}");
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(
            j[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} in {j}"
        );
    }
}

fn assert_token(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
    assert_eq!(reply.json["token_type"], "Bearer");
    assert_eq!(reply.json["expires_in"], 3599);
    assert_eq!(reply.json["ext_expires_in"], 3599);
    assert_eq!(reply.headers["cache-control"], "no-store, no-cache");
    reply.json["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn client_secret_in_body_gets_a_token_graph_accepts() {
    let fx = fixture(3);
    let reply = fx
        .token_request(
            TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    let token = assert_token(&reply);
    let devices = fx
        .get("/v1.0/deviceManagement/managedDevices", &token)
        .await;
    assert_eq!(devices.status, StatusCode::OK, "{:?}", devices.json);
    assert_eq!(devices.json["value"].as_array().unwrap().len(), 3);
    assert_eq!(fx.state.counters.token_requests.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn client_secret_in_basic_header_and_domain_tenant_work() {
    let fx = fixture(0);
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode(CLIENT_ID),
        encode(CLIENT_SECRET)
    ));
    let request = Request::post("/contoso.lab/oauth2/v2.0/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(Body::from(format!(
            "grant_type=client_credentials&scope={}",
            enc(GRAPH_SCOPE)
        )))
        .unwrap();
    let reply = fx.send(request).await;
    assert_token(&reply);
}

#[tokio::test]
async fn bad_secret_unknown_app_scope_grant_and_tenant_errors_have_entras_shape() {
    let fx = fixture(0);
    let base = |client: &'static str, secret: &'static str, scope: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", scope),
        ]
    };
    let reply = fx
        .token_request(TENANT_ID, &base(CLIENT_ID, "wrong", GRAPH_SCOPE))
        .await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000215);
    assert!(
        !reply.json.to_string().contains(CLIENT_SECRET),
        "the secret must never be echoed"
    );

    let reply = fx
        .token_request(
            TENANT_ID,
            &base("00000000-dead-beef-0000-000000000000", "x", GRAPH_SCOPE),
        )
        .await;
    assert_entra_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );

    let reply = fx
        .token_request(
            TENANT_ID,
            &base(CLIENT_ID, CLIENT_SECRET, "https://example.com/.default"),
        )
        .await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope", 70011);

    let mut form = base(CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE);
    form[0] = ("grant_type", "password");
    let reply = fx.token_request(TENANT_ID, &form).await;
    assert_entra_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    );

    let reply = fx
        .token_request(
            "fabrikam.example",
            &base(CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE),
        )
        .await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 90002);

    let reply = fx
        .graph(
            Method::GET,
            &format!("/{TENANT_ID}/oauth2/v2.0/token"),
            "",
            None,
        )
        .await;
    assert_entra_error(
        &reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        900561,
    );

    // The correlation id echoes the caller's client-request-id, as Entra does for MSAL.
    let request = Request::post(format!("/{TENANT_ID}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("client-request-id", "corr-123")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let reply = fx.send(request).await;
    assert_eq!(reply.json["correlation_id"], "corr-123");
    assert_eq!(reply.json["error_codes"], json!([900144]));
}

#[tokio::test]
async fn exchange_scope_gets_an_exchange_token_graph_refuses() {
    let fx = fixture(1);
    let reply = fx
        .token_request(
            TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", "https://outlook.office365.com/.default"),
            ],
        )
        .await;
    let token = assert_token(&reply);
    let devices = fx
        .get("/v1.0/deviceManagement/managedDevices", &token)
        .await;
    assert_eq!(devices.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        devices.json["error"]["message"],
        "Access token validation failure. Invalid audience."
    );
}

#[tokio::test]
async fn certificate_assertion_rs256_with_x5t_and_ps256_with_x5t_s256_get_tokens() {
    let fx = fixture(2);
    let jwt = assertion(certificate(), AssertionSpec::default());
    let token = assert_token(&assertion_request(&fx, &jwt).await);
    let devices = fx
        .get("/v1.0/deviceManagement/managedDevices", &token)
        .await;
    assert_eq!(devices.status, StatusCode::OK);

    let jwt = assertion(
        certificate(),
        AssertionSpec {
            alg: Algorithm::PS256,
            thumb: Thumb::Sha256,
            // The lab's own token endpoint is a valid audience too.
            aud: format!("{LOGIN_BASE}/{TENANT_ID}/oauth2/v2.0/token"),
            ..AssertionSpec::default()
        },
    );
    assert_token(&assertion_request(&fx, &jwt).await);

    // NumericDates with a fraction, as MSAL for Python sends them.
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(certificate().x5t());
    let now = Utc::now().timestamp() as f64 + 0.25;
    let jwt = jsonwebtoken::encode(
        &header,
        &json!({"aud": public_aud(), "iss": CLIENT_ID, "sub": CLIENT_ID, "nbf": now, "iat": now, "exp": now + 600.5}),
        &EncodingKey::from_rsa_pem(certificate().private_key_pem().expose().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_token(&assertion_request(&fx, &jwt).await);

    // No thumbprint header: every registered certificate is tried. No client_id: taken from `iss`.
    let jwt = assertion(
        certificate(),
        AssertionSpec {
            thumb: Thumb::None,
            ..AssertionSpec::default()
        },
    );
    let reply = fx
        .token_request(
            TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &jwt),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_token(&reply);
}

#[tokio::test]
async fn tampered_foreign_expired_and_misaddressed_assertions_are_refused() {
    let fx = fixture(0);

    // Tampered: the payload changed after signing.
    let jwt = assertion(certificate(), AssertionSpec::default());
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    parts[1] = b64.encode(claims.to_string());
    let reply = assertion_request(&fx, &parts.join(".")).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    assert!(
        reply.json["error_description"]
            .as_str()
            .unwrap()
            .contains("signature validation")
    );

    // Signed by a certificate the app does not have.
    let jwt = assertion(stranger_certificate(), AssertionSpec::default());
    let reply = assertion_request(&fx, &jwt).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    assert!(
        reply.json["error_description"]
            .as_str()
            .unwrap()
            .contains(&stranger_certificate().sha1_thumbprint_hex())
    );

    // Signed by a stranger but claiming the registered certificate's thumbprint.
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(certificate().x5t());
    let now = Utc::now().timestamp();
    let forged = jsonwebtoken::encode(
        &header,
        &json!({"aud": public_aud(), "iss": CLIENT_ID, "sub": CLIENT_ID, "nbf": now, "exp": now + 600}),
        &EncodingKey::from_rsa_pem(stranger_certificate().private_key_pem().expose().as_bytes())
            .unwrap(),
    )
    .unwrap();
    let reply = assertion_request(&fx, &forged).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700027);

    // Expired.
    let jwt = assertion(
        certificate(),
        AssertionSpec {
            exp_in: -60,
            nbf_in: -660,
            ..AssertionSpec::default()
        },
    );
    let reply = assertion_request(&fx, &jwt).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700024);

    // Not yet valid (beyond the allowed skew).
    let jwt = assertion(
        certificate(),
        AssertionSpec {
            nbf_in: 3600,
            exp_in: 4200,
            ..AssertionSpec::default()
        },
    );
    let reply = assertion_request(&fx, &jwt).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700024);

    // Addressed to another token endpoint.
    let jwt = assertion(
        certificate(),
        AssertionSpec {
            aud: "https://login.microsoftonline.com/other-tenant/oauth2/v2.0/token".into(),
            ..AssertionSpec::default()
        },
    );
    let reply = assertion_request(&fx, &jwt).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 50013);

    // Issued by another app.
    let jwt = assertion(
        certificate(),
        AssertionSpec {
            iss: LIMITED_CLIENT_ID.into(),
            ..AssertionSpec::default()
        },
    );
    let reply = assertion_request(&fx, &jwt).await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 700021);

    // Neither secret nor assertion.
    let reply = fx
        .token_request(
            TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_entra_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client", 7000218);
}

#[tokio::test]
async fn token_storm_answers_429_with_retry_after_then_recovers() {
    let fx = fixture(0);
    fx.state.faults().storms.push(Storm {
        surface: Surface::Token,
        status: 429,
        remaining: 2,
        retry_after_seconds: 7,
    });
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scope", GRAPH_SCOPE),
    ];
    for _ in 0..2 {
        let reply = fx.token_request(TENANT_ID, &form).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.headers["retry-after"], "7");
        assert!(reply.json["error_codes"].is_array());
    }
    assert_token(&fx.token_request(TENANT_ID, &form).await);
    assert_eq!(fx.state.counters.token_requests.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn openid_configuration_points_at_the_lab() {
    let fx = fixture(0);
    for path in [
        format!("/{TENANT_ID}/v2.0/.well-known/openid-configuration"),
        "/contoso.lab/v2.0/.well-known/openid-configuration".to_string(),
    ] {
        let reply = fx.graph(Method::GET, &path, "", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let j = &reply.json;
        assert_eq!(
            j["token_endpoint"],
            format!("{LOGIN_BASE}/{TENANT_ID}/oauth2/v2.0/token")
        );
        assert_eq!(j["issuer"], format!("{LOGIN_BASE}/{TENANT_ID}/v2.0"));
        assert_eq!(
            j["authorization_endpoint"],
            format!("{LOGIN_BASE}/{TENANT_ID}/oauth2/v2.0/authorize")
        );
        let jwks = j["jwks_uri"].as_str().unwrap().to_string();
        let keys = fx.graph(Method::GET, &jwks, "", None).await;
        assert_eq!(keys.status, StatusCode::OK);
        assert!(keys.json["keys"].is_array());
    }
    let v1 = fx
        .graph(
            Method::GET,
            &format!("/{TENANT_ID}/.well-known/openid-configuration"),
            "",
            None,
        )
        .await;
    assert_eq!(
        v1.json["token_endpoint"],
        format!("{LOGIN_BASE}/{TENANT_ID}/oauth2/token")
    );

    let unknown = fx
        .graph(
            Method::GET,
            "/nowhere.example/v2.0/.well-known/openid-configuration",
            "",
            None,
        )
        .await;
    assert_entra_error(&unknown, StatusCode::BAD_REQUEST, "invalid_request", 90002);

    let authorize = format!("{LOGIN_BASE}/{TENANT_ID}/oauth2/v2.0/authorize");
    let discovery = fx
        .graph(
            Method::GET,
            &format!(
                "/common/discovery/instance?api-version=1.1&authorization_endpoint={}",
                enc(&authorize)
            ),
            "",
            None,
        )
        .await;
    assert_eq!(discovery.status, StatusCode::OK);
    assert_eq!(
        discovery.json["tenant_discovery_endpoint"],
        format!("{LOGIN_BASE}/{TENANT_ID}/v2.0/.well-known/openid-configuration")
    );
    assert_eq!(
        discovery.json["metadata"][0]["aliases"][0],
        "127.0.0.1:4443"
    );
}

#[tokio::test]
async fn v1_token_endpoint_takes_a_resource() {
    let fx = fixture(1);
    let body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={}&resource={}",
        enc(CLIENT_SECRET),
        enc("https://graph.microsoft.com")
    );
    let request = Request::post(format!("/{TENANT_ID}/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let reply = fx.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
    assert_eq!(reply.json["expires_in"], "3599");
    assert_eq!(reply.json["resource"], "https://graph.microsoft.com");
    let token = reply.json["access_token"].as_str().unwrap();
    let devices = fx.get("/v1.0/deviceManagement/managedDevices", token).await;
    assert_eq!(devices.status, StatusCode::OK);
}

use crate::common;

/// Over loopback HTTPS against the running lab: both flows with the lab's own credentials files, an
/// Entra-shaped refusal, and the crate's own token client.
#[tokio::test]
async fn https_token_flows_against_the_running_lab() {
    use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
    use exchange_connector::secret::Secret;
    use std::sync::Arc;

    let lab = common::small_lab().await;
    let e = lab.endpoints.clone();
    let http = common::client(&e.ca_cert_pem);
    let token_url = format!("{}/{}/oauth2/v2.0/token", e.login_base, e.tenant_id);
    let graph_scope = format!("{}/.default", e.graph_base);

    let reply = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", e.client_secret.as_str()),
            ("scope", graph_scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();
    let devices = http
        .get(format!(
            "{}/v1.0/deviceManagement/managedDevices",
            e.graph_base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(devices.status(), 200);

    let reply = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", "not-the-secret"),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([7000215]));

    // The certificate from the lab's PFX signs an assertion addressed to the lab's token endpoint.
    let pfx = std::fs::read(&e.client_certificate_pfx).unwrap();
    let cert =
        ClientCertificate::from_pfx(&pfx, &Secret::new(e.client_certificate_password.clone()))
            .unwrap();
    let jwt = assertion(
        &cert,
        AssertionSpec {
            aud: token_url.clone(),
            iss: e.client_id.clone(),
            ..AssertionSpec::default()
        },
    );
    let reply = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", jwt.as_str()),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{:?}", reply.text().await);

    // The connector's own token client, with the certificate and with the secret.
    for credential in [
        ClientCredential::Certificate(Arc::new(cert)),
        ClientCredential::Secret(Secret::new(e.client_secret.clone())),
    ] {
        let config = OAuthConfig::new(&e.login_base, &e.tenant_id, &e.client_id, credential);
        let client = TokenClient::new(config, http.clone());
        let token = client.token(GRAPH_SCOPE).await.unwrap();
        assert!(!token.expose().is_empty());
    }

    let openid: Value = http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            e.login_base, e.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openid["token_endpoint"], token_url);
    assert!(lab.state.counters.token_requests.load(Ordering::Relaxed) >= 5);
    lab.shutdown().await;
}
