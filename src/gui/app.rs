//! The application: pages (Setup, Status, Settings), language and theme, and the eframe glue.

use crate::gui::connect::{
    CheckId, CheckState, ConnectEnv, ConnectInput, ConnectRun, ConnectSuccess,
};
use crate::gui::i18n::{Lang, tr};
use crate::gui::settings_policy::{self, SettingsPolicyPage, Tab};
use crate::gui::status::{StatusAction, StatusPage};
use crate::gui::wizard::first_sync::FirstSync;
use crate::gui::wizard::package::FilePicker;
use crate::gui::wizard::sign_in::SignInPanel;
use crate::gui::wizard::{self, Field, ServerType, Step, WizardState};
use eframe::egui;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Page {
    /// The wizard.
    Setup,
    /// The status page.
    Status,
    /// Change the proxy, the credentials, the policy, the notification mail and the schedule.
    Settings,
}

/// What is remembered between runs (besides the window, which eframe keeps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    /// The language chosen in the UI, if the admin chose one.
    pub lang: Option<Lang>,
    /// Whether the window was once sized to the monitor (eframe keeps the size from then on).
    #[serde(default)]
    pub window_sized: bool,
}

/// What the app is made of; the binary, the lab demo and the tests each build one.
pub struct AppParts {
    /// Where checks run and save.
    pub env: ConnectEnv,
    /// The background runtime for all I/O.
    pub runtime: tokio::runtime::Handle,
    /// The file dialog.
    pub picker: Box<dyn FilePicker>,
    /// The wizard's initial fields.
    pub wizard: WizardState,
    /// The language.
    pub lang: Lang,
    /// Things that must live as long as the app (the lab, its runtime).
    pub keep_alive: Vec<Box<dyn std::any::Any>>,
}

/// The setup application.
pub struct SetupApp {
    /// The language in use.
    pub lang: Lang,
    /// The page shown.
    pub page: Page,
    /// The wizard's fields.
    pub wizard: WizardState,
    /// The wizard's step on screen.
    pub step: Step,
    /// The furthest step the admin has reached (the step list lets them go back to any before it).
    pub reached: Step,
    /// The first sync, followed once Connect succeeded.
    pub first_sync: Option<FirstSync>,
    /// The first step's sign-in to Entra and the app it creates.
    pub sign_in: SignInPanel,
    /// Whether the window was sized to the monitor (set from what eframe remembers).
    pub window_sized: bool,
    /// The UI's context, once drawn (background tasks ask it to repaint).
    ctx: Option<egui::Context>,
    /// The top bar's width on one line, as last measured.
    top_bar_width: f32,
    /// Connect just succeeded: bring its outcome (and the package question) into view once.
    scroll_to_outcome: bool,
    /// The last Connect.
    pub connect: Option<ConnectRun>,
    /// The outcome of a successful Connect.
    pub success: Option<ConnectSuccess>,
    /// The package file the admin is asked about deleting.
    pub delete_prompt: Option<PathBuf>,
    /// The Settings page's fields.
    pub settings: WizardState,
    /// The last *Check and save*.
    pub settings_run: Option<ConnectRun>,
    /// Settings' tabs: access policy, notification mail and schedule.
    pub more: SettingsPolicyPage,
    /// The status page.
    pub status: StatusPage,
    /// The environment.
    pub env: ConnectEnv,
    runtime: tokio::runtime::Handle,
    picker: Box<dyn FilePicker>,
    worker_message: Option<String>,
    _keep_alive: Vec<Box<dyn std::any::Any>>,
}

impl std::fmt::Debug for SetupApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupApp")
            .field("page", &self.page)
            .field("wizard", &self.wizard)
            .finish()
    }
}

