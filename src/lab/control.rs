//! The control API (JSON, under `control_base`): what tests and people trying the product use to look
//! inside the lab and to change the world — a compliance change, a user's new phone, a CAS going down,
//! faults.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /status` | device counts by state, mailboxes, CAS servers up/down, counters |
//! | `GET /devices[?mailbox=alias]` | every partnership: mailbox, `DeviceId`, state, reason, rule |
//! | `GET /outbox`, `DELETE /outbox` | messages sent through EWS or Graph `sendMail` (`via`: `ews` or `graph`) |
//! | `POST /cas/{name}/stop`, `POST /cas/{name}/start` | take a Client Access server down or up |
//! | `POST /managed-devices/{id or easDeviceId}/compliance` `{"complianceState":"noncompliant"}` | change compliance |
//! | `POST /managed-devices/flip-compliance` `{"count":500}` | the first `count` managed devices with an EAS id turn compliant ↔ noncompliant (a benchmark's "1 % changed", without the caller listing the tenant); answers `{"flipped":[ids]}` |
//! | `POST /managed-devices` (a `managedDevice`) | enrol a device in Intune |
//! | `POST /partnerships` `{"mailbox","deviceId","deviceType",...}` | a user's new phone syncs for the first time |
//! | `GET /faults`, `PUT /faults`, `PATCH /faults` | read, replace or merge the fault settings |
//! | `POST /tokens/expire` | every access token issued so far becomes expired |
//! | `GET /sessions` | open PowerShell sessions |
//! | `/sign-in/...` | answer device codes as a signed-in admin with a role, or decline; list the directory (see [`super::sign_in::control_router`]) |
//! | `GET /counters` | calls served per surface (`ewsRequests` counts EWS and Autodiscover, refused ones too, so a hosted run can assert zero; `sendMailRequests`); `Set-CASMailbox` calls per mailbox (`mailboxWrites`) |

use super::LabState;
use super::cas::{CasError, CasManager};
use super::faults::Faults;
use super::org::LabDevice;
use crate::model::intune::{ComplianceState, ManagedDevice};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[derive(Clone)]
struct Control {
    state: Arc<LabState>,
    cas: Arc<CasManager>,
}

