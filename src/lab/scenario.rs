//! Scenario files: a hand-written organisation and tenant in JSON. The generator ([`super::generate`])
//! produces the same structure, so a generated organisation can be saved, edited and replayed.
//!
//! ```json
//! {
//!   "organization": {
//!     "name": "Contoso", "domain": "contoso.lab", "netbiosName": "CONTOSO",
//!     "defaultAccessLevel": "Allow",
//!     "casServers": ["CAS01", "CAS02"],
//!     "rules": [{"characteristic": "DeviceType", "queryString": "WP8", "accessLevel": "Block"}],
//!     "accounts": [{"userName": "CONTOSO\\svc-eas", "upn": "svc-eas@contoso.lab", "password": "..."},
//!                  {"userName": "CONTOSO\\helpdesk", "upn": "helpdesk@contoso.lab", "password": "...",
//!                   "cmdlets": ["Get-MobileDevice", "Get-Command"]}],
//!     "serviceAccount": "CONTOSO\\svc-eas",
//!     "notificationAccount": "CONTOSO\\notify",
//!     "mailboxes": [{"alias": "alice", "displayName": "Alice Martin", "userId": "<entra user id>",
//!                    "allowedDeviceIds": [], "blockedDeviceIds": [],
//!                    "devices": [{"deviceId": "A1B2...", "deviceType": "iPhone", "deviceModel": "iPhone15C2",
//!                                 "deviceOs": "iOS 17.4 21E219", "userAgent": "Apple-iPhone15C2/2104.144"}]}]
//!   },
//!   "tenant": {
//!     "tenantId": "<guid>", "displayName": "Contoso", "clientId": "<guid>", "clientSecret": "...",
//!     "groups": [{"id": "<guid>", "displayName": "EAS users", "members": ["<user id>", "<group id>"]}],
//!     "policy": {"includedGroups": ["<guid>"], "excludedGroups": []},
//!     "managedDevices": [{"id": "<guid>", "userId": "<user id>", "easDeviceId": "A1B2...",
//!                         "complianceState": "compliant", "managementAgent": "easMdm", ...}]
//!   }
//! }
//! ```
//!
//! Omitted fields take the defaults of [`Scenario::small`]'s style: EAS enabled, devices meeting the
//! mailbox policy, every cmdlet granted, the Graph and Exchange roles the connector needs.

use super::LabCredentials;
use super::org::{ALL_CMDLETS, ExchangeOrg, LabAccount, LabDevice, LabMailbox};
use super::tenant::{LabApp, LabGroup, Tenant};
use crate::model::exchange::{
    AccessLevel, CasMailbox, DeviceAccessRule, ExchangeServer, RuleCharacteristic,
};
use crate::model::intune::{
    ComplianceState, ConditionalAccessSettings, ExchangeOnPremisesPolicy, ManagedDevice,
    ManagementAgent, User,
};
use crate::secret::Secret;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A whole lab world.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    /// The Exchange organisation.
    pub organization: OrganizationSpec,
    /// The Entra / Intune tenant.
    pub tenant: TenantSpec,
}

/// The Exchange organisation of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSpec {
    /// Organisation name.
    pub name: String,
    /// SMTP and AD domain.
    pub domain: String,
    /// NetBIOS domain.
    pub netbios_name: String,
    /// The organisation's `DefaultAccessLevel`.
    #[serde(default = "default_allow")]
    pub default_access_level: AccessLevel,
    /// Client Access server names (NetBIOS); FQDNs are `<name>.<domain>` in lower case.
    pub cas_servers: Vec<String>,
    /// Device access rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Accounts that may sign in.
    pub accounts: Vec<AccountSpec>,
    /// The account the connector runs its cmdlets as (`userName` of one of `accounts`).
    pub service_account: String,
    /// The account that sends notification mail (`userName` of one of `accounts`; it also gets a
    /// mailbox).
    pub notification_account: String,
    /// Mailboxes.
    pub mailboxes: Vec<MailboxSpec>,
    /// Exchange Online (December 2026) instead of on-premises Exchange: EWS and Autodiscover
    /// blocked, Basic refused, notifications through Graph `sendMail`.
    #[serde(default)]
    pub exchange_online: bool,
}

