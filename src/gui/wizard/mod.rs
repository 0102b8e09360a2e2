//! The wizard: the original connector dialog's fields in its order, one [`Step`] at a time, with
//! inline validation.
//!
//! [`WizardState`] is plain data that tests can drive; every field's check comes from the settings
//! registry ([`crate::settings`]). The drawing lives in one file per step (`package.rs`, `server.rs`,
//! `proxy.rs`, `accounts.rs`, `first_sync.rs`) and only reads and edits this state.
//!
//! Hosted Exchange (Exchange Online) asks only what it needs: the tenant comes from the package, the
//! notification mailbox is optional, the proxy as on-premises; no server name, Exchange account,
//! password or PowerShell URL (the app of the package signs in to Exchange Online's REST endpoint).

use eframe::egui;
pub mod accounts;
pub mod first_sync;
pub mod package;
pub mod proxy;
pub mod server;
pub mod sign_in;

use crate::connection::checks::CheckId;

use crate::gui::i18n::{Lang, tr};
use crate::package::ConnectorPackage;
use crate::proxy::{ConfiguredProxy, ProxySpec};
use crate::secret::Secret;
use crate::settings;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// On-premises or hosted Exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerType {
    /// On-premises Microsoft Exchange Server (remote PowerShell to a Client Access server).
    #[default]
    OnPremises,
    /// Hosted Microsoft Exchange Server.
    Hosted,
}

/// A field of the wizard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// The connector package path.
    Package,
    /// The Exchange server.
    Server,
    /// The optional remote PowerShell URL.
    PowerShellUrl,
    /// The optional trusted CA file.
    TrustedCa,
    /// The proxy's name.
    ProxyHost,
    /// The proxy's port.
    ProxyPort,
    /// The proxy user.
    ProxyUser,
    /// The proxy password.
    ProxyPassword,
    /// The Exchange service account.
    ExchangeUser,
    /// Its password.
    ExchangePassword,
    /// The notification mailbox.
    NotificationMailbox,
    /// Its password.
    NotificationPassword,
}

impl Field {
    /// The settings-registry key whose validator and help text this field uses.
    pub fn setting_key(self) -> &'static str {
        match self {
            Field::Package => "ClientCertificate",
            Field::Server => "ExchangeServer",
            Field::PowerShellUrl => "ExchangePowerShellURL",
            Field::TrustedCa => "TrustedCaFile",
            Field::ProxyHost => "ProxyHost",
            Field::ProxyPort => "ProxyPort",
            Field::ProxyUser => "ProxyUser",
            Field::ProxyPassword => "ProxyPassword",
            Field::ExchangeUser => "ExchangeUser",
            Field::ExchangePassword => "ExchangePassword",
            Field::NotificationMailbox => "NotificationMailbox",
            Field::NotificationPassword => "NotificationPassword",
        }
    }

    /// The i18n key of the field's label.
    pub fn label_key(self) -> &'static str {
        match self {
            Field::Package => "package_file",
            Field::Server => "server_cas",
            Field::PowerShellUrl => "ps_url",
            Field::TrustedCa => "ca_file",
            Field::ProxyHost => "proxy_host",
            Field::ProxyPort => "proxy_port",
            Field::ProxyUser => "proxy_user",
            Field::ProxyPassword => "proxy_password",
            Field::ExchangeUser => "exchange_user",
            Field::ExchangePassword => "exchange_password",
            Field::NotificationMailbox => "notification_mailbox",
            Field::NotificationPassword => "notification_password",
        }
    }

    /// The registry's help text for the field (shown as a tooltip).
    pub fn help(self) -> &'static str {
        settings::find(self.setting_key())
            .map(|s| s.help)
            .unwrap_or_default()
    }

    fn is_password(self) -> bool {
        matches!(
            self,
            Field::ProxyPassword | Field::ExchangePassword | Field::NotificationPassword
        )
    }
}

