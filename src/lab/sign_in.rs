//! An admin's interactive sign-in, as the connector's onboarding does it: the device authorization
//! grant (RFC 8628; Entra: `POST /{tenant}/oauth2/v2.0/devicecode`, then polling the token endpoint with
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` — entra-docs
//! `identity-platform/v2-oauth2-device-code.md`) and the authorization code grant with PKCE (RFC 7636,
//! `code_challenge_method=S256`) through a consent page and a loopback redirect.
//!
//! Where a person would type the code or click on the consent page, tests use the control API
//! (`/control/sign-in/...`, [`control_router`]) or post the page's form: both say who signs in and with
//! which directory role ([`AdminRole`]), or that the user declines.
//!
//! Tokens issued here are delegated: `scp` holds the permissions, and the admin's role rides along so
//! the Graph surface can refuse what the role may not do (`Authorization_RequestDenied`).

use super::LabState;
use super::directory::{
    AdminRole, AuthorizationCode, DeviceCodeRequest, PendingAuthorization, SignedInAdmin,
};
use super::identity::{EntraError, missing_parameter, resolve_tenant, transient_error};
use super::tokens::{self, Resource};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// `grant_type` of the device-code token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Delegated permissions a `/.default` sign-in of the public client receives.
const DEFAULT_DELEGATED: &str = "Application.ReadWrite.All AppRoleAssignment.ReadWrite.All";

/// Routes on the login host: the device authorization endpoint, the authorize endpoint and its
/// consent page.
pub fn router() -> Router<Arc<LabState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/authorize/consent", post(consent))
        .route("/devicelogin", get(device_login_page))
}

fn form_of(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The resource and the delegated permissions of a requested `scope` (OpenID scopes aside). Every
/// resource scope must name the same resource.
fn delegated_scopes(state: &LabState, scope: &str) -> Result<(Resource, String), EntraError> {
    let mut resource = None;
    let mut permissions = Vec::new();
    for item in scope.split_whitespace() {
        if matches!(item, "openid" | "profile" | "offline_access" | "email") {
            continue;
        }
        let (base, permission) = item.rsplit_once('/').ok_or_else(|| invalid_scope(item))?;
        let this = Resource::from_scope(&format!("{base}/.default"), state)
            .ok_or_else(|| invalid_scope(item))?;
        if resource.is_some_and(|r| r != this) {
            return Err(invalid_scope(scope));
        }
        resource = Some(this);
        if permission == ".default" {
            permissions.extend(DEFAULT_DELEGATED.split_whitespace().map(str::to_string));
        } else {
            permissions.push(permission.to_string());
        }
    }
    let resource = resource.ok_or_else(|| invalid_scope(scope))?;
    Ok((resource, permissions.join(" ")))
}

fn invalid_scope(scope: &str) -> EntraError {
    EntraError::new(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
        format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        ),
    )
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
async fn device_code(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start_device_code(&state, &tenant, &body) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(&headers),
    }
}

fn start_device_code(state: &LabState, tenant: &str, body: &[u8]) -> Result<Value, EntraError> {
    resolve_tenant(state, tenant)?;
    let form = form_of(body);
    let client_id = form
        .get("client_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing_parameter("client_id"))?;
    let scope = form
        .get("scope")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing_parameter("scope"))?;
    delegated_scopes(state, scope)?;
    let user_code = user_code();
    let device_code = format!(
        "DAQABAAEAAA{}",
        uuid::Uuid::new_v4().simple().to_string().to_uppercase()
    );
    let verification_uri = format!(
        "{}/devicelogin",
        state.urls().login_base.trim_end_matches('/')
    );
    let mut directory = state.directory();
    let lifetime = directory.device_code_lifetime_seconds;
    let interval = directory.poll_interval_seconds;
    directory.device_codes.push(DeviceCodeRequest {
        device_code: device_code.clone(),
        user_code: user_code.clone(),
        client_id: client_id.clone(),
        scope: scope.clone(),
        expires_at: Utc::now() + Duration::seconds(lifetime as i64),
        approved: None,
        declined: false,
        last_poll: None,
    });
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": lifetime,
        "interval": interval,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
    }))
}

/// Nine upper-case letters and digits, as Entra's user codes look.
fn user_code() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..9)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The token request of the device-code grant: pending, slowed down, declined, expired, or a token.
pub(super) fn redeem_device_code(
    state: &LabState,
    form: &HashMap<String, String>,
) -> Result<Value, EntraError> {
    let code = form
        .get("device_code")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing_parameter("device_code"))?;
    let (client_id, scope, admin) = {
        let mut directory = state.directory();
        let interval = directory.poll_interval_seconds;
        let Some(request) = directory
            .device_codes
            .iter_mut()
            .find(|r| &r.device_code == code)
        else {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "bad_verification_code",
                70019,
                "The provided value for the input parameter 'device_code' is not valid.",
            ));
        };
        if form
            .get("client_id")
            .is_some_and(|c| c != &request.client_id)
        {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70000,
                "The provided value for the 'client_id' does not match the device code's.",
            ));
        }
        if Utc::now() >= request.expires_at {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ));
        }
        if request.declined {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "authorization_declined",
                70000,
                "The user declined the authorization request.",
            ));
        }
        let too_soon = request
            .last_poll
            .is_some_and(|last| last.elapsed().as_secs() < interval);
        request.last_poll = Some(Instant::now());
        let Some(admin) = request.approved.clone() else {
            return Err(if too_soon {
                EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "slow_down",
                    70016,
                    "The client polls faster than the interval; wait longer between requests.",
                )
            } else {
                EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    70016,
                    "The provided request has not yet been authorized by the user. The user must input their code.",
                )
            });
        };
        let taken = (request.client_id.clone(), request.scope.clone(), admin);
        // A device code is redeemed once.
        directory.device_codes.retain(|r| &r.device_code != code);
        taken
    };
    delegated_token(state, &client_id, &scope, &admin)
}

fn delegated_token(
    state: &LabState,
    client_id: &str,
    scope: &str,
    admin: &SignedInAdmin,
) -> Result<Value, EntraError> {
    let (resource, scp) = delegated_scopes(state, scope)?;
    let (access_token, lifetime) = tokens::mint_delegated(state, client_id, resource, &scp, admin)
        .ok_or_else(transient_error)?;
    Ok(json!({
        "token_type": "Bearer",
        "scope": scp,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
}

/// Query of the authorize endpoint.
#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// Whether a redirect URI is a loopback one (`http://localhost:<any port>` or `http://127.0.0.1`),
/// which Entra accepts on any port for public clients.
fn is_loopback(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
    })
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: the sign-in and consent page.
async fn authorize(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let page = (|| -> Result<String, EntraError> {
        resolve_tenant(&state, &tenant)?;
        let client_id = query
            .client_id
            .clone()
            .ok_or_else(|| missing_parameter("client_id"))?;
        if query.response_type.as_deref() != Some("code") {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                700054,
                "response_type must be 'code'.",
            ));
        }
        let redirect_uri = query
            .redirect_uri
            .clone()
            .ok_or_else(|| missing_parameter("redirect_uri"))?;
        if !is_loopback(&redirect_uri) {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50011,
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
                ),
            ));
        }
        let scope = query
            .scope
            .clone()
            .ok_or_else(|| missing_parameter("scope"))?;
        delegated_scopes(&state, &scope)?;
        let challenge = query
            .code_challenge
            .clone()
            .ok_or_else(|| missing_parameter("code_challenge"))?;
        if query.code_challenge_method.as_deref() != Some("S256") {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                501491,
                "The lab requires code_challenge_method=S256.",
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        state.directory().authorizations.push(PendingAuthorization {
            id: id.clone(),
            client_id: client_id.clone(),
            redirect_uri,
            scope: scope.clone(),
            state: query.state.clone(),
            code_challenge: challenge,
        });
        Ok(consent_page(&tenant, &id, &client_id, &scope))
    })();
    match page {
        Ok(html) => Html(html).into_response(),
        Err(e) => e.into_response(&headers),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page a person would see: who signs in, with which role, and whether they accept.
fn consent_page(tenant: &str, id: &str, client_id: &str, scope: &str) -> String {
    let roles = AdminRole::ALL
        .iter()
        .map(|r| format!("<option>{}</option>", r.name()))
        .collect::<String>();
    format!(
        r#"<!doctype html><html><head><title>Sign in (lab)</title></head><body>
<h1>Permissions requested</h1>
<p>App <code>{client}</code> asks for: <code>{scope}</code></p>
<form method="post" action="/{tenant}/oauth2/v2.0/authorize/consent">
<input type="hidden" name="request" value="{id}">
<label>User <input name="user" value="admin@contoso.lab"></label>
<label>Role <select name="role">{roles}</select></label>
<button name="decision" value="accept">Accept</button>
<button name="decision" value="cancel">Cancel</button>
</form></body></html>"#,
        client = escape(client_id),
        scope = escape(scope),
        tenant = escape(tenant),
        id = escape(id),
    )
}

/// `POST .../authorize/consent`: the page's answer, sent back to the loopback redirect URI.
async fn consent(State(state): State<Arc<LabState>>, body: Bytes) -> Response {
    let form = form_of(&body);
    let Some(pending) = form.get("request").and_then(|id| {
        let mut directory = state.directory();
        let index = directory.authorizations.iter().position(|p| &p.id == id)?;
        Some(directory.authorizations.remove(index))
    }) else {
        return (
            StatusCode::BAD_REQUEST,
            "unknown or answered sign-in request",
        )
            .into_response();
    };
    let mut target = match url::Url::parse(&pending.redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect URI").into_response(),
    };
    {
        let mut pairs = target.query_pairs_mut();
        if form.get("decision").map(String::as_str) == Some("accept") {
            let role = form
                .get("role")
                .and_then(|r| AdminRole::parse(r))
                .unwrap_or(AdminRole::User);
            let admin = SignedInAdmin {
                upn: form.get("user").cloned().unwrap_or_default(),
                role,
            };
            let code = format!("1.AQ{}", uuid::Uuid::new_v4().simple());
            state
                .directory()
                .authorization_codes
                .push(AuthorizationCode {
                    code: code.clone(),
                    client_id: pending.client_id.clone(),
                    redirect_uri: pending.redirect_uri.clone(),
                    scope: pending.scope.clone(),
                    code_challenge: pending.code_challenge.clone(),
                    admin,
                    expires_at: Utc::now() + Duration::minutes(10),
                });
            pairs.append_pair("code", &code);
        } else {
            pairs.append_pair("error", "access_denied");
            pairs.append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            );
        }
        if let Some(s) = &pending.state {
            pairs.append_pair("state", s);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

/// The token request of the authorization code grant: the code, its redirect URI, and the PKCE
/// verifier whose S256 hash must equal the challenge of the authorize request.
pub(super) fn redeem_authorization_code(
    state: &LabState,
    form: &HashMap<String, String>,
) -> Result<Value, EntraError> {
    let param = |name: &str| form.get(name).filter(|v| !v.is_empty());
    let code = param("code").ok_or_else(|| missing_parameter("code"))?;
    let verifier = param("code_verifier").ok_or_else(|| missing_parameter("code_verifier"))?;
    let grant = {
        let mut directory = state.directory();
        let index = directory
            .authorization_codes
            .iter()
            .position(|c| &c.code == code);
        // A code is redeemed once, whatever the outcome.
        index.map(|i| directory.authorization_codes.remove(i))
    };
    let invalid_grant = |code: u32, message: &str| {
        EntraError::new(StatusCode::BAD_REQUEST, "invalid_grant", code, message)
    };
    let Some(grant) = grant else {
        return Err(invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        ));
    };
    if Utc::now() >= grant.expires_at {
        return Err(invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        ));
    }
    if param("client_id").is_some_and(|c| c != &grant.client_id)
        || param("redirect_uri").is_none_or(|r| r != &grant.redirect_uri)
    {
        return Err(invalid_grant(
            50148,
            "The redirect_uri or client_id of the token request does not match the authorization request.",
        ));
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != grant.code_challenge {
        return Err(invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    delegated_token(state, &grant.client_id, &grant.scope, &grant.admin)
}

/// `GET /devicelogin`: where a person would type the code; the lab's tests use the control API.
async fn device_login_page() -> Html<&'static str> {
    Html(
        "<!doctype html><html><body><h1>Enter code</h1><p>In the lab, approve a code with <code>POST /control/sign-in/device-codes/approve</code>.</p></body></html>",
    )
}

/// A control request that answers a device code as a person would.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceCodeAnswer {
    user_code: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// Sign-in settings a test may change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInSettings {
    #[serde(default)]
    poll_interval_seconds: Option<u64>,
    #[serde(default)]
    device_code_lifetime_seconds: Option<u64>,
    /// The grant (`appRoleAssignedTo`) after this many more succeeds fails with a 503.
    #[serde(default)]
    fail_grant_after: Option<u32>,
}

/// The control routes under `/control/sign-in`:
///
/// | method and path | does |
/// |---|---|
/// | `GET /device-codes` | pending codes (user code, client, scope) |
/// | `POST /device-codes/approve` `{"userCode","user","role"}` | the person signs in with that role |
/// | `POST /device-codes/deny` `{"userCode"}` | the person declines |
/// | `POST /device-codes/expire` | every pending code expires |
/// | `PUT /settings` `{"pollIntervalSeconds","deviceCodeLifetimeSeconds","failGrantAfter"}` | device-code timing; a grant that fails after N more (rollback tests) |
/// | `GET /directory` | applications, service principals and grants (onboarding's result) |
/// | `POST /admin-consent` `{"clientId","user","role"}` | an admin opened the app's `adminconsent` URL and accepted: every permission of its `requiredResourceAccess` is granted (403 for a role that may not grant) |
pub fn control_router(state: Arc<LabState>) -> Router {
    Router::new()
        .route("/device-codes", get(list_codes))
        .route("/device-codes/approve", post(approve))
        .route("/device-codes/deny", post(deny))
        .route("/device-codes/expire", post(expire))
        .route("/settings", axum::routing::put(settings))
        .route("/directory", get(super::graph_apps::directory_snapshot))
        .route("/admin-consent", post(admin_consent))
        .with_state(state)
}

async fn list_codes(State(state): State<Arc<LabState>>) -> Json<Value> {
    let directory = state.directory();
    Json(Value::Array(
        directory
            .device_codes
            .iter()
            .filter(|r| r.approved.is_none() && !r.declined)
            .map(|r| json!({"userCode": r.user_code, "clientId": r.client_id, "scope": r.scope}))
            .collect(),
    ))
}

fn answer(state: &LabState, user_code: &str, f: impl FnOnce(&mut DeviceCodeRequest)) -> Response {
    let mut directory = state.directory();
    match directory
        .device_codes
        .iter_mut()
        .find(|r| r.user_code.eq_ignore_ascii_case(user_code.trim()))
    {
        Some(request) => {
            f(request);
            (StatusCode::OK, Json(json!({"ok": true}))).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no pending device code {user_code}")})),
        )
            .into_response(),
    }
}

/// The role a control call names (a Global Administrator when it names none), or the 400 answer.
fn role_of(text: Option<&str>) -> Result<AdminRole, Box<Response>> {
    let text = text.unwrap_or("Global Administrator");
    AdminRole::parse(text).ok_or_else(|| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("unknown role {text}")})),
            )
                .into_response(),
        )
    })
}

