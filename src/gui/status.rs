//! The status page: what the worker reports over the control channel, the sync buttons with live
//! progress, the run held by the mass-change guard, and a user look-up.
//!
//! The worker's [`StatusReply`] is typed (`service::messages`); [`StatusView`] keeps what the page
//! draws, typed, and the drawing renders it in the admin's language (states, outcomes, reasons, the
//! held plan). *Look up a user* opens the device panel's "why" look-up (`LookupUser`); the *Devices*
//! tab is [`crate::gui::devices`]. The plan the guard holds is listed device by device before
//! *Confirm*, grouped by reason.

use crate::gui::devices::{self, Clock, DevicesPanel, fill, reason_text, state_text};
use crate::gui::i18n::{Lang, coded_text, tr};
use crate::policy::ListKind;
use crate::service::channel::{ChannelAddress, ChannelClient, ChannelError};
use crate::service::messages::{
    Connection, LookupReply, ProgressEvent, Reply, Request, RunPhase, StatusReply, SyncKind,
};
use crate::store::{ChangeOp, RunOutcome};
use crate::sync::cli::RunSummary;
use crate::sync::{HeldDevice, PlanSummary};
use crate::text_code::TextCode;
use chrono::{DateTime, Utc};
use eframe::egui;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A run as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    /// When it ran (RFC 3339, UTC).
    pub when: String,
    /// When it ran.
    pub at: DateTime<Utc>,
    /// How long it took, in seconds.
    pub duration_seconds: Option<f64>,
    /// Its outcome.
    pub outcome: RunOutcome,
}

/// One access change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeView {
    /// The mailbox user.
    pub user: String,
    /// The device.
    pub device: String,
    /// Added to or removed from.
    pub op: ChangeOp,
    /// Which list.
    pub list: ListKind,
    /// Exchange refused it.
    pub refused: bool,
    /// Why (the audit trail's words).
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The plan the guard holds, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldView {
    /// The kind of the run that held it.
    pub kind: SyncKind,
    /// When.
    pub held_at: DateTime<Utc>,
    /// Its figures (full counts).
    pub summary: PlanSummary,
    /// The devices it would block, quarantine or release (capped).
    pub devices: Vec<HeldDevice>,
    /// The guard's own message (English, for the hover).
    pub message: String,
}

impl HeldView {
    /// How many devices *Confirm* changes: those blocked or quarantined and those released.
    pub fn applies_to(&self) -> usize {
        self.summary.restricted + self.summary.released
    }

    /// The devices matching `search` (user, mailbox, phone or DeviceId), grouped: restrictions first,
    /// then by reason in words; each group with its devices.
    pub fn groups(&self, lang: Lang, search: &str) -> Vec<HeldGroup> {
        let needle = search.trim().to_lowercase();
        let mut groups: Vec<HeldGroup> = Vec::new();
        for d in &self.devices {
            let fields = [
                d.user_display_name.as_deref().unwrap_or_default(),
                &d.mailbox,
                &d.model,
                &d.device_id,
            ];
            if !needle.is_empty() && !fields.iter().any(|f| f.to_lowercase().contains(&needle)) {
                continue;
            }
            let mut reason = reason_text(lang, &d.code, "");
            // One group per reason, not per Intune record: each device has its own record's id.
            for (name, value) in d.code.params() {
                if name == "record" && !value.is_empty() {
                    reason = reason.replace(&value, "…");
                }
            }
            let restricts = d.restricts();
            match groups
                .iter_mut()
                .find(|g| g.restricts == restricts && g.reason == reason)
            {
                Some(g) => g.devices.push(d.clone()),
                None => groups.push(HeldGroup {
                    restricts,
                    reason,
                    devices: vec![d.clone()],
                }),
            }
        }
        groups.sort_by(|a, b| {
            b.restricts
                .cmp(&a.restricts)
                .then(b.devices.len().cmp(&a.devices.len()))
                .then_with(|| a.reason.cmp(&b.reason))
        });
        groups
    }
}

/// Devices of a held plan that share a direction and a reason.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldGroup {
    /// Blocked or quarantined (else released).
    pub restricts: bool,
    /// The reason in words.
    pub reason: String,
    /// Its devices.
    pub devices: Vec<HeldDevice>,
}

