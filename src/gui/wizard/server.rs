//! The Exchange server step: on-premises (a Client Access server) or hosted (Exchange Online, where the
//! tenant comes from the package and nothing else is asked).

use super::{Field, ServerType, WizardState, text_field};
use crate::gui::i18n::{Lang, tr};
use eframe::egui;

/// Draws the step.
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
    ui.add_space(6.0);
    match state.server_type {
        ServerType::OnPremises => {
            text_field(ui, state, Field::Server, tr(lang, "server_cas"), lang);
        }
        ServerType::Hosted => {
            ui.label(tr(lang, "hosted_hint"));
            egui::Grid::new("hosted_tenant").show(ui, |ui| {
                ui.label(tr(lang, "package_tenant"));
                match &state.package {
                    Some(Ok(summary)) => ui.strong(&summary.tenant),
                    _ => ui.weak(tr(lang, "hosted_no_package")),
                };
                ui.end_row();
            });
        }
    }
    egui::CollapsingHeader::new(tr(lang, "advanced"))
        .id_salt("server_advanced")
        .show(ui, |ui| {
            if state.server_type == ServerType::OnPremises {
                text_field(ui, state, Field::PowerShellUrl, tr(lang, "ps_url"), lang);
            }
            text_field(ui, state, Field::TrustedCa, tr(lang, "ca_file"), lang);
        });
}
