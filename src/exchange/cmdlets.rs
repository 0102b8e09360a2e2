//! Typed calls: what the sync needs from Exchange, each with typed results and typed errors.
//!
//! Every listing passes `-ResultSize Unlimited`: Exchange's `Get-*` cmdlets stop at 1000 objects by
//! default (spec §6), which would silently truncate an inventory. List edits use only the hashtable
//! form `@{Add=...; Remove=...}`, which leaves entries the connector did not put there untouched and
//! is idempotent, so a write retried after a server died mid-batch cannot be applied twice.

use super::bridge::{BridgeConfig, BridgeConnector};
use super::commands_log::CommandsLog;
use super::failover::{Failover, FailoverConfig};
use super::pool::{PoolConfig, RunspacePool};
use super::rest::{RestConfig, RestConnector};
use super::{CasServer, CollectSink, DiscardSink, ExchangeError, Invocation};
use crate::model::exchange::{
    AccessLevel, ActiveSyncDeviceClass, ActiveSyncOrganizationSettings, CasMailbox, CommandInfo,
    DeviceAccessRule, ExchangeServer, MobileDevice, MobileDeviceStatistics, Recipient,
    RuleCharacteristic,
};
use crate::oauth::TokenClient;
use crate::text_code::TextCode;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// The filter of mailboxes with EAS partnerships (the documented pattern; `$true` is PowerShell's,
/// written without the backtick a double-quoted PowerShell string would need).
pub const CAS_MAILBOXES_WITH_DEVICES_FILTER: &str =
    "HasActiveSyncDevicePartnership -eq $true -and -not DisplayName -like 'CAS_{*'";

/// The partnership properties a sync reads (decide, plan, record, notify): a sync's listings ask
/// for these only. `Guid`, IMEI, phone number, operator, language and the object's times are left
/// out: nothing in a sync reads them, and they were a third of each record.
pub const SYNC_DEVICE_PROPERTIES: &[&str] = &[
    "Identity",
    "Name",
    "DeviceId",
    "DeviceOS",
    "DeviceType",
    "DeviceUserAgent",
    "DeviceModel",
    "FriendlyName",
    "UserDisplayName",
    "DeviceAccessState",
    "DeviceAccessStateReason",
    "DeviceAccessControlRule",
    "DeviceActiveSyncVersion",
    "ClientVersion",
    "ClientType",
];

/// Cmdlets the connector needs; an inner list holds alternatives (2013+ name first).
pub const REQUIRED_CMDLETS: &[&[&str]] = &[
    &["Get-ActiveSyncOrganizationSettings"],
    &["Set-ActiveSyncOrganizationSettings"],
    &["Get-CASMailbox"],
    &["Set-CASMailbox"],
    &["Get-ActiveSyncDeviceAccessRule"],
    &["Set-ActiveSyncDeviceAccessRule"],
    &["New-ActiveSyncDeviceAccessRule"],
    &["Remove-ActiveSyncDeviceAccessRule"],
    &[
        "Get-MobileDeviceStatistics",
        "Get-ActiveSyncDeviceStatistics",
    ],
    &["Get-MobileDevice", "Get-ActiveSyncDevice"],
    &["Get-ExchangeServer"],
    &["Get-ActiveSyncDeviceClass"],
    &["Get-Recipient"],
    &["Set-ADServerSettings"],
    &["Get-Command"],
];

/// Cmdlets the seeds list that the sync itself does not call: reported, not required.
pub const OPTIONAL_CMDLETS: &[&str] = &[
    "Clear-ActiveSyncDevice",
    "Remove-ActiveSyncDevice",
    "Get-ActiveSyncMailboxPolicy",
    "Set-ActiveSyncMailboxPolicy",
    "New-ActiveSyncMailboxPolicy",
    "Remove-ActiveSyncMailboxPolicy",
];

/// Changes to one mailbox's personal allow and block lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceListEdit {
    /// DeviceIds to add to `ActiveSyncAllowedDeviceIDs`.
    pub allow_add: Vec<String>,
    /// DeviceIds to remove from `ActiveSyncAllowedDeviceIDs`.
    pub allow_remove: Vec<String>,
    /// DeviceIds to add to `ActiveSyncBlockedDeviceIDs`.
    pub block_add: Vec<String>,
    /// DeviceIds to remove from `ActiveSyncBlockedDeviceIDs`.
    pub block_remove: Vec<String>,
}