/// The status report as the page shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusView {
    /// Connection state, if reported.
    pub connection: Option<Connection>,
    /// The Exchange server in use.
    pub exchange_server: Option<String>,
    /// After a failover: the primary it replaced.
    pub failover: Option<String>,
    /// The last successful quick sync.
    pub last_quick: Option<RunView>,
    /// The last successful full sync.
    pub last_full: Option<RunView>,
    /// Devices by state.
    pub devices: Vec<(String, u64)>,
    /// Recent access changes.
    pub recent: Vec<ChangeView>,
    /// The plan the guard holds.
    pub held: Option<HeldView>,
    /// What the admin should act on: the certificate's expiry, a refused Intune registration.
    pub warnings: Vec<crate::text_code::TextCode>,
    /// Decisions of the last full sync of each recent day, oldest first.
    pub history: Vec<(String, Vec<(String, u64)>)>,
}

impl RunView {
    fn from_run(run: &RunSummary) -> RunView {
        RunView {
            when: run.started_at.to_rfc3339(),
            at: run.started_at,
            duration_seconds: run.duration_seconds,
            outcome: run.outcome,
        }
    }
}

/// What the page knew when a button was pressed, to tell when the run it started is over.
#[derive(Debug)]
struct RunsSinceRequest {
    /// The start times of the last quick and full syncs then.
    last_runs: [Option<String>; 2],
    /// A run has ended (its progress said so) since.
    run_ended: bool,
}

/// The start times of the last quick and full syncs a report names.
fn last_runs(view: Option<&StatusView>) -> [Option<String>; 2] {
    let when = |run: Option<&RunView>| run.map(|r| r.when.clone());
    [
        when(view.and_then(|v| v.last_quick.as_ref())),
        when(view.and_then(|v| v.last_full.as_ref())),
    ]
}

/// The worker's sentences as the page's font draws them: decisions explain themselves with `→`, a
/// glyph egui's built-in fonts lack (it would show as a box).
fn drawable(text: &str) -> String {
    text.replace('→', "->")
}

impl StatusView {
    /// The texts and counts of a status reply.
    pub fn from_status(status: &StatusReply) -> StatusView {
        let report = status.report.as_ref().ok();
        StatusView {
            connection: Some(status.connection.clone()),
            exchange_server: status.exchange_server.as_ref().map(|e| e.server.clone()),
            failover: status
                .exchange_server
                .as_ref()
                .and_then(|e| e.failed_over_from.clone()),
            last_quick: report
                .and_then(|r| r.last_quick_sync.as_ref())
                .map(RunView::from_run),
            last_full: report
                .and_then(|r| r.last_full_sync.as_ref())
                .map(RunView::from_run),
            devices: report
                .map(|r| {
                    r.devices_by_state
                        .iter()
                        .map(|(state, n)| (state.clone(), *n))
                        .collect()
                })
                .unwrap_or_default(),
            recent: status
                .recent_changes
                .iter()
                .map(|c| ChangeView {
                    user: c.entry.mailbox.clone(),
                    device: c.entry.device_id.clone(),
                    op: c.entry.op,
                    list: c.entry.list,
                    refused: c.entry.error.is_some(),
                    reason: drawable(c.entry.error.as_ref().unwrap_or(&c.entry.reason)),
                    at: c.at,
                })
                .collect(),
            held: report.and_then(|r| r.held_plan.as_ref()).map(|h| HeldView {
                kind: h.kind,
                held_at: h.held_at,
                summary: h.summary.clone(),
                devices: h.devices.clone(),
                message: drawable(&h.message),
            }),
            warnings: status.warnings(),
            history: status
                .history
                .iter()
                .map(|d| {
                    let decisions = d.decisions.iter().map(|(k, n)| (k.clone(), *n)).collect();
                    (d.day.to_string(), decisions)
                })
                .collect(),
        }
    }
}

/// Whether the worker answers.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerState {
    /// Not asked yet.
    Unknown,
    /// It answered.
    Running,
    /// It does not listen (the message says where it was looked for).
    NotRunning(TextCode),
    /// It listens but the request failed.
    Error(TextCode),
}

