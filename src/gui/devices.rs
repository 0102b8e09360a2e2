//! The status page's device table and "why" panel: every device the worker's store knows, by the
//! user's name and the phone, with Exchange's state, the connector's decision and its reason in the
//! admin's language; a row opens the live look-up `diagnose --user` does, with *Sync this user now*.
//!
//! [`DevicesPanel`] is the state (rows, filter, search, sort, the open look-up); [`ui`] draws it. The
//! rows come from the worker in pages (`Request::Devices`); reasons are codes
//! ([`crate::policy::ReasonCode`]) rendered from the catalogue in [`crate::gui::i18n`].

use std::sync::{Arc, mpsc};

use chrono::{DateTime, FixedOffset, Local, Utc};
use eframe::egui;
use egui_extras::{Column, TableBuilder};

use crate::gui::i18n::{Lang, coded_text, tr};
use crate::model::exchange::DeviceAccessState;
use crate::policy::{DesiredAccess, ReasonCode};
use crate::service::channel::{ChannelAddress, ChannelClient};
use crate::service::messages::{DEVICE_PAGE_MAX, DeviceLookup, LookupReply, Reply, Request};
use crate::text_code::TextCode;

/// Fills `{name}` placeholders of a catalogue text.
pub fn fill(text: &str, args: &[(&str, String)]) -> String {
    args.iter().fold(text.to_string(), |out, (name, value)| {
        out.replace(&format!("{{{name}}}"), value)
    })
}

/// The worker's sentences as egui's built-in fonts draw them (they lack `→`).
fn drawable(text: &str) -> String {
    text.replace('→', "->")
}

/// How times are shown: local, with the age, and the UTC time on hover. Fixed in tests so snapshots
/// do not move with the clock or the machine's time zone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Clock {
    /// "Now" (the real clock when `None`).
    pub now: Option<DateTime<Utc>>,
    /// The local zone (the machine's when `None`).
    pub offset: Option<FixedOffset>,
}

impl Clock {
    /// A clock stopped at `now`, showing times in `offset`.
    pub fn fixed(now: DateTime<Utc>, offset: FixedOffset) -> Clock {
        Clock {
            now: Some(now),
            offset: Some(offset),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// The local date and time, to the minute.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        const FORMAT: &str = "%Y-%m-%d %H:%M";
        match self.offset {
            Some(offset) => t.with_timezone(&offset).format(FORMAT).to_string(),
            None => t.with_timezone(&Local).format(FORMAT).to_string(),
        }
    }

    /// "3 minutes ago", in the admin's language.
    pub fn ago(&self, lang: Lang, t: DateTime<Utc>) -> String {
        let seconds = (self.now() - t).num_seconds();
        let (one, many, n) = match seconds {
            s if s < 60 => return tr(lang, "ago_now").to_string(),
            s if s < 3600 => ("ago_minute", "ago_minutes", s / 60),
            s if s < 86_400 => ("ago_hour", "ago_hours", s / 3600),
            s => ("ago_day", "ago_days", s / 86_400),
        };
        let key = if n == 1 { one } else { many };
        fill(tr(lang, key), &[("n", n.to_string())])
    }

    /// "2026-12-02 16:58 (3 minutes ago)".
    pub fn text(&self, lang: Lang, t: DateTime<Utc>) -> String {
        format!("{} ({})", self.local(t), self.ago(lang, t))
    }

    /// The UTC time shown on hover.
    pub fn utc(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }

    /// A label with the local time and age, the UTC time on hover; "—" without a time.
    pub fn label(&self, ui: &mut egui::Ui, lang: Lang, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => {
                ui.label(self.text(lang, t)).on_hover_text(Clock::utc(t));
            }
            None => {
                ui.label("—");
            }
        }
    }

    /// The age alone, for a narrow table cell; the local and UTC times on hover.
    pub fn age_label(&self, ui: &mut egui::Ui, lang: Lang, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => {
                ui.add(egui::Label::new(self.ago(lang, t)).truncate())
                    .on_hover_text(format!("{}\n{}", self.local(t), Clock::utc(t)));
            }
            None => {
                ui.label("—");
            }
        }
    }
}

