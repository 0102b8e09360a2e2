//! The proxy section: "Use a proxy server when synchronising mobile device information", name, port and
//! optional credentials. The sign-in step shows the same form ([`fields`]) in its "Proxy server"
//! section, since signing in to Entra may already need the proxy.

use super::{Field, WizardState, text_field};
use crate::gui::i18n::{Lang, tr};
use eframe::egui;

/// Draws the section.
pub fn ui(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.heading(tr(lang, "sec_proxy"));
    fields(ui, state, lang);
}

/// The form without its heading: whether a proxy is used, then its name, port and credentials.
pub fn fields(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.checkbox(&mut state.proxy_enabled, tr(lang, "proxy_use"));
    if !state.proxy_enabled {
        return;
    }
    ui.indent("proxy_fields", |ui| {
        text_field(ui, state, Field::ProxyHost, tr(lang, "proxy_host"), lang);
        text_field(ui, state, Field::ProxyPort, tr(lang, "proxy_port"), lang);
        ui.checkbox(&mut state.proxy_auth, tr(lang, "proxy_auth"));
        if state.proxy_auth {
            text_field(ui, state, Field::ProxyUser, tr(lang, "proxy_user"), lang);
            text_field(
                ui,
                state,
                Field::ProxyPassword,
                tr(lang, "proxy_password"),
                lang,
            );
        }
    });
}
