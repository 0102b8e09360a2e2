//! The lab's Exchange management surface.
//!
//! | module | what |
//! |---|---|
//! | [`engine`] | the cmdlet engine over [`super::org::ExchangeOrg`], shared by both entry points |
//! | [`app_rbac`] | RBAC for Applications: service principal pointers, management scopes, role assignments |
//! | [`opath`] | OPATH `-Filter` parsing and evaluation |
//! | [`rest`] | REST `InvokeCommand` as Exchange Online serves it (cloud listener) |
//! | [`powershell_endpoint`] | the CAS `/PowerShell/` endpoint (a lab-private HTTP protocol standing in for WS-Man) |
//! | [`pwsh`] | `exchange-connector-lab pwsh`: the PowerShell stand-in speaking the bridge protocol |

use super::LabState;
use axum::Router;
use std::sync::Arc;

pub mod app_rbac;
pub mod engine;
pub mod opath;
pub mod powershell_endpoint;
pub mod pwsh;
pub mod rest;

/// REST `InvokeCommand` routes, mounted on the cloud listener.
pub fn rest_router() -> Router<Arc<LabState>> {
    rest::router()
}

/// Routes a Client Access server serves for management (`/PowerShell/`). Every request needs an
/// `axum::Extension<ServingCas>` naming the CAS that answered.
pub fn cas_router() -> Router<Arc<LabState>> {
    powershell_endpoint::router()
}

/// Forgets every PowerShell session held by a CAS (call when the CAS stops: its sessions die with it,
/// and no longer count against their accounts' shell quota). Returns how many were dropped.
pub fn drop_sessions_of_cas(state: &LabState, cas_name: &str) -> usize {
    powershell_endpoint::drop_sessions_of_cas(state, cas_name)
}
