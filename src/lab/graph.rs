//! The simulated Microsoft Graph (v1.0 and beta): Intune managed devices, group transitive members,
//! users, and the retired connector's objects (`exchangeConnectors`, `conditionalAccessSettings`,
//! `exchangeOnPremisesPolicy`), and `POST /users/{id | userPrincipalName}/sendMail` (Exchange Online's
//! mail, authorised as Exchange authorises it: see [`send_mail`]).
//!
//! Every request is counted, delayed by the injected latency, exposed to storms, authenticated with a
//! lab access token, checked for the application permission the operation needs, and charged to the
//! calling app's throttling budget — in that order. Errors use Graph's JSON error shape with
//! `innerError` carrying `date`, `request-id` and `client-request-id`.

mod odata;

use super::LabState;
use super::faults::Surface;
use super::tokens::{self, AuthFailure, Resource};
use crate::model::intune::{ExchangeConnector, ManagedDevice, User};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use chrono::Utc;
use odata::QueryOptions;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Intune pages managed devices by at most this many.
pub const MANAGED_DEVICES_MAX_PAGE: usize = 1000;
/// Directory listings default to this page size.
pub const DIRECTORY_DEFAULT_PAGE: usize = 100;
/// And accept `$top` up to this.
pub const DIRECTORY_MAX_PAGE: usize = 999;

/// Roles that allow reading managed devices.
const DEVICES_READ: &[&str] = &[
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
];
/// Roles that allow reading the Intune service configuration (connectors, settings, policy).
const SERVICE_CONFIG_READ: &[&str] = &[
    "DeviceManagementServiceConfig.Read.All",
    "DeviceManagementServiceConfig.ReadWrite.All",
];
/// Roles that allow changing it.
const SERVICE_CONFIG_WRITE: &[&str] = &["DeviceManagementServiceConfig.ReadWrite.All"];
/// Roles that allow reading group membership.
const GROUP_MEMBERS_READ: &[&str] = &[
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
/// Roles that allow reading users.
const USERS_READ: &[&str] = &[
    "User.Read.All",
    "Directory.Read.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];

/// No Graph role is checked up front: Exchange decides per mailbox ([`send_mail`]).
const EXCHANGE_DECIDES: &[&str] = &[];
/// The Entra application permission that lets an app send as any mailbox.
const MAIL_SEND: &str = "Mail.Send";

/// `managedDevice` properties the lab does not model but Graph has: selecting them yields `null` rather
/// than an error, as a client written against the real service may ask for them.
const MANAGED_DEVICE_EXTRA_PROPERTIES: &[&str] = &[
    "deviceRegistrationState",
    "serialNumber",
    "imei",
    "meid",
    "phoneNumber",
    "wiFiMacAddress",
    "ethernetMacAddress",
    "isEncrypted",
    "isSupervised",
    "jailBroken",
    "managedDeviceOwnerType",
    "managedDeviceName",
    "deviceEnrollmentType",
    "userDisplayName",
    "totalStorageSpaceInBytes",
    "freeStorageSpaceInBytes",
    "physicalMemoryInBytes",
    "deviceCategoryDisplayName",
    "partnerReportedThreatState",
    "complianceGracePeriodExpirationDateTime",
    "androidSecurityPatchLevel",
    "subscriberCarrier",
    "iccid",
    "udid",
    "notes",
    "enrollmentProfileName",
    "managementCertificateExpirationDate",
    "requireUserEnrollmentApproval",
    "remoteAssistanceSessionUrl",
    "remoteAssistanceSessionErrorDetails",
];

/// `user` properties the lab does not model (selected: `null`).
const USER_EXTRA_PROPERTIES: &[&str] = &[
    "businessPhones",
    "givenName",
    "surname",
    "jobTitle",
    "mobilePhone",
    "officeLocation",
    "accountEnabled",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "proxyAddresses",
    "otherMails",
];

/// `group` properties the lab serves.
const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
];

/// Routes of this surface: everything under `/v1.0/` and `/beta/`, dispatched by `resolve` so unknown
/// segments get Graph's own error.
pub fn router() -> Router<Arc<LabState>> {
    Router::new()
        .route("/v1.0/{*path}", any(entry))
        .route("/beta/{*path}", any(entry))
        .layer(Extension(Arc::new(Budgets::default())))
}

/// Per-app request budgets (the `graph_requests_per_window` fault), one fixed window per client id.
#[derive(Debug, Default)]
struct Budgets {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Budgets {
    /// Charges one request to `app`; `Err(seconds)` until the window resets when the budget is spent.
    fn charge(&self, app: &str, limit: u32, window_seconds: u32) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let window = Duration::from_secs(u64::from(window_seconds.max(1)));
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let entry = windows.entry(app.to_ascii_lowercase()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let left = window.saturating_sub(now.duration_since(entry.0));
            // Round up: retrying after the advertised wait must succeed.
            return Err(left.as_millis().div_ceil(1000).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Ids of one request, echoed in headers and in error bodies.
#[derive(Debug, Clone)]
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    fn new(headers: &HeaderMap) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 100)
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            client_request_id,
        }
    }

    fn stamp(&self, response: &mut Response) {
        let headers = response.headers_mut();
        for (name, value) in [
            ("request-id", &self.request_id),
            ("client-request-id", &self.client_request_id),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }

    /// A Graph JSON answer.
    fn json(&self, status: StatusCode, body: Value) -> Response {
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            ),
        );
        self.stamp(&mut response);
        response
    }

    /// A Graph error: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
    fn error(&self, status: StatusCode, code: &str, message: &str) -> Response {
        let body = json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": self.request_id,
                    "client-request-id": self.client_request_id,
                }
            }
        });
        self.json(status, body)
    }

    fn no_content(&self) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        self.stamp(&mut response);
        response
    }

    fn bad_request(&self, message: &str) -> Response {
        self.error(StatusCode::BAD_REQUEST, "BadRequest", message)
    }
}