/// Exchange's state in words.
pub fn state_text(lang: Lang, state: DeviceAccessState) -> &'static str {
    tr(
        lang,
        match state {
            DeviceAccessState::Allowed => "state_allowed",
            DeviceAccessState::Blocked => "state_blocked",
            DeviceAccessState::Quarantined => "state_quarantined",
            DeviceAccessState::DeviceDiscovery => "state_discovery",
            DeviceAccessState::Unknown => "state_unknown",
        },
    )
}

/// An Exchange state word as the store counts it (`Allowed`, ...), in words; other words as they are.
pub fn state_word_text(lang: Lang, word: &str) -> String {
    [
        DeviceAccessState::Allowed,
        DeviceAccessState::Blocked,
        DeviceAccessState::Quarantined,
        DeviceAccessState::DeviceDiscovery,
        DeviceAccessState::Unknown,
    ]
    .into_iter()
    .find(|s| s.as_str().eq_ignore_ascii_case(word))
    .map_or_else(|| word.to_string(), |s| state_text(lang, s).to_string())
}

/// The connector's decision in words.
pub fn decision_text(lang: Lang, desired: DesiredAccess) -> &'static str {
    tr(
        lang,
        match desired {
            DesiredAccess::Allow => "decision_allow",
            DesiredAccess::Block => "decision_block",
            DesiredAccess::Quarantine => "decision_quarantine",
            DesiredAccess::Untouched => "decision_untouched",
            DesiredAccess::Release => "decision_release",
        },
    )
}

/// A decision word as runs count them (`Allow`, ...), in words; other words as they are.
pub fn decision_word_text(lang: Lang, word: &str) -> String {
    DesiredAccess::parse(word)
        .map_or_else(|| word.to_string(), |d| decision_text(lang, d).to_string())
}

/// A decision's reason in words, from its code; the English explanation for decisions stored
/// before codes existed.
pub fn reason_text(lang: Lang, code: &ReasonCode, explanation: &str) -> String {
    match code {
        ReasonCode::Unrecorded if !explanation.trim().is_empty() => drawable(explanation),
        ReasonCode::BlockedInsteadOfQuarantine { because } => format!(
            "{} {}",
            reason_text(lang, because, ""),
            tr(lang, code.key())
        ),
        _ => {
            let mut params = code.params();
            for (name, value) in &mut params {
                if *name == "state" && value.is_empty() {
                    *value = tr(lang, "reason_no_state").to_string();
                }
            }
            fill(tr(lang, code.key()), &params)
        }
    }
}

/// One device as the table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    /// Mailbox identity (what the look-up asks for).
    pub mailbox: String,
    /// The user's display name, else the mailbox.
    pub user: String,
    /// DeviceId.
    pub device_id: String,
    /// Model / type / OS.
    pub phone: String,
    /// Exchange's state at the last sync.
    pub state: DeviceAccessState,
    /// The connector's decision, once it made one.
    pub decision: Option<DesiredAccess>,
    /// Its reason's code.
    pub code: ReasonCode,
    /// Its reason in English (decisions stored before codes existed).
    pub explanation: String,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
}