enum Event {
    Status(Result<Box<StatusReply>, (bool, TextCode)>),
    Reply((bool, TextCode)),
    Progress(ProgressEvent),
    SubscriptionEnded,
}

/// The status page's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusTab {
    /// Connection, last syncs, buttons, the held plan, charts, recent changes.
    #[default]
    Overview,
    /// The device table and the "why" panel.
    Devices,
}

/// The status page's state.
pub struct StatusPage {
    /// The last report.
    pub view: Option<StatusView>,
    /// The worker.
    pub worker: WorkerState,
    /// The last progress event of a running sync.
    pub progress: Option<ProgressEvent>,
    /// The worker's answer to the last button: whether it accepted, and its words (coded: shown in
    /// the GUI's language after a translated sentence).
    pub message: Option<(bool, TextCode)>,
    /// The look-up box.
    pub lookup: String,
    /// The tab shown.
    pub tab: StatusTab,
    /// The device table and the "why" panel.
    pub devices: DevicesPanel,
    /// The search box of the held plan's devices.
    pub held_search: String,
    /// Since the last button: the runs the report named then, and whether a run has ended since. An
    /// accepted answer ("Quick sync started.") goes once its run is over, so it never outlives it.
    since_request: Option<RunsSinceRequest>,
    address: ChannelAddress,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    last_poll: Option<Instant>,
    subscribed: bool,
    devices_loaded: bool,
    /// Poll the status this often.
    pub poll_every: Duration,
}

impl std::fmt::Debug for StatusPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusPage")
            .field("worker", &self.worker)
            .field("view", &self.view)
            .field("devices", &self.devices)
            .finish()
    }
}

impl StatusPage {
    /// A page talking to the worker at `address`.
    pub fn new(address: ChannelAddress) -> StatusPage {
        let (tx, rx) = mpsc::channel();
        StatusPage {
            view: None,
            worker: WorkerState::Unknown,
            progress: None,
            message: None,
            lookup: String::new(),
            tab: StatusTab::default(),
            devices: DevicesPanel::new(address.clone()),
            held_search: String::new(),
            since_request: None,
            address,
            tx,
            rx,
            last_poll: None,
            subscribed: false,
            devices_loaded: false,
            poll_every: Duration::from_secs(5),
        }
    }

