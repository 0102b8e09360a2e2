//! Exchange objects as the management cmdlets return them.
//!
//! Field names are Exchange's own (`Get-MobileDevice`, `Get-CASMailbox`, ...), so a record read from the
//! PowerShell bridge, from REST `InvokeCommand` or produced by the lab deserialises into the same type.
//! Dates travel as ISO-8601 UTC strings. Unknown fields are ignored on input so newer Exchange builds that
//! add properties do not break the connector.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An access level as used by organisation settings and device access rules (`-AccessLevel`,
/// `-DefaultAccessLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum AccessLevel {
    /// Full sync.
    Allow,
    /// Refused with HTTP 403.
    Block,
    /// May connect, but sees no mailbox content until released.
    Quarantine,
}

impl AccessLevel {
    /// The exact word Exchange uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Allow => "Allow",
            AccessLevel::Block => "Block",
            AccessLevel::Quarantine => "Quarantine",
        }
    }

    /// Parses Exchange's word, case-insensitively as PowerShell does.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "allow" => Some(AccessLevel::Allow),
            "block" => Some(AccessLevel::Block),
            "quarantine" => Some(AccessLevel::Quarantine),
            _ => None,
        }
    }

    /// The state a device ends in when this level decides it.
    pub fn resulting_state(self) -> DeviceAccessState {
        match self {
            AccessLevel::Allow => DeviceAccessState::Allowed,
            AccessLevel::Block => DeviceAccessState::Blocked,
            AccessLevel::Quarantine => DeviceAccessState::Quarantined,
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `DeviceAccessState` of a mobile device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceAccessState {
    /// Not yet evaluated.
    Unknown,
    /// May sync.
    Allowed,
    /// Refused.
    Blocked,
    /// Quarantined.
    Quarantined,
    /// First contact, while the server decides.
    DeviceDiscovery,
}

impl DeviceAccessState {
    /// The exact word Exchange uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceAccessState::Unknown => "Unknown",
            DeviceAccessState::Allowed => "Allowed",
            DeviceAccessState::Blocked => "Blocked",
            DeviceAccessState::Quarantined => "Quarantined",
            DeviceAccessState::DeviceDiscovery => "DeviceDiscovery",
        }
    }
}

impl fmt::Display for DeviceAccessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `DeviceAccessStateReason`: which step of the ABQ evaluation decided the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceAccessStateReason {
    /// Not yet evaluated.
    Unknown,
    /// The organisation's `DefaultAccessLevel`.
    Global,
    /// The mailbox's own allow or block list.
    Individual,
    /// A device access rule.
    DeviceRule,
    /// The EAS mailbox policy's requirements were not met.
    Policy,
    /// Temporary state after a mailbox move.
    Upgrade,
    /// Exchange Online with Intune conditional access.
    ExternallyManaged,
    /// Exchange Online: external compliance.
    ExternalCompliance,
    /// Exchange Online: external enrolment.
    ExternalEnrollment,
}

impl DeviceAccessStateReason {
    /// The exact word Exchange uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceAccessStateReason::Unknown => "Unknown",
            DeviceAccessStateReason::Global => "Global",
            DeviceAccessStateReason::Individual => "Individual",
            DeviceAccessStateReason::DeviceRule => "DeviceRule",
            DeviceAccessStateReason::Policy => "Policy",
            DeviceAccessStateReason::Upgrade => "Upgrade",
            DeviceAccessStateReason::ExternallyManaged => "ExternallyManaged",
            DeviceAccessStateReason::ExternalCompliance => "ExternalCompliance",
            DeviceAccessStateReason::ExternalEnrollment => "ExternalEnrollment",
        }
    }
}

