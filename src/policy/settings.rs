//! The admin's policy (spec §2.1) and who it targets.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::exchange::AccessLevel;
use crate::model::intune::{
    AccessRuleType, ConditionalAccessSettings, ExchangeOnPremisesPolicy, GraphAccessLevel,
};

/// What happens to a targeted user's device that fails the policy (not enrolled, or not compliant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnforcementAction {
    /// Put the DeviceId on the mailbox's block list: HTTP 403, no mail at all.
    Block,
    /// Quarantine: the device connects but sees no mail. Exchange has no per-device quarantine list, so
    /// this needs an organisation rule or default that quarantines; otherwise the connector blocks
    /// (see [`crate::policy::decide`]).
    Quarantine,
}

/// What a platform exception matches on: Graph's `deviceManagementExchangeAccessRuleType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlatformKind {
    /// Device family: Exchange's `DeviceType` (e.g. `iPhone`).
    Family,
    /// Device model: Exchange's `DeviceModel` (e.g. `iPhone15C2`).
    Model,
}

/// A platform exception: devices of a family or model get a fixed access level whatever their
/// enrolment or compliance (the retired connector's `accessRules`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlatformException {
    /// Family or model.
    pub kind: PlatformKind,
    /// The exact family or model text (compared without regard to case, as Exchange does).
    pub name: String,
    /// The access such devices get.
    pub access: AccessLevel,
}

impl PlatformException {
    /// Whether the exception matches a device of this family (`DeviceType`) and model (`DeviceModel`).
    pub fn matches(&self, device_type: &str, device_model: Option<&str>) -> bool {
        let value = match self.kind {
            PlatformKind::Family => device_type,
            PlatformKind::Model => device_model.unwrap_or(""),
        };
        !value.is_empty() && value.eq_ignore_ascii_case(&self.name)
    }
}

/// The connector's access policy (spec §2.1), as the admin configures it. Serialised in the
/// configuration; missing fields take the defaults of [`PolicySettings::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicySettings {
    /// Master switch. Off: the connector withdraws its own entries and decides nothing.
    pub enabled: bool,
    /// Entra group object ids whose members are targeted.
    pub included_groups: Vec<String>,
    /// Entra group object ids whose members are exempt (exclusion wins over inclusion).
    pub excluded_groups: Vec<String>,
    /// What happens to a targeted user's device that is not enrolled in Intune.
    pub unenrolled_action: EnforcementAction,
    /// What happens to a targeted user's device that Intune reports as not compliant.
    pub noncompliant_action: EnforcementAction,
    /// Platform exceptions, applied before enrolment and compliance.
    pub platform_exceptions: Vec<PlatformException>,
    /// Whether an enrolled, compliant device passes a Block or Quarantine platform exception (the retired
    /// connector's behaviour, spec §2.1: its exceptions were Exchange rules, which a compliant device's
    /// allow entry beat). Off (the default): platform exceptions apply before enrolment and compliance.
    pub compliant_beats_platform_restriction: bool,
    /// Graph's `overrideDefaultRule`. On: every device the policy allows is put on the mailbox's allow
    /// list, so it keeps syncing even if the organisation default or a rule later says Block/Quarantine.
    /// Off: an allow entry is added only when the organisation's rules and default would not already
    /// allow the device.
    pub override_default_rule: bool,
    /// Treat Intune's `inGracePeriod` as compliant.
    pub grace_counts_as_compliant: bool,
    /// The unmanaged-device access setting: the organisation's `DefaultAccessLevel`, which full sync
    /// keeps as configured here.
    pub unmanaged_default_access: AccessLevel,
    /// Mass-change guard: a plan that would block or quarantine more than this percentage of the
    /// currently allowed devices is held for the admin's confirmation.
    pub mass_change_threshold_percent: f64,
    /// Rollout mode: allow-list every device already syncing before enforcement starts, so switching the
    /// connector on blocks only new, unmanaged devices.
    pub rollout_mode: bool,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            enabled: false,
            included_groups: Vec::new(),
            excluded_groups: Vec::new(),
            unenrolled_action: EnforcementAction::Block,
            noncompliant_action: EnforcementAction::Block,
            platform_exceptions: Vec::new(),
            compliant_beats_platform_restriction: false,
            // Robust default: a compliant device keeps mail even if someone tightens the org default.
            override_default_rule: true,
            grace_counts_as_compliant: true,
            // Exchange's own default (spec §5.4).
            unmanaged_default_access: AccessLevel::Allow,
            mass_change_threshold_percent: 10.0,
            rollout_mode: false,
        }
    }
}

/// A policy the connector refuses to run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// The guard threshold is not a percentage.
    #[error(
        "mass-change threshold {0}% is not a percentage: set a value from 0 to 100 (default 10)"
    )]
    BadThreshold(f64),
    /// Enabled with nobody targeted.
    #[error(
        "the policy is enabled but targets no group: add at least one included group or disable the policy"
    )]
    NoIncludedGroups,
    /// A platform exception with an empty name.
    #[error("a platform exception has an empty {0:?} name: give the exact device family or model")]
    EmptyException(PlatformKind),
}

