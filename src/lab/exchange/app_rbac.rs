//! RBAC for Applications as Exchange Online keeps it (learn.microsoft.com/exchange/permissions-exo/
//! application-rbac): service principal pointers (`New-ServicePrincipal -AppId -ObjectId -DisplayName`),
//! management scopes (`New-ManagementScope -Name -RecipientRestrictionFilter`) and role assignments of
//! application roles to a service principal in a custom resource scope (`New-ManagementRoleAssignment
//! -App -Role "Application Mail.Send" -CustomResourceScope`). The cmdlets live in `engine.rs`; Graph
//! `sendMail` asks [`super::engine::mail_send_in_rbac_scope`] whether an assignment covers a mailbox.
//!
//! Who may run the cmdlets: Exchange's Organization Management role group holds the delegating
//! assignments for the application roles. An app is in [`AppRbac::role_managers`] when it holds that
//! (as a member of the role group, or through the Entra role Exchange Administrator); any other app
//! sees the cmdlets as missing, as a restricted session does.

use serde::Serialize;

/// An Exchange service principal pointer to an Entra service principal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServicePrincipal {
    /// The app's client id.
    pub app_id: String,
    /// The Entra service principal's object id.
    pub object_id: String,
    /// Display name.
    pub display_name: String,
    /// Exchange's identity of the pointer (the object id).
    pub identity: String,
}

/// A management scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagementScope {
    /// Name (also the identity).
    pub name: String,
    /// Same as the name.
    pub identity: String,
    /// The OPATH filter of the recipients in the scope.
    pub recipient_filter: String,
    /// `RecipientScope` for a recipient filter.
    pub scope_restriction_type: String,
}

/// A role assignment of an application role to a service principal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleAssignment {
    /// `<Role>-<service principal display name>`, as Exchange names new assignments.
    pub name: String,
    /// Same as the name.
    pub identity: String,
    /// e.g. `Application Mail.Send`.
    pub role: String,
    /// The service principal's object id.
    pub role_assignee: String,
    /// `ServicePrincipal`.
    pub role_assignee_type: String,
    /// The scope's name.
    pub custom_resource_scope: String,
    /// The app's client id (the lab keeps it to match tokens).
    pub app: String,
}

/// The organisation's RBAC for Applications objects.
#[derive(Debug, Clone, Default)]
pub struct AppRbac {
    /// Service principal pointers.
    pub service_principals: Vec<ServicePrincipal>,
    /// Management scopes.
    pub scopes: Vec<ManagementScope>,
    /// Role assignments to service principals.
    pub assignments: Vec<RoleAssignment>,
    /// Client ids of apps that may manage RBAC (Organization Management / Exchange Administrator).
    pub role_managers: Vec<String>,
}

impl AppRbac {
    /// The pointer whose object id, app id or display name is `identity`.
    pub fn service_principal(&self, identity: &str) -> Option<&ServicePrincipal> {
        let identity = identity.trim();
        self.service_principals.iter().find(|s| {
            s.object_id.eq_ignore_ascii_case(identity)
                || s.app_id.eq_ignore_ascii_case(identity)
                || s.display_name.eq_ignore_ascii_case(identity)
        })
    }

    /// The scope named `name`.
    pub fn scope(&self, name: &str) -> Option<&ManagementScope> {
        self.scopes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
    }

    /// Whether the app `client_id` may run the role management cmdlets.
    pub fn manages_roles(&self, client_id: &str) -> bool {
        self.role_managers
            .iter()
            .any(|a| a.eq_ignore_ascii_case(client_id))
    }
}