impl fmt::Display for DeviceAccessStateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The device characteristic a device access rule matches on (`-Characteristic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleCharacteristic {
    /// `DeviceModel`, e.g. `iPhone15C2`.
    DeviceModel,
    /// `DeviceType`, e.g. `iPhone` (the device family).
    DeviceType,
    /// `DeviceOS`, e.g. `iOS 17.4 21E219`.
    #[serde(rename = "DeviceOS")]
    DeviceOs,
    /// The EAS `User-Agent`.
    UserAgent,
    /// The `X-MS-WL` header of Outlook.com clients.
    #[serde(rename = "XMSWLHeader")]
    XmswlHeader,
}

impl RuleCharacteristic {
    /// The exact word Exchange uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleCharacteristic::DeviceModel => "DeviceModel",
            RuleCharacteristic::DeviceType => "DeviceType",
            RuleCharacteristic::DeviceOs => "DeviceOS",
            RuleCharacteristic::UserAgent => "UserAgent",
            RuleCharacteristic::XmswlHeader => "XMSWLHeader",
        }
    }

    /// Parses Exchange's word, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        [
            RuleCharacteristic::DeviceModel,
            RuleCharacteristic::DeviceType,
            RuleCharacteristic::DeviceOs,
            RuleCharacteristic::UserAgent,
            RuleCharacteristic::XmswlHeader,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(text))
    }
}

/// An EAS device partnership (`Get-MobileDevice` / `Get-ActiveSyncDevice`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MobileDevice {
    /// `<mailbox>\ExchangeActiveSyncDevices\<DeviceType>§<DeviceId>`.
    pub identity: String,
    /// The object's GUID (empty when a listing did not ask for it).
    #[serde(default)]
    pub guid: String,
    /// The device object's name: `<DeviceType>§<DeviceId>`.
    pub name: String,
    /// The EAS DeviceId; the join key to Intune's `easDeviceId`. A factory reset makes a new one.
    #[serde(rename = "DeviceId")]
    pub device_id: String,
    /// IMEI as reported by the device.
    #[serde(default, rename = "DeviceImei")]
    pub device_imei: Option<String>,
    /// Operator.
    #[serde(default)]
    pub device_mobile_operator: Option<String>,
    /// Operating system, e.g. `iOS 17.4 21E219`.
    #[serde(default, rename = "DeviceOS")]
    pub device_os: Option<String>,
    /// OS language.
    #[serde(default, rename = "DeviceOSLanguage")]
    pub device_os_language: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub device_telephone_number: Option<String>,
    /// Device family, e.g. `iPhone`, `Android`, `SAMSUNGSMG991B`.
    pub device_type: String,
    /// EAS User-Agent.
    #[serde(default)]
    pub device_user_agent: Option<String>,
    /// Model, e.g. `iPhone15C2`.
    #[serde(default)]
    pub device_model: Option<String>,
    /// Friendly name the user gave the device.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// First successful sync.
    #[serde(default)]
    pub first_sync_time: Option<DateTime<Utc>>,
    /// Display name of the mailbox owner.
    #[serde(default)]
    pub user_display_name: Option<String>,
    /// Current access state.
    pub device_access_state: DeviceAccessState,
    /// Which ABQ step decided it.
    pub device_access_state_reason: DeviceAccessStateReason,
    /// The rule that decided it, when a rule did.
    #[serde(default)]
    pub device_access_control_rule: Option<String>,
    /// EAS protocol version (`DeviceActiveSyncVersion`, on the Exchange 2010 `Get-ActiveSyncDevice`).
    #[serde(default)]
    pub device_active_sync_version: Option<String>,
    /// The EAS protocol version the client speaks (`ClientVersion`, e.g. `16.1`, `14.1`), the property
    /// Microsoft's own query reads to find clients Exchange Online refuses (see
    /// [`MobileDevice::refused_by_exchange_online`]).
    #[serde(default)]
    pub client_version: Option<String>,
    /// `EAS`, `Outlook`, `REST`, ...
    #[serde(default)]
    pub client_type: Option<String>,
    /// Last change of the object.
    #[serde(default)]
    pub when_changed: Option<DateTime<Utc>>,
    /// Creation of the object.
    #[serde(default)]
    pub when_created: Option<DateTime<Utc>>,
}

/// A DeviceId as Exchange compares it: without regard to ASCII case. Borrowed, so a map keyed by
/// it needs no lowercase copy of each id (indexing 50,000 Intune records by such copies cost a full
/// sync's decide phase a fifth of its time and 3 MiB at its peak).
#[derive(Debug, Clone, Copy)]
pub struct Caseless<'a>(pub &'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Caseless<'_> {}

impl std::hash::Hash for Caseless<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // A chunk at a time, lowercased: hashes as the lowercase text written at once would.
        let mut lower = [0u8; 32];
        for chunk in self.0.as_bytes().chunks(lower.len()) {
            let lower = &mut lower[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_u8(0xff);
    }
}

/// An Exchange ActiveSync protocol version (`major.minor`, as `ClientVersion` spells it: `16.1`,
/// `14.1`, `2.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EasProtocolVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

/// The lowest EAS protocol Exchange Online accepts: clients below 16.1 are refused since 1 March 2026
/// (Exchange team, "Exchange Online ActiveSync device support update", 15 December 2025, MC1197103).
/// Exchange Server on premises is not affected.
pub const EXCHANGE_ONLINE_MINIMUM_EAS: EasProtocolVersion = EasProtocolVersion {
    major: 16,
    minor: 1,
};

impl EasProtocolVersion {
    /// Parses `major.minor` with optional further numeric parts (`16.1.0`), as PowerShell's
    /// `[version]` does; anything else (empty, letters, a lone number, overflow) is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let number = |part: Option<&str>| -> Option<u16> {
            let part = part?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        // At most four parts, each numeric, as `[version]` requires.
        let rest: Vec<&str> = parts.collect();
        if rest.len() > 2 || rest.iter().any(|p| number(Some(p)).is_none()) {
            return None;
        }
        Some(EasProtocolVersion { major, minor })
    }
}