impl SetupApp {
    /// Builds the app; it opens on the status page when a configuration exists.
    pub fn new(parts: AppParts) -> SetupApp {
        let configured = parts
            .env
            .config_dir
            .join(crate::config::CONFIG_FILE)
            .exists();
        let mut wizard = parts.wizard;
        if !wizard.package_path.is_empty() {
            // A package given up front (the lab demo, a second server): the first step shows it.
            wizard.use_package = true;
            wizard.load_package();
        }
        let settings = if configured {
            let mut settings = settings_from_config(&parts.env);
            settings.use_package = true;
            settings
        } else {
            wizard.clone()
        };
        SetupApp {
            lang: parts.lang,
            page: if configured {
                Page::Status
            } else {
                Page::Setup
            },
            settings,
            wizard,
            step: Step::Package,
            reached: Step::Package,
            first_sync: None,
            sign_in: SignInPanel::default(),
            window_sized: false,
            ctx: None,
            top_bar_width: 0.0,
            scroll_to_outcome: false,
            connect: None,
            success: None,
            delete_prompt: None,
            settings_run: None,
            more: SettingsPolicyPage::load(&parts.env.config_dir),
            status: StatusPage::new(parts.env.channel.clone()),
            env: parts.env,
            runtime: parts.runtime,
            picker: parts.picker,
            worker_message: None,
            _keep_alive: parts.keep_alive,
        }
    }

    /// Whether Connect is running.
    pub fn connecting(&self) -> bool {
        self.connect.as_ref().is_some_and(ConnectRun::is_running)
    }

    /// Presses Connect: shows every field's error, or starts the checks.
    pub fn start_connect(&mut self, ctx: &egui::Context) {
        if self.connecting() {
            return;
        }
        self.wizard.show_all_errors = true;
        if !self.wizard.errors(self.lang).is_empty() {
            self.connect = None;
            return;
        }
        let ctx = ctx.clone();
        self.success = None;
        self.connect = Some(ConnectRun::start(
            &self.runtime,
            self.env.clone(),
            ConnectInput {
                wizard: self.wizard.clone(),
                register: true,
            },
            move || ctx.request_repaint(),
        ));
    }

    fn start_settings_check(&mut self, ctx: &egui::Context) {
        if self
            .settings_run
            .as_ref()
            .is_some_and(ConnectRun::is_running)
        {
            return;
        }
        self.settings.show_all_errors = true;
        if !self.settings.errors(self.lang).is_empty() {
            self.settings_run = None;
            return;
        }
        let ctx = ctx.clone();
        self.settings_run = Some(ConnectRun::start(
            &self.runtime,
            self.env.clone(),
            ConnectInput {
                wizard: self.settings.clone(),
                register: false,
            },
            move || ctx.request_repaint(),
        ));
    }

    fn repaint(ctx: &egui::Context) -> Arc<dyn Fn() + Send + Sync> {
        let ctx = ctx.clone();
        Arc::new(move || ctx.request_repaint())
    }

