//! The `sync` and `status` subcommands as library functions: the binary parses arguments, builds a
//! [`SyncSetup`] (from the configuration and the secret store), and prints what these return.
//!
//! This module never imports the lab: tests and benchmarks fill a [`SyncSetup`] from the lab's
//! endpoints file themselves.
//!
//! The production set-up is `crate::service::setup::sync_setup` (configuration + secret store).
//! Wiring in `src/bin/service.rs` (clap; `anyhow` there only):
//!
//! ```text
//! Sync { #[arg(long, conflicts_with = "quick")] full: bool, #[arg(long)] quick: bool,
//!        #[arg(long)] dry_run: bool, #[arg(long)] confirm: bool, #[arg(long)] rollout: bool,
//!        #[arg(long)] json: bool }
//! Status { #[arg(long)] json: bool }
//!
//! sync:   let engine = setup::sync_setup(&config, secrets, instance, &config_dir, policy)?.build()?;
//!         let kind = if quick { SyncKind::Quick } else { SyncKind::Full };
//!         let report = run_sync_command(&engine, SyncCommand { kind,
//!             options: RunOptions { dry_run, confirm_guard: confirm, rollout } }).await;
//!         print!("{}", if json { serde_json::to_string_pretty(&report)? } else { format_report(&report) });
//!         if !exit_ok(&report) { std::process::exit(2) }
//! status: let store = Store::open(config_dir.join("state.db"))?;
//!         let status = status_report(&store)?;
//!         print!("{}", if json { serde_json::to_string_pretty(&status)? } else { status.to_text() });
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::engine::{SyncConfig, SyncEngine};
use super::{
    HeldPlan, RunOptions, RunReport, SyncError, SyncKind, SyncOutcome, WATERMARK_HELD_PLAN,
};
use crate::bridge_protocol::{Authentication, BridgeProxy};
use crate::exchange::bridge::{BridgeConfig, BridgeConnector};
use crate::exchange::failover::{Failover, FailoverConfig};
use crate::exchange::pool::{PoolConfig, RunspacePool};
use crate::exchange::rest::{RestConfig, RestConnector};
use crate::exchange::{CasServer, Connector, ExchangeClient};
use crate::intune::{IntuneClient, IntuneConfig};
use crate::notify::{Notifier, NotifierConfig};
use crate::oauth::{ClientCredential, OAuthConfig, TokenClient};
use crate::policy::PolicySettings;
use crate::proxy::ConfiguredProxy;
use crate::secret::Secret;
use crate::store::{RunKind, RunRecord, Store, StoreError};

/// How the connector reaches Exchange.
// One value per engine build: boxing the larger variant would buy nothing (and Windows' PathBuf makes
// it larger still, which is where clippy notices).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ExchangeTransport {
    /// Exchange Online (or the lab's): REST `InvokeCommand` with the app's token.
    Rest {
        /// `https://outlook.office365.com` or the lab's `exchange_rest_base`.
        base_url: String,
        /// Token scope (`https://outlook.office365.com/.default`).
        scope: String,
    },
    /// On-premises: the PowerShell bridge.
    Bridge {
        /// PowerShell host program.
        program: PathBuf,
        /// Arguments before the bridge's own (e.g. `-NoProfile -NonInteractive -File <script>`).
        prefix_args: Vec<String>,
        /// The configured Client Access server.
        server: CasServer,
        /// `-Authentication` of the remote session.
        authentication: Authentication,
        /// Service account (`DOMAIN\user`).
        user_name: String,
        /// Its password (from the secret store; sent to the bridge on stdin only).
        password: Secret,
        /// `IsCasFailoverEnabled`.
        failover: bool,
        /// The configured proxy, for the remote session.
        proxy: Option<BridgeProxy>,
    },
}

