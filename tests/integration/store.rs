//! The state store: migrations, crash-safe journal, owned entries, watermarks, runs, decisions, audit.

use chrono::Utc;
use exchange_connector::model::exchange::{DeviceAccessState, DeviceAccessStateReason};
use exchange_connector::model::intune::ExchangeAccessStateReason;
use exchange_connector::policy::{Decision, DesiredAccess, ListKind, MailboxChange, ReasonCode};
use exchange_connector::store::{
    AuditEntry, ChangeOp, InventoryRecord, JournalResult, OwnedOrigin, RunKind, RunOutcome,
    SCHEMA_VERSION, Store, StoreError,
};
use serde_json::json;

fn change(mailbox: &str, block: &[&str]) -> MailboxChange {
    MailboxChange {
        mailbox: mailbox.into(),
        block_add: block.iter().map(|s| s.to_string()).collect(),
        ..MailboxChange::default()
    }
}

#[test]
fn migrates_an_empty_file_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    // An empty file (as an installer might create) is an empty database at version 0.
    std::fs::write(&path, b"").unwrap();
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        const { assert!(SCHEMA_VERSION >= 1) };
        store.set_watermark("exchange.whenChanged", "x").unwrap();
    }
    // WAL mode leaves its companion file while open; reopening runs no migration and keeps data.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.watermark("exchange.whenChanged").unwrap().as_deref(),
        Some("x")
    );
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
}

#[test]
fn refuses_a_database_from_a_newer_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 5)
        .unwrap();
    match Store::open(&path) {
        Err(StoreError::TooNew {
            found, supported, ..
        }) => {
            assert_eq!(found, SCHEMA_VERSION + 5);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("move the file"), "{err}");
}

#[test]
fn an_unopenable_path_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("state.db");
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn pending_journal_entries_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (pending_id, change_a) = {
        let store = Store::open(&path).unwrap();
        let run = store.begin_run(RunKind::Full).unwrap();
        let a = change("alice", &["DEV1"]);
        let b = change("bob", &["DEV2"]);
        let id_a = store
            .journal_pending(Some(run), &a, OwnedOrigin::Policy)
            .unwrap();
        let id_b = store
            .journal_pending(Some(run), &b, OwnedOrigin::Policy)
            .unwrap();
        store.journal_done(id_b, &JournalResult::Applied).unwrap();
        // The process dies here: no finish_run, no journal_done for alice, no clean close.
        std::mem::forget(store);
        (id_a, a)
    };
    let store = Store::open(&path).unwrap();
    let open = store.open_journal_entries().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, pending_id);
    assert_eq!(open[0].change, change_a);
    // The crashed run is still "running".
    let runs = store.recent_runs(5).unwrap();
    assert_eq!(runs[0].outcome, RunOutcome::Running);
    assert!(runs[0].ended_at.is_none());
    // The next run settles it.
    store
        .journal_done(pending_id, &JournalResult::Reconciled)
        .unwrap();
    assert!(store.open_journal_entries().unwrap().is_empty());
}

#[test]
fn journal_done_of_an_unknown_id_is_an_error() {
    let store = Store::open_in_memory().unwrap();
    let id = store
        .journal_pending(None, &change("a", &["X"]), OwnedOrigin::Policy)
        .unwrap();
    store
        .journal_done(id, &JournalResult::Failed("refused".into()))
        .unwrap();
    let bogus = exchange_connector::store::JournalId(id.0 + 100);
    assert!(store.journal_done(bogus, &JournalResult::Applied).is_err());
}

#[test]
fn owned_entries_are_recorded_idempotently_and_case_insensitively() {
    let store = Store::open_in_memory().unwrap();
    let run = store.begin_run(RunKind::Rollout).unwrap();
    store
        .record_owned(
            "alice",
            ListKind::Allow,
            "ABC",
            Some(run),
            OwnedOrigin::Rollout,
        )
        .unwrap();
    store
        .record_owned(
            "alice",
            ListKind::Allow,
            "abc",
            Some(run),
            OwnedOrigin::Policy,
        )
        .unwrap();
    store
        .record_owned("alice", ListKind::Block, "DEF", None, OwnedOrigin::Policy)
        .unwrap();
    store
        .record_owned("bob", ListKind::Block, "GHI", None, OwnedOrigin::Policy)
        .unwrap();
    let alice = store.owned_entries("alice").unwrap();
    assert_eq!(alice.len(), 2);
    assert_eq!(alice[0].list, ListKind::Allow);
    assert_eq!(alice[0].device_id, "ABC");
    assert_eq!(alice[0].origin, OwnedOrigin::Rollout);
    assert_eq!(alice[0].run_id, Some(run));
    let set = store.owned_set("alice").unwrap();
    assert!(set.contains(ListKind::Allow, "abc"));
    assert!(set.contains(ListKind::Block, "def"));
    assert!(!set.contains(ListKind::Block, "ghi"));
    assert_eq!(store.all_owned_entries().unwrap().len(), 3);
    assert!(store.forget_owned("alice", ListKind::Allow, "aBc").unwrap());
    assert!(!store.forget_owned("alice", ListKind::Allow, "ABC").unwrap());
    assert_eq!(store.owned_entries("alice").unwrap().len(), 1);
}

