//! The sync engine (issue 4, items 3–5 and the journal use of item 6): reads Exchange and Intune,
//! decides every device with [`crate::policy`], applies the minimal per-mailbox list changes through the
//! Exchange client's pool, and records everything in the [`crate::store`].
//!
//! | module | what |
//! |---|---|
//! | [`engine`] | [`SyncEngine`]: a run as phases (read with journal reconciliation → rollout → decide → guard → apply → record → notify), dry run |
//! | [`cli`] | the `sync` and `status` subcommands as library functions returning typed results |
//! | `memory` | hands the memory a run freed back to the operating system (glibc keeps it otherwise) |
//!
//! # Why nothing is lost or applied twice
//!
//! * **Reconciliation, not replay.** Every run computes the desired state from fresh reads and sends only
//!   the difference. A change that was already applied is simply not planned again.
//! * **Journal.** Each [`crate::policy::MailboxChange`] is journaled (committed, `synchronous=FULL`),
//!   with its origin (rollout or policy), *before* it is sent, and marked done after. A run killed in
//!   between leaves the entry open; so does a write whose answer never came (timeout, cut connection:
//!   it may have landed). The next run re-reads that mailbox and settles the entry from what Exchange
//!   actually has, with audit rows: an id the change added that is on the list is the connector's own
//!   (with the journaled origin, so a rollout entry still grandfathers its device), one that is not is
//!   forgotten, an id it removed that is gone is forgotten. Then the mailbox is planned afresh.
//! * **Idempotent writes.** Lists are edited only with `@{Add=...; Remove=...}`: adding an id that is
//!   there, or removing one that is not, changes nothing. So a change re-sent after a crash (or retried by
//!   the pool after a server died mid-call) has the effect of sending it once.
//! * **Ownership survives anything.** An entry the connector sends is recorded as its own in the same
//!   transaction that journals the change, before it is sent, and stays owned until Exchange shows it
//!   gone (a refusal Exchange states drops it at once). So neither a crash nor a lost answer can make an
//!   entry the connector made look like an Exchange admin's exemption (a permanent bypass or lockout).
//!   An owned entry is forgotten only after a removal was accepted or the entry is gone from the list.

//! # What a quick sync reads
//!
//! Partnerships changed since the Exchange watermark (`WhenChanged`/`FirstSyncTime`, a server-side
//! filter), managed devices whose `lastSyncDateTime` moved since the Intune watermark, the organisation
//! settings and rules, group membership, then only: the partnerships of Intune-changed devices
//! (`DeviceId -eq ... -or ...`), the Intune records of Exchange-changed devices (`easDeviceId eq ... or
//! ...`: a filtered read that succeeds is complete for those ids), and the CAS mailbox of each affected
//! device. A changed partnership whose state is the one the last run left (the connector's own change)
//! and whose Intune record did not change is skipped. Watermarks are taken at the start of the read minus
//! [`SyncConfig::watermark_overlap`] and move only when the run applied everything (a refused change is
//! seen again). Left to the next full sync: group membership changes, deleted Intune records
//! (unenrolment), reset devices' stale entries, an admin's list edit that changes no device's state, and
//! the organisation's `DefaultAccessLevel`.
//!
//! # Never lock out
//!
//! * A failed or partial Exchange read aborts the run before anything is written.
//! * A failed Graph read of managed devices makes the inventory [`crate::policy::InventoryCompleteness::Incomplete`]:
//!   devices without a record are left as they are, and no device Exchange allows now is moved to blocked
//!   or quarantined in that run.
//! * The mass-change guard ([`crate::policy::guard`]) holds a plan that would block or quarantine more
//!   than the threshold (default 10%) of the allowed devices, or allow more than the threshold of the
//!   blocked and quarantined ones (an empty group membership read releases everyone); the run ends
//!   [`SyncOutcome::HeldByGuard`], the held plan's summary is stored (with the devices it would change and why, at most
//!   [`HELD_PLAN_DEVICES`]), and a run with
//!   [`RunOptions::confirm_guard`] applies it — only a held plan, and only while the new plan restricts
//!   and releases no more devices than the held one; with nothing held, `--confirm` is a plain run.
//! * [`RunOptions::dry_run`] computes and returns the plan without applying it.
//! * Rollout ([`RunOptions::rollout`] or [`crate::policy::PolicySettings::rollout_mode`]) allow-lists
//!   every device of a targeted user that is allowed now before enforcement starts.

