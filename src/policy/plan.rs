//! From decisions to per-mailbox list changes, the mass-change guard and the rollout plan.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::decide::{Decision, DesiredAccess, OrgAccess};
use super::lists::{ListKind, OwnedEntries};
use super::settings::PolicySettings;
use crate::abq::{AbqOutcome, list_contains};
use crate::model::exchange::{
    CasMailbox, DeviceAccessState, DeviceAccessStateReason, MobileDevice,
};

/// The changes to one mailbox's lists: one `Set-CASMailbox -ActiveSyncAllowedDeviceIDs @{Add=..;Remove=..}
/// -ActiveSyncBlockedDeviceIDs @{Add=..;Remove=..}` call. Removals only ever name entries the connector
/// owns, spelled as they are on the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxChange {
    /// The mailbox's identity (as read from `Get-CASMailbox`).
    pub mailbox: String,
    /// DeviceIds to add to the allow list (the connector then owns them).
    pub allow_add: Vec<String>,
    /// Owned DeviceIds to remove from the allow list.
    pub allow_remove: Vec<String>,
    /// DeviceIds to add to the block list (the connector then owns them).
    pub block_add: Vec<String>,
    /// Owned DeviceIds to remove from the block list.
    pub block_remove: Vec<String>,
    /// Owned entries no longer on the lists (an admin removed them): forget them, nothing to send.
    pub forget_owned: Vec<(ListKind, String)>,
}

impl MailboxChange {
    /// Whether there is nothing to send to Exchange.
    pub fn is_empty(&self) -> bool {
        self.allow_add.is_empty()
            && self.allow_remove.is_empty()
            && self.block_add.is_empty()
            && self.block_remove.is_empty()
    }

    /// Number of list entries added or removed.
    pub fn len(&self) -> usize {
        self.allow_add.len()
            + self.allow_remove.len()
            + self.block_add.len()
            + self.block_remove.len()
    }

    /// The mailbox's lists after the change: `(allowed, blocked)`.
    pub fn apply_to(&self, mailbox: &CasMailbox) -> (Vec<String>, Vec<String>) {
        let apply = |current: &[String], add: &[String], remove: &[String]| {
            let mut out: Vec<String> = current
                .iter()
                .filter(|e| !list_contains(remove, e))
                .cloned()
                .collect();
            for id in add {
                if !list_contains(&out, id) {
                    out.push(id.clone());
                }
            }
            out
        };
        (
            apply(
                &mailbox.active_sync_allowed_device_ids,
                &self.allow_add,
                &self.allow_remove,
            ),
            apply(
                &mailbox.active_sync_blocked_device_ids,
                &self.block_add,
                &self.block_remove,
            ),
        )
    }
}

/// A device of a mailbox with its decision.
#[derive(Debug, Clone, Copy)]
pub struct PlannedDevice<'a> {
    /// The partnership.
    pub device: &'a MobileDevice,
    /// Its decision.
    pub decision: &'a Decision,
}

/// Everything [`plan_mailbox`] needs about one mailbox.
#[derive(Debug, Clone)]
pub struct MailboxInput<'a> {
    /// The CAS record with the current lists.
    pub mailbox: &'a CasMailbox,
    /// The mailbox's devices with their decisions.
    pub devices: Vec<PlannedDevice<'a>>,
    /// Whether `devices` is every partnership of the mailbox. Only then are owned entries of DeviceIds
    /// with no partnership (reset or removed devices) withdrawn.
    pub devices_complete: bool,
    /// The entries the connector owns on this mailbox.
    pub owned: &'a OwnedEntries,
}

/// What a plan does to one device, by the ABQ evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEffect {
    /// Mailbox identity.
    pub mailbox: String,
    /// DeviceId.
    pub device_id: String,
    /// State Exchange reports now.
    pub before: DeviceAccessState,
    /// State after the plan is applied.
    pub after: DeviceAccessState,
    /// The ABQ step that gives `after` (what Exchange will report as `DeviceAccessStateReason`, so
    /// the inventory records it and the next run finds the device unchanged).
    pub after_reason: DeviceAccessStateReason,
}

impl DeviceEffect {
    /// Whether an allowed device would be blocked or quarantined.
    pub fn restricts(&self) -> bool {
        self.before == DeviceAccessState::Allowed && is_restricted(self.after)
    }

    /// Whether a blocked or quarantined device would be allowed.
    pub fn releases(&self) -> bool {
        is_restricted(self.before) && self.after == DeviceAccessState::Allowed
    }
}

fn is_restricted(state: DeviceAccessState) -> bool {
    matches!(
        state,
        DeviceAccessState::Blocked | DeviceAccessState::Quarantined
    )
}