impl DeviceRow {
    /// The row of a device and its decision.
    pub fn from_lookup(d: &DeviceLookup) -> DeviceRow {
        let device = &d.device;
        let phone = [
            device.device_model.clone(),
            Some(device.device_type.clone()),
            device.device_os.clone(),
        ]
        .into_iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
        DeviceRow {
            mailbox: device.mailbox.clone(),
            user: device
                .user_display_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| device.mailbox.clone()),
            device_id: device.device_id.clone(),
            phone,
            state: device.access_state,
            decision: d.decision.as_ref().map(|x| x.decision.desired),
            code: d
                .decision
                .as_ref()
                .map(|x| x.decision.code.clone())
                .unwrap_or_default(),
            explanation: d
                .decision
                .as_ref()
                .map(|x| x.decision.explanation.clone())
                .unwrap_or_default(),
            decided_at: d.decision.as_ref().map(|x| x.decided_at),
            applied_at: d.decision.as_ref().and_then(|x| x.applied_at),
        }
    }

    /// The decision in words ("no decision yet" before the first one).
    pub fn decision_text(&self, lang: Lang) -> &'static str {
        self.decision
            .map_or_else(|| tr(lang, "decision_none"), |d| decision_text(lang, d))
    }

    /// The reason in words (empty before the first decision).
    pub fn reason_text(&self, lang: Lang) -> String {
        match self.decision {
            Some(_) => reason_text(lang, &self.code, &self.explanation),
            None => String::new(),
        }
    }

    fn matches(&self, needle: &str) -> bool {
        needle.is_empty()
            || [&self.user, &self.mailbox, &self.device_id, &self.phone]
                .iter()
                .any(|f| f.to_lowercase().contains(needle))
    }
}

/// The column the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    /// The user's name.
    #[default]
    User,
    /// The phone.
    Phone,
    /// Exchange's state.
    State,
    /// The connector's decision.
    Decision,
    /// When it was decided.
    Decided,
    /// When it was applied.
    Applied,
}

impl SortColumn {
    /// The columns, in table order, with their header key.
    const ALL: [(SortColumn, &'static str); 6] = [
        (SortColumn::User, "col_user"),
        (SortColumn::Phone, "col_phone"),
        (SortColumn::State, "col_state"),
        (SortColumn::Decision, "col_decision"),
        (SortColumn::Decided, "col_decided"),
        (SortColumn::Applied, "col_applied"),
    ];
}

/// The live look-up of one user, and the answer to *Sync this user now*.
#[derive(Debug, Clone, PartialEq)]
pub struct WhyPanel {
    /// The mailbox asked for.
    pub user: String,
    /// The worker's answer (`None` while it is asked).
    pub answer: Option<Result<LookupReply, TextCode>>,
    /// The answer to *Sync this user now*.
    pub sync: Option<Result<TextCode, TextCode>>,
}

enum Event {
    Devices(Result<Vec<DeviceLookup>, TextCode>),
    Lookup(String, Result<LookupReply, TextCode>),
    SyncUser(String, Result<TextCode, TextCode>),
}

/// The device table's state.
pub struct DevicesPanel {
    /// Every device, as last loaded.
    pub rows: Vec<DeviceRow>,
    /// A load is under way.
    pub loading: bool,
    /// Why the last load failed.
    pub error: Option<TextCode>,
    /// Search by user or device.
    pub search: String,
    /// Show only devices in this Exchange state.
    pub state_filter: Option<DeviceAccessState>,
    /// The sort column.
    pub sort: SortColumn,
    /// Ascending or descending.
    pub ascending: bool,
    /// The open look-up.
    pub why: Option<WhyPanel>,
    /// How times are shown.
    pub clock: Clock,
    address: ChannelAddress,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
}

impl std::fmt::Debug for DevicesPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevicesPanel")
            .field("rows", &self.rows.len())
            .field("loading", &self.loading)
            .field("error", &self.error)
            .field("why", &self.why)
            .finish_non_exhaustive()
    }
}

/// Wakes the UI when an answer arrives.
pub type Repaint = Arc<dyn Fn() + Send + Sync>;

async fn ask(address: &ChannelAddress, request: &Request) -> Result<Reply, String> {
    let mut client = ChannelClient::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    client.request(request).await.map_err(|e| e.to_string())
}

impl DevicesPanel {
    /// A panel asking the worker at `address`.
    pub fn new(address: ChannelAddress) -> DevicesPanel {
        let (tx, rx) = mpsc::channel();
        DevicesPanel {
            rows: Vec::new(),
            loading: false,
            error: None,
            search: String::new(),
            state_filter: None,
            sort: SortColumn::default(),
            ascending: true,
            why: None,
            clock: Clock::default(),
            address,
            tx,
            rx,
        }
    }

