//! Graph's app-registration surface, as onboarding uses it: `/applications` (create, list with
//! `$filter` on `tags/any(...)`, `appId` or `displayName`, get with `$select`, `PATCH`, delete,
//! `addKey`/`removeKey` with the proof-of-possession JWT; a key's value only on
//! `GET /applications/{id}?$select=keyCredentials`, and `PATCH` replacing `keyCredentials` whole), `/servicePrincipals` (create, list, get, delete) and app-role assignments
//! (`POST /servicePrincipals/{resource id}/appRoleAssignedTo`, listed from either side).
//!
//! Who may do what follows Entra: managing apps needs the delegated `Application.ReadWrite.All` and an
//! app-managing role; granting application permissions needs `AppRoleAssignment.ReadWrite.All` and a
//! role that may grant them (Global or Privileged Role Administrator); otherwise 403
//! `Authorization_RequestDenied`, "Insufficient privileges to complete the operation." A second service
//! principal for one app and a second identical grant are refused as Entra refuses them.
//! `addKey`/`removeKey` check the proof as microsoft-graph-docs `concepts/application-rollkey-prooftoken.md`
//! describes: signed by one of the app's current certificates, `aud` `00000002-0000-0000-c000-000000000000`,
//! `iss` the application's object id, at most 10 minutes of validity.

use super::LabState;
use super::directory::{Application, Assignment, KeyCredential, ServicePrincipal, new_id};
use super::tokens::{self, AccessClaims, AuthFailure, Resource};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha1::Digest as _;
use std::collections::HashMap;
use std::sync::Arc;

/// The audience of an `addKey`/`removeKey` proof.
pub const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";

/// The routes (v1.0; static segments win over the generic Graph router's catch-all).
pub fn router() -> Router<Arc<LabState>> {
    Router::new()
        .route(
            "/v1.0/applications",
            get(list_applications).post(create_application),
        )
        .route(
            "/v1.0/applications/{id}",
            get(get_application)
                .delete(delete_application)
                .patch(patch_application),
        )
        .route("/v1.0/applications/{id}/addKey", post(add_key))
        .route("/v1.0/applications/{id}/removeKey", post(remove_key))
        .route(
            "/v1.0/servicePrincipals",
            get(list_service_principals).post(create_service_principal),
        )
        .route(
            "/v1.0/servicePrincipals/{id}",
            get(get_service_principal).delete(delete_service_principal),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignedTo",
            get(list_assigned_to).post(assign),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignment}",
            axum::routing::delete(unassign),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignments",
            get(list_assignments_of),
        )
}

/// A Graph error body.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = new_id();
    (
        status,
        Json(json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        })),
    )
        .into_response()
}

fn denied() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

/// The caller's claims, or Graph's 401.
// The error is the response itself, built once per refused request: no point boxing it.
#[allow(clippy::result_large_err)]
fn caller(state: &LabState, headers: &HeaderMap) -> Result<AccessClaims, Response> {
    state
        .counters
        .graph_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tokens::authorize(state, headers, Resource::Graph, &[]).map_err(|failure| {
        let message = match failure {
            AuthFailure::Expired => "Lifetime validation failed, the token is expired.",
            _ => "Access token validation failure. Invalid audience.",
        };
        error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    })
}

/// The caller's claims when `allowed` accepts them; Graph's 401 or 403 otherwise.
#[allow(clippy::result_large_err)]
fn guard(
    state: &LabState,
    headers: &HeaderMap,
    allowed: impl Fn(&AccessClaims) -> bool,
) -> Result<AccessClaims, Response> {
    let claims = caller(state, headers)?;
    if allowed(&claims) {
        Ok(claims)
    } else {
        Err(denied())
    }
}

/// Delegated caller allowed to manage apps.
fn may_manage(claims: &AccessClaims) -> bool {
    claims.has_scope("Application.ReadWrite.All")
        && claims.admin_role().is_some_and(|r| r.may_manage_apps())
}

/// Delegated caller allowed to read apps.
fn may_read(claims: &AccessClaims) -> bool {
    claims.has_scope("Application.Read.All")
        || claims.has_scope("Application.ReadWrite.All")
        || claims.has_scope("Directory.Read.All")
}

