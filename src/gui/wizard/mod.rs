//! The wizard: the original connector dialog's fields in its order, with inline validation.
//!
//! [`WizardState`] is plain data that tests can drive; every field's check comes from the settings
//! registry ([`crate::settings`]). The drawing lives in one file per section (`package.rs`, `server.rs`,
//! `proxy.rs`, `accounts.rs`) and only reads and edits this state.

use eframe::egui;
pub mod accounts;
pub mod package;
pub mod proxy;
pub mod server;

use crate::gui::i18n::{Lang, tr};
use crate::package::ConnectorPackage;
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
    pub fn active_fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Field::Package,
            Field::Server,
            Field::PowerShellUrl,
            Field::TrustedCa,
        ];
        if self.proxy_enabled {
            fields.extend([Field::ProxyHost, Field::ProxyPort]);
            if self.proxy_auth {
                fields.extend([Field::ProxyUser, Field::ProxyPassword]);
            }
        }
        fields.extend([
            Field::ExchangeUser,
            Field::ExchangePassword,
            Field::NotificationMailbox,
            Field::NotificationPassword,
        ]);
        fields
    }

    /// What is wrong with a field and how to fix it, or `None` when it is fine (or not in use).
    pub fn check(&self, field: Field, lang: Lang) -> Option<String> {
        if !self.active_fields().contains(&field) {
            return None;
        }
        let value = self.value(field).trim();
        match field {
            Field::Package => {
                if value.is_empty() {
                    return Some(tr(lang, "package_required").to_string());
                }
                return match &self.package {
                    Some(Err(e)) => Some(e.clone()),
                    _ => None,
                };
            }
            Field::PowerShellUrl | Field::TrustedCa if value.is_empty() => return None,
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
        setting.validate(value).err().map(|e| e.message)
    }

    /// The error to show now: only for touched fields until Connect is pressed.
    pub fn visible_error(&self, field: Field, lang: Lang) -> Option<String> {
        if self.show_all_errors || self.touched.contains(&field) {
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
        .desired_width(420.0);
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
