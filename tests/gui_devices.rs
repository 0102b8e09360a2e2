//! The status page's devices, as an admin uses them (egui_kittest + AccessKit): the device table by
//! user and phone, search and state filter, the "why" panel with *Sync this user now*, and the plan
//! the mass-change guard holds listed before *Confirm* — against a real worker on the lab, and
//! snapshots in English, French and Dutch against a worker stand-in with fixed data and a stopped
//! clock. The accessibility check is on in every test.
//!
//! Update images with `UPDATE_SNAPSHOTS=1 cargo test --test gui_devices`.

#[path = "gui_support/mod.rs"]
mod gui_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use exchange_connector::gui::devices::Clock;
use exchange_connector::gui::i18n::Lang;
use exchange_connector::gui::lab_demo;
use exchange_connector::gui::status::{self, StatusPage};
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::server::{LabOptions, RunningLab, start};
use exchange_connector::model::exchange::{DeviceAccessState, DeviceAccessStateReason};
use exchange_connector::model::intune::ExchangeAccessStateReason;
use exchange_connector::policy::{Decision, DesiredAccess, ReasonCode};
use exchange_connector::service::channel::{ChannelAddress, ChannelHandler, serve};
use exchange_connector::service::messages::{
    Connection, DeviceLookup, DevicePage, LookupReply, ProgressEvent, Reply, Request, StatusReply,
    SyncKind,
};
use exchange_connector::store::{DecisionRecord, InventoryRecord};
use exchange_connector::sync::{HeldDevice, HeldPlan, PlanSummary, StatusReport};
use tokio::sync::{broadcast, watch};

const LAB: &str = env!("CARGO_BIN_EXE_exchange-connector-lab");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A status page on its own, as the app draws it, with a language.
struct PageState {
    page: StatusPage,
    rt: tokio::runtime::Handle,
    lang: Lang,
}

fn page_harness(
    page: StatusPage,
    rt: &tokio::runtime::Runtime,
    lang: Lang,
    size: [f32; 2],
) -> Harness<'static, PageState> {
    let state = PageState {
        page,
        rt: rt.handle().clone(),
        lang,
    };
    Harness::builder().with_size(size).build_ui_state(
        |ui, s: &mut PageState| {
            let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {});
            let rt = s.rt.clone();
            s.page.update(&rt, repaint.clone());
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| status::ui(ui, &mut s.page, &rt, repaint, s.lang));
        },
        state,
    )
}

