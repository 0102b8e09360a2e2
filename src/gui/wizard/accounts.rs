//! The accounts step: the Exchange service account (on-premises only) and the optional notification
//! mailbox.

use super::{Field, ServerType, WizardState, text_field};
use crate::gui::i18n::{Lang, tr};
use eframe::egui;

/// Draws the Exchange account section (on-premises; hosted Exchange signs in with the package's app).
pub fn exchange_ui(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.heading(tr(lang, "sec_exchange_account"));
    if state.server_type == ServerType::Hosted {
        ui.label(tr(lang, "hosted_no_account"));
        return;
    }
    text_field(
        ui,
        state,
        Field::ExchangeUser,
        tr(lang, "exchange_user"),
        lang,
    );
    text_field(
        ui,
        state,
        Field::ExchangePassword,
        tr(lang, "exchange_password"),
        lang,
    );
}

/// Draws the notification account section: optional; without a mailbox no mail is sent, and the page
/// says so.
pub fn notification_ui(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.heading(tr(lang, "sec_notification"));
    ui.label(match state.server_type {
        ServerType::OnPremises => tr(lang, "notification_hint"),
        ServerType::Hosted => tr(lang, "notification_hint_hosted"),
    });
    ui.label(tr(lang, "notification_optional"));
    text_field(
        ui,
        state,
        Field::NotificationMailbox,
        tr(lang, "notification_mailbox"),
        lang,
    );
    if !state.sends_notifications() {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("ℹ {}", tr(lang, "notification_none")),
        );
        return;
    }
    if state.server_type == ServerType::OnPremises {
        text_field(
            ui,
            state,
            Field::NotificationPassword,
            tr(lang, "notification_password"),
            lang,
        );
    }
}
