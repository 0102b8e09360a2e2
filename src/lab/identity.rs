//! The simulated Entra ID: the v2.0 (and v1) token endpoint for the client-credentials grant, with a
//! client secret (form body or HTTP Basic) or a certificate-signed client assertion, and the OpenID
//! discovery documents Microsoft's MSAL libraries read before they ask for a token.
//!
//! Errors have Entra's shape (`error`, `error_description` with the `AADSTS` code, `error_codes`,
//! `timestamp`, `trace_id`, `correlation_id`) so clients' error handling is exercised as against Entra.

use super::LabState;
use super::faults::Surface;
use super::tokens::{self, Resource};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};
use sha1::Digest as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The `client_assertion_type` of a certificate credential.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The public Entra login host; assertions addressed to it are accepted as well as the lab's own URL.
const PUBLIC_LOGIN_BASE: &str = "https://login.microsoftonline.com";

/// Routes of this surface: token endpoints (v2.0 and v1), OpenID configuration (v2.0 and v1), the JWKS
/// and MSAL's instance discovery.
pub fn router() -> Router<Arc<LabState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2).get(token_get))
        .route("/{tenant}/oauth2/token", post(token_v1).get(token_get))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_v2),
        )
        .route("/{tenant}/.well-known/openid-configuration", get(openid_v1))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/discovery/keys", get(keys))
        .route("/common/discovery/instance", get(instance_discovery))
        .merge(super::sign_in::router())
}

/// An Entra error: HTTP status, OAuth `error`, AADSTS code and message (without the trailer Entra adds).
#[derive(Debug)]
pub(super) struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

impl EntraError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        EntraError {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// Renders the error as Entra does, echoing the caller's `client-request-id` as correlation id.
    pub(super) fn into_response(self, headers: &HeaderMap) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = client_request_id(headers);
        let now = Utc::now();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{PUBLIC_LOGIN_BASE}/error?code={}", self.code),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(&mut response, &trace_id, &correlation_id);
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 for client authentication carries a challenge.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"lab\""),
            );
        }
        response
    }
}

/// The caller's `client-request-id` (MSAL sends one), or a new id.
fn client_request_id(headers: &HeaderMap) -> String {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Token responses must not be cached; Entra also returns its request ids as headers.
fn no_store(response: &mut Response, trace_id: &str, correlation_id: &str) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(trace_id) {
        headers.insert("x-ms-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        headers.insert("client-request-id", v);
    }
}

/// Resolves the tenant path segment (tenant id or a verified domain) to the tenant id.
pub(super) fn resolve_tenant(state: &LabState, segment: &str) -> Result<String, EntraError> {
    let tenant_id = state.tenant().tenant_id.clone();
    if segment.eq_ignore_ascii_case(&tenant_id) {
        return Ok(tenant_id);
    }
    // A verified domain: the organisation's, or the domain of any user's UPN.
    let known_domain = !segment.is_empty()
        && (state.org().domain.eq_ignore_ascii_case(segment)
            || state.tenant().users.iter().any(|u| {
                u.user_principal_name
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(segment))
            }));
    if known_domain {
        return Ok(tenant_id);
    }
    Err(tenant_not_found(segment))
}

fn tenant_not_found(segment: &str) -> EntraError {
    EntraError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
        format!(
            "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

/// Which token endpoint was called: v2.0 takes `scope`, v1 takes `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointVersion {
    V2,
    V1,
}

async fn token_v2(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(&state, &tenant, &headers, &body, EndpointVersion::V2)
}

/// A GET on the token endpoint: Entra answers 405 with AADSTS900561.
async fn token_get(headers: HeaderMap) -> Response {
    EntraError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        900561,
        "The endpoint only accepts POST requests. Received a GET request.",
    )
    .into_response(&headers)
}

async fn token_v1(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(&state, &tenant, &headers, &body, EndpointVersion::V1)
}

fn token(
    state: &LabState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    version: EndpointVersion,
) -> Response {
    state
        .counters
        .token_requests
        .fetch_add(1, Ordering::Relaxed);
    let storm = state.faults().take_storm(Surface::Token);
    if let Some((status, retry_after)) = storm {
        return storm_response(status, retry_after, headers);
    }
    match issue(state, tenant, headers, body, version) {
        Ok(body) => {
            let mut response = (StatusCode::OK, axum::Json(body)).into_response();
            let trace_id = uuid::Uuid::new_v4().to_string();
            no_store(&mut response, &trace_id, &client_request_id(headers));
            response
        }
        Err(e) => e.into_response(headers),
    }
}

