//! The status page: what the worker reports over the control channel, the sync buttons with live
//! progress, the run held by the mass-change guard, and a user look-up.
//!
//! The worker's [`StatusReply`] is typed (`service::messages`); [`StatusView`] only turns it into the
//! texts and counts the page draws. *Look up a user* asks the worker (`LookupUser`).

use crate::gui::i18n::{Lang, tr};
use crate::service::channel::{ChannelAddress, ChannelClient, ChannelError};
use crate::service::messages::{
    LookupReply, ProgressEvent, Reply, Request, StatusReply, SyncKind, access_change_text,
};
use crate::sync::cli::RunSummary;
use eframe::egui;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A run as shown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunView {
    /// When it ran.
    pub when: String,
    /// How long it took, in seconds.
    pub duration_seconds: Option<f64>,
    /// Its outcome.
    pub outcome: String,
}

/// One access change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangeView {
    /// The mailbox user.
    pub user: String,
    /// The device.
    pub device: String,
    /// The new access (Allowed, Blocked, Quarantined...).
    pub access: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: String,
}

/// The status report as the page shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusView {
    /// Connection state, if reported.
    pub connection: Option<String>,
    /// The Exchange server in use.
    pub exchange_server: Option<String>,
    /// Failover information.
    pub failover: Option<String>,
    /// The last successful quick sync.
    pub last_quick: Option<RunView>,
    /// The last successful full sync.
    pub last_full: Option<RunView>,
    /// Devices by state.
    pub devices: Vec<(String, u64)>,
    /// Recent access changes.
    pub recent: Vec<ChangeView>,
    /// The held run, described.
    pub held: Option<String>,
    /// What the admin should act on: the certificate's expiry, a refused Intune registration.
    pub warnings: Vec<String>,
    /// Decisions of the last full sync of each recent day, oldest first.
    pub history: Vec<(String, Vec<(String, u64)>)>,
}

impl RunView {
    fn from_run(run: &RunSummary) -> RunView {
        RunView {
            when: run.started_at.to_rfc3339(),
            duration_seconds: run.duration_seconds,
            outcome: run.outcome.as_str().to_string(),
        }
    }
}

/// The worker's sentences as the page's font draws them: decisions explain themselves with `→`, a
/// glyph egui's built-in fonts lack (it would show as a box).
fn drawable(text: &str) -> String {
    text.replace('→', "->")
}