    /// Asks for the status now.
    pub fn refresh(&mut self, rt: &tokio::runtime::Handle, repaint: Arc<dyn Fn() + Send + Sync>) {
        self.last_poll = Some(Instant::now());
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let result = async {
                let mut client = ChannelClient::connect(&address).await?;
                client.request(&Request::Status).await
            }
            .await;
            let event = match result {
                Ok(Reply::Status(status)) => Event::Status(Ok(status)),
                Ok(Reply::Error { message }) => Event::Status(Err((false, message))),
                Ok(other) => {
                    Event::Status(Err((false, format!("unexpected answer: {other:?}").into())))
                }
                Err(ChannelError::NotRunning { .. }) => Event::Status(Err((
                    true,
                    crate::coded!(
                        "st_worker_looked_for",
                        "looked for it at {address}",
                        address = address.0
                    ),
                ))),
                Err(e) => Event::Status(Err((false, e.to_string().into()))),
            };
            let _ = tx.send(event);
            repaint();
        });
    }

    fn subscribe(&mut self, rt: &tokio::runtime::Handle, repaint: Arc<dyn Fn() + Send + Sync>) {
        self.subscribed = true;
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            if let Ok(mut client) = ChannelClient::connect(&address).await {
                let mut reply = client.request(&Request::Subscribe).await;
                while let Ok(Reply::Progress(event)) = reply {
                    if tx.send(Event::Progress(event)).is_err() {
                        return;
                    }
                    repaint();
                    reply = client.next_reply().await;
                }
            }
            let _ = tx.send(Event::SubscriptionEnded);
            repaint();
        });
    }

    /// Sends a request whose answer is a sentence (sync, confirm, cancel).
    pub fn send(
        &mut self,
        rt: &tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
        request: Request,
    ) {
        self.since_request = Some(RunsSinceRequest {
            last_runs: last_runs(self.view.as_ref()),
            run_ended: false,
        });
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let result = async {
                let mut client = ChannelClient::connect(&address).await?;
                client.request(&request).await
            }
            .await;
            let text = match result {
                Ok(Reply::Accepted { message }) => (true, message),
                Ok(Reply::Error { message }) => (false, message),
                Ok(other) => (false, format!("{other:?}").into()),
                Err(e) => (false, e.to_string().into()),
            };
            let _ = tx.send(Event::Reply(text));
            repaint();
        });
    }

    /// Drops the worker's accepted answer once a run has ended since the button or the report names
    /// a newer run: "Quick sync started." under a finished run reads as if it still ran. A refusal
    /// stays (it announced nothing).
    fn forget_a_finished_runs_announcement(&mut self) {
        let Some(since) = &self.since_request else {
            return;
        };
        let over = since.run_ended || since.last_runs != last_runs(self.view.as_ref());
        if over && matches!(self.message, Some((true, _))) {
            self.message = None;
        }
    }

    /// Takes what arrived; polls when due; keeps a progress subscription while the worker runs; loads
    /// the devices once the worker answers and again after each run.
    pub fn update(&mut self, rt: &tokio::runtime::Handle, repaint: Arc<dyn Fn() + Send + Sync>) {
        let mut refresh = self
            .last_poll
            .is_none_or(|t| t.elapsed() >= self.poll_every);
        let mut reload_devices = false;
        while let Ok(event) = self.rx.try_recv() {
            match event {
                Event::Status(Ok(v)) => {
                    self.worker = WorkerState::Running;
                    self.view = Some(StatusView::from_status(&v));
                    reload_devices |= !self.devices_loaded;
                }
                Event::Status(Err((true, m))) => {
                    self.worker = WorkerState::NotRunning(m);
                    self.subscribed = false;
                }
                Event::Status(Err((false, m))) => self.worker = WorkerState::Error(m),
                Event::Reply(m) => {
                    self.message = Some(m);
                    refresh = true;
                }
                Event::Progress(p) => {
                    let finished = p.phase.is_over();
                    self.progress = (!finished).then_some(p);
                    if finished {
                        refresh = true;
                        reload_devices = true;
                        if let Some(since) = &mut self.since_request {
                            since.run_ended = true;
                        }
                    }
                }
                Event::SubscriptionEnded => self.subscribed = false,
            }
        }
        self.forget_a_finished_runs_announcement();
        self.devices.update();
        if reload_devices {
            self.devices_loaded = true;
            self.devices.load(rt, repaint.clone());
        }
        if refresh {
            self.refresh(rt, repaint.clone());
        }
        if self.worker == WorkerState::Running && !self.subscribed {
            self.subscribe(rt, repaint);
        }
    }

    /// Looks the user in the look-up box up: the device tab's "why" panel, asked live.
    pub fn do_lookup(&mut self, rt: &tokio::runtime::Handle, repaint: Arc<dyn Fn() + Send + Sync>) {
        let user = self.lookup.trim().to_string();
        if user.is_empty() {
            return;
        }
        self.tab = StatusTab::Devices;
        self.devices.open_why(rt, repaint, &user);
    }
}

/// One line per device of a look-up answer (English, for logs and the CLI): Exchange's state, the
/// connector's decision and why.
pub fn lookup_lines(answer: &LookupReply) -> Vec<String> {
    answer.devices.iter().map(|d| drawable(&d.line())).collect()
}

/// A run's outcome in words.
pub fn outcome_text(lang: Lang, outcome: RunOutcome) -> &'static str {
    tr(
        lang,
        match outcome {
            RunOutcome::Running => "outcome_running",
            RunOutcome::Succeeded => "outcome_succeeded",
            RunOutcome::Failed => "outcome_failed",
            RunOutcome::Held => "outcome_held",
            RunOutcome::DryRun => "outcome_dry_run",
        },
    )
}

/// The connection's state in words.
pub fn connection_text(lang: Lang, connection: &Connection) -> String {
    match connection {
        Connection::NotConnectedYet => tr(lang, "conn_not_connected_yet").into(),
        Connection::Configured => tr(lang, "conn_configured").into(),
        Connection::NotConfigured => tr(lang, "conn_not_configured").into(),
        Connection::Connected => tr(lang, "conn_connected").into(),
        Connection::Failed { error } => {
            fill(tr(lang, "conn_failed"), &[("error", drawable(error))])
        }
    }
}