fn default_allow() -> AccessLevel {
    AccessLevel::Allow
}

fn yes() -> bool {
    true
}

/// A device access rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// What it matches.
    pub characteristic: RuleCharacteristic,
    /// Exact text.
    pub query_string: String,
    /// Level.
    pub access_level: AccessLevel,
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSpec {
    /// `DOMAIN\sam`.
    pub user_name: String,
    /// UPN (and SMTP address, for mail-enabled accounts).
    pub upn: String,
    /// Password.
    pub password: String,
    /// Cmdlets granted; omitted = all the lab implements.
    #[serde(default)]
    pub cmdlets: Option<Vec<String>>,
}

/// A mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxSpec {
    /// Alias; the SMTP address and UPN are `<alias>@<domain>`.
    pub alias: String,
    /// Display name.
    pub display_name: String,
    /// Entra user id; omitted = a user is not synchronised to Entra.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `ActiveSyncEnabled`.
    #[serde(default = "yes")]
    pub active_sync_enabled: bool,
    /// `ActiveSyncAllowedDeviceIDs`.
    #[serde(default)]
    pub allowed_device_ids: Vec<String>,
    /// `ActiveSyncBlockedDeviceIDs`.
    #[serde(default)]
    pub blocked_device_ids: Vec<String>,
    /// Partnerships.
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
}

/// A partnership.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSpec {
    /// EAS DeviceId.
    pub device_id: String,
    /// Family.
    pub device_type: String,
    /// Model.
    #[serde(default)]
    pub device_model: Option<String>,
    /// OS.
    #[serde(default)]
    pub device_os: Option<String>,
    /// User-Agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Friendly name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `EAS` (default) or `Outlook`.
    #[serde(default)]
    pub client_type: Option<String>,
    /// The EAS protocol the client speaks (`ClientVersion`); omitted = `16.1`.
    #[serde(default)]
    pub client_version: Option<String>,
    /// First sync; omitted = 30 days ago.
    #[serde(default)]
    pub first_sync_time: Option<DateTime<Utc>>,
    /// Last successful sync; omitted = an hour ago.
    #[serde(default)]
    pub last_success_sync: Option<DateTime<Utc>>,
    /// Whether the device meets the EAS mailbox policy.
    #[serde(default = "yes")]
    pub meets_mailbox_policy: bool,
}

/// The tenant of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Tenant id.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// The connector app's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Graph roles granted to the app; omitted = what the connector needs.
    #[serde(default)]
    pub graph_roles: Option<Vec<String>>,
    /// Exchange roles granted to the app; omitted = `Exchange.ManageAsApp`.
    #[serde(default)]
    pub exchange_roles: Option<Vec<String>>,
    /// Mailboxes in the app's RBAC for Applications `Application Mail.Send` scope; omitted = the
    /// notification account's mailbox.
    #[serde(default)]
    pub mail_send_scope: Option<Vec<String>>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// The groups the policy targets.
    #[serde(default)]
    pub policy: PolicyTargets,
    /// Managed devices.
    #[serde(default)]
    pub managed_devices: Vec<ManagedDevice>,
    /// Users without a mailbox in the organisation.
    #[serde(default)]
    pub extra_users: Vec<User>,
    /// The retired connector's `exchangeOnPremisesPolicy`, if the tenant still has it.
    #[serde(default)]
    pub exchange_on_premises_policy: Option<ExchangeOnPremisesPolicy>,
    /// An empty tenant: no connector app is registered (onboarding creates it). The endpoints file
    /// still names `clientId`, which then signs in nowhere.
    #[serde(default)]
    pub no_connector_app: bool,
}

/// A group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Direct members (user ids and group ids).
    #[serde(default)]
    pub members: Vec<String>,
}

