//! The CAS `/PowerShell/` endpoint. Real Exchange speaks MS-PSRP over WS-Management here; the lab
//! replaces PowerShell + WS-Man with a small private HTTP protocol that only the `pwsh` stand-in
//! ([`super::pwsh`]) speaks, keeping the behaviour the connector depends on: authentication, the
//! per-account shell quota (`PowerShellMaxConcurrency`), idle expiry, sessions bound to the CAS that
//! opened them, and streamed output.
//!
//! # Protocol
//!
//! * `POST /PowerShell/` with `Authorization: Basic` opens a session: `200 {"runspaceId","server",
//!   "psVersion"}`, or an [`OpenRefusal`] body (`401` wrong credentials, `503` shell quota exceeded,
//!   any storm status for an injected transport failure).
//! * `POST /PowerShell/{runspaceId}/invoke` with `{"cmdlet":..,"parameters":{..}}` streams NDJSON:
//!   `{"record":{..}}` per object, `{"warning":".."}`, `{"error":{ErrorRecord}}`, then
//!   `{"end":{"ok":..,"count":..}}`. An unknown, expired or foreign session answers `404` with an
//!   [`OpenRefusal`] of kind `SessionBroken`.
//! * `DELETE /PowerShell/{runspaceId}` closes the session (`204`).

use super::engine::{self, CallContext, Item};
use crate::lab::faults::Surface;
use crate::lab::{LabState, ServingCas, ShellSession};
use crate::model::exchange::ErrorRecord;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Objects serialised per streamed chunk (and per org read-lock hold).
const CHUNK: usize = 256;

/// The PowerShell version the lab reports.
pub const PS_VERSION: &str = "5.1.17763.1";

/// Why the endpoint refused to open a session or run a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRefusal {
    /// `Authentication`, `Throttled`, `Transport` or `SessionBroken`.
    pub kind: String,
    /// The WS-Management error text (what follows "failed with the following error message : ").
    pub message: String,
}

/// `200` answer to an open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Opened {
    /// Session id.
    pub runspace_id: String,
    /// FQDN of the CAS holding it.
    pub server: String,
    /// PowerShell version of the remote host.
    pub ps_version: String,
}

/// Body of an invoke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvokeBody {
    /// Cmdlet name.
    pub cmdlet: String,
    /// Parameters.
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

/// The routes.
pub fn router() -> Router<Arc<LabState>> {
    Router::new()
        .route("/PowerShell", post(open))
        .route("/PowerShell/", post(open))
        .route("/PowerShell/{session}/invoke", post(invoke))
        .route("/PowerShell/{session}", delete(close))
}

fn refusal(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        Json(OpenRefusal {
            kind: kind.to_string(),
            message,
        }),
    )
        .into_response()
}

/// Drops sessions idle longer than the configured timeout.
fn expire_idle(state: &LabState) {
    let timeout = state.faults().shell_idle_timeout_seconds;
    let now = Utc::now();
    let mut shells = state.shells.lock().unwrap_or_else(|e| e.into_inner());
    shells.retain(|_, s| (now - s.last_used).num_seconds() < timeout as i64);
}

