//! The wizard's first step: sign in to Microsoft Entra as an administrator (the system browser with
//! PKCE and a loopback redirect, or a device code for servers without a browser), see what the
//! connector will create ([`crate::onboarding::plan`]), create it ([`crate::onboarding::apply`], one
//! line per action), and wait for an admin's consent when the signed-in one may not grant it. The
//! result is a connector package in memory ([`WizardState::onboarded`]) that Connect hands to the
//! worker like a package file's. A "Proxy server" section edits the proxy step's settings, and every
//! call of the sign-in goes through that proxy (a server may reach Entra only through one). "I already have a connector package" shows the package form instead.
//!
//! [`SignInPanel`] is the step's state; the network work runs on the GUI's background runtime and
//! reports over a channel ([`SignInEvent`]), as Connect does. The admin's token lives in the panel's
//! [`DirectoryClient`] only, in memory, and is dropped once the app is ready.

use super::package::FilePicker;
use super::{ServerType, Step, WizardState};
use crate::coded;
use crate::gui::i18n::{Lang, coded_text, tr};
use crate::onboarding::{
    self, AuthCodeSignIn, Authority, Cloud, ConsentOutcome, DeviceCodePrompt, DeviceCodeSignIn,
    DirectoryClient, OnboardOptions, OnboardingError, Plan,
};
use crate::package::ConnectorPackage;
use crate::proxy::ConfiguredProxy;
use crate::text_code::TextCode;
use eframe::egui;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

pub use crate::onboarding::DEFAULT_SIGN_IN_CLIENT_ID;

/// How long the browser sign-in may take before it counts as abandoned.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

/// Opens a URL in the person's browser.
pub trait Browser {
    /// Opens `url`; `Err` with the reason when no browser could be started.
    fn open(&mut self, url: &str) -> Result<(), String>;
}

/// The system's browser: `rundll32 url.dll,FileProtocolHandler` on Windows (no shell parses the
/// URL's `&`), `open` on macOS, `xdg-open` elsewhere.
#[derive(Debug, Default)]
pub struct SystemBrowser;

impl Browser for SystemBrowser {
    fn open(&mut self, url: &str) -> Result<(), String> {
        let mut command = if cfg!(windows) {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        } else if cfg!(target_os = "macos") {
            std::process::Command::new("open")
        } else {
            std::process::Command::new("xdg-open")
        };
        let mut child = command
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        // Reaped in the background: the opener returns at once, the browser lives on.
        std::thread::spawn(move || child.wait());
        Ok(())
    }
}

/// Where to sign in when the page does not offer the choice of cloud (the lab): fixed hosts, the CA
/// to trust, the public client and Exchange Online's REST root.
#[derive(Debug, Clone)]
pub struct FixedTarget {
    /// Sign-in host, Graph root and tenant.
    pub authority: Authority,
    /// A CA to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// The public client app.
    pub client_id: String,
    /// Exchange Online's REST root, for hosted Exchange.
    pub exchange_rest_base: String,
}

/// How the admin signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The system browser, PKCE, a loopback redirect.
    Browser,
    /// A code typed on another device.
    DeviceCode,
}

/// What the step shows.
#[derive(Debug, Clone)]
pub enum Phase {
    /// Nothing started.
    Idle,
    /// Signing in: the browser's URL, or the code to type.
    SigningIn {
        /// How.
        method: Method,
        /// The URL the browser was sent to (shown, copyable, in case it did not open).
        browser_url: Option<String>,
        /// Why the browser did not open.
        browser_error: Option<String>,
        /// The device code to type.
        device: Option<DeviceCodePrompt>,
    },
    /// Signed in: reading what exists.
    Planning,
    /// What will be created, waiting for *Create*.
    Confirm(Box<Plan>),
    /// Creating, one line per action.
    Creating,
    /// Created; an admin with `role` must approve at `url`.
    WaitingForConsent {
        /// The admin consent URL.
        url: String,
        /// Who can approve.
        role: TextCode,
        /// The permissions still missing.
        missing: Vec<String>,
    },
    /// The app is ready: its package is in the wizard.
    Ready {
        /// Its client id.
        client_id: String,
    },
    /// Stopped with this message; nothing half-created (onboarding rolls back).
    Failed(String),
}

