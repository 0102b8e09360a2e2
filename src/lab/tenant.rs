//! The simulated Entra / Intune tenant's data: the app registrations that may sign in, users, groups,
//! managed devices, and the retired connector's settings objects.

use crate::model::intune::{
    ConditionalAccessSettings, ExchangeConnector, ExchangeOnPremisesPolicy, ManagedDevice, User,
};
use crate::secret::Secret;
use std::collections::{HashMap, HashSet};

/// An app registration with its credentials and the application permissions (`roles`) granted to it.
#[derive(Debug, Clone)]
pub struct LabApp {
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    pub display_name: String,
    /// Client secret, when the app has one.
    pub client_secret: Option<Secret>,
    /// DER of the certificates registered for assertions.
    pub certificates: Vec<Vec<u8>>,
    /// Graph application permissions, e.g. `DeviceManagementManagedDevices.Read.All`.
    pub graph_roles: Vec<String>,
    /// Exchange Online application permissions, e.g. `Exchange.ManageAsApp`.
    pub exchange_roles: Vec<String>,
    /// Mailboxes (SMTP addresses) in the custom resource scope of the app's RBAC for Applications
    /// assignment of the role `Application Mail.Send` (`New-ManagementScope` +
    /// `New-ManagementRoleAssignment -App … -Role "Application Mail.Send" -CustomResourceScope …`):
    /// Graph `sendMail` as one of them is allowed. The Entra permission `Mail.Send` in
    /// [`LabApp::graph_roles`] is unscoped and allows every mailbox (Entra grants add to the RBAC
    /// grant).
    pub mail_send_scope: Vec<String>,
}

/// A group and its direct members (user or group ids).
#[derive(Debug, Clone)]
pub struct LabGroup {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Direct members: user ids and group ids.
    pub members: Vec<String>,
}

/// The tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant id (GUID).
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// App registrations.
    pub apps: Vec<LabApp>,
    /// Users.
    pub users: Vec<User>,
    /// Groups.
    pub groups: Vec<LabGroup>,
    /// Managed devices.
    pub managed_devices: Vec<ManagedDevice>,
    /// Registered Exchange connectors (Graph beta).
    pub exchange_connectors: Vec<ExchangeConnector>,
    /// The retired connector's targeting.
    pub conditional_access_settings: ConditionalAccessSettings,
    /// The retired connector's Exchange policy.
    pub exchange_on_premises_policy: ExchangeOnPremisesPolicy,
}

impl Tenant {
    /// The app with this client id.
    pub fn app(&self, client_id: &str) -> Option<&LabApp> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The user with this id or UPN.
    pub fn user(&self, id_or_upn: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.id.eq_ignore_ascii_case(id_or_upn)
                || u.user_principal_name.eq_ignore_ascii_case(id_or_upn)
        })
    }

    /// The group with this id.
    pub fn group(&self, id: &str) -> Option<&LabGroup> {
        self.groups.iter().find(|g| g.id.eq_ignore_ascii_case(id))
    }

    /// Every member of a group, following nested groups (each group visited once, so cycles end).
    /// Returns (user ids, group ids) in discovery order.
    pub fn transitive_members(&self, group_id: &str) -> (Vec<String>, Vec<String>) {
        let groups: HashMap<String, &LabGroup> = self
            .groups
            .iter()
            .map(|g| (g.id.to_ascii_lowercase(), g))
            .collect();
        let mut seen_groups = HashSet::new();
        let mut seen_users = HashSet::new();
        let (mut users, mut nested) = (Vec::new(), Vec::new());
        let mut stack = vec![group_id.to_ascii_lowercase()];
        seen_groups.insert(group_id.to_ascii_lowercase());
        while let Some(gid) = stack.pop() {
            let Some(group) = groups.get(&gid) else {
                continue;
            };
            for member in &group.members {
                let key = member.to_ascii_lowercase();
                if groups.contains_key(&key) {
                    if seen_groups.insert(key.clone()) {
                        nested.push(member.clone());
                        stack.push(key);
                    }
                } else if seen_users.insert(key) {
                    users.push(member.clone());
                }
            }
        }
        (users, nested)
    }
}