/// Included and excluded groups.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTargets {
    /// Included.
    #[serde(default)]
    pub included_groups: Vec<String>,
    /// Excluded (exclusion wins).
    #[serde(default)]
    pub excluded_groups: Vec<String>,
}

/// Graph application permissions the connector needs.
pub const CONNECTOR_GRAPH_ROLES: &[&str] = &[
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementServiceConfig.ReadWrite.All",
    "GroupMember.Read.All",
    "User.Read.All",
];

/// Why a scenario cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read the scenario file {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The JSON is not a scenario.
    #[error("the scenario file {path} is not valid: {source}")]
    Parse {
        /// File.
        path: String,
        /// Cause (with line and column).
        source: serde_json::Error,
    },
    /// A reference does not resolve.
    #[error("the scenario is inconsistent: {0}")]
    Inconsistent(String),
}

impl Scenario {
    /// Loads a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ScenarioError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// The small organisation with an empty tenant: no app registered for the connector, as before
    /// onboarding.
    pub fn empty_tenant() -> Scenario {
        let mut scenario = Scenario::small();
        scenario.tenant.no_connector_app = true;
        scenario
    }

    /// A small hand-made organisation covering each case once: compliant, non-compliant, in grace,
    /// not enrolled, an excluded user, an untargeted user, an admin's allow and block entries, a rule,
    /// three CAS servers, and a helpdesk account with few rights.
    pub fn small() -> Scenario {
        let now = Utc::now();
        let g_targeted = "6f1e4b1a-0000-4000-8000-00000000a001";
        let g_sales = "6f1e4b1a-0000-4000-8000-00000000a002";
        let g_exempt = "6f1e4b1a-0000-4000-8000-00000000a003";
        let uid = |n: u32| format!("0b5c3a9e-0000-4000-8000-{n:012}");
        let dev = |id: &str, ty: &str, model: &str, os: &str, ua: &str| DeviceSpec {
            device_id: id.to_string(),
            device_type: ty.to_string(),
            device_model: Some(model.to_string()),
            device_os: Some(os.to_string()),
            user_agent: Some(ua.to_string()),
            friendly_name: None,
            client_type: None,
            client_version: None,
            first_sync_time: None,
            last_success_sync: None,
            meets_mailbox_policy: true,
        };
        let mailbox =
            |alias: &str, name: &str, user: Option<String>, devices: Vec<DeviceSpec>| MailboxSpec {
                alias: alias.to_string(),
                display_name: name.to_string(),
                user_id: user,
                active_sync_enabled: true,
                allowed_device_ids: Vec::new(),
                blocked_device_ids: Vec::new(),
                devices,
            };
        let iphone = |id: &str| {
            dev(
                id,
                "iPhone",
                "iPhone15C2",
                "iOS 17.4 21E219",
                "Apple-iPhone15C2/2104.144",
            )
        };
        let samsung = |id: &str| {
            dev(
                id,
                "SAMSUNGSMS911B",
                "SM-S911B",
                "Android 14",
                "Android/14-EAS-2.0",
            )
        };
        let mut mailboxes = vec![
            mailbox(
                "alice",
                "Alice Martin",
                Some(uid(1)),
                vec![iphone("ALICEIPHONE0001")],
            ),
            mailbox(
                "bob",
                "Bob Janssens",
                Some(uid(2)),
                vec![samsung("BOBSAMSUNG00002")],
            ),
            mailbox(
                "carol",
                "Carol Dubois",
                Some(uid(3)),
                vec![iphone("CAROLIPHONE0003")],
            ),
            mailbox(
                "dave",
                "Dave de Vries",
                Some(uid(4)),
                vec![samsung("DAVESAMSUNG0004")],
            ),
            mailbox(
                "erin",
                "Erin Peeters",
                Some(uid(5)),
                vec![iphone("ERINIPHONE00005")],
            ),
            mailbox(
                "frank",
                "Frank Moreau",
                Some(uid(6)),
                // An old Samsung Email build: EAS 16.0, which Exchange Online refuses.
                vec![DeviceSpec {
                    client_version: Some("16.0".into()),
                    ..samsung("FRANKSAMSUNG006")
                }],
            ),
            mailbox(
                "grace",
                "Grace Bakker",
                Some(uid(7)),
                vec![
                    iphone("GRACEIPHONE0007"),
                    DeviceSpec {
                        client_version: Some("14.1".into()),
                        ..dev(
                            "GRACEWP00000007",
                            "WP8",
                            "Lumia 950",
                            "Windows Phone 10",
                            "MSFT-WP/10.0",
                        )
                    },
                ],
            ),
            mailbox(
                "heidi",
                "Heidi Laurent",
                Some(uid(8)),
                vec![samsung("HEIDISAMSUNG008")],
            ),
            mailbox("notify", "Intune Notifications", Some(uid(9)), Vec::new()),
        ];
        // Hand-made entries by an Exchange admin: Grace's iPhone allowed, Heidi's phone blocked.
        mailboxes[6]
            .allowed_device_ids
            .push("GRACEIPHONE0007".into());
        mailboxes[7]
            .blocked_device_ids
            .push("HEIDISAMSUNG008".into());
        let managed =
            |n: u32, user: u32, eas: &str, os: &str, state: ComplianceState| ManagedDevice {
                id: format!("d0d0d0d0-0000-4000-8000-{n:012}"),
                user_id: Some(uid(user)),
                device_name: Some(format!("{os} device {n}")),
                user_principal_name: None,
                email_address: None,
                operating_system: Some(os.to_string()),
                os_version: None,
                model: None,
                manufacturer: None,
                management_agent: Some(ManagementAgent::EasMdm),
                compliance_state: Some(state),
                eas_activated: Some(true),
                eas_activation_date_time: Some(now - Duration::days(20)),
                eas_device_id: Some(eas.to_string()),
                exchange_last_successful_sync_date_time: Some(now - Duration::hours(1)),
                exchange_access_state: None,
                exchange_access_state_reason: None,
                last_sync_date_time: Some(now - Duration::hours(2)),
                enrolled_date_time: Some(now - Duration::days(20)),
                azure_ad_registered: Some(true),
                azure_ad_device_id: None,
            };
        Scenario {
            organization: contoso_organization(
                mailboxes,
                [
                    "Lab-Service-Pass-1".into(),
                    "Lab-Notify-Pass-1".into(),
                    "Lab-Helpdesk-Pass-1".into(),
                ],
                vec![
                    "Get-MobileDevice".into(),
                    "Get-MobileDeviceStatistics".into(),
                    "Get-CASMailbox".into(),
                    "Get-Command".into(),
                ],
            ),
            tenant: TenantSpec {
                tenant_id: "3c1d5f0e-7a2b-4c8d-9e6f-0a1b2c3d4e5f".into(),
                display_name: "Contoso Lab".into(),
                client_id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
                client_secret: "lab-client-secret-Contoso-1".into(),
                graph_roles: None,
                exchange_roles: None,
                mail_send_scope: None,
                groups: vec![
                    GroupSpec {
                        id: g_targeted.into(),
                        display_name: "EAS - Conditional access".into(),
                        members: vec![
                            uid(1),
                            uid(2),
                            uid(3),
                            uid(4),
                            uid(6),
                            uid(7),
                            uid(8),
                            g_sales.into(),
                        ],
                    },
                    GroupSpec {
                        id: g_sales.into(),
                        display_name: "Sales".into(),
                        members: vec![uid(5), uid(6)],
                    },
                    GroupSpec {
                        id: g_exempt.into(),
                        display_name: "EAS - Exempt".into(),
                        members: vec![uid(6)],
                    },
                ],
                policy: PolicyTargets {
                    included_groups: vec![g_targeted.into()],
                    excluded_groups: vec![g_exempt.into()],
                },
                managed_devices: vec![
                    managed(1, 1, "ALICEIPHONE0001", "iOS", ComplianceState::Compliant),
                    managed(
                        2,
                        2,
                        "BOBSAMSUNG00002",
                        "Android",
                        ComplianceState::Noncompliant,
                    ),
                    managed(
                        3,
                        3,
                        "CAROLIPHONE0003",
                        "iOS",
                        ComplianceState::InGracePeriod,
                    ),
                    // dave: not enrolled. erin: compliant (targeted through the nested Sales group).
                    managed(5, 5, "ERINIPHONE00005", "iOS", ComplianceState::Compliant),
                    // frank: excluded, not compliant: must stay untouched.
                    managed(
                        6,
                        6,
                        "FRANKSAMSUNG006",
                        "Android",
                        ComplianceState::Noncompliant,
                    ),
                    managed(
                        7,
                        7,
                        "GRACEIPHONE0007",
                        "iOS",
                        ComplianceState::Noncompliant,
                    ),
                    managed(
                        8,
                        8,
                        "HEIDISAMSUNG008",
                        "Android",
                        ComplianceState::Compliant,
                    ),
                ],
                extra_users: Vec::new(),
                exchange_on_premises_policy: None,
                no_connector_app: false,
            },
        }
    }