/// Graph API version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    Beta,
}

impl Version {
    fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        }
    }
}

/// Which members a `transitiveMembers` request lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberCast {
    All,
    Users,
    Groups,
}

/// A resolved Graph resource.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    ManagedDevices,
    ManagedDevice(String),
    ExchangeConnectors,
    ExchangeConnector(String),
    ExchangeConnectorSync(String),
    ConditionalAccessSettings,
    ExchangeOnPremisesPolicy(Option<String>),
    Groups,
    Group(String),
    TransitiveMembers(String, MemberCast),
    User(String),
    SendMail(String),
}

impl Route {
    /// The roles that allow `method` on this resource (`None`: method not allowed).
    fn roles(&self, method: &Method) -> Option<&'static [&'static str]> {
        let read = method == Method::GET;
        match self {
            Route::ManagedDevices | Route::ManagedDevice(_) => read.then_some(DEVICES_READ),
            Route::ExchangeConnectors => match *method {
                Method::GET => Some(SERVICE_CONFIG_READ),
                Method::POST => Some(SERVICE_CONFIG_WRITE),
                _ => None,
            },
            Route::ExchangeConnector(_) => match *method {
                Method::GET => Some(SERVICE_CONFIG_READ),
                Method::PATCH | Method::DELETE => Some(SERVICE_CONFIG_WRITE),
                _ => None,
            },
            Route::ExchangeConnectorSync(_) => {
                (method == Method::POST).then_some(SERVICE_CONFIG_WRITE)
            }
            Route::ConditionalAccessSettings | Route::ExchangeOnPremisesPolicy(_) => {
                match *method {
                    Method::GET => Some(SERVICE_CONFIG_READ),
                    Method::PATCH => Some(SERVICE_CONFIG_WRITE),
                    _ => None,
                }
            }
            Route::Groups | Route::Group(_) | Route::TransitiveMembers(..) => {
                read.then_some(GROUP_MEMBERS_READ)
            }
            Route::User(_) => read.then_some(USERS_READ),
            // Exchange decides, per mailbox: the Entra role or an RBAC for Applications scope.
            Route::SendMail(_) => (method == Method::POST).then_some(EXCHANGE_DECIDES),
        }
    }

    /// Whether the operation is an Intune one (403 names the permissions) or a directory one (403 is
    /// Entra's `Authorization_RequestDenied`).
    fn is_intune(&self) -> bool {
        !matches!(
            self,
            Route::Groups
                | Route::Group(_)
                | Route::TransitiveMembers(..)
                | Route::User(_)
                | Route::SendMail(_)
        )
    }
}

/// Splits the path after the version into segments, percent-decoded, with OData key syntax
/// (`managedDevices('id')`) expanded into two segments.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned();
        if let Some((name, rest)) = seg.split_once('(')
            && let Some(key) = rest.strip_suffix(')')
        {
            out.push(name.to_string());
            out.push(key.trim_matches('\'').to_string());
        } else {
            out.push(seg);
        }
    }
    out
}

/// Maps segments to a route, or names the first segment Graph would not find.
fn resolve(version: Version, segs: &[String]) -> Result<Route, String> {
    let is = |i: usize, name: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(name));
    let unknown = |i: usize| Err(segs.get(i).cloned().unwrap_or_default());
    let at = |i: usize| segs[i].clone();
    let n = segs.len();
    if is(0, "deviceManagement") {
        if n < 2 {
            return unknown(0);
        }
        if is(1, "managedDevices") {
            return match n {
                2 => Ok(Route::ManagedDevices),
                3 => Ok(Route::ManagedDevice(at(2))),
                _ => unknown(3),
            };
        }
        if is(1, "exchangeConnectors") {
            return match n {
                2 => Ok(Route::ExchangeConnectors),
                3 => Ok(Route::ExchangeConnector(at(2))),
                4 if is(3, "sync") || is(3, "microsoft.graph.sync") => {
                    Ok(Route::ExchangeConnectorSync(at(2)))
                }
                _ => unknown(3),
            };
        }
        if is(1, "conditionalAccessSettings") {
            return if n == 2 {
                Ok(Route::ConditionalAccessSettings)
            } else {
                unknown(2)
            };
        }
        // The policy exists only in beta.
        if version == Version::Beta && is(1, "exchangeOnPremisesPolicy") {
            return match n {
                2 => Ok(Route::ExchangeOnPremisesPolicy(None)),
                3 if is(2, "conditionalAccessSettings") => Ok(Route::ConditionalAccessSettings),
                _ => unknown(2),
            };
        }
        if version == Version::Beta && is(1, "exchangeOnPremisesPolicies") && n == 3 {
            return Ok(Route::ExchangeOnPremisesPolicy(Some(at(2))));
        }
        return unknown(1);
    }
    if is(0, "groups") {
        return match n {
            2 => Ok(Route::Group(at(1))),
            3 if is(2, "transitiveMembers") => Ok(Route::TransitiveMembers(at(1), MemberCast::All)),
            4 if is(2, "transitiveMembers") && is(3, "microsoft.graph.user") => {
                Ok(Route::TransitiveMembers(at(1), MemberCast::Users))
            }
            4 if is(2, "transitiveMembers") && is(3, "microsoft.graph.group") => {
                Ok(Route::TransitiveMembers(at(1), MemberCast::Groups))
            }
            1 => Ok(Route::Groups),
            _ => unknown(if is(2, "transitiveMembers") { 3 } else { 2 }),
        };
    }
    if is(0, "users") {
        return match n {
            2 => Ok(Route::User(at(1))),
            3 if is(2, "sendMail") || is(2, "microsoft.graph.sendMail") => {
                Ok(Route::SendMail(at(1)))
            }
            1 => unknown(0),
            _ => unknown(2),
        };
    }
    unknown(0)
}