/// A storm on the token endpoint: Entra's throttling answer (429) or an outage (5xx).
fn storm_response(status: u16, retry_after: u32, headers: &HeaderMap) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let error = if status == StatusCode::TOO_MANY_REQUESTS {
        EntraError::new(
            status,
            "temporarily_unavailable",
            50196,
            "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.",
        )
    } else {
        EntraError::new(
            status,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        )
    };
    let mut response = error.into_response(headers);
    if retry_after > 0 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    response
}

/// Runs the client-credentials grant; returns the success body.
fn issue(
    state: &LabState,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    version: EndpointVersion,
) -> Result<Value, EntraError> {
    let tenant_id = resolve_tenant(state, tenant_segment)?;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());

    let grant_type = param("grant_type").ok_or_else(|| missing_parameter("grant_type"))?;
    // The interactive grants of an admin's sign-in (onboarding) live in `sign_in`.
    if version == EndpointVersion::V2 {
        match grant_type {
            super::sign_in::DEVICE_CODE_GRANT => {
                return super::sign_in::redeem_device_code(state, &form);
            }
            "authorization_code" => return super::sign_in::redeem_authorization_code(state, &form),
            _ => {}
        }
    }
    if grant_type != "client_credentials" {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }

    let basic = basic_credentials(headers);
    let assertion = param("client_assertion");
    // The client id comes from the body, the Basic header, or (assertion only) the assertion's `iss`.
    let client_id = param("client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .or_else(|| assertion.and_then(unverified_issuer))
        .ok_or_else(|| missing_parameter("client_id"))?;

    let known = state.tenant().app(&client_id).cloned();
    let Some(app) = known else {
        let tenant_name = state.tenant().display_name.clone();
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };

    let secret = param("client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|(_, secret)| secret));
    match (secret, assertion) {
        (Some(secret), _) => {
            let matches = app
                .client_secret
                .as_ref()
                .is_some_and(|s| constant_time_eq(s.expose().as_bytes(), secret.as_bytes()));
            if !matches {
                return Err(EntraError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                        app.client_id
                    ),
                ));
            }
        }
        (None, Some(assertion)) => {
            let assertion_type = param("client_assertion_type").unwrap_or_default();
            if assertion_type != JWT_BEARER_ASSERTION_TYPE {
                return Err(EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    700025,
                    format!(
                        "Client assertion type '{assertion_type}' is not supported. Use '{JWT_BEARER_ASSERTION_TYPE}'."
                    ),
                ));
            }
            let urls = state.urls();
            let audiences = accepted_audiences(&urls.login_base, tenant_segment, &tenant_id);
            verify_assertion(assertion, &app.client_id, &app.certificates, &audiences)?;
        }
        (None, None) => {
            return Err(EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    }

    let resource = match version {
        EndpointVersion::V2 => {
            let scope = param("scope").ok_or_else(|| {
                invalid_scope("The provided request must include a 'scope' input parameter.".into())
            })?;
            // OpenID scopes may accompany the resource scope; exactly one `/.default` is allowed.
            let resource_scopes: Vec<&str> = scope
                .split_whitespace()
                .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"))
                .collect();
            match resource_scopes.as_slice() {
                [one] => Resource::from_scope(one, state).ok_or_else(|| {
                    invalid_scope(format!(
                        "The provided value for the input parameter 'scope' is not valid. The scope {one} is not valid."
                    ))
                })?,
                _ => {
                    return Err(invalid_scope(format!(
                        "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                    )));
                }
            }
        }
        EndpointVersion::V1 => {
            let resource = param("resource").ok_or_else(|| missing_parameter("resource"))?;
            let scope = format!("{}/.default", resource.trim_end_matches('/'));
            Resource::from_scope(&scope, state).ok_or_else(|| {
                EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_resource",
                    500011,
                    format!(
                        "The resource principal named {resource} was not found in the tenant named {tenant_id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
                    ),
                )
            })?
        }
    };

    let (access_token, lifetime) =
        tokens::mint(state, &app.client_id, resource).ok_or_else(transient_error)?;
    Ok(match version {
        EndpointVersion::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }),
        EndpointVersion::V1 => {
            let now = Utc::now().timestamp();
            json!({
                "token_type": "Bearer",
                "expires_in": lifetime.to_string(),
                "ext_expires_in": lifetime.to_string(),
                "expires_on": (now + lifetime as i64).to_string(),
                "not_before": (now - 60).to_string(),
                "resource": resource.audience(),
                "access_token": access_token,
            })
        }
    })
}

