//! The sync engine against the lab over loopback: convergence, quick sync, guard, partial reads,
//! crash safety, throttling and token expiry, and one run through the PowerShell bridge stand-in.

use crate::common;

use common::{ProxyAuth, TestLab, client, forward_proxy, generated_lab, small_lab};
use exchange_connector::bridge_protocol::Authentication;
use exchange_connector::exchange::CasServer;
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::model::exchange::{DeviceAccessState, DeviceAccessStateReason};
use exchange_connector::oauth::ClientCredential;
use exchange_connector::policy::{DesiredAccess, ListKind, PolicySettings};
use exchange_connector::secret::Secret;
use exchange_connector::sync::cli::{ExchangeTransport, SyncSetup, format_report};
use exchange_connector::sync::{
    RunOptions, RunReport, SyncConfig, SyncEngine, SyncKind, SyncOutcome, status_report,
};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

const CONFIRM: RunOptions = RunOptions {
    dry_run: false,
    confirm_guard: true,
    rollout: false,
};
const PLAIN: RunOptions = RunOptions {
    dry_run: false,
    confirm_guard: false,
    rollout: false,
};

/// Panics with the report unless the run ended so.
fn assert_outcome(report: &RunReport, outcome: SyncOutcome) {
    assert_eq!(report.outcome, outcome, "{}", format_report(report));
}

/// Panics with the report unless the run succeeded.
fn assert_succeeded(report: &RunReport) {
    assert_outcome(report, SyncOutcome::Succeeded);
}

/// A generated organisation of 60 users and 140 devices, and an engine whose first (confirmed) full
/// sync converged it.
async fn converged_generated_lab() -> (TestLab, SyncEngine) {
    let lab = generated_lab(60, 140, 11).await;
    let engine = engine(&lab);
    let first = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_succeeded(&first);
    (lab, engine)
}

/// A run the admin confirms: a plain run and, when the guard holds its plan, `sync --confirm` (which
/// applies only a held plan).
async fn confirmed(engine: &SyncEngine, kind: SyncKind, options: RunOptions) -> RunReport {
    let first = engine.run(kind, options).await;
    if first.outcome != SyncOutcome::HeldByGuard {
        return first;
    }
    engine
        .run(
            kind,
            RunOptions {
                confirm_guard: true,
                ..options
            },
        )
        .await
}

fn policy(lab: &TestLab) -> PolicySettings {
    PolicySettings {
        enabled: true,
        included_groups: lab.endpoints.policy.included_groups.clone(),
        excluded_groups: lab.endpoints.policy.excluded_groups.clone(),
        unmanaged_default_access: lab.state.org().settings.default_access_level,
        ..PolicySettings::default()
    }
}

pub(crate) fn setup(
    lab: &TestLab,
    db: &Path,
    transport: ExchangeTransport,
    runspaces: usize,
) -> SyncSetup {
    let e = &lab.endpoints;
    SyncSetup {
        login_base: e.login_base.clone(),
        tenant: e.tenant_id.clone(),
        client_id: e.client_id.clone(),
        credential: ClientCredential::Secret(Secret::new(e.client_secret.clone())),
        graph_base: e.graph_base.clone(),
        graph_scope: "https://graph.microsoft.com/.default".into(),
        graph_page_size: 1000,
        graph_max_attempts: 3,
        extra_ca: Some(e.ca_cert_pem.clone().into()),
        exchange: transport,
        runspaces,
        store_path: db.to_path_buf(),
        settings: policy(lab),
        config: SyncConfig {
            watermark_overlap: Duration::ZERO,
            actor: "TEST\\svc-eas".into(),
            crash_after_sends: None,
        },
        proxy: None,
        notifier: None,
    }
}

pub(crate) fn rest(lab: &TestLab) -> ExchangeTransport {
    ExchangeTransport::Rest {
        base_url: lab.endpoints.exchange_rest_base.clone(),
        scope: "https://outlook.office365.com/.default".into(),
    }
}

fn engine(lab: &TestLab) -> SyncEngine {
    engine_with(lab, |_| {})
}

fn engine_with(lab: &TestLab, tweak: impl FnOnce(&mut SyncSetup)) -> SyncEngine {
    let mut s = setup(lab, &lab.dir.path().join("state.db"), rest(lab), 4);
    tweak(&mut s);
    s.build().expect("engine builds")
}

/// Every device's state and the lists, by (mailbox, device id).
/// Each partnership's state as the lab's Exchange reports it, by (mailbox, DeviceId).
fn states(lab: &TestLab) -> BTreeMap<(String, String), DeviceAccessState> {
    states_and_reasons(lab)
        .into_iter()
        .map(|(key, (state, _))| (key, state))
        .collect()
}

/// Each partnership's state and the ABQ step that gives it, as the lab's Exchange reports them.
fn states_and_reasons(
    lab: &TestLab,
) -> BTreeMap<(String, String), (DeviceAccessState, DeviceAccessStateReason)> {
    let org = lab.state.org();
    org.mailboxes
        .iter()
        .flat_map(|m| {
            m.devices.iter().map(|d| {
                (
                    (m.cas.identity.clone(), d.device.device_id.clone()),
                    (
                        d.device.device_access_state,
                        d.device.device_access_state_reason,
                    ),
                )
            })
        })
        .collect()
}

type Lists = BTreeMap<String, (Vec<String>, Vec<String>)>;

fn lists(lab: &TestLab) -> Lists {
    lab.state
        .org()
        .mailboxes
        .iter()
        .map(|m| {
            (
                m.cas.identity.clone(),
                (
                    m.cas.active_sync_allowed_device_ids.clone(),
                    m.cas.active_sync_blocked_device_ids.clone(),
                ),
            )
        })
        .collect()
}

fn state_of(lab: &TestLab, device_id: &str) -> DeviceAccessState {
    states(lab)
        .into_iter()
        .find(|((_, d), _)| d == device_id)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no device {device_id}"))
}