impl fmt::Display for EasProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The admin's sentence for a device Exchange Online refuses because of its protocol: a flag, not a
/// decision of the connector (Exchange Online refuses the device whatever its lists say).
pub fn refused_protocol_explanation(version: &str) -> String {
    format!(
        "EAS protocol {version} is below {EXCHANGE_ONLINE_MINIMUM_EAS}: Exchange Online has refused such clients since 1 March 2026, so this device cannot sync whatever the connector decides (flagged only, the connector changes nothing for it; update the mail app or use Outlook)"
    )
}

impl MobileDevice {
    /// Whether the partnership is an Exchange ActiveSync client (`ClientType` `EAS`, or missing as
    /// on Exchange 2010), not Outlook's REST sync.
    pub fn is_eas(&self) -> bool {
        self.client_type.as_deref().is_none_or(|t| {
            t.eq_ignore_ascii_case("EAS") || t.to_ascii_lowercase().contains("activesync")
        })
    }

    /// The EAS protocol the client speaks: `ClientVersion`, else `DeviceActiveSyncVersion`, as written.
    pub fn eas_protocol_text(&self) -> Option<&str> {
        self.client_version
            .as_deref()
            .or(self.device_active_sync_version.as_deref())
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether Exchange Online refuses this client: an EAS client whose protocol is known and below
    /// 16.1 (Microsoft's query: `ClientType` EAS, a `ClientVersion`, `[version]` below `16.1`). An
    /// unreadable version is not flagged.
    pub fn refused_by_exchange_online(&self) -> bool {
        self.is_eas()
            && self
                .eas_protocol_text()
                .and_then(EasProtocolVersion::parse)
                .is_some_and(|v| v < EXCHANGE_ONLINE_MINIMUM_EAS)
    }
}

/// `Get-MobileDeviceStatistics` / `Get-ActiveSyncDeviceStatistics` for one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MobileDeviceStatistics {
    /// Identity of the device.
    pub identity: String,
    /// The EAS DeviceId (note Exchange's spelling `DeviceID` here).
    #[serde(rename = "DeviceID")]
    pub device_id: String,
    /// Device family.
    pub device_type: String,
    /// Model.
    #[serde(default)]
    pub device_model: Option<String>,
    /// OS.
    #[serde(default, rename = "DeviceOS")]
    pub device_os: Option<String>,
    /// User-Agent.
    #[serde(default)]
    pub device_user_agent: Option<String>,
    /// Friendly name.
    #[serde(default)]
    pub device_friendly_name: Option<String>,
    /// IMEI.
    #[serde(default, rename = "DeviceIMEI")]
    pub device_imei: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub device_phone_number: Option<String>,
    /// First sync.
    #[serde(default)]
    pub first_sync_time: Option<DateTime<Utc>>,
    /// Last policy update.
    #[serde(default)]
    pub last_policy_update_time: Option<DateTime<Utc>>,
    /// Last attempt.
    #[serde(default)]
    pub last_sync_attempt_time: Option<DateTime<Utc>>,
    /// Last success.
    #[serde(default)]
    pub last_success_sync: Option<DateTime<Utc>>,
    /// Ping heartbeat interval in seconds.
    #[serde(default)]
    pub last_ping_heartbeat: Option<u32>,
    /// Access state (as on the device object).
    pub device_access_state: DeviceAccessState,
    /// Access state reason.
    pub device_access_state_reason: DeviceAccessStateReason,
    /// Deciding rule, if any.
    #[serde(default)]
    pub device_access_control_rule: Option<String>,
    /// `DeviceOk`, ...
    #[serde(default)]
    pub status: Option<String>,
}