    /// Draws everything (the eframe `ui` and the tests call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.ctx = Some(ctx.clone());
        if let Some(run) = &mut self.connect {
            run.poll();
            if let Some(Ok(success)) = &run.outcome
                && self.success.is_none()
            {
                self.success = Some(success.clone());
                self.scroll_to_outcome = true;
                // The worker carries on from here: start it when it does not run yet (the secrets
                // then went to the store it reads).
                if !success.secrets_to_worker {
                    self.worker_message = Some(start_worker(&self.env));
                }
                self.settings = self.wizard.clone();
                self.more.reload(&self.env.config_dir);
                match &success.insecure_package {
                    Some(p) => self.delete_prompt = Some(p.clone()),
                    None => self.go_to_first_sync(),
                }
                self.status.refresh(&self.runtime, Self::repaint(&ctx));
            }
        }
        if let Some(sync) = &mut self.first_sync {
            sync.poll();
        }
        self.sign_in
            .poll(&mut self.wizard, &self.runtime, Self::repaint(&ctx));
        if let Some(run) = &mut self.settings_run {
            run.poll();
        }
        self.more.poll();
        if self.page == Page::Status {
            self.status.update(&self.runtime, Self::repaint(&ctx));
        }
        egui::Frame::central_panel(ui.style()).show(ui, |ui| {
            self.top_bar(ui);
            ui.separator();
            if self.page == Page::Setup {
                self.wizard_page(ui);
                paint_focus_ring(&ctx);
                return;
            }
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| match self.page {
                    Page::Setup => {}
                    Page::Status => {
                        if self.status.worker != crate::gui::status::WorkerState::Running
                            && !self
                                .env
                                .config_dir
                                .join(crate::config::CONFIG_FILE)
                                .exists()
                        {
                            ui.label(tr(self.lang, "not_configured"));
                        }
                        let rt = self.runtime.clone();
                        if crate::gui::status::ui(
                            ui,
                            &mut self.status,
                            &rt,
                            Self::repaint(&ctx),
                            self.lang,
                        ) == StatusAction::StartWorker
                        {
                            self.worker_message = Some(start_worker(&self.env));
                            self.status.refresh(&rt, Self::repaint(&ctx));
                        }
                        if let Some(m) = &self.worker_message {
                            ui.label(m);
                        }
                    }
                    Page::Settings => self.settings_page(ui),
                });
        });
    }

    /// The bar on one line while it fits the window (its width is measured on one line), else wrapped
    /// over two.
    fn top_bar(&mut self, ui: &mut egui::Ui) {
        if ui.available_width() >= self.top_bar_width {
            let row = ui.horizontal(|ui| self.top_bar_contents(ui));
            self.top_bar_width = row.response.rect.width();
        } else {
            ui.horizontal_wrapped(|ui| self.top_bar_contents(ui));
        }
    }

    fn top_bar_contents(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.strong(tr(lang, "title"));
        ui.separator();
        for (page, key) in [
            (Page::Setup, "nav_setup"),
            (Page::Status, "nav_status"),
            (Page::Settings, "nav_settings"),
        ] {
            if ui
                .selectable_label(self.page == page, tr(lang, key))
                .clicked()
            {
                self.page = page;
            }
        }
        ui.separator();
        egui::ComboBox::from_label(tr(lang, "language"))
            .selected_text(lang.native_name())
            .show_ui(ui, |ui| {
                for l in Lang::ALL {
                    ui.selectable_value(&mut self.lang, l, l.native_name());
                }
            });
        let dark = ui.visuals().dark_mode;
        let label = ui.label(tr(lang, "theme"));
        if ui
            .selectable_label(!dark, tr(lang, "theme_light"))
            .labelled_by(label.id)
            .clicked()
        {
            ui.ctx().set_theme(egui::ThemePreference::Light);
        }
        if ui
            .selectable_label(dark, tr(lang, "theme_dark"))
            .labelled_by(label.id)
            .clicked()
        {
            ui.ctx().set_theme(egui::ThemePreference::Dark);
        }
    }

    /// The first step that does not validate (the admin may go to any step up to it), or Connect.
    fn first_open_step(&self) -> Step {
        Step::ALL
            .into_iter()
            .take_while(|s| *s < Step::Connect)
            .find(|s| !self.wizard.step_is_valid(*s))
            .unwrap_or(Step::Connect)
    }

    /// Whether the step list shows a step as done.
    pub fn step_done(&self, step: Step) -> bool {
        match step {
            Step::Connect => self.success.is_some(),
            Step::FirstSync => self.first_sync.as_ref().is_some_and(FirstSync::is_over),
            _ => step < self.reached && self.wizard.step_is_valid(step),
        }
    }

    /// Whether the admin may open `step` now (from the step list or with Next): any step already
    /// reached, and forward up to the first step that does not validate.
    pub fn step_open(&self, step: Step) -> bool {
        match step {
            Step::FirstSync => self.success.is_some() && self.delete_prompt.is_none(),
            _ => step <= self.first_open_step().max(self.reached) && !self.connecting(),
        }
    }

    /// Shows `step` (when it may be opened).
    pub fn go_to(&mut self, step: Step) {
        if self.step_open(step) {
            self.open_step(step);
        }
    }

    /// Shows `step` whatever the steps before it hold: the links from Connect's errors lead to the
    /// step to fix even when an earlier one is incomplete (and tests start on any step).
    pub fn open_step(&mut self, step: Step) {
        self.step = step;
        self.reached = self.reached.max(step);
        if step == Step::FirstSync && self.first_sync.is_none() {
            let repaint: Arc<dyn Fn() + Send + Sync> = match &self.ctx {
                Some(ctx) => Self::repaint(ctx),
                None => Arc::new(|| {}),
            };
            self.first_sync = Some(FirstSync::start(
                &self.runtime,
                self.env.channel.clone(),
                repaint,
            ));
        }
    }

    fn go_to_first_sync(&mut self) {
        self.delete_prompt = None;
        self.go_to(Step::FirstSync);
    }

    /// Next: to the following step when this one validates, else every error of this step shows.
    pub fn next_step(&mut self) {
        let Some(next) = self.step.next() else {
            return;
        };
        if self.step < Step::Connect && !self.wizard.step_is_valid(self.step) {
            self.wizard.touch_step(self.step);
            return;
        }
        self.go_to(next);
    }

    /// The wizard: the step list at the side, Back/Next at the bottom, the step's content in between
    /// (scrolling when it does not fit). Laid out by hand rather than with panels so that Tab visits
    /// the step's fields first, then Back/Next, then the step list.
    fn wizard_page(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let ctx = ui.ctx().clone();
        // Never wider than the window, even when something above grew the page.
        let mut full = ui.available_rect_before_wrap();
        full.max.x = full
            .max
            .x
            .min(ui.clip_rect().max.x - ui.spacing().window_margin.rightf());
        let gap = ui.spacing().item_spacing.x * 2.0;
        let side_width = (full.width() * 0.28).clamp(150.0, 230.0);
        let nav_height = ui.spacing().interact_size.y + 16.0;
        let side =
            egui::Rect::from_min_max(full.min, egui::pos2(full.min.x + side_width, full.max.y));
        let main_left = side.max.x + gap;
        let content = egui::Rect::from_min_max(
            egui::pos2(main_left, full.min.y),
            egui::pos2(full.max.x, full.max.y - nav_height),
        );
        let nav = egui::Rect::from_min_max(egui::pos2(main_left, content.max.y), full.max);
        ui.scope_builder(egui::UiBuilder::new().max_rect(content), |ui| {
            egui::ScrollArea::vertical()
                .id_salt("wizard_content")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    ui.set_max_width(ui.available_width().min(760.0));
                    match self.step {
                        Step::Package => {
                            let rt = self.runtime.clone();
                            wizard::sign_in::ui(
                                ui,
                                &mut self.sign_in,
                                &mut self.wizard,
                                self.picker.as_mut(),
                                &rt,
                                Self::repaint(&ctx),
                                lang,
                            );
                        }
                        Step::Server => wizard::server::ui(ui, &mut self.wizard, lang),
                        Step::Proxy => wizard::proxy::ui(ui, &mut self.wizard, lang),
                        Step::Accounts => {
                            wizard::accounts::exchange_ui(ui, &mut self.wizard, lang);
                            ui.separator();
                            wizard::accounts::notification_ui(ui, &mut self.wizard, lang);
                        }
                        Step::Connect => self.connect_step(ui, &ctx),
                        Step::FirstSync => {
                            if wizard::first_sync::ui(ui, self.first_sync.as_ref(), lang) {
                                self.page = Page::Status;
                            }
                        }
                    }
                });
        });
        ui.scope_builder(egui::UiBuilder::new().max_rect(nav.shrink(4.0)), |ui| {
            ui.separator();
            self.nav_bar(ui);
        });
        ui.scope_builder(egui::UiBuilder::new().max_rect(side), |ui| {
            egui::ScrollArea::vertical()
                .id_salt("wizard_steps")
                .auto_shrink([false, false])
                .show(ui, |ui| self.step_list(ui));
        });
        let line_x = side.max.x + gap / 2.0;
        ui.painter().vline(
            line_x,
            full.y_range(),
            ui.visuals().widgets.noninteractive.bg_stroke,
        );
        ui.allocate_rect(full, egui::Sense::hover());
        // Enter in a field presses Next (or Connect on its step).
        if std::mem::take(&mut self.wizard.submit_requested) {
            if self.step == Step::Connect {
                self.start_connect(&ctx);
            } else {
                self.next_step();
            }
        }
    }

    fn step_list(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.add_space(4.0);
        ui.strong(tr(lang, "steps_title"));
        ui.add_space(4.0);
        let mut go = None;
        for step in Step::ALL {
            let done = self.step_done(step);
            let mark = if done { "✔" } else { "○" };
            let text = format!(
                "{mark} {}. {}",
                step.index() + 1,
                tr(lang, step.label_key())
            );
            let mut rich = egui::RichText::new(text);
            if step == self.step {
                rich = rich.strong();
            }
            let response = ui.add_enabled(
                self.step_open(step),
                egui::Button::selectable(step == self.step, rich).wrap(),
            );
            if response.clicked() {
                go = Some(step);
            }
        }
        if let Some(step) = go {
            self.go_to(step);
        }
    }

    fn nav_bar(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.horizontal(|ui| {
            let back = self
                .step
                .previous()
                .filter(|_| self.step != Step::FirstSync);
            if ui
                .add_enabled(
                    back.is_some() && !self.connecting(),
                    egui::Button::new(format!("◀ {}", tr(lang, "back"))),
                )
                .clicked()
                && let Some(step) = back
            {
                self.go_to(step);
            }
            let next_enabled = match self.step {
                Step::Connect => self.step_open(Step::FirstSync),
                Step::FirstSync => false,
                step => self.wizard.step_is_valid(step),
            };
            if self.step != Step::FirstSync
                && ui
                    .add_enabled(
                        next_enabled,
                        egui::Button::new(format!("{} ▶", tr(lang, "next"))),
                    )
                    .clicked()
            {
                self.next_step();
            }
            if !next_enabled && self.step < Step::Connect {
                ui.weak(tr(lang, "next_disabled_hint"));
            }
            ui.weak(format!(
                "{} {} / {}",
                tr(lang, "step_word"),
                self.step.index() + 1,
                Step::ALL.len()
            ));
        });
    }

    fn connect_step(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        let lang = self.lang;
        ui.heading(tr(lang, "step_connect"));
        ui.label(tr(lang, "connect_intro"));
        if self.wizard.server_type == ServerType::Hosted && self.wizard.sends_notifications() {
            ui.weak(tr(lang, "hosted_send_check_note"));
        }
        ui.add_space(6.0);
        let running = self.connecting();
        let label = if running {
            tr(lang, "connecting")
        } else {
            tr(lang, "connect")
        };
        let clicked = ui
            .add_enabled(
                !running,
                egui::Button::new(egui::RichText::new(label).strong()),
            )
            .clicked();
        if clicked {
            self.start_connect(ctx);
        }
        let mut go = None;
        if self.wizard.show_all_errors && !self.wizard.errors(lang).is_empty() {
            ui.colored_label(ui.visuals().error_fg_color, tr(lang, "fix_fields"));
            for (field, error) in self.wizard.errors(lang) {
                let step = Step::of_field(field);
                // The link first, so it never wraps (a wrapped link is hard to click).
                ui.horizontal_wrapped(|ui| {
                    ui.label("•");
                    if ui.link(go_to_text(lang, step)).clicked() {
                        go = Some(step);
                    }
                    ui.label(format!("{}: {error}", tr(lang, field.label_key())));
                });
            }
        }
        let server_type = self.wizard.server_type;
        if let Some(run) = &mut self.connect {
            ui.add_space(6.0);
            if let Some(step) = check_lines(ui, run, lang, Some(server_type)) {
                go = Some(step);
            }
            if let Some(q) = &run.question {
                ui.separator();
                ui.strong(tr(lang, "replace_title"));
                ui.label(tr(lang, "replace_text"));
                for e in &q.existing {
                    ui.label(format!("• {e}"));
                }
                let mut answer = None;
                ui.horizontal(|ui| {
                    if ui.button(tr(lang, "replace")).clicked() {
                        answer = Some(true);
                    }
                    if ui.button(tr(lang, "cancel")).clicked() {
                        answer = Some(false);
                    }
                });
                if let Some(a) = answer {
                    run.answer_replace(a);
                }
            }
        }
        if let Some(step) = go {
            self.wizard.touch_step(step);
            self.open_step(step);
        }
        if self.success.is_some() {
            ui.separator();
            let connected = ui.colored_label(
                egui::Color32::from_rgb(40, 150, 70),
                format!("✔ {}", tr(lang, "connected")),
            );
            if std::mem::take(&mut self.scroll_to_outcome) {
                connected.scroll_to_me(Some(egui::Align::TOP));
            }
            if let Some(path) = self.delete_prompt.clone() {
                ui.strong(tr(lang, "delete_package_title"));
                ui.label(tr(lang, "delete_package_text"));
                ui.add(
                    egui::Label::new(egui::RichText::new(path.display().to_string()).monospace())
                        .wrap(),
                );
                let mut answered = false;
                ui.horizontal_wrapped(|ui| {
                    if ui.button(tr(lang, "delete_package")).clicked() {
                        if let Err(e) = std::fs::remove_file(&path) {
                            self.worker_message = Some(format!("{}: {e}", path.display()));
                        }
                        answered = true;
                    }
                    if ui.button(tr(lang, "keep_package")).clicked() {
                        answered = true;
                    }
                });
                if answered {
                    self.go_to_first_sync();
                }
            } else if self.step != Step::FirstSync && ui.button(tr(lang, "fs_follow")).clicked() {
                self.go_to_first_sync();
            }
            if let Some(m) = &self.worker_message {
                ui.weak(m);
            }
        }
    }

    fn settings_page(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let ctx = ui.ctx().clone();
        ui.heading(tr(lang, "nav_settings"));
        ui.horizontal(|ui| {
            for tab in Tab::ALL {
                if ui
                    .selectable_label(self.more.tab == tab, tr(lang, tab.label_key()))
                    .clicked()
                {
                    self.more.tab = tab;
                }
            }
        });
        ui.separator();
        if self.more.tab != Tab::Connection {
            let rt = self.runtime.clone();
            settings_policy::ui(
                ui,
                &mut self.more,
                &rt,
                &self.env,
                lang,
                Self::repaint(&ctx),
            );
            return;
        }
        ui.label(tr(lang, "settings_intro"));
        if self.settings.package_path.is_empty() {
            wizard::package::ui(ui, &mut self.settings, self.picker.as_mut(), lang);
            ui.separator();
        }
        wizard::proxy::ui(ui, &mut self.settings, lang);
        ui.separator();
        wizard::accounts::exchange_ui(ui, &mut self.settings, lang);
        ui.separator();
        wizard::accounts::notification_ui(ui, &mut self.settings, lang);
        ui.separator();
        let running = self
            .settings_run
            .as_ref()
            .is_some_and(ConnectRun::is_running);
        let clicked = ui
            .add_enabled(!running, egui::Button::new(tr(lang, "check_and_save")))
            .clicked();
        if clicked || std::mem::take(&mut self.settings.submit_requested) {
            self.start_settings_check(&ctx);
        }
        if self.settings.show_all_errors && !self.settings.errors(lang).is_empty() {
            ui.colored_label(ui.visuals().error_fg_color, tr(lang, "fix_fields"));
        }
        if let Some(run) = &self.settings_run {
            check_lines(ui, run, lang, None);
            match &run.outcome {
                Some(Ok(_)) => {
                    ui.colored_label(
                        egui::Color32::from_rgb(40, 150, 70),
                        format!("✔ {}", tr(lang, "saved")),
                    );
                }
                Some(Err(())) => {
                    ui.colored_label(ui.visuals().error_fg_color, tr(lang, "not_saved"));
                }
                None => {}
            }
        }
    }
}

