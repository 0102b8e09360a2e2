//! The two accounts: the Exchange service account and the notification mailbox.

use super::{Field, WizardState, text_field};
use crate::gui::i18n::{Lang, tr};
use eframe::egui;

/// Draws the Exchange account section.
pub fn exchange_ui(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.heading(tr(lang, "sec_exchange_account"));
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

/// Draws the notification account section.
pub fn notification_ui(ui: &mut egui::Ui, state: &mut WizardState, lang: Lang) {
    ui.heading(tr(lang, "sec_notification"));
    ui.label(tr(lang, "notification_hint"));
    text_field(
        ui,
        state,
        Field::NotificationMailbox,
        tr(lang, "notification_mailbox"),
        lang,
    );
    text_field(
        ui,
        state,
        Field::NotificationPassword,
        tr(lang, "notification_password"),
        lang,
    );
}