    /// Loads every device, page by page.
    pub fn load(&mut self, rt: &tokio::runtime::Handle, repaint: Repaint) {
        self.loading = true;
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let mut devices = Vec::new();
            let mut offset = 0;
            let result = loop {
                let request = Request::Devices {
                    offset,
                    limit: DEVICE_PAGE_MAX,
                };
                match ask(&address, &request).await {
                    Ok(Reply::Devices(page)) => {
                        let next = page.next_offset();
                        devices.extend(page.devices);
                        match next {
                            Some(n) => offset = n,
                            None => break Ok(devices),
                        }
                    }
                    Ok(Reply::Error { message }) => break Err(message),
                    Ok(other) => break Err(format!("unexpected answer: {other:?}").into()),
                    Err(e) => break Err(e.into()),
                }
            };
            let _ = tx.send(Event::Devices(result));
            repaint();
        });
    }

    /// Opens the "why" panel for a mailbox and asks the worker.
    pub fn open_why(&mut self, rt: &tokio::runtime::Handle, repaint: Repaint, user: &str) {
        let user = user.trim().to_string();
        self.why = Some(WhyPanel {
            user: user.clone(),
            answer: None,
            sync: None,
        });
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let request = Request::LookupUser { user: user.clone() };
            let answer = match ask(&address, &request).await {
                Ok(Reply::LookupUser(found)) => Ok(found),
                Ok(Reply::Error { message }) => Err(message),
                Ok(other) => Err(format!("unexpected answer: {other:?}").into()),
                Err(e) => Err(e.into()),
            };
            let _ = tx.send(Event::Lookup(user, answer));
            repaint();
        });
    }

    /// *Sync this user now*.
    pub fn sync_user(&mut self, rt: &tokio::runtime::Handle, repaint: Repaint) {
        let Some(why) = &mut self.why else { return };
        why.sync = None;
        let user = why.user.clone();
        let tx = self.tx.clone();
        let address = self.address.clone();
        rt.spawn(async move {
            let request = Request::SyncUser { user: user.clone() };
            let answer = match ask(&address, &request).await {
                Ok(Reply::Accepted { message }) => Ok(message),
                Ok(Reply::Error { message }) => Err(message),
                Ok(other) => Err(format!("unexpected answer: {other:?}").into()),
                Err(e) => Err(e.into()),
            };
            let _ = tx.send(Event::SyncUser(user, answer));
            repaint();
        });
    }

    /// Takes what arrived.
    pub fn update(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            match event {
                Event::Devices(Ok(devices)) => {
                    self.loading = false;
                    self.error = None;
                    self.rows = devices.iter().map(DeviceRow::from_lookup).collect();
                }
                Event::Devices(Err(e)) => {
                    self.loading = false;
                    self.error = Some(e);
                }
                Event::Lookup(user, answer) => {
                    if let Some(why) = self.why.as_mut().filter(|w| w.user == user) {
                        why.answer = Some(answer);
                    }
                }
                Event::SyncUser(user, answer) => {
                    if let Some(why) = self.why.as_mut().filter(|w| w.user == user) {
                        why.sync = Some(answer);
                    }
                }
            }
        }
    }

    /// The rows shown: filtered by state, searched, sorted.
    pub fn visible_rows(&self, lang: Lang) -> Vec<&DeviceRow> {
        let needle = self.search.trim().to_lowercase();
        let mut rows: Vec<&DeviceRow> = self
            .rows
            .iter()
            .filter(|r| self.state_filter.is_none_or(|s| r.state == s))
            .filter(|r| r.matches(&needle))
            .collect();
        rows.sort_by(|a, b| {
            let order = match self.sort {
                SortColumn::User => a.user.to_lowercase().cmp(&b.user.to_lowercase()),
                SortColumn::Phone => a.phone.to_lowercase().cmp(&b.phone.to_lowercase()),
                SortColumn::State => state_text(lang, a.state).cmp(state_text(lang, b.state)),
                SortColumn::Decision => a.decision_text(lang).cmp(b.decision_text(lang)),
                SortColumn::Decided => a.decided_at.cmp(&b.decided_at),
                SortColumn::Applied => a.applied_at.cmp(&b.applied_at),
            }
            .then_with(|| a.device_id.cmp(&b.device_id));
            if self.ascending {
                order
            } else {
                order.reverse()
            }
        });
        rows
    }

    /// Sorts by `column`; the same column again flips the order.
    pub fn sort_by(&mut self, column: SortColumn) {
        if self.sort == column {
            self.ascending = !self.ascending;
        } else {
            self.sort = column;
            self.ascending = true;
        }
    }
}

