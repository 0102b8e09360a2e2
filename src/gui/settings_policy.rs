//! The rest of the Settings page: the access policy, the notification mail (with a preview) and the
//! schedule, saved together by one *Save* that validates everything first and writes nothing unless all
//! of it is valid.
//!
//! Shape (egui demo habit): one state struct per panel ([`PolicyPanel`], [`TemplatePanel`],
//! [`SchedulePanel`]) that tests can read and drive, one drawing function per panel that only reads and
//! edits its state, and the saving ([`SaveRun`]) on the background runtime, its result polled.
//!
//! Files, all in the configuration folder: [`POLICY_FILE`] (JSON of [`PolicySettings`]),
//! [`NOTIFICATION_TEMPLATE_FILE`] (`Subject: ...` then the HTML) and the XML configuration (the schedule,
//! through [`Config::save`], the path Connect's Save step uses). A panel whose values did not change
//! writes nothing: an untouched policy keeps the worker on the tenant's retired-connector policy, and an
//! untouched template keeps the shipped one.

use crate::atomic_file;
use crate::config::{Config, NotificationLanguage};
use crate::gui::connect::ConnectEnv;
use crate::gui::i18n::{Lang, coded_text, tr};
use crate::model::exchange::AccessLevel;
use crate::notify::{DEFAULT_ENROL_LINK, Language, MailFields, Template};
use crate::policy::{EnforcementAction, PlatformException, PlatformKind, PolicySettings};
use crate::service::channel::{ChannelClient, Reply, Request};
pub use crate::service::setup::{NOTIFICATION_TEMPLATE_FILE, POLICY_FILE};
use crate::text_code::TextCode;
use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// The registry key of the quick sync interval.
pub const QUICK_SYNC_KEY: &str = "QuickSyncIntervalMinutes";
/// The registry key of the daily full sync time.
pub const FULL_SYNC_KEY: &str = "FullSyncTime";

/// The sample fields of the notification preview.
pub const PREVIEW_USER: &str = "Alex Example";
/// The sample device of the notification preview.
pub const PREVIEW_DEVICE: &str = "iPhone 16";

/// The tabs of the Settings page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// Proxy and credentials (*Check and save*).
    #[default]
    Connection,
    /// The access policy.
    Policy,
    /// The notification mail.
    Notification,
    /// The schedule.
    Schedule,
    /// Failover, parallel commands, PowerShell authentication: the registry's advanced settings.
    Advanced,
}

impl Tab {
    /// Every tab, in display order.
    pub const ALL: [Tab; 5] = [
        Tab::Connection,
        Tab::Policy,
        Tab::Notification,
        Tab::Schedule,
        Tab::Advanced,
    ];

    /// The tab's label key.
    pub fn label_key(self) -> &'static str {
        match self {
            Tab::Connection => "tab_connection",
            Tab::Policy => "tab_policy",
            Tab::Notification => "tab_notification",
            Tab::Schedule => "tab_schedule",
            Tab::Advanced => "tab_advanced",
        }
    }
}

/// A problem of one field: which field (its label key) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field's label key.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

// ---------------------------------------------------------------------------------------------------
// Access policy.

/// The access policy panel.
#[derive(Debug)]
pub struct PolicyPanel {
    /// The policy being edited; groups and threshold come from the text fields below.
    pub settings: PolicySettings,
    /// Included group ids, one per line.
    pub included_text: String,
    /// Excluded group ids, one per line.
    pub excluded_text: String,
    /// The guard threshold as typed.
    pub threshold_text: String,
    /// The policy as loaded (or the defaults): saving writes only when the edit differs.
    pub baseline: PolicySettings,
    /// Whether `policy.json` exists.
    pub from_file: bool,
    /// Why the file could not be read, if it could not.
    pub load_error: Option<String>,
    /// The group search (groups picked by name).
    pub search: GroupSearch,
}

impl PolicyPanel {
    /// Loads `policy.json` from `config_dir`, or starts from the defaults.
    pub fn load(config_dir: &Path) -> PolicyPanel {
        let (settings, from_file, load_error) =
            match crate::service::setup::policy_from_file(config_dir) {
                Ok(Some(p)) => (p, true, None),
                Ok(None) => (PolicySettings::default(), false, None),
                Err(e) => (PolicySettings::default(), true, Some(e.to_string())),
            };
        PolicyPanel::from_settings(settings, from_file, load_error)
    }

    fn from_settings(
        settings: PolicySettings,
        from_file: bool,
        load_error: Option<String>,
    ) -> PolicyPanel {
        PolicyPanel {
            included_text: settings.included_groups.join("\n"),
            excluded_text: settings.excluded_groups.join("\n"),
            threshold_text: settings.mass_change_threshold_percent.to_string(),
            baseline: settings.clone(),
            settings,
            from_file,
            load_error,
            search: GroupSearch::default(),
        }
    }

    /// The group ids of a text, one per line, or one message per bad line (blank lines are skipped).
    pub fn parse_groups(text: &str, lang: Lang) -> Result<Vec<String>, Vec<String>> {
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match uuid::Uuid::parse_str(line) {
                Ok(id) => ids.push(id.to_string()),
                Err(_) => errors.push(
                    tr(lang, "pol_group_bad")
                        .replace("{line}", &(n + 1).to_string())
                        .replace("{value}", line),
                ),
            }
        }
        if errors.is_empty() {
            Ok(ids)
        } else {
            Err(errors)
        }
    }

    /// The threshold, or what is wrong with it.
    pub fn parse_threshold(text: &str, lang: Lang) -> Result<f64, String> {
        let t = text.trim().replace(',', ".");
        match t.parse::<f64>() {
            Ok(v) if (1.0..=100.0).contains(&v) => Ok(v),
            _ => Err(tr(lang, "pol_threshold_bad").replace("{value}", text.trim())),
        }
    }

    /// The edited policy, or every problem (field by field, then the policy's own checks).
    pub fn built(&self, lang: Lang) -> Result<PolicySettings, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut p = self.settings.clone();
        for (text, key, target) in [
            (&self.included_text, "pol_included", &mut p.included_groups),
            (&self.excluded_text, "pol_excluded", &mut p.excluded_groups),
        ] {
            match Self::parse_groups(text, lang) {
                Ok(ids) => *target = ids,
                Err(errors) => problems.extend(errors.into_iter().map(|message| Problem {
                    field: key,
                    message,
                })),
            }
        }
        match Self::parse_threshold(&self.threshold_text, lang) {
            Ok(v) => p.mass_change_threshold_percent = v,
            Err(message) => problems.push(Problem {
                field: "pol_threshold",
                message,
            }),
        }
        if problems.is_empty()
            && let Err(e) = p.validate()
        {
            problems.push(Problem {
                field: "tab_policy",
                message: e.to_string(),
            });
        }
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(problems)
        }
    }
}