/// A message from the background work to the page.
pub enum SignInEvent {
    /// The browser must open this URL.
    OpenBrowser(String),
    /// The code to show.
    DeviceCode(DeviceCodePrompt),
    /// Signed in and planned.
    Planned {
        /// Graph as the signed-in admin (the token, in memory).
        directory: Arc<DirectoryClient>,
        /// The session's HTTP client.
        http: reqwest::Client,
        /// What will be created.
        plan: Box<Plan>,
    },
    /// One action done.
    Line(TextCode),
    /// Created: the package, and whether consent is complete.
    Created {
        /// The package of the app.
        package: Box<ConnectorPackage>,
        /// The app registration's object id.
        object_id: String,
        /// The consent.
        consent: ConsentOutcome,
    },
    /// A consent check: whether every permission is granted now, or why the check failed (the wait
    /// goes on).
    ConsentChecked(Result<bool, String>),
    /// Stopped.
    Failed(String),
}

/// The sign-in step's state.
pub struct SignInPanel {
    /// The cloud chosen (ignored with a fixed target).
    pub cloud: Cloud,
    /// The tenant: a verified domain or its id (ignored with a fixed target).
    pub tenant: String,
    /// Exchange Online: also `Exchange.ManageAsApp`.
    pub hosted_exchange: bool,
    /// Fixed hosts (the lab), instead of the cloud choice.
    pub fixed: Option<FixedTarget>,
    /// The public client the admin signs in with.
    pub client_id: String,
    /// How often the consent is checked again while waiting.
    pub consent_poll: Duration,
    /// What the page shows.
    pub phase: Phase,
    /// One line per action done (coded: shown in the GUI's language).
    pub lines: Vec<TextCode>,
    browser: Box<dyn Browser>,
    directory: Option<Arc<DirectoryClient>>,
    http: Option<reqwest::Client>,
    authority: Option<Authority>,
    pending_package: Option<(ConnectorPackage, String)>,
    checking_consent: bool,
    last_consent_check: Option<Instant>,
    events: Option<mpsc::Receiver<SignInEvent>>,
}

impl std::fmt::Debug for SignInPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInPanel")
            .field("cloud", &self.cloud)
            .field("tenant", &self.tenant)
            .field("phase", &self.phase)
            .field("lines", &self.lines)
            .finish()
    }
}

impl Default for SignInPanel {
    fn default() -> Self {
        SignInPanel {
            cloud: Cloud::Commercial,
            tenant: String::new(),
            hosted_exchange: false,
            fixed: None,
            client_id: std::env::var("EXCHANGE_CONNECTOR_SIGN_IN_CLIENT_ID")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_SIGN_IN_CLIENT_ID.to_string()),
            consent_poll: Duration::from_secs(10),
            phase: Phase::Idle,
            lines: Vec::new(),
            browser: Box::new(SystemBrowser),
            directory: None,
            http: None,
            authority: None,
            pending_package: None,
            checking_consent: false,
            last_consent_check: None,
            events: None,
        }
    }
}

/// The i18n key of a cloud's name.
fn cloud_key(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Commercial => "onb_cloud_commercial",
        Cloud::UsGovHigh => "onb_cloud_gcc_high",
        Cloud::UsDod => "onb_cloud_dod",
        Cloud::China => "onb_cloud_china",
    }
}

impl SignInPanel {
    /// A panel signing in at fixed hosts (the lab) with this browser.
    pub fn with_target(target: FixedTarget, browser: Box<dyn Browser>) -> SignInPanel {
        SignInPanel {
            client_id: target.client_id.clone(),
            fixed: Some(target),
            browser,
            ..SignInPanel::default()
        }
    }

    /// Replaces the browser (tests drive the consent page with their own).
    pub fn set_browser(&mut self, browser: Box<dyn Browser>) {
        self.browser = browser;
    }

    /// Whether background work is running.
    pub fn busy(&self) -> bool {
        matches!(
            self.phase,
            Phase::SigningIn { .. } | Phase::Planning | Phase::Creating
        )
    }