/// `Get-CASMailbox`: a mailbox's client-access settings, with its personal allow/block lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CasMailbox {
    /// Identity (the alias in the lab; often the canonical name in real Exchange).
    pub identity: String,
    /// Object GUID.
    pub guid: String,
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Primary SMTP address.
    pub primary_smtp_address: String,
    /// `sAMAccountName`.
    #[serde(default)]
    pub sam_account_name: Option<String>,
    /// `false` blocks EAS for the user whatever else says.
    pub active_sync_enabled: bool,
    /// Personal allow list (DeviceIds).
    #[serde(rename = "ActiveSyncAllowedDeviceIDs", default)]
    pub active_sync_allowed_device_ids: Vec<String>,
    /// Personal block list (DeviceIds).
    #[serde(rename = "ActiveSyncBlockedDeviceIDs", default)]
    pub active_sync_blocked_device_ids: Vec<String>,
    /// EAS mailbox policy name.
    #[serde(default)]
    pub active_sync_mailbox_policy: Option<String>,
    /// Whether the default policy applies.
    #[serde(default)]
    pub active_sync_mailbox_policy_is_defaulted: bool,
    /// Whether the mailbox has at least one EAS partnership.
    pub has_active_sync_device_partnership: bool,
    /// `ExternalDirectoryObjectId` (the Entra user id once synchronised).
    #[serde(default)]
    pub external_directory_object_id: Option<String>,
}

/// `Get-ActiveSyncOrganizationSettings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActiveSyncOrganizationSettings {
    /// `Mobile Mailbox Settings` by default.
    pub identity: String,
    /// Same as identity.
    pub name: String,
    /// What happens to a device no rule or list covers.
    pub default_access_level: AccessLevel,
    /// Footer of the quarantine mail (at most 256 characters).
    #[serde(default)]
    pub user_mail_insert: Option<String>,
    /// Who is told of quarantined devices.
    #[serde(default)]
    pub admin_mail_recipients: Vec<String>,
    /// Text of the over-the-air notification (at most 256 characters).
    #[serde(default)]
    pub ota_notification_mail_insert: Option<String>,
    /// Whether devices that do not support policies may connect.
    #[serde(default)]
    pub allow_access_for_un_supported_platform: bool,
}

/// `Get-ActiveSyncDeviceAccessRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceAccessRule {
    /// `<QueryString> (<Characteristic>)`.
    pub identity: String,
    /// Same as identity.
    pub name: String,
    /// Object GUID.
    pub guid: String,
    /// What it matches on.
    pub characteristic: RuleCharacteristic,
    /// Exact text matched (no wildcards).
    pub query_string: String,
    /// Level applied to matching devices.
    pub access_level: AccessLevel,
}

impl DeviceAccessRule {
    /// The name Exchange gives a rule: `'<QueryString> (<Characteristic>)'`.
    pub fn name_for(query_string: &str, characteristic: RuleCharacteristic) -> String {
        format!("{query_string} ({})", characteristic.as_str())
    }
}

/// `Get-ActiveSyncDeviceClass`: a device family and model Exchange has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActiveSyncDeviceClass {
    /// `<DeviceType>§<DeviceModel>`.
    pub identity: String,
    /// Same as identity.
    pub name: String,
    /// Family.
    pub device_type: String,
    /// Model.
    pub device_model: String,
    /// Last time a device of this class synced.
    #[serde(default)]
    pub last_update_time: Option<DateTime<Utc>>,
}

/// `Get-ExchangeServer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExchangeServer {
    /// NetBIOS name.
    pub name: String,
    /// Same as name.
    pub identity: String,
    /// Fully qualified name.
    pub fqdn: String,
    /// e.g. `Mailbox, ClientAccess`.
    pub server_role: String,
    /// e.g. `Version 15.2 (Build 1544.4)`.
    pub admin_display_version: String,
    /// AD site.
    #[serde(default)]
    pub site: Option<String>,
    /// Whether it has the Client Access role.
    pub is_client_access_server: bool,
    /// Exchange 2013 or later.
    #[serde(rename = "IsE15OrLater")]
    pub is_e15_or_later: bool,
}

/// `Get-Recipient`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recipient {
    /// Identity.
    pub identity: String,
    /// Object GUID.
    pub guid: String,
    /// Alias.
    pub alias: String,
    /// Display name.
    pub display_name: String,
    /// Primary SMTP address.
    pub primary_smtp_address: String,
    /// `UserMailbox`, ...
    pub recipient_type: String,
    /// `UserMailbox`, `SharedMailbox`, ...
    pub recipient_type_details: String,
    /// Entra object id, once synchronised.
    #[serde(default)]
    pub external_directory_object_id: Option<String>,
}

