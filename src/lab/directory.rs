//! The simulated Entra directory objects that onboarding creates and reads: app registrations
//! (`application`), service principals, app-role assignments (application permissions granted), and
//! the pending interactive sign-ins (device codes, authorization codes with PKCE).
//!
//! The resource service principals (Microsoft Graph, Office 365 Exchange Online) carry the lab's own
//! app-role ids, generated per lab: clients must look roles up by `value` in the resource's `appRoles`,
//! as Microsoft's permissions reference tells them to, and never hard-code an id.
//!
//! Apps created here become sign-in capable: [`Directory::publish`] mirrors each one into the tenant's
//! [`LabApp`](super::tenant::LabApp) list (its certificates and granted roles), so the connector's own
//! client-credentials sign-in works with what onboarding created.

use super::tenant::{LabApp, Tenant};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// `appId` of Microsoft Graph (from the Graph permissions reference:
/// `GET /servicePrincipals(appId='00000003-0000-0000-c000-000000000000')`).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// `appId` of Office 365 Exchange Online.
pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Graph application permissions the lab's Graph service principal offers.
const GRAPH_APP_ROLES: &[&str] = &[
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
    "DeviceManagementServiceConfig.Read.All",
    "DeviceManagementServiceConfig.ReadWrite.All",
    "GroupMember.Read.All",
    "User.Read.All",
    "Mail.Send",
    "Application.ReadWrite.OwnedBy",
];

/// Exchange Online application permissions.
const EXCHANGE_APP_ROLES: &[&str] = &["Exchange.ManageAsApp"];

/// The directory role of a signed-in person, as the lab's sign-in pages and control API name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRole {
    /// Everything.
    #[serde(rename = "Global Administrator")]
    GlobalAdministrator,
    /// Grants app roles (application permissions) of Microsoft Graph; cannot create apps.
    #[serde(rename = "Privileged Role Administrator")]
    PrivilegedRoleAdministrator,
    /// Creates and manages apps; cannot grant Microsoft Graph application permissions.
    #[serde(rename = "Application Administrator")]
    ApplicationAdministrator,
    /// Like Application Administrator, without application proxy.
    #[serde(rename = "Cloud Application Administrator")]
    CloudApplicationAdministrator,
    /// Intune only: no rights on apps.
    #[serde(rename = "Intune Administrator")]
    IntuneAdministrator,
    /// A user without an admin role.
    #[serde(rename = "User")]
    User,
}

impl AdminRole {
    /// Every role, in the order the consent page lists them.
    pub const ALL: [AdminRole; 6] = [
        AdminRole::GlobalAdministrator,
        AdminRole::PrivilegedRoleAdministrator,
        AdminRole::ApplicationAdministrator,
        AdminRole::CloudApplicationAdministrator,
        AdminRole::IntuneAdministrator,
        AdminRole::User,
    ];

    /// Whether this role may create, change and delete app registrations and service principals.
    pub fn may_manage_apps(self) -> bool {
        matches!(
            self,
            AdminRole::GlobalAdministrator
                | AdminRole::ApplicationAdministrator
                | AdminRole::CloudApplicationAdministrator
        )
    }

    /// Whether this role may grant application permissions (app-role assignments) of Microsoft Graph.
    pub fn may_grant_app_roles(self) -> bool {
        matches!(
            self,
            AdminRole::GlobalAdministrator | AdminRole::PrivilegedRoleAdministrator
        )
    }

    /// Parses the display name (case-insensitive).
    pub fn parse(text: &str) -> Option<AdminRole> {
        serde_json::from_value(serde_json::Value::String(text.to_string()))
            .ok()
            .or_else(|| {
                AdminRole::ALL
                    .into_iter()
                    .find(|r| r.name().eq_ignore_ascii_case(text.trim()))
            })
    }

    /// The display name.
    pub fn name(self) -> &'static str {
        match self {
            AdminRole::GlobalAdministrator => "Global Administrator",
            AdminRole::PrivilegedRoleAdministrator => "Privileged Role Administrator",
            AdminRole::ApplicationAdministrator => "Application Administrator",
            AdminRole::CloudApplicationAdministrator => "Cloud Application Administrator",
            AdminRole::IntuneAdministrator => "Intune Administrator",
            AdminRole::User => "User",
        }
    }
}

/// The person who approved a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInAdmin {
    /// User principal name.
    pub upn: String,
    /// Directory role.
    pub role: AdminRole,
}

/// A certificate credential of an application (`keyCredential`); the lab keeps the DER to check
/// assertions and proofs.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    /// `keyId`.
    pub key_id: String,
    /// `displayName`.
    pub display_name: String,
    /// `customKeyIdentifier`: the SHA-1 thumbprint, upper-case hex.
    pub thumbprint: String,
    /// Validity start.
    pub start: DateTime<Utc>,
    /// Validity end.
    pub end: DateTime<Utc>,
    /// The certificate (DER).
    pub der: Vec<u8>,
}