impl DeviceListEdit {
    /// Allows a device: on the allow list, off the block list.
    pub fn allow(device_id: &str) -> Self {
        DeviceListEdit {
            allow_add: vec![device_id.to_string()],
            block_remove: vec![device_id.to_string()],
            ..Default::default()
        }
    }

    /// Blocks a device: on the block list, off the allow list.
    pub fn block(device_id: &str) -> Self {
        DeviceListEdit {
            block_add: vec![device_id.to_string()],
            allow_remove: vec![device_id.to_string()],
            ..Default::default()
        }
    }

    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.allow_add.is_empty()
            && self.allow_remove.is_empty()
            && self.block_add.is_empty()
            && self.block_remove.is_empty()
    }

    /// The `Set-CASMailbox` call: only the lists that change, each as `{"Add":[..],"Remove":[..]}`.
    pub fn invocation(&self, mailbox: &str) -> Invocation {
        let mut inv = Invocation::new("Set-CASMailbox").param("Identity", mailbox);
        if !self.allow_add.is_empty() || !self.allow_remove.is_empty() {
            inv = inv.param(
                "ActiveSyncAllowedDeviceIDs",
                json!({"Add": self.allow_add, "Remove": self.allow_remove}),
            );
        }
        if !self.block_add.is_empty() || !self.block_remove.is_empty() {
            inv = inv.param(
                "ActiveSyncBlockedDeviceIDs",
                json!({"Add": self.block_add, "Remove": self.block_remove}),
            );
        }
        inv
    }
}

/// Changes to the organisation settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrganizationSettingsUpdate {
    /// `-DefaultAccessLevel`.
    pub default_access_level: Option<AccessLevel>,
    /// `-UserMailInsert` (at most 256 characters; empty clears).
    pub user_mail_insert: Option<String>,
    /// `-AdminMailRecipients` (replaces the list: the connector owns none of it, so only an admin's
    /// explicit choice goes here).
    pub admin_mail_recipients: Option<Vec<String>>,
    /// `-OtaNotificationMailInsert`.
    pub ota_notification_mail_insert: Option<String>,
}

/// Result of the permission check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionReport {
    /// Every cmdlet `Get-Command` listed.
    pub granted: Vec<String>,
    /// Required cmdlets the account lacks ("A (or B)" for alternatives).
    pub missing_required: Vec<String>,
    /// Optional cmdlets the account lacks.
    pub missing_optional: Vec<String>,
}

impl PermissionReport {
    /// Builds the report from the names `Get-Command` returned.
    pub fn from_granted(granted: Vec<String>) -> Self {
        let has = |name: &str| granted.iter().any(|g| g.eq_ignore_ascii_case(name));
        let missing_required = REQUIRED_CMDLETS
            .iter()
            .filter(|alternatives| !alternatives.iter().any(|c| has(c)))
            .map(|alternatives| match alternatives {
                [one] => one.to_string(),
                [first, rest @ ..] => format!("{first} (or {})", rest.join(", ")),
                [] => String::new(),
            })
            .collect();
        let missing_optional = OPTIONAL_CMDLETS
            .iter()
            .filter(|c| !has(c))
            .map(|c| c.to_string())
            .collect();
        PermissionReport {
            granted,
            missing_required,
            missing_optional,
        }
    }

    /// `Err` naming every missing required cmdlet.
    pub fn require(&self) -> Result<(), ExchangeError> {
        if self.missing_required.is_empty() {
            Ok(())
        } else {
            Err(ExchangeError::MissingCmdlets {
                missing: self.missing_required.clone(),
            })
        }
    }
}

/// What every on-premises runspace runs first: `Set-ADServerSettings -ViewEntireForest $true`, so
/// mailboxes in every domain of the forest are seen (the setting lasts for the session only).
pub fn on_premises_session_init() -> Vec<Invocation> {
    vec![Invocation::new("Set-ADServerSettings").param("ViewEntireForest", true)]
}

/// The OPATH filter of devices that appeared or changed after `since`.
pub fn changed_since_filter(since: DateTime<Utc>) -> String {
    let at = since.to_rfc3339_opts(SecondsFormat::Secs, true);
    format!("WhenChanged -gt '{at}' -or FirstSyncTime -gt '{at}'")
}