#[test]
fn watermarks_set_and_replace() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.watermark("graph.delta").unwrap(), None);
    store.set_watermark("graph.delta", "1").unwrap();
    store.set_watermark("graph.delta", "2").unwrap();
    assert_eq!(
        store.watermark("graph.delta").unwrap().as_deref(),
        Some("2")
    );
}

#[test]
fn runs_record_outcome_counts_and_last_success() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.last_successful_run(RunKind::Full).unwrap().is_none());
    let full = store.begin_run(RunKind::Full).unwrap();
    store
        .finish_run(
            full,
            RunOutcome::Succeeded,
            &json!({"devices": 10, "changes": 2}),
            None,
        )
        .unwrap();
    let quick = store.begin_run(RunKind::Quick).unwrap();
    store
        .finish_run(
            quick,
            RunOutcome::Held,
            &json!({"restricted": 5}),
            Some("guard: 5 of 10"),
        )
        .unwrap();
    let full2 = store.begin_run(RunKind::Full).unwrap();
    store
        .finish_run(full2, RunOutcome::Failed, &json!({}), Some("Graph 503"))
        .unwrap();

    let recent = store.recent_runs(2).unwrap();
    assert_eq!(
        recent.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![full2, quick]
    );
    assert_eq!(recent[1].outcome, RunOutcome::Held);
    assert_eq!(recent[1].error.as_deref(), Some("guard: 5 of 10"));
    assert_eq!(recent[1].counts["restricted"], 5);
    let last = store.last_successful_run(RunKind::Full).unwrap().unwrap();
    assert_eq!(last.id, full);
    assert_eq!(last.counts["devices"], 10);
    assert!(last.ended_at.unwrap() >= last.started_at);
    assert!(store.last_successful_run(RunKind::Quick).unwrap().is_none());
    assert!(
        store
            .finish_run(
                exchange_connector::store::RunId(999),
                RunOutcome::Succeeded,
                &json!({}),
                None
            )
            .is_err()
    );
}

#[test]
fn decisions_keep_applied_at_only_while_unchanged() {
    let store = Store::open_in_memory().unwrap();
    let block = Decision {
        desired: DesiredAccess::Block,
        reason: ExchangeAccessStateReason::NotEnrolled,
        explanation: "not enrolled".into(),
        // The code travels through the store with its parameters (`assert_eq!` below).
        code: ReasonCode::EasOnlyRecord {
            record: "md-7".into(),
        },
    };
    let now = Utc::now();
    store
        .record_decision("alice", "DEV1", &block, now, None)
        .unwrap();
    store.mark_decision_applied("alice", "DEV1", now).unwrap();
    store
        .record_decision("alice", "DEV1", &block, now, None)
        .unwrap();
    let rec = store.last_decision("alice", "dev1").unwrap().unwrap();
    assert_eq!(rec.decision, block);
    assert!(rec.applied_at.is_some(), "same decision keeps applied_at");

    let allow = Decision {
        desired: DesiredAccess::Allow,
        reason: ExchangeAccessStateReason::Compliant,
        explanation: "compliant".into(),
        code: ReasonCode::Unrecorded,
    };
    store
        .record_decision("alice", "DEV1", &allow, now, None)
        .unwrap();
    let rec = store.last_decision("alice", "DEV1").unwrap().unwrap();
    assert_eq!(rec.decision.desired, DesiredAccess::Allow);
    assert!(
        rec.applied_at.is_none(),
        "a new decision is not applied yet"
    );

    store
        .record_decision("alice", "DEV2", &block, now, None)
        .unwrap();
    store
        .record_decision("bob", "DEV1", &block, now, None)
        .unwrap();
    assert_eq!(store.decisions_for_user("alice").unwrap().len(), 2);
    assert_eq!(store.decisions_for_device("DEV1").unwrap().len(), 2);
    let counts = store.counts_by_decision().unwrap();
    assert_eq!(counts.get("Block"), Some(&2));
    assert_eq!(counts.get("Allow"), Some(&1));
}

