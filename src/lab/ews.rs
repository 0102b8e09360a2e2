//! (in progress)

use super::LabState;
use axum::Router;
use std::sync::Arc;

/// Routes of this surface.
pub fn router() -> Router<Arc<LabState>> {
    Router::new()
}