pub mod cli;
pub mod engine;
mod memory;
pub use memory::tune_allocator;

pub use cli::{StatusReport, SyncCommand, run_sync_command, status_report};
pub use engine::{SyncConfig, SyncEngine};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::exchange::ExchangeError;
use crate::intune::IntuneError;
use crate::model::exchange::DeviceAccessState;
use crate::policy::{MailboxChange, ReasonCode, SettingsError};
use crate::store::StoreError;

/// Watermark name: the Exchange side (`WhenChanged`/`FirstSyncTime` of partnerships).
pub const WATERMARK_EXCHANGE: &str = "sync.exchange_devices";
/// Watermark name: the Intune side (`lastSyncDateTime` of managed devices).
pub const WATERMARK_INTUNE: &str = "sync.intune_devices";
/// Watermark name holding the JSON [`HeldPlan`] of a run the guard stopped (empty when none).
pub const WATERMARK_HELD_PLAN: &str = "sync.held_plan";
/// Watermark name set once a rollout pass has been applied.
pub const WATERMARK_ROLLOUT_DONE: &str = "sync.rollout_done";

/// Which kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncKind {
    /// Only what changed since the watermarks.
    Quick,
    /// Everything.
    Full,
}

impl SyncKind {
    /// The phrase admins grep for in logs (`quick sync`, `full sync`).
    pub fn phrase(self) -> &'static str {
        match self {
            SyncKind::Quick => "quick sync",
            SyncKind::Full => "full sync",
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    /// Compute and return the plan; apply nothing.
    pub dry_run: bool,
    /// Apply the plan the mass-change guard held (the admin confirmed it). Without a held plan, the
    /// guard applies as in any run.
    pub confirm_guard: bool,
    /// Allow-list every allowed device of targeted users before enforcement (full runs).
    pub rollout: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncOutcome {
    /// The plan was applied (individual changes may still have failed: see the counts).
    Succeeded,
    /// The guard held the plan; nothing was applied.
    HeldByGuard,
    /// Dry run: nothing was applied.
    DryRun,
    /// The run stopped with an error before or while applying.
    Failed,
}

/// A summary of a plan, for printing and for the held plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Mailboxes with list changes.
    pub mailboxes: usize,
    /// List entries added or removed.
    pub entries: usize,
    /// Allowed devices the plan blocks or quarantines.
    pub restricted: usize,
    /// Devices allowed now (the guard's base for restrictions).
    pub allowed_now: usize,
    /// Blocked or quarantined devices the plan allows.
    #[serde(default)]
    pub released: usize,
    /// Devices blocked or quarantined now (the guard's base for releases).
    #[serde(default)]
    pub restricted_now: usize,
    /// The changes themselves (for `--dry-run` output; capped in stored summaries).
    pub changes: Vec<MailboxChange>,
}

/// The plan the guard held, as stored for `status` and `sync --confirm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldPlan {
    /// When it was held.
    pub held_at: chrono::DateTime<chrono::Utc>,
    /// Kind of the run that held it.
    pub kind: SyncKind,
    /// The guard's message.
    pub message: String,
    /// The plan's figures (changes capped at 50).
    pub summary: PlanSummary,
    /// The devices the plan would block or quarantine or release, each with its reason, so the admin
    /// sees which before confirming (capped at [`HELD_PLAN_DEVICES`]; the summary has the full counts).
    #[serde(default)]
    pub devices: Vec<HeldDevice>,
}