#[test]
fn inventory_keeps_first_seen_and_counts_states() {
    let store = Store::open_in_memory().unwrap();
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let t1 = Utc::now();
    let rec = |id: &str, state, first, last| InventoryRecord {
        mailbox: "alice".into(),
        device_id: id.into(),
        device_type: "iPhone".into(),
        device_model: Some("iPhone15C2".into()),
        first_seen: first,
        last_seen: last,
        access_state: state,
        access_reason: DeviceAccessStateReason::Global,
        user_display_name: Some("Alice Émond".into()),
        device_os: Some("iOS 17.4".into()),
        // B speaks an EAS protocol Exchange Online refuses.
        client_version: Some(if id == "B" { "14.1" } else { "16.1" }.into()),
        eas_protocol_refused: id == "B",
    };
    store
        .upsert_inventory(&[
            rec("A", DeviceAccessState::Allowed, t0, t0),
            rec("B", DeviceAccessState::Blocked, t0, t0),
        ])
        .unwrap();
    store
        .upsert_inventory(&[rec("A", DeviceAccessState::Quarantined, t1, t1)])
        .unwrap();
    let inv = store.inventory_for_mailbox("alice").unwrap();
    assert_eq!(inv.len(), 2);
    assert_eq!(inv[0].first_seen, t0.trunc_subsecs_micros());
    assert_eq!(inv[0].last_seen, t1.trunc_subsecs_micros());
    assert_eq!(inv[0].access_state, DeviceAccessState::Quarantined);
    assert_eq!(inv[0].user_display_name.as_deref(), Some("Alice Émond"));
    assert_eq!(inv[0].device_os.as_deref(), Some("iOS 17.4"));
    assert_eq!(inv[1].client_version.as_deref(), Some("14.1"));
    assert!(inv[1].eas_protocol_refused && !inv[0].eas_protocol_refused);
    assert_eq!(store.eas_protocol_refused_count().unwrap(), 1);
    assert_eq!(store.inventory_count().unwrap(), 2);
    let second_page = store.inventory_page(1, 10).unwrap();
    assert_eq!(second_page.len(), 1);
    assert_eq!(second_page[0].device_id, "B");
    let counts = store.counts_by_state().unwrap();
    assert_eq!(counts.get("Quarantined"), Some(&1));
    assert_eq!(counts.get("Blocked"), Some(&1));
    assert!(store.forget_inventory("alice", "b").unwrap());
    assert_eq!(store.inventory_for_mailbox("alice").unwrap().len(), 1);
}

trait TruncMicros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl TruncMicros for chrono::DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}

#[test]
fn audit_trail_lists_newest_first() {
    let store = Store::open_in_memory().unwrap();
    let run = store.begin_run(RunKind::Quick).unwrap();
    let entry = |device: &str, error: Option<&str>| AuditEntry {
        run_id: Some(run),
        actor: "CONN01\\svc-connector".into(),
        mailbox: "alice".into(),
        list: ListKind::Block,
        op: ChangeOp::Add,
        device_id: device.into(),
        reason: "notEnrolled".into(),
        error: error.map(String::from),
    };
    store.audit(&entry("A", None)).unwrap();
    store
        .audit(&entry("B", Some("ManagementObjectNotFoundException")))
        .unwrap();
    let recent = store.recent_changes(10).unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(
        recent[0].entry,
        entry("B", Some("ManagementObjectNotFoundException"))
    );
    assert_eq!(recent[1].entry, entry("A", None));
    assert_eq!(store.recent_changes(1).unwrap().len(), 1);
}

#[test]
fn notifications_are_remembered_per_device() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.was_notified("alice", "A").unwrap().is_none());
    let at = Utc::now();
    store.notification_sent("alice", "A", at).unwrap();
    assert!(store.was_notified("alice", "a").unwrap().is_some());
    assert!(store.was_notified("bob", "A").unwrap().is_none());
}

#[test]
fn a_writer_waits_for_another_processs_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Our busy timeout is 10 s: a lock held briefly is waited for, not reported.
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    // Waits for the lock instead of failing at once.
    store.set_watermark("w", "1").unwrap();
    holder.join().unwrap();
}