/// The sentence's first letter in upper case, as a label starts.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl StatusView {
    /// The texts and counts of a status reply.
    pub fn from_status(status: &StatusReply) -> StatusView {
        let report = status.report.as_ref().ok();
        StatusView {
            connection: Some(drawable(&capitalised(&status.connection.to_string()))),
            exchange_server: status.exchange_server.as_ref().map(|e| e.server.clone()),
            failover: status
                .exchange_server
                .as_ref()
                .and_then(|e| e.failed_over_from.as_ref())
                .map(|primary| format!("failed over from {primary}")),
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
                    access: access_change_text(c),
                    reason: drawable(c.entry.error.as_ref().unwrap_or(&c.entry.reason)),
                    at: c.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
                .collect(),
            held: report
                .and_then(|r| r.held_plan.as_ref())
                .map(|h| drawable(&h.message)),
            warnings: status.warnings().iter().map(|w| drawable(w)).collect(),
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
    NotRunning(String),
    /// It listens but the request failed.
    Error(String),
}

enum Event {
    Status(Result<Box<StatusReply>, (bool, String)>),
    Lookup(Vec<String>),
    Reply(String),
    Progress(ProgressEvent),
    SubscriptionEnded,
}

/// The status page's state.
pub struct StatusPage {
    /// The last report.
    pub view: Option<StatusView>,
    /// The worker.
    pub worker: WorkerState,
    /// The last progress event of a running sync.
    pub progress: Option<ProgressEvent>,
    /// The worker's answer to the last button.
    pub message: Option<String>,
    /// The look-up box.
    pub lookup: String,
    /// The look-up's result lines.
    pub lookup_result: Option<Vec<String>>,
    address: ChannelAddress,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    last_poll: Option<Instant>,
    subscribed: bool,
    /// Poll the status this often.
    pub poll_every: Duration,
}

impl std::fmt::Debug for StatusPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusPage")
            .field("worker", &self.worker)
            .field("view", &self.view)
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
            lookup_result: None,
            address,
            tx,
            rx,
            last_poll: None,
            subscribed: false,
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
                Ok(other) => Event::Status(Err((false, format!("unexpected answer: {other:?}")))),
                Err(ChannelError::NotRunning { .. }) => {
                    Event::Status(Err((true, format!("looked for it at {}", address.0))))
                }
                Err(e) => Event::Status(Err((false, e.to_string()))),
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
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let result = async {
                let mut client = ChannelClient::connect(&address).await?;
                client.request(&request).await
            }
            .await;
            let text = match result {
                Ok(Reply::Accepted { message }) | Ok(Reply::Error { message }) => message,
                Ok(other) => format!("{other:?}"),
                Err(e) => e.to_string(),
            };
            let _ = tx.send(Event::Reply(text));
            repaint();
        });
    }

    /// Takes what arrived; polls when due; keeps a progress subscription while the worker runs.
    pub fn update(&mut self, rt: &tokio::runtime::Handle, repaint: Arc<dyn Fn() + Send + Sync>) {
        let mut refresh = self
            .last_poll
            .is_none_or(|t| t.elapsed() >= self.poll_every);
        while let Ok(event) = self.rx.try_recv() {
            match event {
                Event::Status(Ok(v)) => {
                    self.worker = WorkerState::Running;
                    self.view = Some(StatusView::from_status(&v));
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
                Event::Lookup(lines) => self.lookup_result = Some(lines),
                Event::Progress(p) => {
                    let finished = p.phase.is_over();
                    self.progress = (!finished).then_some(p);
                    if finished {
                        refresh = true;
                    }
                }
                Event::SubscriptionEnded => self.subscribed = false,
            }
        }
        if refresh {
            self.refresh(rt, repaint.clone());
        }
        if self.worker == WorkerState::Running && !self.subscribed {
            self.subscribe(rt, repaint);
        }
    }

    /// Looks a user up in the last report's changes.
    pub fn do_lookup(&mut self, rt: &tokio::runtime::Handle, repaint: Arc<dyn Fn() + Send + Sync>) {
        let user = self.lookup.trim().to_string();
        if user.is_empty() {
            self.lookup_result = Some(Vec::new());
            return;
        }
        if self.worker != WorkerState::Running {
            // Without the worker only the changes already shown can be searched.
            let needle = user.to_lowercase();
            let lines = self
                .view
                .as_ref()
                .map(|v| {
                    v.recent
                        .iter()
                        .filter(|c| c.user.to_lowercase().contains(&needle))
                        .map(|c| format!("{}: {} — {}", c.device, c.access, c.reason))
                        .collect()
                })
                .unwrap_or_default();
            self.lookup_result = Some(lines);
            return;
        }
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let result = async {
                let mut client = ChannelClient::connect(&address).await?;
                client.request(&Request::LookupUser { user }).await
            }
            .await;
            let lines = match result {
                Ok(Reply::LookupUser(found)) => lookup_lines(&found),
                Ok(Reply::Error { message }) | Ok(Reply::Accepted { message }) => vec![message],
                Ok(other) => vec![format!("{other:?}")],
                Err(e) => vec![e.to_string()],
            };
            let _ = tx.send(Event::Lookup(lines));
            repaint();
        });
    }
}

/// One line per device of a look-up answer: Exchange's state, the connector's decision and why.
pub fn lookup_lines(answer: &LookupReply) -> Vec<String> {
    answer.devices.iter().map(|d| drawable(&d.line())).collect()
}