/// A run's plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The non-empty per-mailbox changes (and changes that only forget stale owned entries).
    pub changes: Vec<MailboxChange>,
    /// The effect on every planned device.
    pub effects: Vec<DeviceEffect>,
}

impl Plan {
    /// Whether nothing is to be sent to Exchange.
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(MailboxChange::is_empty)
    }

    /// Devices now allowed that the plan would block or quarantine.
    pub fn restricted(&self) -> impl Iterator<Item = &DeviceEffect> {
        self.effects.iter().filter(|e| e.restricts())
    }

    /// Devices now blocked or quarantined that the plan would allow.
    pub fn released(&self) -> impl Iterator<Item = &DeviceEffect> {
        self.effects.iter().filter(|e| e.releases())
    }
}

/// What Exchange will give `device` once `change` is applied to its mailbox: runs the ABQ evaluation
/// ([`crate::abq::evaluate`]) on the planned lists. Proves a plan yields its decisions.
pub fn expected_outcome(
    org: &OrgAccess,
    mailbox: &CasMailbox,
    device: &MobileDevice,
    change: &MailboxChange,
) -> AbqOutcome {
    let (allowed, blocked) = change.apply_to(mailbox);
    org.evaluate(mailbox, device, &allowed, &blocked)
}

/// Collects list edits; resolves a DeviceId asked both added and removed in favour of access (two
/// partnerships sharing a DeviceId with different decisions: never lock out).
#[derive(Default)]
struct Edits {
    allow_add: Vec<String>,
    allow_remove: Vec<String>,
    block_add: Vec<String>,
    block_remove: Vec<String>,
}

fn push_unique(list: &mut Vec<String>, id: &str) {
    if !list_contains(list, id) {
        list.push(id.to_string());
    }
}

/// The entry as spelled on the list (removal must name it as Exchange has it).
fn on_list<'l>(list: &'l [String], id: &str) -> Option<&'l str> {
    list.iter()
        .find(|e| e.eq_ignore_ascii_case(id))
        .map(String::as_str)
}

/// The minimal change that makes one mailbox's lists produce its devices' decisions.
///
/// * Allow: off the block list (owned entry removed); on the allow list — added when
///   `override_default_rule` is on, or when the organisation's rules and default would not allow the
///   device; an existing allow entry is kept (no churn).
/// * Block: on the block list; an owned allow entry is withdrawn (it would be stale).
/// * Quarantine: on neither list (owned entries withdrawn); the organisation's rule or default
///   quarantines (guaranteed by [`super::decide`]).
/// * Untouched: nothing. Release: owned entries of the device withdrawn.
/// * Owned entries of DeviceIds with no partnership are withdrawn when `devices_complete`.
///
/// Entries the connector does not own are never removed.
pub fn plan_mailbox(
    org: &OrgAccess,
    settings: &PolicySettings,
    input: &MailboxInput<'_>,
) -> (MailboxChange, Vec<DeviceEffect>) {
    let mailbox = input.mailbox;
    let allowed = &mailbox.active_sync_allowed_device_ids;
    let blocked = &mailbox.active_sync_blocked_device_ids;
    let owned = input.owned;
    let mut edits = Edits::default();

    let withdraw = |edits: &mut Edits, list: ListKind, id: &str| {
        let (current, remove) = match list {
            ListKind::Allow => (allowed, &mut edits.allow_remove),
            ListKind::Block => (blocked, &mut edits.block_remove),
        };
        if owned.contains(list, id)
            && let Some(entry) = on_list(current, id)
        {
            push_unique(remove, entry);
        }
    };

    for planned in &input.devices {
        let device = planned.device;
        let id = device.device_id.as_str();
        match planned.decision.desired {
            DesiredAccess::Allow => {
                withdraw(&mut edits, ListKind::Block, id);
                if !list_contains(allowed, id) {
                    let by_org = org.without_entries(mailbox, device).state;
                    if settings.override_default_rule || by_org != DeviceAccessState::Allowed {
                        push_unique(&mut edits.allow_add, id);
                    }
                }
            }
            DesiredAccess::Block => {
                if !list_contains(blocked, id) {
                    push_unique(&mut edits.block_add, id);
                }
                withdraw(&mut edits, ListKind::Allow, id);
            }
            DesiredAccess::Quarantine | DesiredAccess::Release => {
                withdraw(&mut edits, ListKind::Allow, id);
                withdraw(&mut edits, ListKind::Block, id);
            }
            DesiredAccess::Untouched => {}
        }
    }

    // A reset device has a new DeviceId; the old one's entries go once its partnership is gone.
    if input.devices_complete {
        let present: HashSet<String> = input
            .devices
            .iter()
            .map(|p| p.device.device_id.to_ascii_lowercase())
            .collect();
        for list in [ListKind::Allow, ListKind::Block] {
            for id in owned.iter(list) {
                if !present.contains(id) {
                    withdraw(&mut edits, list, id);
                }
            }
        }
    }

    // Conflicts (shared DeviceIds): favour access.
    edits.block_add.retain(|id| {
        !list_contains(&edits.block_remove, id) && !list_contains(&edits.allow_add, id)
    });
    edits
        .allow_remove
        .retain(|id| !list_contains(&edits.allow_add, id));

    let mut forget_owned = Vec::new();
    for (list, current) in [(ListKind::Allow, allowed), (ListKind::Block, blocked)] {
        for id in owned.iter(list) {
            if !list_contains(current, id) {
                forget_owned.push((list, id.to_string()));
            }
        }
    }

    let change = MailboxChange {
        mailbox: mailbox.identity.clone(),
        allow_add: edits.allow_add,
        allow_remove: edits.allow_remove,
        block_add: edits.block_add,
        block_remove: edits.block_remove,
        forget_owned,
    };
    let effects = input
        .devices
        .iter()
        .map(|p| {
            let outcome = expected_outcome(org, mailbox, p.device, &change);
            DeviceEffect {
                mailbox: mailbox.identity.clone(),
                device_id: p.device.device_id.clone(),
                before: p.device.device_access_state,
                after: outcome.state,
                after_reason: outcome.reason,
            }
        })
        .collect();
    (change, effects)
}