/// The Exchange states the filter offers.
const FILTER_STATES: [DeviceAccessState; 5] = [
    DeviceAccessState::Allowed,
    DeviceAccessState::Blocked,
    DeviceAccessState::Quarantined,
    DeviceAccessState::DeviceDiscovery,
    DeviceAccessState::Unknown,
];

/// Draws the panel: the why panel when open, the filters, the table.
pub fn ui(
    ui: &mut egui::Ui,
    panel: &mut DevicesPanel,
    rt: &tokio::runtime::Handle,
    repaint: Repaint,
    lang: Lang,
) {
    panel.update();
    if panel.why.is_some() {
        why_ui(ui, panel, rt, repaint.clone(), lang);
        ui.separator();
    }
    ui.horizontal_wrapped(|ui| {
        let label = ui.label(tr(lang, "dev_search"));
        ui.add(
            egui::TextEdit::singleline(&mut panel.search)
                .hint_text(tr(lang, "dev_search_hint"))
                .desired_width(220.0),
        )
        .labelled_by(label.id);
        let filter = match panel.state_filter {
            Some(s) => state_text(lang, s),
            None => tr(lang, "dev_all_states"),
        };
        egui::ComboBox::from_label(tr(lang, "dev_filter_state"))
            .selected_text(filter)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut panel.state_filter, None, tr(lang, "dev_all_states"));
                for s in FILTER_STATES {
                    ui.selectable_value(&mut panel.state_filter, Some(s), state_text(lang, s));
                }
            });
        if ui.button(tr(lang, "refresh")).clicked() {
            panel.load(rt, repaint.clone());
        }
        if panel.loading {
            ui.add(egui::Spinner::new());
        }
    });
    if let Some(e) = &panel.error {
        ui.colored_label(
            ui.visuals().error_fg_color,
            format!("✖ {}", coded_text(lang, e)),
        );
    }
    let rows: Vec<DeviceRow> = panel.visible_rows(lang).into_iter().cloned().collect();
    ui.label(fill(
        tr(lang, "dev_count"),
        &[
            ("shown", rows.len().to_string()),
            ("total", panel.rows.len().to_string()),
        ],
    ));
    let mut open: Option<String> = None;
    let mut sort: Option<SortColumn> = None;
    let clock = panel.clock;
    let text_height = egui::TextStyle::Body.resolve(ui.style()).size + 6.0;
    TableBuilder::new(ui)
        .id_salt("device_table")
        .striped(true)
        .resizable(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::initial(140.0).at_least(80.0).clip(true))
        .column(Column::initial(190.0).at_least(80.0).clip(true))
        .column(Column::initial(105.0).at_least(60.0).clip(true))
        .column(Column::initial(105.0).at_least(60.0).clip(true))
        .column(Column::initial(115.0).at_least(60.0).clip(true))
        .column(Column::initial(115.0).at_least(60.0).clip(true))
        .column(Column::remainder().at_least(120.0).clip(true))
        .max_scroll_height(420.0)
        .sense(egui::Sense::click())
        .header(text_height + 4.0, |mut header| {
            for (column, key) in SortColumn::ALL {
                header.col(|ui| {
                    let arrow = match (panel.sort == column, panel.ascending) {
                        (false, _) => "",
                        (true, true) => " ⏶",
                        (true, false) => " ⏷",
                    };
                    if ui
                        .selectable_label(panel.sort == column, format!("{}{arrow}", tr(lang, key)))
                        .clicked()
                    {
                        sort = Some(column);
                    }
                });
            }
            header.col(|ui| {
                ui.strong(tr(lang, "col_reason"));
            });
        })
        .body(|body| {
            body.rows(text_height, rows.len(), |mut row| {
                let r = &rows[row.index()];
                row.col(|ui| {
                    // Room for a glyph's left overhang (the J of "Jan") inside the clipped cell.
                    ui.add_space(2.0);
                    if ui
                        .link(&r.user)
                        .on_hover_text(format!("{} — {}", r.mailbox, tr(lang, "dev_open_why")))
                        .clicked()
                    {
                        open = Some(r.mailbox.clone());
                    }
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(&r.phone).truncate())
                        .on_hover_text(format!("{}\n{}", r.phone, r.device_id));
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(state_text(lang, r.state)).truncate());
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(r.decision_text(lang)).truncate());
                });
                row.col(|ui| clock.age_label(ui, lang, r.decided_at));
                row.col(|ui| clock.age_label(ui, lang, r.applied_at));
                row.col(|ui| {
                    let reason = r.reason_text(lang);
                    ui.add(egui::Label::new(&reason).truncate())
                        .on_hover_text(&reason);
                });
                if row.response().clicked() {
                    open = Some(r.mailbox.clone());
                }
            });
        });
    if let Some(column) = sort {
        panel.sort_by(column);
    }
    if let Some(user) = open {
        panel.open_why(rt, repaint, &user);
    }
}