/// A sync kind in words.
pub fn kind_text(lang: Lang, kind: SyncKind) -> &'static str {
    tr(
        lang,
        match kind {
            SyncKind::Quick => "kind_quick",
            SyncKind::Full => "kind_full",
        },
    )
}

fn phase_text(lang: Lang, phase: RunPhase) -> &'static str {
    tr(
        lang,
        match phase {
            RunPhase::Started => "phase_started",
            RunPhase::Reading => "phase_reading",
            RunPhase::Planning => "phase_planning",
            RunPhase::Applying => "phase_applying",
            RunPhase::Running => "phase_running",
            RunPhase::Stopping => "phase_stopping",
            RunPhase::Finished => "phase_finished",
            RunPhase::Failed => "phase_failed",
        },
    )
}

/// What an access change did, in words.
pub fn change_text(lang: Lang, change: &ChangeView) -> String {
    let access = tr(
        lang,
        match (change.op, change.list) {
            (ChangeOp::Add, ListKind::Allow) => "change_allowed",
            (ChangeOp::Add, ListKind::Block) => "change_blocked",
            (ChangeOp::Remove, ListKind::Allow) => "change_allow_removed",
            (ChangeOp::Remove, ListKind::Block) => "change_block_removed",
        },
    );
    match change.refused {
        true => fill(tr(lang, "change_refused"), &[("access", access.into())]),
        false => access.into(),
    }
}

fn run_text(r: &Option<RunView>, lang: Lang, clock: &Clock) -> String {
    match r {
        None => tr(lang, "never").to_string(),
        Some(r) => format!(
            "{} — {} — {}",
            clock.text(lang, r.at),
            r.duration_seconds
                .map(|d| format!("{d:.1} s"))
                .unwrap_or_else(|| "?".into()),
            outcome_text(lang, r.outcome)
        ),
    }
}

/// Every catalogue key the overview uses besides the device table's ([`devices::KEYS`]).
pub const KEYS: &[&str] = &[
    "reply_accepted",
    "reply_refused",
    "tab_overview",
    "tab_devices",
    "outcome_running",
    "outcome_succeeded",
    "outcome_failed",
    "outcome_held",
    "outcome_dry_run",
    "conn_not_connected_yet",
    "conn_configured",
    "conn_not_configured",
    "conn_connected",
    "conn_failed",
    "failed_over_from",
    "kind_quick",
    "kind_full",
    "phase_started",
    "phase_reading",
    "phase_planning",
    "phase_applying",
    "phase_running",
    "phase_stopping",
    "phase_finished",
    "phase_failed",
    "change_allowed",
    "change_blocked",
    "change_allow_removed",
    "change_block_removed",
    "change_refused",
    "held_title",
    "held_kind_quick",
    "held_kind_full",
    "held_summary",
    "held_not_listed",
    "held_search",
    "held_listed",
    "held_group_restrict",
    "held_group_release",
    "held_confirm",
    "cancel",
    "never",
    "nav_status",
    "worker_running",
    "worker_not_running",
    "start_worker",
    "connection_state",
    "exchange_server_in_use",
    "last_quick",
    "last_full",
    "quick_sync",
    "full_sync",
    "refresh",
    "devices_by_state",
    "history_title",
    "recent_changes",
    "no_changes",
    "lookup_user",
    "lookup",
    "lookup_none",
];

/// What the page asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusAction {
    /// Nothing.
    None,
    /// Start the worker.
    StartWorker,
}