    fn authority(&self) -> Authority {
        match &self.fixed {
            Some(t) => t.authority.clone(),
            None => Authority::of_cloud(self.cloud, self.tenant.trim()),
        }
    }

    fn options(&self) -> OnboardOptions {
        OnboardOptions {
            hosted_exchange: self.hosted_exchange,
            ..OnboardOptions::default()
        }
    }

    fn exchange_rest_base(&self) -> Option<String> {
        self.hosted_exchange.then(|| match &self.fixed {
            Some(t) => t.exchange_rest_base.clone(),
            None => self.cloud.exchange_rest_base().to_string(),
        })
    }

    fn channel(
        &mut self,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> impl Fn(SignInEvent) + Send + Sync + 'static {
        let (tx, rx) = mpsc::channel();
        self.events = Some(rx);
        move |event| {
            let _ = tx.send(event);
            repaint();
        }
    }

    /// Starts the sign-in (browser or device code) through `proxy`, then reads the tenant for the
    /// plan; every later call of the session (creating the app, the consent checks) uses the same
    /// client, hence the same proxy.
    pub fn start_sign_in(
        &mut self,
        method: Method,
        proxy: Option<ConfiguredProxy>,
        runtime: &tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        if self.busy() {
            return;
        }
        if self.fixed.is_none() && self.tenant.trim().is_empty() {
            self.phase = Phase::Failed(tr(Lang::En, "onb_tenant_required").to_string());
            return;
        }
        self.lines.clear();
        self.directory = None;
        self.pending_package = None;
        self.phase = Phase::SigningIn {
            method,
            browser_url: None,
            browser_error: None,
            device: None,
        };
        let authority = self.authority();
        self.authority = Some(authority.clone());
        let ca_file = self.fixed.as_ref().and_then(|t| t.ca_file.clone());
        let client_id = self.client_id.clone();
        let options = self.options();
        let send = self.channel(repaint);
        runtime.spawn(async move {
            let outcome = sign_in_and_plan(
                method,
                &authority,
                ca_file.as_deref(),
                proxy.as_ref(),
                &client_id,
                &options,
                &send,
            )
            .await;
            if let Err(e) = outcome {
                send(SignInEvent::Failed(crate::error_text::chain(&e)));
            }
        });
    }

    /// *Create*: applies the plan shown.
    pub fn create(
        &mut self,
        runtime: &tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        let Phase::Confirm(plan) = &self.phase else {
            return;
        };
        let (Some(directory), Some(http), Some(authority)) = (
            self.directory.clone(),
            self.http.clone(),
            self.authority.clone(),
        ) else {
            return;
        };
        let plan = plan.clone();
        self.phase = Phase::Creating;
        self.lines.clear();
        let rest = self.exchange_rest_base();
        let send = self.channel(repaint);
        runtime.spawn(async move {
            if let Err(e) = create(&directory, &http, &authority, &plan, rest, &send).await {
                send(SignInEvent::Failed(crate::error_text::chain(&e)));
            }
        });
    }

    /// Checks again whether the permissions are granted (*Check again*, and every
    /// [`SignInPanel::consent_poll`] while waiting).
    pub fn check_consent(
        &mut self,
        runtime: &tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        if self.checking_consent || !matches!(self.phase, Phase::WaitingForConsent { .. }) {
            return;
        }
        let (Some(directory), Some(authority)) = (self.directory.clone(), self.authority.clone())
        else {
            return;
        };
        self.checking_consent = true;
        self.last_consent_check = Some(Instant::now());
        let options = self.options();
        let send = self.channel(repaint);
        runtime.spawn(async move {
            match onboarding::plan(&directory, &authority, &options).await {
                Ok(plan) => send(SignInEvent::ConsentChecked(Ok(
                    plan.existing.is_some() && plan.permissions.iter().all(|p| p.granted)
                ))),
                Err(e) => send(SignInEvent::ConsentChecked(Err(crate::error_text::chain(
                    &e,
                )))),
            }
        });
    }