#[test]
fn settling_an_applied_change_records_ownership_and_audit_together() {
    let store = Store::open_in_memory().unwrap();
    let run = store.begin_run(RunKind::Full).unwrap();
    store
        .record_owned(
            "alice",
            ListKind::Allow,
            "OLD",
            Some(run),
            OwnedOrigin::Policy,
        )
        .unwrap();
    store
        .record_owned(
            "alice",
            ListKind::Block,
            "STALE",
            Some(run),
            OwnedOrigin::Policy,
        )
        .unwrap();
    let change = MailboxChange {
        mailbox: "alice".into(),
        allow_add: vec!["NEW".into()],
        allow_remove: vec!["OLD".into()],
        block_add: vec!["BAD".into()],
        block_remove: vec![],
        forget_owned: vec![(ListKind::Block, "stale".into())],
    };
    let id = store
        .journal_pending(Some(run), &change, OwnedOrigin::Policy)
        .unwrap();
    store
        .settle_change(
            id,
            Some(run),
            "CONN01\\svc",
            &change,
            &|device| format!("why {device}"),
            None,
        )
        .unwrap();
    assert!(store.open_journal_entries().unwrap().is_empty());
    let owned = store.owned_set("alice").unwrap();
    assert!(owned.contains(ListKind::Allow, "NEW"));
    assert!(owned.contains(ListKind::Block, "BAD"));
    assert!(!owned.contains(ListKind::Allow, "OLD"));
    assert!(!owned.contains(ListKind::Block, "STALE"));
    let audit = store.recent_changes(10).unwrap();
    assert_eq!(audit.len(), 3);
    assert!(audit.iter().all(|a| a.entry.error.is_none()));
    assert!(audit.iter().any(|a| a.entry.device_id == "OLD"
        && a.entry.op == ChangeOp::Remove
        && a.entry.reason == "why OLD"));
}

#[test]
fn a_refused_change_is_audited_but_owns_nothing() {
    let store = Store::open_in_memory().unwrap();
    let change = change("alice", &["BAD"]);
    let id = store
        .journal_pending(None, &change, OwnedOrigin::Policy)
        .unwrap();
    store
        .settle_change(
            id,
            None,
            "CONN01\\svc",
            &change,
            &|_| "notCompliant".into(),
            Some("ManagementObjectNotFoundException"),
        )
        .unwrap();
    assert!(store.owned_entries("alice").unwrap().is_empty());
    let audit = store.recent_changes(10).unwrap();
    assert_eq!(
        audit[0].entry.error.as_deref(),
        Some("ManagementObjectNotFoundException")
    );
    assert!(store.open_journal_entries().unwrap().is_empty());
}

#[test]
fn a_crash_between_send_and_settle_is_reconciled_from_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let store = Store::open(&path).unwrap();
        let run = store.begin_run(RunKind::Quick).unwrap();
        store
            .record_owned(
                "alice",
                ListKind::Block,
                "UNBLOCK",
                Some(run),
                OwnedOrigin::Policy,
            )
            .unwrap();
        let change = MailboxChange {
            mailbox: "alice".into(),
            allow_add: vec!["SENT".into(), "NOT-SENT".into()],
            block_remove: vec!["UNBLOCK".into()],
            ..MailboxChange::default()
        };
        store
            .journal_pending(Some(run), &change, OwnedOrigin::Policy)
            .unwrap();
        // Sent to Exchange, then the process dies before settle_change.
        std::mem::forget(store);
    }
    let store = Store::open(&path).unwrap();
    let open = store.open_journal_entries().unwrap();
    assert_eq!(open.len(), 1);
    // What Exchange has now: SENT on the allow list (spelled differently), UNBLOCK gone.
    let allowed_now = vec!["sent".to_string(), "ADMIN".to_string()];
    let blocked_now: Vec<String> = vec![];
    let applied = store
        .reconcile_open_entry(&open[0], &allowed_now, &blocked_now, "CONN01\\svc", None)
        .unwrap();
    assert_eq!(applied, 2);
    let owned = store.owned_set("alice").unwrap();
    assert!(
        owned.contains(ListKind::Allow, "SENT"),
        "ours, not an admin's"
    );
    assert!(!owned.contains(ListKind::Allow, "NOT-SENT"));
    assert!(!owned.contains(ListKind::Allow, "ADMIN"));
    assert!(!owned.contains(ListKind::Block, "UNBLOCK"));
    assert!(store.open_journal_entries().unwrap().is_empty());
}

#[test]
fn many_decisions_are_recorded_in_one_transaction() {
    let store = Store::open_in_memory().unwrap();
    let d = Decision {
        desired: DesiredAccess::Untouched,
        reason: ExchangeAccessStateReason::Unknown,
        explanation: "incomplete".into(),
        code: ReasonCode::InventoryIncomplete,
    };
    let ids: Vec<String> = (0..500).map(|i| format!("D{i}")).collect();
    let batch: Vec<(&str, &str, &Decision)> =
        ids.iter().map(|id| ("alice", id.as_str(), &d)).collect();
    store.record_decisions(None, Utc::now(), &batch).unwrap();
    assert_eq!(store.decisions_for_user("alice").unwrap().len(), 500);
    assert_eq!(
        store.counts_by_decision().unwrap().get("Untouched"),
        Some(&500)
    );
}

