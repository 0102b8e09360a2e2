//! Intune and Entra objects with Microsoft Graph's field names and enum values (spec §3).
//!
//! Enums accept values they do not know (`unknownFutureValue` and anything newer) as `Unrecognised` rather than
//! failing a whole page of devices, which Graph's evolvable-enum contract requires of clients.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a Graph string enum with the wire names given, plus an `Other` catch-all.
macro_rules! graph_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this build does not know.
            Unrecognised(String),
        }

        impl $name {
            /// Graph's wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unrecognised(text) => text,
                }
            }

            /// Parses Graph's wire name (exact, as Graph sends it).
            pub fn parse(text: &str) -> Self {
                match text {
                    $($wire => $name::$variant,)+
                    other => $name::Unrecognised(other.to_string()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok($name::parse(&text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

graph_enum! {
    /// `complianceState` of a managed device.
    ComplianceState {
        /// Unknown.
        Unknown = "unknown",
        /// Compliant.
        Compliant = "compliant",
        /// Not compliant.
        Noncompliant = "noncompliant",
        /// Conflicting policies.
        Conflict = "conflict",
        /// Evaluation error.
        Error = "error",
        /// Not compliant but within the grace period.
        InGracePeriod = "inGracePeriod",
        /// Managed by Configuration Manager.
        ConfigManager = "configManager",
    }
}

graph_enum! {
    /// `managementAgent` of a managed device.
    ManagementAgent {
        /// EAS only.
        Eas = "eas",
        /// MDM.
        Mdm = "mdm",
        /// EAS and MDM.
        EasMdm = "easMdm",
        /// Intune PC client.
        IntuneClient = "intuneClient",
        /// EAS and Intune client.
        EasIntuneClient = "easIntuneClient",
        /// Configuration Manager.
        ConfigurationManagerClient = "configurationManagerClient",
        /// Configuration Manager and MDM.
        ConfigurationManagerClientMdm = "configurationManagerClientMdm",
        /// Configuration Manager, MDM and EAS.
        ConfigurationManagerClientMdmEas = "configurationManagerClientMdmEas",
        /// Unknown.
        Unknown = "unknown",
        /// Jamf.
        Jamf = "jamf",
        /// Google.
        GoogleCloudDevicePolicyController = "googleCloudDevicePolicyController",
    }
}

graph_enum! {
    /// `exchangeAccessState` of a managed device.
    ExchangeAccessState {
        /// None.
        None = "none",
        /// Unknown.
        Unknown = "unknown",
        /// Allowed.
        Allowed = "allowed",
        /// Blocked.
        Blocked = "blocked",
        /// Quarantined.
        Quarantined = "quarantined",
    }
}

graph_enum! {
    /// `exchangeAccessStateReason`: also the vocabulary of the connector's own decisions.
    ExchangeAccessStateReason {
        /// None.
        None = "none",
        /// Unknown.
        Unknown = "unknown",
        /// The organisation's default access level.
        ExchangeGlobalRule = "exchangeGlobalRule",
        /// A personal allow/block entry.
        ExchangeIndividualRule = "exchangeIndividualRule",
        /// A device access rule.
        ExchangeDeviceRule = "exchangeDeviceRule",
        /// Mailbox upgrade.
        ExchangeUpgrade = "exchangeUpgrade",
        /// EAS mailbox policy.
        ExchangeMailboxPolicy = "exchangeMailboxPolicy",
        /// Other.
        Other = "other",
        /// Compliant.
        Compliant = "compliant",
        /// Not compliant.
        NotCompliant = "notCompliant",
        /// Not enrolled.
        NotEnrolled = "notEnrolled",
        /// Unknown location.
        UnknownLocation = "unknownLocation",
        /// MFA required.
        MfaRequired = "mfaRequired",
        /// Entra access policy.
        AzureADBlockDueToAccessPolicy = "azureADBlockDueToAccessPolicy",
        /// Compromised password.
        CompromisedPassword = "compromisedPassword",
        /// Unknown with managed app.
        DeviceNotKnownWithManagedApp = "deviceNotKnownWithManagedApp",
    }
}

graph_enum! {
    /// `status` of a `deviceManagementExchangeConnector`.
    ExchangeConnectorStatus {
        /// No connector.
        None = "none",
        /// Pending.
        ConnectionPending = "connectionPending",
        /// Connected.
        Connected = "connected",
        /// Disconnected.
        Disconnected = "disconnected",
    }
}

graph_enum! {
    /// `exchangeConnectorType`.
    ExchangeConnectorType {
        /// On-premises Exchange.
        OnPremises = "onPremises",
        /// Hosted Exchange.
        Hosted = "hosted",
        /// Service to service.
        ServiceToService = "serviceToService",
        /// Dedicated.
        Dedicated = "dedicated",
    }
}

graph_enum! {
    /// `deviceManagementExchangeAccessLevel`.
    GraphAccessLevel {
        /// No rule configured.
        None = "none",
        /// Allow.
        Allow = "allow",
        /// Block.
        Block = "block",
        /// Quarantine.
        Quarantine = "quarantine",
    }
}

graph_enum! {
    /// `deviceManagementExchangeAccessRuleType`.
    AccessRuleType {
        /// Device family (Exchange `DeviceType`).
        Family = "family",
        /// Device model (Exchange `DeviceModel`).
        Model = "model",
    }
}

/// A `managedDevice` with the properties the connector reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDevice {
    /// Intune device id.
    pub id: String,
    /// Entra user id of the primary user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Device name.
    #[serde(default)]
    pub device_name: Option<String>,
    /// UPN of the primary user.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Mail address(es) of the user.
    #[serde(default)]
    pub email_address: Option<String>,
    /// `iOS`, `Android`, `Windows`, ...
    #[serde(default)]
    pub operating_system: Option<String>,
    /// OS version.
    #[serde(default)]
    pub os_version: Option<String>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
    /// Manufacturer.
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// How the device is managed.
    #[serde(default)]
    pub management_agent: Option<ManagementAgent>,
    /// Compliance.
    #[serde(default)]
    pub compliance_state: Option<ComplianceState>,
    /// Whether EAS is activated.
    #[serde(default)]
    pub eas_activated: Option<bool>,
    /// When EAS was activated.
    #[serde(default)]
    pub eas_activation_date_time: Option<DateTime<Utc>>,
    /// The EAS DeviceId: the join key to Exchange.
    #[serde(default)]
    pub eas_device_id: Option<String>,
    /// Last contact with Exchange.
    #[serde(default)]
    pub exchange_last_successful_sync_date_time: Option<DateTime<Utc>>,
    /// Intune's view of the Exchange access state.
    #[serde(default)]
    pub exchange_access_state: Option<ExchangeAccessState>,
    /// And its reason.
    #[serde(default)]
    pub exchange_access_state_reason: Option<ExchangeAccessStateReason>,
    /// Last check-in with Intune.
    #[serde(default)]
    pub last_sync_date_time: Option<DateTime<Utc>>,
    /// Enrolment time.
    #[serde(default)]
    pub enrolled_date_time: Option<DateTime<Utc>>,
    /// Entra registration.
    #[serde(default, rename = "azureADRegistered")]
    pub azure_ad_registered: Option<bool>,
    /// Entra device id.
    #[serde(default, rename = "azureADDeviceId")]
    pub azure_ad_device_id: Option<String>,
}

/// An Entra user (`users/{id}`), with the properties the connector reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// UPN.
    pub user_principal_name: String,
    /// Mail.
    #[serde(default)]
    pub mail: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Preferred language, e.g. `fr-FR`.
    #[serde(default)]
    pub preferred_language: Option<String>,
}

/// A `deviceManagementExchangeConnector` (Graph beta).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeConnector {
    /// Key.
    #[serde(default)]
    pub id: String,
    /// Last sync.
    #[serde(default)]
    pub last_sync_date_time: Option<DateTime<Utc>>,
    /// Status.
    #[serde(default)]
    pub status: Option<ExchangeConnectorStatus>,
    /// Only for service-to-service connectors.
    #[serde(default)]
    pub primary_smtp_address: Option<String>,
    /// Exchange server.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Host running the connector.
    #[serde(default)]
    pub connector_server_name: Option<String>,
    /// Type.
    #[serde(default)]
    pub exchange_connector_type: Option<ExchangeConnectorType>,
    /// Connector version.
    #[serde(default)]
    pub version: Option<String>,
    /// Alias of the Exchange server.
    #[serde(default)]
    pub exchange_alias: Option<String>,
    /// Exchange organisation.
    #[serde(default)]
    pub exchange_organization: Option<String>,
}

/// `onPremisesConditionalAccessSettings`: the retired connector's targeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessSettings {
    /// Key.
    #[serde(default)]
    pub id: String,
    /// On-premises conditional access on or off.
    pub enabled: bool,
    /// Targeted Entra groups.
    #[serde(default)]
    pub included_groups: Vec<String>,
    /// Exempt groups (exclusion wins).
    #[serde(default)]
    pub excluded_groups: Vec<String>,
    /// Override Exchange's default rule when allowing a device.
    #[serde(default)]
    pub override_default_rule: bool,
}

/// `deviceManagementExchangeDeviceClass`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphDeviceClass {
    /// Family or model name.
    pub name: String,
    /// `family` or `model`.
    #[serde(rename = "type")]
    pub kind: AccessRuleType,
}

/// `deviceManagementExchangeAccessRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphAccessRule {
    /// The class the rule applies to.
    pub device_class: GraphDeviceClass,
    /// Level.
    pub access_level: GraphAccessLevel,
}

/// `deviceManagementExchangeOnPremisesPolicy` (beta singleton).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeOnPremisesPolicy {
    /// Key.
    #[serde(default)]
    pub id: String,
    /// Base64 HTML mailed to quarantined users.
    #[serde(default)]
    pub notification_content: Option<String>,
    /// Organisation-wide default.
    #[serde(default)]
    pub default_access_level: Option<GraphAccessLevel>,
    /// Organisation-wide rules.
    #[serde(default)]
    pub access_rules: Vec<GraphAccessRule>,
    /// Classes known to Exchange.
    #[serde(default)]
    pub known_device_classes: Vec<GraphDeviceClass>,
}