    /// Back to the start (after a failure, or to sign in as someone else); the token is dropped.
    pub fn reset(&mut self) {
        *self = SignInPanel {
            cloud: self.cloud,
            tenant: std::mem::take(&mut self.tenant),
            hosted_exchange: self.hosted_exchange,
            fixed: self.fixed.take(),
            client_id: std::mem::take(&mut self.client_id),
            consent_poll: self.consent_poll,
            browser: std::mem::replace(&mut self.browser, Box::new(SystemBrowser)),
            ..SignInPanel::default()
        };
    }

    /// Takes the events that arrived; the app's package goes into `wizard` once consent is complete.
    /// Also checks the consent again when waiting and [`SignInPanel::consent_poll`] has passed.
    pub fn poll(
        &mut self,
        wizard: &mut WizardState,
        runtime: &tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) {
        let events: Vec<SignInEvent> = match &self.events {
            Some(rx) => rx.try_iter().collect(),
            None => Vec::new(),
        };
        for event in events {
            self.apply(event, wizard);
        }
        if matches!(self.phase, Phase::WaitingForConsent { .. })
            && self
                .last_consent_check
                .is_none_or(|t| t.elapsed() >= self.consent_poll)
        {
            self.check_consent(runtime, repaint.clone());
        }
    }

    fn apply(&mut self, event: SignInEvent, wizard: &mut WizardState) {
        match event {
            SignInEvent::OpenBrowser(url) => {
                let error = self.browser.open(&url).err();
                if let Phase::SigningIn {
                    browser_url,
                    browser_error,
                    ..
                } = &mut self.phase
                {
                    *browser_url = Some(url);
                    *browser_error = error;
                }
            }
            SignInEvent::DeviceCode(prompt) => {
                if let Phase::SigningIn { device, .. } = &mut self.phase {
                    *device = Some(prompt);
                }
            }
            SignInEvent::Planned {
                directory,
                http,
                plan,
            } => {
                self.directory = Some(directory);
                self.http = Some(http);
                self.phase = Phase::Confirm(plan);
            }
            SignInEvent::Line(line) => self.lines.push(line),
            SignInEvent::Created {
                package,
                object_id,
                consent,
            } => match consent {
                ConsentOutcome::Granted => self.ready(*package, object_id, wizard),
                ConsentOutcome::NeedsAdmin { url, role, missing } => {
                    self.pending_package = Some((*package, object_id));
                    self.last_consent_check = Some(Instant::now());
                    self.phase = Phase::WaitingForConsent { url, role, missing };
                }
            },
            SignInEvent::ConsentChecked(granted) => {
                self.checking_consent = false;
                match granted {
                    Ok(true) => {
                        if let Some((package, object_id)) = self.pending_package.take() {
                            self.lines.push(coded!(
                                "ob_consent_granted",
                                "an administrator granted the permissions"
                            ));
                            self.ready(package, object_id, wizard);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => self.lines.push(e.into()),
                }
            }
            SignInEvent::Failed(message) => {
                self.checking_consent = false;
                self.directory = None;
                self.phase = Phase::Failed(message);
            }
        }
    }

    /// The app is ready: its package goes to the wizard, the admin's token is dropped.
    fn ready(&mut self, package: ConnectorPackage, object_id: String, wizard: &mut WizardState) {
        self.phase = Phase::Ready {
            client_id: package.manifest.client_id.clone(),
        };
        self.directory = None;
        self.http = None;
        if self.hosted_exchange {
            wizard.server_type = ServerType::Hosted;
        }
        wizard.use_package = false;
        wizard.onboarded = Some(package);
        wizard.onboarded_object_id = Some(object_id);
    }
}

/// Signs in (browser or device code), then plans.
async fn sign_in_and_plan(
    method: Method,
    authority: &Authority,
    ca_file: Option<&std::path::Path>,
    proxy: Option<&ConfiguredProxy>,
    client_id: &str,
    options: &OnboardOptions,
    send: &(dyn Fn(SignInEvent) + Send + Sync),
) -> Result<(), OnboardingError> {
    // The sign-in's and Graph's calls go through the proxy; the browser's redirect comes back to a
    // loopback listener, which needs none.
    let http = crate::connection::onboarding_http(ca_file, proxy)?;
    let token = match method {
        Method::Browser => {
            let flow = AuthCodeSignIn::start(http.clone(), authority.clone(), client_id).await?;
            send(SignInEvent::OpenBrowser(flow.browser_url().to_string()));
            flow.finish(BROWSER_TIMEOUT).await?
        }
        Method::DeviceCode => {
            let flow = DeviceCodeSignIn::start(http.clone(), authority.clone(), client_id).await?;
            send(SignInEvent::DeviceCode(flow.prompt().clone()));
            flow.wait().await?
        }
    };
    let directory = Arc::new(DirectoryClient::new(
        http.clone(),
        &authority.graph_base,
        token,
    ));
    let plan = onboarding::plan(&directory, authority, options).await?;
    send(SignInEvent::Planned {
        directory,
        http,
        plan: Box::new(plan),
    });
    Ok(())
}

/// Applies the plan and builds the app's package.
async fn create(
    directory: &DirectoryClient,
    http: &reqwest::Client,
    authority: &Authority,
    plan: &Plan,
    exchange_rest_base: Option<String>,
    send: &(dyn Fn(SignInEvent) + Send + Sync),
) -> Result<(), OnboardingError> {
    let result = onboarding::apply(directory, authority, plan, None, &mut |p| {
        send(SignInEvent::Line(p.line))
    })
    .await?;
    let tenant_id = onboarding::tenant_id(http, authority).await?;
    let Some(certificate) = &result.new_certificate else {
        return Err(OnboardingError::Client(
            "onboarding made no certificate for this computer".into(),
        ));
    };
    let package = onboarding::connector_package(
        &tenant_id,
        authority,
        &result.client_id,
        &plan.app_name,
        certificate,
        exchange_rest_base,
    )?;
    send(SignInEvent::Created {
        package: Box::new(package),
        object_id: result.object_id.clone(),
        consent: result.consent,
    });
    Ok(())
}

/// A text the admin may need to copy: selectable, monospaced, with a *Copy* button.
fn copyable(ui: &mut egui::Ui, text: &str, lang: Lang) {
    ui.horizontal_wrapped(|ui| {
        ui.add(egui::Label::new(egui::RichText::new(text).monospace()).wrap());
        if ui.button(tr(lang, "onb_copy")).clicked() {
            ui.ctx().copy_text(text.to_string());
        }
    });
}

/// Draws the step: the choice between signing in and a package, then the sign-in's phase.
pub fn ui(
    ui: &mut egui::Ui,
    panel: &mut SignInPanel,
    wizard: &mut WizardState,
    picker: &mut dyn FilePicker,
    runtime: &tokio::runtime::Handle,
    repaint: Arc<dyn Fn() + Send + Sync>,
    lang: Lang,
) {
    ui.heading(tr(lang, "onb_step"));
    ui.horizontal_wrapped(|ui| {
        let busy = panel.busy();
        if ui
            .add_enabled(
                !busy,
                egui::RadioButton::new(!wizard.use_package, tr(lang, "onb_choice_sign_in")),
            )
            .clicked()
        {
            wizard.use_package = false;
        }
        if ui
            .add_enabled(
                !busy,
                egui::RadioButton::new(wizard.use_package, tr(lang, "onb_choice_package")),
            )
            .clicked()
        {
            wizard.use_package = true;
        }
    });
    ui.separator();
    if wizard.use_package {
        super::package::ui(ui, wizard, picker, lang);
        return;
    }
    ui.label(tr(lang, "onb_intro"));
    ui.add_space(4.0);
    let editable = matches!(panel.phase, Phase::Idle | Phase::Failed(_));
    match &panel.fixed {
        Some(target) => {
            ui.horizontal_wrapped(|ui| {
                ui.label(tr(lang, "onb_tenant"));
                ui.monospace(&target.authority.tenant);
            });
        }
        None => {
            ui.add_enabled_ui(editable, |ui| {
                egui::ComboBox::from_label(tr(lang, "onb_cloud"))
                    .selected_text(tr(lang, cloud_key(panel.cloud)))
                    .show_ui(ui, |ui| {
                        for cloud in Cloud::ALL {
                            ui.selectable_value(
                                &mut panel.cloud,
                                cloud,
                                tr(lang, cloud_key(cloud)),
                            );
                        }
                    });
                let label = ui.label(tr(lang, "onb_tenant"));
                ui.add(
                    egui::TextEdit::singleline(&mut panel.tenant)
                        .hint_text("contoso.onmicrosoft.com")
                        .desired_width(ui.available_width().min(480.0)),
                )
                .labelled_by(label.id);
            });
        }
    }
    ui.add_enabled(
        editable,
        egui::Checkbox::new(&mut panel.hosted_exchange, tr(lang, "onb_hosted")),
    );
    // Before the sign-in only: its session keeps the proxy it started with.
    if editable {
        proxy_section(ui, wizard, lang);
    }
    ui.add_space(6.0);
    match panel.phase.clone() {
        Phase::Idle | Phase::Failed(_) => {
            if let Phase::Failed(message) = &panel.phase {
                ui.colored_label(ui.visuals().error_fg_color, format!("✖ {message}"));
            }
            ui.horizontal_wrapped(|ui| {
                let mut method = None;
                if ui
                    .button(egui::RichText::new(tr(lang, "onb_sign_in_browser")).strong())
                    .clicked()
                {
                    method = Some(Method::Browser);
                }
                if ui.button(tr(lang, "onb_sign_in_device")).clicked() {
                    method = Some(Method::DeviceCode);
                }
                if let Some(method) = method {
                    start_through_proxy(panel, wizard, method, runtime, repaint.clone(), lang);
                }
            });
            ui.weak(tr(lang, "onb_roles"));
        }
        Phase::SigningIn {
            method,
            browser_url,
            browser_error,
            device,
        } => {
            match method {
                Method::Browser => {
                    ui.horizontal(|ui| {
                        ui.add(egui::Spinner::new());
                        ui.label(tr(lang, "onb_waiting_browser"));
                    });
                    if let Some(error) = browser_error {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            format!("{}: {error}", tr(lang, "onb_browser_failed")),
                        );
                    }
                    if let Some(url) = browser_url {
                        ui.weak(tr(lang, "onb_browser_url"));
                        copyable(ui, &url, lang);
                    }
                }
                Method::DeviceCode => match device {
                    Some(prompt) => {
                        ui.label(tr(lang, "onb_device_open"));
                        copyable(ui, &prompt.verification_uri, lang);
                        ui.label(tr(lang, "onb_device_code"));
                        ui.horizontal(|ui| {
                            ui.label(egui::RichText::new(&prompt.user_code).monospace().heading());
                            if ui.button(tr(lang, "onb_copy")).clicked() {
                                ui.ctx().copy_text(prompt.user_code.clone());
                            }
                        });
                        ui.horizontal(|ui| {
                            ui.add(egui::Spinner::new());
                            ui.label(tr(lang, "onb_waiting_device"));
                        });
                    }
                    None => {
                        ui.add(egui::Spinner::new());
                    }
                },
            }
            if ui.button(tr(lang, "cancel")).clicked() {
                panel.reset();
            }
        }
        Phase::Planning => {
            ui.add(egui::Spinner::new());
        }
        Phase::Confirm(plan) => {
            plan_ui(ui, &plan, lang);
            ui.horizontal_wrapped(|ui| {
                if ui
                    .button(egui::RichText::new(tr(lang, "onb_create")).strong())
                    .clicked()
                {
                    panel.create(runtime, repaint.clone());
                }
                if ui.button(tr(lang, "cancel")).clicked() {
                    panel.reset();
                }
            });
        }
        Phase::Creating => {
            lines_ui(ui, &panel.lines, lang);
            ui.add(egui::Spinner::new());
        }
        Phase::WaitingForConsent { url, role, missing } => {
            lines_ui(ui, &panel.lines, lang);
            ui.separator();
            ui.strong(tr(lang, "onb_consent_needed"));
            ui.label(format!(
                "{}: {}",
                tr(lang, "onb_consent_role"),
                coded_text(lang, &role)
            ));
            ui.label(format!(
                "{}: {}",
                tr(lang, "onb_consent_missing"),
                missing.join(", ")
            ));
            ui.label(tr(lang, "onb_consent_url"));
            copyable(ui, &url, lang);
            // Come back for the next check even when nothing else repaints.
            ui.ctx().request_repaint_after(panel.consent_poll);
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label(format!(
                    "{} ({} s)",
                    tr(lang, "onb_consent_waiting"),
                    panel.consent_poll.as_secs()
                ));
            });
            if ui
                .add_enabled(
                    !panel.checking_consent,
                    egui::Button::new(tr(lang, "onb_check_again")),
                )
                .clicked()
            {
                panel.check_consent(runtime, repaint.clone());
            }
        }
        Phase::Ready { client_id } => {
            lines_ui(ui, &panel.lines, lang);
            ui.colored_label(
                egui::Color32::from_rgb(40, 150, 70),
                format!("✔ {} {client_id}", tr(lang, "onb_ready")),
            );
            ui.label(tr(lang, "onb_ready_next"));
        }
    }
}