/// One entry of `Get-Command`: a cmdlet the caller's roles grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandInfo {
    /// Cmdlet name.
    pub name: String,
    /// `Function` in a remote session (implicit remoting proxies), `Cmdlet` locally.
    pub command_type: String,
}

/// A PowerShell error record as the bridge and the lab transmit it: the same property names
/// PowerShell's `ErrorRecord` has, reduced to what an admin and the client need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorRecord {
    /// The exception.
    pub exception: ExceptionInfo,
    /// `CategoryInfo`.
    pub category_info: CategoryInfo,
    /// `FullyQualifiedErrorId`; Exchange puts its error id (8 hex digits) and the task name here.
    pub fully_qualified_error_id: String,
}

/// The exception of an [`ErrorRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExceptionInfo {
    /// .NET type name, e.g. `Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException`.
    #[serde(rename = "Type")]
    pub type_name: String,
    /// Exchange's message.
    pub message: String,
}

/// `CategoryInfo` of an [`ErrorRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CategoryInfo {
    /// `ErrorCategory` name: `NotSpecified`, `ObjectNotFound`, `InvalidArgument`, `PermissionDenied`,
    /// `ResourceUnavailable`, `InvalidOperation`, `OpenError`, `ObjectNotFound`, ...
    pub category: String,
    /// Usually the cmdlet.
    #[serde(default)]
    pub activity: String,
    /// Usually the short exception type name.
    #[serde(default)]
    pub reason: String,
    /// What the cmdlet was working on.
    #[serde(default)]
    pub target_name: String,
}

impl ErrorRecord {
    /// Exchange's 8-hex-digit error id, when the fully qualified id carries one.
    pub fn exchange_error_id(&self) -> Option<&str> {
        self.fully_qualified_error_id
            .split([' ', ','])
            .find(|part| part.len() == 8 && part.chars().all(|c| c.is_ascii_hexdigit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(client_type: Option<&str>, client_version: Option<&str>) -> MobileDevice {
        let mut d: MobileDevice = serde_json::from_value(serde_json::json!({
            "Identity": "bob\\ExchangeActiveSyncDevices\\Android§X", "Guid": "g", "Name": "Android§X",
            "DeviceId": "X", "DeviceType": "Android", "DeviceAccessState": "Allowed",
            "DeviceAccessStateReason": "Global", "ClientVersion": client_version,
        }))
        .unwrap();
        d.client_type = client_type.map(str::to_string);
        d
    }

    #[test]
    fn versions_parse_as_powershell_reads_them() {
        let v = |major, minor| Some(EasProtocolVersion { major, minor });
        assert_eq!(EasProtocolVersion::parse("16.1"), v(16, 1));
        assert_eq!(EasProtocolVersion::parse(" 14.1 "), v(14, 1));
        assert_eq!(EasProtocolVersion::parse("16.1.0.0"), v(16, 1));
        for bad in [
            "",
            "16",
            "16.",
            ".1",
            "16.x",
            "16.1.0.0.0",
            "-1.0",
            "99999.1",
            "16,1",
        ] {
            assert_eq!(EasProtocolVersion::parse(bad), None, "{bad}");
        }
        assert!(EasProtocolVersion::parse("16.0") < Some(EXCHANGE_ONLINE_MINIMUM_EAS));
        assert!(EasProtocolVersion::parse("16.10") > Some(EXCHANGE_ONLINE_MINIMUM_EAS));
    }

    #[test]
    fn only_eas_clients_below_16_1_are_refused_by_exchange_online() {
        assert!(device(Some("EAS"), Some("14.1")).refused_by_exchange_online());
        assert!(device(None, Some("16.0")).refused_by_exchange_online());
        assert!(!device(Some("EAS"), Some("16.1")).refused_by_exchange_online());
        // Outlook's REST sync has its own versions; an unreadable or missing version is not flagged.
        assert!(!device(Some("Outlook"), Some("1.0")).refused_by_exchange_online());
        assert!(!device(Some("EAS"), Some("unknown")).refused_by_exchange_online());
        assert!(!device(Some("EAS"), None).refused_by_exchange_online());
        assert_eq!(device(None, Some("14.1")).eas_protocol_text(), Some("14.1"));
    }
}
