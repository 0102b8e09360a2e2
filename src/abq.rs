//! Exchange ActiveSync Allow/Block/Quarantine evaluation (spec §5.1), as Exchange 2010 SP1+ runs it for
//! every EAS request. Pure: the lab uses it to compute each device's state, and the connector's policy
//! uses it to know which entries produce the state it wants.

use crate::model::exchange::{
    AccessLevel, DeviceAccessRule, DeviceAccessState, DeviceAccessStateReason, RuleCharacteristic,
};

/// What Exchange knows about one device and its mailbox when it evaluates access.
#[derive(Debug, Clone, Copy)]
pub struct AbqInput<'a> {
    /// `ActiveSyncEnabled` of the mailbox.
    pub active_sync_enabled: bool,
    /// Whether the device meets the EAS mailbox policy's requirements.
    pub meets_mailbox_policy: bool,
    /// The device's EAS DeviceId.
    pub device_id: &'a str,
    /// Family (`DeviceType`).
    pub device_type: &'a str,
    /// Model.
    pub device_model: &'a str,
    /// OS.
    pub device_os: &'a str,
    /// User-Agent.
    pub user_agent: &'a str,
    /// `ActiveSyncAllowedDeviceIDs` of the mailbox.
    pub allowed_device_ids: &'a [String],
    /// `ActiveSyncBlockedDeviceIDs` of the mailbox.
    pub blocked_device_ids: &'a [String],
    /// The organisation's device access rules.
    pub rules: &'a [DeviceAccessRule],
    /// The organisation's `DefaultAccessLevel`.
    pub default_access_level: AccessLevel,
}

/// The result of the evaluation: what `Get-MobileDevice` then reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbqOutcome {
    /// `DeviceAccessState`.
    pub state: DeviceAccessState,
    /// `DeviceAccessStateReason`.
    pub reason: DeviceAccessStateReason,
    /// `DeviceAccessControlRule`: the name of the deciding rule, when a rule decided.
    pub rule: Option<String>,
}

/// Whether a DeviceId is on a list. Exchange compares DeviceIds without regard to case.
pub fn list_contains(list: &[String], device_id: &str) -> bool {
    list.iter()
        .any(|entry| entry.eq_ignore_ascii_case(device_id))
}

/// Whether a rule matches the device: an exact (case-insensitive) comparison of one characteristic.
pub fn rule_matches(rule: &DeviceAccessRule, input: &AbqInput<'_>) -> bool {
    let value = match rule.characteristic {
        RuleCharacteristic::DeviceType => input.device_type,
        RuleCharacteristic::DeviceModel => input.device_model,
        RuleCharacteristic::DeviceOs => input.device_os,
        RuleCharacteristic::UserAgent => input.user_agent,
        RuleCharacteristic::XmswlHeader => return false,
    };
    !value.is_empty() && value.eq_ignore_ascii_case(&rule.query_string)
}

/// Runs the ABQ order: mailbox policy, personal block list, personal allow list, Block rules,
/// Quarantine rules, Allow rules, then the organisation default.
///
/// A mailbox with EAS disabled is reported as blocked by policy: Exchange answers such a device with
/// "access restricted" before any list or rule is consulted.
pub fn evaluate(input: &AbqInput<'_>) -> AbqOutcome {
    let outcome = |state, reason, rule: Option<&DeviceAccessRule>| AbqOutcome {
        state,
        reason,
        rule: rule.map(|r| r.name.clone()),
    };
    if !input.active_sync_enabled || !input.meets_mailbox_policy {
        return outcome(
            DeviceAccessState::Blocked,
            DeviceAccessStateReason::Policy,
            None,
        );
    }
    if list_contains(input.blocked_device_ids, input.device_id) {
        return outcome(
            DeviceAccessState::Blocked,
            DeviceAccessStateReason::Individual,
            None,
        );
    }
    if list_contains(input.allowed_device_ids, input.device_id) {
        return outcome(
            DeviceAccessState::Allowed,
            DeviceAccessStateReason::Individual,
            None,
        );
    }
    for level in [
        AccessLevel::Block,
        AccessLevel::Quarantine,
        AccessLevel::Allow,
    ] {
        if let Some(rule) = input
            .rules
            .iter()
            .find(|rule| rule.access_level == level && rule_matches(rule, input))
        {
            return outcome(
                level.resulting_state(),
                DeviceAccessStateReason::DeviceRule,
                Some(rule),
            );
        }
    }
    outcome(
        input.default_access_level.resulting_state(),
        DeviceAccessStateReason::Global,
        None,
    )
}
