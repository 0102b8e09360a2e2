//! `exchange-connector-setup`: the setup wizard and status page (eframe/egui).
//!
//! `exchange-connector-setup --lab` starts a simulated organisation in-process and fills the wizard
//! from it: click Connect and watch the status page.
#![cfg_attr(windows, windows_subsystem = "windows")]

use clap::Parser;
use exchange_connector::gui::app::{AppParts, SetupApp, remembered, window_options};
use exchange_connector::gui::connect::ConnectEnv;
use exchange_connector::gui::i18n::Lang;
use exchange_connector::gui::lab_demo;
use exchange_connector::gui::wizard::WizardState;
use exchange_connector::gui::wizard::package::NativePicker;
use exchange_connector::gui::wizard::sign_in::{SignInPanel, SystemBrowser};

#[derive(Debug, Parser)]
#[command(
    name = "exchange-connector-setup",
    version,
    about = "Set up and watch the Exchange Connector"
)]
struct Args {
    /// Connector instance (one per Exchange organisation).
    #[arg(long, default_value = "default")]
    instance: String,
    /// Start the lab (a simulated Exchange organisation and Intune tenant) and fill the wizard from it.
    #[arg(long)]
    lab: bool,
    /// Users of the lab's generated organisation.
    #[arg(long, default_value_t = 200)]
    lab_users: usize,
    /// Devices of the lab's generated organisation.
    #[arg(long, default_value_t = 500)]
    lab_devices: usize,
    /// With --lab: a tenant without the connector's app, so the first step signs in and creates it
    /// (the lab's consent page opens in the browser).
    #[arg(long, requires = "lab")]
    lab_empty_tenant: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    exchange_connector::secrets::check_instance(&args.instance)?;
    let mut keep_alive: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut sign_in = None;
    let (env, wizard, runtime) = if args.lab {
        let dir =
            std::env::temp_dir().join(format!("exchange-connector-lab-{}", std::process::id()));
        let demo = lab_demo::LabDemo::start(
            args.lab_users,
            args.lab_devices,
            args.lab_empty_tenant,
            &dir,
        )?;
        let endpoints = demo.lab.endpoints.clone();
        let env = lab_demo::env(&endpoints, &lab_demo::lab_program(), &dir);
        let wizard = if args.lab_empty_tenant {
            lab_demo::prefill_for_sign_in(&endpoints)
        } else {
            lab_demo::prefill(&endpoints)
        };
        sign_in = Some(lab_demo::sign_in_target(&endpoints));
        let handle = demo.runtime.handle().clone();
        keep_alive.push(Box::new(demo));
        (env, wizard, handle)
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        keep_alive.push(Box::new(runtime));
        (
            ConnectEnv::for_instance(&args.instance),
            WizardState::default(),
            handle,
        )
    };
    eframe::run_native(
        exchange_connector::gui::WINDOW_TITLE,
        window_options(),
        Box::new(move |cc| {
            let remembered = remembered(cc.storage);
            let lang = remembered
                .as_ref()
                .and_then(|r| r.lang)
                .unwrap_or_else(Lang::from_os);
            let mut app = SetupApp::new(AppParts {
                env,
                runtime,
                picker: Box::new(NativePicker),
                wizard,
                lang,
                keep_alive,
            });
            app.window_sized = remembered.is_some_and(|r| r.window_sized);
            if let Some(target) = sign_in {
                app.sign_in = SignInPanel::with_target(target, Box::new(SystemBrowser));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))
}