/// See [`super::drop_sessions_of_cas`].
pub fn drop_sessions_of_cas(state: &LabState, cas_name: &str) -> usize {
    let mut shells = state.shells.lock().unwrap_or_else(|e| e.into_inner());
    let before = shells.len();
    shells.retain(|_, s| !s.cas.eq_ignore_ascii_case(cas_name));
    before - shells.len()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn storm(state: &LabState) -> Option<Response> {
    let (status, retry_after) = state.faults().take_storm(Surface::PowerShell)?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = refusal(
        status,
        "Transport",
        format!(
            "The WinRM client received an HTTP server error status ({}), but the remote service did not include any other information about the cause of the failure.",
            status.as_u16()
        ),
    );
    if retry_after > 0 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    Some(response)
}

async fn open(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = storm(&state) {
        return response;
    }
    let account = basic_credentials(&headers).and_then(|(user, password)| {
        state
            .org()
            .authenticate(&user, &password)
            .map(|a| a.user_name.to_ascii_lowercase())
    });
    let Some(account) = account else {
        let mut response = refusal(
            StatusCode::UNAUTHORIZED,
            "Authentication",
            "Access is denied.".into(),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", cas.fqdn)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return response;
    };
    expire_idle(&state);
    let limit = state.faults().max_concurrent_shells;
    let now = Utc::now();
    let id = uuid::Uuid::new_v4().to_string();
    {
        let mut shells = state.shells.lock().unwrap_or_else(|e| e.into_inner());
        let open = shells.values().filter(|s| s.account == account).count();
        if open >= limit as usize {
            drop(shells);
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Throttled",
                format!(
                    "The WS-Management service cannot process the request. This user is allowed a maximum of {limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user."
                ),
            );
        }
        shells.insert(
            id.clone(),
            ShellSession {
                id: id.clone(),
                account,
                cas: cas.name.clone(),
                opened_at: now,
                last_used: now,
            },
        );
    }
    Json(Opened {
        runspace_id: id,
        server: cas.fqdn.clone(),
        ps_version: PS_VERSION.into(),
    })
    .into_response()
}

async fn close(State(state): State<Arc<LabState>>, Path(session): Path<String>) -> StatusCode {
    let removed = state
        .shells
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&session)
        .is_some();
    if removed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

fn line(value: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

async fn invoke(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    Path(session): Path<String>,
    Json(body): Json<InvokeBody>,
) -> Response {
    if let Some(response) = storm(&state) {
        return response;
    }
    expire_idle(&state);
    let account_name = {
        let mut shells = state.shells.lock().unwrap_or_else(|e| e.into_inner());
        match shells.get_mut(&session) {
            Some(s) if s.cas.eq_ignore_ascii_case(&cas.name) => {
                s.last_used = Utc::now();
                Some(s.account.clone())
            }
            _ => None,
        }
    };
    let account = account_name.and_then(|name| {
        state
            .org()
            .accounts
            .iter()
            .find(|a| a.is_named(&name))
            .cloned()
    });
    let Some(account) = account else {
        return refusal(
            StatusCode::NOT_FOUND,
            "SessionBroken",
            format!(
                "The session {session} is not available on {}: it expired, was closed, or belongs to another server.",
                cas.fqdn
            ),
        );
    };
    let ctx = CallContext {
        account: &account,
        server: &cas.name,
    };
    let started = std::time::Instant::now();
    let result = engine::invoke(&state, &ctx, &body.cmdlet, &body.parameters);
    engine::charge_call(&state, 0, started).await;
    let (items, warnings, errors, ok) = match result {
        Ok(out) => (out.items, out.warnings, out.errors, true),
        Err(record) => (Vec::new(), Vec::new(), vec![record], false),
    };
    let stream = records_stream(state.clone(), items, warnings, errors, ok);
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// Streams the records in chunks (each taking the org read lock briefly), then the warnings, the
/// errors and the end line.
fn records_stream(
    state: Arc<LabState>,
    items: Vec<Item>,
    warnings: Vec<String>,
    errors: Vec<ErrorRecord>,
    ok: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let total = items.len();
    let init = (state, items, 0usize, Some((warnings, errors)));
    futures_util::stream::unfold(init, move |(state, items, pos, tail)| async move {
        if pos < items.len() {
            let end = (pos + CHUNK).min(items.len());
            let mut buf = Vec::with_capacity((end - pos) * 1024);
            {
                let org = state.org();
                for item in &items[pos..end] {
                    buf.extend_from_slice(b"{\"record\":");
                    if engine::write_item(&org, item, &mut buf).is_err() {
                        buf.extend_from_slice(b"null");
                    }
                    buf.extend_from_slice(b"}\n");
                }
            }
            engine::charge_objects(&state, end - pos).await;
            return Some((Ok(Bytes::from(buf)), (state, items, end, tail)));
        }
        let (warnings, errors) = tail?;
        let mut buf = Vec::new();
        for w in &warnings {
            buf.extend(line(&serde_json::json!({ "warning": w })));
        }
        for e in &errors {
            buf.extend(line(&serde_json::json!({ "error": e })));
        }
        buf.extend(line(
            &serde_json::json!({ "end": { "ok": ok, "count": total } }),
        ));
        Some((Ok(Bytes::from(buf)), (state, items, pos, None)))
    })
}