/// Steps the UI (spinners repaint forever, so `run` would not settle) until `done` or a deadline.
fn wait_until(
    h: &mut Harness<'_, PageState>,
    what: &str,
    seconds: u64,
    done: impl Fn(&StatusPage) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        h.step();
        if done(&h.state().page) {
            h.step();
            h.step();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            h.state().page
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

// ---- a worker stand-in with fixed data ----

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn device(
    mailbox: &str,
    name: &str,
    id: &str,
    [model, kind, os]: [&str; 3],
    state: DeviceAccessState,
    decision: Option<(DesiredAccess, ReasonCode)>,
) -> DeviceLookup {
    DeviceLookup {
        device: InventoryRecord {
            mailbox: mailbox.into(),
            device_id: id.into(),
            device_type: kind.into(),
            device_model: Some(model.into()),
            first_seen: at("2026-11-01T08:00:00Z"),
            last_seen: at("2026-11-23T12:00:00Z"),
            access_state: state,
            access_reason: DeviceAccessStateReason::Individual,
            user_display_name: Some(name.into()),
            device_os: Some(os.into()),
            client_version: Some("16.1".into()),
            eas_protocol_refused: false,
        },
        decision: decision.map(|(desired, code)| DecisionRecord {
            mailbox: mailbox.into(),
            device_id: id.into(),
            decision: Decision {
                desired,
                reason: ExchangeAccessStateReason::Unknown,
                explanation: "English explanation".into(),
                code,
            },
            decided_at: at("2026-11-23T12:00:00Z"),
            applied_at: Some(at("2026-11-23T12:00:04Z")),
            run_id: None,
        }),
    }
}

fn devices() -> Vec<DeviceLookup> {
    use DeviceAccessState as S;
    vec![
        device(
            "imartin",
            "Inès Martin",
            "3C411908A9659DE3A669DF1338B12424",
            ["Pixel 8", "Android", "Android 14"],
            S::Blocked,
            Some((DesiredAccess::Block, ReasonCode::NotEnrolled)),
        ),
        device(
            "imartin",
            "Inès Martin",
            "APPLEIPAD000001",
            ["iPad Air", "iPad", "iOS 17.4"],
            S::Allowed,
            Some((
                DesiredAccess::Allow,
                ReasonCode::Compliant {
                    record: "5f1c-md-0042".into(),
                },
            )),
        ),
        device(
            "jdevries",
            "Jan de Vries",
            "SAMSUNGS23000007",
            ["SM-S911B", "Android", "Android 13"],
            S::Quarantined,
            Some((
                DesiredAccess::Quarantine,
                ReasonCode::NotCompliant {
                    record: "9a0b-md-0107".into(),
                    state: "noncompliant".into(),
                },
            )),
        ),
        device(
            "cdubois",
            "Chloé Dubois",
            "IPHONE15PRO00003",
            ["iPhone 15 Pro", "iPhone", "iOS 17.5"],
            S::Allowed,
            Some((DesiredAccess::Allow, ReasonCode::AdminAllowList)),
        ),
        device(
            "pjanssens",
            "Pieter Janssens",
            "OUTLOOKANDROID09",
            ["Outlook for Android", "Outlook", "Android 12"],
            S::Allowed,
            None,
        ),
    ]
}

fn held_plan() -> HeldPlan {
    let held = |mailbox: &str, name: &str, id: &str, model: &str, after, code| HeldDevice {
        mailbox: mailbox.into(),
        user_display_name: Some(name.into()),
        device_id: id.into(),
        model: model.into(),
        before: if after == DeviceAccessState::Allowed {
            DeviceAccessState::Blocked
        } else {
            DeviceAccessState::Allowed
        },
        after,
        code,
    };
    use DeviceAccessState as S;
    HeldPlan {
        held_at: at("2026-11-23T12:10:00Z"),
        kind: SyncKind::Full,
        message: "The plan would block or quarantine 3 of the 10 devices allowed now".into(),
        summary: PlanSummary {
            mailboxes: 4,
            entries: 4,
            restricted: 3,
            allowed_now: 10,
            released: 1,
            restricted_now: 6,
            changes: Vec::new(),
        },
        devices: vec![
            held(
                "imartin",
                "Inès Martin",
                "3C411908A9659DE3A669DF1338B12424",
                "Pixel 8",
                S::Blocked,
                ReasonCode::NotEnrolled,
            ),
            held(
                "tpeeters",
                "Tom Peeters",
                "HUAWEIP30000001",
                "P30",
                S::Blocked,
                ReasonCode::NotEnrolled,
            ),
            held(
                "jdevries",
                "Jan de Vries",
                "SAMSUNGS23000007",
                "SM-S911B",
                S::Quarantined,
                ReasonCode::NotCompliant {
                    record: "9a0b-md-0107".into(),
                    state: "noncompliant".into(),
                },
            ),
            held(
                "cdubois",
                "Chloé Dubois",
                "IPHONE15PRO00003",
                "iPhone 15 Pro",
                S::Allowed,
                ReasonCode::Compliant {
                    record: "77c2-md-0003".into(),
                },
            ),
        ],
    }
}

struct FakeWorker {
    events: broadcast::Sender<ProgressEvent>,
    held: bool,
}

impl ChannelHandler for FakeWorker {
    async fn handle(&self, request: Request) -> Reply {
        match request {
            Request::Status => Reply::Status(Box::new(StatusReply {
                connection: Connection::Connected,
                report: Ok(StatusReport {
                    devices_by_state: [("Allowed".to_string(), 3), ("Blocked".to_string(), 1)]
                        .into(),
                    held_plan: self.held.then(held_plan),
                    ..StatusReport::default()
                }),
                ..StatusReply::default()
            })),
            Request::Devices { offset, limit } => {
                // Pages of two, so the panel must follow them.
                let all = devices();
                let page: Vec<_> = all
                    .iter()
                    .skip(offset)
                    .take(limit.min(2))
                    .cloned()
                    .collect();
                Reply::Devices(DevicePage {
                    total: all.len(),
                    offset,
                    devices: page,
                })
            }
            Request::LookupUser { user } => Reply::LookupUser(LookupReply {
                devices: devices()
                    .into_iter()
                    .filter(|d| d.device.mailbox == user)
                    .collect(),
                user,
            }),
            Request::SyncUser { .. } => Reply::Accepted {
                message: "quick sync started".into(),
            },
            _ => Reply::Error {
                message: "not supported by the fake".into(),
            },
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.events.subscribe()
    }
}

/// A fake worker serving on a socket in `dir`, until the returned sender is dropped.
fn fake_worker(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    held: bool,
) -> (ChannelAddress, watch::Sender<bool>) {
    let address = ChannelAddress(dir.join("worker.sock").display().to_string());
    let (events, _) = broadcast::channel(4);
    let worker = Arc::new(FakeWorker { events, held });
    let (stop, stopped) = watch::channel(false);
    let serving = address.clone();
    rt.spawn(async move { serve(&serving, worker, stopped).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(&address.0).exists() {
        assert!(Instant::now() < deadline, "the fake worker never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (address, stop)
}

/// A page on the fake worker with a stopped clock (UTC+1), loaded.
fn fake_page(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    held: bool,
    lang: Lang,
) -> (Harness<'static, PageState>, watch::Sender<bool>) {
    let (address, stop) = fake_worker(rt, dir, held);
    let mut page = StatusPage::new(address);
    page.devices.clock = Clock::fixed(
        at("2026-11-23T12:15:00Z"),
        FixedOffset::east_opt(3600).unwrap(),
    );
    let mut h = page_harness(page, rt, lang, [1024.0, 900.0]);
    wait_until(&mut h, "the devices", 20, |p| {
        p.view.is_some() && p.devices.rows.len() == 5
    });
    (h, stop)
}

#[test]
fn the_table_names_users_and_phones_sorts_filters_and_searches() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _stop) = fake_page(&rt, dir.path(), false, Lang::En);
    h.get_by_label("Devices").click();
    h.step();
    h.step();
    // Names, phones, states and reasons in words; times local with their age.
    h.get_by_label("Pixel 8 / Android / Android 14");
    assert!(h.query_all_by_label("Inès Martin").count() >= 2);
    h.get_by_label_contains("Not enrolled: no Intune record");
    h.get_by_label_contains(
        "Not compliant in Intune: compliance state noncompliant (record 9a0b-md-0107).",
    );
    assert!(h.query_all_by_label("15 minutes ago").count() >= 4);
    h.get_by_label("No decision yet");
    h.get_by_label("5 of 5 devices");

    // Sorted by user: Chloé first; again: descending.
    let order = |h: &Harness<'_, PageState>| -> Vec<String> {
        h.state()
            .page
            .devices
            .visible_rows(Lang::En)
            .iter()
            .map(|r| r.user.clone())
            .collect()
    };
    assert_eq!(order(&h)[0], "Chloé Dubois");
    h.get_by_label_contains("User").click();
    h.step();
    h.step();
    assert_eq!(order(&h)[0], "Pieter Janssens");

    // Search by device.
    h.get_by_label("Search").focus();
    h.step();
    h.get_by_label("Search").type_text("pixel");
    h.step();
    h.step();
    h.get_by_label("1 of 5 devices");

    // Filter by state.
    h.state_mut().page.devices.search.clear();
    h.get_by_label("Exchange state").click();
    h.step();
    h.get_by_label("Quarantined").click();
    h.step();
    h.step();
    h.get_by_label("1 of 5 devices");
    assert_eq!(order(&h), ["Jan de Vries"]);
    h.check_accessibility();
}

#[test]
fn a_row_opens_the_why_panel_and_syncs_the_user() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _stop) = fake_page(&rt, dir.path(), false, Lang::Fr);
    h.get_by_label("Appareils").click();
    h.step();
    h.step();
    h.get_by_label("Jan de Vries").click();
    wait_until(&mut h, "the look-up", 20, |p| {
        p.devices.why.as_ref().is_some_and(|w| w.answer.is_some())
    });
    h.get_by_label("Pourquoi : Jan de Vries (jdevries)");
    // The reason in the panel (and in the table's row).
    let reason =
        "Non conforme dans Intune : état de conformité noncompliant (enregistrement 9a0b-md-0107).";
    assert_eq!(h.query_all_by_label(reason).count(), 2);
    h.get_by_label("Synchroniser cet utilisateur").click();
    wait_until(&mut h, "the sync answer", 20, |p| {
        p.devices.why.as_ref().is_some_and(|w| w.sync.is_some())
    });
    h.get_by_label_contains("La synchronisation des appareils de");
    h.check_accessibility();
}

#[test]
fn the_held_plan_lists_its_devices_by_reason_before_confirm() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _stop) = fake_page(&rt, dir.path(), true, Lang::En);
    h.get_by_label_contains(
        "would block or quarantine 3 of the 10 devices allowed now, and allow 1 of the 6",
    );
    // Grouped by reason, restrictions first, with counts.
    h.get_by_label_contains("Blocked or quarantined (2): Not enrolled");
    h.get_by_label_contains("Blocked or quarantined (1): Not compliant in Intune");
    h.get_by_label_contains("Allowed again (1): Enrolled in Intune and compliant");
    // Confirm names the number it applies: restricted + released.
    h.get_by_label("Confirm: apply to 4 devices");
    let groups = |h: &Harness<'_, PageState>, search: &str| {
        h.state()
            .page
            .view
            .as_ref()
            .unwrap()
            .held
            .as_ref()
            .unwrap()
            .groups(Lang::En, search)
    };
    assert_eq!(groups(&h, "").len(), 3);
    h.get_by_label("Search the plan").focus();
    h.step();
    h.get_by_label("Search the plan").type_text("peeters");
    h.step();
    h.step();
    let found = groups(&h, &h.state().page.held_search.clone());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].devices[0].device_id, "HUAWEIP30000001");
    h.get_by_label_contains("Blocked or quarantined (1): Not enrolled")
        .click();
    h.step();
    h.step();
    h.get_by_label("Tom Peeters");
    h.get_by_label("Allowed -> Blocked");
    h.check_accessibility();
}