fn action_key(a: EnforcementAction) -> &'static str {
    match a {
        EnforcementAction::Block => "act_block",
        EnforcementAction::Quarantine => "act_quarantine",
    }
}

fn access_key(a: AccessLevel) -> &'static str {
    match a {
        AccessLevel::Allow => "act_allow",
        AccessLevel::Block => "act_block",
        AccessLevel::Quarantine => "act_quarantine",
    }
}

fn error_line(ui: &mut egui::Ui, text: &str) {
    ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {text}"));
}

/// A labelled text field (single or multi-line) whose label names it for screen readers.
fn labelled_edit(
    ui: &mut egui::Ui,
    label: &str,
    text: &mut String,
    multiline: bool,
    bad: bool,
) -> egui::Response {
    let l = ui.label(label);
    let mut edit = if multiline {
        egui::TextEdit::multiline(text).desired_rows(3)
    } else {
        egui::TextEdit::singleline(text)
    }
    .desired_width(420.0);
    if bad {
        edit = edit.text_color(ui.visuals().error_fg_color);
    }
    ui.add(edit).labelled_by(l.id)
}

/// Draws the access policy panel.
pub fn policy_ui(
    ui: &mut egui::Ui,
    panel: &mut PolicyPanel,
    runtime: &tokio::runtime::Handle,
    env: &ConnectEnv,
    lang: Lang,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    if let Some(e) = &panel.load_error {
        error_line(ui, &format!("{e} — {}", tr(lang, "pol_load_failed")));
    } else if !panel.from_file {
        ui.label(tr(lang, "pol_no_file"));
    }
    ui.checkbox(&mut panel.settings.enabled, tr(lang, "pol_enabled"));

    group_picker_ui(ui, panel, runtime, env, lang, repaint);
    for (key, text) in [
        ("pol_included", &mut panel.included_text),
        ("pol_excluded", &mut panel.excluded_text),
    ] {
        let errors = PolicyPanel::parse_groups(text, lang).err();
        labelled_edit(ui, tr(lang, key), text, true, errors.is_some());
        for e in errors.unwrap_or_default() {
            error_line(ui, &e);
        }
    }

    ui.add_space(4.0);
    for (key, salt, action) in [
        (
            "pol_unenrolled",
            "unenrolled",
            &mut panel.settings.unenrolled_action,
        ),
        (
            "pol_noncompliant",
            "noncompliant",
            &mut panel.settings.noncompliant_action,
        ),
    ] {
        egui::ComboBox::new(salt, tr(lang, key))
            .selected_text(tr(lang, action_key(*action)))
            .show_ui(ui, |ui| {
                for a in [EnforcementAction::Block, EnforcementAction::Quarantine] {
                    ui.selectable_value(action, a, tr(lang, action_key(a)));
                }
            });
    }
    ui.label(tr(lang, "pol_quarantine_note"));
    ui.checkbox(
        &mut panel.settings.grace_counts_as_compliant,
        tr(lang, "pol_grace"),
    );
    ui.checkbox(
        &mut panel.settings.override_default_rule,
        tr(lang, "pol_override"),
    );
    ui.checkbox(&mut panel.settings.rollout_mode, tr(lang, "pol_rollout"));
    egui::ComboBox::new("unmanaged", tr(lang, "pol_unmanaged"))
        .selected_text(tr(
            lang,
            access_key(panel.settings.unmanaged_default_access),
        ))
        .show_ui(ui, |ui| {
            for a in [
                AccessLevel::Allow,
                AccessLevel::Block,
                AccessLevel::Quarantine,
            ] {
                ui.selectable_value(
                    &mut panel.settings.unmanaged_default_access,
                    a,
                    tr(lang, access_key(a)),
                );
            }
        });

    ui.add_space(4.0);
    ui.strong(tr(lang, "pol_exceptions"));
    let mut remove = None;
    for (i, e) in panel.settings.platform_exceptions.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            egui::ComboBox::new(("pe_kind", i), tr(lang, "pe_kind"))
                .selected_text(tr(lang, kind_key(e.kind)))
                .show_ui(ui, |ui| {
                    for k in [PlatformKind::Family, PlatformKind::Model] {
                        ui.selectable_value(&mut e.kind, k, tr(lang, kind_key(k)));
                    }
                });
            let l = ui.label(tr(lang, "pe_name"));
            ui.add(egui::TextEdit::singleline(&mut e.name).desired_width(160.0))
                .labelled_by(l.id);
            egui::ComboBox::new(("pe_access", i), tr(lang, "pe_access"))
                .selected_text(tr(lang, access_key(e.access)))
                .show_ui(ui, |ui| {
                    for a in [
                        AccessLevel::Allow,
                        AccessLevel::Block,
                        AccessLevel::Quarantine,
                    ] {
                        ui.selectable_value(&mut e.access, a, tr(lang, access_key(a)));
                    }
                });
            if ui.button(tr(lang, "pe_remove")).clicked() {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        panel.settings.platform_exceptions.remove(i);
    }
    if ui.button(tr(lang, "pe_add")).clicked() {
        panel.settings.platform_exceptions.push(PlatformException {
            kind: PlatformKind::Family,
            name: String::new(),
            access: AccessLevel::Allow,
        });
    }
    ui.checkbox(
        &mut panel.settings.compliant_beats_platform_restriction,
        tr(lang, "pol_compliant_beats"),
    );

    ui.add_space(4.0);
    let threshold = PolicyPanel::parse_threshold(&panel.threshold_text, lang).err();
    labelled_edit(
        ui,
        tr(lang, "pol_threshold"),
        &mut panel.threshold_text,
        false,
        threshold.is_some(),
    )
    .on_hover_text(tr(lang, "pol_threshold_help"));
    if let Some(e) = threshold {
        error_line(ui, &e);
    }
    // The policy's own checks (an enabled policy needs a group, exceptions need a name).
    if let Err(problems) = panel.built(lang)
        && let Some(p) = problems.iter().find(|p| p.field == "tab_policy")
    {
        error_line(ui, &p.message);
    }
}

