//! `exchange-connector-setup`: the setup wizard and status page (eframe/egui).
//!
//! Not built yet: the wizard is the subject of its own issue. Until then this binary says so plainly
//! and points to what works today, rather than pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "exchange-connector-setup: the setup wizard is not available in this build yet.\n\
         Try the product on the lab instead:\n  \
         exchange-connector-lab serve --generate users=200,devices=500,seed=1 --endpoints-file lab/endpoints.json"
    );
    ExitCode::from(2)
}
