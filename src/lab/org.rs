//! The simulated Exchange organisation's data: mailboxes with their CAS settings and partnerships,
//! organisation settings, device access rules, servers and the accounts that may sign in. Every change
//! to a list, a rule or the default re-runs the ABQ evaluation ([`crate::abq`]) for the devices it can
//! affect, so `DeviceAccessState` is always what Exchange would report.

use crate::abq::{self, AbqInput};
use crate::model::exchange::{
    AccessLevel, ActiveSyncOrganizationSettings, CasMailbox, DeviceAccessRule, DeviceAccessState,
    DeviceAccessStateReason, ExchangeServer, MobileDevice,
};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// One mailbox of the organisation.
#[derive(Debug, Clone)]
pub struct LabMailbox {
    /// Its client-access settings, including the personal allow/block lists.
    pub cas: CasMailbox,
    /// UPN (equal to the primary SMTP address in the generated organisations).
    pub upn: String,
    /// `RecipientTypeDetails` (`UserMailbox`, `SharedMailbox`, ...).
    pub recipient_type_details: String,
    /// The mailbox's EAS partnerships.
    pub devices: Vec<LabDevice>,
}

/// One EAS partnership and the statistics Exchange keeps for it.
#[derive(Debug, Clone)]
pub struct LabDevice {
    /// What `Get-MobileDevice` returns.
    pub device: MobileDevice,
    /// Whether the device meets the mailbox's EAS policy (ABQ step 3).
    pub meets_mailbox_policy: bool,
    /// `LastSuccessSync`.
    pub last_success_sync: Option<DateTime<Utc>>,
    /// `LastSyncAttemptTime`.
    pub last_sync_attempt_time: Option<DateTime<Utc>>,
    /// `LastPolicyUpdateTime`.
    pub last_policy_update_time: Option<DateTime<Utc>>,
}

/// An account that may open a management session, and the cmdlets its roles grant.
#[derive(Debug, Clone)]
pub struct LabAccount {
    /// `DOMAIN\sam`.
    pub user_name: String,
    /// UPN.
    pub upn: String,
    /// Password.
    pub password: Secret,
    /// Cmdlets the account's RBAC roles grant (what `Get-Command` answers).
    pub granted_cmdlets: Vec<String>,
}

impl LabAccount {
    /// Whether the account may run a cmdlet (case-insensitive, as PowerShell).
    pub fn may_run(&self, cmdlet: &str) -> bool {
        self.granted_cmdlets
            .iter()
            .any(|c| c.eq_ignore_ascii_case(cmdlet))
    }

    /// Whether `name` designates this account (`DOMAIN\sam`, `sam` or UPN, any case).
    pub fn is_named(&self, name: &str) -> bool {
        let sam = self
            .user_name
            .rsplit('\\')
            .next()
            .unwrap_or(&self.user_name);
        name.eq_ignore_ascii_case(&self.user_name)
            || name.eq_ignore_ascii_case(&self.upn)
            || name.eq_ignore_ascii_case(sam)
    }
}

/// Every cmdlet the lab implements: what a fully privileged account is granted.
pub const ALL_CMDLETS: &[&str] = &[
    "Get-MobileDevice",
    "Get-ActiveSyncDevice",
    "Get-MobileDeviceStatistics",
    "Get-ActiveSyncDeviceStatistics",
    "Get-CASMailbox",
    "Set-CASMailbox",
    "Get-ActiveSyncOrganizationSettings",
    "Set-ActiveSyncOrganizationSettings",
    "Get-ActiveSyncDeviceAccessRule",
    "New-ActiveSyncDeviceAccessRule",
    "Set-ActiveSyncDeviceAccessRule",
    "Remove-ActiveSyncDeviceAccessRule",
    "Get-ActiveSyncDeviceClass",
    "Get-ExchangeServer",
    "Get-Recipient",
    "Set-ADServerSettings",
    "Get-Command",
    "Get-ActiveSyncMailboxPolicy",
    "Set-ActiveSyncMailboxPolicy",
    "New-ActiveSyncMailboxPolicy",
    "Remove-ActiveSyncMailboxPolicy",
    "Clear-ActiveSyncDevice",
    "Remove-ActiveSyncDevice",
];