/// An app registration.
#[derive(Debug, Clone)]
pub struct Application {
    /// Object id.
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Certificate credentials.
    pub key_credentials: Vec<KeyCredential>,
    /// `requiredResourceAccess` as sent.
    pub required_resource_access: serde_json::Value,
    /// Created.
    pub created: DateTime<Utc>,
}

/// An app role a resource offers.
#[derive(Debug, Clone)]
pub struct AppRole {
    /// Id (this lab's own).
    pub id: String,
    /// Permission name, e.g. `User.Read.All`.
    pub value: String,
}

/// A service principal.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// Object id.
    pub id: String,
    /// The app's client id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// App roles it offers (resources only).
    pub app_roles: Vec<AppRole>,
}

/// An app-role assignment: an application permission granted to a client service principal.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Id.
    pub id: String,
    /// The client service principal.
    pub principal_id: String,
    /// The resource service principal.
    pub resource_id: String,
    /// The app role.
    pub app_role_id: String,
    /// When.
    pub created: DateTime<Utc>,
}

/// A device code waiting for the user.
#[derive(Debug, Clone)]
pub struct DeviceCodeRequest {
    /// The long code the client polls with.
    pub device_code: String,
    /// The short code the user types.
    pub user_code: String,
    /// The public client that asked.
    pub client_id: String,
    /// Scopes asked.
    pub scope: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Approved by.
    pub approved: Option<SignedInAdmin>,
    /// Declined by the user.
    pub declined: bool,
    /// Last poll (for `slow_down`).
    pub last_poll: Option<Instant>,
}

/// An authorize request shown on the consent page, waiting for the user.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    /// Id of the page's form.
    pub id: String,
    /// Public client.
    pub client_id: String,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// Scopes.
    pub scope: String,
    /// The client's `state`.
    pub state: Option<String>,
    /// PKCE challenge.
    pub code_challenge: String,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    /// The code.
    pub code: String,
    /// Public client.
    pub client_id: String,
    /// Must match at redemption.
    pub redirect_uri: String,
    /// Scopes.
    pub scope: String,
    /// PKCE challenge (S256).
    pub code_challenge: String,
    /// Who signed in.
    pub admin: SignedInAdmin,
    /// Expiry (10 minutes).
    pub expires_at: DateTime<Utc>,
}

/// Everything above, plus the sign-in settings tests may change.
#[derive(Debug)]
pub struct Directory {
    /// App registrations.
    pub applications: Vec<Application>,
    /// Service principals (the two resources first).
    pub service_principals: Vec<ServicePrincipal>,
    /// App-role assignments.
    pub assignments: Vec<Assignment>,
    /// Pending and answered device codes.
    pub device_codes: Vec<DeviceCodeRequest>,
    /// Consent pages waiting.
    pub authorizations: Vec<PendingAuthorization>,
    /// Issued authorization codes.
    pub authorization_codes: Vec<AuthorizationCode>,
    /// `interval` of device-code answers (Entra: 5).
    pub poll_interval_seconds: u64,
    /// `expires_in` of device codes (Entra: 900).
    pub device_code_lifetime_seconds: u64,
    /// A fault for rollback tests: the grant after this many more succeeds fails with a 503.
    pub fail_grant_after: Option<u32>,
}

impl Default for Directory {
    fn default() -> Self {
        let resource = |app_id: &str, name: &str, roles: &[&str]| ServicePrincipal {
            id: new_id(),
            app_id: app_id.into(),
            display_name: name.into(),
            tags: Vec::new(),
            app_roles: roles
                .iter()
                .map(|value| AppRole {
                    id: new_id(),
                    value: value.to_string(),
                })
                .collect(),
        };
        Directory {
            applications: Vec::new(),
            service_principals: vec![
                resource(GRAPH_APP_ID, "Microsoft Graph", GRAPH_APP_ROLES),
                resource(
                    EXCHANGE_APP_ID,
                    "Office 365 Exchange Online",
                    EXCHANGE_APP_ROLES,
                ),
            ],
            assignments: Vec::new(),
            device_codes: Vec::new(),
            authorizations: Vec::new(),
            authorization_codes: Vec::new(),
            poll_interval_seconds: 5,
            device_code_lifetime_seconds: 900,
            fail_grant_after: None,
        }
    }
}