// ---------------------------------------------------------------------------------------------------
// Group search: targeted and exempt groups picked by name.

/// How many groups one search shows.
pub const GROUP_SEARCH_TOP: u32 = crate::service::messages::GROUP_SEARCH_MAX;

pub use crate::service::messages::GroupHit;

/// Which list a picked group goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupList {
    /// Targeted groups (`pol_included`).
    Included,
    /// Exempt groups (`pol_excluded`).
    Excluded,
}

/// The group search of the access policy panel.
#[derive(Debug, Default)]
pub struct GroupSearch {
    /// What the admin typed: the start of a group's name.
    pub query: String,
    /// The last answer: the groups found, or why the search failed.
    pub results: Option<Result<Vec<GroupHit>, String>>,
    /// Names of the groups seen, by id (lower case): the chosen groups show their name.
    pub names: std::collections::BTreeMap<String, String>,
    rx: Option<mpsc::Receiver<Result<Vec<GroupHit>, String>>>,
}

impl GroupSearch {
    /// Whether a search is running.
    pub fn is_running(&self) -> bool {
        self.rx.is_some()
    }

    /// Starts a search on `runtime` through the configuration's Graph client (its proxy and CA).
    pub fn start(
        &mut self,
        runtime: &tokio::runtime::Handle,
        env: &ConnectEnv,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        let query = self.query.trim().to_string();
        if query.is_empty() || self.is_running() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let env = env.clone();
        runtime.spawn(async move {
            let _ = tx.send(search_groups(&env, &query).await);
            repaint();
        });
        self.rx = Some(rx);
        self.results = None;
    }

    /// Takes the answer when it arrived.
    pub fn poll(&mut self) {
        let Some(answer) = self.rx.as_ref().and_then(|rx| rx.try_recv().ok()) else {
            return;
        };
        self.rx = None;
        if let Ok(hits) = &answer {
            for hit in hits {
                self.names
                    .insert(hit.id.to_ascii_lowercase(), hit.name.clone());
            }
        }
        self.results = Some(answer);
    }
}

/// Searches the directory for groups whose name starts with `query`, with each one's user count: through
/// the running worker (it signs in with its own secrets, which this process cannot read on Windows),
/// else directly with the setup's secret store (Linux without a worker, the lab demo).
async fn search_groups(env: &ConnectEnv, query: &str) -> Result<Vec<GroupHit>, String> {
    if let Ok(Ok(mut client)) =
        tokio::time::timeout(Duration::from_secs(5), ChannelClient::connect(&env.channel)).await
    {
        let request = Request::SearchGroups {
            prefix: query.to_string(),
        };
        return match tokio::time::timeout(Duration::from_secs(60), client.request(&request)).await {
            Ok(Ok(Reply::Groups { groups })) => Ok(groups),
            Ok(Ok(Reply::Error { message })) => Err(message.to_string()),
            Ok(Ok(other)) => Err(format!("unexpected answer from the worker: {other:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the worker gave no answer within 60 seconds".into()),
        };
    }
    let store: Box<dyn crate::secrets::SecretStore> = match &env.secrets_dir {
        Some(dir) => Box::new(crate::secrets::FileStore::new(dir.clone())),
        None => crate::secrets::default_for_platform(&env.config_dir).map_err(|e| e.to_string())?,
    };
    let access =
        crate::service::worker::directory_access(&env.config_dir, store.as_ref(), &env.instance)?;
    let options = crate::connection::ClientOptions {
        resolve: env.resolve.clone(),
        ..crate::connection::ClientOptions::for_checks()
    };
    crate::service::worker::search_groups(&access, &options, query).await
}

/// The ids of a group list's text (bad lines left out: they have their own message).
fn ids_of(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| uuid::Uuid::parse_str(l.trim()).ok())
        .map(|id| id.to_string())
        .collect()
}

/// Adds `id` to a group list's text unless it is there already.
fn add_id(text: &mut String, id: &str) {
    let id = id.to_ascii_lowercase();
    if ids_of(text).contains(&id) {
        return;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&id);
    text.push('\n');
}

/// Removes `id` from a group list's text.
fn remove_id(text: &mut String, id: &str) {
    *text = text
        .lines()
        .filter(|l| !l.trim().eq_ignore_ascii_case(id))
        .map(|l| format!("{l}\n"))
        .collect();
}

/// The member count in words.
fn members_text(members: Option<usize>, lang: Lang) -> String {
    match members {
        Some(1) => tr(lang, "grp_member_one").to_string(),
        Some(n) => tr(lang, "grp_members").replace("{n}", &n.to_string()),
        None => tr(lang, "grp_members_unknown").to_string(),
    }
}