/// Plans every mailbox; keeps the changes that send something or forget stale ownership.
pub fn plan(org: &OrgAccess, settings: &PolicySettings, mailboxes: &[MailboxInput<'_>]) -> Plan {
    let mut out = Plan::default();
    for input in mailboxes {
        let (change, effects) = plan_mailbox(org, settings, input);
        if !change.is_empty() || !change.forget_owned.is_empty() {
            out.changes.push(change);
        }
        out.effects.extend(effects);
    }
    out
}

/// A plan releasing fewer devices than this is never held for its releases: the release guard is
/// for mass releases (an empty group membership, a wrong setting), not for a few users who became
/// compliant at once.
pub const RELEASE_GUARD_MINIMUM: usize = 10;

/// Devices shown by name in a hold message, per kind of change.
const GUARD_NAMED_DEVICES: usize = 10;

/// The organisation's figures the guard measures a plan against. A quick sync plans few mailboxes, so
/// the plan's own counts would understate them; the larger of these and the plan's counts is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardBase {
    /// Devices Exchange allows now.
    pub allowed: usize,
    /// Devices Exchange blocks or quarantines now.
    pub restricted: usize,
}

impl From<usize> for GuardBase {
    /// Only the allowed devices are known (no device is restricted now, but for the plan's own).
    fn from(allowed: usize) -> Self {
        GuardBase {
            allowed,
            restricted: 0,
        }
    }
}

/// The mass-change guard's verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardVerdict {
    /// The plan may be applied.
    Proceed {
        /// Allowed devices the plan blocks or quarantines.
        restricted: usize,
        /// Devices allowed now.
        allowed: usize,
        /// Blocked or quarantined devices the plan allows.
        released: usize,
        /// Devices blocked or quarantined now.
        restricted_now: usize,
    },
    /// The plan is held until the admin confirms.
    Hold {
        /// Allowed devices the plan would block or quarantine.
        restricted: usize,
        /// Devices allowed now.
        allowed: usize,
        /// Blocked or quarantined devices the plan would allow.
        released: usize,
        /// Devices blocked or quarantined now.
        restricted_now: usize,
        /// The configured threshold.
        threshold_percent: f64,
        /// What to tell the admin: what would change, for how many and which devices.
        message: String,
    },
}

impl GuardVerdict {
    /// Whether the plan may be applied.
    pub fn may_proceed(&self) -> bool {
        matches!(self, GuardVerdict::Proceed { .. })
    }

    /// `(restricted, allowed, released, restricted_now)`, whatever the verdict.
    pub fn figures(&self) -> (usize, usize, usize, usize) {
        match self {
            GuardVerdict::Proceed {
                restricted,
                allowed,
                released,
                restricted_now,
            }
            | GuardVerdict::Hold {
                restricted,
                allowed,
                released,
                restricted_now,
                ..
            } => (*restricted, *allowed, *released, *restricted_now),
        }
    }
}

/// `count` above `threshold_percent` of `base`, without integer rounding.
fn above(count: usize, base: usize, threshold_percent: f64) -> bool {
    count > 0 && (count as f64) * 100.0 > threshold_percent * (base as f64)
}