/// "Go to <step>".
fn go_to_text(lang: Lang, step: Step) -> String {
    format!("{} {}", tr(lang, "go_to"), tr(lang, step.label_key()))
}

/// The check lines: a spinner while running, then ✔ or ✖ with what, why and what to do; long text
/// wraps. With the wizard's `server_type`, a failed line links to the step that holds the field to
/// fix; the step clicked is returned.
fn check_lines(
    ui: &mut egui::Ui,
    run: &ConnectRun,
    lang: Lang,
    server_type: Option<ServerType>,
) -> Option<Step> {
    let ok = egui::Color32::from_rgb(40, 150, 70);
    let mut go = None;
    for (id, state) in &run.lines {
        if *id == CheckId::Save
            && matches!(state, CheckState::Pending | CheckState::Skipped)
            && run.outcome.is_some()
        {
            continue;
        }
        let title = tr(lang, id.label_key());
        match state {
            CheckState::Pending => {
                ui.weak(format!("○ {title}"));
            }
            CheckState::Running => {
                ui.horizontal(|ui| {
                    ui.add(egui::Spinner::new());
                    ui.label(title);
                });
            }
            CheckState::Passed(detail) => {
                ui.colored_label(ok, format!("✔ {title}"));
                ui.indent(("passed", *id as u8), |ui| {
                    ui.add(egui::Label::new(egui::RichText::new(detail.text(lang)).weak()).wrap());
                });
            }
            CheckState::Failed(_) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("✖ {title}"));
            }
            CheckState::Skipped => {
                ui.weak(format!("– {title} ({})", tr(lang, "skipped")));
            }
        }
        if let CheckState::Failed(f) = state {
            ui.indent(("failure", *id as u8), |ui| {
                ui.label(f.what.text(lang));
                ui.label(format!("{}: {}", tr(lang, "why"), f.why));
                ui.label(format!("{}: {}", tr(lang, "what_to_do"), f.fix.text(lang)));
                if let Some(step) = server_type.and_then(|t| Step::of_check(*id, t))
                    && ui.link(go_to_text(lang, step)).clicked()
                {
                    go = Some(step);
                }
            });
        }
    }
    go
}