/// Draws the group search and the chosen groups of both lists, by name.
fn group_picker_ui(
    ui: &mut egui::Ui,
    panel: &mut PolicyPanel,
    runtime: &tokio::runtime::Handle,
    env: &ConnectEnv,
    lang: Lang,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    panel.search.poll();
    ui.strong(tr(lang, "grp_title"));
    ui.add(egui::Label::new(tr(lang, "grp_intro")).wrap());
    let mut go = false;
    ui.horizontal(|ui| {
        let l = ui.label(tr(lang, "grp_search_label"));
        let edit = ui
            .add(egui::TextEdit::singleline(&mut panel.search.query).desired_width(260.0))
            .labelled_by(l.id);
        go |= edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        go |= ui
            .add_enabled(
                !panel.search.is_running(),
                egui::Button::new(tr(lang, "grp_search")),
            )
            .clicked();
        if panel.search.is_running() {
            ui.add(egui::Spinner::new());
        }
    });
    if go {
        panel.search.start(runtime, env, repaint);
    }
    let mut add: Option<(GroupList, String)> = None;
    match &panel.search.results {
        Some(Ok(hits)) if hits.is_empty() => {
            ui.weak(tr(lang, "grp_none_found"));
        }
        Some(Ok(hits)) => {
            egui::Grid::new("group_hits")
                .num_columns(4)
                .spacing([12.0, 4.0])
                .show(ui, |ui| {
                    for hit in hits {
                        ui.label(&hit.name).on_hover_text(&hit.id);
                        ui.weak(members_text(hit.members, lang));
                        if ui
                            .button(tr(lang, "grp_add_included"))
                            .on_hover_text(&hit.name)
                            .clicked()
                        {
                            add = Some((GroupList::Included, hit.id.clone()));
                        }
                        if ui
                            .button(tr(lang, "grp_add_excluded"))
                            .on_hover_text(&hit.name)
                            .clicked()
                        {
                            add = Some((GroupList::Excluded, hit.id.clone()));
                        }
                        ui.end_row();
                    }
                });
        }
        Some(Err(e)) => error_line(ui, &format!("{} {e}", tr(lang, "grp_failed"))),
        None => {}
    }
    match add {
        Some((GroupList::Included, id)) => add_id(&mut panel.included_text, &id),
        Some((GroupList::Excluded, id)) => add_id(&mut panel.excluded_text, &id),
        None => {}
    }
    for (key, list) in [
        ("grp_chosen_included", GroupList::Included),
        ("grp_chosen_excluded", GroupList::Excluded),
    ] {
        let text = match list {
            GroupList::Included => &mut panel.included_text,
            GroupList::Excluded => &mut panel.excluded_text,
        };
        let ids = ids_of(text);
        ui.label(tr(lang, key));
        if ids.is_empty() {
            ui.weak(format!("  {}", tr(lang, "grp_chosen_none")));
        }
        let mut remove = None;
        for id in &ids {
            ui.horizontal(|ui| {
                let name = panel.search.names.get(id).cloned();
                match &name {
                    Some(name) => ui.label(format!("• {name}")).on_hover_text(id),
                    None => ui.label(format!("• {id}")),
                };
                let what = name.unwrap_or_else(|| id.clone());
                if ui
                    .button(tr(lang, "pe_remove"))
                    .on_hover_text(&what)
                    .clicked()
                {
                    remove = Some(id.clone());
                }
            });
        }
        if let Some(id) = remove {
            remove_id(text, &id);
        }
    }
    ui.add_space(4.0);
}

fn kind_key(k: PlatformKind) -> &'static str {
    match k {
        PlatformKind::Family => "pe_family",
        PlatformKind::Model => "pe_model",
    }
}

// ---------------------------------------------------------------------------------------------------
// Notification mail.

/// The notification mail panel.
#[derive(Debug, Clone)]
pub struct TemplatePanel {
    /// The subject line (without `Subject:`).
    pub subject: String,
    /// The HTML body.
    pub body: String,
    /// The language whose shipped template *Reset to default* restores.
    pub language: Language,
    /// The file's text as loaded (`None` when there is no file): saving writes only on a change.
    pub baseline: Option<String>,
    /// Why the file could not be read, if it could not.
    pub load_error: Option<String>,
}

impl TemplatePanel {
    /// Loads the template file from `config_dir`, or the shipped template of `language`.
    pub fn load(config_dir: &Path, language: Language) -> TemplatePanel {
        let path = config_dir.join(NOTIFICATION_TEMPLATE_FILE);
        let (text, load_error) = match std::fs::read_to_string(&path) {
            Ok(t) => (Some(t), None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
            Err(e) => (None, Some(format!("{}: {e}", path.display()))),
        };
        let mut panel = TemplatePanel {
            subject: String::new(),
            body: String::new(),
            language,
            baseline: None,
            load_error,
        };
        match &text {
            Some(t) => {
                let t = t.trim_start_matches('\u{feff}');
                let (first, rest) = t.split_once('\n').unwrap_or((t, ""));
                panel.subject = first
                    .trim()
                    .strip_prefix("Subject:")
                    .unwrap_or(first)
                    .trim()
                    .to_string();
                panel.body = rest.trim().to_string();
                panel.baseline = Some(panel.text());
            }
            None => panel.reset(),
        }
        panel
    }

    /// Back to the shipped template of the configured language.
    pub fn reset(&mut self) {
        let t = Template::default_for(self.language);
        self.subject = t.subject;
        self.body = t.html;
    }

    /// The file's text: `Subject: ...`, then the body.
    pub fn text(&self) -> String {
        format!("Subject: {}\n{}\n", self.subject.trim(), self.body.trim())
    }

    /// Whether the fields are the shipped template.
    pub fn is_default(&self) -> bool {
        let t = Template::default_for(self.language);
        self.subject.trim() == t.subject && self.body.trim() == t.html
    }

    /// The parsed template, or what is wrong with it.
    pub fn parsed(&self) -> Result<Template, String> {
        if self.subject.contains(['\n', '\r']) {
            return Err(crate::notify::template::TemplateError::NoSubject.to_string());
        }
        Template::parse(&self.text()).map_err(|e| e.to_string())
    }

    /// The preview: the rendered subject and the body as readable text.
    pub fn preview(&self) -> Result<(String, String), String> {
        let t = self.parsed()?;
        let (subject, html) = t.render(&MailFields {
            user: PREVIEW_USER,
            device: PREVIEW_DEVICE,
            enrol_link: DEFAULT_ENROL_LINK,
        });
        Ok((subject, html_to_text(&html)))
    }

    /// What saving does with the file: `None` nothing, `Some(None)` remove it (back to the shipped
    /// template), `Some(Some(text))` write it.
    fn change(&self) -> Option<Option<String>> {
        let text = self.text();
        match &self.baseline {
            None if self.is_default() => None,
            Some(b) if *b == text => None,
            Some(_) if self.is_default() => Some(None),
            _ => Some(Some(text)),
        }
    }
}

/// Draws the notification mail panel.
pub fn template_ui(ui: &mut egui::Ui, panel: &mut TemplatePanel, lang: Lang) {
    ui.label(tr(lang, "tpl_intro"));
    ui.add(egui::Label::new(tr(lang, "tpl_account_optional")).wrap());
    if let Some(e) = &panel.load_error {
        error_line(ui, e);
    }
    let error = panel.parsed().err();
    labelled_edit(
        ui,
        tr(lang, "tpl_subject"),
        &mut panel.subject,
        false,
        false,
    );
    let l = ui.label(tr(lang, "tpl_body"));
    ui.add(
        egui::TextEdit::multiline(&mut panel.body)
            .code_editor()
            .desired_rows(10)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(l.id);
    if let Some(e) = &error {
        error_line(ui, e);
    }
    if ui.button(tr(lang, "tpl_reset")).clicked() {
        panel.reset();
    }
    ui.add_space(4.0);
    ui.strong(tr(lang, "tpl_preview"));
    match panel.preview() {
        Ok((subject, body)) => {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.strong(format!("{}: {subject}", tr(lang, "tpl_subject")));
                ui.separator();
                ui.label(body);
            });
        }
        Err(_) => {
            ui.weak(tr(lang, "tpl_no_preview"));
        }
    }
}

