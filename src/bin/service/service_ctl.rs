//! `service install|uninstall|start|stop|status`: the Windows service of an instance, and the SCM's
//! entry point (`run --service`).

use crate::common::Context;

/// `service` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// Install the Windows service of this instance (automatic delayed start, restart on failure).
    Install {
        /// Run as LocalService instead of the service's own virtual account (NT SERVICE\<name>).
        #[arg(long)]
        local_service: bool,
    },
    /// Stop and remove the Windows service.
    Uninstall,
    /// Start the service.
    Start,
    /// Stop the service.
    Stop,
    /// The service's state.
    Status,
}

/// Runs a `service` subcommand.
#[cfg(windows)]
pub fn run(ctx: &Context, command: ServiceCommand) -> anyhow::Result<()> {
    use exchange_connector::service::windows as svc;
    let name = svc::service_name(&ctx.instance);
    match command {
        ServiceCommand::Install { local_service } => {
            let exe = std::env::current_exe()?;
            svc::install(&ctx.instance, &exe, &ctx.config_dir, local_service)?;
            println!(
                "Installed the service {name} (\"{}\"), automatic (delayed) start, restart on failure.",
                svc::display_name(&ctx.instance)
            );
        }
        ServiceCommand::Uninstall => {
            svc::uninstall(&ctx.instance)?;
            println!("Removed the service {name}.");
        }
        ServiceCommand::Start => {
            svc::start(&ctx.instance)?;
            println!("Started {name}.");
        }
        ServiceCommand::Stop => {
            svc::stop(&ctx.instance)?;
            println!("Asked {name} to stop.");
        }
        ServiceCommand::Status => println!("{name}: {}", svc::state(&ctx.instance)?),
    }
    Ok(())
}

/// Runs a `service` subcommand.
#[cfg(not(windows))]
pub fn run(_ctx: &Context, _command: ServiceCommand) -> anyhow::Result<()> {
    Err(exchange_connector::service::windows::ServiceError::NotWindows.into())
}

#[cfg(windows)]
mod scm {
    use crate::common::Context;
    use crate::run::Args;
    use std::ffi::OsString;
    use std::sync::OnceLock;
    use std::time::Duration;
    use windows_service::service::{
        ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::{define_windows_service, service_dispatcher};

    /// What `service_main` needs; set before the dispatcher starts (it takes no closure).
    pub static LAUNCH: OnceLock<(Context, Args)> = OnceLock::new();

    define_windows_service!(ffi_service_main, service_main);

    fn service_main(_arguments: Vec<OsString>) {
        if let Err(e) = run_service() {
            tracing::error!("the service stopped with an error: {e:#}");
        }
    }

    fn status(state: ServiceState, exit: u32, wait: Duration) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: ServiceExitCode::Win32(exit),
            checkpoint: 0,
            wait_hint: wait,
            process_id: None,
        }
    }

    fn run_service() -> anyhow::Result<()> {
        let Some((ctx, args)) = LAUNCH.get() else {
            anyhow::bail!("service launched without its options");
        };
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let name = exchange_connector::service::windows::service_name(&ctx.instance);
        let handle = service_control_handler::register(&name, move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                let _ = stop_tx.send(true);
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        })?;
        handle.set_service_status(status(ServiceState::Running, 0, Duration::ZERO))?;
        let runtime = tokio::runtime::Runtime::new()?;
        let mut watch_stop = stop.clone();
        let stop_reporter = {
            let grace = Duration::from_secs(args.stop_grace_seconds + 5);
            runtime.spawn(async move {
                // Tell the SCM the stop is in progress, with time for the run in flight.
                if watch_stop.changed().await.is_ok() {
                    let _ = handle.set_service_status(status(ServiceState::StopPending, 0, grace));
                }
            })
        };
        let result = runtime.block_on(crate::run::serve(ctx, args, stop));
        stop_reporter.abort();
        let exit = if result.is_ok() { 0 } else { 1 };
        handle.set_service_status(status(ServiceState::Stopped, exit, Duration::ZERO))?;
        result
    }

    /// Hands the process to the service control manager.
    pub fn dispatch(ctx: &Context, args: Args) -> anyhow::Result<()> {
        let name = exchange_connector::service::windows::service_name(&ctx.instance);
        let log_dir = args.log_dir.clone().unwrap_or_else(|| {
            exchange_connector::service::logs::default_log_dir(&ctx.config_dir, &ctx.instance)
        });
        exchange_connector::service::logs::init_with_event_log(&log_dir, false, Some(&name))?;
        // At every start, not only at install: the MSI creates the folder with %ProgramData%'s
        // inherited rights (Users may create files), and an admin may have loosened them since.
        match exchange_connector::file_rights::protect_data_folder(&ctx.config_dir, &name) {
            Ok(()) => {
                tracing::info!(folder = %ctx.config_dir.display(), "data folder rights set: SYSTEM and Administrators full control, the service modify, no one else")
            }
            Err(e) => tracing::error!("{e}"),
        }
        if LAUNCH.set((ctx.clone(), args)).is_err() {
            anyhow::bail!("the service dispatcher was started twice");
        }
        service_dispatcher::start(&name, ffi_service_main)?;
        Ok(())
    }
}

#[cfg(windows)]
pub use scm::dispatch;