/// The Settings fields from the saved configuration (passwords are asked again).
fn settings_from_config(env: &ConnectEnv) -> WizardState {
    let mut w = WizardState::default();
    if let Ok(loaded) = crate::config::Config::load(&env.config_dir) {
        let c = loaded.config;
        w.server = c.exchange_server.clone();
        w.server_type = match c.exchange_server_type {
            crate::config::ExchangeServerType::Hosted => ServerType::Hosted,
            _ => ServerType::OnPremises,
        };
        w.powershell_url = c.exchange_powershell_url.clone().unwrap_or_default();
        w.trusted_ca_file = c
            .trusted_ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        w.proxy_enabled = c.proxy.enabled;
        w.proxy_host = c.proxy.host.clone().unwrap_or_default();
        w.proxy_port = c.proxy.port.map(|p| p.to_string()).unwrap_or_default();
        w.proxy_auth = c.proxy.user.is_some();
        w.proxy_user = c.proxy.user.clone().unwrap_or_default();
        w.exchange_user = c.exchange_user.clone();
        w.notification_mailbox = c.notification_mailbox.clone().unwrap_or_default();
    }
    let _ = Field::Package;
    w
}

/// Starts the worker next to this program; returns a sentence for the page.
fn start_worker(env: &ConnectEnv) -> String {
    let name = if cfg!(windows) {
        "exchange-connector-service.exe"
    } else {
        "exchange-connector-service"
    };
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name));
    let mut command = std::process::Command::new(&program);
    command
        .args(["--instance", &env.instance, "--channel", &env.channel.0])
        .arg("--config-dir")
        .arg(&env.config_dir);
    if env.secrets_dir.is_some() {
        command.args(["--secret-store", "file"]);
    }
    if cfg!(windows) {
        // The installed Windows service (the MSI installs it; it reads its own credential vault).
        command.args(["service", "start"]);
        return match command.output() {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => format!("{}: {e}", program.display()),
        };
    }
    match command
        .arg("run")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(child) => format!("{} (pid {})", program.display(), child.id()),
        Err(e) => format!("{}: {e}", program.display()),
    }
}