/// The "why" panel: the live look-up of one user, each device with Exchange's state, the decision and
/// its reason, and *Sync this user now*.
fn why_ui(
    ui: &mut egui::Ui,
    panel: &mut DevicesPanel,
    rt: &tokio::runtime::Handle,
    repaint: Repaint,
    lang: Lang,
) {
    let Some(why) = panel.why.clone() else { return };
    let clock = panel.clock;
    let mut close = false;
    let mut sync = false;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        let name = match &why.answer {
            Some(Ok(found)) => found
                .devices
                .iter()
                .find_map(|d| d.device.user_display_name.clone())
                .map_or_else(|| found.user.clone(), |n| format!("{n} ({})", found.user)),
            _ => why.user.clone(),
        };
        ui.horizontal_wrapped(|ui| {
            ui.strong(fill(tr(lang, "why_title"), &[("user", name)]));
            if ui.button(tr(lang, "why_close")).clicked() {
                close = true;
            }
        });
        match &why.answer {
            None => {
                ui.horizontal(|ui| {
                    ui.add(egui::Spinner::new());
                    ui.label(tr(lang, "why_asking"));
                });
            }
            Some(Err(e)) => {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("⚠ {}", coded_text(lang, e)),
                );
            }
            Some(Ok(found)) => {
                if found.devices.is_empty() {
                    ui.label(tr(lang, "lookup_none"));
                }
                for d in &found.devices {
                    why_device(ui, lang, clock, &DeviceRow::from_lookup(d), d);
                }
                ui.horizontal_wrapped(|ui| {
                    if ui.button(tr(lang, "why_sync_now")).clicked() {
                        sync = true;
                    }
                    match &why.sync {
                        Some(Ok(_)) => {
                            ui.label(fill(
                                tr(lang, "why_sync_started"),
                                &[("user", found.user.clone())],
                            ));
                        }
                        Some(Err(e)) => {
                            ui.colored_label(
                                ui.visuals().warn_fg_color,
                                format!("⚠ {}", coded_text(lang, e)),
                            );
                        }
                        None => {}
                    }
                });
            }
        }
    });
    if close {
        panel.why = None;
    }
    if sync {
        panel.sync_user(rt, repaint);
    }
}