/// Everything needed to build a [`SyncEngine`]: filled from the configuration and the secret store by
/// the service, or from the lab's endpoints file by tests.
#[derive(Debug, Clone)]
pub struct SyncSetup {
    /// Entra login base (`https://login.microsoftonline.com`).
    pub login_base: String,
    /// Tenant id.
    pub tenant: String,
    /// The connector app's client id.
    pub client_id: String,
    /// Its secret or certificate.
    pub credential: ClientCredential,
    /// Graph base (`https://graph.microsoft.com`).
    pub graph_base: String,
    /// Graph token scope.
    pub graph_scope: String,
    /// `$top` of Graph lists (at most 1000).
    pub graph_page_size: u32,
    /// Attempts per Graph request on throttling or server errors.
    pub graph_max_attempts: u32,
    /// An extra CA file to trust (TLS is never switched off).
    pub extra_ca: Option<PathBuf>,
    /// Exchange transport.
    pub exchange: ExchangeTransport,
    /// Runspaces (1 unless `EnableParallelCommandSupport`; see [`crate::exchange::pool::parallel_runspaces`]).
    pub runspaces: usize,
    /// The state database file.
    pub store_path: PathBuf,
    /// The access policy.
    pub settings: PolicySettings,
    /// Engine settings.
    pub config: SyncConfig,
    /// The configured proxy (with its credentials) for every HTTP call; `None`: direct. The system
    /// proxy is never used.
    pub proxy: Option<ConfiguredProxy>,
    /// How to mail the owners of blocked or quarantined devices; `None`: no mail.
    pub notifier: Option<NotifierConfig>,
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// TLS or HTTP client set-up.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// HTTP client.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The proxy settings.
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    /// The store.
    #[error("cannot open the state store: {0}")]
    Store(#[from] StoreError),
    /// The engine refused the settings.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl SyncSetup {
    /// Builds the clients, opens the store and returns the engine.
    #[allow(clippy::result_large_err)]
    pub fn build(self) -> Result<SyncEngine, SetupError> {
        let builder = || -> Result<reqwest::ClientBuilder, SetupError> {
            let builder = crate::tls::http_client_builder(self.extra_ca.as_deref())?
                .no_proxy()
                .timeout(Duration::from_secs(120));
            Ok(match &self.proxy {
                Some(proxy) => builder.proxy(proxy.to_reqwest()?),
                None => builder,
            })
        };
        let http = builder()?
            .build()
            .map_err(|e| SetupError::Http(e.to_string()))?;
        let notifier = match self.notifier {
            Some(config) => Some(Notifier::new(
                crate::notify::auth::http1_client(builder()?)
                    .map_err(|e| SetupError::Http(e.to_string()))?,
                config,
            )),
            None => None,
        };
        let tokens = Arc::new(TokenClient::new(
            OAuthConfig::new(
                &self.login_base,
                &self.tenant,
                &self.client_id,
                self.credential,
            ),
            http.clone(),
        ));
        let mut intune_config = IntuneConfig::new(&self.graph_base);
        intune_config.scope = self.graph_scope;
        intune_config.page_size = self.graph_page_size.clamp(1, 1000);
        intune_config.max_attempts = self.graph_max_attempts.max(1);
        let intune = IntuneClient::new(http.clone(), tokens.clone(), intune_config);
        let pool_config = PoolConfig {
            max_runspaces: self.runspaces.max(1),
            ..PoolConfig::default()
        };
        let (connector, failover): (Arc<dyn Connector>, Option<Failover>) = match self.exchange {
            ExchangeTransport::Rest { base_url, scope } => {
                let mut rest = RestConfig::new(&base_url, &self.tenant);
                rest.scope = scope;
                (Arc::new(RestConnector::new(rest, tokens, http)), None)
            }
            ExchangeTransport::Bridge {
                program,
                prefix_args,
                server,
                authentication,
                user_name,
                password,
                failover,
                proxy,
            } => {
                let mut bridge = BridgeConfig::new(std::path::Path::new(""), &user_name, password);
                bridge.proxy = proxy;
                bridge.program = program;
                bridge.prefix_args = prefix_args;
                bridge.authentication = authentication;
                let failover = Failover::new(
                    server,
                    FailoverConfig {
                        enabled: failover,
                        ..FailoverConfig::default()
                    },
                );
                (Arc::new(BridgeConnector::new(bridge)), Some(failover))
            }
        };
        let exchange =
            ExchangeClient::new(RunspacePool::new(connector, failover, pool_config, None));
        let store = Store::open(&self.store_path)?;
        let mut engine = SyncEngine::new(exchange, intune, store, self.settings, self.config)?;
        if let Some(notifier) = notifier {
            engine.set_notifier(notifier);
        }
        if let Some(proxy) = self.proxy {
            engine.set_proxy(proxy);
        }
        Ok(engine)
    }
}

/// `sync --full|--quick [--dry-run] [--confirm] [--rollout]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCommand {
    /// `--quick` or `--full`.
    pub kind: SyncKind,
    /// `--dry-run`, `--confirm`, `--rollout`.
    pub options: RunOptions,
}

/// Runs `sync` and returns the report (print it with [`format_report`], or as JSON). The binary exits
/// non-zero unless the outcome is [`SyncOutcome::Succeeded`] or [`SyncOutcome::DryRun`].
pub async fn run_sync_command(engine: &SyncEngine, command: SyncCommand) -> RunReport {
    let report = engine.run(command.kind, command.options).await;
    engine.shutdown().await;
    report
}