/// Entra's answer when it cannot issue a token right now.
pub(super) fn transient_error() -> EntraError {
    EntraError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        90033,
        "A transient error has occurred. Please try again.",
    )
}

pub(super) fn missing_parameter(name: &str) -> EntraError {
    EntraError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn invalid_scope(message: String) -> EntraError {
    EntraError::new(StatusCode::BAD_REQUEST, "invalid_scope", 70011, message)
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    Some((unescape(id), unescape(secret)))
}

/// Compares secrets without an early exit, so timing says nothing about how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `iss` of an assertion, read without verification, only to find the app when `client_id` is absent.
fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// Token endpoint URLs an assertion may be addressed to: the public Entra host and the lab's own base,
/// with the tenant as called or as its id, v2.0 or v1 endpoint.
fn accepted_audiences(login_base: &str, tenant_segment: &str, tenant_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut bases = vec![PUBLIC_LOGIN_BASE.to_string()];
    if !login_base.is_empty() {
        bases.push(login_base.trim_end_matches('/').to_string());
    }
    for base in &bases {
        for tenant in [tenant_segment, tenant_id] {
            out.push(format!("{base}/{tenant}/oauth2/v2.0/token"));
            out.push(format!("{base}/{tenant}/oauth2/token"));
        }
    }
    out
}

fn assertion_error(code: u32, message: impl Into<String>) -> EntraError {
    EntraError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
}

/// Verifies a client assertion: signed (RS256 or PS256) by one of the app's registered certificates,
/// addressed to this token endpoint, issued by and about the app, and within its validity.
fn verify_assertion(
    assertion: &str,
    client_id: &str,
    certificates: &[Vec<u8>],
    audiences: &[String],
) -> Result<(), EntraError> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let malformed = || {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(assertion_error(
            700027,
            format!(
                "Client assertion failed signature validation. [Reason - The signing algorithm '{:?}' is not supported; use RS256 or PS256.]",
                header.alg
            ),
        ));
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sha1_of = |der: &Vec<u8>| b64.encode(sha1::Sha1::digest(der));
    let sha256_of = |der: &Vec<u8>| b64.encode(sha2::Sha256::digest(der));
    // The thumbprint headers pick the certificate; without them, every registered one is tried.
    let candidates: Vec<&Vec<u8>> = certificates
        .iter()
        .filter(|der| {
            header
                .x5t_s256
                .as_deref()
                .is_none_or(|t| t.trim_end_matches('=') == sha256_of(der))
                && header
                    .x5t
                    .as_deref()
                    .is_none_or(|t| t.trim_end_matches('=') == sha1_of(der))
        })
        .collect();
    if candidates.is_empty() {
        let thumbprint = header
            .x5t
            .as_deref()
            .and_then(|t| b64.decode(t.trim_end_matches('=')).ok())
            .map(|bytes| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>())
            .unwrap_or_default();
        return Err(assertion_error(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']"
            ),
        ));
    }
    let mut validation = Validation::new(header.alg);
    // Times and audience are checked below, to answer with Entra's specific codes.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = candidates
        .iter()
        .find_map(|der| {
            let pem = crate::certificate::pem_encode("CERTIFICATE", der);
            let key = DecodingKey::from_rsa_pem(pem.as_bytes()).ok()?;
            jsonwebtoken::decode::<Value>(assertion, &key, &validation)
                .ok()
                .map(|data| data.claims)
        })
        .ok_or_else(|| assertion_error(700027, "Client assertion failed signature validation."))?;

    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    if !text("iss").eq_ignore_ascii_case(client_id) || !text("sub").eq_ignore_ascii_case(client_id)
    {
        return Err(assertion_error(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
        ));
    }
    let aud: Vec<String> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let aud_ok = aud.iter().any(|a| {
        audiences
            .iter()
            .any(|ok| ok.eq_ignore_ascii_case(a.trim_end_matches('/')))
    });
    if !aud_ok {
        return Err(assertion_error(
            50013,
            format!(
                "Assertion audience claim does not match the required value. The audience in the assertion was '{}' and the expected audience is '{}'.",
                aud.join(","),
                audiences.first().map(String::as_str).unwrap_or_default()
            ),
        ));
    }
    let now = Utc::now().timestamp();
    // RFC 7519 NumericDate may have a fraction (MSAL for Python sends floats).
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .map(|t| t.floor() as i64)
    };
    let exp = number("exp");
    let nbf = number("nbf");
    // Entra allows a few minutes of clock skew on `nbf`; expiry is strict.
    const SKEW: i64 = 300;
    let expired = exp.is_none_or(|exp| exp <= now);
    let not_yet = nbf.is_some_and(|nbf| nbf > now + SKEW);
    if expired || not_yet {
        let fmt = |t: Option<i64>| {
            t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.format("%m/%d/%Y %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        return Err(assertion_error(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
                Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                fmt(nbf),
                fmt(exp)
            ),
        ));
    }
    Ok(())
}