/// Most devices kept in a stored held plan: the status reply carries it over the control channel,
/// whose lines are limited to 1 MiB (an entry is about 250 bytes).
pub const HELD_PLAN_DEVICES: usize = 1500;

/// A device whose access the held plan would change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldDevice {
    /// Mailbox identity.
    pub mailbox: String,
    /// The mailbox owner's display name.
    #[serde(default)]
    pub user_display_name: Option<String>,
    /// DeviceId.
    pub device_id: String,
    /// The phone's model, else its type.
    pub model: String,
    /// State Exchange reports now.
    pub before: DeviceAccessState,
    /// State once the plan is applied.
    pub after: DeviceAccessState,
    /// Why (the device's decision).
    pub code: ReasonCode,
}

impl HeldDevice {
    /// Whether the plan blocks or quarantines it (rather than releasing it).
    pub fn restricts(&self) -> bool {
        self.after != DeviceAccessState::Allowed
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id in the store (`None` for runs that could not even start a record).
    pub run_id: Option<i64>,
    /// Kind actually run (a quick sync without watermarks runs as a full sync).
    pub kind: SyncKind,
    /// Outcome.
    pub outcome: SyncOutcome,
    /// Error or guard message.
    pub error: Option<String>,
    /// Warnings (e.g. the Intune read failed: nothing was restricted).
    pub warnings: Vec<String>,
    /// Exchange partnerships read.
    pub devices_seen: usize,
    /// Mailboxes planned.
    pub mailboxes_seen: usize,
    /// Decisions by desired access (`Allow`, `Block`, ...).
    pub decisions: BTreeMap<String, usize>,
    /// Mailbox changes planned (with something to send).
    pub changes_planned: usize,
    /// Mailbox changes applied.
    pub changes_applied: usize,
    /// Mailbox changes Exchange refused.
    pub changes_failed: usize,
    /// Open journal entries of an earlier, interrupted run that this run reconciled.
    pub journal_reconciled: usize,
    /// Rollout allow entries added.
    pub rollout_entries: usize,
    /// Notification mails sent to owners of newly blocked or quarantined devices.
    #[serde(default)]
    pub notifications_sent: usize,
    /// Notification mails that could not be sent (retried by the next run).
    #[serde(default)]
    pub notifications_failed: usize,
    /// Exchange calls made (attempts, as the pool counts them).
    pub exchange_calls: u64,
    /// Graph HTTP requests sent.
    pub graph_requests: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The plan (dry runs and held runs; for other runs only the figures).
    pub plan: PlanSummary,
}

impl RunReport {
    /// The counts as stored with the run.
    pub fn counts_json(&self) -> serde_json::Value {
        serde_json::json!({
            "devices_seen": self.devices_seen,
            "mailboxes_seen": self.mailboxes_seen,
            "decisions": self.decisions,
            "changes_planned": self.changes_planned,
            "changes_applied": self.changes_applied,
            "changes_failed": self.changes_failed,
            "journal_reconciled": self.journal_reconciled,
            "rollout_entries": self.rollout_entries,
            "notifications_sent": self.notifications_sent,
            "notifications_failed": self.notifications_failed,
            "exchange_calls": self.exchange_calls,
            "graph_requests": self.graph_requests,
            "duration_ms": self.duration_ms,
            "restricted": self.plan.restricted,
            "entries": self.plan.entries,
            "warnings": self.warnings,
        })
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading or writing Exchange failed.
    #[error("Exchange: {0}")]
    Exchange(#[from] ExchangeError),
    /// A Graph read the run cannot do without (group membership) failed.
    #[error("Microsoft Graph: {0}")]
    Intune(#[from] IntuneError),
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The policy settings are not usable.
    #[error("policy settings: {0}")]
    Settings(#[from] SettingsError),
    /// A background task died.
    #[error("internal error: {0}")]
    Internal(String),
    /// Testing only: the run stopped as if the process had been killed ([`SyncConfig::crash_after_sends`]).
    #[error("simulated crash after {0} changes were sent")]
    SimulatedCrash(usize),
}