impl eframe::App for SetupApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.fit_window_to_monitor(ui.ctx());
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(
            storage,
            eframe::APP_KEY,
            &Remembered {
                lang: Some(self.lang),
                window_sized: self.window_sized,
            },
        );
    }
}

impl SetupApp {
    /// On the very first run (eframe remembers the window after that) the window takes
    /// [`initial_window_size`] of the monitor it is on, centred.
    fn fit_window_to_monitor(&mut self, ctx: &egui::Context) {
        if self.window_sized {
            return;
        }
        let Some(monitor) = ctx.input(|i| i.viewport().monitor_size) else {
            return;
        };
        self.window_sized = true;
        let size = initial_window_size(Some(monitor));
        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        let corner = ((monitor - size) / 2.0).max(egui::Vec2::ZERO);
        ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(corner.to_pos2()));
    }
}

/// The window's size when the monitor is unknown (and the size the snapshots are taken at).
pub const FALLBACK_WINDOW_SIZE: egui::Vec2 = egui::vec2(1024.0, 768.0);

/// The window's first size on a monitor of `monitor` points: four fifths of it, at least 800×600 (or
/// the whole monitor when it is smaller), at most 1600×1100 (wider only stretches the lines);
/// [`FALLBACK_WINDOW_SIZE`] when the monitor is unknown.
pub fn initial_window_size(monitor: Option<egui::Vec2>) -> egui::Vec2 {
    let Some(monitor) = monitor.filter(|m| m.x > 0.0 && m.y > 0.0) else {
        return FALLBACK_WINDOW_SIZE;
    };
    (monitor * 0.8)
        .max(egui::vec2(800.0, 600.0))
        .min(egui::vec2(1600.0, 1100.0))
        .min(monitor)
}