/// Draws the page.
pub fn ui(
    ui: &mut egui::Ui,
    page: &mut StatusPage,
    rt: &tokio::runtime::Handle,
    repaint: Arc<dyn Fn() + Send + Sync>,
    lang: Lang,
) -> StatusAction {
    let mut action = StatusAction::None;
    ui.heading(tr(lang, "nav_status"));
    match &page.worker {
        WorkerState::Running => {
            ui.label(format!("✔ {}", tr(lang, "worker_running")));
        }
        WorkerState::Unknown => {
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label(tr(lang, "connection_state"));
            });
        }
        WorkerState::NotRunning(m) => {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "⚠ {} ({})",
                    tr(lang, "worker_not_running"),
                    coded_text(lang, m)
                ),
            );
            if ui.button(tr(lang, "start_worker")).clicked() {
                action = StatusAction::StartWorker;
            }
        }
        WorkerState::Error(m) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("✖ {}", coded_text(lang, m)),
            );
        }
    }
    ui.horizontal(|ui| {
        for (tab, key) in [
            (StatusTab::Overview, "tab_overview"),
            (StatusTab::Devices, "tab_devices"),
        ] {
            if ui
                .selectable_label(page.tab == tab, tr(lang, key))
                .clicked()
            {
                page.tab = tab;
            }
        }
    });
    ui.separator();
    match page.tab {
        StatusTab::Overview => overview(ui, page, rt, repaint, lang),
        StatusTab::Devices => devices::ui(ui, &mut page.devices, rt, repaint, lang),
    }
    action
}

fn overview(
    ui: &mut egui::Ui,
    page: &mut StatusPage,
    rt: &tokio::runtime::Handle,
    repaint: Arc<dyn Fn() + Send + Sync>,
    lang: Lang,
) {
    let clock = page.devices.clock;
    let view = page.view.clone().unwrap_or_default();
    for warning in &view.warnings {
        let warning = drawable(&super::i18n::coded_text(lang, warning));
        ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {warning}"));
    }
    egui::Grid::new("status_grid")
        .num_columns(2)
        .spacing([24.0, 6.0])
        .show(ui, |ui| {
            ui.label(tr(lang, "connection_state"));
            ui.label(
                view.connection
                    .as_ref()
                    .map_or_else(|| "—".into(), |c| connection_text(lang, c)),
            );
            ui.end_row();
            ui.label(tr(lang, "exchange_server_in_use"));
            let mut server = view.exchange_server.clone().unwrap_or_else(|| "—".into());
            if let Some(primary) = &view.failover {
                let failover = fill(
                    tr(lang, "failed_over_from"),
                    &[("primary", primary.clone())],
                );
                server.push_str(&format!(" ({failover})"));
            }
            ui.label(server);
            ui.end_row();
            for (key, run) in [
                ("last_quick", &view.last_quick),
                ("last_full", &view.last_full),
            ] {
                ui.label(tr(lang, key));
                let label = ui.label(run_text(run, lang, &clock));
                if let Some(r) = run {
                    label.on_hover_text(Clock::utc(r.at));
                }
                ui.end_row();
            }
        });
    ui.add_space(6.0);
    let running = page.worker == WorkerState::Running;
    ui.horizontal(|ui| {
        for (kind, key) in [
            (SyncKind::Quick, "quick_sync"),
            (SyncKind::Full, "full_sync"),
        ] {
            if ui
                .add_enabled(running, egui::Button::new(tr(lang, key)))
                .clicked()
            {
                page.send(
                    rt,
                    repaint.clone(),
                    Request::Sync {
                        kind,
                        dry_run: false,
                    },
                );
            }
        }
        if ui.button(tr(lang, "refresh")).clicked() {
            page.refresh(rt, repaint.clone());
        }
    });
    if let Some(p) = &page.progress {
        let fraction = p.total.filter(|t| *t > 0).map(|t| p.done as f32 / t as f32);
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            ui.label(format!(
                "{} — {}",
                kind_text(lang, p.kind),
                phase_text(lang, p.phase)
            ))
            .on_hover_text(coded_text(lang, &p.message));
        });
        if let Some(f) = fraction {
            ui.add(egui::ProgressBar::new(f).show_percentage());
        }
    }
    if let Some((accepted, words)) = &page.message {
        ui.horizontal_wrapped(|ui| {
            ui.label(tr(
                lang,
                if *accepted {
                    "reply_accepted"
                } else {
                    "reply_refused"
                },
            ));
            ui.weak(coded_text(lang, words));
        });
    }
    if let Some(held) = &view.held {
        ui.separator();
        if let Some(request) = held_ui(ui, held, &mut page.held_search, lang, &clock) {
            page.send(rt, repaint.clone(), request);
        }
    }
    ui.separator();
    ui.strong(tr(lang, "devices_by_state"));
    let devices: Vec<(String, u64)> = view
        .devices
        .iter()
        .map(|(state, n)| (devices::state_word_text(lang, state), *n))
        .collect();
    devices_chart(ui, &devices, &view.devices);
    if !view.history.is_empty() {
        ui.add_space(4.0);
        ui.label(tr(lang, "history_title"));
        history_chart(ui, &view.history, lang);
    }
    ui.separator();
    ui.strong(tr(lang, "recent_changes"));
    if view.recent.is_empty() {
        ui.label(tr(lang, "no_changes"));
    } else {
        recent_changes(ui, &view.recent, &page.devices, lang, &clock);
    }
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        let label = ui.label(tr(lang, "lookup_user"));
        let r = ui
            .add(egui::TextEdit::singleline(&mut page.lookup).desired_width(240.0))
            .labelled_by(label.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button(tr(lang, "lookup")).clicked() || enter {
            page.do_lookup(rt, repaint.clone());
        }
    });
}

