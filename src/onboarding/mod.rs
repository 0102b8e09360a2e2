//! Onboarding without portal work: an admin signs in once (device code, or the system browser with
//! PKCE and a loopback redirect), the connector shows what it will create ([`plan`]), then creates it
//! ([`apply`]): its own app registration (found again by a tag, never duplicated), the service
//! principal, the application permissions it needs granted by app-role assignments, and a certificate
//! made on this machine whose public key alone is uploaded. [`remove`] deletes what it created.
//!
//! The admin's token is used for these calls only: [`AdminToken`] is not serialisable and is dropped
//! with the session. Every HTTP call goes through the client [`crate::connection::onboarding_http`]
//! builds (the configured proxy and TLS).
//!
//! Every server has its own key on the app: [`server_key`] adds a second server's (`onboard` on it, or
//! `package create --sign-in` for it) beside the others.
//!
//! [`rotation`] rolls the certificate later with `addKey`/`removeKey` and a proof of possession.
//!
//! A GUI drives the same functions: [`sign_in::DeviceCodeSignIn::start`] gives the code to show,
//! [`plan`] the text of the confirmation page, [`apply`] reports one [`Progress`] line per action.

pub mod apply;
pub mod cloud;
pub mod graph;
pub mod rotation;
pub mod server_key;
pub mod sign_in;

pub use apply::{
    ConsentOutcome, ExistingApp, OnboardOptions, OnboardingResult, Plan, PlannedPermission,
    Progress, apply, connector_package, plan, remove, tenant_id,
};
pub use cloud::{Authority, Cloud};
pub use graph::DirectoryClient;
pub use server_key::{ServerCredential, add_server};
pub use sign_in::{AdminToken, AuthCodeSignIn, DeviceCodePrompt, DeviceCodeSignIn};

/// The tag that marks the app registration the connector created, so a second run finds it.
pub const APP_TAG: &str = "ExchangeConnectorOnboarded";

/// The public client the admin signs in with when none is named: Microsoft Graph Command Line Tools
/// (`14d82eec-204b-4c2f-b7e8-296a70dab67e`), the first-party public client Microsoft Graph PowerShell's
/// `Connect-MgGraph` signs in with (device code, and the browser with a `http://localhost` redirect),
/// present in every tenant and consentable for `Application.ReadWrite.All` and
/// `AppRoleAssignment.ReadWrite.All`. A tenant that blocks it (Conditional Access, or "users can
/// consent" off with no admin consent yet) registers its own public client and names it with
/// `EXCHANGE_CONNECTOR_SIGN_IN_CLIENT_ID` or `--sign-in-client-id`.
pub const DEFAULT_SIGN_IN_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// The display name of the app registration.
pub const DEFAULT_APP_NAME: &str = "Exchange Connector";

/// Delegated permissions the admin's sign-in asks for: creating the app and its service principal
/// (`Application.ReadWrite.All`) and granting it application permissions
/// (`AppRoleAssignment.ReadWrite.All`, the least privileged permission of
/// `POST /servicePrincipals/{id}/appRoleAssignedTo` with `Application.Read.All` — learn.microsoft.com,
/// "Grant an appRoleAssignment for a service principal").
pub const SIGN_IN_PERMISSIONS: &[&str] = &[
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
];

/// Why onboarding stopped. Every message says what the admin can do.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// The HTTP client could not be built (proxy or CA file).
    #[error("cannot build the HTTP client for onboarding: {0}")]
    Client(String),
    /// A request did not reach the server.
    #[error(
        "cannot reach {url}: {reason}. Check the network, the proxy setting and the TrustedCaFile."
    )]
    Unreachable {
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The user declined the sign-in or the consent.
    #[error(
        "the sign-in was declined ({detail}); nothing was created. Sign in again and accept the requested permissions."
    )]
    Declined {
        /// Entra's text.
        detail: String,
    },
    /// The device code expired before anyone signed in.
    #[error(
        "the sign-in code expired before anyone signed in; nothing was created. Run onboarding again and enter the new code within its time."
    )]
    CodeExpired,
    /// The browser sign-in did not come back (closed, or timed out).
    #[error(
        "the browser sign-in did not return to this program ({0}); nothing was created. Try again, or use the device code sign-in."
    )]
    BrowserSignIn(String),
    /// Entra refused the sign-in for another reason.
    #[error("the sign-in failed: {error}: {description}")]
    SignIn {
        /// OAuth error code.
        error: String,
        /// Entra's description.
        description: String,
    },
    /// The signed-in account may not create app registrations.
    #[error(
        "the signed-in account may not create app registrations (Graph: {detail}); nothing was created. Sign in as a Global Administrator, Application Administrator or Cloud Application Administrator."
    )]
    MayNotCreateApps {
        /// Graph's message.
        detail: String,
    },
    /// No app registration carries the tag: the first server has not onboarded yet.
    #[error(
        "no app registration tagged {APP_TAG} in this tenant; nothing was changed. Onboard the first server first: `exchange-connector-service onboard --tenant <domain>` (or setup's Sign in to Microsoft Entra)"
    )]
    AppNotFound,
    /// The signed-in account may not change the app's certificates.
    #[error(
        "the signed-in account may not change the certificates of the app registration {app_id} (Graph: {detail}); nothing was changed. Sign in as an Application Administrator, Cloud Application Administrator or Global Administrator (or an owner of the app)"
    )]
    MayNotUpdateApp {
        /// Client id of the app.
        app_id: String,
        /// Graph's message.
        detail: String,
    },
    /// Graph returned one of the app's keys without its value: sending the keys back would delete it.
    #[error(
        "Graph returned the app's certificate {key_id} without its public key, and adding a certificate replaces them all; nothing was changed. Try again, or upload this server's certificate in the Entra admin center"
    )]
    KeyWithoutValue {
        /// The key's `keyId`.
        key_id: String,
    },
    /// A Graph call failed.
    #[error("Graph refused '{action}': HTTP {status} {code}: {message}")]
    Graph {
        /// What was being done.
        action: String,
        /// HTTP status.
        status: u16,
        /// Graph error code.
        code: String,
        /// Graph's message.
        message: String,
    },
    /// A resource service principal lacks a permission the connector needs.
    #[error(
        "the tenant's '{resource}' service principal offers no application permission '{permission}'; the tenant may lack that service (licence)."
    )]
    MissingAppRole {
        /// Resource name.
        resource: String,
        /// Permission.
        permission: String,
    },
    /// The certificate could not be made.
    #[error("cannot make the connector's certificate: {0}")]
    Certificate(#[from] crate::certificate::CertificateError),
    /// Something failed and the rollback of what this run created failed too.
    #[error(
        "{cause}; undoing what this run created also failed ({rollback}): delete the app registration '{app_name}' (tag {APP_TAG}) in the Entra admin center, or run `onboard --remove`"
    )]
    RollbackFailed {
        /// The first failure.
        cause: Box<OnboardingError>,
        /// The rollback's failure.
        rollback: String,
        /// App name.
        app_name: String,
    },
}

/// The error of a request that did not reach `url`.
fn unreachable(url: &str, error: &dyn std::error::Error) -> OnboardingError {
    OnboardingError::Unreachable {
        url: url.to_string(),
        reason: crate::error_text::chain(error),
    }
}
