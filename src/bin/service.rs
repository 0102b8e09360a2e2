//! `exchange-connector-service`: the connector's command line. One module per subcommand under
//! `src/bin/service/`; every subcommand works on one configuration folder (`--config-dir`, default the
//! platform's location) and one instance (`--instance`, which also names the secret-store entries).

// A binary's root looks for modules beside it; the subcommands live in src/bin/service/.
#[path = "service/common.rs"]
mod common;
#[path = "service/config_show.rs"]
mod config_show;
#[path = "service/configure.rs"]
mod configure;
#[path = "service/diagnose.rs"]
mod diagnose;
#[path = "service/handoff.rs"]
mod handoff;
#[path = "service/onboard.rs"]
mod onboard;
#[path = "service/package_create.rs"]
mod package_create;
#[path = "service/run.rs"]
mod run;
#[path = "service/service_ctl.rs"]
mod service_ctl;
#[path = "service/sync_status.rs"]
mod sync_status;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exchange Connector service and administration commands.
#[derive(Debug, Parser)]
#[command(name = "exchange-connector-service", version, about)]
struct Cli {
    /// Configuration folder (default: %ProgramData%\ExchangeConnector on Windows, /etc/exchange-connector
    /// for root on Linux, else $XDG_CONFIG_HOME/exchange-connector).
    #[arg(
        long,
        global = true,
        env = "EXCHANGE_CONNECTOR_CONFIG_DIR",
        value_name = "DIR"
    )]
    config_dir: Option<PathBuf>,
    /// Connector instance: several connectors on one host keep separate folders and secrets.
    #[arg(
        long,
        global = true,
        env = "EXCHANGE_CONNECTOR_INSTANCE",
        default_value = "default"
    )]
    instance: String,
    /// Where secrets are kept: auto (Credential Manager on Windows; Secret Service or a 0600 file on
    /// Linux), os, or file.
    #[arg(
        long,
        global = true,
        env = "EXCHANGE_CONNECTOR_SECRET_STORE",
        default_value = "auto"
    )]
    secret_store: String,
    /// The worker's control channel (socket path or pipe name), when not the instance's default.
    #[arg(
        long,
        global = true,
        env = "EXCHANGE_CONNECTOR_CHANNEL",
        value_name = "ADDRESS"
    )]
    channel: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the configuration and store the secrets.
    Configure(configure::Args),
    /// Sign in to Microsoft Entra (device code) and create the connector's app registration,
    /// permissions and certificate; `--dry-run` shows the plan, `--remove` deletes what it created.
    Onboard(onboard::Args),
    /// Connector packages.
    #[command(subcommand)]
    Package(PackageCommand),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the worker: scheduled quick and full syncs, the control channel (until Ctrl-C / SIGTERM /
    /// the Windows service stop).
    Run(run::Args),
    /// Run a sync now (through the running worker when there is one).
    Sync(sync_status::SyncArgs),
    /// Last syncs, device counts, the held plan (from the running worker when there is one).
    Status(sync_status::StatusArgs),
    /// Check the configured path end to end (one line per check, with a fix for each failure);
    /// `--bundle FILE.zip` for support; `--user UPN` for "why is this phone blocked?".
    Diagnose(diagnose::Args),
    /// Exchange Online: let the app send notifications as one mailbox only (RBAC for Applications:
    /// management scope and role assignment, created when missing), or print the commands for an
    /// Exchange admin when the app may not.
    RbacMail(diagnose::RbacMailArgs),
    /// The Windows service of this instance.
    #[command(subcommand)]
    Service(service_ctl::ServiceCommand),
    /// Print docs/settings.md, generated from the settings registry.
    #[command(hide = true)]
    SettingsDoc,
}

#[derive(Debug, Subcommand)]
enum PackageCommand {
    /// Build the connector package an admin imports in setup: from an app's certificate, or with
    /// `--sign-in` for a second server (its own certificate added to the onboarded app).
    Create(package_create::Args),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the configuration; secrets are shown only as stored or missing.
    Show(config_show::Args),
}

fn main() -> ExitCode {
    exchange_connector::sync::tune_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        // The command ran but its outcome is not a success (a sync held by the guard or failed).
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    if let Command::SettingsDoc = cli.command {
        print!("{}", exchange_connector::settings::settings_doc());
        return Ok(true);
    }
    let mut ctx = common::Context::new(cli.config_dir, cli.instance, &cli.secret_store)?;
    ctx.channel = cli.channel;
    match cli.command {
        Command::Configure(args) => configure::run(&ctx, args).map(|()| true),
        Command::Onboard(args) => onboard::run(&ctx, args).map(|()| true),
        Command::Package(PackageCommand::Create(args)) => {
            package_create::run(&ctx, args).map(|()| true)
        }
        Command::Config(ConfigCommand::Show(args)) => config_show::run(&ctx, args).map(|()| true),
        Command::Run(args) => run::run(&ctx, args).map(|()| true),
        Command::Service(command) => service_ctl::run(&ctx, command).map(|()| true),
        Command::Diagnose(args) => diagnose::run(&ctx, args),
        Command::RbacMail(args) => diagnose::run_rbac_mail(&ctx, args),
        Command::Sync(args) => sync_status::run_sync(&ctx, args),
        Command::Status(args) => sync_status::run_status(&ctx, args).map(|()| true),
        Command::SettingsDoc => Ok(true),
    }
}
