//! The per-device decision.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::lists::{ListKind, OwnedEntries};
use super::settings::{EnforcementAction, PolicySettings};
use crate::abq::{self, AbqInput, AbqOutcome, list_contains};
use crate::model::exchange::{
    AccessLevel, CasMailbox, Caseless, DeviceAccessRule, DeviceAccessState,
    DeviceAccessStateReason, MobileDevice,
};
use crate::model::intune::{
    ComplianceState, ExchangeAccessStateReason, ManagedDevice, ManagementAgent,
};

/// The organisation-wide part of Exchange's ABQ evaluation: device access rules and the default.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgAccess {
    /// `DefaultAccessLevel` of `Get-ActiveSyncOrganizationSettings`.
    pub default_access_level: AccessLevel,
    /// `Get-ActiveSyncDeviceAccessRule`.
    pub rules: Vec<DeviceAccessRule>,
}

impl OrgAccess {
    /// What Exchange gives a device with the given personal lists (spec §5.1). The mailbox policy is
    /// assumed met: the connector cannot see it and does not change it.
    pub fn evaluate(
        &self,
        mailbox: &CasMailbox,
        device: &MobileDevice,
        allowed: &[String],
        blocked: &[String],
    ) -> AbqOutcome {
        abq::evaluate(&AbqInput {
            active_sync_enabled: mailbox.active_sync_enabled,
            meets_mailbox_policy: true,
            device_id: &device.device_id,
            device_type: &device.device_type,
            device_model: device.device_model.as_deref().unwrap_or(""),
            device_os: device.device_os.as_deref().unwrap_or(""),
            user_agent: device.device_user_agent.as_deref().unwrap_or(""),
            allowed_device_ids: allowed,
            blocked_device_ids: blocked,
            rules: &self.rules,
            default_access_level: self.default_access_level,
        })
    }

    /// What the organisation's rules and default alone give the device (no personal entry for it).
    pub fn without_entries(&self, mailbox: &CasMailbox, device: &MobileDevice) -> AbqOutcome {
        self.evaluate(mailbox, device, &[], &[])
    }
}

/// Whether the Intune inventory the caller read is complete. Only a complete inventory proves that a
/// device without a record is not enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryCompleteness {
    /// Every page of `managedDevices` was read (full read), or the device's record is known current.
    Complete,
    /// The read failed, stopped part-way, or only changes were read: a missing record proves nothing.
    Incomplete,
}

/// The access the connector wants a device to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DesiredAccess {
    /// The device may sync.
    Allow,
    /// The device is refused (block list).
    Block,
    /// The device is quarantined (by the organisation's Quarantine rule or default, no personal entry).
    Quarantine,
    /// Not enough facts: keep the device's current access and the connector's entries as they are.
    Untouched,
    /// Outside the policy (user not targeted, or policy disabled): the connector withdraws its own
    /// entries for the device, if any, and leaves it to Exchange's own rules.
    Release,
}

impl DesiredAccess {
    /// A stable word (stored, printed, parsed by the table test).
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredAccess::Allow => "Allow",
            DesiredAccess::Block => "Block",
            DesiredAccess::Quarantine => "Quarantine",
            DesiredAccess::Untouched => "Untouched",
            DesiredAccess::Release => "Release",
        }
    }

    /// Parses [`DesiredAccess::as_str`], case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        [
            DesiredAccess::Allow,
            DesiredAccess::Block,
            DesiredAccess::Quarantine,
            DesiredAccess::Untouched,
            DesiredAccess::Release,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The Exchange state the plan must produce, for the decisions that fix one.
    pub fn expected_state(self) -> Option<DeviceAccessState> {
        match self {
            DesiredAccess::Allow => Some(DeviceAccessState::Allowed),
            DesiredAccess::Block => Some(DeviceAccessState::Blocked),
            DesiredAccess::Quarantine => Some(DeviceAccessState::Quarantined),
            DesiredAccess::Untouched | DesiredAccess::Release => None,
        }
    }
}

impl fmt::Display for DesiredAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision for one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What the connector wants (and, for Allow/Block/Quarantine, what the plan will produce).
    pub desired: DesiredAccess,
    /// Why, in Graph's `exchangeAccessStateReason` vocabulary (what Intune shows for the device).
    pub reason: ExchangeAccessStateReason,
    /// A sentence for admins (English: logs, the CLI, the audit trail).
    pub explanation: String,
    /// The same reason as a stable code with its parameters, which the GUI renders in the admin's
    /// language ([`ReasonCode::Unrecorded`] for decisions stored before codes existed).
    #[serde(default)]
    pub code: ReasonCode,
}

