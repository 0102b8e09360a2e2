//! `exchange-connector-lab`: a simulated Exchange organisation and Intune tenant on 127.0.0.1.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::server::{LabOptions, start};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "exchange-connector-lab",
    version,
    about = "A simulated Exchange organisation and Intune tenant that speaks the real protocols on 127.0.0.1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the lab until Ctrl-C.
    Serve {
        /// Generate an organisation: users=N,devices=M,seed=S.
        #[arg(long, conflicts_with = "scenario")]
        generate: Option<GenerateSpec>,
        /// Load a scenario file (JSON; see `exchange-connector-lab scenario`).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Where to write the endpoints file once listening.
        #[arg(long)]
        endpoints_file: PathBuf,
        /// Folder for the CA, client certificate and connector package (default: beside the
        /// endpoints file).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the small built-in scenario, or a generated one, as a scenario file to start from.
    Scenario {
        /// Generate instead: users=N,devices=M,seed=S.
        #[arg(long)]
        generate: Option<GenerateSpec>,
    },
    /// The PowerShell stand-in: speaks the bridge's JSON-lines protocol on stdin/stdout.
    Pwsh(exchange_connector::lab::exchange::pwsh::PwshArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        // The stand-in's stdout is the protocol: no logging set up there, its errors go to stderr.
        Command::Pwsh(args) => runtime.block_on(exchange_connector::lab::exchange::pwsh::run(args)),
        command => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            match runtime.block_on(run(command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            generate: spec,
            scenario,
            endpoints_file,
            dir,
        } => {
            let started = std::time::Instant::now();
            let scenario = match (spec, scenario) {
                (Some(spec), None) => generate(spec),
                (None, Some(path)) => Scenario::load(&path)?,
                (None, None) => Scenario::small(),
                (Some(_), Some(_)) => bail!("give either --generate or --scenario, not both"),
            };
            let generated = started.elapsed();
            let dir = match dir {
                Some(dir) => dir,
                None => endpoints_file
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|p| p.to_path_buf())
                    .unwrap_or_else(|| PathBuf::from(".")),
            };
            // The endpoints file names the lab's files by these paths: make them absolute so they
            // mean the same from any folder (`configure --lab-endpoints`, the `pwsh` stand-in).
            let dir = std::path::absolute(&dir)
                .with_context(|| format!("cannot resolve the lab folder {}", dir.display()))?;
            let lab = start(LabOptions { scenario, dir }).await?;
            // Catch Ctrl-C before the endpoints file says the lab is ready, so a script that stops
            // the lab as soon as the file appears stops it cleanly. (Polling once installs the handler.)
            let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
            if let Some(caught) = futures_util::FutureExt::now_or_never(&mut ctrl_c) {
                caught.context("waiting for Ctrl-C")?;
                eprintln!("stopping the lab");
                lab.shutdown().await;
                return Ok(());
            }
            lab.write_endpoints(&endpoints_file)
                .with_context(|| format!("writing {}", endpoints_file.display()))?;
            let (mailboxes, devices) = {
                let org = lab.state.org();
                (org.mailboxes.len(), org.device_count())
            };
            eprintln!(
                "lab ready in {:.2?} (world built in {:.2?}): {mailboxes} mailboxes, {devices} devices, {} managed devices",
                started.elapsed(),
                generated,
                lab.state.tenant().managed_devices.len()
            );
            eprintln!("control API: {}", lab.endpoints.control_base);
            eprintln!("endpoints file: {}", endpoints_file.display());
            ctrl_c.await.context("waiting for Ctrl-C")?;
            eprintln!("stopping the lab");
            lab.shutdown().await;
            Ok(())
        }
        Command::Scenario { generate: spec } => {
            let scenario = match spec {
                Some(spec) => generate(spec),
                None => Scenario::small(),
            };
            println!("{}", serde_json::to_string_pretty(&scenario)?);
            Ok(())
        }
        // `main` runs the stand-in before logging is set up; nothing to do here.
        Command::Pwsh(_) => Ok(()),
    }
}