/// A run report as text for the console.
pub fn format_report(report: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {:?}: {} devices, {} mailboxes read in {:.1} s ({} Exchange calls, {} Graph requests)",
        report.kind.phrase(),
        report.outcome,
        report.devices_seen,
        report.mailboxes_seen,
        report.duration_ms as f64 / 1000.0,
        report.exchange_calls,
        report.graph_requests
    );
    let decisions: Vec<String> = report
        .decisions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "decisions: {}", decisions.join(", "));
    let _ = writeln!(
        out,
        "plan: {} mailboxes, {} entries, {} allowed devices restricted of {} allowed; applied {}, failed {}",
        report.plan.mailboxes,
        report.plan.entries,
        report.plan.restricted,
        report.plan.allowed_now,
        report.changes_applied,
        report.changes_failed
    );
    if report.journal_reconciled > 0 {
        let _ = writeln!(
            out,
            "reconciled {} changes left open by an interrupted run",
            report.journal_reconciled
        );
    }
    if report.rollout_entries > 0 {
        let _ = writeln!(out, "rollout: {} allow entries", report.rollout_entries);
    }
    if report.notifications_sent + report.notifications_failed > 0 {
        let _ = writeln!(
            out,
            "notification mails: {} sent, {} not sent (retried next run)",
            report.notifications_sent, report.notifications_failed
        );
    }
    for change in &report.plan.changes {
        let _ = writeln!(
            out,
            "  {}: allow +{:?} -{:?}, block +{:?} -{:?}",
            change.mailbox,
            change.allow_add,
            change.allow_remove,
            change.block_add,
            change.block_remove
        );
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if let Some(e) = &report.error {
        let _ = writeln!(out, "{e}");
    }
    out
}

/// One finished run, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub id: i64,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in seconds.
    pub duration_seconds: Option<f64>,
    /// Outcome word (`succeeded`, `held`, ...).
    pub outcome: String,
    /// Devices synced.
    pub devices_seen: u64,
    /// Error, if any.
    pub error: Option<String>,
}

impl From<&RunRecord> for RunSummary {
    fn from(r: &RunRecord) -> Self {
        RunSummary {
            id: r.id.0,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_seconds: r
                .ended_at
                .map(|e| (e - r.started_at).num_milliseconds() as f64 / 1000.0),
            outcome: r.outcome.as_str().to_string(),
            devices_seen: r
                .counts
                .get("devices_seen")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            error: r.error.clone(),
        }
    }
}

/// `status [--json]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The last successful quick sync.
    pub last_quick_sync: Option<RunSummary>,
    /// The last successful full sync.
    pub last_full_sync: Option<RunSummary>,
    /// The most recent run of any kind and outcome.
    pub last_run: Option<RunSummary>,
    /// Inventoried devices by Exchange access state.
    pub devices_by_state: BTreeMap<String, u64>,
    /// Last decisions by desired access.
    pub decisions: BTreeMap<String, u64>,
    /// The plan waiting for confirmation, if any.
    pub held_plan: Option<HeldPlan>,
    /// Changes journaled but never marked done (an interrupted run; the next run settles them).
    pub open_journal_entries: usize,
}

/// Reads the status from the store.
pub fn status_report(store: &Store) -> Result<StatusReport, StoreError> {
    let held_plan = store
        .watermark(WATERMARK_HELD_PLAN)?
        .filter(|t| !t.is_empty())
        .and_then(|t| serde_json::from_str(&t).ok());
    Ok(StatusReport {
        last_quick_sync: store
            .last_successful_run(RunKind::Quick)?
            .as_ref()
            .map(RunSummary::from),
        last_full_sync: store
            .last_successful_run(RunKind::Full)?
            .as_ref()
            .map(RunSummary::from),
        last_run: store.recent_runs(1)?.first().map(RunSummary::from),
        devices_by_state: store.counts_by_state()?,
        decisions: store.counts_by_decision()?,
        held_plan,
        open_journal_entries: store.open_journal_entries()?.len(),
    })
}

impl StatusReport {
    /// The status as text for the console.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let run = |r: &Option<RunSummary>| match r {
            Some(r) => format!(
                "{} (run {}, {:.1} s, {}, {} devices)",
                r.started_at.to_rfc3339(),
                r.id,
                r.duration_seconds.unwrap_or(0.0),
                r.outcome,
                r.devices_seen
            ),
            None => "never".to_string(),
        };
        let _ = writeln!(out, "last full sync:  {}", run(&self.last_full_sync));
        let _ = writeln!(out, "last quick sync: {}", run(&self.last_quick_sync));
        if let Some(r) = &self.last_run
            && r.outcome != "succeeded"
        {
            let _ = writeln!(
                out,
                "last run {} {}: {}",
                r.id,
                r.outcome,
                r.error.as_deref().unwrap_or("")
            );
        }
        let states: Vec<String> = self
            .devices_by_state
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "devices: {}", states.join(", "));
        let decisions: Vec<String> = self
            .decisions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "decisions: {}", decisions.join(", "));
        if self.open_journal_entries > 0 {
            let _ = writeln!(
                out,
                "{} changes left open by an interrupted run (the next run settles them)",
                self.open_journal_entries
            );
        }
        match &self.held_plan {
            Some(h) => {
                let _ = writeln!(
                    out,
                    "HELD PLAN ({} at {}): {}",
                    h.kind.phrase(),
                    h.held_at.to_rfc3339(),
                    h.message
                );
            }
            None => {
                let _ = writeln!(out, "no plan waiting for confirmation");
            }
        }
        out
    }
}

/// Whether a report's outcome counts as success for the process exit code.
pub fn exit_ok(report: &RunReport) -> bool {
    matches!(report.outcome, SyncOutcome::Succeeded | SyncOutcome::DryRun)
}
