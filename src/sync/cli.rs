//! The `sync` and `status` subcommands as library functions: the binary parses arguments, builds a
//! [`SyncSetup`] (from the configuration and the secret store), and prints what these return.
//!
//! This module never imports the lab: tests and benchmarks fill a [`SyncSetup`] from the lab's
//! endpoints file themselves.
//!
//! The production set-up is `crate::service::setup::sync_setup` (configuration + secret store);
//! [`SyncSetup`] builds its clients in `crate::connection`.
//! Wiring in `src/bin/service.rs` (clap; `anyhow` there only):
//!
//! ```text
//! Sync { #[arg(long, conflicts_with = "quick")] full: bool, #[arg(long)] quick: bool,
//!        #[arg(long)] dry_run: bool, #[arg(long)] confirm: bool, #[arg(long)] rollout: bool,
//!        #[arg(long)] json: bool }
//! Status { #[arg(long)] json: bool }
//!
//! sync:   let engine = setup::sync_setup(&config, secrets, instance, &config_dir, policy)?.build()?;
//!         let kind = if quick { SyncKind::Quick } else { SyncKind::Full };
//!         let report = run_sync_command(&engine, SyncCommand { kind,
//!             options: RunOptions { dry_run, confirm_guard: confirm, rollout } }).await;
//!         print!("{}", if json { serde_json::to_string_pretty(&report)? } else { format_report(&report) });
//!         if !exit_ok(&report) { std::process::exit(2) }
//! status: let store = Store::open(config_dir.join("state.db"))?;
//!         let status = status_report(&store)?;
//!         print!("{}", if json { serde_json::to_string_pretty(&status)? } else { status.to_text() });
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::engine::SyncEngine;
use super::{HeldPlan, RunOptions, RunReport, SyncKind, SyncOutcome, WATERMARK_HELD_PLAN};
use crate::store::{RunKind, RunOutcome, RunRecord, Store, StoreError};

/// The set-up of a run lives with the clients it builds (`crate::connection`); these names stay
/// here for callers of `sync::cli`.
pub use crate::connection::{ExchangeTransport, SetupError, SyncSetup};

/// `sync --full|--quick [--dry-run] [--confirm] [--rollout]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCommand {
    /// `--quick` or `--full`.
    pub kind: SyncKind,
    /// `--dry-run`, `--confirm`, `--rollout`.
    pub options: RunOptions,
}

/// Runs `sync` and returns the report (print it with [`format_report`], or as JSON). The binary exits
/// non-zero unless the outcome is [`SyncOutcome::Succeeded`] or [`SyncOutcome::DryRun`].
pub async fn run_sync_command(engine: &SyncEngine, command: SyncCommand) -> RunReport {
    let report = engine.run(command.kind, command.options).await;
    engine.shutdown().await;
    report
}

/// A run report as text for the console.
pub fn format_report(report: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {:?}: {} devices, {} mailboxes read in {:.1} s ({} Exchange calls, {} Graph requests)",
        report.kind.phrase(),
        report.outcome,
        report.devices_seen,
        report.mailboxes_seen,
        report.duration_ms as f64 / 1000.0,
        report.exchange_calls,
        report.graph_requests
    );
    let decisions: Vec<String> = report
        .decisions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "decisions: {}", decisions.join(", "));
    let _ = writeln!(
        out,
        "plan: {} mailboxes, {} entries, {} allowed devices restricted of {} allowed; applied {}, failed {}",
        report.plan.mailboxes,
        report.plan.entries,
        report.plan.restricted,
        report.plan.allowed_now,
        report.changes_applied,
        report.changes_failed
    );
    if report.journal_reconciled > 0 {
        let _ = writeln!(
            out,
            "reconciled {} changes left open by an interrupted run",
            report.journal_reconciled
        );
    }
    if report.rollout_entries > 0 {
        let _ = writeln!(out, "rollout: {} allow entries", report.rollout_entries);
    }
    if report.notifications_sent + report.notifications_failed > 0 {
        let _ = writeln!(
            out,
            "notification mails: {} sent, {} not sent (retried next run)",
            report.notifications_sent, report.notifications_failed
        );
    }
    for change in &report.plan.changes {
        let _ = writeln!(
            out,
            "  {}: allow +{:?} -{:?}, block +{:?} -{:?}",
            change.mailbox,
            change.allow_add,
            change.allow_remove,
            change.block_add,
            change.block_remove
        );
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if let Some(e) = &report.error {
        let _ = writeln!(out, "{e}");
    }
    out
}

/// One finished run, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub id: i64,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in seconds.
    pub duration_seconds: Option<f64>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Devices synced.
    pub devices_seen: u64,
    /// Error, if any.
    pub error: Option<String>,
}