/// One device of the why panel, its sentences wrapped.
fn why_device(ui: &mut egui::Ui, lang: Lang, clock: Clock, row: &DeviceRow, d: &DeviceLookup) {
    ui.add_space(4.0);
    ui.label(egui::RichText::new(format!("{} — {}", row.phone, row.device_id)).strong());
    egui::Grid::new(("why_device", &row.device_id))
        .num_columns(2)
        .spacing([16.0, 2.0])
        .show(ui, |ui| {
            ui.label(tr(lang, "why_exchange"));
            // Exchange's own word for the step that decided it, on hover.
            ui.label(state_text(lang, row.state)).on_hover_text(format!(
                "DeviceAccessStateReason: {}",
                d.device.access_reason
            ));
            ui.end_row();
            ui.label(tr(lang, "why_decision"));
            ui.label(row.decision_text(lang));
            ui.end_row();
            if row.decision.is_some() {
                ui.label(tr(lang, "why_reason"));
                ui.add(egui::Label::new(row.reason_text(lang)).wrap());
                ui.end_row();
                ui.label(tr(lang, "col_decided"));
                clock.label(ui, lang, row.decided_at);
                ui.end_row();
                ui.label(tr(lang, "col_applied"));
                clock.label(ui, lang, row.applied_at);
                ui.end_row();
            }
            // Exchange Online refuses this phone's EAS protocol: a flag beside the decision.
            if d.device.eas_protocol_refused {
                let version = d.device.client_version.as_deref().unwrap_or("?");
                ui.label(tr(lang, "why_eas_protocol"));
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(fill(
                            tr(lang, "why_eas_refused"),
                            &[("version", version.to_string())],
                        ))
                        .color(ui.visuals().warn_fg_color),
                    )
                    .wrap(),
                );
                ui.end_row();
            }
        });
}

/// Every catalogue key this panel and the status page use (a test checks each is in every language).
pub const KEYS: &[&str] = &[
    "why_eas_protocol",
    "why_eas_refused",
    "ago_now",
    "ago_minute",
    "ago_minutes",
    "ago_hour",
    "ago_hours",
    "ago_day",
    "ago_days",
    "state_allowed",
    "state_blocked",
    "state_quarantined",
    "state_discovery",
    "state_unknown",
    "decision_allow",
    "decision_block",
    "decision_quarantine",
    "decision_untouched",
    "decision_release",
    "decision_none",
    "reason_no_state",
    "col_user",
    "col_phone",
    "col_state",
    "col_decision",
    "col_decided",
    "col_applied",
    "col_reason",
    "dev_search",
    "dev_search_hint",
    "dev_filter_state",
    "dev_all_states",
    "dev_count",
    "dev_open_why",
    "why_title",
    "why_close",
    "why_asking",
    "why_sync_now",
    "why_sync_started",
    "why_exchange",
    "why_decision",
    "why_reason",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn ages_read_as_words_in_each_language() {
        let clock = Clock::fixed(
            at("2026-12-02T16:00:00Z"),
            FixedOffset::east_opt(3600).unwrap(),
        );
        assert_eq!(
            clock.text(Lang::En, at("2026-12-02T15:57:00Z")),
            "2026-12-02 16:57 (3 minutes ago)"
        );
        assert_eq!(
            clock.ago(Lang::Fr, at("2026-12-02T15:00:00Z")),
            "il y a 1 heure"
        );
        assert_eq!(
            clock.ago(Lang::Nl, at("2026-11-30T16:00:00Z")),
            "2 dagen geleden"
        );
        assert_eq!(
            Clock::utc(at("2026-12-02T15:57:00Z")),
            "2026-12-02 15:57:00 UTC"
        );
    }

    #[test]
    fn reasons_render_from_their_codes_with_parameters() {
        let code = ReasonCode::BlockedInsteadOfQuarantine {
            because: Box::new(ReasonCode::NotCompliant {
                record: "md-1".into(),
                state: "conflict".into(),
            }),
        };
        let fr = reason_text(Lang::Fr, &code, "ignored");
        assert!(fr.contains("md-1") && fr.contains("conflict"), "{fr}");
        assert_ne!(fr, reason_text(Lang::En, &code, "ignored"));
        assert_eq!(
            reason_text(Lang::Nl, &ReasonCode::Unrecorded, "Old → text"),
            "Old -> text"
        );
        for lang in Lang::ALL {
            for key in ReasonCode::ALL_KEYS {
                assert!(!tr(lang, key).contains("{user}"), "{key}");
            }
        }
    }
}