/// Query of MSAL's instance discovery.
#[derive(Debug, serde::Deserialize)]
struct InstanceQuery {
    authorization_endpoint: Option<String>,
}

/// `GET /common/discovery/instance`: where the tenant's OpenID configuration is.
async fn instance_discovery(
    State(state): State<Arc<LabState>>,
    Query(query): Query<InstanceQuery>,
) -> Response {
    let urls = state.urls();
    let base = urls.login_base.trim_end_matches('/').to_string();
    let host = url::Url::parse(&base)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map(|p| format!("{h}:{p}"))
                    .unwrap_or_else(|| h.to_string())
            })
        })
        .unwrap_or_default();
    // The tenant is the first path segment of the authorization endpoint MSAL was configured with.
    let tenant = query
        .authorization_endpoint
        .as_deref()
        .and_then(|e| url::Url::parse(e).ok())
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_string))
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| state.tenant().tenant_id.clone());
    let body = json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    });
    axum::Json(body).into_response()
}

async fn openid_v2(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    openid(&state, &tenant, &headers, EndpointVersion::V2)
}

async fn openid_v1(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    openid(&state, &tenant, &headers, EndpointVersion::V1)
}

/// The OpenID provider configuration, with every endpoint on the lab's login base.
fn openid(
    state: &LabState,
    tenant: &str,
    headers: &HeaderMap,
    version: EndpointVersion,
) -> Response {
    let tid = match resolve_tenant(state, tenant) {
        Ok(tid) => tid,
        Err(e) => return e.into_response(headers),
    };
    let urls = state.urls();
    let base = format!("{}/{tid}", urls.login_base.trim_end_matches('/'));
    let (oauth, issuer, jwks) = match version {
        EndpointVersion::V2 => (
            format!("{base}/oauth2/v2.0"),
            format!("{base}/v2.0"),
            format!("{base}/discovery/v2.0/keys"),
        ),
        EndpointVersion::V1 => (
            format!("{base}/oauth2"),
            format!("{base}/"),
            format!("{base}/discovery/keys"),
        ),
    };
    let body = json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": jwks,
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{}/oidc/userinfo", urls.graph_base.trim_end_matches('/')),
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{oauth}/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid", "roles"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    axum::Json(body).into_response()
}

/// The signing keys. The lab's access tokens are HMAC-signed and opaque to clients, so the set is empty.
async fn keys() -> Response {
    axum::Json(json!({ "keys": [] })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("app%3A1:s%2Bcret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("app:1".to_string(), "s+cret".to_string()))
        );
    }

    #[test]
    fn audiences_include_public_and_lab_hosts() {
        let a = accepted_audiences("https://127.0.0.1:9/", "contoso.lab", "tid");
        assert!(a.contains(&"https://login.microsoftonline.com/tid/oauth2/v2.0/token".to_string()));
        assert!(a.contains(&"https://127.0.0.1:9/contoso.lab/oauth2/v2.0/token".to_string()));
    }
}
