//! "Sync this user now": a one-user run against the lab reads, decides and writes only that user's
//! mailbox, records the decision, and leaves everyone else (and the watermarks) to the scheduled runs.

use crate::common::{TestLab, small_lab};
use crate::sync_engine::{rest, setup};
use exchange_connector::model::exchange::DeviceAccessState;
use exchange_connector::model::intune::ComplianceState;
use exchange_connector::policy::DesiredAccess;
use exchange_connector::store::RunKind;
use exchange_connector::sync::cli::format_report;
use exchange_connector::sync::{
    RunOptions, SyncEngine, SyncKind, SyncOutcome, WATERMARK_EXCHANGE, WATERMARK_HELD_PLAN,
};
use std::collections::BTreeMap;

/// The lab's `Set-CASMailbox` count per mailbox.
async fn mailbox_writes(lab: &TestLab) -> BTreeMap<String, u64> {
    let counters = crate::common::control_get(&lab.endpoints, "/counters").await;
    serde_json::from_value(counters["mailboxWrites"].clone()).expect("mailboxWrites is a map")
}

/// The Exchange state of a device in the lab.
fn state_of(lab: &TestLab, device_id: &str) -> DeviceAccessState {
    let org = lab.state.org();
    org.mailboxes
        .iter()
        .flat_map(|m| &m.devices)
        .find(|d| d.device.device_id == device_id)
        .map(|d| d.device.device_access_state)
        .unwrap_or_else(|| panic!("no device {device_id}"))
}

fn turn_noncompliant(lab: &TestLab, device_ids: &[&str]) {
    lab.state
        .tenant_mut()
        .managed_devices
        .iter_mut()
        .filter(|d| {
            d.eas_device_id
                .as_deref()
                .is_some_and(|id| device_ids.contains(&id))
        })
        .for_each(|d| d.compliance_state = Some(ComplianceState::Noncompliant));
}

/// A small lab converged by a confirmed full sync, with an engine whose guard allows `threshold`%.
async fn converged(threshold: f64) -> (TestLab, SyncEngine) {
    let lab = small_lab().await;
    let mut s = setup(&lab, &lab.dir.path().join("state.db"), rest(&lab), 4);
    s.settings.mass_change_threshold_percent = threshold;
    let engine = s.build().expect("engine builds");
    let mut first = engine.run(SyncKind::Full, RunOptions::default()).await;
    if first.outcome == SyncOutcome::HeldByGuard {
        first = engine
            .run(
                SyncKind::Full,
                RunOptions {
                    confirm_guard: true,
                    ..RunOptions::default()
                },
            )
            .await;
    }
    assert_eq!(
        first.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&first)
    );
    (lab, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_user_run_writes_only_that_users_mailbox_and_records_the_decision() {
    let (lab, engine) = converged(50.0).await;
    assert_eq!(
        state_of(&lab, "ALICEIPHONE0001"),
        DeviceAccessState::Allowed
    );
    assert_eq!(
        state_of(&lab, "CAROLIPHONE0003"),
        DeviceAccessState::Allowed
    );
    let exchange_mark = engine.with_store(|s| s.watermark(WATERMARK_EXCHANGE).unwrap());
    // Both Alice's and Carol's phones turn noncompliant; only Alice is synced.
    turn_noncompliant(&lab, &["ALICEIPHONE0001", "CAROLIPHONE0003"]);
    let before = mailbox_writes(&lab).await;

    let report = engine.run_user("alice").await;

    assert_eq!(
        report.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&report)
    );
    assert_eq!(report.mailboxes_seen, 1, "{}", format_report(&report));
    assert_eq!(report.devices_seen, 1, "{}", format_report(&report));
    let after = mailbox_writes(&lab).await;
    let written: Vec<&String> = after
        .iter()
        .filter(|(mailbox, n)| before.get(*mailbox) != Some(*n))
        .map(|(mailbox, _)| mailbox)
        .collect();
    assert_eq!(written, vec!["alice"], "mailboxes written: {written:?}");
    assert_eq!(
        state_of(&lab, "ALICEIPHONE0001"),
        DeviceAccessState::Blocked
    );
    assert_eq!(
        state_of(&lab, "CAROLIPHONE0003"),
        DeviceAccessState::Allowed,
        "Carol was not asked for"
    );
    let decisions = engine.with_store(|s| s.decisions_for_user("alice").unwrap());
    let alice = decisions
        .iter()
        .find(|d| d.device_id == "ALICEIPHONE0001")
        .expect("Alice's phone has a decision");
    assert_eq!(alice.decision.desired, DesiredAccess::Block);
    assert_eq!(alice.run_id.map(|r| r.0), report.run_id);
    assert!(alice.applied_at.is_some(), "the block was applied");
    // The scheduled runs still see every change: the watermark did not move.
    assert_eq!(
        engine.with_store(|s| s.watermark(WATERMARK_EXCHANGE).unwrap()),
        exchange_mark
    );
    // Recorded as a run of Alice's mailbox: it is not the organisation's last quick sync (status, and
    // the next quick sync's interval, still count from the last run over everyone).
    let (recorded, last_quick) = engine.with_store(|s| {
        (
            s.recent_runs(1).unwrap().remove(0),
            s.last_successful_run(RunKind::Quick).unwrap(),
        )
    });
    assert_eq!(Some(recorded.id.0), report.run_id);
    assert_eq!(recorded.mailbox.as_deref(), Some("alice"));
    assert!(last_quick.is_none(), "{last_quick:?}");
    // Carol's phone is left to the next run, which blocks it.
    let next = engine.run(SyncKind::Full, RunOptions::default()).await;
    assert_eq!(
        next.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&next)
    );
    assert_eq!(
        state_of(&lab, "CAROLIPHONE0003"),
        DeviceAccessState::Blocked
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_user_run_the_guard_holds_writes_nothing_and_keeps_the_held_plan_slot() {
    let (lab, engine) = converged(1.0).await;
    turn_noncompliant(&lab, &["ALICEIPHONE0001"]);
    let before = mailbox_writes(&lab).await;

    let report = engine.run_user("alice").await;

    assert_eq!(
        report.outcome,
        SyncOutcome::HeldByGuard,
        "{}",
        format_report(&report)
    );
    assert!(
        report
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("alice"),
        "{}",
        format_report(&report)
    );
    assert_eq!(mailbox_writes(&lab).await, before);
    assert_eq!(
        state_of(&lab, "ALICEIPHONE0001"),
        DeviceAccessState::Allowed
    );
    let held = engine.with_store(|s| s.watermark(WATERMARK_HELD_PLAN).unwrap());
    assert!(held.unwrap_or_default().is_empty(), "no held plan stored");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_user_run_of_an_unknown_mailbox_fails_and_writes_nothing() {
    let (lab, engine) = converged(50.0).await;
    let before = mailbox_writes(&lab).await;
    let report = engine.run_user("nobody-here").await;
    assert_eq!(
        report.outcome,
        SyncOutcome::Failed,
        "{}",
        format_report(&report)
    );
    assert_eq!(mailbox_writes(&lab).await, before);
    lab.shutdown().await;
}