/// Everything a handler needs about one request.
struct Call<'a> {
    state: &'a LabState,
    claims: tokens::AccessClaims,
    ids: RequestIds,
    version: Version,
    query: QueryOptions,
    body: Bytes,
}

impl Call<'_> {
    /// `{graph_base}/{version}`.
    fn base(&self) -> String {
        format!(
            "{}/{}",
            self.state.urls().graph_base.trim_end_matches('/'),
            self.version.as_str()
        )
    }

    /// `@odata.context` for a `$metadata` fragment.
    fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.base())
    }
}

async fn entry(
    State(state): State<Arc<LabState>>,
    Extension(budgets): Extension<Arc<Budgets>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ids = RequestIds::new(&headers);
    state
        .counters
        .graph_requests
        .fetch_add(1, Ordering::Relaxed);

    // Read the latency first and drop the lock: sleeping must never hold it.
    let latency = state.faults().graph_latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let storm = state.faults().take_storm(Surface::Graph);
    if let Some((status, retry_after)) = storm {
        return storm_response(&ids, status, retry_after);
    }

    // `Authorization: Bearer` with nothing after it is an empty token to Graph, not a malformed one.
    let empty_bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("bearer"));
    let authorized = if empty_bearer {
        Err(AuthFailure::Missing)
    } else {
        tokens::authorize(&state, &headers, Resource::Graph, &[])
    };
    let claims = match authorized {
        Ok(claims) => claims,
        Err(failure) => return auth_failure(&ids, &failure),
    };

    let path = uri.path().trim_start_matches('/');
    let (version, rest) = match path.split_once('/') {
        Some(("v1.0", rest)) => (Version::V1, rest),
        Some(("beta", rest)) => (Version::Beta, rest),
        _ => return ids.bad_request("Invalid version."),
    };
    let segs = segments(rest);
    let route = match resolve(version, &segs) {
        Ok(route) => route,
        Err(segment) => {
            return ids.bad_request(&format!("Resource not found for the segment '{segment}'."));
        }
    };
    let Some(roles) = route.roles(&method) else {
        return ids.error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadRequest",
            &format!(
                "No HTTP resource was found that matches the request URI '{}' and method '{method}'.",
                uri.path()
            ),
        );
    };
    let granted = roles.is_empty()
        || roles
            .iter()
            .any(|needed| claims.roles.iter().any(|r| r.eq_ignore_ascii_case(needed)));
    if !granted {
        return if route.is_intune() {
            ids.error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "Application is not authorized to perform this operation. Application must have one of the following scopes: {}",
                    roles.join(", ")
                ),
            )
        } else {
            ids.error(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        };
    }

    let (limit, window) = {
        let faults = state.faults();
        (
            faults.graph_requests_per_window,
            faults.graph_window_seconds,
        )
    };
    if let Err(retry_after) = budgets.charge(&claims.appid, limit, window) {
        return throttled(&ids, retry_after);
    }

    let call = Call {
        state: &state,
        claims,
        ids,
        version,
        query: QueryOptions::parse(uri.query()),
        body,
    };
    dispatch(&call, route, &method)
}

fn dispatch(call: &Call<'_>, route: Route, method: &Method) -> Response {
    match (route, method.clone()) {
        (Route::ManagedDevices, _) => list_managed_devices(call),
        (Route::ManagedDevice(id), _) => get_managed_device(call, &id),
        (Route::ExchangeConnectors, Method::POST) => create_connector(call),
        (Route::ExchangeConnectors, _) => list_connectors(call),
        (Route::ExchangeConnector(id), Method::PATCH) => patch_connector(call, &id),
        (Route::ExchangeConnector(id), Method::DELETE) => delete_connector(call, &id),
        (Route::ExchangeConnector(id), _) => get_connector(call, &id),
        (Route::ExchangeConnectorSync(id), _) => sync_connector(call, &id),
        (Route::ConditionalAccessSettings, Method::PATCH) => patch_conditional_access(call),
        (Route::ConditionalAccessSettings, _) => get_conditional_access(call),
        (Route::ExchangeOnPremisesPolicy(id), Method::PATCH) => patch_policy(call, id.as_deref()),
        (Route::ExchangeOnPremisesPolicy(id), _) => get_policy(call, id.as_deref()),
        (Route::Groups, _) => list_groups(call),
        (Route::Group(id), _) => get_group(call, &id),
        (Route::TransitiveMembers(id, cast), _) => transitive_members(call, &id, cast),
        (Route::User(id), _) => get_user(call, &id),
        (Route::SendMail(id), _) => send_mail(call, &id),
    }
}

/// A storm's answer: Graph's 429 or a 5xx, with `Retry-After` when the storm sets one.
fn storm_response(ids: &RequestIds, status: u16, retry_after: u32) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (code, message) = match status.as_u16() {
        429 => ("TooManyRequests", "Too many requests"),
        500 => ("InternalServerError", "An internal server error occurred."),
        502 => ("BadGateway", "Bad gateway."),
        503 => (
            "ServiceUnavailable",
            "Service is unavailable. Please retry.",
        ),
        504 => ("GatewayTimeout", "Gateway timeout."),
        _ => ("UnknownError", "An error occurred."),
    };
    let mut response = ids.error(status, code, message);
    if retry_after > 0 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    response
}