/// The text of an HTML body for the preview: tags removed, paragraphs and line breaks kept, links shown
/// as `text (address)`, the common entities decoded, `<head>`, `<style>` and `<script>` left out.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut links: Vec<String> = Vec::new();
    let mut skip_until: Option<&'static str> = None;
    while let Some(start) = rest.find('<') {
        if skip_until.is_none() {
            push_text(&mut out, &rest[..start]);
        }
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[..end].trim();
        rest = &after[end + 1..];
        let lower = tag.to_ascii_lowercase();
        let name: String = lower
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let closing = lower.starts_with('/');
        if let Some(until) = skip_until {
            if closing && name == until {
                skip_until = None;
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("head", false) => skip_until = Some("head"),
            ("style", false) => skip_until = Some("style"),
            ("script", false) => skip_until = Some("script"),
            ("br", _) => out.push('\n'),
            ("p" | "div" | "h1" | "h2" | "h3" | "h4" | "tr" | "table" | "ul" | "ol", _) => {
                paragraph(&mut out)
            }
            ("li", false) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str("• ");
            }
            ("a", false) => links.push(attribute(tag, "href").unwrap_or_default()),
            ("a", true) => {
                if let Some(href) = links.pop().filter(|h| !h.is_empty()) {
                    out.push_str(&format!(" ({})", decode_entities(&href)));
                }
            }
            _ => {}
        }
    }
    if skip_until.is_none() {
        push_text(&mut out, rest);
    }
    out.trim().to_string()
}

fn paragraph(out: &mut String) {
    let trimmed = out.trim_end_matches([' ', '\n']).len();
    out.truncate(trimmed);
    if !out.is_empty() {
        out.push_str("\n\n");
    }
}