/// A step of the wizard, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Sign in to Microsoft Entra and create the connector's app (`sign_in.rs`), or, as the
    /// alternative, the connector package of an app made before (`package.rs`).
    Package,
    /// On-premises or hosted Exchange, and the server for on-premises.
    Server,
    /// The optional proxy.
    Proxy,
    /// The Exchange service account and the optional notification mailbox.
    Accounts,
    /// Connect: every check, one line each, then the registration and the save.
    Connect,
    /// The first full sync, with its progress.
    FirstSync,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 6] = [
        Step::Package,
        Step::Server,
        Step::Proxy,
        Step::Accounts,
        Step::Connect,
        Step::FirstSync,
    ];

    /// The i18n key of the step's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Step::Package => "onb_step",
            Step::Server => "step_server",
            Step::Proxy => "step_proxy",
            Step::Accounts => "step_accounts",
            Step::Connect => "step_connect",
            Step::FirstSync => "step_first_sync",
        }
    }

    /// Position from 0.
    pub fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The step after this one.
    pub fn next(self) -> Option<Step> {
        Step::ALL.get(self.index() + 1).copied()
    }

    /// The step before this one.
    pub fn previous(self) -> Option<Step> {
        self.index().checked_sub(1).map(|i| Step::ALL[i])
    }

    /// The fields this step holds (whether in use or not).
    pub fn fields(self) -> &'static [Field] {
        match self {
            Step::Package => &[Field::Package],
            Step::Server => &[Field::Server, Field::PowerShellUrl, Field::TrustedCa],
            Step::Proxy => &[
                Field::ProxyHost,
                Field::ProxyPort,
                Field::ProxyUser,
                Field::ProxyPassword,
            ],
            Step::Accounts => &[
                Field::ExchangeUser,
                Field::ExchangePassword,
                Field::NotificationMailbox,
                Field::NotificationPassword,
            ],
            Step::Connect | Step::FirstSync => &[],
        }
    }

    /// The step that holds `field`.
    pub fn of_field(field: Field) -> Step {
        Step::ALL
            .into_iter()
            .find(|s| s.fields().contains(&field))
            .unwrap_or(Step::Package)
    }

    /// The step that holds what to fix when Connect's line `check` fails; `None` when no field fixes
    /// it (the save). Hosted Exchange signs in with the package's app, so its sign-in and permission
    /// lines point to the package.
    pub fn of_check(check: CheckId, server_type: ServerType) -> Option<Step> {
        Some(match check {
            CheckId::Package | CheckId::Intune => Step::Package,
            CheckId::Server => Step::Server,
            CheckId::Proxy => Step::Proxy,
            CheckId::SignIn | CheckId::Cmdlets => match server_type {
                ServerType::OnPremises => Step::Accounts,
                ServerType::Hosted => Step::Package,
            },
            CheckId::Notification => Step::Accounts,
            CheckId::Save => return None,
        })
    }
}

/// What the package holds, for display.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageSummary {
    /// Tenant id and name.
    pub tenant: String,
    /// App id and name.
    pub app: String,
}

/// Everything the admin typed. Passwords are kept as typed (the text fields need a `String`) and are
/// never printed: `Debug` masks them.
#[derive(Clone, Default)]
pub struct WizardState {
    /// "I already have a connector package": the first step takes a package file instead of the
    /// sign-in.
    pub use_package: bool,
    /// The package of the app the sign-in step created, in memory only (its certificate's key never
    /// goes to a file; Connect hands it to the worker like a package's).
    pub onboarded: Option<ConnectorPackage>,
    /// The object id of the app the sign-in step created (saved as `ApplicationObjectId`, for the
    /// service's certificate rotation).
    pub onboarded_object_id: Option<String>,
    /// Path of the connector package `.zip`.
    pub package_path: String,
    /// The package read from `package_path`, or why it could not be read.
    pub package: Option<Result<PackageSummary, String>>,
    /// On-premises or hosted.
    pub server_type: ServerType,
    /// CAS name or FQDN (on-premises) or server address (hosted).
    pub server: String,
    /// Optional remote PowerShell URL (empty: `https://<server>/PowerShell/`).
    pub powershell_url: String,
    /// Optional PEM file of a CA to trust besides the system's.
    pub trusted_ca_file: String,
    /// Whether a proxy is used.
    pub proxy_enabled: bool,
    /// Proxy name (or `host:port`, or URL).
    pub proxy_host: String,
    /// Proxy port.
    pub proxy_port: String,
    /// Whether the proxy needs credentials.
    pub proxy_auth: bool,
    /// `DOMAIN\user` for the proxy.
    pub proxy_user: String,
    /// Proxy password.
    pub proxy_password: String,
    /// Exchange service account.
    pub exchange_user: String,
    /// Its password.
    pub exchange_password: String,
    /// Notification mailbox.
    pub notification_mailbox: String,
    /// Its password.
    pub notification_password: String,
    /// Fields the admin has edited (their errors show as typed).
    pub touched: BTreeSet<Field>,
    /// Set when Connect was pressed: every error shows.
    pub show_all_errors: bool,
    /// Set when Enter was pressed in a field: the page presses its default button.
    pub submit_requested: bool,
}