/// A full sync records its decisions in bulk (compared with the stored ones, only new and changed
/// ones written); the table must end exactly as with one upsert per decision: `decided_at`, the run
/// and `applied_at` kept for the unchanged ones, each field's change seen, DeviceIds in another case.
#[test]
fn bulk_decisions_end_as_one_upsert_per_decision() {
    let t0 = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let t1 = t0 + chrono::Duration::hours(4);
    let decision = |i: usize, variant: usize| Decision {
        desired: if variant == 1 {
            DesiredAccess::Block
        } else {
            DesiredAccess::Allow
        },
        reason: if variant == 2 {
            ExchangeAccessStateReason::NotEnrolled
        } else {
            ExchangeAccessStateReason::Compliant
        },
        explanation: if variant == 3 {
            format!("changed {i}")
        } else {
            format!("device {i}")
        },
        code: match variant {
            4 => ReasonCode::EasOnlyRecord {
                record: format!("md-{i}"),
            },
            5 => ReasonCode::EasOnlyRecord {
                record: "md-other".into(),
            },
            _ => ReasonCode::Unrecorded,
        },
    };
    let keys: Vec<(String, String)> = (0..400)
        .map(|i| (format!("user{:02}", i % 37), format!("DEV{i:04}")))
        .collect();
    let first: Vec<Decision> = (0..400)
        .map(|i| decision(i, if i % 5 == 0 { 4 } else { 0 }))
        .collect();
    let second: Vec<Decision> = (0..400).map(|i| decision(i, i % 7)).collect();
    let batch = |decisions: &'_ [Decision], lower: bool| -> Vec<(String, String, Decision)> {
        keys.iter()
            .zip(decisions)
            .enumerate()
            .map(|(i, ((m, d), decision))| {
                let d = if lower && i % 11 == 0 {
                    d.to_ascii_lowercase()
                } else {
                    d.clone()
                };
                (m.clone(), d, decision.clone())
            })
            .collect()
    };
    fn as_refs(b: &[(String, String, Decision)]) -> Vec<(&str, &str, &Decision)> {
        b.iter()
            .map(|(m, d, x)| (m.as_str(), d.as_str(), x))
            .collect()
    }
    let bulk = Store::open_in_memory().unwrap();
    let one_by_one = Store::open_in_memory().unwrap();
    let run1 = Some(bulk.begin_run(RunKind::Full).unwrap());
    assert_eq!(Some(one_by_one.begin_run(RunKind::Full).unwrap()), run1);
    let b1 = batch(&first, false);
    bulk.record_decisions(run1, t0, &as_refs(&b1)).unwrap();
    one_by_one
        .record_decisions(run1, t0, &as_refs(&b1)[..100])
        .unwrap();
    one_by_one
        .record_decisions(run1, t0, &as_refs(&b1)[100..])
        .unwrap();
    for store in [&bulk, &one_by_one] {
        store
            .mark_decision_applied("user01", "DEV0001", t0)
            .unwrap();
        store
            .mark_decision_applied("user07", "DEV0007", t0)
            .unwrap();
    }
    let run2 = Some(bulk.begin_run(RunKind::Full).unwrap());
    one_by_one.begin_run(RunKind::Full).unwrap();
    let b2 = batch(&second, true);
    bulk.record_decisions(run2, t1, &as_refs(&b2)).unwrap();
    for one in as_refs(&b2) {
        one_by_one.record_decisions(run2, t1, &[one]).unwrap();
    }
    let all = |s: &Store| -> Vec<String> {
        (0..37)
            .flat_map(|u| s.decisions_for_user(&format!("user{u:02}")).unwrap())
            .map(|r| format!("{r:?}"))
            .collect()
    };
    let (a, b) = (all(&bulk), all(&one_by_one));
    assert_eq!(a.len(), 400);
    assert_eq!(a, b);
    let unchanged = bulk.last_decision("user07", "DEV0007").unwrap().unwrap();
    assert_eq!(
        (unchanged.decided_at, unchanged.run_id, unchanged.applied_at),
        (t0, run1, Some(t0)),
        "unchanged: left as it was"
    );
    let changed = bulk.last_decision("user01", "DEV0001").unwrap().unwrap();
    assert_eq!(
        (changed.decided_at, changed.run_id, changed.applied_at),
        (t1, run2, None),
        "Allow became Block"
    );
}