/// The "Proxy server" section: the proxy step's form, on the same settings, collapsed unless a proxy
/// is set (open while its settings are wrong, so the admin sees why the sign-in did not start).
fn proxy_section(ui: &mut egui::Ui, wizard: &mut WizardState, lang: Lang) {
    let invalid = wizard.proxy_enabled && !wizard.step_is_valid(Step::Proxy);
    let mut section = egui::CollapsingHeader::new(tr(lang, "onb_proxy"))
        .id_salt("sign_in_proxy")
        .default_open(wizard.proxy_enabled);
    if invalid {
        section = section.open(Some(true));
    }
    section.show(ui, |ui| {
        ui.add(egui::Label::new(egui::RichText::new(tr(lang, "onb_proxy_help")).weak()).wrap());
        super::proxy::fields(ui, wizard, lang);
    });
}

/// Starts the sign-in through the proxy the wizard holds, or says what is wrong with its settings.
fn start_through_proxy(
    panel: &mut SignInPanel,
    wizard: &mut WizardState,
    method: Method,
    runtime: &tokio::runtime::Handle,
    repaint: Arc<dyn Fn() + Send + Sync>,
    lang: Lang,
) {
    match wizard.configured_proxy(lang) {
        Ok(proxy) => panel.start_sign_in(method, proxy, runtime, repaint),
        Err(error) => {
            wizard.touch_step(Step::Proxy);
            panel.phase = Phase::Failed(format!("{}: {error}", tr(lang, "onb_proxy_invalid")));
        }
    }
}

