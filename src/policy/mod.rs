//! The access policy: which Exchange ActiveSync devices may sync mail, and which Exchange entries make
//! Exchange agree (issue 4, item 2; spec §2, §3.2–§3.4, §5).
//!
//! **Pure.** This module does no I/O and uses no tokio, reqwest or rusqlite: it knows nothing of
//! PowerShell, Graph transport, the state store or the egui GUI (a test checks the imports). Callers read Exchange and Intune, hand the facts in, and apply what comes out. That keeps every
//! decision reproducible in a unit test and documented as a table (`docs/policy-decisions.md`, every row
//! of which is a test in `tests/integration/policy_table.rs`).
//!
//! The flow, per run:
//!
//! 1. [`PolicySettings`] (the admin's policy; [`PolicySettings::from_legacy`] imports the retired
//!    connector's Graph settings) and [`Targeting`] (who is in scope, from group membership).
//! 2. [`decide`]: one [`Decision`] per device — desired access plus a Graph-style reason and an
//!    explanation for admins. Never lock out: blocking needs a positive fact.
//! 3. [`plan_mailbox`] / [`plan`]: the minimal per-mailbox [`MailboxChange`]s (allow/block list
//!    add/remove) that make Exchange's ABQ evaluation ([`crate::abq`]) produce the decisions, touching
//!    only entries the connector owns. [`expected_outcome`] proves a plan by running the ABQ evaluation.
//! 4. [`guard`]: holds a plan that would block or quarantine an unusual share of allowed devices, or
//!    allow an unusual share of blocked and quarantined ones.
//! 5. [`rollout_plan`]: allow-lists the devices already syncing before enforcement starts.

mod decide;
mod lists;
mod plan;
mod settings;

pub use decide::{
    Decision, DecisionInput, DesiredAccess, InventoryCompleteness, ManagedIndex, OrgAccess,
    ReasonCode, decide,
};
pub use lists::{ListKind, OwnedEntries};
pub use plan::{
    DeviceEffect, GuardBase, GuardVerdict, MailboxChange, MailboxInput, Plan, PlannedDevice,
    RELEASE_GUARD_MINIMUM, RolloutMailbox, expected_outcome, guard, plan, plan_mailbox,
    rollout_plan,
};
pub use settings::{
    EnforcementAction, PlatformException, PlatformKind, PolicySettings, SettingsError, Targeting,
};