/// What a person at the browser does on the lab's consent page: opens the authorize `url`, signs in
/// as `user` with `role` and accepts, then follows the redirect to the loopback listener (named by
/// 127.0.0.1, as `localhost` may resolve to another address). For tests and demos.
pub async fn consent_in_browser(
    ca_file: &std::path::Path,
    url: &str,
    user: &str,
    role: &str,
) -> Result<(), String> {
    let text = |e: &dyn std::error::Error| crate::error_text::chain(e);
    let browser = crate::tls::http_client_builder(Some(ca_file))
        .map_err(|e| text(&e))?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| text(&e))?;
    let page = browser
        .get(url)
        .send()
        .await
        .map_err(|e| text(&e))?
        .text()
        .await
        .map_err(|e| text(&e))?;
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("the page has no consent form")?
        .to_string();
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let consent = parsed
        .join("authorize/consent")
        .map_err(|e| e.to_string())?;
    let answer = browser
        .post(consent)
        .form(&[
            ("request", request.as_str()),
            ("user", user),
            ("role", role),
            ("decision", "accept"),
        ])
        .send()
        .await
        .map_err(|e| text(&e))?;
    let location = answer
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| {
            format!(
                "the consent page answered {} without a redirect",
                answer.status()
            )
        })?
        .replace("localhost", "127.0.0.1");
    browser.get(location).send().await.map_err(|e| text(&e))?;
    Ok(())
}