/// The devices of `effects` as `mailbox/DeviceId`, the first few, and how many more.
fn name_devices<'a>(effects: impl Iterator<Item = &'a DeviceEffect>, count: usize) -> String {
    let mut names: Vec<String> = effects
        .take(GUARD_NAMED_DEVICES)
        .map(|e| format!("{}/{}", e.mailbox, e.device_id))
        .collect();
    if count > names.len() {
        names.push(format!("and {} more", count - names.len()));
    }
    names.join(", ")
}

/// Holds a plan that would block or quarantine more than `threshold_percent` of the devices allowed
/// now, or that would allow more than `threshold_percent` of the devices blocked or quarantined now
/// (and at least [`RELEASE_GUARD_MINIMUM`] of them): a mass release is as suspicious as a mass block
/// (an empty group membership read releases every targeted user). The message says which.
pub fn guard(plan: &Plan, now: impl Into<GuardBase>, threshold_percent: f64) -> GuardVerdict {
    let now = now.into();
    let restricted = plan.restricted().count();
    let released = plan.released().count();
    let allowed_in_plan = plan
        .effects
        .iter()
        .filter(|e| e.before == DeviceAccessState::Allowed)
        .count();
    let restricted_in_plan = plan
        .effects
        .iter()
        .filter(|e| is_restricted(e.before))
        .count();
    let allowed = now.allowed.max(allowed_in_plan);
    let restricted_now = now.restricted.max(restricted_in_plan);
    let mut reasons = Vec::new();
    if above(restricted, allowed, threshold_percent) {
        let share = restricted as f64 * 100.0 / allowed as f64;
        reasons.push(format!(
            "The plan would block or quarantine {restricted} of the {allowed} devices allowed now \
             ({share:.1}%, above the {threshold_percent}% threshold): {}.",
            name_devices(plan.restricted(), restricted)
        ));
    }
    if released >= RELEASE_GUARD_MINIMUM && above(released, restricted_now, threshold_percent) {
        let share = released as f64 * 100.0 / restricted_now as f64;
        reasons.push(format!(
            "The plan would allow {released} of the {restricted_now} devices blocked or quarantined \
             now ({share:.1}%, above the {threshold_percent}% threshold): {}. Check that the group \
             membership read is complete (an empty group releases every user).",
            name_devices(plan.released(), released)
        ));
    }
    if reasons.is_empty() {
        return GuardVerdict::Proceed {
            restricted,
            allowed,
            released,
            restricted_now,
        };
    }
    GuardVerdict::Hold {
        restricted,
        allowed,
        released,
        restricted_now,
        threshold_percent,
        message: format!(
            "{} Nothing was applied. Check that the Intune and Exchange reads are complete, then \
             confirm the run to apply it.",
            reasons.join(" ")
        ),
    }
}

/// One mailbox for [`rollout_plan`].
#[derive(Debug, Clone, Copy)]
pub struct RolloutMailbox<'a> {
    /// The CAS record.
    pub mailbox: &'a CasMailbox,
    /// Its partnerships.
    pub devices: &'a [&'a MobileDevice],
    /// Whether its user is targeted.
    pub targeted: bool,
}

/// Rollout: allow-lists (as owned entries) every device of a targeted user that Exchange reports
/// Allowed now, so enforcement then blocks only new, unmanaged devices. Devices already on a list are
/// left as they are.
pub fn rollout_plan(org: &OrgAccess, mailboxes: &[RolloutMailbox<'_>]) -> Plan {
    let mut out = Plan::default();
    for rm in mailboxes.iter().filter(|rm| rm.targeted) {
        let mailbox = rm.mailbox;
        let mut change = MailboxChange {
            mailbox: mailbox.identity.clone(),
            ..MailboxChange::default()
        };
        for device in rm
            .devices
            .iter()
            .filter(|d| d.device_access_state == DeviceAccessState::Allowed)
        {
            let id = &device.device_id;
            if !list_contains(&mailbox.active_sync_allowed_device_ids, id)
                && !list_contains(&mailbox.active_sync_blocked_device_ids, id)
            {
                push_unique(&mut change.allow_add, id);
            }
        }
        for device in rm.devices {
            let outcome = expected_outcome(org, mailbox, device, &change);
            out.effects.push(DeviceEffect {
                mailbox: mailbox.identity.clone(),
                device_id: device.device_id.clone(),
                before: device.device_access_state,
                after: outcome.state,
                after_reason: outcome.reason,
            });
        }
        if !change.is_empty() {
            out.changes.push(change);
        }
    }
    out
}