/// Whether Microsoft still supports an on-premises Exchange version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeSupport {
    /// Exchange Server Subscription Edition (SE), the supported on-premises version.
    Supported,
    /// Out of support since the date named (no more security updates).
    OutOfSupport {
        /// When support ended.
        since: &'static str,
    },
    /// A version string the connector does not know.
    Unknown,
}

/// An Exchange server's version as `Get-ExchangeServer` reports it (`AdminDisplayVersion`, e.g.
/// `Version 15.2 (Build 1544.4)`) and what it means for support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeVersion {
    /// The product, e.g. `Exchange 2019` or `Exchange Server SE`.
    pub product: &'static str,
    /// `AdminDisplayVersion` as reported.
    pub admin_display_version: String,
    /// Supported or not.
    pub support: ExchangeSupport,
}

/// The first build of Exchange Server SE (RTM, 15.2.2562.17, 1 July 2025): binary-equal to 2019 CU15
/// plus a hotfix, so 15.2 builds from here on are SE.
const SE_FIRST_BUILD: u32 = 2562;

impl ExchangeVersion {
    /// Reads `AdminDisplayVersion`. Exchange 2016 (15.1) and 2019 (15.2 before SE) left support on
    /// 14 October 2025 (their paid extended updates ended in October 2026); 2013 (15.0) on 11 April
    /// 2023; 2010 (14.x) on 13 October 2020. Exchange Server SE is the supported version.
    pub fn parse(admin_display_version: &str) -> ExchangeVersion {
        let numbers = |after: &str| -> Vec<u32> {
            admin_display_version
                .split_once(after)
                .map(|(_, rest)| {
                    rest.trim_start()
                        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .next()
                        .unwrap_or_default()
                        .split('.')
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let version = numbers("Version");
        let build = numbers("Build").first().copied().unwrap_or(0);
        let out = |product, since| (product, ExchangeSupport::OutOfSupport { since });
        let (product, support) = match (version.first(), version.get(1)) {
            (Some(15), Some(2)) if build >= SE_FIRST_BUILD => {
                ("Exchange Server SE", ExchangeSupport::Supported)
            }
            (Some(15), Some(2)) => out("Exchange 2019", "14 October 2025"),
            (Some(15), Some(1)) => out("Exchange 2016", "14 October 2025"),
            (Some(15), Some(0)) => out("Exchange 2013", "11 April 2023"),
            (Some(14), _) => out("Exchange 2010", "13 October 2020"),
            _ => ("Exchange", ExchangeSupport::Unknown),
        };
        ExchangeVersion {
            product,
            admin_display_version: admin_display_version.to_string(),
            support,
        }
    }

    /// One line for the admin about `server`: the product, the version, and whether it is
    /// supported (coded: the setup shows it in the admin's language).
    pub fn summary_of(&self, server: &str) -> TextCode {
        match self.support {
            ExchangeSupport::Supported => crate::coded!(
                "ex_version_supported",
                "{server}: {product} ({version}): supported",
                server = server,
                product = self.product,
                version = self.admin_display_version
            ),
            ExchangeSupport::OutOfSupport { since } => out_of_support(
                server,
                self.product,
                &self.admin_display_version,
                &iso_date(since),
            ),
            ExchangeSupport::Unknown => crate::coded!(
                "ex_version_unknown",
                "{server}: unknown Exchange version '{version}'",
                server = server,
                version = self.admin_display_version
            ),
        }
    }

    /// The day support ended, as `2025-10-14` (the same in every language); `None` while supported.
    pub fn support_ended(&self) -> Option<String> {
        match self.support {
            ExchangeSupport::OutOfSupport { since } => Some(iso_date(since)),
            _ => None,
        }
    }
}

/// "14 October 2025", as the support table writes it, as an ISO date.
fn iso_date(since: &str) -> String {
    chrono::NaiveDate::parse_from_str(since, "%d %B %Y")
        .map(|d| d.to_string())
        .unwrap_or_else(|_| since.to_string())
}

/// The warning for a server whose Exchange is out of support (Connect's check and the status page).
pub fn out_of_support(server: &str, product: &str, version: &str, since: &str) -> TextCode {
    crate::coded!(
        "st_exchange_out_of_support",
        "{server}: {product} ({version}): out of support since {since}; move to Exchange Server Subscription Edition (SE), the supported version",
        server = server,
        product = product,
        version = version,
        since = since
    )
}

/// The Exchange management client.
#[derive(Debug, Clone)]
pub struct ExchangeClient {
    pool: RunspacePool,
    legacy_cmdlets: bool,
}

impl ExchangeClient {
    /// A client over a pool (bridge or REST).
    pub fn new(pool: RunspacePool) -> Self {
        ExchangeClient {
            pool,
            legacy_cmdlets: false,
        }
    }

    /// On-premises: the PowerShell bridge to `primary`, with CAS failover, a pool and an optional
    /// commands log. Every new runspace first runs `Set-ADServerSettings -ViewEntireForest $true`
    /// (see [`on_premises_session_init`]) unless `pool.session_init` says otherwise.
    pub fn on_premises(
        bridge: BridgeConfig,
        primary: CasServer,
        failover: FailoverConfig,
        pool: PoolConfig,
        log: Option<CommandsLog>,
    ) -> Self {
        let pool = RunspacePool::new(
            Arc::new(BridgeConnector::new(bridge)),
            Some(Failover::new(primary, failover)),
            pool,
            log,
        );
        ExchangeClient::new(pool)
    }

    /// Exchange Online: REST `InvokeCommand` with app-only tokens from `tokens`.
    pub fn online(
        rest: RestConfig,
        tokens: Arc<TokenClient>,
        http: reqwest::Client,
        pool: PoolConfig,
        log: Option<CommandsLog>,
    ) -> Self {
        let pool = RunspacePool::new(
            Arc::new(RestConnector::new(rest, tokens, http)),
            None,
            pool,
            log,
        );
        ExchangeClient::new(pool)
    }

    /// Uses the Exchange 2010 names (`Get-ActiveSyncDevice`, `Get-ActiveSyncDeviceStatistics`).
    pub fn with_legacy_cmdlets(mut self, legacy: bool) -> Self {
        self.legacy_cmdlets = legacy;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &RunspacePool {
        &self.pool
    }

    /// Closes every session.
    pub async fn shutdown(&self) {
        self.pool.shutdown().await;
    }

    fn device_cmdlet(&self) -> &'static str {
        if self.legacy_cmdlets {
            "Get-ActiveSyncDevice"
        } else {
            "Get-MobileDevice"
        }
    }

    fn statistics_cmdlet(&self) -> &'static str {
        if self.legacy_cmdlets {
            "Get-ActiveSyncDeviceStatistics"
        } else {
            "Get-MobileDeviceStatistics"
        }
    }

    /// Runs a cmdlet and deserialises each record into `T` as it arrives.
    pub async fn call<T: DeserializeOwned + Send>(
        &self,
        invocation: &Invocation,
    ) -> Result<Vec<T>, ExchangeError> {
        let mut sink = CollectSink::<T>::new(&invocation.cmdlet);
        self.pool
            .invoke(invocation, &mut sink)
            .await?
            .into_result(&invocation.cmdlet)?;
        Ok(sink.items)
    }

    /// Runs a cmdlet whose output is not needed.
    pub async fn call_void(&self, invocation: &Invocation) -> Result<(), ExchangeError> {
        self.pool
            .invoke(invocation, &mut DiscardSink)
            .await?
            .into_result(&invocation.cmdlet)?;
        Ok(())
    }

    /// Every EAS partnership of the organisation.
    pub async fn list_devices(&self) -> Result<Vec<MobileDevice>, ExchangeError> {
        let inv = Invocation::new(self.device_cmdlet()).param("ResultSize", "Unlimited");
        self.call(&inv).await
    }

    /// Every EAS partnership, handed to `on_device` one at a time as the records arrive (nothing is
    /// collected). When a call is retried (a server died mid-listing) `on_restart` runs first and the
    /// listing starts again from its first device.
    pub async fn for_each_device(
        &self,
        filter: Option<&str>,
        on_restart: impl FnMut() + Send,
        on_device: impl FnMut(MobileDevice) + Send,
    ) -> Result<u64, ExchangeError> {
        let mut inv = Invocation::new(self.device_cmdlet())
            .param("ResultSize", "Unlimited")
            .select(SYNC_DEVICE_PROPERTIES);
        if let Some(filter) = filter {
            inv = inv.param("Filter", filter);
        }
        let mut sink = FnSink {
            cmdlet: inv.cmdlet.clone(),
            on_restart,
            on_item: on_device,
            _item: std::marker::PhantomData,
        };
        let outcome = self.pool.invoke(&inv, &mut sink).await?;
        Ok(outcome.into_result(&inv.cmdlet)?.count)
    }

    /// Partnerships matching an OPATH filter (evaluated by the server).
    pub async fn list_devices_filtered(
        &self,
        filter: &str,
    ) -> Result<Vec<MobileDevice>, ExchangeError> {
        let inv = Invocation::new(self.device_cmdlet())
            .param("ResultSize", "Unlimited")
            .param("Filter", filter)
            .select(SYNC_DEVICE_PROPERTIES);
        self.call(&inv).await
    }

    /// Partnerships that appeared or changed after `since` (a quick sync costs what changed).
    pub async fn list_devices_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<MobileDevice>, ExchangeError> {
        self.list_devices_filtered(&changed_since_filter(since))
            .await
    }

    /// The partnerships of one mailbox.
    pub async fn mailbox_devices(&self, mailbox: &str) -> Result<Vec<MobileDevice>, ExchangeError> {
        let inv = Invocation::new(self.device_cmdlet())
            .param("Mailbox", mailbox)
            .param("ResultSize", "Unlimited");
        self.call(&inv).await
    }

    /// Device statistics of one mailbox (there is no organisation-wide form).
    pub async fn device_statistics(
        &self,
        mailbox: &str,
    ) -> Result<Vec<MobileDeviceStatistics>, ExchangeError> {
        let inv = Invocation::new(self.statistics_cmdlet()).param("Mailbox", mailbox);
        self.call(&inv).await
    }

    /// Mailboxes with EAS partnerships, with their allow and block lists.
    pub async fn cas_mailboxes_with_devices(&self) -> Result<Vec<CasMailbox>, ExchangeError> {
        let inv = Invocation::new("Get-CASMailbox")
            .param("ResultSize", "Unlimited")
            .param("Filter", CAS_MAILBOXES_WITH_DEVICES_FILTER);
        self.call(&inv).await
    }

    /// One mailbox's client-access settings.
    pub async fn cas_mailbox(&self, identity: &str) -> Result<CasMailbox, ExchangeError> {
        let inv = Invocation::new("Get-CASMailbox").param("Identity", identity);
        self.call::<CasMailbox>(&inv)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::NotFound {
                cmdlet: "Get-CASMailbox".into(),
                target: identity.to_string(),
                message: "no mailbox returned".into(),
            })
    }

    /// Adds and removes DeviceIds on a mailbox's lists, leaving every other entry as it is.
    pub async fn edit_device_lists(
        &self,
        mailbox: &str,
        edit: &DeviceListEdit,
    ) -> Result<(), ExchangeError> {
        if edit.is_empty() {
            return Ok(());
        }
        self.call_void(&edit.invocation(mailbox)).await
    }

    /// Applies many list edits in parallel (up to the pool's size); one result per edit, in order.
    pub async fn apply_list_edits(
        &self,
        edits: &[(String, DeviceListEdit)],
    ) -> Vec<Result<(), ExchangeError>> {
        let parallel = self.pool.limit().max(1);
        // Owned futures: borrowed ones would make the returned future not `Send` for every lifetime
        // (a known limit of higher-ranked closures), and callers spawn this.
        futures_util::stream::iter(edits.iter().cloned())
            .map(|(mailbox, edit)| {
                let client = self.clone();
                async move { client.edit_device_lists(&mailbox, &edit).await }
            })
            .buffered(parallel)
            .collect()
            .await
    }

    /// `Get-ActiveSyncOrganizationSettings`.
    pub async fn organization_settings(
        &self,
    ) -> Result<ActiveSyncOrganizationSettings, ExchangeError> {
        self.call::<ActiveSyncOrganizationSettings>(&Invocation::new(
            "Get-ActiveSyncOrganizationSettings",
        ))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ExchangeError::Decode {
            cmdlet: "Get-ActiveSyncOrganizationSettings".into(),
            message: "no settings object returned".into(),
        })
    }