async fn approve(
    State(state): State<Arc<LabState>>,
    Json(body): Json<DeviceCodeAnswer>,
) -> Response {
    let role = match role_of(body.role.as_deref()) {
        Ok(role) => role,
        Err(refusal) => return *refusal,
    };
    let admin = SignedInAdmin {
        upn: body.user.unwrap_or_else(|| "admin@contoso.lab".into()),
        role,
    };
    answer(&state, &body.user_code, |r| r.approved = Some(admin))
}

/// An admin's answer on the `adminconsent` page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminConsentAnswer {
    client_id: String,
    #[serde(default)]
    role: Option<String>,
}

async fn admin_consent(
    State(state): State<Arc<LabState>>,
    Json(body): Json<AdminConsentAnswer>,
) -> Response {
    let role = match role_of(body.role.as_deref()) {
        Ok(role) => role,
        Err(refusal) => return *refusal,
    };
    if !role.may_grant_app_roles() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": format!("a {} may not grant application permissions", role.name())})),
        )
            .into_response();
    }
    let granted = state.directory().grant_required_access(&body.client_id);
    match granted {
        Some(granted) => {
            state.publish_directory();
            (StatusCode::OK, Json(json!({"granted": granted}))).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no application {}", body.client_id)})),
        )
            .into_response(),
    }
}