    /// [`Scenario::small`] as Exchange Online is in December 2026: the same mailboxes, devices and
    /// tenant; EWS and Autodiscover blocked, Basic refused, the app's `Application Mail.Send` scope
    /// holding only the notification mailbox.
    pub fn small_hosted() -> Scenario {
        let mut scenario = Scenario::small();
        scenario.organization.exchange_online = true;
        scenario
    }

    /// Builds the lab's runtime data. The app's certificate is added by the caller.
    pub fn build(&self) -> Result<(ExchangeOrg, Tenant, LabCredentials), ScenarioError> {
        let org_spec = &self.organization;
        let domain = org_spec.domain.to_ascii_lowercase();
        let mut org = ExchangeOrg::new(
            &org_spec.name,
            &domain,
            &org_spec.netbios_name,
            org_spec.default_access_level,
        );
        for name in &org_spec.cas_servers {
            org.servers.push(ExchangeServer {
                name: name.clone(),
                identity: name.clone(),
                fqdn: format!("{}.{domain}", name.to_ascii_lowercase()),
                server_role: "Mailbox, ClientAccess".into(),
                admin_display_version: "Version 15.2 (Build 1544.4)".into(),
                site: Some(format!(
                    "{domain}/Configuration/Sites/Default-First-Site-Name"
                )),
                is_client_access_server: true,
                is_e15_or_later: true,
            });
        }
        for rule in &org_spec.rules {
            let name = DeviceAccessRule::name_for(&rule.query_string, rule.characteristic);
            org.rules.push(DeviceAccessRule {
                identity: name.clone(),
                name,
                guid: uuid::Uuid::new_v4().to_string(),
                characteristic: rule.characteristic,
                query_string: rule.query_string.clone(),
                access_level: rule.access_level,
            });
        }
        for account in &org_spec.accounts {
            org.accounts.push(LabAccount {
                user_name: account.user_name.clone(),
                upn: account.upn.clone(),
                password: Secret::new(account.password.clone()),
                granted_cmdlets: account
                    .cmdlets
                    .clone()
                    .unwrap_or_else(|| ALL_CMDLETS.iter().map(|c| c.to_string()).collect()),
            });
        }
        org.exchange_online = org_spec.exchange_online;
        let now = Utc::now();
        for spec in &org_spec.mailboxes {
            org.add_mailbox(build_mailbox(spec, &domain, now));
        }
        // The first evaluation is the state the devices were already in, not a change made now.
        for device in org.mailboxes.iter_mut().flat_map(|m| m.devices.iter_mut()) {
            device.device.when_changed = device.device.when_created;
        }
        let find_account = |name: &str| {
            org.accounts
                .iter()
                .find(|a| a.is_named(name))
                .cloned()
                .ok_or_else(|| ScenarioError::Inconsistent(format!("no account named '{name}'")))
        };
        let service = find_account(&org_spec.service_account)?;
        let notify = find_account(&org_spec.notification_account)?;

        let tenant_spec = &self.tenant;
        let mut users: Vec<User> = org_spec
            .mailboxes
            .iter()
            .filter_map(|m| {
                m.user_id.as_ref().map(|id| User {
                    id: id.clone(),
                    user_principal_name: format!("{}@{domain}", m.alias),
                    mail: Some(format!("{}@{domain}", m.alias)),
                    display_name: Some(m.display_name.clone()),
                    preferred_language: None,
                })
            })
            .collect();
        users.extend(tenant_spec.extra_users.iter().cloned());
        let upn_of: std::collections::HashMap<&str, &str> = users
            .iter()
            .map(|u| (u.id.as_str(), u.user_principal_name.as_str()))
            .collect();
        let managed_devices = tenant_spec
            .managed_devices
            .iter()
            .cloned()
            .map(|mut d| {
                if d.user_principal_name.is_none()
                    && let Some(upn) = d.user_id.as_deref().and_then(|id| upn_of.get(id))
                {
                    d.user_principal_name = Some(upn.to_string());
                    d.email_address = Some(upn.to_string());
                }
                d
            })
            .collect();
        let tenant = Tenant {
            tenant_id: tenant_spec.tenant_id.clone(),
            display_name: tenant_spec.display_name.clone(),
            apps: if tenant_spec.no_connector_app {
                Vec::new()
            } else {
                vec![LabApp {
                    client_id: tenant_spec.client_id.clone(),
                    display_name: "Exchange Connector".into(),
                    client_secret: Some(Secret::new(tenant_spec.client_secret.clone())),
                    certificates: Vec::new(),
                    graph_roles: tenant_spec.graph_roles.clone().unwrap_or_else(|| {
                        CONNECTOR_GRAPH_ROLES
                            .iter()
                            .map(|r| r.to_string())
                            .collect()
                    }),
                    exchange_roles: tenant_spec
                        .exchange_roles
                        .clone()
                        .unwrap_or_else(|| vec!["Exchange.ManageAsApp".to_string()]),
                    mail_send_scope: tenant_spec
                        .mail_send_scope
                        .clone()
                        .unwrap_or_else(|| vec![notify.upn.clone()]),
                }]
            },
            users,
            groups: tenant_spec
                .groups
                .iter()
                .map(|g| LabGroup {
                    id: g.id.clone(),
                    display_name: g.display_name.clone(),
                    members: g.members.clone(),
                })
                .collect(),
            managed_devices,
            exchange_connectors: Vec::new(),
            conditional_access_settings: ConditionalAccessSettings {
                id: uuid::Uuid::new_v4().to_string(),
                enabled: true,
                included_groups: tenant_spec.policy.included_groups.clone(),
                excluded_groups: tenant_spec.policy.excluded_groups.clone(),
                override_default_rule: false,
            },
            exchange_on_premises_policy: tenant_spec.exchange_on_premises_policy.clone().unwrap_or(
                ExchangeOnPremisesPolicy {
                    id: uuid::Uuid::new_v4().to_string(),
                    notification_content: None,
                    default_access_level: None,
                    access_rules: Vec::new(),
                    known_device_classes: Vec::new(),
                },
            ),
        };
        let credentials = LabCredentials {
            client_id: tenant_spec.client_id.clone(),
            client_secret: Secret::new(tenant_spec.client_secret.clone()),
            client_certificate_pfx: Vec::new(),
            client_certificate_password: Secret::new(uuid::Uuid::new_v4().simple().to_string()),
            service_account_user: service.user_name.clone(),
            service_account_password: service.password.clone(),
            notification_address: notify.upn.clone(),
            notification_password: notify.password.clone(),
        };
        Ok((org, tenant, credentials))
    }
}