impl Decision {
    fn new(
        desired: DesiredAccess,
        reason: ExchangeAccessStateReason,
        code: ReasonCode,
        explanation: String,
    ) -> Self {
        Decision {
            desired,
            reason,
            explanation,
            code,
        }
    }
}

/// Why a device got its decision: a stable code with the parameters its sentence names. Next to
/// [`Decision::explanation`] (English), so a translated GUI never parses the English text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "camelCase")]
pub enum ReasonCode {
    /// Stored before reasons had codes: only the English explanation is known.
    #[default]
    Unrecorded,
    /// The access policy is disabled.
    PolicyDisabled,
    /// The user is not in an included group (or is in an excluded one).
    NotTargeted,
    /// ActiveSync is disabled for the mailbox.
    ActiveSyncDisabled,
    /// An Exchange admin's own block-list entry.
    AdminBlockList,
    /// An Exchange admin's own allow-list entry.
    AdminAllowList,
    /// No Intune record in a complete inventory: not enrolled.
    NotEnrolled,
    /// No Intune record, but the inventory read was incomplete.
    InventoryIncomplete,
    /// The Intune record is EAS-only (`managementAgent` eas): not enrolled.
    EasOnlyRecord {
        /// The Intune record's id.
        record: String,
    },
    /// Enrolled and compliant.
    Compliant {
        /// The Intune record's id.
        record: String,
    },
    /// In its grace period, which the policy counts as compliant.
    GraceCounted {
        /// The Intune record's id.
        record: String,
    },
    /// In its grace period, which the policy does not count as compliant.
    GraceNotCounted {
        /// The Intune record's id.
        record: String,
    },
    /// Not compliant (or in conflict or error, which count as not compliant).
    NotCompliant {
        /// The Intune record's id.
        record: String,
        /// Intune's compliance state (`noncompliant`, `conflict`, `error`).
        state: String,
    },
    /// A compliance state that proves nothing (unknown, Configuration Manager, none).
    ComplianceUnknown {
        /// The Intune record's id.
        record: String,
        /// Intune's compliance state, empty when there is none.
        state: String,
    },
    /// A platform exception of the policy.
    PlatformException {
        /// The exception's name (device type or model).
        name: String,
        /// The access it gives.
        access: String,
    },
    /// A compliant device passes a platform restriction in this policy.
    CompliantBeatsPlatform {
        /// The Intune record's id.
        record: String,
        /// The exception's name.
        name: String,
    },
    /// Allow-listed by the rollout; stays allowed until Intune reports it not compliant.
    Rollout,
    /// A Graph read of managed devices failed in this run: the device keeps its access.
    IntuneReadFailed,
    /// Quarantine asked, but the organisation's rules and default would not quarantine the device:
    /// blocked instead.
    BlockedInsteadOfQuarantine {
        /// The reason that asked for quarantine.
        because: Box<ReasonCode>,
    },
}