/// Every decided device is in the state its decision promises; released (untargeted) devices kept
/// their state; admin entries are intact; no list holds an entry twice; every entry the connector
/// added is recorded as owned and every owned entry is on its list; the journal is empty.
fn assert_converged(
    lab: &TestLab,
    engine: &SyncEngine,
    before: &BTreeMap<(String, String), DeviceAccessState>,
    admin: &Lists,
) {
    let now = states(lab);
    let mut decided = 0;
    for ((mailbox, id), state) in &now {
        let record = engine
            .with_store(|s| s.last_decision(mailbox, id))
            .unwrap()
            .unwrap_or_else(|| panic!("no decision for {mailbox}/{id}"));
        match record.decision.desired.expected_state() {
            Some(want) => {
                decided += 1;
                assert_eq!(*state, want, "{mailbox}/{id}: {:?}", record.decision);
            }
            None if record.decision.desired == DesiredAccess::Release => {
                if let Some(b) = before.get(&(mailbox.clone(), id.clone())) {
                    assert_eq!(state, b, "untargeted {mailbox}/{id} was touched");
                }
            }
            None => {}
        }
    }
    assert!(decided > 0);
    let current = lists(lab);
    for (mailbox, (allowed, blocked)) in &current {
        for list in [allowed, blocked] {
            let unique: HashSet<String> = list.iter().map(|e| e.to_ascii_lowercase()).collect();
            assert_eq!(
                unique.len(),
                list.len(),
                "{mailbox}: duplicate entry in {list:?}"
            );
        }
        let (admin_allowed, admin_blocked) = admin.get(mailbox).cloned().unwrap_or_default();
        for e in &admin_allowed {
            assert!(
                allowed.contains(e),
                "{mailbox}: admin allow entry {e} removed"
            );
        }
        for e in &admin_blocked {
            assert!(
                blocked.contains(e),
                "{mailbox}: admin block entry {e} removed"
            );
        }
        let owned = engine.with_store(|s| s.owned_entries(mailbox)).unwrap();
        let is_owned = |list: ListKind, id: &str| {
            owned
                .iter()
                .any(|o| o.list == list && o.device_id.eq_ignore_ascii_case(id))
        };
        for e in allowed.iter().filter(|e| !admin_allowed.contains(e)) {
            assert!(
                is_owned(ListKind::Allow, e),
                "{mailbox}: allow entry {e} not owned (lost)"
            );
        }
        for e in blocked.iter().filter(|e| !admin_blocked.contains(e)) {
            assert!(
                is_owned(ListKind::Block, e),
                "{mailbox}: block entry {e} not owned (lost)"
            );
        }
        for o in &owned {
            let list = if o.list == ListKind::Allow {
                allowed
            } else {
                blocked
            };
            assert!(
                list.iter().any(|e| e.eq_ignore_ascii_case(&o.device_id)),
                "{mailbox}: owned {:?} {} not on the list",
                o.list,
                o.device_id
            );
        }
    }
    assert!(
        engine
            .with_store(|s| s.open_journal_entries())
            .unwrap()
            .is_empty()
    );
}

fn exchange_calls(lab: &TestLab) -> u64 {
    lab.state.counters.exchange_calls.load(Ordering::Relaxed)
}

fn exchange_objects(lab: &TestLab) -> u64 {
    lab.state.counters.exchange_objects.load(Ordering::Relaxed)
}

async fn control(lab: &TestLab, path: &str, body: serde_json::Value) {
    let http = client(&lab.endpoints.ca_cert_pem);
    let url = format!("{}{path}", lab.endpoints.control_base);
    let res = if path == "/faults" {
        http.patch(&url).json(&body).send().await.unwrap()
    } else {
        http.post(&url).json(&body).send().await.unwrap()
    };
    assert!(res.status().is_success(), "{path}: {}", res.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_full_sync_converges_and_a_second_run_applies_nothing() {
    let lab = small_lab().await;
    let before = states(&lab);
    let admin = lists(&lab);
    let engine = engine(&lab);

    // Dry run first: a plan, nothing applied.
    let dry = engine
        .run(
            SyncKind::Full,
            RunOptions {
                dry_run: true,
                ..PLAIN
            },
        )
        .await;
    assert_eq!(dry.outcome, SyncOutcome::DryRun, "{}", format_report(&dry));
    assert!(!dry.plan.changes.is_empty());
    assert_eq!(states(&lab), before);
    assert_eq!(lists(&lab), admin);

    let first = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        first.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&first)
    );
    assert_eq!(first.devices_seen, 9);
    assert!(first.changes_applied > 0);
    assert_converged(&lab, &engine, &before, &admin);
    // The scenario's cases.
    assert_eq!(
        state_of(&lab, "ALICEIPHONE0001"),
        DeviceAccessState::Allowed
    );
    assert_eq!(
        state_of(&lab, "BOBSAMSUNG00002"),
        DeviceAccessState::Blocked
    );
    assert_eq!(
        state_of(&lab, "DAVESAMSUNG0004"),
        DeviceAccessState::Blocked
    );
    assert_eq!(
        state_of(&lab, "ERINIPHONE00005"),
        DeviceAccessState::Allowed
    );
    assert_eq!(
        state_of(&lab, "FRANKSAMSUNG006"),
        before[&("frank".into(), "FRANKSAMSUNG006".into())]
    );
    assert_eq!(
        state_of(&lab, "HEIDISAMSUNG008"),
        DeviceAccessState::Blocked
    );
    assert_eq!(
        state_of(&lab, "GRACEIPHONE0007"),
        DeviceAccessState::Allowed
    );
    // The audit trail names who and why.
    let audit = engine.with_store(|s| s.recent_changes(100)).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.entry.device_id == "BOBSAMSUNG00002" && a.entry.actor == "TEST\\svc-eas")
    );

    let calls = exchange_calls(&lab);
    let second = engine.run(SyncKind::Full, PLAIN).await;
    assert_eq!(
        second.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&second)
    );
    assert_eq!(second.changes_planned, 0, "{}", format_report(&second));
    assert_eq!(second.changes_applied, 0);
    assert!(
        exchange_calls(&lab) - calls <= 4,
        "a no-change full sync only reads"
    );
    assert_converged(&lab, &engine, &before, &admin);

    let status = engine.with_store(status_report).unwrap();
    assert!(status.last_full_sync.is_some());
    assert!(status.held_plan.is_none());
    assert_eq!(status.devices_by_state.values().sum::<u64>(), 9);
    assert!(status.to_text().contains("last full sync"));
    serde_json::to_string(&status).unwrap();
}

