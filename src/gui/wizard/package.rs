//! The connector package section: the `.zip` path, a native file dialog, and what the package holds.

use super::{Field, WizardState, text_field};
use crate::gui::i18n::{Lang, tr};
use eframe::egui;
use std::path::PathBuf;

/// Chooses a file. The native dialog in the app; a fixed path in tests.
pub trait FilePicker {
    /// Asks for a connector package; `None` when the admin cancels.
    fn pick_package(&mut self, title: &str) -> Option<PathBuf>;
}

/// The operating system's file dialog (rfd).
#[derive(Debug, Default)]
pub struct NativePicker;

impl FilePicker for NativePicker {
    fn pick_package(&mut self, title: &str) -> Option<PathBuf> {
        rfd::FileDialog::new()
            .set_title(title)
            .add_filter("Connector package", &["zip"])
            .pick_file()
    }
}

/// Answers every request with the same path (tests, scripted demos).
#[derive(Debug, Clone)]
pub struct FixedPicker(pub Option<PathBuf>);

impl FilePicker for FixedPicker {
    fn pick_package(&mut self, _title: &str) -> Option<PathBuf> {
        self.0.clone()
    }
}

/// Draws the section.
pub fn ui(ui: &mut egui::Ui, state: &mut WizardState, picker: &mut dyn FilePicker, lang: Lang) {
    ui.heading(tr(lang, "sec_package"));
    ui.label(tr(lang, "package_hint"));
    text_field(ui, state, Field::Package, tr(lang, "package_file"), lang);
    if ui.button(tr(lang, "browse")).clicked()
        && let Some(path) = picker.pick_package(tr(lang, "package_file"))
    {
        state.set(Field::Package, &path.display().to_string());
    }
    if let Some(Ok(summary)) = &state.package {
        egui::Grid::new("package_summary").show(ui, |ui| {
            ui.label(tr(lang, "package_tenant"));
            ui.label(&summary.tenant);
            ui.end_row();
            ui.label(tr(lang, "package_app"));
            ui.label(&summary.app);
            ui.end_row();
        });
    }
}
