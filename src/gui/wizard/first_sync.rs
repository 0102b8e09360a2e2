//! The first sync step: after Connect the worker starts its first full sync by itself (the schedule's
//! first run is full); this step follows it over the control channel — a progress bar and counts from
//! the channel's [`ProgressEvent`]s, then the devices by state from the worker's status.
//!
//! Two background tasks, results over a channel (the UI thread never waits): one subscribes to the
//! progress stream, one asks for the status until the first full sync has ended (so a run that ended
//! before the subscription started is still seen).

use crate::gui::i18n::{Lang, coded_text, tr};
use crate::service::channel::{ChannelAddress, ChannelClient};
use crate::service::messages::{ProgressEvent, Reply, Request, RunPhase, StatusReply, SyncKind};
use crate::store::RunOutcome;
use eframe::egui;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How long the step looks for a worker that was just started.
const FIND_WORKER_ATTEMPTS: u32 = 40;
/// Between two looks, and between two status questions.
const POLL: Duration = Duration::from_millis(500);

/// How the first sync stands.
#[derive(Debug, Clone, PartialEq)]
pub enum FirstSyncState {
    /// Looking for the connector service.
    Waiting,
    /// The service answers; the run has not reported yet.
    Started,
    /// The latest progress of the run.
    Running(ProgressEvent),
    /// The run ended.
    Done(FirstSyncOutcome),
    /// No service answers: the first sync runs when it starts.
    NoWorker(String),
}

/// How the first sync ended.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstSyncOutcome {
    /// Succeeded, failed or held by the mass-change guard.
    pub outcome: RunOutcome,
    /// Devices the run saw.
    pub devices_seen: u64,
    /// Devices by Exchange access state.
    pub devices_by_state: BTreeMap<String, u64>,
    /// The run's error (a held plan is described on the status page).
    pub message: Option<String>,
}

enum Message {
    Found,
    Progress(ProgressEvent),
    Done(FirstSyncOutcome),
    NoWorker(String),
}