/// The recent changes, named as the device table names them ("Inès Martin — Pixel 8") when it has
/// the device, with the reason of its decision in words.
fn recent_changes(
    ui: &mut egui::Ui,
    recent: &[ChangeView],
    panel: &DevicesPanel,
    lang: Lang,
    clock: &Clock,
) {
    // The reason, last, is cut at the panel's right edge (whole on hover): the grid's own column
    // width would cut it to its narrowest.
    let right = ui.max_rect().right();
    egui::Grid::new("changes").striped(true).show(ui, |ui| {
        for c in recent.iter().take(20) {
            let row = panel.rows.iter().find(|r| {
                r.mailbox.eq_ignore_ascii_case(&c.user)
                    && r.device_id.eq_ignore_ascii_case(&c.device)
            });
            ui.label(clock.text(lang, c.at))
                .on_hover_text(Clock::utc(c.at));
            match row {
                Some(r) => {
                    ui.label(&r.user).on_hover_text(&c.user);
                    ui.label(&r.phone).on_hover_text(&c.device);
                }
                None => {
                    ui.label(&c.user);
                    ui.label(&c.device);
                }
            }
            ui.label(change_text(lang, c));
            let reason = match row.filter(|r| r.decision.is_some() && !c.refused) {
                Some(r) => r.reason_text(lang),
                None => c.reason.clone(),
            };
            let width = (right - ui.cursor().min.x).max(120.0);
            ui.allocate_ui(egui::vec2(width, ui.spacing().interact_size.y), |ui| {
                ui.add(egui::Label::new(&reason).truncate())
                    .on_hover_text(&reason);
            });
            ui.end_row();
        }
    });
}