/// Graph's answer when the app's budget is spent.
fn throttled(ids: &RequestIds, retry_after: u64) -> Response {
    let mut response = ids.error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// 401 with Graph's message and challenge.
fn auth_failure(ids: &RequestIds, failure: &AuthFailure) -> Response {
    let message = match failure {
        AuthFailure::Missing => "Access token is empty.",
        AuthFailure::Expired => "Access token has expired or is not yet valid.",
        AuthFailure::Invalid(reason) if reason.to_ascii_lowercase().contains("audience") => {
            "Access token validation failure. Invalid audience."
        }
        AuthFailure::Invalid(_) => "Invalid JWT token. Token signature validation failed.",
        // `authorize` was called without roles; kept for completeness.
        AuthFailure::Forbidden { .. } => "Insufficient privileges to complete the operation.",
    };
    let mut response = ids.error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        ),
    );
    response
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Adds `@odata.type` to an entity.
fn typed(mut value: Value, odata_type: &str) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("@odata.type".into(), Value::String(odata_type.into()));
    }
    value
}

/// Wraps a single entity with its `@odata.context`.
fn entity(context: String, value: Value) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    if let Value::Object(map) = value {
        out.extend(map);
    }
    Value::Object(out)
}

/// The property names of an entity type: those the model serialises plus `extra`.
fn known_properties<T: Serialize>(sample: &T, extra: &[&'static str]) -> Vec<String> {
    let mut names: Vec<String> = match to_json(sample) {
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    names.extend(extra.iter().map(|s| s.to_string()));
    names
}

fn sample_device() -> ManagedDevice {
    ManagedDevice {
        id: String::new(),
        user_id: None,
        device_name: None,
        user_principal_name: None,
        email_address: None,
        operating_system: None,
        os_version: None,
        model: None,
        manufacturer: None,
        management_agent: None,
        compliance_state: None,
        eas_activated: None,
        eas_activation_date_time: None,
        eas_device_id: None,
        exchange_last_successful_sync_date_time: None,
        exchange_access_state: None,
        exchange_access_state_reason: None,
        last_sync_date_time: None,
        enrolled_date_time: None,
        azure_ad_registered: None,
        azure_ad_device_id: None,
    }
}

fn sample_user() -> User {
    User {
        id: String::new(),
        user_principal_name: String::new(),
        mail: None,
        display_name: None,
        preferred_language: None,
    }
}

/// Resolves `$select` against a type; `Ok(None)` when absent.
fn select_for(
    call: &Call<'_>,
    known: &[String],
    type_name: &str,
) -> Result<Option<Vec<String>>, String> {
    let Some(select) = &call.query.select else {
        return Ok(None);
    };
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    odata::resolve_select(select, &known, type_name).map(Some)
}

/// `GET deviceManagement/managedDevices`: `$filter`, `$select`, `$top`, `$count`, server-driven paging.
fn list_managed_devices(call: &Call<'_>) -> Response {
    const TYPE: &str = "microsoft.graph.managedDevice";
    let known = known_properties(&sample_device(), MANAGED_DEVICE_EXTRA_PROPERTIES);
    let select = match select_for(call, &known, TYPE) {
        Ok(s) => s,
        Err(m) => return call.ids.bad_request(&m),
    };
    let filter = match &call.query.filter {
        None => None,
        Some(text) => {
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            match odata::parse_filter(text, &names, TYPE) {
                Ok(f) => Some(f),
                Err(m) => return call.ids.bad_request(&m),
            }
        }
    };
    let top = match call
        .query
        .page_size(MANAGED_DEVICES_MAX_PAGE, MANAGED_DEVICES_MAX_PAGE, true)
    {
        Ok(n) => n,
        Err(m) => return call.ids.bad_request(&m),
    };
    // The skip token holds the index in the device list where the next page starts, so every page
    // costs only the devices it spans, not the whole tenant.
    let start = match &call.query.skiptoken {
        None => 0,
        Some(t) => match odata::decode_skiptoken("md", t) {
            Some(o) => o,
            None => {
                return call
                    .ids
                    .bad_request("The specified skip token is not valid.");
            }
        },
    };

    let (page, next, total) = {
        let tenant = call.state.tenant();
        let devices = &tenant.managed_devices;
        let mut page = Vec::new();
        let mut next = None;
        for (i, device) in devices.iter().enumerate().skip(start) {
            if page.len() == top && filter.is_none() {
                next = Some(i);
                break;
            }
            let value = to_json(device);
            if filter.as_ref().is_some_and(|f| !f.matches(&value)) {
                continue;
            }
            if page.len() == top {
                next = Some(i);
                break;
            }
            page.push(odata::project(value, select.as_deref(), true));
        }
        let total = call.query.count.then(|| match &filter {
            None => devices.len(),
            Some(f) => devices.iter().filter(|d| f.matches(&to_json(*d))).count(),
        });
        (page, next, total)
    };

    let mut fragment = "deviceManagement/managedDevices".to_string();
    if let Some(select) = &select {
        fragment.push_str(&format!("({})", select.join(",")));
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(call.context(&fragment)),
    );
    if let Some(total) = total {
        body.insert("@odata.count".into(), json!(total));
    }
    if let Some(next) = next {
        let base = format!("{}/deviceManagement/managedDevices", call.base());
        let link = call
            .query
            .next_link(&base, &odata::encode_skiptoken("md", next));
        body.insert("@odata.nextLink".into(), Value::String(link));
    }
    body.insert("value".into(), Value::Array(page));
    call.ids.json(StatusCode::OK, Value::Object(body))
}

/// `GET deviceManagement/managedDevices/{id}`.
fn get_managed_device(call: &Call<'_>, id: &str) -> Response {
    const TYPE: &str = "microsoft.graph.managedDevice";
    let known = known_properties(&sample_device(), MANAGED_DEVICE_EXTRA_PROPERTIES);
    let select = match select_for(call, &known, TYPE) {
        Ok(s) => s,
        Err(m) => return call.ids.bad_request(&m),
    };
    let found = call
        .state
        .tenant()
        .managed_devices
        .iter()
        .find(|d| d.id.eq_ignore_ascii_case(id))
        .map(to_json);
    match found {
        Some(value) => {
            let value = odata::project(value, select.as_deref(), true);
            let ctx = call.context("deviceManagement/managedDevices/$entity");
            call.ids.json(StatusCode::OK, entity(ctx, value))
        }
        None => call.ids.error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Resource not found: managedDevice with id '{id}' does not exist."),
        ),
    }
}

fn directory_not_found(call: &Call<'_>, id: &str) -> Response {
    call.ids.error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn user_json(user: &User) -> Value {
    typed(to_json(user), "#microsoft.graph.user")
}

fn group_json(group: &super::tenant::LabGroup) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.group",
        "id": group.id,
        "displayName": group.display_name,
        "description": null,
        "mail": null,
        "mailEnabled": false,
        "mailNickname": group.display_name.replace(' ', ""),
        "securityEnabled": true,
        "groupTypes": [],
    })
}