/// The native window options: [`crate::gui::native_options`], opening resizable at
/// [`FALLBACK_WINDOW_SIZE`] until the first frame knows the monitor.
pub fn window_options() -> eframe::NativeOptions {
    let mut options = crate::gui::native_options();
    options.viewport = options
        .viewport
        .with_inner_size(FALLBACK_WINDOW_SIZE)
        .with_resizable(true);
    options
}

/// What eframe remembers, if anything.
pub fn remembered(storage: Option<&dyn eframe::Storage>) -> Option<Remembered> {
    storage.and_then(|s| eframe::get_value::<Remembered>(s, eframe::APP_KEY))
}

/// The language remembered by eframe, if any.
pub fn remembered_lang(storage: Option<&dyn eframe::Storage>) -> Option<Lang> {
    remembered(storage).and_then(|r| r.lang)
}

/// A visible focus ring around the widget that has keyboard focus (egui's own focus look is faint on
/// buttons and links), painted above everything.
fn paint_focus_ring(ctx: &egui::Context) {
    let Some(response) = ctx
        .memory(|m| m.focused())
        .and_then(|id| ctx.read_response(id))
    else {
        return;
    };
    let color = ctx.global_style().visuals.selection.stroke.color;
    ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("focus_ring"),
    ))
    .rect_stroke(
        response.rect.expand(2.0),
        3.0,
        egui::Stroke::new(2.0, color),
        egui::StrokeKind::Outside,
    );
}