#[test]
fn an_entry_is_owned_from_the_moment_it_is_journaled_until_exchange_shows_it_gone() {
    let store = Store::open_in_memory().unwrap();
    let run = store.begin_run(RunKind::Full).unwrap();
    // Journaled by the rollout: owned at once, with its origin, before anything is sent.
    let grandfather = MailboxChange {
        mailbox: "alice".into(),
        allow_add: vec!["OLDPHONE".into()],
        ..MailboxChange::default()
    };
    let id = store
        .journal_pending(Some(run), &grandfather, OwnedOrigin::Rollout)
        .unwrap();
    let owned = store.owned_entries("alice").unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].origin, OwnedOrigin::Rollout);
    let open = store.open_journal_entries().unwrap();
    assert_eq!(open[0].origin, OwnedOrigin::Rollout);

    // No answer came: the change stays open and the entry stays owned.
    store
        .journal_unanswered(id, "did not answer within 30 s")
        .unwrap();
    assert_eq!(store.open_journal_entries().unwrap().len(), 1);
    assert!(
        store
            .owned_set("alice")
            .unwrap()
            .contains(ListKind::Allow, "oldphone")
    );
    // The next run finds it on the list: still the rollout's own entry, and an audit row says so.
    let open = store.open_journal_entries().unwrap();
    let found = store
        .reconcile_open_entry(
            &open[0],
            &["oldphone".to_string()],
            &[],
            "CONN01\\svc",
            Some(run),
        )
        .unwrap();
    assert_eq!(found, 1);
    let owned = store.owned_entries("alice").unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].origin, OwnedOrigin::Rollout);
    let audit = store.recent_changes(10).unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].entry.reason.contains("reconciled"), "{audit:?}");
    assert!(audit[0].entry.reason.contains("rollout"), "{audit:?}");
    assert!(audit[0].entry.error.is_none());

    // A change Exchange refused drops what it had recorded as pending, and only that.
    let refused = change("alice", &["BAD"]);
    let id = store
        .journal_pending(Some(run), &refused, OwnedOrigin::Policy)
        .unwrap();
    assert!(
        store
            .owned_set("alice")
            .unwrap()
            .contains(ListKind::Block, "BAD")
    );
    store
        .settle_change(
            id,
            Some(run),
            "CONN01\\svc",
            &refused,
            &|_| "notCompliant".into(),
            Some("refused"),
        )
        .unwrap();
    let owned = store.owned_set("alice").unwrap();
    assert!(!owned.contains(ListKind::Block, "BAD"));
    assert!(owned.contains(ListKind::Allow, "OLDPHONE"));

    // An unanswered change that did not land: forgotten once Exchange shows the entry absent,
    // with an audit row saying it was not applied.
    let lost = change("alice", &["LOST"]);
    let id = store
        .journal_pending(Some(run), &lost, OwnedOrigin::Policy)
        .unwrap();
    store.journal_unanswered(id, "connection reset").unwrap();
    let open = store.open_journal_entries().unwrap();
    let found = store
        .reconcile_open_entry(
            &open[0],
            &["OLDPHONE".to_string()],
            &[],
            "CONN01\\svc",
            None,
        )
        .unwrap();
    assert_eq!(found, 0);
    assert!(
        !store
            .owned_set("alice")
            .unwrap()
            .contains(ListKind::Block, "LOST")
    );
    let audit = store.recent_changes(1).unwrap();
    assert_eq!(audit[0].entry.device_id, "LOST");
    assert_eq!(audit[0].entry.error.as_deref(), Some("not applied"));
    assert!(store.open_journal_entries().unwrap().is_empty());
}

#[test]
fn an_entry_an_admin_removed_and_the_connector_adds_again_stays_owned() {
    let store = Store::open_in_memory().unwrap();
    store
        .record_owned("alice", ListKind::Block, "DEV", None, OwnedOrigin::Policy)
        .unwrap();
    // The admin removed the entry; the policy blocks the device again in the same change.
    let again = MailboxChange {
        mailbox: "alice".into(),
        block_add: vec!["DEV".into()],
        forget_owned: vec![(ListKind::Block, "dev".into())],
        ..MailboxChange::default()
    };
    let id = store
        .journal_pending(None, &again, OwnedOrigin::Policy)
        .unwrap();
    store
        .settle_change(id, None, "CONN01\\svc", &again, &|_| "why".into(), None)
        .unwrap();
    assert!(
        store
            .owned_set("alice")
            .unwrap()
            .contains(ListKind::Block, "DEV")
    );
}