/// `GET groups`: `$filter` (e.g. `startswith(displayName,'Sales')`, case-insensitive as in Entra),
/// `$select`, `$top`; the first `$top` groups in name order (no further pages: the picker asks for
/// fewer than a page).
fn list_groups(call: &Call<'_>) -> Response {
    const TYPE: &str = "microsoft.graph.group";
    let select = match select_for(call, &known_strings(GROUP_PROPERTIES), TYPE) {
        Ok(s) => s,
        Err(m) => return call.ids.bad_request(&m),
    };
    let filter = match &call.query.filter {
        None => None,
        Some(text) => match odata::parse_filter(text, GROUP_PROPERTIES, TYPE) {
            Ok(f) => Some(f),
            Err(m) => return call.ids.bad_request(&m),
        },
    };
    let top = match call
        .query
        .page_size(DIRECTORY_DEFAULT_PAGE, DIRECTORY_MAX_PAGE, false)
    {
        Ok(n) => n,
        Err(m) => return call.ids.bad_request(&m),
    };
    let mut groups: Vec<Value> = call
        .state
        .tenant()
        .groups
        .iter()
        .map(group_json)
        .filter(|g| filter.as_ref().is_none_or(|f| f.matches(g)))
        .collect();
    groups.sort_by_key(|g| g["displayName"].as_str().unwrap_or("").to_lowercase());
    let page: Vec<Value> = groups
        .into_iter()
        .take(top)
        .map(|g| odata::project(g, select.as_deref(), false))
        .collect();
    call.ids.json(
        StatusCode::OK,
        json!({ "@odata.context": call.context("groups"), "value": page }),
    )
}

/// `GET groups/{id}`.
fn get_group(call: &Call<'_>, id: &str) -> Response {
    let select = match select_for(
        call,
        &known_strings(GROUP_PROPERTIES),
        "microsoft.graph.group",
    ) {
        Ok(s) => s,
        Err(m) => return call.ids.bad_request(&m),
    };
    let found = call.state.tenant().group(id).map(group_json);
    match found {
        Some(value) => {
            let value = odata::project(value, select.as_deref(), false);
            call.ids.json(
                StatusCode::OK,
                entity(call.context("groups/$entity"), value),
            )
        }
        None => directory_not_found(call, id),
    }
}