/// The Contoso organisation both the small scenario and the generator use: three CAS servers, a rule
/// blocking `WP8` devices, the service account (every cmdlet), the notification account (none) and a
/// helpdesk account with `helpdesk_cmdlets`. `passwords` are those of the three accounts, in that order.
pub fn contoso_organization(
    mailboxes: Vec<MailboxSpec>,
    passwords: [String; 3],
    helpdesk_cmdlets: Vec<String>,
) -> OrganizationSpec {
    let domain = "contoso.lab";
    let [service, notify, helpdesk] = passwords;
    OrganizationSpec {
        name: "Contoso".into(),
        domain: domain.into(),
        netbios_name: "CONTOSO".into(),
        default_access_level: AccessLevel::Allow,
        cas_servers: vec!["CAS01".into(), "CAS02".into(), "CAS03".into()],
        rules: vec![RuleSpec {
            characteristic: RuleCharacteristic::DeviceType,
            query_string: "WP8".into(),
            access_level: AccessLevel::Block,
        }],
        accounts: vec![
            AccountSpec {
                user_name: "CONTOSO\\svc-eas".into(),
                upn: format!("svc-eas@{domain}"),
                password: service,
                cmdlets: None,
            },
            AccountSpec {
                user_name: "CONTOSO\\notify".into(),
                upn: format!("notify@{domain}"),
                password: notify,
                cmdlets: Some(Vec::new()),
            },
            AccountSpec {
                user_name: "CONTOSO\\helpdesk".into(),
                upn: format!("helpdesk@{domain}"),
                password: helpdesk,
                cmdlets: Some(helpdesk_cmdlets),
            },
        ],
        service_account: "CONTOSO\\svc-eas".into(),
        notification_account: "CONTOSO\\notify".into(),
        mailboxes,
        exchange_online: false,
    }
}