#[test]
fn one_run_at_a_time_per_store_and_the_refusal_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let first = Store::open(&path).unwrap();
    let second = Store::open(&path).unwrap();
    let run = first.begin_run(RunKind::Full).unwrap();
    let err = second.begin_run(RunKind::Quick).unwrap_err();
    let StoreError::RunInProgress {
        holder: Some(holder),
        ..
    } = &err
    else {
        panic!("expected RunInProgress with its holder, got {err:?}");
    };
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.run_id, Some(run.0));
    assert_eq!(holder.run_kind, "full");
    let text = err.to_string();
    for part in [
        format!("process {}", std::process::id()),
        format!("on {}", holder.host),
        holder.program.clone(),
        "since ".to_string(),
        format!("(run {})", run.0),
    ] {
        assert!(text.contains(&part), "{part:?} missing from: {text}");
    }
    // The refused run recorded nothing.
    assert_eq!(second.recent_runs(5).unwrap().len(), 1);
    first
        .finish_run(run, RunOutcome::Succeeded, &json!({}), None)
        .unwrap();
    let next = second.begin_run(RunKind::Quick).unwrap();
    assert!(matches!(
        first.begin_run(RunKind::Full),
        Err(StoreError::RunInProgress { .. })
    ));
    second
        .finish_run(next, RunOutcome::Succeeded, &json!({}), None)
        .unwrap();
}

#[test]
fn a_run_that_died_does_not_block_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let crashed = Store::open(&path).unwrap();
    let stale = crashed.begin_run(RunKind::Full).unwrap();
    // The same connection starting again (a run dropped mid-way) takes its own lease over.
    let again = crashed.begin_run(RunKind::Full).unwrap();
    assert_ne!(stale, again);
    // The process dies: its connection and lock go with it (no finish_run).
    drop(crashed);
    let next = Store::open(&path).unwrap();
    let run = next.begin_run(RunKind::Quick).unwrap();
    next.finish_run(run, RunOutcome::Succeeded, &json!({}), None)
        .unwrap();
}

#[test]
fn processes_opening_an_old_database_together_migrate_it_once() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let start = std::sync::Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(&path).map(|s| s.schema_version())
                })
            })
            .collect();
        for opener in openers {
            let version = opener.join().unwrap();
            assert!(
                matches!(version, Ok(Ok(v)) if v == SCHEMA_VERSION),
                "round {round}: {version:?}"
            );
        }
    }
}

#[test]
fn discovered_client_access_servers_are_remembered_per_primary() {
    use exchange_connector::exchange::CasServer;
    use exchange_connector::exchange::failover::ServerMemory;
    use exchange_connector::store::StoreServerMemory;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let cas = |name: &str| CasServer {
        name: name.into(),
        fqdn: format!("{}.contoso.lab", name.to_lowercase()),
        connection_uri: format!("https://{}.contoso.lab/PowerShell/", name.to_lowercase()),
    };
    let primary = cas("CAS01");
    assert!(StoreServerMemory::new(std::path::Path::new(":memory:")).is_none());
    let memory = StoreServerMemory::new(&path).unwrap();
    assert!(memory.load(&primary).is_empty());
    memory.save(&primary, &[cas("CAS02"), cas("CAS03")]);
    assert_eq!(memory.load(&primary), vec![cas("CAS02"), cas("CAS03")]);
    // Another configured primary has its own list.
    assert!(memory.load(&cas("OTHER")).is_empty());
    // A later discovery replaces the list; the last use of a server that stays is kept.
    memory.in_use(&primary, &cas("CAS02"));
    memory.save(&primary, &[cas("CAS02"), cas("CAS04")]);
    let store = Store::open(&path).unwrap();
    let known = store.cas_servers(&primary.fqdn).unwrap();
    let names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["CAS02", "CAS04"]);
    assert!(known[0].last_used_at.is_some());
    assert!(known[1].last_used_at.is_none());
}

#[test]
fn a_batch_commits_its_operations_together_and_a_failed_one_alone_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let journaled = store
        .batch(|s| {
            let a = s.journal_pending(None, &change("a", &["X1"]), OwnedOrigin::Policy);
            // Fails inside the batch after writing its audit rows and owned entry (no journal entry
            // 9999): its own work is rolled back, the others' is not.
            let unknown = s.settle_change(
                exchange_connector::store::JournalId(9999),
                None,
                "HOST\\svc",
                &change("c", &["Z1"]),
                &|_| "why".to_string(),
                None,
            );
            let b = s.journal_pending(None, &change("b", &["Y1"]), OwnedOrigin::Policy);
            (a, unknown, b)
        })
        .unwrap();
    assert!(journaled.0.is_ok() && journaled.2.is_ok());
    assert!(journaled.1.is_err());
    // Committed: another connection sees both pending changes and their owned entries.
    let other = Store::open(&path).unwrap();
    let open = other.open_journal_entries().unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(other.owned_entries("a").unwrap().len(), 1);
    assert_eq!(other.owned_entries("b").unwrap().len(), 1);
    assert!(other.owned_entries("c").unwrap().is_empty());
    assert!(other.recent_changes(10).unwrap().is_empty());
    // A settle inside a batch is one nested transaction like any other.
    store
        .batch(|s| {
            s.journal_done(journaled.0.unwrap(), &JournalResult::Applied)
                .unwrap()
        })
        .unwrap();
    assert_eq!(other.open_journal_entries().unwrap().len(), 1);
}