impl From<&RunRecord> for RunSummary {
    fn from(r: &RunRecord) -> Self {
        RunSummary {
            id: r.id.0,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_seconds: r
                .ended_at
                .map(|e| (e - r.started_at).num_milliseconds() as f64 / 1000.0),
            outcome: r.outcome,
            devices_seen: r
                .counts
                .get("devices_seen")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            error: r.error.clone(),
        }
    }
}

/// `status [--json]`, and the store's part of the worker's status reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The last successful quick sync.
    pub last_quick_sync: Option<RunSummary>,
    /// The last successful full sync.
    pub last_full_sync: Option<RunSummary>,
    /// The most recent run of any kind and outcome.
    pub last_run: Option<RunSummary>,
    /// Inventoried devices by Exchange access state.
    pub devices_by_state: BTreeMap<String, u64>,
    /// Last decisions by desired access.
    pub decisions: BTreeMap<String, u64>,
    /// The plan waiting for confirmation, if any.
    pub held_plan: Option<HeldPlan>,
    /// Changes journaled but never marked done (an interrupted run; the next run settles them).
    pub open_journal_entries: usize,
    /// Exchange Online only: known devices whose EAS protocol is below 16.1, which Exchange Online
    /// refuses since 1 March 2026 (they cannot sync at all; a flag, the connector blocks nothing).
    #[serde(default)]
    pub eas_protocol_refused: usize,
}

impl StatusReport {
    /// The admin's sentence for [`StatusReport::eas_protocol_refused`], when there are any.
    pub fn eas_protocol_warning(&self) -> Option<crate::text_code::TextCode> {
        (self.eas_protocol_refused > 0).then(|| {
            crate::coded!(
                "st_eas_protocol_refused",
                "{count} device(s) cannot sync: their EAS protocol is below 16.1, which Exchange Online has refused since 1 March 2026 (flagged only, the connector does not block them; `diagnose --user` names them; update the mail app or use Outlook)",
                count = self.eas_protocol_refused
            )
        })
    }
}

/// Reads the status from the store.
pub fn status_report(store: &Store) -> Result<StatusReport, StoreError> {
    let held_plan = store
        .watermark(WATERMARK_HELD_PLAN)?
        .filter(|t| !t.is_empty())
        .and_then(|t| serde_json::from_str(&t).ok());
    Ok(StatusReport {
        last_quick_sync: store
            .last_successful_run(RunKind::Quick)?
            .as_ref()
            .map(RunSummary::from),
        last_full_sync: store
            .last_successful_run(RunKind::Full)?
            .as_ref()
            .map(RunSummary::from),
        last_run: store.recent_runs(1)?.first().map(RunSummary::from),
        devices_by_state: store.counts_by_state()?,
        decisions: store.counts_by_decision()?,
        held_plan,
        open_journal_entries: store.open_journal_entries()?.len(),
        eas_protocol_refused: store.eas_protocol_refused_count()?,
    })
}

impl StatusReport {
    /// The status as text for the console.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let run = |r: &Option<RunSummary>| match r {
            Some(r) => format!(
                "{} (run {}, {:.1} s, {}, {} devices)",
                r.started_at.to_rfc3339(),
                r.id,
                r.duration_seconds.unwrap_or(0.0),
                r.outcome.as_str(),
                r.devices_seen
            ),
            None => "never".to_string(),
        };
        let _ = writeln!(out, "last full sync:  {}", run(&self.last_full_sync));
        let _ = writeln!(out, "last quick sync: {}", run(&self.last_quick_sync));
        if let Some(r) = &self.last_run
            && r.outcome != RunOutcome::Succeeded
        {
            let _ = writeln!(
                out,
                "last run {} {}: {}",
                r.id,
                r.outcome.as_str(),
                r.error.as_deref().unwrap_or("")
            );
        }
        let states: Vec<String> = self
            .devices_by_state
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "devices: {}", states.join(", "));
        let decisions: Vec<String> = self
            .decisions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "decisions: {}", decisions.join(", "));
        if self.open_journal_entries > 0 {
            let _ = writeln!(
                out,
                "{} changes left open by an interrupted run (the next run settles them)",
                self.open_journal_entries
            );
        }
        match &self.held_plan {
            Some(h) => {
                let _ = writeln!(
                    out,
                    "HELD PLAN ({} at {}): {}",
                    h.kind.phrase(),
                    h.held_at.to_rfc3339(),
                    h.message
                );
            }
            None => {
                let _ = writeln!(out, "no plan waiting for confirmation");
            }
        }
        out
    }
}

/// Whether a report's outcome counts as success for the process exit code.
pub fn exit_ok(report: &RunReport) -> bool {
    matches!(report.outcome, SyncOutcome::Succeeded | SyncOutcome::DryRun)
}