impl ReasonCode {
    /// A stable key per variant (the GUI catalogue's key of its sentence).
    pub fn key(&self) -> &'static str {
        match self {
            ReasonCode::Unrecorded => "reason_unrecorded",
            ReasonCode::PolicyDisabled => "reason_policy_disabled",
            ReasonCode::NotTargeted => "reason_not_targeted",
            ReasonCode::ActiveSyncDisabled => "reason_activesync_disabled",
            ReasonCode::AdminBlockList => "reason_admin_block_list",
            ReasonCode::AdminAllowList => "reason_admin_allow_list",
            ReasonCode::NotEnrolled => "reason_not_enrolled",
            ReasonCode::InventoryIncomplete => "reason_inventory_incomplete",
            ReasonCode::EasOnlyRecord { .. } => "reason_eas_only_record",
            ReasonCode::Compliant { .. } => "reason_compliant",
            ReasonCode::GraceCounted { .. } => "reason_grace_counted",
            ReasonCode::GraceNotCounted { .. } => "reason_grace_not_counted",
            ReasonCode::NotCompliant { .. } => "reason_not_compliant",
            ReasonCode::ComplianceUnknown { .. } => "reason_compliance_unknown",
            ReasonCode::PlatformException { .. } => "reason_platform_exception",
            ReasonCode::CompliantBeatsPlatform { .. } => "reason_compliant_beats_platform",
            ReasonCode::Rollout => "reason_rollout",
            ReasonCode::IntuneReadFailed => "reason_intune_read_failed",
            ReasonCode::BlockedInsteadOfQuarantine { .. } => "reason_blocked_instead_of_quarantine",
        }
    }

    /// The parameters its sentence names, as `{name}` placeholders of the catalogue.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            ReasonCode::EasOnlyRecord { record }
            | ReasonCode::Compliant { record }
            | ReasonCode::GraceCounted { record }
            | ReasonCode::GraceNotCounted { record } => vec![("record", record.clone())],
            ReasonCode::NotCompliant { record, state }
            | ReasonCode::ComplianceUnknown { record, state } => {
                vec![("record", record.clone()), ("state", state.clone())]
            }
            ReasonCode::PlatformException { name, access } => {
                vec![("name", name.clone()), ("access", access.clone())]
            }
            ReasonCode::CompliantBeatsPlatform { record, name } => {
                vec![("record", record.clone()), ("name", name.clone())]
            }
            _ => Vec::new(),
        }
    }

    /// The key of every variant, for the catalogue's completeness test.
    pub const ALL_KEYS: [&'static str; 19] = [
        "reason_unrecorded",
        "reason_policy_disabled",
        "reason_not_targeted",
        "reason_activesync_disabled",
        "reason_admin_block_list",
        "reason_admin_allow_list",
        "reason_not_enrolled",
        "reason_inventory_incomplete",
        "reason_eas_only_record",
        "reason_compliant",
        "reason_grace_counted",
        "reason_grace_not_counted",
        "reason_not_compliant",
        "reason_compliance_unknown",
        "reason_platform_exception",
        "reason_compliant_beats_platform",
        "reason_rollout",
        "reason_intune_read_failed",
        "reason_blocked_instead_of_quarantine",
    ];
}

/// The facts about one device.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The Exchange partnership.
    pub device: &'a MobileDevice,
    /// The mailbox's CAS record with its personal allow/block lists.
    pub mailbox: &'a CasMailbox,
    /// Whether the mailbox's user is in scope ([`super::Targeting`]).
    pub targeted: bool,
    /// The Intune record joined on `easDeviceId` = `DeviceId` ([`ManagedIndex`]), if any.
    pub managed: Option<&'a ManagedDevice>,
    /// Whether the Intune read was complete.
    pub inventory: InventoryCompleteness,
    /// The mailbox's entries the connector owns (from the store).
    pub owned: &'a OwnedEntries,
    /// Whether the connector allow-listed this device during rollout (grandfathered: stays allowed
    /// unless Intune says it is not compliant).
    pub grandfathered: bool,
    /// Whether a Graph read of managed devices failed in this run (any of them, not only this
    /// device's): then no device Exchange allows now is blocked or quarantined, whatever its record says.
    pub intune_read_failed: bool,
}

/// Intune records by `easDeviceId`, compared without regard to case as Exchange compares DeviceIds.
#[derive(Debug, Clone, Default)]
pub struct ManagedIndex<'a> {
    by_eas_id: HashMap<Caseless<'a>, &'a ManagedDevice>,
}

impl<'a> ManagedIndex<'a> {
    /// Indexes records that have an `easDeviceId`. When several records share one (stale records after
    /// re-enrolment), the one that checked in with Intune last wins.
    pub fn new(devices: impl IntoIterator<Item = &'a ManagedDevice>) -> Self {
        let mut by_eas_id: HashMap<Caseless<'a>, &'a ManagedDevice> = HashMap::new();
        for device in devices {
            let Some(id) = device.eas_device_id.as_deref().filter(|id| !id.is_empty()) else {
                continue;
            };
            let key = Caseless(id);
            match by_eas_id.get(&key) {
                Some(existing) if existing.last_sync_date_time >= device.last_sync_date_time => {}
                _ => {
                    by_eas_id.insert(key, device);
                }
            }
        }
        ManagedIndex { by_eas_id }
    }

    /// The record for an Exchange DeviceId.
    pub fn get(&self, device_id: &str) -> Option<&'a ManagedDevice> {
        self.by_eas_id.get(&Caseless(device_id)).copied()
    }

    /// Number of indexed records.
    pub fn len(&self) -> usize {
        self.by_eas_id.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_eas_id.is_empty()
    }
}

