//! `sync` and `status`: through the running worker's control channel when it runs (so a CLI sync
//! never overlaps the worker's own run), directly against the configuration and the store otherwise.

use crate::common::Context;
use anyhow::Context as _;
use exchange_connector::service::channel::{ChannelClient, ChannelError};
use exchange_connector::service::messages::{Reply, Request, RunPhase, StatusReply};
use exchange_connector::service::{setup, worker};
use exchange_connector::store::Store;
use exchange_connector::sync::cli::{SyncCommand, exit_ok, format_report, run_sync_command};
use exchange_connector::sync::{RunOptions, RunReport, SyncKind, status_report};

/// Options of `sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// A full sync (the default).
    #[arg(long, conflicts_with = "quick")]
    full: bool,
    /// A quick sync.
    #[arg(long)]
    quick: bool,
    /// Compute and print the plan; apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply the plan the mass-change guard is holding.
    #[arg(long)]
    confirm: bool,
    /// Allow-list every allowed device of targeted users before enforcement.
    #[arg(long)]
    rollout: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

async fn connect(ctx: &Context) -> anyhow::Result<Option<ChannelClient>> {
    match ChannelClient::connect(&ctx.channel_address()).await {
        Ok(c) => Ok(Some(c)),
        Err(ChannelError::NotRunning { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs `sync`; `Ok(false)` when the run did not succeed (held, failed).
pub fn run_sync(ctx: &Context, args: SyncArgs) -> anyhow::Result<bool> {
    let kind = if args.quick {
        SyncKind::Quick
    } else {
        SyncKind::Full
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        match connect(ctx).await? {
            Some(client) => sync_via_worker(ctx, client, kind, &args).await,
            None => {
                let (engine, _) =
                    worker::build_engine(&ctx.config_dir, ctx.store()?.as_ref(), &ctx.instance)
                        .await?;
                Ok(run_sync_command(
                    &engine,
                    SyncCommand {
                        kind,
                        options: RunOptions {
                            dry_run: args.dry_run,
                            confirm_guard: args.confirm,
                            rollout: args.rollout,
                        },
                    },
                )
                .await)
            }
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report));
    }
    Ok(exit_ok(&report))
}

async fn sync_via_worker(
    ctx: &Context,
    mut client: ChannelClient,
    kind: SyncKind,
    args: &SyncArgs,
) -> anyhow::Result<RunReport> {
    if args.rollout {
        anyhow::bail!(
            "--rollout cannot be asked of the running worker; stop the service, run `sync --full --rollout`, and start it again"
        );
    }
    // Subscribe first so no event of our run is missed.
    let mut events = ChannelClient::connect(&ctx.channel_address()).await?;
    let before = last_run_id(&mut client).await?;
    let subscribe = Request::Subscribe;
    let first = tokio::spawn(async move {
        let first = events.request(&subscribe).await;
        (events, first)
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let request = if args.confirm {
        Request::ConfirmHeld
    } else {
        Request::Sync {
            kind,
            dry_run: args.dry_run,
        }
    };
    match client.request(&request).await? {
        Reply::Accepted { message } => eprintln!("worker: {message}"),
        Reply::Error { message } => anyhow::bail!("the worker refused: {message}"),
        other => anyhow::bail!("unexpected reply from the worker: {other:?}"),
    }
    let (mut events, mut next) = first.await.context("progress stream")?;
    loop {
        match next? {
            Reply::Progress(event) => {
                eprintln!("{}: {}", event.phase, event.message);
                if event.phase.is_over() {
                    // A finished run of ours is the first one newer than `before`.
                    let status = status(&mut client).await?;
                    if let Some(report) = status.last_report
                        && report.run_id > before
                    {
                        return Ok(report);
                    }
                    if event.phase == RunPhase::Failed {
                        anyhow::bail!("{}", event.message);
                    }
                }
            }
            other => anyhow::bail!("unexpected message from the worker: {other:?}"),
        }
        next = events.next_reply().await;
    }
}

async fn status(client: &mut ChannelClient) -> anyhow::Result<StatusReply> {
    match client.request(&Request::Status).await? {
        Reply::Status(status) => Ok(*status),
        Reply::Error { message } => anyhow::bail!("the worker refused: {message}"),
        other => anyhow::bail!("unexpected reply from the worker: {other:?}"),
    }
}

async fn last_run_id(client: &mut ChannelClient) -> anyhow::Result<Option<i64>> {
    let s = status(client).await?;
    Ok(s.last_report.and_then(|r| r.run_id))
}

/// Runs `status`.
pub fn run_status(ctx: &Context, args: StatusArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let live = runtime.block_on(async {
        match connect(ctx).await? {
            Some(mut c) => status(&mut c).await.map(Some),
            None => Ok::<_, anyhow::Error>(None),
        }
    })?;
    match live {
        Some(s) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            println!("worker:          running (instance {})", s.instance);
            println!("connection:      {}", s.connection);
            if let Some(version) = s.exchange_server.as_ref().and_then(|e| e.version.as_ref()) {
                println!("exchange:        {version}");
            }
            if let Some(e) = &s.last_error {
                println!("last error:      {e}");
            }
            if let Some(run) = &s.current_run {
                println!("running now:     {} ({})", run.kind.phrase(), run.phase);
            }
            if let Some(next) = &s.next_run {
                println!(
                    "next run:        {} at {}",
                    next.kind.phrase(),
                    next.at.to_rfc3339()
                );
            }
            if let Some(rotated) = s.certificate.as_ref().and_then(|c| c.rotated.as_ref()) {
                println!("certificate:     {rotated}");
            }
            for warning in s.warnings() {
                println!("warning:         {}", warning.english);
            }
            match &s.report {
                Ok(r) => print!("{}", r.to_text()),
                Err(e) => println!("store: {e}"),
            }
        }
        None => {
            let path = ctx.config_dir.join(setup::STATE_DB);
            let store = Store::open(&path)
                .with_context(|| format!("opening the state store {}", path.display()))?;
            let report = status_report(&store)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("worker:          not running");
                if let Some(warning) = report.eas_protocol_warning() {
                    println!("warning:         {}", warning.english);
                }
                print!("{}", report.to_text());
            }
        }
    }
    Ok(())
}