fn known_strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `GET groups/{id}/transitiveMembers[/microsoft.graph.user|group]`: users, then nested groups, each
/// once however the groups nest (cycles included), paged.
fn transitive_members(call: &Call<'_>, group_id: &str, cast: MemberCast) -> Response {
    let mut known = known_properties(&sample_user(), USER_EXTRA_PROPERTIES);
    known.extend(known_strings(GROUP_PROPERTIES));
    let type_name = match cast {
        MemberCast::Users => "microsoft.graph.user",
        MemberCast::Groups => "microsoft.graph.group",
        MemberCast::All => "microsoft.graph.directoryObject",
    };
    let select = match select_for(call, &known, type_name) {
        Ok(s) => s,
        Err(m) => return call.ids.bad_request(&m),
    };
    let top = match call
        .query
        .page_size(DIRECTORY_DEFAULT_PAGE, DIRECTORY_MAX_PAGE, false)
    {
        Ok(n) => n,
        Err(m) => return call.ids.bad_request(&m),
    };
    let offset = match &call.query.skiptoken {
        None => 0,
        Some(t) => match odata::decode_skiptoken("dir", t) {
            Some(o) => o,
            None => {
                return call
                    .ids
                    .bad_request("The specified page token value has expired or is not valid.");
            }
        },
    };
    // Only the page is serialised; users are looked up through one map per request, so a page of a
    // large group costs O(users + members), not O(users × members).
    let listing: Option<(Vec<Value>, usize)> = {
        let tenant = call.state.tenant();
        tenant.group(group_id).map(|_| {
            let (users, groups) = tenant.transitive_members(group_id);
            let mut ids: Vec<(bool, String)> = Vec::new();
            if cast != MemberCast::Groups {
                ids.extend(users.into_iter().map(|id| (true, id)));
            }
            if cast != MemberCast::Users {
                ids.extend(groups.into_iter().map(|id| (false, id)));
            }
            let total = ids.len();
            let by_id: HashMap<String, &User> = tenant
                .users
                .iter()
                .map(|u| (u.id.to_ascii_lowercase(), u))
                .collect();
            let page = ids
                .iter()
                .skip(offset)
                .take(top)
                .filter_map(|(is_user, id)| {
                    if *is_user {
                        Some(match by_id.get(&id.to_ascii_lowercase()) {
                            Some(user) => user_json(user),
                            None => json!({"@odata.type": "#microsoft.graph.user", "id": id}),
                        })
                    } else {
                        tenant.group(id).map(group_json)
                    }
                })
                .map(|v| odata::project(v, select.as_deref(), false))
                .collect();
            (page, total)
        })
    };
    let Some((page, total)) = listing else {
        return directory_not_found(call, group_id);
    };
    let fragment = match cast {
        MemberCast::Users => "users",
        MemberCast::Groups => "groups",
        MemberCast::All => "directoryObjects",
    };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(call.context(fragment)),
    );
    let next = offset + page.len();
    if next < total {
        let mut base = format!("{}/groups/{group_id}/transitiveMembers", call.base());
        match cast {
            MemberCast::Users => base.push_str("/microsoft.graph.user"),
            MemberCast::Groups => base.push_str("/microsoft.graph.group"),
            MemberCast::All => {}
        }
        let link = call
            .query
            .next_link(&base, &odata::encode_skiptoken("dir", next));
        body.insert("@odata.nextLink".into(), Value::String(link));
    }
    body.insert("value".into(), Value::Array(page));
    call.ids.json(StatusCode::OK, Value::Object(body))
}

/// `GET users/{id-or-upn}`.
fn get_user(call: &Call<'_>, id: &str) -> Response {
    let known = known_properties(&sample_user(), USER_EXTRA_PROPERTIES);
    let select = match select_for(call, &known, "microsoft.graph.user") {
        Ok(s) => s,
        Err(m) => return call.ids.bad_request(&m),
    };
    let found = call.state.tenant().user(id).map(to_json);
    match found {
        Some(value) => {
            let value = odata::project(value, select.as_deref(), true);
            call.ids
                .json(StatusCode::OK, entity(call.context("users/$entity"), value))
        }
        None => directory_not_found(call, id),
    }
}