/// `$filter` support: `tags/any(t:t eq 'x')`, `appId eq 'x'`, `displayName eq 'x'`.
#[derive(Debug, PartialEq)]
enum Filter {
    All,
    Tag(String),
    AppId(String),
    DisplayName(String),
}

fn parse_filter(query: &HashMap<String, String>) -> Result<Filter, String> {
    let Some(text) = query.get("$filter").map(|s| s.trim()) else {
        return Ok(Filter::All);
    };
    let quoted = |rest: &str| -> Option<String> {
        let rest = rest.trim();
        let inner = rest.strip_prefix('\'')?;
        let end = inner.rfind('\'')?;
        Some(inner[..end].replace("''", "'"))
    };
    if let Some(rest) = text.strip_prefix("tags/any(")
        && let Some((var, cond)) = rest.split_once(':')
        && let Some(cond) = cond.trim().strip_suffix(')')
        && let Some(value) = cond
            .trim()
            .strip_prefix(var.trim())
            .and_then(|c| c.trim().strip_prefix("eq "))
            .and_then(quoted)
    {
        return Ok(Filter::Tag(value));
    }
    if let Some(value) = text.strip_prefix("appId eq ").and_then(quoted) {
        return Ok(Filter::AppId(value));
    }
    if let Some(value) = text.strip_prefix("displayName eq ").and_then(quoted) {
        return Ok(Filter::DisplayName(value));
    }
    Err(format!("Invalid filter clause: {text}"))
}