impl std::fmt::Debug for WizardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WizardState")
            .field("use_package", &self.use_package)
            .field(
                "onboarded",
                &self.onboarded.as_ref().map(|p| &p.manifest.client_id),
            )
            .field("package_path", &self.package_path)
            .field("server_type", &self.server_type)
            .field("server", &self.server)
            .field("proxy_enabled", &self.proxy_enabled)
            .field("proxy_host", &self.proxy_host)
            .field("proxy_port", &self.proxy_port)
            .field("proxy_user", &self.proxy_user)
            .field("exchange_user", &self.exchange_user)
            .field("notification_mailbox", &self.notification_mailbox)
            .field("passwords", &"***")
            .finish()
    }
}

impl WizardState {
    /// The text of a field.
    pub fn value(&self, field: Field) -> &str {
        match field {
            Field::Package => &self.package_path,
            Field::Server => &self.server,
            Field::PowerShellUrl => &self.powershell_url,
            Field::TrustedCa => &self.trusted_ca_file,
            Field::ProxyHost => &self.proxy_host,
            Field::ProxyPort => &self.proxy_port,
            Field::ProxyUser => &self.proxy_user,
            Field::ProxyPassword => &self.proxy_password,
            Field::ExchangeUser => &self.exchange_user,
            Field::ExchangePassword => &self.exchange_password,
            Field::NotificationMailbox => &self.notification_mailbox,
            Field::NotificationPassword => &self.notification_password,
        }
    }

    /// The text of a field, to edit.
    pub fn value_mut(&mut self, field: Field) -> &mut String {
        match field {
            Field::Package => &mut self.package_path,
            Field::Server => &mut self.server,
            Field::PowerShellUrl => &mut self.powershell_url,
            Field::TrustedCa => &mut self.trusted_ca_file,
            Field::ProxyHost => &mut self.proxy_host,
            Field::ProxyPort => &mut self.proxy_port,
            Field::ProxyUser => &mut self.proxy_user,
            Field::ProxyPassword => &mut self.proxy_password,
            Field::ExchangeUser => &mut self.exchange_user,
            Field::ExchangePassword => &mut self.exchange_password,
            Field::NotificationMailbox => &mut self.notification_mailbox,
            Field::NotificationPassword => &mut self.notification_password,
        }
    }

    /// The fields that are in use with the current choices.
    /// Hosted Exchange has no server name, Exchange account, password or PowerShell URL, and sends its
    /// notifications through Graph (no mailbox password); the notification mailbox is optional
    /// everywhere, and its password is asked only when a mailbox is given.
    pub fn active_fields(&self) -> Vec<Field> {
        let on_premises = self.server_type == ServerType::OnPremises;
        let mut fields = vec![Field::Package];
        if on_premises {
            fields.extend([Field::Server, Field::PowerShellUrl]);
        }
        fields.push(Field::TrustedCa);
        if self.proxy_enabled {
            fields.extend([Field::ProxyHost, Field::ProxyPort]);
            if self.proxy_auth {
                fields.extend([Field::ProxyUser, Field::ProxyPassword]);
            }
        }
        if on_premises {
            fields.extend([Field::ExchangeUser, Field::ExchangePassword]);
        }
        fields.push(Field::NotificationMailbox);
        if on_premises && self.sends_notifications() {
            fields.push(Field::NotificationPassword);
        }
        fields
    }

    /// Whether a notification mailbox is given (no mailbox: no mail is sent).
    pub fn sends_notifications(&self) -> bool {
        !self.notification_mailbox.trim().is_empty()
    }

    /// What is wrong with a field and how to fix it, or `None` when it is fine (or not in use).
    pub fn check(&self, field: Field, lang: Lang) -> Option<String> {
        if !self.active_fields().contains(&field) {
            return None;
        }
        let value = self.value(field).trim();
        match field {
            Field::Package if !self.use_package => {
                return match self.onboarded {
                    Some(_) => None,
                    None => Some(tr(lang, "onb_required").to_string()),
                };
            }
            Field::Package => {
                if value.is_empty() {
                    return Some(tr(lang, "package_required").to_string());
                }
                return match &self.package {
                    Some(Err(e)) => Some(e.clone()),
                    _ => None,
                };
            }
            Field::PowerShellUrl | Field::TrustedCa | Field::NotificationMailbox
                if value.is_empty() =>
            {
                return None;
            }
            // The port may be given with the name instead.
            Field::ProxyPort if value.is_empty() && self.proxy_host.contains(':') => return None,
            _ => {}
        }
        if value.is_empty() {
            return Some(if field.is_password() {
                tr(lang, "password_required").to_string()
            } else {
                tr(lang, "value_required").to_string()
            });
        }
        let setting = settings::find(field.setting_key())?;
        setting
            .validate(value)
            .err()
            .map(|e| crate::gui::i18n::coded_text(lang, &e.code))
    }