/// A new object id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Directory {
    /// The service principal with this object id.
    pub fn service_principal(&self, id: &str) -> Option<&ServicePrincipal> {
        self.service_principals
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// The application with this object id.
    pub fn application(&self, id: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
    }

    /// Deletes an application with its service principal and that principal's assignments (Entra
    /// deletes the service principal with its app).
    pub fn delete_application(&mut self, id: &str) -> bool {
        let Some(app) = self.application(id).cloned() else {
            return false;
        };
        self.applications.retain(|a| a.id != app.id);
        let sps: Vec<String> = self
            .service_principals
            .iter()
            .filter(|s| s.app_id.eq_ignore_ascii_case(&app.app_id))
            .map(|s| s.id.clone())
            .collect();
        self.delete_service_principals(&sps);
        true
    }

    /// Deletes service principals and their assignments.
    pub fn delete_service_principals(&mut self, ids: &[String]) {
        self.service_principals.retain(|s| !ids.contains(&s.id));
        self.assignments
            .retain(|a| !ids.contains(&a.principal_id) && !ids.contains(&a.resource_id));
    }

    /// What an admin's consent at the `adminconsent` endpoint does: the app's service principal
    /// (created when missing) is granted every application permission its `requiredResourceAccess`
    /// lists. Returns the permissions granted now, or `None` when no app has this client id.
    pub fn grant_required_access(&mut self, client_id: &str) -> Option<Vec<String>> {
        let app = self
            .applications
            .iter()
            .find(|a| a.app_id.eq_ignore_ascii_case(client_id))?
            .clone();
        let principal = match self
            .service_principals
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(client_id))
        {
            Some(sp) => sp.id.clone(),
            None => {
                let sp = ServicePrincipal {
                    id: new_id(),
                    app_id: app.app_id.clone(),
                    display_name: app.display_name.clone(),
                    tags: app.tags.clone(),
                    app_roles: Vec::new(),
                };
                let id = sp.id.clone();
                self.service_principals.push(sp);
                id
            }
        };
        let mut granted = Vec::new();
        for access in app
            .required_resource_access
            .as_array()
            .into_iter()
            .flatten()
        {
            let resource_app = access
                .get("resourceAppId")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let Some(resource) = self
                .service_principals
                .iter()
                .find(|s| s.app_id.eq_ignore_ascii_case(resource_app))
                .cloned()
            else {
                continue;
            };
            for entry in access
                .get("resourceAccess")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                let role_id = entry
                    .get("id")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let Some(role) = resource
                    .app_roles
                    .iter()
                    .find(|r| r.id.eq_ignore_ascii_case(role_id))
                else {
                    continue;
                };
                let exists = self.assignments.iter().any(|a| {
                    a.principal_id == principal
                        && a.resource_id == resource.id
                        && a.app_role_id == role.id
                });
                if !exists {
                    self.assignments.push(Assignment {
                        id: new_id(),
                        principal_id: principal.clone(),
                        resource_id: resource.id.clone(),
                        app_role_id: role.id.clone(),
                        created: Utc::now(),
                    });
                    granted.push(role.value.clone());
                }
            }
        }
        Some(granted)
    }

    /// Mirrors every app created here into the tenant's sign-in list: its certificates and the
    /// application permissions granted to its service principal. Apps the scenario registered
    /// (not created here) are left alone.
    pub fn publish(&self, tenant: &mut Tenant, created_here: &mut Vec<String>) {
        tenant.apps.retain(|a| {
            !created_here
                .iter()
                .any(|id| id.eq_ignore_ascii_case(&a.client_id))
        });
        created_here.clear();
        for app in &self.applications {
            let sp = self
                .service_principals
                .iter()
                .find(|s| s.app_id.eq_ignore_ascii_case(&app.app_id));
            let roles_of = |resource_app: &str| -> Vec<String> {
                let Some(sp) = sp else { return Vec::new() };
                let Some(resource) = self
                    .service_principals
                    .iter()
                    .find(|s| s.app_id == resource_app)
                else {
                    return Vec::new();
                };
                self.assignments
                    .iter()
                    .filter(|a| a.principal_id == sp.id && a.resource_id == resource.id)
                    .filter_map(|a| {
                        resource
                            .app_roles
                            .iter()
                            .find(|r| r.id == a.app_role_id)
                            .map(|r| r.value.clone())
                    })
                    .collect()
            };
            created_here.push(app.app_id.clone());
            tenant.apps.push(LabApp {
                client_id: app.app_id.clone(),
                display_name: app.display_name.clone(),
                client_secret: None,
                certificates: app.key_credentials.iter().map(|k| k.der.clone()).collect(),
                graph_roles: roles_of(GRAPH_APP_ID),
                exchange_roles: roles_of(EXCHANGE_APP_ID),
                // A new app has no RBAC for Applications scope until an Exchange admin assigns one.
                mail_send_scope: Vec::new(),
            });
        }
    }
}