/// Decides one device (see `docs/policy-decisions.md` for the table of cases). Order:
///
/// 1. policy disabled or user not targeted → [`DesiredAccess::Release`];
/// 2. EAS disabled on the mailbox → Untouched (Exchange refuses every device anyway);
/// 3. an Exchange admin's own entry (not owned by the connector) wins: block list → Block, allow list →
///    Allow, both with reason `exchangeIndividualRule` (ABQ: block list before allow list);
/// 4. platform exceptions (`exchangeDeviceRule`), unless the device is compliant and
///    `compliant_beats_platform_restriction` is on (Block/Quarantine exceptions only);
/// 5. Intune: compliant (or in grace, when grace counts) → Allow; noncompliant/conflict/error →
///    the not-compliant action; an EAS-only record (`managementAgent` = `eas`) → not enrolled; unknown
///    or Configuration Manager compliance → Untouched;
/// 6. no Intune record: complete inventory → the not-enrolled action; incomplete → Untouched
///    (never lock out: blocking needs a positive fact);
/// 7. rollout: a grandfathered device that is not reported non-compliant stays allowed;
/// 8. a Graph read of managed devices failed in this run: a device Exchange allows now that would be
///    blocked or quarantined is Untouched instead (never lock out on a partial picture).
///
/// A Quarantine the organisation's rules and default cannot produce for this device (Exchange has no
/// per-device quarantine list) becomes Block, and the explanation says so.
pub fn decide(settings: &PolicySettings, org: &OrgAccess, input: &DecisionInput<'_>) -> Decision {
    let decision = decide_from_facts(settings, org, input);
    let restricts = matches!(
        decision.desired,
        DesiredAccess::Block | DesiredAccess::Quarantine
    );
    if input.intune_read_failed
        && restricts
        && input.device.device_access_state == DeviceAccessState::Allowed
    {
        return Decision::new(
            DesiredAccess::Untouched,
            ExchangeAccessStateReason::Unknown,
            ReasonCode::IntuneReadFailed,
            format!(
                "The Intune inventory could not be read completely: the device keeps its access until \
                 a complete read decides it (with a complete read: {} — {})",
                decision.desired, decision.explanation
            ),
        );
    }
    decision
}

/// Steps 1–7 of [`decide`].
fn decide_from_facts(
    settings: &PolicySettings,
    org: &OrgAccess,
    input: &DecisionInput<'_>,
) -> Decision {
    use ExchangeAccessStateReason as R;
    let device = input.device;
    let id = device.device_id.as_str();
    if !settings.enabled {
        return Decision::new(
            DesiredAccess::Release,
            R::None,
            ReasonCode::PolicyDisabled,
            "The access policy is disabled: the connector leaves the device to Exchange's own rules."
                .into(),
        );
    }
    if !input.targeted {
        return Decision::new(
            DesiredAccess::Release,
            R::None,
            ReasonCode::NotTargeted,
            "The user is not in an included group (or is in an excluded group): the connector leaves \
             the device to Exchange's own rules."
                .into(),
        );
    }
    if !input.mailbox.active_sync_enabled {
        return Decision::new(
            DesiredAccess::Untouched,
            R::ExchangeMailboxPolicy,
            ReasonCode::ActiveSyncDisabled,
            "ActiveSync is disabled for the mailbox: Exchange refuses every device whatever the lists \
             say, so the connector changes nothing."
                .into(),
        );
    }

    let policy = policy_verdict(settings, org, input);

    // An Exchange admin's own entries are exemptions the connector never overrides (ABQ order: the
    // block list is consulted before the allow list).
    let mailbox = input.mailbox;
    let admin_block = list_contains(&mailbox.active_sync_blocked_device_ids, id)
        && !input.owned.contains(ListKind::Block, id);
    let admin_allow = list_contains(&mailbox.active_sync_allowed_device_ids, id)
        && !input.owned.contains(ListKind::Allow, id);
    if admin_block {
        return Decision::new(
            DesiredAccess::Block,
            R::ExchangeIndividualRule,
            ReasonCode::AdminBlockList,
            format!(
                "An Exchange admin put {id} on the mailbox's block list; the connector cannot allow it \
                 and does not remove an entry it did not make (the policy alone: {} — {})",
                policy.desired, policy.explanation
            ),
        );
    }
    if admin_allow {
        return Decision::new(
            DesiredAccess::Allow,
            R::ExchangeIndividualRule,
            ReasonCode::AdminAllowList,
            format!(
                "An Exchange admin put {id} on the mailbox's allow list; the connector respects that \
                 exemption (the policy alone: {} — {})",
                policy.desired, policy.explanation
            ),
        );
    }
    policy
}