    /// The error to show now: for a field touched or holding a value (prefilled values are checked
    /// too); an empty untouched field only once Next or Connect was pressed on it.
    pub fn visible_error(&self, field: Field, lang: Lang) -> Option<String> {
        if self.show_all_errors
            || self.touched.contains(&field)
            || !self.value(field).trim().is_empty()
        {
            self.check(field, lang)
        } else {
            None
        }
    }

    /// Every problem, in field order.
    pub fn errors(&self, lang: Lang) -> Vec<(Field, String)> {
        self.active_fields()
            .into_iter()
            .filter_map(|f| self.check(f, lang).map(|e| (f, e)))
            .collect()
    }

    /// The problems of one step's fields.
    pub fn step_errors(&self, step: Step, lang: Lang) -> Vec<(Field, String)> {
        self.errors(lang)
            .into_iter()
            .filter(|(f, _)| step.fields().contains(f))
            .collect()
    }

    /// Whether a step's fields are all valid (Next is enabled).
    pub fn step_is_valid(&self, step: Step) -> bool {
        self.step_errors(step, Lang::En).is_empty()
    }

    /// Shows every error of a step (Next pressed on it, or the admin sent there from Connect).
    pub fn touch_step(&mut self, step: Step) {
        self.touched.extend(step.fields().iter().copied());
    }

    /// Sets a field as if typed (marks it touched); re-reads the package when its path changes.
    pub fn set(&mut self, field: Field, text: &str) {
        *self.value_mut(field) = text.to_string();
        self.touched.insert(field);
        if field == Field::Package {
            self.load_package();
        }
    }

    /// Reads the package at `package_path` (a small local file with size limits) for its summary.
    pub fn load_package(&mut self) {
        let path = self.package_path.trim();
        if path.is_empty() {
            self.package = None;
            return;
        }
        self.package = Some(
            ConnectorPackage::read(&PathBuf::from(path))
                .map(|p| summary(&p))
                .map_err(|e| e.to_string()),
        );
    }

    /// The package Connect uses: the one the sign-in step made, or none (then the package file).
    pub fn onboarded_package(&self) -> Option<&ConnectorPackage> {
        self.onboarded.as_ref().filter(|_| !self.use_package)
    }

    /// The proxy the fields describe, with its credentials, or `None` when no proxy is used; the
    /// first error of the proxy fields (as the proxy step shows it) when they are not valid.
    pub fn configured_proxy(&self, lang: Lang) -> Result<Option<ConfiguredProxy>, String> {
        if !self.proxy_enabled {
            return Ok(None);
        }
        if let Some((_, error)) = self.step_errors(Step::Proxy, lang).into_iter().next() {
            return Err(error);
        }
        let port = self.proxy_port.trim().parse().ok();
        let spec = ProxySpec::parse(&self.proxy_host, port).map_err(|e| e.to_string())?;
        let credentials = self.proxy_auth.then(|| {
            (
                self.proxy_user.trim().to_string(),
                self.secret(Field::ProxyPassword),
            )
        });
        Ok(Some(ConfiguredProxy { spec, credentials }))
    }

    /// The passwords as secrets.
    pub fn secret(&self, field: Field) -> Secret {
        Secret::new(self.value(field).to_string())
    }
}

/// The tenant and app a package names.
pub fn summary(p: &ConnectorPackage) -> PackageSummary {
    let m = &p.manifest;
    let named = |name: &Option<String>, id: &str| match name {
        Some(n) if !n.is_empty() => format!("{n} ({id})"),
        _ => id.to_string(),
    };
    PackageSummary {
        tenant: named(&m.tenant_name, &m.tenant_id),
        app: named(&m.app_name, &m.client_id),
    }
}

/// A labelled single-line field with its inline error; the label names the field for screen readers.
pub(crate) fn text_field(
    ui: &mut egui::Ui,
    state: &mut WizardState,
    field: Field,
    label: &str,
    lang: Lang,
) -> egui::Response {
    let label_response = ui.label(label);
    let error = state.visible_error(field, lang);
    let password = field.is_password();
    let mut edit = egui::TextEdit::singleline(state.value_mut(field))
        .password(password)
        .desired_width(ui.available_width().min(480.0));
    if error.is_some() {
        edit = edit.text_color(ui.visuals().error_fg_color);
    }
    let response = ui
        .add(edit)
        .labelled_by(label_response.id)
        .on_hover_text(field.help());
    if response.changed() {
        state.touched.insert(field);
        if field == Field::Package {
            state.load_package();
        }
    }
    if response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        state.submit_requested = true;
    }
    if let Some(error) = error {
        ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {error}"));
    }
    response
}