/// The step's state and its background tasks' results.
#[derive(Debug)]
pub struct FirstSync {
    /// Where the run stands.
    pub state: FirstSyncState,
    events: mpsc::Receiver<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl FirstSync {
    /// Starts following the worker at `address`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        address: ChannelAddress,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> FirstSync {
        let (tx, rx) = mpsc::channel();
        runtime.spawn(async move {
            let send = |m: Message| {
                let _ = tx.send(m);
                repaint();
            };
            let mut client = match find_worker(&address).await {
                Ok(c) => c,
                Err(e) => return send(Message::NoWorker(e)),
            };
            send(Message::Found);
            // The progress stream, on its own connection.
            let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel();
            let subscription = tokio::spawn(follow_progress(address.clone(), progress_tx));
            loop {
                while let Ok(event) = progress_rx.try_recv() {
                    send(Message::Progress(event));
                }
                match client.request(&Request::Status).await {
                    Ok(Reply::Status(status)) => {
                        if let Some(outcome) = ended(&status) {
                            send(Message::Done(outcome));
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        send(Message::NoWorker(e.to_string()));
                        break;
                    }
                }
                tokio::select! {
                    Some(event) = progress_rx.recv() => send(Message::Progress(event)),
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            subscription.abort();
        });
        FirstSync {
            state: FirstSyncState::Waiting,
            events: rx,
        }
    }

    /// A step that shows `state` and follows nothing (snapshots and documentation).
    pub fn showing(state: FirstSyncState) -> FirstSync {
        let (_, events) = mpsc::channel();
        FirstSync { state, events }
    }

    /// Takes what the tasks sent.
    pub fn poll(&mut self) {
        while let Ok(m) = self.events.try_recv() {
            match m {
                Message::Found if self.state == FirstSyncState::Waiting => {
                    self.state = FirstSyncState::Started;
                }
                Message::Found => {}
                Message::Progress(event) => {
                    if !matches!(self.state, FirstSyncState::Done(_)) {
                        self.state = FirstSyncState::Running(event);
                    }
                }
                Message::Done(outcome) => self.state = FirstSyncState::Done(outcome),
                Message::NoWorker(e) => self.state = FirstSyncState::NoWorker(e),
            }
        }
    }

    /// Whether the run is over (or cannot be followed).
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            FirstSyncState::Done(_) | FirstSyncState::NoWorker(_)
        )
    }
}

async fn find_worker(address: &ChannelAddress) -> Result<ChannelClient, String> {
    let mut attempt = 0;
    loop {
        match ChannelClient::connect(address).await {
            Ok(client) => return Ok(client),
            Err(e) if attempt + 1 >= FIND_WORKER_ATTEMPTS => return Err(e.to_string()),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

async fn follow_progress(
    address: ChannelAddress,
    tx: tokio::sync::mpsc::UnboundedSender<ProgressEvent>,
) {
    let Ok(mut client) = ChannelClient::connect(&address).await else {
        return;
    };
    let mut reply = client.request(&Request::Subscribe).await;
    while let Ok(Reply::Progress(event)) = reply {
        if event.kind == SyncKind::Full && tx.send(event).is_err() {
            return;
        }
        reply = client.next_reply().await;
    }
}

/// The first full sync's end, once the status shows it.
fn ended(status: &StatusReply) -> Option<FirstSyncOutcome> {
    let report = status.report.as_ref().ok()?;
    let counts = |run: &crate::sync::cli::RunSummary, message: Option<String>| FirstSyncOutcome {
        outcome: run.outcome,
        devices_seen: run.devices_seen,
        devices_by_state: report.devices_by_state.clone(),
        message,
    };
    if let Some(full) = &report.last_full_sync {
        return Some(counts(full, None));
    }
    if status.current_run.is_some() {
        return None;
    }
    if report.held_plan.is_some() {
        let run = report.last_run.as_ref()?;
        // The guard's own message is English: the translated heading sends the admin to the status
        // page, which lists the held plan by reason in the admin's language.
        let mut outcome = counts(run, None);
        outcome.outcome = RunOutcome::Held;
        return Some(outcome);
    }
    let run = report.last_run.as_ref()?;
    (run.outcome == RunOutcome::Failed)
        .then(|| counts(run, run.error.clone().or(status.last_error.clone())))
}

/// The key of a phase's word.
fn phase_key(phase: RunPhase) -> &'static str {
    match phase {
        RunPhase::Started => "fs_phase_started",
        RunPhase::Reading => "fs_phase_reading",
        RunPhase::Planning => "fs_phase_planning",
        RunPhase::Applying => "fs_phase_applying",
        RunPhase::Running => "fs_phase_running",
        RunPhase::Stopping => "fs_phase_stopping",
        RunPhase::Finished => "fs_phase_finished",
        RunPhase::Failed => "fs_phase_failed",
    }
}

/// Draws the step; returns `true` when the admin asks for the status page.
pub fn ui(ui: &mut egui::Ui, sync: Option<&FirstSync>, lang: Lang) -> bool {
    ui.heading(tr(lang, "step_first_sync"));
    ui.label(tr(lang, "fs_intro"));
    ui.add_space(6.0);
    let state = sync.map(|s| &s.state);
    match state {
        None | Some(FirstSyncState::Waiting) => {
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label(tr(lang, "fs_waiting"));
            });
        }
        Some(FirstSyncState::Started) => {
            ui.add(
                egui::ProgressBar::new(0.0)
                    .animate(true)
                    .text(tr(lang, "fs_phase_started")),
            );
        }
        Some(FirstSyncState::Running(event)) => {
            let phase = tr(lang, phase_key(event.phase));
            let (fraction, text) = match event.total {
                Some(total) if total > 0 => (
                    event.done as f32 / total as f32,
                    format!("{phase}: {} {} {}", event.done, tr(lang, "fs_of"), total),
                ),
                _ => (0.0, format!("{phase}: {}", event.done)),
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .animate(event.total.is_none())
                    .show_percentage()
                    .text(text),
            );
            if !event.message.english.is_empty() {
                ui.weak(coded_text(lang, &event.message));
            }
        }
        Some(FirstSyncState::Done(outcome)) => done_ui(ui, outcome, lang),
        Some(FirstSyncState::NoWorker(reason)) => {
            ui.colored_label(ui.visuals().warn_fg_color, tr(lang, "fs_no_worker"));
            ui.weak(reason);
        }
    }
    ui.add_space(8.0);
    ui.button(tr(lang, "open_status")).clicked()
}

fn done_ui(ui: &mut egui::Ui, outcome: &FirstSyncOutcome, lang: Lang) {
    let ok = egui::Color32::from_rgb(40, 150, 70);
    match outcome.outcome {
        RunOutcome::Failed => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("✖ {}", tr(lang, "fs_failed")),
            );
        }
        RunOutcome::Held => {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("⚠ {}", tr(lang, "fs_held")),
            );
        }
        _ => {
            ui.add(egui::ProgressBar::new(1.0).show_percentage());
            ui.colored_label(ok, format!("✔ {}", tr(lang, "fs_done")));
        }
    }
    if let Some(message) = &outcome.message {
        ui.label(message);
    }
    egui::Grid::new("first_sync_counts")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label(tr(lang, "fs_devices_seen"));
            ui.strong(outcome.devices_seen.to_string());
            ui.end_row();
            // The usual order of the states first, then any other the worker reports.
            let known = ["Allowed", "Blocked", "Quarantined", "Exempt"];
            let ordered = known
                .iter()
                .filter_map(|k| outcome.devices_by_state.get_key_value(*k))
                .chain(
                    outcome
                        .devices_by_state
                        .iter()
                        .filter(|(k, _)| !known.contains(&k.as_str())),
                );
            for (state, count) in ordered {
                ui.label(state_word(state, lang));
                ui.strong(count.to_string());
                ui.end_row();
            }
        });
}

/// An Exchange access state in the admin's language.
fn state_word(state: &str, lang: Lang) -> String {
    let key = match state {
        "Allowed" => "fs_allowed",
        "Blocked" => "fs_blocked",
        "Quarantined" => "fs_quarantined",
        "Exempt" => "fs_exempt",
        _ => return state.to_string(),
    };
    tr(lang, key).to_string()
}