/// The first full sync records each device as Exchange then reports it: its state and the ABQ step
/// that gives it (a phone that stays allowed but is now on its owner's allow list is `Individual`,
/// no longer `Global`), so the next full sync finds the inventory unchanged and rewrites none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_records_the_state_and_reason_exchange_reports_after_a_run() {
    let (lab, engine) = converged_generated_lab().await;
    type Seen = BTreeMap<(String, String), (DeviceAccessState, DeviceAccessStateReason)>;
    let recorded: Seen = engine
        .with_store(|s| s.inventory_page(0, 10_000))
        .unwrap()
        .into_iter()
        .map(|r| ((r.mailbox, r.device_id), (r.access_state, r.access_reason)))
        .collect();
    let reported: Seen = states_and_reasons(&lab);
    assert_eq!(recorded.len(), 140);
    assert_eq!(recorded, reported);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_org_converges_and_quick_sync_costs_what_changed() {
    let lab = generated_lab(300, 700, 7).await;
    let before = states(&lab);
    let admin = lists(&lab);
    let engine = engine(&lab);

    let (c0, o0) = (exchange_calls(&lab), exchange_objects(&lab));
    let first = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        first.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&first)
    );
    let (full_calls, full_objects) = (exchange_calls(&lab) - c0, exchange_objects(&lab) - o0);
    assert_converged(&lab, &engine, &before, &admin);
    // Watermarks have a resolution of one second: let the first run's own changes fall behind it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = engine.run(SyncKind::Full, PLAIN).await;
    assert_eq!(second.changes_planned, 0, "{}", format_report(&second));

    // A compliant, allowed device of a targeted user turns noncompliant; the user adds a new phone.
    let (mailbox, device) = states(&lab)
        .into_iter()
        .find_map(|((m, d), s)| {
            let r = engine.with_store(|st| st.last_decision(&m, &d)).unwrap()?;
            (s == DeviceAccessState::Allowed
                && r.decision.desired == DesiredAccess::Allow
                && r.decision.reason.as_str() == "compliant")
                .then_some((m, d))
        })
        .expect("a compliant device");
    control(
        &lab,
        &format!("/managed-devices/{device}/compliance"),
        json!({"complianceState": "noncompliant"}),
    )
    .await;
    control(
        &lab,
        "/partnerships",
        json!({"mailbox": mailbox, "deviceId": "NEWPHONE0000001", "deviceType": "iPhone",
               "deviceModel": "iPhone16C1"}),
    )
    .await;
    let before_quick = states(&lab);
    let (c1, o1) = (exchange_calls(&lab), exchange_objects(&lab));
    let quick = engine.run(SyncKind::Quick, PLAIN).await;
    assert_eq!(quick.kind, SyncKind::Quick);
    assert_eq!(
        quick.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&quick)
    );
    let (quick_calls, quick_objects) = (exchange_calls(&lab) - c1, exchange_objects(&lab) - o1);
    assert_eq!(state_of(&lab, &device), DeviceAccessState::Blocked);
    assert_eq!(
        state_of(&lab, "NEWPHONE0000001"),
        DeviceAccessState::Blocked
    );
    println!(
        "full: {full_calls} calls / {full_objects} objects; quick: {quick_calls} calls / {quick_objects} objects"
    );
    assert!(
        quick_calls * 5 < full_calls,
        "quick {quick_calls} vs full {full_calls}"
    );
    assert!(
        quick_objects * 20 < full_objects,
        "quick {quick_objects} vs full {full_objects}"
    );
    assert!(quick.devices_seen <= 5, "{}", format_report(&quick));
    assert_converged(&lab, &engine, &before_quick, &admin);

    // Nothing changed since: the next quick sync sends nothing.
    let idle = engine.run(SyncKind::Quick, PLAIN).await;
    assert_eq!(idle.outcome, SyncOutcome::Succeeded);
    assert_eq!(idle.changes_planned, 0, "{}", format_report(&idle));

    let status = engine.with_store(status_report).unwrap();
    assert!(status.last_quick_sync.is_some() && status.last_full_sync.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_stops_a_run_when_graph_returns_no_devices() {
    let (lab, engine) = converged_generated_lab().await;
    let converged = states(&lab);
    let converged_lists = lists(&lab);

    lab.state.tenant_mut().managed_devices.clear();
    let held = engine.run(SyncKind::Full, PLAIN).await;
    assert_outcome(&held, SyncOutcome::HeldByGuard);
    assert!(held.plan.restricted > 0);
    assert!(held.error.as_deref().unwrap_or("").contains("--confirm"));
    assert_eq!(states(&lab), converged, "a held plan applies nothing");
    assert_eq!(lists(&lab), converged_lists);
    let status = engine.with_store(status_report).unwrap();
    let plan = status.held_plan.clone().expect("held plan stored");
    assert_eq!(plan.summary.restricted, held.plan.restricted);
    assert!(status.to_text().contains("HELD PLAN"));

    // The quick sync holds too (its base is the whole inventory).
    let dry = engine
        .run(
            SyncKind::Full,
            RunOptions {
                dry_run: true,
                ..PLAIN
            },
        )
        .await;
    assert_eq!(dry.outcome, SyncOutcome::DryRun);
    assert!(dry.warnings.iter().any(|w| w.contains("held")));

    // The admin confirms: applied, and the held plan is cleared.
    let confirmed = engine.run(SyncKind::Full, CONFIRM).await;
    assert_eq!(
        confirmed.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&confirmed)
    );
    assert!(confirmed.changes_applied > 0);
    assert!(engine.held_plan().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_storm_mid_paging_blocks_nothing() {
    let lab = small_lab().await;
    let engine = engine_with(&lab, |s| s.graph_page_size = 2);
    let first = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        first.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&first)
    );
    let converged = states(&lab);

    // Alice's phone turns noncompliant, but the Graph read will fail half-way.
    lab.state
        .tenant_mut()
        .managed_devices
        .iter_mut()
        .filter(|d| d.eas_device_id.as_deref() == Some("ALICEIPHONE0001"))
        .for_each(|d| {
            d.compliance_state =
                Some(exchange_connector::model::intune::ComplianceState::Noncompliant)
        });
    lab.state.faults().graph_latency_ms = 30;
    let start = lab.state.counters.graph_requests.load(Ordering::Relaxed);
    let storm = {
        let state = lab.state.clone();
        tokio::spawn(async move {
            while state.counters.graph_requests.load(Ordering::Relaxed) < start + 3 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            state.faults().storms.push(Storm {
                surface: Surface::Graph,
                status: 503,
                remaining: 1000,
                retry_after_seconds: 0,
            });
        })
    };
    let run = engine.run(SyncKind::Full, PLAIN).await;
    storm.await.unwrap();
    assert_ne!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    for (key, state) in states(&lab) {
        if converged[&key] == DeviceAccessState::Allowed {
            assert_eq!(
                state,
                DeviceAccessState::Allowed,
                "{key:?} was restricted on a partial read"
            );
        }
    }
    lab.state.faults().storms.clear();
    lab.state.faults().graph_latency_ms = 0;
    // Once Graph answers again, the positive fact blocks the phone.
    let after = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        after.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&after)
    );
    assert_eq!(
        state_of(&lab, "ALICEIPHONE0001"),
        DeviceAccessState::Blocked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_read_failure_applies_nothing() {
    let lab = small_lab().await;
    let before = states(&lab);
    let admin = lists(&lab);
    let engine = engine(&lab);
    lab.state.faults().storms.push(Storm {
        surface: Surface::ExchangeRest,
        status: 400,
        remaining: 1,
        retry_after_seconds: 0,
    });
    let run = engine.run(SyncKind::Full, CONFIRM).await;
    assert_eq!(run.outcome, SyncOutcome::Failed, "{}", format_report(&run));
    assert_eq!(run.changes_applied, 0);
    assert_eq!(states(&lab), before);
    assert_eq!(lists(&lab), admin);
    assert!(
        engine
            .with_store(|s| s.all_owned_entries())
            .unwrap()
            .is_empty()
    );
    assert!(
        engine
            .with_store(|s| s.watermark("sync.exchange_devices"))
            .unwrap()
            .is_none()
    );
    let status = engine.with_store(status_report).unwrap();
    assert_eq!(status.last_run.unwrap().outcome.as_str(), "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_during_apply_lose_nothing_and_apply_nothing_twice() {
    let lab = generated_lab(80, 200, 3).await;
    let before = states(&lab);
    let admin = lists(&lab);
    let mut engine = engine(&lab);
    // The first enforcement is held by the guard; the crashed runs below are its confirmation.
    let held = engine.run(SyncKind::Full, PLAIN).await;
    assert_outcome(&held, SyncOutcome::HeldByGuard);
    // Killed after N changes were sent, several times.
    for (i, n) in [1, 4, 9, 17].into_iter().enumerate() {
        engine.config_mut().crash_after_sends = Some(n);
        let run = engine.run(SyncKind::Full, CONFIRM).await;
        assert_eq!(run.outcome, SyncOutcome::Failed);
        // Each run first settles what the previous one left open.
        assert!(
            i == 0 || run.journal_reconciled > 0,
            "run {i}: {}",
            format_report(&run)
        );
        assert!(run.error.unwrap().contains("simulated crash"));
    }
    assert!(
        !engine
            .with_store(|s| s.open_journal_entries())
            .unwrap()
            .is_empty()
    );
    engine.config_mut().crash_after_sends = None;
    let status = engine.with_store(status_report).unwrap();
    assert!(status.open_journal_entries > 0);
    // Dropped mid-apply (slow Exchange, the future abandoned like a killed task).
    lab.state.faults().exchange_latency_ms = 150;
    let dropped = tokio::time::timeout(
        Duration::from_millis(450),
        engine.run(SyncKind::Full, CONFIRM),
    )
    .await;
    assert!(dropped.is_err(), "the run was cut off");
    lab.state.faults().exchange_latency_ms = 0;

    let run = engine.run(SyncKind::Full, CONFIRM).await;
    assert_eq!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    assert_converged(&lab, &engine, &before, &admin);
    let again = engine.run(SyncKind::Full, PLAIN).await;
    assert_eq!(again.changes_planned, 0, "{}", format_report(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_token_expiry_mid_run_still_converge() {
    let lab = generated_lab(80, 200, 5).await;
    let before = states(&lab);
    let admin = lists(&lab);
    let engine = engine(&lab);
    // The first enforcement is held by the guard; the disturbed run below is its confirmation.
    let held = engine.run(SyncKind::Full, PLAIN).await;
    assert_outcome(&held, SyncOutcome::HeldByGuard);
    lab.state.faults().exchange_latency_ms = 15;
    let disturb = {
        let lab_control = lab.endpoints.control_base.clone();
        let ca = lab.endpoints.ca_cert_pem.clone();
        let state = lab.state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let http = client(&ca);
            let res = http
                .post(format!("{lab_control}/tokens/expire"))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
            let mut faults = state.faults();
            for surface in [Surface::Graph, Surface::ExchangeRest] {
                faults.storms.push(Storm {
                    surface,
                    status: 429,
                    remaining: 3,
                    retry_after_seconds: 1,
                });
            }
        })
    };
    let run = engine.run(SyncKind::Full, CONFIRM).await;
    disturb.await.unwrap();
    assert_eq!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    lab.state.faults().exchange_latency_ms = 0;
    // A run that the storm hit part-way may leave refused changes: the next run settles them.
    let again = engine.run(SyncKind::Full, PLAIN).await;
    assert_eq!(
        again.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&again)
    );
    assert_converged(&lab, &engine, &before, &admin);
    assert!(lab.state.counters.token_requests.load(Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_allow_lists_what_syncs_before_enforcing() {
    let lab = small_lab().await;
    let engine = engine(&lab);
    let before = states(&lab);
    let rollout = RunOptions {
        rollout: true,
        ..PLAIN
    };
    let run = engine.run(SyncKind::Full, rollout).await;
    assert!(run.rollout_entries > 0, "{}", format_report(&run));
    // The rollout is applied before the guard; what enforcement then restricts may be held.
    let run = if run.outcome == SyncOutcome::HeldByGuard {
        confirmed(&engine, SyncKind::Full, rollout).await
    } else {
        run
    };
    assert_eq!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    // Dave's unenrolled phone was syncing: grandfathered, still allowed. Bob's is reported
    // noncompliant: blocked anyway.
    assert_eq!(
        before[&("dave".into(), "DAVESAMSUNG0004".into())],
        DeviceAccessState::Allowed
    );
    assert_eq!(
        state_of(&lab, "DAVESAMSUNG0004"),
        DeviceAccessState::Allowed
    );
    assert_eq!(
        state_of(&lab, "BOBSAMSUNG00002"),
        DeviceAccessState::Blocked
    );
    // A new, unmanaged phone is blocked.
    control(
        &lab,
        "/partnerships",
        json!({"mailbox": "dave", "deviceId": "DAVENEWPHONE001", "deviceType": "iPhone"}),
    )
    .await;
    let quick = confirmed(&engine, SyncKind::Quick, PLAIN).await;
    assert_eq!(
        quick.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&quick)
    );
    assert_eq!(
        state_of(&lab, "DAVENEWPHONE001"),
        DeviceAccessState::Blocked
    );
    assert_eq!(
        state_of(&lab, "DAVESAMSUNG0004"),
        DeviceAccessState::Allowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_through_the_powershell_bridge_stand_in() {
    let lab = small_lab().await;
    let before = states(&lab);
    let admin = lists(&lab);
    let cas = &lab.endpoints.cas_servers[0];
    let port = cas.base_url.rsplit(':').next().unwrap();
    let transport = ExchangeTransport::Bridge {
        program: env!("CARGO_BIN_EXE_exchange-connector-lab").into(),
        prefix_args: [
            "pwsh",
            "--ca-file",
            &lab.endpoints.ca_cert_pem,
            "-NoProfile",
            "-NonInteractive",
            "-File",
            "exchange-bridge.ps1",
        ]
        .map(String::from)
        .to_vec(),
        server: CasServer {
            name: cas.name.clone(),
            fqdn: cas.fqdn.clone(),
            connection_uri: format!("https://{}:{port}/PowerShell/", cas.fqdn),
        },
        authentication: Authentication::Basic,
        user_name: lab.endpoints.service_account.user.clone(),
        password: Secret::new(lab.endpoints.service_account.password.clone()),
        failover: true,
        proxy: None,
    };
    let engine = setup(&lab, &lab.dir.path().join("bridge.db"), transport, 2)
        .build()
        .unwrap();
    let run = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    assert_converged(&lab, &engine, &before, &admin);
    let again = engine.run(SyncKind::Full, PLAIN).await;
    assert_eq!(again.changes_planned, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_of_newly_restricted_devices_get_one_mail_each() {
    use exchange_connector::notify::{
        AuthScheme, EwsRoute, Language, MailRoute, MailboxCredential, NotifierConfig,
    };
    let lab = small_lab().await;
    let before = states(&lab);
    let engine = engine_with(&lab, |s| {
        s.notifier = Some(NotifierConfig {
            mailbox: lab.endpoints.notification_account.address.clone(),
            route: MailRoute::Ews(EwsRoute {
                credential: MailboxCredential {
                    user: lab.endpoints.notification_account.address.clone(),
                    password: Secret::new(lab.endpoints.notification_account.password.clone()),
                    scheme: AuthScheme::Ntlm,
                },
                ews_url: Some(lab.endpoints.ews_url.clone()),
                autodiscover_redirect_hosts: Vec::new(),
            }),
            language: Language::Fr,
            template: None,
            enrol_link: "https://portal.manage.microsoft.com/".into(),
        });
    });
    let outbox = |lab: &TestLab| lab.state.outbox.lock().unwrap().clone();

    let first = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        first.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&first)
    );
    // Every device of a targeted user that the connector restricted: one mail to its owner.
    let restricted: Vec<(String, String)> = engine
        .with_store(|s| s.recent_changes(1000))
        .unwrap()
        .iter()
        .filter(|a| a.entry.list == ListKind::Block)
        .map(|a| (a.entry.mailbox.clone(), a.entry.device_id.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    assert!(!restricted.is_empty());
    let mails = outbox(&lab);
    assert_eq!(
        mails.len(),
        first.notifications_sent,
        "{}",
        format_report(&first)
    );
    assert_eq!(first.notifications_failed, 0, "{}", format_report(&first));
    assert!(
        mails.len() >= restricted.len(),
        "{mails:?} vs {restricted:?}"
    );
    {
        let org = lab.state.org();
        for (mailbox, device_id) in &restricted {
            let m = org
                .mailboxes
                .iter()
                .find(|m| m.cas.identity.eq_ignore_ascii_case(mailbox))
                .unwrap();
            let to = m.cas.primary_smtp_address.to_ascii_lowercase();
            let n = mails
                .iter()
                .filter(|mail| mail.to.iter().any(|t| t.to_ascii_lowercase() == to))
                .count();
            assert!(n >= 1, "no mail to {to} for {device_id}");
            let d = m
                .devices
                .iter()
                .find(|d| &d.device.device_id == device_id)
                .unwrap();
            let name = d
                .device
                .friendly_name
                .clone()
                .or(d.device.device_model.clone())
                .unwrap_or(d.device.device_type.clone());
            assert!(
                mails.iter().any(|mail| mail.body.contains(&name)),
                "the mail names the device {name}"
            );
        }
    }
    // In the configured language, with the enrolment link, from the notification account.
    for mail in &mails {
        assert!(
            mail.body.contains("https://portal.manage.microsoft.com/"),
            "{}",
            mail.body
        );
        assert_eq!(mail.disposition, "SendAndSaveCopy");
        assert!(
            mail.from
                .eq_ignore_ascii_case(&lab.endpoints.notification_account.address)
        );
    }
    let french = exchange_connector::notify::Template::default_for(Language::Fr);
    let subject_start: String = french.subject.chars().take(12).collect();
    assert!(
        mails.iter().all(|m| m.subject.starts_with(&subject_start)),
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );

    // Not one per sync: the next runs send nothing more.
    let again = engine.run(SyncKind::Full, PLAIN).await;
    assert_eq!(again.notifications_sent, 0, "{}", format_report(&again));
    let quick = engine.run(SyncKind::Quick, PLAIN).await;
    assert_eq!(quick.notifications_sent, 0, "{}", format_report(&quick));
    assert_eq!(outbox(&lab).len(), mails.len());

    // A new, unenrolled phone of a targeted user: exactly one more mail, to its owner.
    let owner = before
        .iter()
        .find(|(_, s)| **s == DeviceAccessState::Allowed)
        .map(|((m, _), _)| m.clone())
        .unwrap();
    let (owner, smtp) = {
        let org = lab.state.org();
        let m = org
            .mailboxes
            .iter()
            .find(|m| {
                m.cas.identity == owner
                    && engine
                        .with_store(|s| s.decisions_for_user(&m.cas.identity))
                        .unwrap()
                        .iter()
                        .any(|d| d.decision.reason.as_str() == "compliant")
            })
            .or_else(|| {
                org.mailboxes.iter().find(|m| {
                    engine
                        .with_store(|s| s.decisions_for_user(&m.cas.identity))
                        .unwrap()
                        .iter()
                        .any(|d| d.decision.reason.as_str() == "compliant")
                })
            })
            .expect("a targeted user");
        (m.cas.identity.clone(), m.cas.primary_smtp_address.clone())
    };
    control(
        &lab,
        "/partnerships",
        json!({"mailbox": owner, "deviceId": "NEWPHONE0000002", "deviceType": "Android",
               "deviceModel": "Pixel 9", "friendlyName": "Pixel de test"}),
    )
    .await;
    // (The small organisation has five allowed devices: one more restricted is above the guard's 10%.)
    let quick = confirmed(&engine, SyncKind::Quick, PLAIN).await;
    assert_eq!(
        quick.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&quick)
    );
    assert_ne!(
        state_of(&lab, "NEWPHONE0000002"),
        DeviceAccessState::Allowed
    );
    assert_eq!(quick.notifications_sent, 1, "{}", format_report(&quick));
    let mails_now = outbox(&lab);
    assert_eq!(mails_now.len(), mails.len() + 1);
    let last = mails_now.last().unwrap();
    assert!(last.to.iter().any(|t| t.eq_ignore_ascii_case(&smtp)));
    assert!(last.body.contains("Pixel de test"), "{}", last.body);
    let idle = engine.run(SyncKind::Quick, PLAIN).await;
    assert_eq!(idle.notifications_sent, 0);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_cannot_be_sent_is_reported_and_sent_by_the_next_run() {
    use exchange_connector::notify::{
        AuthScheme, EwsRoute, Language, MailRoute, MailboxCredential, NotifierConfig,
    };
    let lab = small_lab().await;
    let notifier = |password: &str| NotifierConfig {
        mailbox: lab.endpoints.notification_account.address.clone(),
        route: MailRoute::Ews(EwsRoute {
            credential: MailboxCredential {
                user: lab.endpoints.notification_account.address.clone(),
                password: Secret::new(password.to_string()),
                scheme: AuthScheme::Basic,
            },
            ews_url: Some(lab.endpoints.ews_url.clone()),
            autodiscover_redirect_hosts: Vec::new(),
        }),
        language: Language::En,
        template: None,
        enrol_link: "https://portal.manage.microsoft.com/".into(),
    };
    let wrong = engine_with(&lab, |s| s.notifier = Some(notifier("not-the-password")));
    let first = confirmed(&wrong, SyncKind::Full, PLAIN).await;
    assert_eq!(
        first.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&first)
    );
    assert_eq!(first.notifications_sent, 0);
    assert!(first.notifications_failed > 0, "{}", format_report(&first));
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.contains("tried again by the next run")),
        "{}",
        format_report(&first)
    );
    assert!(!format_report(&first).contains("not-the-password"));
    assert!(lab.state.outbox.lock().unwrap().is_empty());
    let failed = first.notifications_failed;
    wrong.shutdown().await;
    drop(wrong);

    // The password fixed: the next run sends what the first could not, and only that.
    let right = engine_with(&lab, |s| {
        s.notifier = Some(notifier(&lab.endpoints.notification_account.password))
    });
    let second = right.run(SyncKind::Full, PLAIN).await;
    assert_eq!(
        second.notifications_sent,
        failed,
        "{}",
        format_report(&second)
    );
    assert_eq!(lab.state.outbox.lock().unwrap().len(), failed);
    lab.shutdown().await;
}

fn through(
    port: u16,
    credentials: Option<(&str, &str)>,
) -> exchange_connector::proxy::ConfiguredProxy {
    exchange_connector::proxy::ConfiguredProxy {
        spec: exchange_connector::proxy::ProxySpec::parse(&format!("127.0.0.1:{port}"), None)
            .unwrap(),
        credentials: credentials.map(|(u, p)| (u.to_string(), Secret::new(p.to_string()))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_a_run_goes_through_the_configured_proxy() {
    let lab = small_lab().await;
    let lab_ports: HashSet<String> = [
        &lab.endpoints.login_base,
        &lab.endpoints.graph_base,
        &lab.endpoints.exchange_rest_base,
    ]
    .iter()
    .map(|u| {
        u.rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string()
    })
    .collect();

    // Without credentials.
    let (open_port, open_seen) = forward_proxy(ProxyAuth::None).await;
    let engine = engine_with(&lab, |s| s.proxy = Some(through(open_port, None)));
    let run = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    let tunnelled: HashSet<String> = open_seen
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.rsplit(':').next().unwrap().to_string())
        .collect();
    assert!(
        lab_ports.is_subset(&tunnelled),
        "token, Graph and Exchange REST all went through the proxy: {tunnelled:?} vs {lab_ports:?}"
    );
    engine.shutdown().await;
    drop(engine);

    // With Basic credentials: the right ones pass, wrong ones are named as the proxy's refusal.
    let (basic_port, basic_seen) =
        forward_proxy(ProxyAuth::Basic("CONTOSO\\proxyuser", "pr0xy-pass")).await;
    let engine = engine_with(&lab, |s| {
        s.store_path = lab.dir.path().join("proxy-basic.db");
        s.proxy = Some(through(
            basic_port,
            Some(("CONTOSO\\proxyuser", "pr0xy-pass")),
        ))
    });
    let run = confirmed(&engine, SyncKind::Full, PLAIN).await;
    assert_eq!(
        run.outcome,
        SyncOutcome::Succeeded,
        "{}",
        format_report(&run)
    );
    assert!(!basic_seen.lock().unwrap().is_empty());
    drop(engine);
    let engine = engine_with(&lab, |s| {
        s.store_path = lab.dir.path().join("proxy-wrong.db");
        s.proxy = Some(through(
            basic_port,
            Some(("CONTOSO\\proxyuser", "wrong-pass")),
        ))
    });
    let run = engine.run(SyncKind::Full, CONFIRM).await;
    assert_eq!(run.outcome, SyncOutcome::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains("refused") && error.contains("ProxyUser"),
        "{error}"
    );
    assert!(!format_report(&run).contains("wrong-pass"));
    drop(engine);

    // A proxy that wants only NTLM or Negotiate: said plainly, with what to do.
    let (ntlm_port, _) = forward_proxy(ProxyAuth::NtlmOnly).await;
    let engine = engine_with(&lab, |s| {
        s.store_path = lab.dir.path().join("proxy-ntlm.db");
        s.proxy = Some(through(
            ntlm_port,
            Some(("CONTOSO\\proxyuser", "pr0xy-pass")),
        ))
    });
    let run = engine.run(SyncKind::Full, CONFIRM).await;
    assert_eq!(run.outcome, SyncOutcome::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(error.contains("NTLM"), "{error}");
    assert!(error.contains("does not support"), "{error}");
    lab.shutdown().await;
}

/// The origin of the connector's entry for a device on one list, if it owns one.
fn owned_entry(
    engine: &SyncEngine,
    mailbox: &str,
    device_id: &str,
    list: ListKind,
) -> Option<exchange_connector::store::OwnedOrigin> {
    engine
        .with_store(|s| s.owned_entries(mailbox))
        .unwrap()
        .into_iter()
        .find(|o| o.list == list && o.device_id.eq_ignore_ascii_case(device_id))
        .map(|o| o.origin)
}

fn mailbox_of(lab: &TestLab, device_id: &str) -> String {
    states(lab)
        .into_keys()
        .find(|(_, d)| d == device_id)
        .map(|(m, _)| m)
        .unwrap_or_else(|| panic!("no device {device_id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_never_came_stays_owned_and_the_next_run_settles_it() {
    let lab = small_lab().await;
    let admin = lists(&lab);
    // One device at a time here: the guard is not what this test is about.
    let engine = engine_with(&lab, |s| s.settings.mass_change_threshold_percent = 100.0);
    let first = engine.run(SyncKind::Full, PLAIN).await;
    assert_succeeded(&first);
    let phone = "ALICEIPHONE0001";
    let mailbox = mailbox_of(&lab, phone);
    assert_eq!(state_of(&lab, phone), DeviceAccessState::Allowed);

    // The phone turns noncompliant; Exchange applies the block but its answer never arrives (every
    // retry of the pool too).
    control(
        &lab,
        &format!("/managed-devices/{phone}/compliance"),
        json!({"complianceState": "noncompliant"}),
    )
    .await;
    control(&lab, "/faults", json!({"unansweredWrites": 100})).await;
    let before = states(&lab);
    let lost = engine.run(SyncKind::Full, PLAIN).await;
    control(&lab, "/faults", json!({"unansweredWrites": 0})).await;
    assert_eq!(lost.changes_applied, 0, "{}", format_report(&lost));
    assert_eq!(lost.changes_failed, 1, "{}", format_report(&lost));
    assert!(
        lost.warnings.iter().any(|w| w.contains("no answer")),
        "{}",
        format_report(&lost)
    );
    // The write landed; the connector owns the entry although it never heard so; the change is open.
    assert_eq!(state_of(&lab, phone), DeviceAccessState::Blocked);
    assert!(owned_entry(&engine, &mailbox, phone, ListKind::Block).is_some());
    assert_eq!(
        engine
            .with_store(|s| s.open_journal_entries())
            .unwrap()
            .len(),
        1
    );

    // The next run reads the mailbox and settles it: the block is the connector's own (not "an
    // Exchange admin put it there"), audited as reconciled.
    let next = engine.run(SyncKind::Full, PLAIN).await;
    assert_succeeded(&next);
    assert_eq!(next.journal_reconciled, 1, "{}", format_report(&next));
    let decision = engine
        .with_store(|s| s.last_decision(&mailbox, phone))
        .unwrap()
        .unwrap()
        .decision;
    assert_eq!(decision.desired, DesiredAccess::Block);
    assert_eq!(decision.reason.as_str(), "notCompliant", "{decision:?}");
    let audit = engine.with_store(|s| s.recent_changes(100)).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.entry.device_id == phone && a.entry.reason.contains("reconciled")),
        "{audit:?}"
    );
    assert_converged(&lab, &engine, &before, &admin);

    // Not a lockout: compliant again, the connector withdraws its own block.
    control(
        &lab,
        &format!("/managed-devices/{phone}/compliance"),
        json!({"complianceState": "compliant"}),
    )
    .await;
    let fixed = engine.run(SyncKind::Full, PLAIN).await;
    assert_succeeded(&fixed);
    assert_eq!(state_of(&lab, phone), DeviceAccessState::Allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_rollout_keeps_grandfathered_devices_allowed() {
    let lab = small_lab().await;
    // One change at a time, in plan order, so the crash hits a known change.
    let mut engine = engine_with(&lab, |s| s.runspaces = 1);
    let rollout = RunOptions {
        rollout: true,
        ..PLAIN
    };
    let grandfathered = "DAVESAMSUNG0004";
    assert_eq!(state_of(&lab, grandfathered), DeviceAccessState::Allowed);
    let dry = engine
        .run(
            SyncKind::Full,
            RunOptions {
                dry_run: true,
                ..rollout
            },
        )
        .await;
    let position = dry
        .plan
        .changes
        .iter()
        .position(|c| c.allow_add.iter().any(|id| id == grandfathered))
        .expect("the rollout allow-lists Dave's phone");
    assert!(position < dry.rollout_entries, "{}", format_report(&dry));

    // Killed right after the rollout sent Dave's allow entry, before it was settled.
    engine.config_mut().crash_after_sends = Some(position + 1);
    let crashed = engine.run(SyncKind::Full, rollout).await;
    assert!(
        crashed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("simulated crash"),
        "{}",
        format_report(&crashed)
    );
    engine.config_mut().crash_after_sends = None;
    let mailbox = mailbox_of(&lab, grandfathered);
    assert!(
        lab.state
            .org()
            .mailboxes
            .iter()
            .any(|m| m.cas.identity == mailbox
                && m.cas
                    .active_sync_allowed_device_ids
                    .iter()
                    .any(|id| id == grandfathered)),
        "the rollout's entry landed"
    );

    // The next run reconciles it as the rollout's entry: Dave's unenrolled phone stays allowed.
    let next = engine.run(SyncKind::Full, rollout).await;
    assert!(next.journal_reconciled >= 1, "{}", format_report(&next));
    let next = if next.outcome == SyncOutcome::HeldByGuard {
        confirmed(&engine, SyncKind::Full, rollout).await
    } else {
        next
    };
    assert_succeeded(&next);
    assert_eq!(
        owned_entry(&engine, &mailbox, grandfathered, ListKind::Allow),
        Some(exchange_connector::store::OwnedOrigin::Rollout)
    );
    assert_eq!(state_of(&lab, grandfathered), DeviceAccessState::Allowed);
    assert_eq!(
        state_of(&lab, "BOBSAMSUNG00002"),
        DeviceAccessState::Blocked
    );
    let audit = engine.with_store(|s| s.recent_changes(200)).unwrap();
    assert!(
        audit.iter().any(|a| a.entry.device_id == grandfathered
            && a.entry.reason.contains("reconciled")
            && a.entry.reason.contains("rollout")),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_holds_a_mass_release_when_the_group_reads_empty() {
    let (lab, engine) = converged_generated_lab().await;
    let converged = states(&lab);
    let converged_lists = lists(&lab);
    let blocked = converged
        .values()
        .filter(|s| **s == DeviceAccessState::Blocked)
        .count();
    assert!(blocked >= 10, "{blocked} blocked devices");

    // Graph answers an empty membership for the targeted groups: every user looks out of scope.
    for group in &mut lab.state.tenant_mut().groups {
        group.members.clear();
    }
    let held = engine.run(SyncKind::Full, PLAIN).await;
    assert_outcome(&held, SyncOutcome::HeldByGuard);
    assert!(held.plan.released >= 10, "{}", format_report(&held));
    let message = held.error.clone().unwrap_or_default();
    assert!(message.contains("would allow"), "{message}");
    assert!(message.contains("group membership"), "{message}");
    assert!(message.contains("--confirm"), "{message}");
    assert_eq!(states(&lab), converged, "a held release applies nothing");
    assert_eq!(lists(&lab), converged_lists);
    let stored = engine.held_plan().unwrap().expect("held plan stored");
    assert_eq!(stored.summary.released, held.plan.released);

    // The admin confirms the held plan: applied.
    let confirmed_run = engine.run(SyncKind::Full, CONFIRM).await;
    assert_succeeded(&confirmed_run);
    assert!(engine.held_plan().unwrap().is_none());
    let allowed_now = states(&lab)
        .values()
        .filter(|s| **s == DeviceAccessState::Allowed)
        .count();
    let allowed_before = converged
        .values()
        .filter(|s| **s == DeviceAccessState::Allowed)
        .count();
    assert!(allowed_now >= allowed_before + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_without_a_held_plan_does_not_skip_the_guard() {
    let lab = generated_lab(60, 140, 11).await;
    let before = states(&lab);
    let before_lists = lists(&lab);
    let engine = engine(&lab);
    assert!(engine.held_plan().unwrap().is_none());
    let run = engine.run(SyncKind::Full, CONFIRM).await;
    assert_outcome(&run, SyncOutcome::HeldByGuard);
    assert!(
        run.error
            .as_deref()
            .unwrap_or("")
            .contains("No held plan was waiting"),
        "{}",
        format_report(&run)
    );
    assert_eq!(run.changes_applied, 0);
    assert_eq!(states(&lab), before);
    assert_eq!(lists(&lab), before_lists);
    // Now a plan is held: confirming it applies it.
    let again = engine.run(SyncKind::Full, CONFIRM).await;
    assert_succeeded(&again);
    assert!(again.changes_applied > 0);
}

/// Trials of [`killing_the_real_binary_mid_apply_loses_nothing`]: `CRASH_TRIALS`, else 20.
fn crash_trials() -> usize {
    std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

/// The real `exchange-connector-service sync --full`, killed with SIGKILL after a pseudo-random number
/// of its list writes reached the lab (or before any), then run again to the end, many times over, with
/// compliance changes between trials. After each recovery, from the lab: no targeted device whose
/// Intune record is not compliant is allowed (unless a hand-made allow entry exempts it), every
/// hand-made entry is still there, every other entry is owned by the connector, the journal is empty,
/// and no mailbox got more than one write per run. `CRASH_TRIALS=3 cargo test --test integration --
/// --ignored killing_the_real_binary` runs a few.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: starts the real binary twice per trial; CRASH_TRIALS sets the count (default 20)"]
async fn killing_the_real_binary_mid_apply_loses_nothing() {
    use exchange_connector::model::intune::{ComplianceState, ManagementAgent};
    use exchange_connector::policy::{ManagedIndex, Targeting};
    use exchange_connector::store::Store;
    let trials = crash_trials();
    let lab = generated_lab(40, 100, 21).await;
    let hand_made = lists(&lab);
    let connector = crate::worker::configure(&lab);
    let writes = |lab: &TestLab| -> u64 {
        lab.state
            .counters
            .mailbox_writes
            .lock()
            .unwrap()
            .values()
            .sum()
    };
    // Each write takes a little while, so a kill can land between the send and the settle.
    lab.state.faults().exchange_latency_ms = 15;
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n.max(1)
    };
    let mut runs = 0u64;
    for trial in 0..trials {
        // Work for this trial: a few devices change compliance.
        let ids: Vec<String> = lab
            .state
            .tenant()
            .managed_devices
            .iter()
            .filter_map(|d| d.eas_device_id.clone())
            .collect();
        for _ in 0..12 {
            let id = &ids[next(ids.len() as u64) as usize];
            let state = if next(2) == 0 {
                "noncompliant"
            } else {
                "compliant"
            };
            control(
                &lab,
                &format!("/managed-devices/{id}/compliance"),
                json!({ "complianceState": state }),
            )
            .await;
        }
        let kill_after = next(6);
        let start = writes(&lab);
        let mut child = connector
            .command()
            .args(["sync", "--full"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        runs += 1;
        loop {
            if writes(&lab) >= start + kill_after || child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        child.wait().unwrap();
        let open = Store::open(connector.config_dir().join("state.db"))
            .and_then(|s| s.open_journal_entries())
            .map(|e| e.len())
            .unwrap_or(0);
        println!(
            "trial {trial}: killed after {} writes{}; {open} changes left open",
            writes(&lab) - start,
            if finished { " (it had finished)" } else { "" }
        );
        connector.cli(&["sync", "--full"], None);
        runs += 1;

        // Checked from what the lab holds.
        let targeting = {
            let tenant = lab.state.tenant();
            let members = |groups: &[String]| -> Vec<String> {
                groups
                    .iter()
                    .flat_map(|g| tenant.transitive_members(g).0)
                    .collect()
            };
            Targeting::new(
                members(&lab.endpoints.policy.included_groups),
                members(&lab.endpoints.policy.excluded_groups),
            )
        };
        // The record Exchange's DeviceId joins to (the newest, as the connector joins them).
        let managed = lab.state.tenant().managed_devices.clone();
        let index = ManagedIndex::new(&managed);
        let not_compliant = |device_id: &str| {
            index.get(device_id).is_some_and(|d| {
                d.management_agent != Some(ManagementAgent::Eas)
                    && matches!(
                        d.compliance_state,
                        Some(
                            ComplianceState::Noncompliant
                                | ComplianceState::Conflict
                                | ComplianceState::Error
                        )
                    )
            })
        };
        let store = Store::open(connector.config_dir().join("state.db")).unwrap();
        assert!(
            store.open_journal_entries().unwrap().is_empty(),
            "trial {trial}: journal left open"
        );
        let org = lab.state.org();
        for m in &org.mailboxes {
            let (admin_allowed, admin_blocked) =
                hand_made.get(&m.cas.identity).cloned().unwrap_or_default();
            let owned = store.owned_set(&m.cas.identity).unwrap();
            for (list, current, admin) in [
                (
                    ListKind::Allow,
                    &m.cas.active_sync_allowed_device_ids,
                    &admin_allowed,
                ),
                (
                    ListKind::Block,
                    &m.cas.active_sync_blocked_device_ids,
                    &admin_blocked,
                ),
            ] {
                for e in admin {
                    assert!(
                        current.contains(e),
                        "trial {trial}: {}: hand-made {list} entry {e} lost",
                        m.cas.identity
                    );
                }
                for e in current.iter().filter(|e| !admin.contains(e)) {
                    assert!(
                        owned.contains(list, e),
                        "trial {trial}: {}: {list} entry {e} orphaned (not owned)",
                        m.cas.identity
                    );
                }
            }
            if !targeting.is_mailbox_targeted(&m.cas) || !m.cas.active_sync_enabled {
                continue;
            }
            for d in &m.devices {
                let id = &d.device.device_id;
                let exempt = admin_allowed.iter().any(|e| e.eq_ignore_ascii_case(id))
                    || admin_blocked.iter().any(|e| e.eq_ignore_ascii_case(id));
                if not_compliant(id) && !exempt {
                    assert_ne!(
                        d.device.device_access_state,
                        DeviceAccessState::Allowed,
                        "trial {trial}: {}/{id} is not compliant but allowed",
                        m.cas.identity
                    );
                }
            }
        }
    }
    // At most one Set-CASMailbox per mailbox per run (no write repeated, none lost in a loop).
    let counters = crate::common::control_get(&lab.endpoints, "/counters").await;
    let per_mailbox = counters["mailboxWrites"].as_object().unwrap();
    assert!(!per_mailbox.is_empty());
    for (mailbox, n) in per_mailbox {
        let n = n.as_u64().unwrap();
        assert!(n <= runs, "{mailbox}: {n} writes in {runs} runs");
    }
    lab.shutdown().await;
}