fn lines_ui(ui: &mut egui::Ui, lines: &[TextCode], lang: Lang) {
    for line in lines {
        ui.add(egui::Label::new(format!("• {}", coded_text(lang, line))).wrap());
    }
}

/// What will be created: the app, the permissions (why each), who consents, the actions.
pub fn plan_ui(ui: &mut egui::Ui, plan: &Plan, lang: Lang) {
    ui.strong(tr(lang, "onb_plan_title"));
    egui::Grid::new("onb_plan").num_columns(2).show(ui, |ui| {
        ui.label(tr(lang, "onb_plan_tenant"));
        ui.label(&plan.tenant);
        ui.end_row();
        ui.label(tr(lang, "onb_plan_app"));
        ui.label(match &plan.existing {
            Some(app) => format!("{} ({})", plan.app_name, app.app_id),
            None => plan.app_name.clone(),
        });
        ui.end_row();
    });
    ui.label(tr(lang, "onb_plan_permissions"));
    for p in &plan.permissions {
        let mark = if p.granted { "✔" } else { "•" };
        let why = coded_text(lang, &p.why);
        ui.add(egui::Label::new(format!("{mark} {} / {} — {why}", p.resource, p.value)).wrap());
    }
    ui.label(tr(lang, "onb_plan_consent"));
    ui.label(tr(lang, "onb_plan_actions"));
    let actions = plan.actions(None);
    if actions.is_empty() {
        ui.weak(tr(lang, "onb_plan_nothing"));
    }
    for action in actions {
        ui.add(egui::Label::new(format!("– {}", coded_text(lang, &action))).wrap());
    }
}
