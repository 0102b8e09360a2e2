//! The lab's Exchange management surface (in progress).

use super::LabState;
use axum::Router;
use std::sync::Arc;

pub mod pwsh;

/// REST `InvokeCommand` routes, mounted on the cloud listener.
pub fn rest_router() -> Router<Arc<LabState>> {
    Router::new()
}

/// Routes a Client Access server serves for management (`/PowerShell/`).
pub fn cas_router() -> Router<Arc<LabState>> {
    Router::new()
}
