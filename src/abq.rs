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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        characteristic: RuleCharacteristic,
        query: &str,
        level: AccessLevel,
    ) -> DeviceAccessRule {
        let name = DeviceAccessRule::name_for(query, characteristic);
        DeviceAccessRule {
            identity: name.clone(),
            name,
            guid: String::new(),
            characteristic,
            query_string: query.into(),
            access_level: level,
        }
    }

    fn input<'a>(
        allowed: &'a [String],
        blocked: &'a [String],
        rules: &'a [DeviceAccessRule],
        default: AccessLevel,
    ) -> AbqInput<'a> {
        AbqInput {
            active_sync_enabled: true,
            meets_mailbox_policy: true,
            device_id: "DEV1",
            device_type: "iPhone",
            device_model: "iPhone15C2",
            device_os: "iOS 17.4",
            user_agent: "Apple-iPhone15C2/2104.144",
            allowed_device_ids: allowed,
            blocked_device_ids: blocked,
            rules,
            default_access_level: default,
        }
    }

    #[test]
    fn each_step_of_the_order_wins_over_the_later_ones() {
        let me = vec!["dev1".to_string()];
        let none: Vec<String> = Vec::new();
        let all_rules = vec![
            rule(RuleCharacteristic::DeviceType, "iPhone", AccessLevel::Allow),
            rule(
                RuleCharacteristic::DeviceModel,
                "iPhone15C2",
                AccessLevel::Quarantine,
            ),
            rule(
                RuleCharacteristic::UserAgent,
                "Apple-iPhone15C2/2104.144",
                AccessLevel::Block,
            ),
        ];
        // Step 3: mailbox policy beats the personal allow list.
        let mut i = input(&me, &none, &all_rules, AccessLevel::Allow);
        i.meets_mailbox_policy = false;
        assert_eq!(evaluate(&i).reason, DeviceAccessStateReason::Policy);
        // EAS disabled for the mailbox.
        let mut i = input(&me, &none, &[], AccessLevel::Allow);
        i.active_sync_enabled = false;
        assert_eq!(evaluate(&i).state, DeviceAccessState::Blocked);
        // Step 4: block list beats allow list (case-insensitive DeviceId).
        let o = evaluate(&input(&me, &me, &all_rules, AccessLevel::Allow));
        assert_eq!(
            (o.state, o.reason),
            (
                DeviceAccessState::Blocked,
                DeviceAccessStateReason::Individual
            )
        );
        // Step 5: allow list beats a Block rule and a Block default.
        let o = evaluate(&input(&me, &none, &all_rules, AccessLevel::Block));
        assert_eq!(
            (o.state, o.reason),
            (
                DeviceAccessState::Allowed,
                DeviceAccessStateReason::Individual
            )
        );
        // Step 6: Block rule beats Quarantine and Allow rules, whatever their order.
        let o = evaluate(&input(&none, &none, &all_rules, AccessLevel::Allow));
        assert_eq!(o.state, DeviceAccessState::Blocked);
        assert_eq!(
            o.rule.as_deref(),
            Some("Apple-iPhone15C2/2104.144 (UserAgent)")
        );
        // Step 7: Quarantine rule beats Allow rule.
        let o = evaluate(&input(&none, &none, &all_rules[..2], AccessLevel::Allow));
        assert_eq!(
            (o.state, o.reason),
            (
                DeviceAccessState::Quarantined,
                DeviceAccessStateReason::DeviceRule
            )
        );
        // Step 8: Allow rule beats a Block default.
        let o = evaluate(&input(&none, &none, &all_rules[..1], AccessLevel::Block));
        assert_eq!(
            (o.state, o.reason),
            (
                DeviceAccessState::Allowed,
                DeviceAccessStateReason::DeviceRule
            )
        );
        // Step 9: the default.
        for (default, state) in [
            (AccessLevel::Allow, DeviceAccessState::Allowed),
            (AccessLevel::Block, DeviceAccessState::Blocked),
            (AccessLevel::Quarantine, DeviceAccessState::Quarantined),
        ] {
            let o = evaluate(&input(&none, &none, &[], default));
            assert_eq!(
                (o.state, o.reason, o.rule),
                (state, DeviceAccessStateReason::Global, None)
            );
        }
    }

    #[test]
    fn rules_match_exactly_not_by_prefix() {
        let none: Vec<String> = Vec::new();
        let rules = vec![rule(
            RuleCharacteristic::DeviceModel,
            "iPhone15",
            AccessLevel::Block,
        )];
        let o = evaluate(&input(&none, &none, &rules, AccessLevel::Allow));
        assert_eq!(o.state, DeviceAccessState::Allowed);
    }
}
