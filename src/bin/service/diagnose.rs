//! `diagnose`: the end-to-end checks, the diagnostics bundle, and "why is this phone blocked?".

use crate::common::Context;
use exchange_connector::diagnose::{self, BundleInput, Redactor, Status, Target};
use exchange_connector::service::logs;
use std::path::PathBuf;

/// Options of `diagnose`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also write a diagnostics .zip (configuration, recent logs, recent runs, this report; every
    /// secret redacted) to send to support.
    #[arg(long, value_name = "FILE.zip")]
    bundle: Option<PathBuf>,
    /// Explain the access of one user's devices instead: Exchange's state and reason, Intune's
    /// record, and the connector's decision.
    #[arg(long, value_name = "UPN")]
    user: Option<String>,
    /// Log folder to take the bundle's logs from (default: the worker's).
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
}

/// Options of `rbac-mail`.
#[derive(Debug, clap::Args)]
pub struct RbacMailArgs {
    /// The mailbox the app may send as (default: NotificationMailbox).
    #[arg(long, value_name = "ADDRESS")]
    mailbox: Option<String>,
    /// The enterprise application's object id, when Exchange Online has no service principal for the
    /// app yet (Entra admin center > Enterprise applications > the app > Object ID).
    #[arg(long, value_name = "GUID")]
    service_principal_id: Option<String>,
}

/// Runs `rbac-mail`; `Ok(false)` (exit code 2) when the connector could not set it up (the output
/// then holds the commands for an Exchange admin).
pub fn run_rbac_mail(ctx: &Context, args: RbacMailArgs) -> anyhow::Result<bool> {
    let store = ctx.store()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (done, text) = runtime.block_on(diagnose::rbac_mail(
        &ctx.config_dir,
        store.as_ref(),
        &ctx.instance,
        args.mailbox.as_deref(),
        args.service_principal_id.as_deref(),
    ))?;
    print!("{text}");
    Ok(done)
}

/// Runs `diagnose`; `Ok(false)` (exit code 2) when a check failed.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<bool> {
    let store = ctx.store()?;
    let runtime = tokio::runtime::Runtime::new()?;
    if let Some(user) = &args.user {
        let text = runtime.block_on(diagnose::explain_user(
            &ctx.config_dir,
            store.as_ref(),
            &ctx.instance,
            user,
        ))?;
        print!("{text}");
        return Ok(true);
    }
    if let Some(note) = diagnose::preamble(&ctx.config_dir) {
        println!("{note}");
    }
    let checks = runtime.block_on(diagnose::run_checks(&Target {
        config_dir: &ctx.config_dir,
        instance: &ctx.instance,
        secrets: store.as_ref(),
    }));
    let report = diagnose::report_text(&checks);
    let redactor = Redactor::from_store(store.as_ref(), &ctx.instance, &[]);
    // The checks quote error texts; never print a secret even if a server echoed one.
    print!("{}", redactor.redact(&report));
    if let Some(path) = &args.bundle {
        let log_dir = args
            .log_dir
            .clone()
            .unwrap_or_else(|| logs::default_log_dir(&ctx.config_dir, &ctx.instance));
        diagnose::write_bundle(
            path,
            &BundleInput {
                config_dir: &ctx.config_dir,
                log_dir: &log_dir,
                report: &report,
            },
            &redactor,
        )?;
        println!(
            "Diagnostics bundle written to {} (secrets redacted).",
            path.display()
        );
    }
    Ok(!checks.iter().any(|c| c.status == Status::Fail))
}