/// The organisation.
#[derive(Debug, Clone)]
pub struct ExchangeOrg {
    /// Organisation name.
    pub name: String,
    /// SMTP / AD domain, e.g. `contoso.lab`.
    pub domain: String,
    /// NetBIOS domain, e.g. `CONTOSO`.
    pub netbios: String,
    /// `Get-ActiveSyncOrganizationSettings`.
    pub settings: ActiveSyncOrganizationSettings,
    /// Device access rules.
    pub rules: Vec<DeviceAccessRule>,
    /// Exchange servers (all with the CAS role in generated organisations).
    pub servers: Vec<ExchangeServer>,
    /// Mailboxes, in creation order.
    pub mailboxes: Vec<LabMailbox>,
    /// Accounts that may sign in to management sessions.
    pub accounts: Vec<LabAccount>,
    /// Lower-cased identities (alias, SMTP, UPN, GUID, `DOMAIN\sam`) → mailbox index.
    index: HashMap<String, usize>,
    /// Lower-cased DeviceId → (mailbox index, device index). DeviceIds are unique per mailbox; the
    /// first partnership found wins for look-ups by bare DeviceId.
    device_index: HashMap<String, Vec<(usize, usize)>>,
    /// Device classes seen: (DeviceType, DeviceModel) → last update.
    pub device_classes: BTreeMap<(String, String), DateTime<Utc>>,
    /// Exchange Online as it is in December 2026 rather than on-premises Exchange: EWS and
    /// Autodiscover answer as a tenant where EWS is blocked, Basic is refused, mail goes through
    /// Graph `sendMail`.
    pub exchange_online: bool,
    /// RBAC for Applications (Exchange Online): service principals, scopes, role assignments.
    pub app_rbac: super::exchange::app_rbac::AppRbac,
}

impl ExchangeOrg {
    /// An empty organisation.
    pub fn new(name: &str, domain: &str, netbios: &str, default_access_level: AccessLevel) -> Self {
        ExchangeOrg {
            name: name.to_string(),
            domain: domain.to_string(),
            netbios: netbios.to_string(),
            settings: ActiveSyncOrganizationSettings {
                identity: "Mobile Mailbox Settings".into(),
                name: "Mobile Mailbox Settings".into(),
                default_access_level,
                user_mail_insert: None,
                admin_mail_recipients: Vec::new(),
                ota_notification_mail_insert: None,
                allow_access_for_un_supported_platform: false,
            },
            rules: Vec::new(),
            servers: Vec::new(),
            mailboxes: Vec::new(),
            accounts: Vec::new(),
            index: HashMap::new(),
            device_index: HashMap::new(),
            device_classes: BTreeMap::new(),
            exchange_online: false,
            app_rbac: Default::default(),
        }
    }

    /// Adds a mailbox and indexes it; its devices are evaluated.
    pub fn add_mailbox(&mut self, mailbox: LabMailbox) -> usize {
        let idx = self.mailboxes.len();
        for key in [
            mailbox.cas.identity.clone(),
            mailbox.cas.name.clone(),
            mailbox.cas.primary_smtp_address.clone(),
            mailbox.upn.clone(),
            mailbox.cas.guid.clone(),
            mailbox.cas.display_name.clone(),
        ]
        .into_iter()
        .chain(
            mailbox
                .cas
                .sam_account_name
                .iter()
                .flat_map(|sam| [sam.clone(), format!("{}\\{sam}", self.netbios)]),
        ) {
            self.index.entry(key.to_ascii_lowercase()).or_insert(idx);
        }
        self.mailboxes.push(mailbox);
        for d in 0..self.mailboxes[idx].devices.len() {
            self.index_device(idx, d);
        }
        self.recompute(idx);
        idx
    }

    fn index_device(&mut self, mailbox: usize, device: usize) {
        let lab_device = &self.mailboxes[mailbox].devices[device];
        let d = &lab_device.device;
        self.device_index
            .entry(d.device_id.to_ascii_lowercase())
            .or_default()
            .push((mailbox, device));
        if let Some(model) = &d.device_model {
            let seen = lab_device.last_success_sync.unwrap_or_else(Utc::now);
            let entry = self
                .device_classes
                .entry((d.device_type.clone(), model.clone()))
                .or_insert(seen);
            if seen > *entry {
                *entry = seen;
            }
        }
    }

    /// Finds a mailbox by any of its identities (alias, SMTP, UPN, GUID, display name, `DOMAIN\sam`).
    pub fn find_mailbox(&self, identity: &str) -> Option<usize> {
        self.index
            .get(&identity.trim().to_ascii_lowercase())
            .copied()
    }

