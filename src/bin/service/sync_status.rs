//! `sync` and `status`: thin glue over `exchange_connector::sync::cli` (the logic lives in the library).

use crate::common::Context;
use anyhow::Context as _;
use exchange_connector::config::Config;
use exchange_connector::store::Store;
use exchange_connector::sync::cli::{STATE_FILE, SyncSetup, exit_ok, format_report};
use exchange_connector::sync::{
    RunOptions, SyncCommand, SyncKind, run_sync_command, status_report,
};

/// Options of `sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Read everything (the default).
    #[arg(long, conflicts_with = "quick")]
    full: bool,
    /// Read only what changed since the last sync.
    #[arg(long)]
    quick: bool,
    /// Compute and print the plan; apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply a plan the mass-change guard held.
    #[arg(long)]
    confirm: bool,
    /// Allow-list every device already syncing before enforcement starts.
    #[arg(long)]
    rollout: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `sync`; Ok(false) when the run did not succeed (held, failed).
pub fn run_sync(ctx: &Context, args: SyncArgs) -> anyhow::Result<bool> {
    let loaded = Config::load(&ctx.config_dir)?;
    let secrets = ctx.store()?;
    let engine = SyncSetup::from_config(
        &loaded.config,
        &ctx.config_dir,
        secrets.as_ref(),
        &ctx.instance,
    )?
    .build()?;
    let command = SyncCommand {
        kind: if args.quick && !args.full {
            SyncKind::Quick
        } else {
            SyncKind::Full
        },
        options: RunOptions {
            dry_run: args.dry_run,
            confirm_guard: args.confirm,
            rollout: args.rollout,
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let report = runtime.block_on(run_sync_command(&engine, command));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report));
    }
    Ok(exit_ok(&report))
}

/// Runs `status`.
pub fn run_status(ctx: &Context, args: StatusArgs) -> anyhow::Result<()> {
    let store = Store::open(ctx.config_dir.join(STATE_FILE))?;
    let status = status_report(&store)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.to_text());
    }
    Ok(())
}