#[test]
fn snapshots_of_the_device_table_why_panel_and_held_plan_in_each_language() {
    let rt = runtime();
    let mut results = egui_kittest::SnapshotResults::new();
    for (lang, tag, devices_tab, first_group) in [
        (Lang::En, "en", "Devices", "Blocked or quarantined (2)"),
        (Lang::Fr, "fr", "Appareils", "Bloqués ou en quarantaine (2)"),
        (
            Lang::Nl,
            "nl",
            "Apparaten",
            "Geblokkeerd of in quarantaine (2)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut h, _stop) = fake_page(&rt, dir.path(), true, lang);
        h.get_by_label_contains(first_group).click();
        h.step();
        h.step();
        h.check_accessibility();
        results.add(h.try_snapshot(format!("held_plan_{tag}")));
        h.get_by_label(devices_tab).click();
        h.step();
        h.step();
        h.check_accessibility();
        results.add(h.try_snapshot(format!("device_table_{tag}")));
        h.query_all_by_label("Inès Martin").next().unwrap().click();
        wait_until(&mut h, "the look-up", 20, |p| {
            p.devices.why.as_ref().is_some_and(|w| w.answer.is_some())
        });
        h.check_accessibility();
        results.add(h.try_snapshot(format!("why_panel_{tag}")));
    }
}

// ---- against the lab, with a real worker ----

/// The first full sync of a real worker on the lab is held by a guard set to 1%: the page lists the
/// plan's devices by reason, *Confirm* applies them, and the device table then names every user and
/// phone with the decision's reason; a row's "why" is the worker's live look-up, and *Sync this user
/// now* queues a sync.
#[test]
fn a_real_worker_held_plan_confirmed_then_its_devices_and_why() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let lab: RunningLab = rt
        .block_on(start(LabOptions {
            scenario: Scenario::small(),
            dir: dir.path().join("lab"),
        }))
        .unwrap();
    let env = lab_demo::env(&lab.endpoints, LAB.as_ref(), dir.path());
    // The guard at 1%: the first full sync is held.
    let _worker = gui_support::start_lab_worker(&env, &lab, dir.path(), 1.0, 3600);
    let mut page = StatusPage::new(env.channel.clone());
    page.poll_every = Duration::from_millis(300);
    let mut h = page_harness(page, &rt, Lang::En, [1100.0, 1400.0]);

    wait_until(&mut h, "the held plan", 180, |p| {
        p.view.as_ref().is_some_and(|v| v.held.is_some())
    });
    let held = h.state().page.view.as_ref().unwrap().held.clone().unwrap();
    assert!(!held.devices.is_empty(), "{held:?}");
    assert!(
        held.devices
            .iter()
            .all(|d| d.code != ReasonCode::Unrecorded),
        "{held:?}"
    );
    let groups = held.groups(Lang::En, "");
    let listed: usize = groups.iter().map(|g| g.devices.len()).sum();
    assert_eq!(listed, held.devices.len());
    let confirm = format!("Confirm: apply to {} devices", held.applies_to());
    for group in &groups {
        let direction = if group.restricts {
            "Blocked or quarantined"
        } else {
            "Allowed again"
        };
        h.get_by_label(&format!(
            "{direction} ({}): {}",
            group.devices.len(),
            group.reason
        ));
    }
    h.check_accessibility();
    h.get_by_label(&confirm).click();
    wait_until(
        &mut h,
        "the confirmed plan applied and the devices loaded",
        180,
        |p| {
            p.view
                .as_ref()
                .is_some_and(|v| v.held.is_none() && v.last_full.is_some())
                && p.devices.rows.iter().any(|r| r.decision.is_some())
        },
    );

    h.get_by_label("Devices").click();
    h.step();
    h.step();
    let row = h
        .state()
        .page
        .devices
        .rows
        .iter()
        .find(|r| r.decision.is_some() && r.user != r.mailbox)
        .cloned()
        .unwrap_or_else(|| panic!("no named device: {:?}", h.state().page.devices.rows));
    assert!(row.phone.contains(" / "), "{row:?}");
    assert_ne!(row.code, ReasonCode::Unrecorded, "{row:?}");
    h.state_mut().page.devices.search = row.device_id.clone();
    h.step();
    h.step();
    h.get_by_label(&row.user).click();
    wait_until(&mut h, "the look-up", 60, |p| {
        p.devices.why.as_ref().is_some_and(|w| w.answer.is_some())
    });
    let why = h.state().page.devices.why.clone().unwrap();
    let answer = why.answer.unwrap().unwrap();
    assert!(
        answer
            .devices
            .iter()
            .any(|d| d.device.device_id == row.device_id)
    );
    h.get_by_label(&format!("Why: {} ({})", row.user, row.mailbox));
    h.get_by_label("Sync this user now").click();
    wait_until(&mut h, "the sync answer", 60, |p| {
        p.devices.why.as_ref().is_some_and(|w| w.sync.is_some())
    });
    let sync = h
        .state()
        .page
        .devices
        .why
        .as_ref()
        .unwrap()
        .sync
        .clone()
        .unwrap();
    assert!(sync.is_ok(), "{sync:?}");
    h.get_by_label_contains("The sync of");
    h.check_accessibility();
}
