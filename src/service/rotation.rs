//! The service rolls its own certificate: from [`ROTATE_DAYS_BEFORE_EXPIRY`] days before the current
//! one expires it makes a new one here (the private key never leaves this machine), adds its public
//! key to its own app registration with Graph `addKey` (the proof of possession signed by the current
//! key; an app needs no permission to roll its own keys — learn.microsoft.com, "application: addKey"),
//! stores the new certificate with [`crate::secrets`], then removes the old key with `removeKey`
//! (proved by the new one). Nothing is lost on a failure: before the new certificate is stored the
//! old one still works; if storing fails the added key is removed again.

use crate::certificate::{CertificateError, ClientCertificate};
use crate::config::Config;
pub use crate::onboarding::rotation::{ROTATE_DAYS_BEFORE_EXPIRY, needs_rotation};
use crate::onboarding::rotation::{add_key, key_id_for, key_id_of, remove_key};
use crate::onboarding::{DirectoryClient, OnboardingError};
use crate::secret::Secret;
use crate::secrets::SecretStore;
use chrono::{DateTime, Utc};

/// Validity of a certificate the service makes for itself, in days.
pub const ROTATED_CERTIFICATE_DAYS: i64 = 730;

/// Why the rotation did not happen. The current certificate stays in use in every case.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The configuration does not name the app registration's object id.
    #[error(
        "the configuration names no ApplicationObjectId (the object id of the connector's app registration, which the proof of possession names): run `exchange-connector-service onboard` again, or set it with `configure` (Entra admin center: App registrations, the app, Object ID)"
    )]
    NoObjectId,
    /// The app's own token could not be had.
    #[error("the connector's app could not sign in to Graph: {0}")]
    Token(String),
    /// The proxy setting cannot be used.
    #[error("the proxy setting cannot be used: {0}")]
    Proxy(String),
    /// A Graph call failed.
    #[error(
        "{0}. The app must still hold its current certificate; if the app registration was changed or deleted, run `onboard` again"
    )]
    Graph(#[from] OnboardingError),
    /// The new certificate could not be made.
    #[error("the new certificate cannot be made: {0}")]
    Certificate(#[from] CertificateError),
    /// The new certificate could not be stored; its key was taken off the app again.
    #[error(
        "the new certificate cannot be stored ({0}); its key was removed from the app again and the current certificate stays in use"
    )]
    Store(String),
}

/// A rotation done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// SHA-1 thumbprint of the certificate replaced.
    pub old_thumbprint: String,
    /// SHA-1 thumbprint of the new one.
    pub new_thumbprint: String,
    /// When the new one expires.
    pub expires: Option<DateTime<Utc>>,
}

impl std::fmt::Display for Rotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rolled on {}: certificate {} replaced by {}",
            Utc::now().format("%Y-%m-%d"),
            self.old_thumbprint,
            self.new_thumbprint
        )?;
        if let Some(end) = self.expires {
            write!(f, " (valid until {})", end.format("%Y-%m-%d"))?;
        }
        Ok(())
    }
}

/// Rolls `current` to a new certificate: `addKey`, store, `removeKey`. `app_token` is the app's own
/// Graph token (got with `current`).
pub async fn rotate(
    config: &Config,
    secrets: &dyn SecretStore,
    instance: &str,
    current: &ClientCertificate,
    app_token: Secret,
) -> Result<Rotated, RotationError> {
    let object_id = config
        .application_object_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or(RotationError::NoObjectId)?;
    let proxy = crate::proxy::configured(config, secrets, instance)
        .map_err(|e| RotationError::Proxy(crate::error_text::chain(&e)))?;
    let http =
        crate::connection::onboarding_http(config.trusted_ca_file.as_deref(), proxy.as_ref())?;
    let graph = DirectoryClient::with_bearer(http, &config.graph_base, app_token);
    let old_key = key_id_of(&graph, &object_id, current)
        .await
        .unwrap_or_else(|| key_id_for(current));
    let subject = current
        .subject
        .trim_start_matches("CN=")
        .split(',')
        .next()
        .unwrap_or("Exchange Connector")
        .to_string();
    let next = ClientCertificate::generate(&subject, ROTATED_CERTIFICATE_DAYS)?;
    let added = add_key(&graph, &object_id, current, &next).await?;
    if let Err(problem) = store(secrets, instance, &next) {
        // Take the new key off again (proved by the current one, still valid): the app stays as it was.
        let _ = remove_key(&graph, &object_id, &added, current).await;
        return Err(RotationError::Store(problem));
    }
    remove_key(&graph, &object_id, &old_key, &next).await?;
    Ok(Rotated {
        old_thumbprint: current.sha1_thumbprint_hex(),
        new_thumbprint: next.sha1_thumbprint_hex(),
        expires: next.not_after(),
    })
}

/// Stores `certificate` as the connector's certificate (PFX with a new random password).
fn store(
    secrets: &dyn SecretStore,
    instance: &str,
    certificate: &ClientCertificate,
) -> Result<(), String> {
    use base64::Engine as _;
    let password = Secret::new(uuid::Uuid::new_v4().simple().to_string());
    let pfx = certificate
        .to_pfx(&password)
        .map_err(|e| crate::error_text::chain(&e))?;
    let pfx = Secret::new(base64::engine::general_purpose::STANDARD.encode(pfx));
    crate::secrets::store_all(
        secrets,
        instance,
        &[
            ("ClientCertificate", &pfx),
            ("CertificatePassword", &password),
        ],
    )
    .map_err(|e| crate::error_text::chain(&e))
}
