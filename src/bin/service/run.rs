//! `run`: the long-running worker in the foreground (systemd's `ExecStart`, a console), or under the
//! Windows service control manager with `--service`.

use crate::common::Context;
use anyhow::Context as _;
use exchange_connector::service::logs;
use exchange_connector::service::worker::{Worker, WorkerOptions};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Options of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Log folder (default: %ProgramData%\ExchangeConnector\Logs; /var/log/exchange-connector for
    /// root on Linux; else the configuration folder's logs/).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Seconds between quick syncs, overriding QuickSyncIntervalMinutes (testing, troubleshooting).
    #[arg(long, hide = true, value_name = "SECONDS")]
    pub quick_interval_seconds: Option<u64>,
    /// How long a stop waits for the run in flight before leaving it to the journal. 25 s: Windows
    /// Installer's StopServices (ServiceControl `Wait`) waits at most 30 s for a service to stop before
    /// failing an upgrade or uninstall, and a shutdown grants services less; a run cut short is safe,
    /// its journal is settled by the next run (the kill -9 crash trials prove it).
    #[arg(long, default_value_t = 25, value_name = "SECONDS")]
    pub stop_grace_seconds: u64,
    /// Started by the Windows service control manager (used by the installed service).
    #[arg(long)]
    pub service: bool,
}

/// Runs `run`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    if args.service {
        #[cfg(windows)]
        return crate::service_ctl::dispatch(ctx, args);
        #[cfg(not(windows))]
        anyhow::bail!(
            "--service is for the Windows service control manager; on Linux run it in the foreground (systemd: assets/exchange-connector.service)"
        );
    }
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| logs::default_log_dir(&ctx.config_dir, &ctx.instance));
    let file = logs::init(&log_dir, true)
        .with_context(|| format!("cannot open the log folder {}", log_dir.display()))?;
    tracing::info!(log = %file.display(), "logging to the rolling files");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            tracing::info!("stop signal received");
            let _ = stop_tx.send(true);
        });
        serve(ctx, &args, stop).await
    })
}

/// Runs the worker until `stop` turns true (shared by the foreground and the Windows service).
pub async fn serve(ctx: &Context, args: &Args, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let worker = Worker::new(WorkerOptions {
        instance: ctx.instance.clone(),
        config_dir: ctx.config_dir.clone(),
        secrets: ctx.store()?,
        address: ctx.channel_address(),
        quick_interval: args.quick_interval_seconds.map(Duration::from_secs),
        stop_grace: Duration::from_secs(args.stop_grace_seconds),
    });
    worker.run(stop).await?;
    Ok(())
}

/// Ctrl-C everywhere; SIGTERM (systemd's stop) on Unix.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