/// Builds one mailbox with its partnerships (evaluated by `ExchangeOrg::add_mailbox`).
pub fn build_mailbox(spec: &MailboxSpec, domain: &str, now: DateTime<Utc>) -> LabMailbox {
    let smtp = format!("{}@{domain}", spec.alias);
    let devices = spec
        .devices
        .iter()
        .map(|d| build_device(&spec.alias, &spec.display_name, d, now))
        .collect::<Vec<_>>();
    LabMailbox {
        cas: CasMailbox {
            identity: spec.alias.clone(),
            guid: uuid::Uuid::new_v4().to_string(),
            name: spec.alias.clone(),
            display_name: spec.display_name.clone(),
            primary_smtp_address: smtp.clone(),
            sam_account_name: Some(spec.alias.clone()),
            active_sync_enabled: spec.active_sync_enabled,
            active_sync_allowed_device_ids: spec.allowed_device_ids.clone(),
            active_sync_blocked_device_ids: spec.blocked_device_ids.clone(),
            active_sync_mailbox_policy: Some("Default".into()),
            active_sync_mailbox_policy_is_defaulted: true,
            has_active_sync_device_partnership: !devices.is_empty(),
            external_directory_object_id: spec.user_id.clone(),
        },
        upn: smtp,
        recipient_type_details: "UserMailbox".into(),
        devices,
    }
}

/// Builds one partnership.
pub fn build_device(
    alias: &str,
    display_name: &str,
    d: &DeviceSpec,
    now: DateTime<Utc>,
) -> LabDevice {
    let mut device =
        super::org::new_device_record(alias, display_name, &d.device_id, &d.device_type);
    let first = d.first_sync_time.unwrap_or(now - Duration::days(30));
    device.device_model = d.device_model.clone();
    device.device_os = d.device_os.clone();
    device.device_user_agent = d.user_agent.clone();
    device.friendly_name = d.friendly_name.clone();
    device.first_sync_time = Some(first);
    device.when_created = Some(first);
    device.when_changed = Some(first);
    if let Some(client) = &d.client_type {
        device.client_type = Some(client.clone());
    }
    if let Some(version) = &d.client_version {
        device.client_version = Some(version.clone());
    }
    LabDevice {
        device,
        meets_mailbox_policy: d.meets_mailbox_policy,
        last_success_sync: Some(d.last_success_sync.unwrap_or(now - Duration::hours(1))),
        last_sync_attempt_time: Some(d.last_success_sync.unwrap_or(now - Duration::hours(1))),
        last_policy_update_time: Some(first),
    }
}