fn matches(filter: &Filter, app_id: &str, display_name: &str, tags: &[String]) -> bool {
    match filter {
        Filter::All => true,
        Filter::Tag(t) => tags.iter().any(|x| x.eq_ignore_ascii_case(t)),
        Filter::AppId(a) => app_id.eq_ignore_ascii_case(a),
        Filter::DisplayName(d) => display_name.eq_ignore_ascii_case(d),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A key credential as Graph returns it: `key` (the certificate) only when `with_key` — Graph returns
/// it only on `GET /applications/{id}?$select=keyCredentials` for one object, else `null`
/// (learn.microsoft.com, "keyCredential resource type", property `key`).
fn key_json(k: &KeyCredential, with_key: bool) -> Value {
    let key = with_key.then(|| base64::engine::general_purpose::STANDARD.encode(&k.der));
    json!({
        "keyId": k.key_id,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "displayName": k.display_name,
        "customKeyIdentifier": k.thumbprint,
        "startDateTime": time(k.start),
        "endDateTime": time(k.end),
        "key": key,
    })
}

fn application_json(a: &Application, with_keys: bool) -> Value {
    json!({
        "id": a.id,
        "appId": a.app_id,
        "displayName": a.display_name,
        "tags": a.tags,
        "signInAudience": "AzureADMyOrg",
        "keyCredentials": a.key_credentials.iter().map(|k| key_json(k, with_keys)).collect::<Vec<_>>(),
        "requiredResourceAccess": a.required_resource_access,
        "createdDateTime": time(a.created),
    })
}

/// The properties `$select` names, when it is given.
fn selected(query: &HashMap<String, String>) -> Option<Vec<String>> {
    query.get("$select").map(|list| {
        list.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

/// `object` with only the properties `$select` names (all of them without `$select`).
fn project(object: Value, select: Option<&[String]>) -> Value {
    match (object, select) {
        (Value::Object(map), Some(names)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        (object, _) => object,
    }
}

fn service_principal_json(s: &ServicePrincipal) -> Value {
    json!({
        "id": s.id,
        "appId": s.app_id,
        "displayName": s.display_name,
        "tags": s.tags,
        "servicePrincipalType": "Application",
        "appRoles": s.app_roles.iter().map(|r| json!({
            "id": r.id,
            "value": r.value,
            "displayName": r.value,
            "allowedMemberTypes": ["Application"],
            "isEnabled": true,
        })).collect::<Vec<_>>(),
    })
}

fn assignment_json(state: &super::directory::Directory, a: &Assignment) -> Value {
    let name = |id: &str| {
        state
            .service_principal(id)
            .map(|s| s.display_name.clone())
            .unwrap_or_default()
    };
    json!({
        "id": a.id,
        "principalId": a.principal_id,
        "principalType": "ServicePrincipal",
        "principalDisplayName": name(&a.principal_id),
        "resourceId": a.resource_id,
        "resourceDisplayName": name(&a.resource_id),
        "appRoleId": a.app_role_id,
        "createdDateTime": time(a.created),
    })
}

/// A collection filtered by `$filter`: `view` gives each item's JSON, `[appId, displayName]` and tags.
fn filtered<T>(
    query: &HashMap<String, String>,
    items: &[T],
    view: impl Fn(&T) -> (Value, [&String; 2], &Vec<String>),
) -> Response {
    let filter = match parse_filter(query) {
        Ok(f) => f,
        Err(e) => return bad_request(&e),
    };
    collection(
        items
            .iter()
            .map(&view)
            .filter(|(_, [app_id, name], tags)| matches(&filter, app_id, name, tags))
            .map(|(json, _, _)| json)
            .collect(),
    )
}

fn collection(values: Vec<Value>) -> Response {
    Json(json!({ "value": values })).into_response()
}

/// Reads a certificate credential from a request (`key`: base64 DER).
fn key_from(value: &Value) -> Result<KeyCredential, String> {
    let key = value
        .get("key")
        .and_then(Value::as_str)
        .ok_or("keyCredential.key is required")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| "keyCredential.key is not base64")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| "Key credential key is not a valid X.509 certificate")?;
    let start = DateTime::from_timestamp(cert.validity().not_before.timestamp(), 0)
        .unwrap_or_else(Utc::now);
    let end =
        DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0).unwrap_or_else(Utc::now);
    let thumbprint = sha1::Sha1::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(KeyCredential {
        key_id: value
            .get("keyId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(new_id),
        display_name: value
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        thumbprint,
        start,
        end,
        der,
    })
}

async fn list_applications(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_read) {
        return r;
    }
    let directory = state.directory();
    let select = selected(&query);
    // A list never carries the keys' values, `$select` or not.
    filtered(&query, &directory.applications, |a| {
        (
            project(application_json(a, false), select.as_deref()),
            [&a.app_id, &a.display_name],
            &a.tags,
        )
    })
}

async fn create_application(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_manage) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("Invalid JSON body.");
    };
    let Some(display_name) = body.get("displayName").and_then(Value::as_str) else {
        return bad_request("Property 'displayName' is required.");
    };
    let mut keys = Vec::new();
    for k in body
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match key_from(k) {
            Ok(k) => keys.push(k),
            Err(e) => return bad_request(&e),
        }
    }
    let app = Application {
        id: new_id(),
        app_id: new_id(),
        display_name: display_name.to_string(),
        tags: strings(body.get("tags")),
        key_credentials: keys,
        required_resource_access: body
            .get("requiredResourceAccess")
            .cloned()
            .unwrap_or_else(|| json!([])),
        created: Utc::now(),
    };
    let out = application_json(&app, false);
    state.directory().applications.push(app);
    state.publish_directory();
    (StatusCode::CREATED, Json(out)).into_response()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /applications/{id}`, with `$select`: the keys' values come only when `keyCredentials` is
/// selected.
async fn get_application(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let claims = match caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let directory = state.directory();
    let Some(app) = directory.application(&id) else {
        return not_found(&id);
    };
    // An app may read itself; otherwise a delegated reader.
    if !may_read(&claims) && !claims.appid.eq_ignore_ascii_case(&app.app_id) {
        return denied();
    }
    let select = selected(&query);
    let with_keys = select.as_ref().is_some_and(|names| {
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("keyCredentials"))
    });
    Json(project(application_json(app, with_keys), select.as_deref())).into_response()
}

async fn delete_application(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_manage) {
        return r;
    }
    let deleted = state.directory().delete_application(&id);
    if !deleted {
        return not_found(&id);
    }
    state.publish_directory();
    StatusCode::NO_CONTENT.into_response()
}

/// `PATCH /applications/{id}`: `displayName`, `tags`, `requiredResourceAccess`, and `keyCredentials`:
/// the whole collection is replaced, as in Graph, so a key the request omits is deleted and each key
/// sent needs its `key` (a key read without `$select` has none: 400).
async fn patch_application(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_manage) {
        return r;
    }
    let mut keys = None;
    if let Some(list) = body.get("keyCredentials").and_then(Value::as_array) {
        let mut parsed = Vec::new();
        for k in list {
            match key_from(k) {
                Ok(k) => parsed.push(k),
                Err(e) => return bad_request(&e),
            }
        }
        keys = Some(parsed);
    }
    {
        let mut directory = state.directory();
        let Some(app) = directory
            .applications
            .iter_mut()
            .find(|a| a.id.eq_ignore_ascii_case(&id))
        else {
            return not_found(&id);
        };
        if let Some(name) = body.get("displayName").and_then(Value::as_str) {
            app.display_name = name.to_string();
        }
        if body.get("tags").is_some() {
            app.tags = strings(body.get("tags"));
        }
        if let Some(rra) = body.get("requiredResourceAccess") {
            app.required_resource_access = rra.clone();
        }
        if let Some(keys) = keys {
            app.key_credentials = keys;
        }
    }
    state.publish_directory();
    StatusCode::NO_CONTENT.into_response()
}

/// Checks an `addKey`/`removeKey` proof against the app's current certificates.
fn check_proof(app: &Application, proof: &str) -> Result<(), String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(proof).map_err(|_| "The proof is not a JWT.")?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err("The proof must be signed with RS256 or PS256.".into());
    }
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[PROOF_AUDIENCE]);
    validation.set_issuer(&[app.id.as_str()]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    validation.validate_nbf = true;
    validation.leeway = 60;
    let now = Utc::now();
    let claims = app
        .key_credentials
        .iter()
        .filter(|k| k.start <= now && now < k.end)
        .find_map(|k| {
            let pem = crate::certificate::pem_encode("CERTIFICATE", &k.der);
            let key = DecodingKey::from_rsa_pem(pem.as_bytes()).ok()?;
            jsonwebtoken::decode::<Value>(proof, &key, &validation)
                .ok()
                .map(|d| d.claims)
        })
        .ok_or("The proof is not signed by a current certificate of the application, or its aud, iss or times are wrong.")?;
    let number = |n: &str| claims.get(n).and_then(Value::as_i64).unwrap_or_default();
    if number("exp") - number("nbf") > 600 {
        return Err("The proof is valid for more than 10 minutes.".into());
    }
    Ok(())
}

/// The app an `addKey`/`removeKey` is for, when the caller may change it: the app itself
/// (app-only token) or an admin who manages apps.
#[allow(clippy::result_large_err)]
fn key_target(state: &LabState, headers: &HeaderMap, id: &str) -> Result<Application, Response> {
    let claims = caller(state, headers)?;
    let app = state
        .directory()
        .application(id)
        .cloned()
        .ok_or_else(|| not_found(id))?;
    if !(claims.appid.eq_ignore_ascii_case(&app.app_id) || may_manage(&claims)) {
        return Err(denied());
    }
    Ok(app)
}

fn proof_error(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Authentication_MissingOrMalformed",
        message,
    )
}

/// The app of an `addKey`/`removeKey` whose caller may change it and whose `proof` holds.
#[allow(clippy::result_large_err)]
fn proved_target(
    state: &LabState,
    headers: &HeaderMap,
    id: &str,
    body: &Value,
) -> Result<Application, Response> {
    let app = key_target(state, headers, id)?;
    let proof = body
        .get("proof")
        .and_then(Value::as_str)
        .unwrap_or_default();
    check_proof(&app, proof).map_err(|e| proof_error(&e))?;
    Ok(app)
}

async fn add_key(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let app = match proved_target(&state, &headers, &id, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(key) = body.get("keyCredential") else {
        return bad_request("Property 'keyCredential' is required.");
    };
    let key = match key_from(key) {
        Ok(k) => k,
        Err(e) => return bad_request(&e),
    };
    let out = key_json(&key, false);
    if let Some(app) = state
        .directory()
        .applications
        .iter_mut()
        .find(|a| a.id == app.id)
    {
        app.key_credentials.push(key);
    }
    state.publish_directory();
    Json(out).into_response()
}

async fn remove_key(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let app = match proved_target(&state, &headers, &id, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let removed = {
        let mut directory = state.directory();
        let Some(app) = directory.applications.iter_mut().find(|a| a.id == app.id) else {
            return not_found(&id);
        };
        let before = app.key_credentials.len();
        app.key_credentials
            .retain(|k| !k.key_id.eq_ignore_ascii_case(key_id));
        before != app.key_credentials.len()
    };
    if !removed {
        return not_found(key_id);
    }
    state.publish_directory();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_service_principals(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_read) {
        return r;
    }
    let directory = state.directory();
    filtered(&query, &directory.service_principals, |s| {
        (
            service_principal_json(s),
            [&s.app_id, &s.display_name],
            &s.tags,
        )
    })
}

async fn create_service_principal(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_manage) {
        return r;
    }
    let Some(app_id) = body.get("appId").and_then(Value::as_str) else {
        return bad_request("Property 'appId' is required.");
    };
    let out = {
        let mut directory = state.directory();
        if directory
            .service_principals
            .iter()
            .any(|s| s.app_id.eq_ignore_ascii_case(app_id))
        {
            return error(
                StatusCode::CONFLICT,
                "Request_MultipleObjectsWithSameKeyValue",
                &format!(
                    "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
                ),
            );
        }
        let Some(app) = directory
            .applications
            .iter()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
            .cloned()
        else {
            return bad_request(&format!(
                "The appId '{app_id}' of the service principal does not reference a valid application object."
            ));
        };
        let sp = ServicePrincipal {
            id: new_id(),
            app_id: app.app_id.clone(),
            display_name: app.display_name.clone(),
            tags: strings(body.get("tags")),
            app_roles: Vec::new(),
        };
        let out = service_principal_json(&sp);
        directory.service_principals.push(sp);
        out
    };
    state.publish_directory();
    (StatusCode::CREATED, Json(out)).into_response()
}

async fn get_service_principal(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_read) {
        return r;
    }
    let directory = state.directory();
    match directory.service_principal(&id) {
        Some(sp) => Json(service_principal_json(sp)).into_response(),
        None => not_found(&id),
    }
}

async fn delete_service_principal(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &headers, may_manage) {
        return r;
    }
    {
        let mut directory = state.directory();
        let Some(sp) = directory.service_principal(&id).cloned() else {
            return not_found(&id);
        };
        if !sp.app_roles.is_empty() {
            // A Microsoft resource: not the caller's to delete.
            return denied();
        }
        directory.delete_service_principals(&[sp.id]);
    }
    state.publish_directory();
    StatusCode::NO_CONTENT.into_response()
}

async fn assign(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(resource_id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let may_grant = |c: &AccessClaims| {
        c.has_scope("AppRoleAssignment.ReadWrite.All")
            && c.admin_role().is_some_and(|r| r.may_grant_app_roles())
    };
    if let Err(r) = guard(&state, &headers, may_grant) {
        return r;
    }
    let text = |n: &str| {
        body.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (principal_id, body_resource, app_role_id) =
        (text("principalId"), text("resourceId"), text("appRoleId"));
    let out = {
        let mut directory = state.directory();
        match directory.fail_grant_after {
            Some(0) => {
                directory.fail_grant_after = None;
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable (lab fault).",
                );
            }
            Some(n) => directory.fail_grant_after = Some(n - 1),
            None => {}
        }
        let Some(resource) = directory.service_principal(&resource_id).cloned() else {
            return not_found(&resource_id);
        };
        if !body_resource.eq_ignore_ascii_case(&resource.id) {
            return bad_request("resourceId must be the service principal of the request's path.");
        }
        if directory.service_principal(&principal_id).is_none() {
            return not_found(&principal_id);
        }
        if !resource
            .app_roles
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&app_role_id))
        {
            return bad_request(&format!(
                "Permission entry {app_role_id} does not exist on the resource {}.",
                resource.display_name
            ));
        }
        if directory.assignments.iter().any(|a| {
            a.principal_id.eq_ignore_ascii_case(&principal_id)
                && a.resource_id == resource.id
                && a.app_role_id.eq_ignore_ascii_case(&app_role_id)
        }) {
            return bad_request("Permission being assigned already exists on the object");
        }
        let assignment = Assignment {
            id: new_id(),
            principal_id,
            resource_id: resource.id.clone(),
            app_role_id,
            created: Utc::now(),
        };
        let out = assignment_json(&directory, &assignment);
        directory.assignments.push(assignment);
        out
    };
    state.publish_directory();
    (StatusCode::CREATED, Json(out)).into_response()
}

async fn unassign(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path((resource_id, assignment)): Path<(String, String)>,
) -> Response {
    let may_revoke = |c: &AccessClaims| {
        c.has_scope("AppRoleAssignment.ReadWrite.All")
            && c.admin_role()
                .is_some_and(|r| r.may_grant_app_roles() || r.may_manage_apps())
    };
    if let Err(r) = guard(&state, &headers, may_revoke) {
        return r;
    }
    let removed = {
        let mut directory = state.directory();
        let before = directory.assignments.len();
        directory.assignments.retain(|a| {
            !(a.id.eq_ignore_ascii_case(&assignment)
                && a.resource_id.eq_ignore_ascii_case(&resource_id))
        });
        before != directory.assignments.len()
    };
    if !removed {
        return not_found(&assignment);
    }
    state.publish_directory();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_assigned_to(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    list_assignments(&state, &headers, |a| {
        a.resource_id.eq_ignore_ascii_case(&id)
    })
}

async fn list_assignments_of(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    list_assignments(&state, &headers, |a| {
        a.principal_id.eq_ignore_ascii_case(&id)
    })
}

fn list_assignments(
    state: &LabState,
    headers: &HeaderMap,
    keep: impl Fn(&Assignment) -> bool,
) -> Response {
    if let Err(r) = guard(state, headers, may_read) {
        return r;
    }
    let directory = state.directory();
    collection(
        directory
            .assignments
            .iter()
            .filter(|a| keep(a))
            .map(|a| assignment_json(&directory, a))
            .collect(),
    )
}

/// `GET /control/sign-in/directory`: what onboarding created — applications (with key count),
/// their service principals and the permission values granted to each.
pub async fn directory_snapshot(State(state): State<Arc<LabState>>) -> Json<Value> {
    let directory = state.directory();
    let apps: Vec<Value> = directory
        .applications
        .iter()
        .map(|a| {
            let sp = directory
                .service_principals
                .iter()
                .find(|s| s.app_id == a.app_id);
            let granted: Vec<String> = sp
                .map(|sp| {
                    directory
                        .assignments
                        .iter()
                        .filter(|x| x.principal_id == sp.id)
                        .filter_map(|x| {
                            directory.service_principal(&x.resource_id).and_then(|r| {
                                r.app_roles
                                    .iter()
                                    .find(|role| role.id == x.app_role_id)
                                    .map(|role| role.value.clone())
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "id": a.id,
                "appId": a.app_id,
                "displayName": a.display_name,
                "tags": a.tags,
                "keys": a.key_credentials.len(),
                "servicePrincipalId": sp.map(|s| s.id.clone()),
                "granted": granted,
            })
        })
        .collect();
    let orphans = directory
        .service_principals
        .iter()
        .filter(|s| s.app_roles.is_empty())
        .filter(|s| !directory.applications.iter().any(|a| a.app_id == s.app_id))
        .count();
    Json(json!({
        "applications": apps,
        "servicePrincipals": directory.service_principals.iter().filter(|s| s.app_roles.is_empty()).count(),
        "orphanServicePrincipals": orphans,
        "assignments": directory.assignments.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(f: &str) -> HashMap<String, String> {
        HashMap::from([("$filter".to_string(), f.to_string())])
    }

    #[test]
    fn filters_parse() {
        assert_eq!(
            parse_filter(&q("tags/any(t:t eq 'ExchangeConnector')")),
            Ok(Filter::Tag("ExchangeConnector".into()))
        );
        assert_eq!(
            parse_filter(&q("appId eq 'abc'")),
            Ok(Filter::AppId("abc".into()))
        );
        assert!(parse_filter(&q("startswith(displayName,'x')")).is_err());
    }
}