impl PolicySettings {
    /// Checks the settings, saying what to fix.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let t = self.mass_change_threshold_percent;
        if !(0.0..=100.0).contains(&t) || t.is_nan() {
            return Err(SettingsError::BadThreshold(t));
        }
        if self.enabled && self.included_groups.is_empty() {
            return Err(SettingsError::NoIncludedGroups);
        }
        if let Some(e) = self
            .platform_exceptions
            .iter()
            .find(|e| e.name.trim().is_empty())
        {
            return Err(SettingsError::EmptyException(e.kind));
        }
        Ok(())
    }

    /// The starting policy for an organisation migrating from the retired connector: its targeting
    /// (`conditionalAccessSettings`) and, when present, its organisation-wide rules and default
    /// (`exchangeOnPremisesPolicy`).
    ///
    /// The retired connector blocked targeted devices that were not enrolled or not compliant when the
    /// default was Allow or Block, and left them quarantined when the default was Quarantine; both
    /// actions follow that. Its access rules become platform exceptions that compliant devices pass,
    /// as they did (spec §2.1). Rules with level `none` (or unknown levels or types) are skipped.
    pub fn from_legacy(
        ca: &ConditionalAccessSettings,
        policy: Option<&ExchangeOnPremisesPolicy>,
    ) -> Self {
        let default_level = policy
            .and_then(|p| p.default_access_level.as_ref())
            .and_then(graph_level);
        let action = match default_level {
            Some(AccessLevel::Quarantine) => EnforcementAction::Quarantine,
            _ => EnforcementAction::Block,
        };
        let platform_exceptions = policy
            .map(|p| {
                p.access_rules
                    .iter()
                    .filter_map(|rule| {
                        let kind = match rule.device_class.kind {
                            AccessRuleType::Family => PlatformKind::Family,
                            AccessRuleType::Model => PlatformKind::Model,
                            AccessRuleType::Unrecognised(_) => return None,
                        };
                        Some(PlatformException {
                            kind,
                            name: rule.device_class.name.clone(),
                            access: graph_level(&rule.access_level)?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        PolicySettings {
            enabled: ca.enabled,
            included_groups: ca.included_groups.clone(),
            excluded_groups: ca.excluded_groups.clone(),
            unenrolled_action: action,
            noncompliant_action: action,
            platform_exceptions,
            compliant_beats_platform_restriction: true,
            override_default_rule: ca.override_default_rule,
            unmanaged_default_access: default_level.unwrap_or(AccessLevel::Allow),
            ..PolicySettings::default()
        }
    }

    /// The platform exception that decides a device, if any. Among several matches the strictest wins
    /// (Block, then Quarantine, then Allow), the order Exchange applies to its own rules (spec §5.1).
    pub fn platform_exception_for(
        &self,
        device_type: &str,
        device_model: Option<&str>,
    ) -> Option<&PlatformException> {
        [
            AccessLevel::Block,
            AccessLevel::Quarantine,
            AccessLevel::Allow,
        ]
        .into_iter()
        .find_map(|level| {
            self.platform_exceptions
                .iter()
                .find(|e| e.access == level && e.matches(device_type, device_model))
        })
    }

    /// The `DefaultAccessLevel` full sync should set, when Exchange's differs from the configured
    /// unmanaged-device access; `None` when it already matches.
    pub fn default_access_to_set(&self, current: AccessLevel) -> Option<AccessLevel> {
        (current != self.unmanaged_default_access).then_some(self.unmanaged_default_access)
    }
}

fn graph_level(level: &GraphAccessLevel) -> Option<AccessLevel> {
    match level {
        GraphAccessLevel::Allow => Some(AccessLevel::Allow),
        GraphAccessLevel::Block => Some(AccessLevel::Block),
        GraphAccessLevel::Quarantine => Some(AccessLevel::Quarantine),
        GraphAccessLevel::None | GraphAccessLevel::Unrecognised(_) => None,
    }
}

/// Who the policy targets, resolved by the caller from transitive group membership: the users of the
/// included groups and the users of the excluded groups. Entra object ids are compared without regard to
/// case (GUIDs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targeting {
    /// Entra user ids in at least one included group (lowercase; [`Targeting::new`] normalises).
    pub included_users: HashSet<String>,
    /// Entra user ids in at least one excluded group (lowercase; [`Targeting::new`] normalises).
    pub excluded_users: HashSet<String>,
}

impl Targeting {
    /// Builds the sets, normalising ids to lowercase.
    pub fn new(
        included: impl IntoIterator<Item = String>,
        excluded: impl IntoIterator<Item = String>,
    ) -> Self {
        Targeting {
            included_users: included
                .into_iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            excluded_users: excluded
                .into_iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a user is in scope: included and not excluded (exclusion wins).
    pub fn is_targeted(&self, user_id: &str) -> bool {
        let id = user_id.to_ascii_lowercase();
        self.included_users.contains(&id) && !self.excluded_users.contains(&id)
    }

    /// Whether a mailbox's owner is in scope, by its `ExternalDirectoryObjectId`. A mailbox without one
    /// cannot be matched to an Entra user, so it is not targeted (the connector leaves it alone).
    pub fn is_mailbox_targeted(&self, mailbox: &crate::model::exchange::CasMailbox) -> bool {
        mailbox
            .external_directory_object_id
            .as_deref()
            .is_some_and(|id| self.is_targeted(id))
    }
}