    /// Whether every DeviceId is ASCII: then the index (lower-cased ASCII) finds every partnership a
    /// case-insensitive comparison with an ASCII text matches (no Unicode folding, such as the Kelvin
    /// sign's to `k`, can reach it).
    pub fn device_ids_are_ascii(&self) -> bool {
        self.device_index.keys().all(|id| id.is_ascii())
    }

    /// The partnerships with this DeviceId (case-insensitive).
    pub fn find_devices(&self, device_id: &str) -> &[(usize, usize)] {
        self.device_index
            .get(&device_id.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Adds a partnership to a mailbox (a user's new phone) and evaluates it.
    pub fn add_device(&mut self, mailbox: usize, device: LabDevice) -> usize {
        let d = self.mailboxes[mailbox].devices.len();
        self.mailboxes[mailbox].devices.push(device);
        self.mailboxes[mailbox]
            .cas
            .has_active_sync_device_partnership = true;
        self.index_device(mailbox, d);
        self.recompute(mailbox);
        d
    }

    /// Re-runs ABQ for every device of one mailbox; bumps `WhenChanged` where the outcome changed.
    pub fn recompute(&mut self, mailbox: usize) {
        let now = Utc::now();
        let default_access_level = self.settings.default_access_level;
        let rules = &self.rules;
        let mb = &mut self.mailboxes[mailbox];
        for lab_device in &mut mb.devices {
            let d = &lab_device.device;
            let outcome = abq::evaluate(&AbqInput {
                active_sync_enabled: mb.cas.active_sync_enabled,
                meets_mailbox_policy: lab_device.meets_mailbox_policy,
                device_id: &d.device_id,
                device_type: &d.device_type,
                device_model: d.device_model.as_deref().unwrap_or(""),
                device_os: d.device_os.as_deref().unwrap_or(""),
                user_agent: d.device_user_agent.as_deref().unwrap_or(""),
                allowed_device_ids: &mb.cas.active_sync_allowed_device_ids,
                blocked_device_ids: &mb.cas.active_sync_blocked_device_ids,
                rules,
                default_access_level,
            });
            let d = &mut lab_device.device;
            let changed = d.device_access_state != outcome.state
                || d.device_access_state_reason != outcome.reason
                || d.device_access_control_rule != outcome.rule;
            if changed {
                d.device_access_state = outcome.state;
                d.device_access_state_reason = outcome.reason;
                d.device_access_control_rule = outcome.rule;
                d.when_changed = Some(now);
            }
        }
    }

    /// Re-runs ABQ for the whole organisation (after a rule or default change).
    pub fn recompute_all(&mut self) {
        for idx in 0..self.mailboxes.len() {
            self.recompute(idx);
        }
    }

    /// The account with this name and password, if the credentials are right.
    pub fn authenticate(&self, user_name: &str, password: &str) -> Option<&LabAccount> {
        self.accounts
            .iter()
            .find(|a| a.is_named(user_name) && a.password.expose() == password)
    }

    /// Counts of devices by access state, for the control API and the lab's start-up banner.
    pub fn state_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for device in self.mailboxes.iter().flat_map(|m| &m.devices) {
            *counts
                .entry(device.device.device_access_state.as_str())
                .or_default() += 1;
        }
        counts
    }

    /// Number of partnerships.
    pub fn device_count(&self) -> usize {
        self.mailboxes.iter().map(|m| m.devices.len()).sum()
    }
}

/// A new partnership as first seen: `DeviceDiscovery` until evaluated.
pub fn new_device_record(
    mailbox_alias: &str,
    display_name: &str,
    device_id: &str,
    device_type: &str,
) -> MobileDevice {
    let name = format!("{device_type}§{device_id}");
    let now = Utc::now();
    MobileDevice {
        identity: format!("{mailbox_alias}\\ExchangeActiveSyncDevices\\{name}"),
        guid: uuid::Uuid::new_v4().to_string(),
        name,
        device_id: device_id.to_string(),
        device_imei: None,
        device_mobile_operator: None,
        device_os: None,
        device_os_language: None,
        device_telephone_number: None,
        device_type: device_type.to_string(),
        device_user_agent: None,
        device_model: None,
        friendly_name: None,
        first_sync_time: Some(now),
        user_display_name: Some(display_name.to_string()),
        device_access_state: DeviceAccessState::DeviceDiscovery,
        device_access_state_reason: DeviceAccessStateReason::Unknown,
        device_access_control_rule: None,
        device_active_sync_version: Some("16.1".into()),
        client_version: Some("16.1".into()),
        client_type: Some("EAS".into()),
        when_changed: Some(now),
        when_created: Some(now),
    }
}