fn push_text(out: &mut String, text: &str) {
    let decoded = decode_entities(text);
    let space = |out: &mut String| {
        if !out.is_empty() && !out.ends_with([' ', '\n']) {
            out.push(' ');
        }
    };
    let mut words = decoded.split_whitespace().peekable();
    if words.peek().is_none() {
        if !decoded.is_empty() {
            space(out);
        }
        return;
    }
    if decoded.starts_with(char::is_whitespace) {
        space(out);
    }
    let mut first = true;
    for word in words {
        if !first {
            space(out);
        }
        out.push_str(word);
        first = false;
    }
    if decoded.ends_with(char::is_whitespace) {
        space(out);
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let value = &tag[at..];
    let (quote, value) = match value.chars().next()? {
        q @ ('"' | '\'') => (Some(q), &value[1..]),
        _ => (None, value),
    };
    let end = match quote {
        Some(q) => value.find(q).unwrap_or(value.len()),
        None => value.find(char::is_whitespace).unwrap_or(value.len()),
    };
    Some(value[..end].to_string())
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------------------
// Schedule.

/// The schedule panel: `QuickSyncIntervalMinutes` and `FullSyncTime`, checked by the settings registry.
#[derive(Debug, Clone)]
pub struct SchedulePanel {
    /// The quick sync interval as typed.
    pub quick_text: String,
    /// The full sync time as typed.
    pub full_text: String,
    /// The values as loaded: saving writes only on a change.
    pub baseline: (String, String),
    /// Whether a configuration exists (without one the schedule is saved by Setup's Connect).
    pub configured: bool,
    /// Why the configuration could not be read, if it could not.
    pub load_error: Option<String>,
}

impl SchedulePanel {
    /// Reads the schedule from the configuration in `config_dir` (registry defaults without one).
    pub fn load(config_dir: &Path) -> SchedulePanel {
        let default = |key| {
            crate::settings::find(key)
                .and_then(|s| s.default)
                .unwrap_or_default()
                .to_string()
        };
        let (quick, full, configured, load_error) = match Config::load(config_dir) {
            Ok(l) => (
                l.config.quick_sync_interval_minutes.to_string(),
                l.config.full_sync_time.format("%H:%M").to_string(),
                true,
                None,
            ),
            Err(crate::config::ConfigError::NotConfigured { .. }) => {
                (default(QUICK_SYNC_KEY), default(FULL_SYNC_KEY), false, None)
            }
            Err(e) => (
                default(QUICK_SYNC_KEY),
                default(FULL_SYNC_KEY),
                false,
                Some(e.to_string()),
            ),
        };
        SchedulePanel {
            baseline: (quick.clone(), full.clone()),
            quick_text: quick,
            full_text: full,
            configured,
            load_error,
        }
    }

    /// The registry's verdict on a value of `key`: the normalised value or its message.
    pub fn check(key: &str, value: &str) -> Result<String, String> {
        match crate::settings::find(key) {
            Some(s) => s.validate(value).map_err(|e| e.message),
            None => Err(format!("{key} is not a setting")),
        }
    }

    /// The normalised (interval, time), or every problem.
    pub fn built(&self) -> Result<(String, String), Vec<Problem>> {
        let quick = Self::check(QUICK_SYNC_KEY, &self.quick_text);
        let full = Self::check(FULL_SYNC_KEY, &self.full_text);
        match (quick, full) {
            (Ok(q), Ok(f)) => Ok((q, f)),
            (q, f) => Err([("sch_quick", q.err()), ("sch_full", f.err())]
                .into_iter()
                .filter_map(|(field, m)| m.map(|message| Problem { field, message }))
                .collect()),
        }
    }

    fn changed(&self, values: &(String, String)) -> bool {
        let norm = |key, v: &str| Self::check(key, v).unwrap_or_else(|_| v.to_string());
        *values
            != (
                norm(QUICK_SYNC_KEY, &self.baseline.0),
                norm(FULL_SYNC_KEY, &self.baseline.1),
            )
    }
}

/// Draws the schedule panel.
pub fn schedule_ui(ui: &mut egui::Ui, panel: &mut SchedulePanel, lang: Lang) {
    if let Some(e) = &panel.load_error {
        error_line(ui, e);
    }
    if !panel.configured {
        ui.label(tr(lang, "sch_not_configured"));
    }
    ui.add_enabled_ui(panel.configured, |ui| {
        for (key, label, text) in [
            (QUICK_SYNC_KEY, "sch_quick", &mut panel.quick_text),
            (FULL_SYNC_KEY, "sch_full", &mut panel.full_text),
        ] {
            let error = SchedulePanel::check(key, text).err();
            let help = crate::settings::find(key).map(|s| s.help).unwrap_or("");
            labelled_edit(ui, tr(lang, label), text, false, error.is_some()).on_hover_text(help);
            if let Some(e) = error {
                error_line(ui, &e);
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Advanced settings.

/// The registry keys the Advanced tab edits, in display order (label, help and validator come from
/// [`crate::settings`]).
pub const ADVANCED_KEYS: [&str; 4] = [
    "IsCasFailoverEnabled",
    "EnableParallelCommandSupport",
    "MaxRunspaces",
    "PowerShellAuthentication",
];

/// The Advanced tab: each of [`ADVANCED_KEYS`] as text, checked by the settings registry.
#[derive(Debug, Clone)]
pub struct AdvancedPanel {
    /// The values as edited, by key (booleans `true`/`false`, the enum as listed).
    pub values: Vec<(&'static str, String)>,
    /// The values as loaded: saving writes only on a change.
    pub baseline: Vec<(&'static str, String)>,
    /// Whether a configuration exists (without one these are saved by Setup's Connect).
    pub configured: bool,
}

impl AdvancedPanel {
    /// Reads the values from the configuration in `config_dir` (registry defaults without one).
    pub fn load(config_dir: &Path) -> AdvancedPanel {
        let loaded = Config::load(config_dir).ok().map(|l| l.config.to_values());
        let values: Vec<(&'static str, String)> = ADVANCED_KEYS
            .iter()
            .map(|key| {
                let stored = loaded.as_ref().and_then(|values| {
                    values
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.clone())
                });
                let default = crate::settings::find(key)
                    .and_then(|s| s.default)
                    .unwrap_or_default()
                    .to_string();
                (*key, stored.unwrap_or(default))
            })
            .collect();
        AdvancedPanel {
            baseline: values.clone(),
            values,
            configured: loaded.is_some(),
        }
    }

    /// The normalised values, or every problem (the field is the registry key).
    pub fn built(&self) -> Result<Vec<(&'static str, String)>, Vec<Problem>> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for (key, value) in &self.values {
            match SchedulePanel::check(key, value) {
                Ok(v) => out.push((*key, v)),
                Err(message) => problems.push(Problem {
                    field: key,
                    message,
                }),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    fn changed(&self, values: &[(&'static str, String)]) -> bool {
        values.iter().zip(&self.baseline).any(|((key, v), (_, b))| {
            SchedulePanel::check(key, b).unwrap_or_else(|_| b.clone()) != *v
        })
    }
}

/// Draws the Advanced tab: one control per setting, by its kind, with the registry's help below it.
pub fn advanced_ui(ui: &mut egui::Ui, panel: &mut AdvancedPanel, lang: Lang) {
    ui.label(tr(lang, "adv_intro"));
    if !panel.configured {
        ui.label(tr(lang, "sch_not_configured"));
    }
    ui.add_enabled_ui(panel.configured, |ui| {
        for (key, value) in &mut panel.values {
            let Some(setting) = crate::settings::find(key) else {
                continue;
            };
            ui.add_space(6.0);
            let label = crate::gui::i18n::setting_label(lang, setting);
            match setting.kind {
                crate::settings::Kind::Bool => {
                    let mut on = value.eq_ignore_ascii_case("true");
                    if ui.checkbox(&mut on, label).changed() {
                        *value = on.to_string();
                    }
                }
                crate::settings::Kind::Enum(choices) => {
                    egui::ComboBox::new(setting.key, label)
                        .selected_text(value.clone())
                        .show_ui(ui, |ui| {
                            for choice in choices {
                                ui.selectable_value(value, choice.to_string(), *choice);
                            }
                        });
                }
                _ => {
                    let error = SchedulePanel::check(key, value).err();
                    labelled_edit(ui, label, value, false, error.is_some());
                    if let Some(e) = error {
                        error_line(ui, &e);
                    }
                }
            }
            ui.add(
                egui::Label::new(
                    egui::RichText::new(crate::gui::i18n::setting_help(lang, setting)).weak(),
                )
                .wrap(),
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Saving.

/// What the worker said after a save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerNote {
    /// The worker accepted the reload (its message, shown in the GUI's language).
    Reloaded(TextCode),
    /// The worker is not running: the settings apply when it starts.
    NotRunning,
    /// The worker refused or could not be asked (its message); the files are saved.
    Refused(TextCode),
}

/// The outcome of a save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Everything was written (the files changed) and the worker told.
    Saved {
        /// The files written or removed.
        files: Vec<PathBuf>,
        /// What the worker said.
        worker: WorkerNote,
    },
    /// Nothing was written (why).
    Failed(String),
}

/// What a save writes, computed (and validated) on the UI thread before anything is written.
#[derive(Debug, Clone, Default)]
struct Plan {
    policy: Option<PolicySettings>,
    template: Option<Option<String>>,
    schedule: Option<(String, String)>,
    advanced: Option<Vec<(&'static str, String)>>,
}

/// A running save.
#[derive(Debug)]
pub struct SaveRun {
    /// The outcome, once finished.
    pub outcome: Option<SaveOutcome>,
    plan: Plan,
    rx: mpsc::Receiver<SaveOutcome>,
}

impl SaveRun {
    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }
}

/// The three panels and their *Save*.
#[derive(Debug)]
pub struct SettingsPolicyPage {
    /// The tab shown.
    pub tab: Tab,
    /// Access policy.
    pub policy: PolicyPanel,
    /// Notification mail.
    pub template: TemplatePanel,
    /// Schedule.
    pub schedule: SchedulePanel,
    /// Advanced settings.
    pub advanced: AdvancedPanel,
    /// The problems found by the last *Save* (nothing was saved).
    pub problems: Vec<Problem>,
    /// Set when *Save* found nothing to change.
    pub unchanged: bool,
    /// The last save.
    pub save: Option<SaveRun>,
}

impl SettingsPolicyPage {
    /// Loads the three panels from the configuration folder.
    pub fn load(config_dir: &Path) -> SettingsPolicyPage {
        let language = match Config::load(config_dir).map(|l| l.config.notification_language) {
            Ok(NotificationLanguage::Fr) => Language::Fr,
            Ok(NotificationLanguage::Nl) => Language::Nl,
            _ => Language::En,
        };
        SettingsPolicyPage {
            tab: Tab::default(),
            policy: PolicyPanel::load(config_dir),
            template: TemplatePanel::load(config_dir, language),
            schedule: SchedulePanel::load(config_dir),
            advanced: AdvancedPanel::load(config_dir),
            problems: Vec::new(),
            unchanged: false,
            save: None,
        }
    }

    /// Re-reads the panels (after Connect wrote a configuration), keeping the tab.
    pub fn reload(&mut self, config_dir: &Path) {
        let tab = self.tab;
        *self = SettingsPolicyPage::load(config_dir);
        self.tab = tab;
    }

    /// Whether a save is running.
    pub fn saving(&self) -> bool {
        self.save.as_ref().is_some_and(SaveRun::is_running)
    }

    /// Every problem of the three panels, or what to save.
    fn plan(&self, lang: Lang) -> Result<Plan, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut plan = Plan::default();
        match self.policy.built(lang) {
            Ok(p) => {
                if p != self.policy.baseline {
                    plan.policy = Some(p);
                }
            }
            Err(e) => problems.extend(e),
        }
        match self.template.parsed() {
            Ok(_) => plan.template = self.template.change(),
            Err(message) => problems.push(Problem {
                field: "tpl_body",
                message,
            }),
        }
        if self.schedule.configured {
            match self.schedule.built() {
                Ok(values) => {
                    if self.schedule.changed(&values) {
                        plan.schedule = Some(values);
                    }
                }
                Err(e) => problems.extend(e),
            }
        }
        if self.advanced.configured {
            match self.advanced.built() {
                Ok(values) => {
                    if self.advanced.changed(&values) {
                        plan.advanced = Some(values);
                    }
                }
                Err(e) => problems.extend(e),
            }
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(problems)
        }
    }

    /// Presses *Save*: validates everything, then writes on `runtime` (nothing when anything is wrong).
    pub fn start_save(
        &mut self,
        runtime: &tokio::runtime::Handle,
        env: &ConnectEnv,
        lang: Lang,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        if self.saving() {
            return;
        }
        self.unchanged = false;
        self.save = None;
        let plan = match self.plan(lang) {
            Ok(p) => p,
            Err(problems) => {
                self.problems = problems;
                return;
            }
        };
        self.problems.clear();
        if plan.policy.is_none()
            && plan.template.is_none()
            && plan.schedule.is_none()
            && plan.advanced.is_none()
        {
            self.unchanged = true;
            return;
        }
        let (tx, rx) = mpsc::channel();
        let job = plan.clone();
        let config_dir = env.config_dir.clone();
        let channel = env.channel.clone();
        runtime.spawn(async move {
            let dir = config_dir.clone();
            let written = tokio::task::spawn_blocking(move || write_all(&dir, &job))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            let outcome = match written {
                Err(e) => SaveOutcome::Failed(e),
                Ok(files) => SaveOutcome::Saved {
                    files,
                    worker: ask_reload(&config_dir, &channel).await,
                },
            };
            let _ = tx.send(outcome);
            repaint();
        });
        self.save = Some(SaveRun {
            outcome: None,
            plan,
            rx,
        });
    }

    /// Takes the save's outcome when it arrived; a successful save becomes the new baseline.
    pub fn poll(&mut self) {
        let Some(run) = &mut self.save else {
            return;
        };
        if run.outcome.is_some() {
            return;
        }
        let Ok(outcome) = run.rx.try_recv() else {
            return;
        };
        if matches!(outcome, SaveOutcome::Saved { .. }) {
            if let Some(p) = &run.plan.policy {
                self.policy.baseline = p.clone();
                self.policy.from_file = true;
                self.policy.load_error = None;
            }
            if let Some(t) = &run.plan.template {
                self.template.baseline = t.clone();
                self.template.load_error = None;
            }
            if let Some(s) = &run.plan.schedule {
                self.schedule.baseline = s.clone();
            }
            if let Some(a) = &run.plan.advanced {
                self.advanced.baseline = a.clone();
            }
        }
        run.outcome = Some(outcome);
    }
}

/// Writes the plan: every new file to a temporary file beside it first ([`atomic_file::stage`]), then
/// the configuration (its own atomic save), then the renames. A failure before the renames leaves every
/// file as it was (a staged file that is dropped is removed).
fn write_all(dir: &Path, plan: &Plan) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
    if let Some(p) = &plan.policy {
        let json = serde_json::to_vec_pretty(p).map_err(|e| e.to_string())?;
        files.push((dir.join(POLICY_FILE), Some(json)));
    }
    if let Some(t) = &plan.template {
        files.push((
            dir.join(NOTIFICATION_TEMPLATE_FILE),
            t.as_ref().map(|t| t.clone().into_bytes()),
        ));
    }
    // (target, the staged new content or None to remove the file)
    let mut staged: Vec<(PathBuf, Option<atomic_file::StagedFile>)> = Vec::new();
    for (path, bytes) in files {
        let file = match bytes {
            Some(bytes) => Some(
                atomic_file::stage(&path, &bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            ),
            None => None,
        };
        staged.push((path, file));
    }
    let mut done = Vec::new();
    let mut updates: Vec<(&str, String)> = Vec::new();
    if let Some((quick, full)) = &plan.schedule {
        updates.push((QUICK_SYNC_KEY, quick.clone()));
        updates.push((FULL_SYNC_KEY, full.clone()));
    }
    updates.extend(plan.advanced.iter().flatten().cloned());
    if !updates.is_empty() {
        let path = Config::load(dir)
            .map_err(|e| e.to_string())
            .and_then(|loaded| {
                let unknown = loaded.config.unknown.clone();
                let mut values: crate::config::Values = loaded
                    .config
                    .to_values()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                for (key, value) in updates {
                    values.insert(key.to_string(), value);
                }
                let mut config = Config::from_values(&values).map_err(|errors| {
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })?;
                config.unknown = unknown;
                config.save(dir).map_err(|e| e.to_string())
            })?;
        done.push(path);
    }
    for (path, file) in staged {
        let result = match file {
            Some(file) => file.commit(),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        result.map_err(|e| format!("{}: {e}", path.display()))?;
        done.push(path);
    }
    Ok(done)
}

/// Asks a running worker to reload: `ApplyConfig` with the saved configuration (the worker validates
/// it, saves it and rebuilds its engine, which re-reads the policy and the template).
async fn ask_reload(
    config_dir: &Path,
    channel: &crate::service::channel::ChannelAddress,
) -> WorkerNote {
    let Ok(Ok(mut client)) =
        tokio::time::timeout(Duration::from_secs(5), ChannelClient::connect(channel)).await
    else {
        return WorkerNote::NotRunning;
    };
    let values = match Config::load(config_dir) {
        Ok(l) => l
            .config
            .to_values()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        Err(e) => return WorkerNote::Refused(e.to_string().into()),
    };
    match tokio::time::timeout(
        Duration::from_secs(15),
        client.request(&Request::ApplyConfig { values }),
    )
    .await
    {
        Ok(Ok(Reply::Accepted { message })) => WorkerNote::Reloaded(message),
        Ok(Ok(Reply::Error { message })) => WorkerNote::Refused(message),
        Ok(Ok(other)) => WorkerNote::Refused(format!("{other:?}").into()),
        Ok(Err(e)) => WorkerNote::Refused(e.to_string().into()),
        Err(_) => WorkerNote::Refused("no answer within 15 seconds".into()),
    }
}

/// Draws the tab's panel and the *Save* of the three panels.
pub fn ui(
    ui: &mut egui::Ui,
    page: &mut SettingsPolicyPage,
    runtime: &tokio::runtime::Handle,
    env: &ConnectEnv,
    lang: Lang,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    match page.tab {
        Tab::Connection => return,
        Tab::Policy => policy_ui(ui, &mut page.policy, runtime, env, lang, repaint.clone()),
        Tab::Notification => template_ui(ui, &mut page.template, lang),
        Tab::Schedule => schedule_ui(ui, &mut page.schedule, lang),
        Tab::Advanced => advanced_ui(ui, &mut page.advanced, lang),
    }
    ui.separator();
    ui.label(tr(lang, "pol_save_intro"));
    let saving = page.saving();
    if ui
        .add_enabled(!saving, egui::Button::new(tr(lang, "pol_save")))
        .clicked()
    {
        page.start_save(runtime, env, lang, repaint);
    }
    if saving {
        ui.add(egui::Spinner::new());
    }
    let error = ui.visuals().error_fg_color;
    if !page.problems.is_empty() {
        ui.colored_label(error, tr(lang, "pol_not_saved"));
        for p in &page.problems {
            // A field is a label key, or a registry key (Advanced) whose label is the registry's.
            let field = crate::settings::find(p.field)
                .map(|s| s.label)
                .unwrap_or_else(|| tr(lang, p.field));
            ui.colored_label(error, format!("• {field}: {}", p.message));
        }
    }
    if page.unchanged {
        ui.label(tr(lang, "pol_unchanged"));
    }
    if let Some(SaveRun {
        outcome: Some(outcome),
        ..
    }) = &page.save
    {
        match outcome {
            SaveOutcome::Saved { files, worker } => {
                ui.colored_label(
                    egui::Color32::from_rgb(40, 150, 70),
                    format!("✔ {}", tr(lang, "pol_saved")),
                );
                for f in files {
                    ui.weak(f.display().to_string());
                }
                match worker {
                    WorkerNote::Reloaded(m) => {
                        ui.label(format!(
                            "{} ({})",
                            tr(lang, "pol_worker_reloaded"),
                            coded_text(lang, m)
                        ));
                    }
                    WorkerNote::NotRunning => {
                        ui.label(tr(lang, "pol_worker_not_running"));
                    }
                    WorkerNote::Refused(m) => {
                        ui.colored_label(
                            error,
                            format!(
                                "{}: {}",
                                tr(lang, "pol_worker_refused"),
                                coded_text(lang, m)
                            ),
                        );
                    }
                }
            }
            SaveOutcome::Failed(e) => {
                ui.colored_label(error, format!("{} {e}", tr(lang, "pol_write_failed")));
            }
        }
    }
}