/// The control routes.
pub fn router(state: Arc<LabState>, cas: Arc<CasManager>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/devices", get(devices))
        .route("/outbox", get(outbox).delete(clear_outbox))
        .route("/cas/{name}/stop", post(stop_cas))
        .route("/cas/{name}/start", post(start_cas))
        .route("/managed-devices", post(enrol))
        .route("/managed-devices/flip-compliance", post(flip_compliance))
        .route("/managed-devices/{key}/compliance", post(set_compliance))
        .route("/partnerships", post(add_partnership))
        .route(
            "/faults",
            get(get_faults).put(put_faults).patch(patch_faults),
        )
        .route("/tokens/expire", post(expire_tokens))
        .route("/sessions", get(sessions))
        .route("/counters", get(counters))
        .with_state(Control {
            state: state.clone(),
            cas,
        })
        .nest("/sign-in", super::sign_in::control_router(state))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn counters_json(state: &LabState) -> Value {
    let c = &state.counters;
    json!({
        "exchangeCalls": c.exchange_calls.load(Ordering::Relaxed),
        "exchangeObjects": c.exchange_objects.load(Ordering::Relaxed),
        "graphRequests": c.graph_requests.load(Ordering::Relaxed),
        "tokenRequests": c.token_requests.load(Ordering::Relaxed),
        "ewsRequests": c.ews_requests.load(Ordering::Relaxed),
        "sendMailRequests": c.send_mail_requests.load(Ordering::Relaxed),
        "mailboxWrites": c.mailbox_writes.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    })
}

async fn status(State(control): State<Control>) -> Json<Value> {
    let cas: Vec<Value> = control
        .cas
        .status()
        .await
        .into_iter()
        .map(|(name, running)| json!({ "name": name, "running": running }))
        .collect();
    let state = &control.state;
    let (counts, mailboxes, devices, default_level) = {
        let org = state.org();
        (
            org.state_counts(),
            org.mailboxes.len(),
            org.device_count(),
            org.settings.default_access_level,
        )
    };
    let managed = state.tenant().managed_devices.len();
    Json(json!({
        "mailboxes": mailboxes,
        "devices": devices,
        "devicesByState": counts,
        "defaultAccessLevel": default_level,
        "managedDevices": managed,
        "casServers": cas,
        "outbox": state.outbox.lock().map(|o| o.len()).unwrap_or(0),
        "counters": counters_json(state),
    }))
}

#[derive(Deserialize)]
struct DevicesQuery {
    mailbox: Option<String>,
}

async fn devices(State(control): State<Control>, Query(query): Query<DevicesQuery>) -> Response {
    let org = control.state.org();
    let selected: Vec<usize> = match &query.mailbox {
        Some(identity) => match org.find_mailbox(identity) {
            Some(idx) => vec![idx],
            None => return error(StatusCode::NOT_FOUND, format!("no mailbox '{identity}'")),
        },
        None => (0..org.mailboxes.len()).collect(),
    };
    let mut out = Vec::new();
    for idx in selected {
        let mb = &org.mailboxes[idx];
        for d in &mb.devices {
            let device = &d.device;
            out.push(json!({
                "mailbox": mb.cas.identity,
                "primarySmtpAddress": mb.cas.primary_smtp_address,
                "userId": mb.cas.external_directory_object_id,
                "deviceId": device.device_id,
                "deviceType": device.device_type,
                "deviceModel": device.device_model,
                "deviceAccessState": device.device_access_state,
                "deviceAccessStateReason": device.device_access_state_reason,
                "deviceAccessControlRule": device.device_access_control_rule,
                "firstSyncTime": device.first_sync_time,
                "whenChanged": device.when_changed,
            }));
        }
    }
    Json(Value::Array(out)).into_response()
}

async fn outbox(State(control): State<Control>) -> Response {
    let messages = control
        .state
        .outbox
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    Json(messages).into_response()
}

async fn clear_outbox(State(control): State<Control>) -> StatusCode {
    if let Ok(mut outbox) = control.state.outbox.lock() {
        outbox.clear();
    }
    StatusCode::NO_CONTENT
}

async fn stop_cas(State(control): State<Control>, Path(name): Path<String>) -> Response {
    match control.cas.stop(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn start_cas(State(control): State<Control>, Path(name): Path<String>) -> Response {
    match control.cas.start(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(CasError::UnknownCas(n)) => error(StatusCode::NOT_FOUND, format!("no CAS named '{n}'")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComplianceChange {
    compliance_state: ComplianceState,
}

async fn set_compliance(
    State(control): State<Control>,
    Path(key): Path<String>,
    Json(change): Json<ComplianceChange>,
) -> Response {
    let mut tenant = control.state.tenant_mut();
    let Some(device) = tenant.managed_devices.iter_mut().find(|d| {
        d.id.eq_ignore_ascii_case(&key)
            || d.eas_device_id
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&key))
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no managed device with id or easDeviceId '{key}'"),
        );
    };
    device.compliance_state = Some(change.compliance_state);
    // Intune moves lastSyncDateTime when the device checks in and reports the new state.
    device.last_sync_date_time = Some(Utc::now());
    Json(device.clone()).into_response()
}

#[derive(Deserialize)]
struct FlipCompliance {
    count: usize,
}

/// Flips the compliance of the first `count` managed devices that have an EAS partnership id, each
/// as a device reporting its new state would (lastSyncDateTime moves).
async fn flip_compliance(
    State(control): State<Control>,
    Json(flip): Json<FlipCompliance>,
) -> Response {
    let mut tenant = control.state.tenant_mut();
    let now = Utc::now();
    let flipped: Vec<String> = tenant
        .managed_devices
        .iter_mut()
        .filter(|d| d.eas_device_id.is_some())
        .take(flip.count)
        .map(|d| {
            d.compliance_state = Some(match d.compliance_state {
                Some(ComplianceState::Compliant) => ComplianceState::Noncompliant,
                _ => ComplianceState::Compliant,
            });
            d.last_sync_date_time = Some(now);
            d.id.clone()
        })
        .collect();
    Json(json!({ "flipped": flipped })).into_response()
}

async fn enrol(State(control): State<Control>, Json(mut device): Json<ManagedDevice>) -> Response {
    if device.id.is_empty() {
        device.id = uuid::Uuid::new_v4().to_string();
    }
    device.last_sync_date_time.get_or_insert_with(Utc::now);
    device.enrolled_date_time.get_or_insert_with(Utc::now);
    let mut tenant = control.state.tenant_mut();
    if let Some(user) = device
        .user_id
        .as_deref()
        .and_then(|id| tenant.user(id))
        .cloned()
    {
        device
            .user_principal_name
            .get_or_insert(user.user_principal_name.clone());
        device
            .email_address
            .get_or_insert(user.user_principal_name.clone());
    }
    if tenant.managed_devices.iter().any(|d| d.id == device.id) {
        return error(
            StatusCode::CONFLICT,
            format!("managed device {} exists", device.id),
        );
    }
    tenant.managed_devices.push(device.clone());
    (StatusCode::CREATED, Json(device)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewPartnership {
    mailbox: String,
    device_id: String,
    device_type: String,
    #[serde(default)]
    device_model: Option<String>,
    #[serde(default)]
    device_os: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    friendly_name: Option<String>,
}

async fn add_partnership(
    State(control): State<Control>,
    Json(new): Json<NewPartnership>,
) -> Response {
    if new.device_id.is_empty()
        || new.device_id.len() > 64
        || !new.device_id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "deviceId must be 1-64 letters and digits, as EAS DeviceIds are",
        );
    }
    let mut org = control.state.org_mut();
    let Some(idx) = org.find_mailbox(&new.mailbox) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no mailbox '{}'", new.mailbox),
        );
    };
    if org.mailboxes[idx]
        .devices
        .iter()
        .any(|d| d.device.device_id.eq_ignore_ascii_case(&new.device_id))
    {
        return error(
            StatusCode::CONFLICT,
            format!(
                "mailbox '{}' already has device {}",
                new.mailbox, new.device_id
            ),
        );
    }
    let (alias, display) = {
        let mb = &org.mailboxes[idx];
        (mb.cas.identity.clone(), mb.cas.display_name.clone())
    };
    let mut device =
        super::org::new_device_record(&alias, &display, &new.device_id, &new.device_type);
    device.device_model = new.device_model;
    device.device_os = new.device_os;
    device.device_user_agent = new.user_agent;
    device.friendly_name = new.friendly_name;
    let now = Utc::now();
    let d = org.add_device(
        idx,
        LabDevice {
            device,
            meets_mailbox_policy: true,
            last_success_sync: Some(now),
            last_sync_attempt_time: Some(now),
            last_policy_update_time: Some(now),
        },
    );
    let record = org.mailboxes[idx].devices[d].device.clone();
    (StatusCode::CREATED, Json(record)).into_response()
}

async fn get_faults(State(control): State<Control>) -> Json<Faults> {
    Json(control.state.faults().clone())
}

async fn put_faults(State(control): State<Control>, Json(faults): Json<Faults>) -> Json<Faults> {
    *control.state.faults() = faults.clone();
    Json(faults)
}

async fn patch_faults(State(control): State<Control>, Json(patch): Json<Value>) -> Response {
    let mut faults = control.state.faults();
    let mut current = serde_json::to_value(&*faults).unwrap_or(Value::Null);
    if let (Value::Object(target), Value::Object(changes)) = (&mut current, patch) {
        for (key, value) in changes {
            target.insert(key, value);
        }
    }
    match serde_json::from_value::<Faults>(current) {
        Ok(updated) => {
            *faults = updated.clone();
            Json(updated).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid fault settings: {e}"),
        ),
    }
}

async fn expire_tokens(State(control): State<Control>) -> StatusCode {
    // Tokens carry whole seconds: one issued in this very second stays valid, so a client that
    // renews at once is not refused.
    control.state.faults().tokens_not_before = Some(Utc::now());
    StatusCode::NO_CONTENT
}

async fn sessions(State(control): State<Control>) -> Json<Value> {
    let sessions = control
        .state
        .shells
        .lock()
        .map(|s| {
            s.values()
                .map(|s| json!({"id": s.id, "account": s.account, "cas": s.cas, "openedAt": s.opened_at, "lastUsed": s.last_used}))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Json(Value::Array(sessions))
}

async fn counters(State(control): State<Control>) -> Json<Value> {
    Json(counters_json(&control.state))
}