/// The held plan: its figures in words, the devices grouped by reason with a search, and *Confirm*
/// naming how many devices it changes. Returns the request of a clicked button.
fn held_ui(
    ui: &mut egui::Ui,
    held: &HeldView,
    search: &mut String,
    lang: Lang,
    clock: &Clock,
) -> Option<Request> {
    let mut request = None;
    ui.colored_label(
        ui.visuals().warn_fg_color,
        format!("⚠ {}", tr(lang, "held_title")),
    );
    let s = &held.summary;
    ui.add(
        egui::Label::new(fill(
            tr(lang, "held_summary"),
            &[
                (
                    "kind",
                    tr(
                        lang,
                        match held.kind {
                            SyncKind::Quick => "held_kind_quick",
                            SyncKind::Full => "held_kind_full",
                        },
                    )
                    .into(),
                ),
                ("time", clock.text(lang, held.held_at)),
                ("restricted", s.restricted.to_string()),
                ("allowed", s.allowed_now.to_string()),
                ("released", s.released.to_string()),
                ("restricted_now", s.restricted_now.to_string()),
            ],
        ))
        .wrap(),
    )
    .on_hover_text(&held.message);
    if held.devices.is_empty() {
        ui.label(tr(lang, "held_not_listed"));
    } else {
        ui.horizontal_wrapped(|ui| {
            let label = ui.label(tr(lang, "held_search"));
            ui.add(
                egui::TextEdit::singleline(search)
                    .hint_text(tr(lang, "dev_search_hint"))
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
            if held.devices.len() < held.applies_to() {
                ui.label(fill(
                    tr(lang, "held_listed"),
                    &[
                        ("listed", held.devices.len().to_string()),
                        ("total", held.applies_to().to_string()),
                    ],
                ));
            }
        });
        egui::ScrollArea::vertical()
            .id_salt("held_devices")
            .max_height(320.0)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                for group in held.groups(lang, search) {
                    let direction = tr(
                        lang,
                        if group.restricts {
                            "held_group_restrict"
                        } else {
                            "held_group_release"
                        },
                    );
                    let title = format!("{direction} ({}): {}", group.devices.len(), group.reason);
                    egui::CollapsingHeader::new(title)
                        .id_salt(("held_group", group.restricts, &group.reason))
                        .show(ui, |ui| {
                            egui::Grid::new(("held_grid", group.restricts, &group.reason))
                                .striped(true)
                                .show(ui, |ui| {
                                    for d in &group.devices {
                                        ui.label(
                                            d.user_display_name.as_deref().unwrap_or(&d.mailbox),
                                        )
                                        .on_hover_text(&d.mailbox);
                                        ui.label(&d.model).on_hover_text(&d.device_id);
                                        ui.label(format!(
                                            "{} -> {}",
                                            state_text(lang, d.before),
                                            state_text(lang, d.after)
                                        ));
                                        ui.end_row();
                                    }
                                });
                        });
                }
            });
    }
    ui.horizontal_wrapped(|ui| {
        let confirm = fill(
            tr(lang, "held_confirm"),
            &[("n", held.applies_to().to_string())],
        );
        if ui.button(confirm).clicked() {
            request = Some(Request::ConfirmHeld);
        }
        if ui.button(tr(lang, "cancel")).clicked() {
            request = Some(Request::CancelHeld);
        }
    });
    request
}

fn state_color(state: &str) -> egui::Color32 {
    match state.to_ascii_lowercase().as_str() {
        s if s.starts_with("allow") => egui::Color32::from_rgb(60, 160, 90),
        s if s.starts_with("block") => egui::Color32::from_rgb(200, 70, 60),
        s if s.starts_with("quarant") => egui::Color32::from_rgb(220, 160, 40),
        _ => egui::Color32::from_rgb(90, 130, 200),
    }
}

/// One stacked bar per day: the decisions of that day's last full sync.
fn history_chart(ui: &mut egui::Ui, days: &[(String, Vec<(String, u64)>)], lang: Lang) {
    let max = days
        .iter()
        .map(|(_, d)| d.iter().map(|(_, n)| *n).sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    egui::Grid::new("history_chart")
        .num_columns(3)
        .show(ui, |ui| {
            for (day, decisions) in days {
                ui.label(day);
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(260.0, 12.0), egui::Sense::hover());
                let mut x = rect.min.x;
                for (state, n) in decisions {
                    let w = 260.0 * (*n as f32 / max);
                    let bar = egui::Rect::from_min_size(
                        egui::pos2(x, rect.min.y),
                        egui::vec2(w, rect.height()),
                    );
                    ui.painter().rect_filled(bar, 0.0, state_color(state));
                    x += w;
                }
                ui.label(
                    decisions
                        .iter()
                        .map(|(s, n)| format!("{} {n}", devices::decision_word_text(lang, s)))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                ui.end_row();
            }
        });
}

/// `devices` in words; `words` as counted (for the colours).
fn devices_chart(ui: &mut egui::Ui, devices: &[(String, u64)], words: &[(String, u64)]) {
    if devices.is_empty() {
        ui.label("—");
        return;
    }
    let max = devices.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f32;
    egui::Grid::new("devices_chart")
        .num_columns(3)
        .show(ui, |ui| {
            for ((state, n), (word, _)) in devices.iter().zip(words) {
                ui.label(state);
                let width = 260.0 * (*n as f32 / max);
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(260.0, 14.0), egui::Sense::hover());
                let color = state_color(word);
                let bar =
                    egui::Rect::from_min_size(rect.min, egui::vec2(width.max(1.0), rect.height()));
                ui.painter().rect_filled(bar, 2.0, color);
                ui.label(n.to_string());
                ui.end_row();
            }
        });
}