    /// `Set-ActiveSyncOrganizationSettings` with the given changes.
    pub async fn set_organization_settings(
        &self,
        update: &OrganizationSettingsUpdate,
    ) -> Result<(), ExchangeError> {
        let mut inv = Invocation::new("Set-ActiveSyncOrganizationSettings");
        if let Some(level) = update.default_access_level {
            inv = inv.param("DefaultAccessLevel", level.as_str());
        }
        if let Some(text) = &update.user_mail_insert {
            inv = inv.param("UserMailInsert", nullable(text));
        }
        if let Some(recipients) = &update.admin_mail_recipients {
            inv = inv.param("AdminMailRecipients", recipients.clone());
        }
        if let Some(text) = &update.ota_notification_mail_insert {
            inv = inv.param("OtaNotificationMailInsert", nullable(text));
        }
        if inv.parameters.is_empty() {
            return Ok(());
        }
        self.call_void(&inv).await
    }

    /// Device access rules.
    pub async fn device_access_rules(&self) -> Result<Vec<DeviceAccessRule>, ExchangeError> {
        self.call(&Invocation::new("Get-ActiveSyncDeviceAccessRule"))
            .await
    }

    /// Creates a rule and returns it.
    pub async fn new_device_access_rule(
        &self,
        query_string: &str,
        characteristic: RuleCharacteristic,
        level: AccessLevel,
    ) -> Result<DeviceAccessRule, ExchangeError> {
        let inv = Invocation::new("New-ActiveSyncDeviceAccessRule")
            .param("QueryString", query_string)
            .param("Characteristic", characteristic.as_str())
            .param("AccessLevel", level.as_str());
        let created = self
            .call::<DeviceAccessRule>(&inv)
            .await?
            .into_iter()
            .next();
        match created {
            Some(rule) => Ok(rule),
            // Some builds write nothing: read it back by its name.
            None => {
                let name = DeviceAccessRule::name_for(query_string, characteristic);
                self.device_access_rules()
                    .await?
                    .into_iter()
                    .find(|r| {
                        r.identity.eq_ignore_ascii_case(&name) || r.name.eq_ignore_ascii_case(&name)
                    })
                    .ok_or(ExchangeError::NotFound {
                        cmdlet: "New-ActiveSyncDeviceAccessRule".into(),
                        target: name,
                        message: "the new rule could not be read back".into(),
                    })
            }
        }
    }