/// A full sync records its whole inventory in bulk (only new and changed rows written, `last_seen`
/// moved in one statement); the table must end exactly as with one upsert per record: changed
/// fields (each of them), new rows, rows not seen (which keep their `last_seen`), DeviceIds in
/// another case.
#[test]
fn a_bulk_inventory_write_ends_as_one_upsert_per_record() {
    // Whole seconds: the store keeps microseconds, and the times are compared below.
    let t1 = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let t0 = t1 - chrono::Duration::hours(3);
    let rec = |i: usize, at| InventoryRecord {
        mailbox: format!("user{:03}", i % 97),
        device_id: format!("DEV{i:04}"),
        device_type: "iPhone".into(),
        device_model: Some("iPhone15C2".into()),
        first_seen: at,
        last_seen: at,
        access_state: DeviceAccessState::Allowed,
        access_reason: DeviceAccessStateReason::Global,
        user_display_name: Some(format!("User {i}")),
        device_os: None,
        client_version: Some("16.1".into()),
        eas_protocol_refused: false,
    };
    let first: Vec<InventoryRecord> = (0..400).map(|i| rec(i, t0)).collect();
    // The second run: rows 0..20 unseen, 380..420 new, and one field changed on every 9th row.
    let second: Vec<InventoryRecord> = (20..420)
        .map(|i| {
            let mut r = rec(i, t1);
            match i % 9 {
                0 => r.device_model = None,
                1 => r.access_state = DeviceAccessState::Blocked,
                2 => r.access_reason = DeviceAccessStateReason::Individual,
                3 => r.user_display_name = Some("Renamed".into()),
                4 => r.device_os = Some("iOS 18".into()),
                5 => r.client_version = None,
                6 => r.eas_protocol_refused = true,
                7 => r.device_id = r.device_id.to_ascii_lowercase(),
                _ => r.device_type = "iPad".into(),
            }
            r
        })
        .collect();
    let bulk = Store::open_in_memory().unwrap();
    let one_by_one = Store::open_in_memory().unwrap();
    // A run's records: in one call to one store, one call per record to the other.
    let record_both = |records: &[InventoryRecord]| {
        bulk.upsert_inventory(records).unwrap();
        for r in records {
            one_by_one
                .upsert_inventory(std::slice::from_ref(r))
                .unwrap();
        }
    };
    bulk.upsert_inventory(&first).unwrap();
    one_by_one.upsert_inventory(&first).unwrap();
    record_both(&second);
    let a = bulk.inventory_page(0, 1000).unwrap();
    let b = one_by_one.inventory_page(0, 1000).unwrap();
    assert_eq!(a.len(), 420);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));

    // A quick sync sees a few devices between two full syncs; the third full sync misses rows the
    // second one saw (they leave the sweep with the second's time) and sees again rows it missed.
    let t2 = t1 + chrono::Duration::minutes(10);
    let t3 = t1 + chrono::Duration::hours(1);
    let quick: Vec<InventoryRecord> = (100..105).map(|i| rec(i, t2)).collect();
    bulk.upsert_inventory(&quick).unwrap();
    one_by_one.upsert_inventory(&quick).unwrap();
    let third: Vec<InventoryRecord> = (0..400)
        .filter(|i| !(40..60).contains(i) && *i != 102)
        .map(|i| rec(i, t3))
        .collect();
    record_both(&third);
    let a = bulk.inventory_page(0, 1000).unwrap();
    let b = one_by_one.inventory_page(0, 1000).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let last_seen = |id: &str| a.iter().find(|r| r.device_id == id).unwrap().last_seen;
    assert_eq!(
        last_seen("DEV0040"),
        t1,
        "missed by the third run: the second's time"
    );
    assert_eq!(
        last_seen("DEV0102"),
        t2,
        "missed by the third run: the quick sync's time"
    );
    assert_eq!(
        last_seen("DEV0010"),
        t3,
        "unseen by the second run, seen by the third"
    );
    assert_eq!(last_seen("DEV0200"), t3);
    assert_eq!(
        last_seen("DEV0415"),
        t1,
        "new in the second run, missed by the third"
    );
}