/// Steps 4–7 of [`decide`]: what the policy says, ignoring admin entries.
fn policy_verdict(
    settings: &PolicySettings,
    org: &OrgAccess,
    input: &DecisionInput<'_>,
) -> Decision {
    use ExchangeAccessStateReason as R;
    let verdict = match input.managed {
        Some(record) => from_record(settings, org, input, record),
        None => match input.inventory {
            InventoryCompleteness::Complete => express(
                settings.unenrolled_action,
                R::NotEnrolled,
                ReasonCode::NotEnrolled,
                "No Intune record has this EAS DeviceId in a complete inventory: not enrolled".into(),
                org,
                input,
            ),
            InventoryCompleteness::Incomplete => Decision::new(
                DesiredAccess::Untouched,
                R::Unknown,
                ReasonCode::InventoryIncomplete,
                "No Intune record found, but the Intune inventory read was incomplete: keeping the \
                 current access (blocking needs a positive fact)"
                    .into(),
            ),
        },
    };

    let device = input.device;
    if let Some(exception) =
        settings.platform_exception_for(&device.device_type, device.device_model.as_deref())
    {
        let what = format!(
            "Platform exception {:?} '{}' → {}",
            exception.kind, exception.name, exception.access
        );
        // The retired connector's exceptions were Exchange rules, which a compliant device's allow
        // entry beat (spec §2.1); migrated policies keep that.
        let compliant = verdict.desired == DesiredAccess::Allow && verdict.reason == R::Compliant;
        if exception.access != AccessLevel::Allow
            && settings.compliant_beats_platform_restriction
            && compliant
        {
            return Decision::new(
                DesiredAccess::Allow,
                R::Compliant,
                ReasonCode::CompliantBeatsPlatform {
                    record: match &verdict.code {
                        ReasonCode::Compliant { record } | ReasonCode::GraceCounted { record } => {
                            record.clone()
                        }
                        _ => String::new(),
                    },
                    name: exception.name.clone(),
                },
                format!(
                    "{} — overrides the platform exception ({what}): compliant devices pass platform \
                     restrictions in this policy",
                    verdict.explanation
                ),
            );
        }
        let code = ReasonCode::PlatformException {
            name: exception.name.clone(),
            access: exception.access.to_string(),
        };
        return match exception.access {
            AccessLevel::Allow => {
                Decision::new(DesiredAccess::Allow, R::ExchangeDeviceRule, code, what)
            }
            AccessLevel::Block => {
                Decision::new(DesiredAccess::Block, R::ExchangeDeviceRule, code, what)
            }
            AccessLevel::Quarantine => express(
                EnforcementAction::Quarantine,
                R::ExchangeDeviceRule,
                code,
                what,
                org,
                input,
            ),
        };
    }

    // Rollout: a device that was already syncing stays allowed until Intune says it is not compliant.
    let positive_noncompliance = verdict.reason == R::NotCompliant;
    if input.grandfathered && verdict.desired != DesiredAccess::Allow && !positive_noncompliance {
        return Decision::new(
            DesiredAccess::Allow,
            R::ExchangeIndividualRule,
            ReasonCode::Rollout,
            format!(
                "Allow-listed by the rollout (it was syncing before enforcement); it stays allowed \
                 until Intune reports it not compliant (without rollout: {} — {})",
                verdict.desired, verdict.explanation
            ),
        );
    }
    verdict
}