    /// Changes a rule's access level.
    pub async fn set_device_access_rule(
        &self,
        identity: &str,
        level: AccessLevel,
    ) -> Result<(), ExchangeError> {
        let inv = Invocation::new("Set-ActiveSyncDeviceAccessRule")
            .param("Identity", identity)
            .param("AccessLevel", level.as_str());
        self.call_void(&inv).await
    }

    /// Removes a rule (without the confirmation prompt).
    pub async fn remove_device_access_rule(&self, identity: &str) -> Result<(), ExchangeError> {
        let inv = Invocation::new("Remove-ActiveSyncDeviceAccessRule")
            .param("Identity", identity)
            .param("Confirm", false);
        self.call_void(&inv).await
    }

    /// Device classes Exchange has seen.
    pub async fn device_classes(&self) -> Result<Vec<ActiveSyncDeviceClass>, ExchangeError> {
        let inv = Invocation::new("Get-ActiveSyncDeviceClass").param("ResultSize", "Unlimited");
        self.call(&inv).await
    }

    /// Exchange servers.
    pub async fn exchange_servers(&self) -> Result<Vec<ExchangeServer>, ExchangeError> {
        self.call(&Invocation::new("Get-ExchangeServer")).await
    }

    /// The version of each Exchange server (`Get-ExchangeServer`'s `AdminDisplayVersion`), by name.
    pub async fn exchange_versions(&self) -> Result<Vec<(String, ExchangeVersion)>, ExchangeError> {
        Ok(self
            .exchange_servers()
            .await?
            .into_iter()
            .map(|s| (s.name, ExchangeVersion::parse(&s.admin_display_version)))
            .collect())
    }