fn run_text(r: &Option<RunView>, lang: Lang) -> String {
    match r {
        None => tr(lang, "never").to_string(),
        Some(r) => format!(
            "{} — {} — {}",
            r.when,
            r.duration_seconds
                .map(|d| format!("{d:.1} s"))
                .unwrap_or_else(|| "?".into()),
            r.outcome
        ),
    }
}

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
                format!("⚠ {} ({m})", tr(lang, "worker_not_running")),
            );
            if ui.button(tr(lang, "start_worker")).clicked() {
                action = StatusAction::StartWorker;
            }
        }
        WorkerState::Error(m) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("✖ {m}"));
        }
    }
    let view = page.view.clone().unwrap_or_default();
    for warning in &view.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {warning}"));
    }
    egui::Grid::new("status_grid")
        .num_columns(2)
        .spacing([24.0, 6.0])
        .show(ui, |ui| {
            ui.label(tr(lang, "connection_state"));
            ui.label(view.connection.clone().unwrap_or_else(|| "—".into()));
            ui.end_row();
            ui.label(tr(lang, "exchange_server_in_use"));
            let mut server = view.exchange_server.clone().unwrap_or_else(|| "—".into());
            if let Some(f) = &view.failover {
                server.push_str(&format!(" ({f})"));
            }
            ui.label(server);
            ui.end_row();
            ui.label(tr(lang, "last_quick"));
            ui.label(run_text(&view.last_quick, lang));
            ui.end_row();
            ui.label(tr(lang, "last_full"));
            ui.label(run_text(&view.last_full, lang));
            ui.end_row();
        });
    ui.add_space(6.0);
    let running = page.worker == WorkerState::Running;
    ui.horizontal(|ui| {
        if ui
            .add_enabled(running, egui::Button::new(tr(lang, "quick_sync")))
            .clicked()
        {
            page.send(
                rt,
                repaint.clone(),
                Request::Sync {
                    kind: SyncKind::Quick,
                    dry_run: false,
                },
            );
        }
        if ui
            .add_enabled(running, egui::Button::new(tr(lang, "full_sync")))
            .clicked()
        {
            page.send(
                rt,
                repaint.clone(),
                Request::Sync {
                    kind: SyncKind::Full,
                    dry_run: false,
                },
            );
        }
        if ui.button(tr(lang, "refresh")).clicked() {
            page.refresh(rt, repaint.clone());
        }
    });
    if let Some(p) = &page.progress {
        let fraction = p.total.filter(|t| *t > 0).map(|t| p.done as f32 / t as f32);
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            ui.label(format!("{} — {}", p.phase, p.message));
        });
        if let Some(f) = fraction {
            ui.add(egui::ProgressBar::new(f).show_percentage());
        }
    }
    if let Some(m) = &page.message {
        ui.label(m);
    }
    if let Some(held) = &view.held {
        ui.separator();
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("⚠ {}", tr(lang, "held_title")),
        );
        ui.label(held);
        ui.horizontal(|ui| {
            if ui.button(tr(lang, "confirm")).clicked() {
                page.send(rt, repaint.clone(), Request::ConfirmHeld);
            }
            if ui.button(tr(lang, "cancel")).clicked() {
                page.send(rt, repaint.clone(), Request::CancelHeld);
            }
        });
    }
    ui.separator();
    ui.strong(tr(lang, "devices_by_state"));
    devices_chart(ui, &view.devices);
    if !view.history.is_empty() {
        ui.add_space(4.0);
        ui.label(tr(lang, "history_title"));
        history_chart(ui, &view.history);
    }
    ui.separator();
    ui.strong(tr(lang, "recent_changes"));
    if view.recent.is_empty() {
        ui.label(tr(lang, "no_changes"));
    } else {
        egui::Grid::new("changes").striped(true).show(ui, |ui| {
            for c in view.recent.iter().take(20) {
                ui.label(&c.at);
                ui.label(&c.user);
                ui.label(&c.device);
                ui.label(&c.access);
                ui.label(&c.reason);
                ui.end_row();
            }
        });
    }
    ui.separator();
    ui.horizontal(|ui| {
        let label = ui.label(tr(lang, "lookup_user"));
        let r = ui
            .add(egui::TextEdit::singleline(&mut page.lookup).desired_width(240.0))
            .labelled_by(label.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button(tr(lang, "lookup")).clicked() || enter {
            page.do_lookup(rt, repaint.clone());
        }
    });
    if let Some(lines) = &page.lookup_result {
        if lines.is_empty() {
            ui.label(tr(lang, "lookup_none"));
        }
        for l in lines {
            ui.label(l);
        }
    }
    action
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
fn history_chart(ui: &mut egui::Ui, days: &[(String, Vec<(String, u64)>)]) {
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
                        .map(|(s, n)| format!("{s} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                ui.end_row();
            }
        });
}

fn devices_chart(ui: &mut egui::Ui, devices: &[(String, u64)]) {
    if devices.is_empty() {
        ui.label("—");
        return;
    }
    let max = devices.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f32;
    egui::Grid::new("devices_chart")
        .num_columns(3)
        .show(ui, |ui| {
            for (state, n) in devices {
                ui.label(state);
                let width = 260.0 * (*n as f32 / max);
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(260.0, 14.0), egui::Sense::hover());
                let color = state_color(state);
                let bar =
                    egui::Rect::from_min_size(rect.min, egui::vec2(width.max(1.0), rect.height()));
                ui.painter().rect_filled(bar, 2.0, color);
                ui.label(n.to_string());
                ui.end_row();
            }
        });
}
