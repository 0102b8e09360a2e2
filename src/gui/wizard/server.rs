//! The Exchange server section: on-premises (a Client Access server) or hosted (a server address).

use super::{Field, ServerType, WizardState, text_field};
use crate::gui::i18n::{Lang, tr};
use eframe::egui;

/// Draws the section.
pub fn ui(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.heading(tr(lang, "sec_server"));
    ui.radio_value(
        &mut state.server_type,
        ServerType::OnPremises,
        tr(lang, "on_premises"),
    );
    ui.radio_value(
        &mut state.server_type,
        ServerType::Hosted,
        tr(lang, "hosted"),
    );
    let label = match state.server_type {
        ServerType::OnPremises => tr(lang, "server_cas"),
        ServerType::Hosted => tr(lang, "server_hosted"),
    };
    text_field(ui, state, Field::Server, label, lang);
    egui::CollapsingHeader::new(tr(lang, "advanced"))
        .id_salt("server_advanced")
        .show(ui, |ui| {
            text_field(ui, state, Field::PowerShellUrl, tr(lang, "ps_url"), lang);
            text_field(ui, state, Field::TrustedCa, tr(lang, "ca_file"), lang);
        });
}
