//! Every server its own key on the connector's app. A second server (or an admin preparing a package
//! for one) signs in, finds the tagged app, makes a certificate on the machine that runs the command
//! and adds its public key beside the keys the app already holds: each server's rotation then removes
//! only its own old key ([`super::rotation`]), never the key another server still signs in with.
//!
//! An admin cannot use `addKey`: its proof of possession must be signed by one of the app's current
//! keys, which live on the other servers (learn.microsoft.com, "application: addKey": apps without a
//! valid certificate "use the Update application operation"; the Graph team in
//! microsoftgraph/microsoft-graph-docs#14626: addKey works in an app-only context, an admin uses PATCH
//! on the application). `PATCH /applications/{id}` with `keyCredentials` replaces the whole collection,
//! so the existing keys are sent again with their values, and those values are returned only by
//! `GET /applications/{id}?$select=keyCredentials` on that single object, `null` otherwise
//! (learn.microsoft.com, "keyCredential resource type", property `key`).

use super::OnboardingError;
use super::apply::{ExistingApp, OnboardOptions, Progress, find_app, key_credential};
use super::graph::DirectoryClient;
use crate::certificate::ClientCertificate;
use serde_json::{Value, json};

/// A certificate made here whose public key was added to the connector's existing app.
#[derive(Debug)]
pub struct ServerCredential {
    /// The app (its object id is the `ApplicationObjectId` rotation's proof names).
    pub app: ExistingApp,
    /// The new certificate, with its private key (on this machine only).
    pub certificate: ClientCertificate,
}

/// Finds the app onboarding created (by [`super::APP_TAG`]; never creates one) and adds a new certificate
/// made here to it, keeping every key it holds. For `package create --sign-in`: the package of a
/// second server.
pub async fn add_server(
    directory: &DirectoryClient,
    options: &OnboardOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ServerCredential, OnboardingError> {
    let app = find_app(directory)
        .await?
        .ok_or(OnboardingError::AppNotFound)?;
    let certificate = add_server_certificate(directory, &app, options, progress).await?;
    Ok(ServerCredential { app, certificate })
}

/// Makes a certificate here and adds its public key to `app`, keeping the keys it holds: one line of
/// progress says so. The one way a server gets its key on an existing app (`onboard`'s `apply` and
/// [`add_server`]).
pub async fn add_server_certificate(
    directory: &DirectoryClient,
    app: &ExistingApp,
    options: &OnboardOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ClientCertificate, OnboardingError> {
    let certificate = ClientCertificate::generate(&options.app_name, options.certificate_days)?;
    let mut keys = read_keys(directory, app).await?;
    keys.push(key_credential(&certificate));
    write_keys(directory, app, keys).await?;
    progress(Progress {
        line: crate::coded!(
            "ob_added_server_key",
            "found the app {app_id}, added this server's certificate (thumbprint {thumbprint}); its other keys are kept",
            app_id = app.app_id,
            thumbprint = certificate.sha1_thumbprint_hex()
        ),
    });
    Ok(certificate)
}

/// Takes the key `key_id` off `app` again, keeping the others (undoing [`add_server_certificate`]).
pub async fn remove_server_key(
    directory: &DirectoryClient,
    app: &ExistingApp,
    key_id: &str,
) -> Result<(), OnboardingError> {
    let mut keys = read_keys(directory, app).await?;
    let before = keys.len();
    keys.retain(|k| {
        !k.get("keyId")
            .and_then(Value::as_str)
            .is_some_and(|id| id.eq_ignore_ascii_case(key_id))
    });
    if keys.len() == before {
        return Ok(());
    }
    write_keys(directory, app, keys).await
}

/// The app's keys with their values (`$select=keyCredentials` on the one app), ready to be sent back.
async fn read_keys(
    directory: &DirectoryClient,
    app: &ExistingApp,
) -> Result<Vec<Value>, OnboardingError> {
    let path = format!("applications/{}?$select=keyCredentials", app.object_id);
    let read = directory
        .send(reqwest::Method::GET, &path, None)
        .await?
        .map_err(|f| refusal(f, app, "read the app's certificates"))?;
    let keys: Vec<Value> = read
        .get("keyCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // A key without its value would be deleted by the PATCH: refuse rather than drop a server's key.
    if let Some(blank) = keys.iter().find(|k| {
        k.get("key")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    }) {
        return Err(OnboardingError::KeyWithoutValue {
            key_id: blank
                .get("keyId")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
        });
    }
    Ok(keys)
}

/// Replaces the app's keys with `keys` (Graph replaces the whole collection).
async fn write_keys(
    directory: &DirectoryClient,
    app: &ExistingApp,
    keys: Vec<Value>,
) -> Result<(), OnboardingError> {
    directory
        .send(
            reqwest::Method::PATCH,
            &format!("applications/{}", app.object_id),
            Some(&json!({ "keyCredentials": keys })),
        )
        .await?
        .map(|_| ())
        .map_err(|f| refusal(f, app, "update the app's certificates"))
}

fn refusal(
    failure: super::graph::GraphFailure,
    app: &ExistingApp,
    action: &str,
) -> OnboardingError {
    if failure.is_denied() {
        OnboardingError::MayNotUpdateApp {
            app_id: app.app_id.clone(),
            detail: failure.message,
        }
    } else if failure.status == 404 {
        OnboardingError::AppNotFound
    } else {
        failure.into_error(action)
    }
}