    /// Exchange servers with the Client Access role.
    pub async fn client_access_servers(&self) -> Result<Vec<ExchangeServer>, ExchangeError> {
        Ok(self
            .exchange_servers()
            .await?
            .into_iter()
            .filter(|s| s.is_client_access_server)
            .collect())
    }

    /// Recipients, optionally filtered (OPATH).
    pub async fn recipients(&self, filter: Option<&str>) -> Result<Vec<Recipient>, ExchangeError> {
        let mut inv = Invocation::new("Get-Recipient").param("ResultSize", "Unlimited");
        if let Some(filter) = filter {
            inv = inv.param("Filter", filter);
        }
        self.call(&inv).await
    }

    /// Runs `Get-Command` and names every required cmdlet the account cannot run.
    pub async fn check_permissions(&self) -> Result<PermissionReport, ExchangeError> {
        let commands: Vec<CommandInfo> = self.call(&Invocation::new("Get-Command")).await?;
        let report = PermissionReport::from_granted(commands.into_iter().map(|c| c.name).collect());
        if !report.missing_required.is_empty() {
            tracing::warn!(missing = ?report.missing_required, "the Exchange service account lacks cmdlets");
        }
        Ok(report)
    }
}

/// A sink calling closures, deserialising each record as it arrives.
struct FnSink<T, R, F> {
    cmdlet: String,
    on_restart: R,
    on_item: F,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T, R, F> super::RecordSink for FnSink<T, R, F>
where
    T: DeserializeOwned,
    R: FnMut() + Send,
    F: FnMut(T) + Send,
{
    fn restart(&mut self) {
        (self.on_restart)();
    }
    fn record(&mut self, record: Value) -> Result<(), ExchangeError> {
        let item = serde_json::from_value(record).map_err(|e| ExchangeError::Decode {
            cmdlet: self.cmdlet.clone(),
            message: e.to_string(),
        })?;
        (self.on_item)(item);
        Ok(())
    }
    fn page(&mut self, cmdlet: &str, text: &str) -> Result<super::rest::PageRest, ExchangeError> {
        let (items, rest) = super::rest::read_typed_page::<T>(cmdlet, text)?;
        items.into_iter().for_each(&mut self.on_item);
        Ok(rest)
    }
}

fn nullable(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn admin_display_versions_say_whether_they_are_supported() {
        use super::{ExchangeSupport, ExchangeVersion};
        let v = ExchangeVersion::parse("Version 15.2 (Build 1544.4)");
        assert_eq!(v.product, "Exchange 2019");
        assert_eq!(
            v.support,
            ExchangeSupport::OutOfSupport {
                since: "14 October 2025"
            }
        );
        assert!(
            v.summary_of("CAS01")
                .english
                .contains("Subscription Edition")
        );
        let se = ExchangeVersion::parse("Version 15.2 (Build 2562.17)");
        assert_eq!(
            (se.product, se.support),
            ("Exchange Server SE", ExchangeSupport::Supported)
        );
        assert_eq!(
            ExchangeVersion::parse("Version 15.1 (Build 2507.6)").product,
            "Exchange 2016"
        );
        assert_eq!(
            ExchangeVersion::parse("Version 14.3 (Build 123.4)").product,
            "Exchange 2010"
        );
        assert_eq!(
            ExchangeVersion::parse("?").support,
            ExchangeSupport::Unknown
        );
    }

    use super::*;

    #[test]
    fn list_edits_use_only_the_hashtable_form() {
        let inv = DeviceListEdit::allow("DEV1").invocation("alice");
        assert_eq!(inv.parameters["Identity"], "alice");
        assert_eq!(
            inv.parameters["ActiveSyncAllowedDeviceIDs"],
            json!({"Add": ["DEV1"], "Remove": []})
        );
        assert_eq!(
            inv.parameters["ActiveSyncBlockedDeviceIDs"],
            json!({"Add": [], "Remove": ["DEV1"]})
        );
        let only_allow = DeviceListEdit {
            allow_add: vec!["X".into()],
            ..Default::default()
        }
        .invocation("bob");
        assert!(
            !only_allow
                .parameters
                .contains_key("ActiveSyncBlockedDeviceIDs")
        );
    }

    #[test]
    fn permission_report_names_missing_cmdlets_and_alternatives() {
        let granted: Vec<String> = REQUIRED_CMDLETS
            .iter()
            .map(|alts| alts[alts.len() - 1].to_string())
            .filter(|c| c != "Set-CASMailbox" && c != "Get-ActiveSyncDevice")
            .collect();
        let report = PermissionReport::from_granted(granted);
        assert_eq!(
            report.missing_required,
            [
                "Set-CASMailbox",
                "Get-MobileDevice (or Get-ActiveSyncDevice)"
            ]
        );
        assert_eq!(report.missing_optional.len(), OPTIONAL_CMDLETS.len());
        let err = report.require().unwrap_err().to_string();
        assert!(
            err.contains("Set-CASMailbox") && err.contains("Get-MobileDevice"),
            "{err}"
        );
    }

    #[test]
    fn changed_since_filter_is_iso() {
        let at = DateTime::parse_from_rfc3339("2024-05-01T09:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            changed_since_filter(at),
            "WhenChanged -gt '2024-05-01T09:30:00Z' -or FirstSyncTime -gt '2024-05-01T09:30:00Z'"
        );
    }
}