/// `POST /users/{id | userPrincipalName}/sendMail` (learn.microsoft.com/graph/api/user-sendmail):
/// body `{"message": {"subject", "body": {"contentType", "content"}, "toRecipients": [{"emailAddress":
/// {"address"}}]}, "saveToSentItems": bool}` (default true), answer `202 Accepted` without a body.
///
/// Exchange authorises it per mailbox: the Entra permission `Mail.Send` allows every mailbox; without
/// it, the app's RBAC for Applications assignment of `Application Mail.Send` must have the mailbox in
/// its custom resource scope. Otherwise `403` with `ErrorAccessDenied` ("Access is denied. Check
/// credentials and try again.", Exchange's text for a mailbox the app may not use). An unknown user is
/// `404 ErrorInvalidUser`. The message lands in the outbox marked as sent through Graph.
fn send_mail(call: &Call<'_>, id: &str) -> Response {
    let state = call.state;
    state
        .counters
        .send_mail_requests
        .fetch_add(1, Ordering::Relaxed);
    // The sender, and whether an RBAC for Applications assignment made with the Exchange cmdlets
    // covers it.
    let found = {
        let tenant = state.tenant();
        let org = state.org();
        let user = tenant.user(id).map(|u| u.user_principal_name.clone());
        user.as_deref()
            .or(Some(id))
            .and_then(|key| org.find_mailbox(key))
            .map(|i| {
                (
                    org.mailboxes[i].cas.primary_smtp_address.clone(),
                    crate::lab::exchange::engine::mail_send_in_rbac_scope(
                        &org,
                        &call.claims.appid,
                        i,
                    ),
                )
            })
    };
    let Some((from, rbac_scope)) = found else {
        return call.ids.error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{id}' is invalid."),
        );
    };
    let unscoped = call
        .claims
        .roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case(MAIL_SEND));
    let in_scope = rbac_scope
        || state.tenant().app(&call.claims.appid).is_some_and(|app| {
            app.mail_send_scope
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&from))
        });
    if !unscoped && !in_scope {
        return call.ids.error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        );
    }
    let body = match json_object(call) {
        Ok(body) => body,
        Err(message) => return call.ids.bad_request(&message),
    };
    let Some(message) = body.get("message").and_then(Value::as_object) else {
        return call.ids.error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The request is invalid: 'message' is required.",
        );
    };
    let to: Vec<String> = message
        .get("toRecipients")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|r| r.pointer("/emailAddress/address").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if to.is_empty() || to.iter().any(|a| !a.contains('@')) {
        return call.ids.error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid.",
        );
    }
    let text = |pointer: &str| {
        message
            .get(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let body_of = |field: &str| {
        message
            .get("body")
            .and_then(|b| b.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let save = body
        .get("saveToSentItems")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let sent = super::SentMessage {
        from,
        to,
        subject: text("subject"),
        body: body_of("content"),
        body_type: match body_of("contentType").to_ascii_lowercase().as_str() {
            "html" => "HTML".to_string(),
            _ => "Text".to_string(),
        },
        disposition: if save { "SendAndSaveCopy" } else { "SendOnly" }.to_string(),
        sent_at: Utc::now(),
        via: super::SENT_VIA_GRAPH.to_string(),
    };
    if let Ok(mut outbox) = state.outbox.lock() {
        outbox.push(sent);
    }
    let mut response = StatusCode::ACCEPTED.into_response();
    call.ids.stamp(&mut response);
    response
}

/// The request body as a JSON object, or Graph's message for a 400.
fn json_object(call: &Call<'_>) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(&call.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.".into()),
    }
}

/// Applies a PATCH body to an object: every property given replaces the current one (`id` and
/// annotations excepted); the result must still deserialise.
fn merge_patch<T: Serialize + DeserializeOwned>(
    current: &T,
    patch: &Map<String, Value>,
) -> Result<T, String> {
    let mut value = to_json(current);
    if let Value::Object(map) = &mut value {
        for (k, v) in patch {
            if k.starts_with("@odata.") || k == "id" {
                continue;
            }
            map.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(value).map_err(|e| format!("Invalid request body: {e}"))
}

const CONNECTOR_TYPE: &str = "#microsoft.graph.deviceManagementExchangeConnector";

fn connector_not_found(call: &Call<'_>, id: &str) -> Response {
    call.ids.error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!(
            "Resource not found: deviceManagementExchangeConnector with id '{id}' does not exist."
        ),
    )
}

fn list_connectors(call: &Call<'_>) -> Response {
    let value: Vec<Value> = call
        .state
        .tenant()
        .exchange_connectors
        .iter()
        .map(|c| typed(to_json(c), CONNECTOR_TYPE))
        .collect();
    call.ids.json(
        StatusCode::OK,
        json!({
            "@odata.context": call.context("deviceManagement/exchangeConnectors"),
            "value": value,
        }),
    )
}

fn connector_entity(call: &Call<'_>, connector: &ExchangeConnector) -> Value {
    entity(
        call.context("deviceManagement/exchangeConnectors/$entity"),
        typed(to_json(connector), CONNECTOR_TYPE),
    )
}

fn create_connector(call: &Call<'_>) -> Response {
    let mut map = match json_object(call) {
        Ok(m) => m,
        Err(m) => return call.ids.bad_request(&m),
    };
    map.retain(|k, _| !k.starts_with("@odata."));
    let mut connector: ExchangeConnector = match serde_json::from_value(Value::Object(map)) {
        Ok(c) => c,
        Err(e) => return call.ids.bad_request(&format!("Invalid request body: {e}")),
    };
    if connector.id.is_empty() {
        connector.id = uuid::Uuid::new_v4().to_string();
    }
    {
        let mut tenant = call.state.tenant_mut();
        if tenant
            .exchange_connectors
            .iter()
            .any(|c| c.id.eq_ignore_ascii_case(&connector.id))
        {
            drop(tenant);
            return call.ids.error(
                StatusCode::CONFLICT,
                "Conflict",
                &format!(
                    "An exchange connector with id '{}' already exists.",
                    connector.id
                ),
            );
        }
        tenant.exchange_connectors.push(connector.clone());
    }
    let mut response = call
        .ids
        .json(StatusCode::CREATED, connector_entity(call, &connector));
    let location = format!(
        "{}/deviceManagement/exchangeConnectors/{}",
        call.base(),
        connector.id
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn get_connector(call: &Call<'_>, id: &str) -> Response {
    let found = call
        .state
        .tenant()
        .exchange_connectors
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id))
        .cloned();
    match found {
        Some(c) => call.ids.json(StatusCode::OK, connector_entity(call, &c)),
        None => connector_not_found(call, id),
    }
}

fn patch_connector(call: &Call<'_>, id: &str) -> Response {
    let patch = match json_object(call) {
        Ok(m) => m,
        Err(m) => return call.ids.bad_request(&m),
    };
    let updated = {
        let mut tenant = call.state.tenant_mut();
        let Some(slot) = tenant
            .exchange_connectors
            .iter_mut()
            .find(|c| c.id.eq_ignore_ascii_case(id))
        else {
            drop(tenant);
            return connector_not_found(call, id);
        };
        match merge_patch(slot, &patch) {
            Ok(new) => {
                *slot = new.clone();
                Ok(new)
            }
            Err(e) => Err(e),
        }
    };
    match updated {
        Ok(c) => call.ids.json(StatusCode::OK, connector_entity(call, &c)),
        Err(m) => call.ids.bad_request(&m),
    }
}

fn delete_connector(call: &Call<'_>, id: &str) -> Response {
    let removed = {
        let mut tenant = call.state.tenant_mut();
        let before = tenant.exchange_connectors.len();
        tenant
            .exchange_connectors
            .retain(|c| !c.id.eq_ignore_ascii_case(id));
        tenant.exchange_connectors.len() != before
    };
    if removed {
        call.ids.no_content()
    } else {
        connector_not_found(call, id)
    }
}

/// `POST exchangeConnectors/{id}/sync` with an optional `{"syncType":"fullSync"|"deltaSync"}`: 204.
fn sync_connector(call: &Call<'_>, id: &str) -> Response {
    if !call.body.is_empty() {
        let map = match json_object(call) {
            Ok(m) => m,
            Err(m) => return call.ids.bad_request(&m),
        };
        if let Some(sync_type) = map.get("syncType")
            && !matches!(sync_type.as_str(), Some("fullSync" | "deltaSync"))
        {
            return call.ids.bad_request(&format!(
                "Invalid value for syncType: {sync_type}. Expected 'fullSync' or 'deltaSync'."
            ));
        }
    }
    let exists = call
        .state
        .tenant()
        .exchange_connectors
        .iter()
        .any(|c| c.id.eq_ignore_ascii_case(id));
    if exists {
        call.ids.no_content()
    } else {
        connector_not_found(call, id)
    }
}

const CONDITIONAL_ACCESS_TYPE: &str = "#microsoft.graph.onPremisesConditionalAccessSettings";

fn conditional_access_entity(call: &Call<'_>) -> Value {
    let settings = call.state.tenant().conditional_access_settings.clone();
    entity(
        call.context("deviceManagement/conditionalAccessSettings/$entity"),
        typed(to_json(&settings), CONDITIONAL_ACCESS_TYPE),
    )
}

fn get_conditional_access(call: &Call<'_>) -> Response {
    call.ids
        .json(StatusCode::OK, conditional_access_entity(call))
}

fn patch_conditional_access(call: &Call<'_>) -> Response {
    let patch = match json_object(call) {
        Ok(m) => m,
        Err(m) => return call.ids.bad_request(&m),
    };
    let result = {
        let mut tenant = call.state.tenant_mut();
        merge_patch(&tenant.conditional_access_settings, &patch)
            .map(|new| tenant.conditional_access_settings = new)
    };
    match result {
        Ok(()) => call
            .ids
            .json(StatusCode::OK, conditional_access_entity(call)),
        Err(m) => call.ids.bad_request(&m),
    }
}

const POLICY_TYPE: &str = "#microsoft.graph.deviceManagementExchangeOnPremisesPolicy";

/// Whether `id` (from `exchangeOnPremisesPolicies/{id}`) names the singleton.
fn policy_matches(call: &Call<'_>, id: Option<&str>) -> bool {
    id.is_none_or(|id| {
        let current = call.state.tenant().exchange_on_premises_policy.id.clone();
        current.is_empty() || current.eq_ignore_ascii_case(id)
    })
}

fn policy_entity(call: &Call<'_>) -> Value {
    let policy = call.state.tenant().exchange_on_premises_policy.clone();
    entity(
        call.context("deviceManagement/exchangeOnPremisesPolicy/$entity"),
        typed(to_json(&policy), POLICY_TYPE),
    )
}

fn policy_not_found(call: &Call<'_>, id: Option<&str>) -> Response {
    call.ids.error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!(
            "Resource not found: deviceManagementExchangeOnPremisesPolicy with id '{}' does not exist.",
            id.unwrap_or_default()
        ),
    )
}

fn get_policy(call: &Call<'_>, id: Option<&str>) -> Response {
    if !policy_matches(call, id) {
        return policy_not_found(call, id);
    }
    call.ids.json(StatusCode::OK, policy_entity(call))
}

fn patch_policy(call: &Call<'_>, id: Option<&str>) -> Response {
    if !policy_matches(call, id) {
        return policy_not_found(call, id);
    }
    let patch = match json_object(call) {
        Ok(m) => m,
        Err(m) => return call.ids.bad_request(&m),
    };
    let result = {
        let mut tenant = call.state.tenant_mut();
        merge_patch(&tenant.exchange_on_premises_policy, &patch)
            .map(|new| tenant.exchange_on_premises_policy = new)
    };
    match result {
        Ok(()) => call.ids.json(StatusCode::OK, policy_entity(call)),
        Err(m) => call.ids.bad_request(&m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        segments(path)
    }

    #[test]
    fn routes_resolve_case_insensitively_and_name_unknown_segments() {
        assert_eq!(
            resolve(Version::V1, &segs("devicemanagement/manageddevices")),
            Ok(Route::ManagedDevices)
        );
        assert_eq!(
            resolve(Version::V1, &segs("deviceManagement/managedDevices('abc')")),
            Ok(Route::ManagedDevice("abc".into()))
        );
        assert_eq!(
            resolve(
                Version::Beta,
                &segs("deviceManagement/exchangeConnectors/x/microsoft.graph.sync")
            ),
            Ok(Route::ExchangeConnectorSync("x".into()))
        );
        assert_eq!(
            resolve(
                Version::V1,
                &segs("deviceManagement/exchangeOnPremisesPolicy")
            ),
            Err("exchangeOnPremisesPolicy".into())
        );
        assert_eq!(
            resolve(
                Version::V1,
                &segs("groups/g1/transitiveMembers/microsoft.graph.user")
            ),
            Ok(Route::TransitiveMembers("g1".into(), MemberCast::Users))
        );
        assert_eq!(resolve(Version::V1, &segs("Groups")), Ok(Route::Groups));
        assert_eq!(
            resolve(Version::V1, &segs("widgets")),
            Err("widgets".into())
        );
        assert_eq!(
            resolve(Version::V1, &segs("users/a%40b.com")),
            Ok(Route::User("a@b.com".into()))
        );
    }

    #[test]
    fn budget_refuses_beyond_the_window_limit() {
        let budgets = Budgets::default();
        assert!(budgets.charge("app", 2, 20).is_ok());
        assert!(budgets.charge("app", 2, 20).is_ok());
        let wait = budgets.charge("app", 2, 20).unwrap_err();
        assert!((1..=20).contains(&wait));
        assert!(budgets.charge("other", 2, 20).is_ok());
        assert!(budgets.charge("app", 0, 20).is_ok());
    }
}