fn from_record(
    settings: &PolicySettings,
    org: &OrgAccess,
    input: &DecisionInput<'_>,
    record: &ManagedDevice,
) -> Decision {
    use ExchangeAccessStateReason as R;
    // An EAS-only record is Exchange's report of the partnership, not an enrolment.
    if record.management_agent == Some(ManagementAgent::Eas) {
        return express(
            settings.unenrolled_action,
            R::NotEnrolled,
            ReasonCode::EasOnlyRecord {
                record: record.id.clone(),
            },
            format!(
                "Intune record {} is EAS-only (managementAgent eas): not enrolled",
                record.id
            ),
            org,
            input,
        );
    }
    let noncompliant = |state: &str, what: &str| {
        express(
            settings.noncompliant_action,
            R::NotCompliant,
            ReasonCode::NotCompliant {
                record: record.id.clone(),
                state: state.to_string(),
            },
            format!("Intune record {} is {what}", record.id),
            org,
            input,
        )
    };
    match &record.compliance_state {
        Some(ComplianceState::Compliant) => Decision::new(
            DesiredAccess::Allow,
            R::Compliant,
            ReasonCode::Compliant {
                record: record.id.clone(),
            },
            format!("Intune record {} is enrolled and compliant", record.id),
        ),
        Some(ComplianceState::InGracePeriod) if settings.grace_counts_as_compliant => {
            Decision::new(
                DesiredAccess::Allow,
                R::Compliant,
                ReasonCode::GraceCounted {
                    record: record.id.clone(),
                },
                format!(
                    "Intune record {} is in its compliance grace period, which the policy counts as compliant",
                    record.id
                ),
            )
        }
        Some(ComplianceState::InGracePeriod) => express(
            settings.noncompliant_action,
            R::NotCompliant,
            ReasonCode::GraceNotCounted {
                record: record.id.clone(),
            },
            format!(
                "Intune record {} is in its grace period, which the policy does not count as compliant",
                record.id
            ),
            org,
            input,
        ),
        // Intune's conditional access treats conflict and error as not compliant.
        Some(ComplianceState::Noncompliant) => noncompliant("noncompliant", "not compliant"),
        Some(ComplianceState::Conflict) => {
            noncompliant("conflict", "in conflict (treated as not compliant)")
        }
        Some(ComplianceState::Error) => {
            noncompliant("error", "in error (treated as not compliant)")
        }
        Some(
            state @ (ComplianceState::Unknown
            | ComplianceState::ConfigManager
            | ComplianceState::Unrecognised(_)),
        ) => Decision::new(
            DesiredAccess::Untouched,
            R::Unknown,
            ReasonCode::ComplianceUnknown {
                record: record.id.clone(),
                state: state.to_string(),
            },
            format!(
                "Intune record {} has compliance '{state}', which proves nothing: keeping the current access",
                record.id
            ),
        ),
        None => Decision::new(
            DesiredAccess::Untouched,
            R::Unknown,
            ReasonCode::ComplianceUnknown {
                record: record.id.clone(),
                state: String::new(),
            },
            format!(
                "Intune record {} has no compliance state: keeping the current access",
                record.id
            ),
        ),
    }
}

/// Turns an enforcement action into something Exchange can express for this device. Block always can
/// (block list). Quarantine only through the organisation's rules or default with no personal entry; when
/// those would not quarantine this device, the connector blocks instead and says so.
fn express(
    action: EnforcementAction,
    reason: ExchangeAccessStateReason,
    code: ReasonCode,
    why: String,
    org: &OrgAccess,
    input: &DecisionInput<'_>,
) -> Decision {
    match action {
        EnforcementAction::Block => {
            Decision::new(DesiredAccess::Block, reason, code, format!("{why} → Block"))
        }
        EnforcementAction::Quarantine => {
            let outcome = org.without_entries(input.mailbox, input.device);
            if outcome.state == DeviceAccessState::Quarantined {
                Decision::new(
                    DesiredAccess::Quarantine,
                    reason,
                    code,
                    format!("{why} → Quarantine ({})", describe(&outcome)),
                )
            } else {
                Decision::new(
                    DesiredAccess::Block,
                    reason,
                    ReasonCode::BlockedInsteadOfQuarantine {
                        because: Box::new(code),
                    },
                    format!(
                        "{why} → Quarantine asked, but Exchange has no per-device quarantine list and \
                         the organisation's rules and default give {} ({}); blocking instead. Set the \
                         unmanaged-device access (DefaultAccessLevel) to Quarantine to quarantine",
                        outcome.state,
                        describe(&outcome)
                    ),
                )
            }
        }
    }
}

fn describe(outcome: &AbqOutcome) -> String {
    match (&outcome.reason, &outcome.rule) {
        (DeviceAccessStateReason::DeviceRule, Some(rule)) => format!("device access rule '{rule}'"),
        (DeviceAccessStateReason::Global, _) => "organisation default".into(),
        (reason, _) => reason.to_string(),
    }
}