async fn deny(State(state): State<Arc<LabState>>, Json(body): Json<DeviceCodeAnswer>) -> Response {
    answer(&state, &body.user_code, |r| r.declined = true)
}

async fn expire(State(state): State<Arc<LabState>>) -> Json<Value> {
    let mut directory = state.directory();
    let past = Utc::now() - Duration::seconds(1);
    for r in &mut directory.device_codes {
        r.expires_at = past;
    }
    Json(json!({"expired": directory.device_codes.len()}))
}

async fn settings(
    State(state): State<Arc<LabState>>,
    Json(body): Json<SignInSettings>,
) -> Json<Value> {
    let mut directory = state.directory();
    if let Some(v) = body.poll_interval_seconds {
        directory.poll_interval_seconds = v;
    }
    if let Some(v) = body.device_code_lifetime_seconds {
        directory.device_code_lifetime_seconds = v;
    }
    if body.fail_grant_after.is_some() {
        directory.fail_grant_after = body.fail_grant_after;
    }
    Json(json!({
        "pollIntervalSeconds": directory.poll_interval_seconds,
        "deviceCodeLifetimeSeconds": directory.device_code_lifetime_seconds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_only() {
        assert!(is_loopback("http://localhost:53123/"));
        assert!(is_loopback("http://127.0.0.1:8400/cb"));
        assert!(!is_loopback("https://evil.example/"));
        assert!(!is_loopback("http://localhost.evil.example/"));
    }
}
