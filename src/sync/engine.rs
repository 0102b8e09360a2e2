//! [`SyncEngine`]: one quick or full run, from reads to records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use tracing::Instrument as _;

use super::{
    HELD_PLAN_DEVICES, HeldDevice, HeldPlan, PlanSummary, RunOptions, RunReport, SyncError,
    SyncKind, SyncOutcome, WATERMARK_EXCHANGE, WATERMARK_HELD_PLAN, WATERMARK_INTUNE,
    WATERMARK_ROLLOUT_DONE,
};
use crate::exchange::{DeviceListEdit, ExchangeClient, ExchangeError};
use crate::intune::IntuneClient;
use crate::model::exchange::{
    AccessLevel, CasMailbox, DeviceAccessState, DeviceAccessStateReason, MobileDevice,
};
use crate::model::intune::ManagedDevice;
use crate::notify::{Notifier, NotifyError};
use crate::policy::{
    self, Decision, DecisionInput, DesiredAccess, GuardBase, GuardVerdict, InventoryCompleteness,
    ListKind, MailboxChange, MailboxInput, ManagedIndex, OrgAccess, OwnedEntries, Plan,
    PlannedDevice, PolicySettings, RolloutMailbox, Targeting,
};
use crate::proxy::ConfiguredProxy;
use crate::store::{
    InventoryRecord, JournalEntry, OwnedEntry, OwnedOrigin, RecordedRows, RunId, RunKind,
    RunOutcome, Store, StoreError,
};

#[path = "single_user.rs"]
mod single_user;
use single_user::Scope;

/// How many DeviceIds go in one `-or` filter (Exchange) when a quick sync looks devices up.
const EXCHANGE_LOOKUP_BATCH: usize = 40;
/// How many `easDeviceId` go in one Graph `$filter` (URL length stays well under Graph's limits).
const GRAPH_LOOKUP_BATCH: usize = 15;
/// Graph lookups of a quick sync in flight at once (Graph throttles per app; its paging client retries
/// a 429 after `Retry-After`).
const GRAPH_LOOKUP_CONCURRENCY: usize = 4;
/// Most decisions marked applied one by one after a run (each is a durable write).
const MARK_APPLIED_MAX: usize = 200;
/// Changes kept in a stored held-plan summary.
const HELD_PLAN_CHANGES: usize = 50;
/// Notification mails sent at once (EWS throttles a mailbox's concurrent requests).
const NOTIFY_CONCURRENCY: usize = 4;

/// Engine settings besides the policy.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Watermarks are taken at the start of a read minus this overlap, so a change made while a run
    /// reads (or a clock slightly behind) is seen again by the next quick sync rather than missed.
    pub watermark_overlap: Duration,
    /// Who the audit trail names as having made the changes (`HOST\account`).
    pub actor: String,
    /// Testing only: stop the run as if the process were killed right after this many changes were
    /// sent to Exchange (before they are marked done). `None` in production.
    pub crash_after_sends: Option<usize>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            watermark_overlap: Duration::from_secs(120),
            actor: "exchange-connector".to_string(),
            crash_after_sends: None,
        }
    }
}

/// One mailbox as read for a run.
#[derive(Debug, Clone)]
#[expect(
    clippy::vec_box,
    reason = "boxed devices move as pointers in the decide phase (see `devices`)"
)]
struct MailboxData {
    cas: CasMailbox,
    /// Boxed: the decide phase moves each device next to its decision, and moving a pointer left
    /// no second copy of 50,000 devices (25 MiB) at the run's peak.
    devices: Vec<Box<MobileDevice>>,
    /// Whether `devices` is every partnership of the mailbox.
    complete: bool,
}

/// Everything a run read.
struct Snapshot {
    org: OrgAccess,
    mailboxes: Vec<MailboxData>,
    managed: Vec<ManagedDevice>,
    /// `None`: the Intune inventory is complete for every device; `Some(ids)`: complete only for these
    /// DeviceIds (lowercase).
    complete_ids: Option<HashSet<String>>,
    /// The Intune read failed: nothing allowed may be restricted, the Intune watermark stays.
    intune_error: Option<String>,
    targeting: Targeting,
    exchange_mark: DateTime<Utc>,
    intune_mark: DateTime<Utc>,
    /// Devices Exchange allows now, and blocks or quarantines now (the guard's base).
    guard_base: GuardBase,
    devices_seen: usize,
    /// What a full sync read of the store while its listing waited on Exchange (`None`: each
    /// phase reads what it needs itself).
    read_ahead: Option<ReadAhead>,
}

/// The store as a full sync's listing found it: the stored inventory and decisions, for the record
/// phase to compare with, and the entries the connector owns, for the read phase (which takes
/// them). Each serves only while nothing was written since ([`Store::is_current`]).
struct ReadAhead {
    rows: RecordedRows,
    owned: Option<HashMap<String, Owned>>,
}

impl Snapshot {
    fn completeness(&self, device_id: &str) -> InventoryCompleteness {
        match &self.complete_ids {
            None => InventoryCompleteness::Complete,
            Some(ids) if ids.contains(&device_id.to_ascii_lowercase()) => {
                InventoryCompleteness::Complete
            }
            Some(_) => InventoryCompleteness::Incomplete,
        }
    }
}

/// The read phase's output.
struct ReadPhase {
    snap: Snapshot,
    /// The entries the connector owns, by lowercase mailbox identity.
    owned: HashMap<String, Owned>,
    /// Open journal entries of an interrupted run that were settled.
    journal_reconciled: usize,
}

/// A device and its decision: they travel together from the decide phase on.
struct DecidedDevice {
    device: Box<MobileDevice>,
    decision: Decision,
}

/// What a quick sync read of the devices (everything but the groups' members).
struct QuickDevices {
    org: OrgAccess,
    mailboxes: Vec<MailboxData>,
    managed: Vec<ManagedDevice>,
    /// The DeviceIds whose Intune records were read completely.
    complete: HashSet<String>,
    intune_error: Option<String>,
    devices_seen: usize,
}

/// A mailbox after the decide phase.
struct DecidedMailbox {
    cas: CasMailbox,
    devices: Vec<DecidedDevice>,
    /// Whether `devices` is every partnership of the mailbox.
    complete: bool,
    /// The entries the connector owns on it (rollout entries of this run included).
    owned: OwnedEntries,
    /// Whether its user is in scope.
    targeted: bool,
}

/// The decide phase's output.
struct Decided {
    mailboxes: Vec<DecidedMailbox>,
    /// The organisation's rules with the default this run sets.
    target_org: OrgAccess,
    /// The `DefaultAccessLevel` this run sets, if it drifted.
    default_to_set: Option<AccessLevel>,
    /// The rest of the read (marks, targeting, Intune error); its mailboxes moved to `mailboxes`.
    context: Snapshot,
}

/// The guard phase's output: the plan and the guard's verdict on it.
struct Guarded {
    plan: Plan,
    verdict: GuardVerdict,
}

impl Guarded {
    /// The changes that send something to Exchange.
    fn sending(&self) -> impl Iterator<Item = &MailboxChange> {
        self.plan.changes.iter().filter(|c| !c.is_empty())
    }

    /// The plan's figures (without the changes).
    fn summary(&self) -> PlanSummary {
        let (restricted, allowed_now, released, restricted_now) = self.verdict.figures();
        PlanSummary {
            mailboxes: self.sending().count(),
            entries: self.sending().map(MailboxChange::len).sum(),
            restricted,
            allowed_now,
            released,
            restricted_now,
            changes: Vec::new(),
        }
    }
}

/// The devices a held plan would block, quarantine or release, with their decision's reason (at most
/// [`HELD_PLAN_DEVICES`]).
fn held_devices(decided: &Decided, plan: &Plan) -> Vec<HeldDevice> {
    let by_device: HashMap<(String, String), (&DecidedMailbox, &DecidedDevice)> = decided
        .mailboxes
        .iter()
        .flat_map(|m| {
            m.devices.iter().map(move |d| {
                (
                    (
                        m.cas.identity.to_ascii_lowercase(),
                        d.device.device_id.to_ascii_lowercase(),
                    ),
                    (m, d),
                )
            })
        })
        .collect();
    plan.effects
        .iter()
        .filter(|e| e.restricts() || e.releases())
        .take(HELD_PLAN_DEVICES)
        .map(|e| {
            let found = by_device.get(&(
                e.mailbox.to_ascii_lowercase(),
                e.device_id.to_ascii_lowercase(),
            ));
            HeldDevice {
                mailbox: e.mailbox.clone(),
                user_display_name: found
                    .map(|(m, _)| m.cas.display_name.clone())
                    .filter(|n| !n.trim().is_empty()),
                device_id: e.device_id.clone(),
                model: found
                    .map(|(_, d)| {
                        d.device
                            .device_model
                            .clone()
                            .unwrap_or_else(|| d.device.device_type.clone())
                    })
                    .unwrap_or_default(),
                before: e.before,
                after: e.after,
                code: found
                    .map(|(_, d)| d.decision.code.clone())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The apply phase's output.
#[derive(Debug, Default)]
struct Applied {
    /// Changes Exchange accepted.
    applied: usize,
    /// Changes that failed (refused, or unanswered).
    failed: usize,
    /// Of those, changes Exchange did not answer (they stay journaled for the next run).
    unanswered: usize,
    /// Mailboxes whose change failed (lowercase).
    failed_mailboxes: HashSet<String>,
}

/// How one sent change ended.
enum ChangeResult {
    /// Exchange accepted it.
    Applied,
    /// Exchange refused it (the mailbox's identity).
    Refused(String),
    /// No answer came: it may have landed (the mailbox's identity).
    Unanswered(String),
}

/// Whether a failed list write may nevertheless have reached Exchange: the answer was lost (timeout,
/// cut connection, unreadable answer, server error), as opposed to a refusal Exchange stated or a call
/// that was never sent.
fn write_may_have_landed(error: &ExchangeError) -> bool {
    match error {
        ExchangeError::Transport { .. }
        | ExchangeError::SessionBroken { .. }
        | ExchangeError::Timeout { .. }
        | ExchangeError::Protocol(_)
        | ExchangeError::Decode { .. }
        | ExchangeError::Closed => true,
        ExchangeError::Http { status, .. } => *status == 408 || *status >= 500,
        ExchangeError::NoServerReachable { last, .. } => write_may_have_landed(last),
        _ => false,
    }
}

/// The entries the connector owns on one mailbox, and which allow entries came from rollout.
#[derive(Debug, Clone, Default)]
struct Owned {
    entries: OwnedEntries,
    rollout: HashSet<String>,
}

/// A filter matching any of `ids`: each id's `term`, joined by the filter language's `or`
/// (OPATH ` -or `, OData ` or `). The ids are [`filter_safe`].
fn any_of(ids: &[String], term: impl Fn(&str) -> String, or: &str) -> String {
    ids.iter().map(|id| term(id)).collect::<Vec<_>>().join(or)
}

/// Adds an owned entry to the map by lowercase mailbox identity, rollout-granted allow entries
/// apart.
fn add_owned(by_mailbox: &mut HashMap<String, Owned>, e: OwnedEntry) {
    let o = by_mailbox
        .entry(e.mailbox.to_ascii_lowercase())
        .or_default();
    o.entries.insert(e.list, &e.device_id);
    if e.origin == OwnedOrigin::Rollout && e.list == ListKind::Allow {
        o.rollout.insert(e.device_id.to_ascii_lowercase());
    }
}

/// The mailbox part of a device's identity (`<mailbox>\ExchangeActiveSyncDevices\<name>`), lowercase.
pub fn mailbox_key_of(device: &MobileDevice) -> String {
    let identity = device.identity.as_str();
    let lower = identity.to_ascii_lowercase();
    let key = match lower.find("exchangeactivesyncdevices") {
        Some(pos) => identity[..pos].trim_end_matches(['\\', '/']),
        None => identity,
    };
    key.to_ascii_lowercase()
}

/// The groups of a listing in progress. The lock is never held across an await, and a panic while
/// it is held (none is possible in a push) would leave the groups as they were.
#[expect(
    clippy::vec_box,
    reason = "the groups become `MailboxData::devices`, boxed"
)]
fn lock_groups(
    groups: &Mutex<HashMap<String, Vec<Box<MobileDevice>>>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Box<MobileDevice>>>> {
    groups
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A DeviceId safe to put in a filter: EAS DeviceIds are letters and digits.
fn filter_safe(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The span of one phase of a run: with span events on (`tracing_subscriber`'s `FmtSpan::CLOSE`, as the
/// `sync` benchmark sets), each phase's wall time is logged as busy (our CPU) and idle (waiting for
/// Exchange, Graph or the store), which is the profile of a run.
fn phase(name: &'static str) -> tracing::Span {
    tracing::info_span!("sync_phase", phase = name)
}

/// Hands a grouped store write its outcome once the shared commit is done (`Some(error)`: it failed).
type Delivery = Box<dyn FnOnce(Option<String>) + Send>;
/// A store write waiting for the next shared commit.
type GroupedWrite = Box<dyn FnOnce(&Store) -> Delivery + Send>;

/// The sync engine. Owns the clients, the store and the policy.
pub struct SyncEngine {
    exchange: ExchangeClient,
    intune: IntuneClient,
    store: Arc<Mutex<Store>>,
    /// Writes of the apply phase waiting to share one commit ([`SyncEngine::db_grouped`]).
    commit_queue: Arc<Mutex<Vec<GroupedWrite>>>,
    settings: PolicySettings,
    config: SyncConfig,
    notifier: Option<Arc<Notifier>>,
    proxy: Option<ConfiguredProxy>,
    /// Exchange Online: devices whose EAS protocol it refuses (below 16.1) are flagged in the
    /// inventory. On premises nothing is flagged.
    exchange_online: bool,
    /// Frees each run's data and trims the heap after the run, off its critical path.
    janitor: super::memory::Janitor,
}

/// What the notify phase does, worked out before the record phase consumes the decisions.
#[derive(Default)]
struct Notices {
    /// Owners to tell that their device is blocked or quarantined.
    due: Vec<Notice>,
    /// (mailbox, DeviceId) told before and allowed again: their notice is forgotten.
    allowed_again: Vec<(String, String)>,
}

/// A device whose owner should hear that it is blocked or quarantined.
struct Notice {
    mailbox: String,
    device_id: String,
    to: String,
    user: String,
    device: String,
}

impl Notice {
    fn new(cas: &CasMailbox, device: &MobileDevice) -> Self {
        let name = device
            .friendly_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| device.device_model.clone())
            .unwrap_or_else(|| device.device_type.clone());
        Notice {
            mailbox: cas.identity.clone(),
            device_id: device.device_id.clone(),
            to: cas.primary_smtp_address.clone(),
            user: if cas.display_name.is_empty() {
                cas.primary_smtp_address.clone()
            } else {
                cas.display_name.clone()
            },
            device: name,
        }
    }
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SyncEngine {
    /// An engine; refuses settings that do not validate.
    pub fn new(
        exchange: ExchangeClient,
        intune: IntuneClient,
        store: Store,
        settings: PolicySettings,
        config: SyncConfig,
    ) -> Result<Self, SyncError> {
        settings.validate()?;
        // The Client Access servers discovered earlier, so a primary down at start can fail over.
        if let (Some(failover), Some(memory)) = (
            exchange.pool().failover(),
            crate::store::StoreServerMemory::new(store.path()),
        ) {
            failover.remember_in(Box::new(memory));
        }
        Ok(SyncEngine {
            exchange,
            intune,
            store: Arc::new(Mutex::new(store)),
            commit_queue: Arc::new(Mutex::new(Vec::new())),
            settings,
            config,
            notifier: None,
            proxy: None,
            exchange_online: false,
            janitor: super::memory::Janitor::new(),
        })
    }

    /// Waits until the last run's data is freed and the heap trimmed: the worker as it idles
    /// between runs (a run frees its data after it reports, off its critical path).
    pub async fn idle(&self) {
        self.janitor.settle().await;
    }

    /// Mails the admins (the notification mailbox itself); `Ok(false)` when no notifier is set.
    pub async fn mail_admins(&self, subject: &str, html: &str) -> Result<bool, NotifyError> {
        let Some(notifier) = &self.notifier else {
            return Ok(false);
        };
        notifier.send(notifier.mailbox(), subject, html).await?;
        Ok(true)
    }

    /// The proxy the clients go through, so a run it refuses can say why (NTLM-only proxies).
    pub fn set_proxy(&mut self, proxy: ConfiguredProxy) {
        self.proxy = Some(proxy);
    }

    /// Mails the owners of newly blocked or quarantined devices through `notifier` after each run
    /// that applies a plan; without one no mail is sent.
    pub fn set_notifier(&mut self, notifier: Notifier) {
        self.notifier = Some(Arc::new(notifier));
    }

    /// Says the organisation is Exchange Online, which refuses EAS clients below protocol 16.1 since
    /// 1 March 2026: the inventory flags them (a flag for the admin; the connector's decisions do not
    /// change, Exchange Online already refuses them).
    pub fn set_exchange_online(&mut self, exchange_online: bool) {
        self.exchange_online = exchange_online;
    }

    /// The Exchange client.
    pub fn exchange(&self) -> &ExchangeClient {
        &self.exchange
    }

    /// The Graph client.
    pub fn intune(&self) -> &IntuneClient {
        &self.intune
    }

    /// The policy.
    pub fn settings(&self) -> &PolicySettings {
        &self.settings
    }

    /// Changes the engine settings (tests set [`SyncConfig::crash_after_sends`] between runs).
    pub fn config_mut(&mut self) -> &mut SyncConfig {
        &mut self.config
    }

    /// Runs `f` with the store (status, tests). Blocks while another run holds the store briefly.
    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        let guard = self.store.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// Closes the Exchange sessions.
    pub async fn shutdown(&self) {
        self.exchange.shutdown().await;
    }

    /// Runs store work on a blocking thread (SQLite writes fsync).
    async fn db<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let guard = store.lock().unwrap_or_else(|e| e.into_inner());
            f(&guard)
        })
        .await
        .map_err(|e| SyncError::Internal(format!("store task: {e}")))?
        .map_err(SyncError::Store)
    }

    /// Runs a store write in a transaction shared with the writes queued meanwhile (group commit): the
    /// parallel changes of the apply phase journal and settle with one fsync per group instead of one
    /// each. Returns only once the shared transaction is committed, so a change journaled this way is
    /// durable before it is sent, as with [`SyncEngine::db`]. A write that fails is rolled back alone.
    async fn db_grouped<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let write: GroupedWrite = Box::new(move |s: &Store| {
            let result = f(s);
            Box::new(move |commit_failed: Option<String>| {
                let _ = done.send(match commit_failed {
                    None => result.map_err(SyncError::Store),
                    Some(e) => Err(SyncError::Internal(format!(
                        "the state database could not commit: {e}"
                    ))),
                });
            })
        });
        self.commit_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(write);
        let store = self.store.clone();
        let queue = self.commit_queue.clone();
        tokio::task::spawn_blocking(move || {
            let guard = store.lock().unwrap_or_else(|e| e.into_inner());
            // Whoever holds the store takes every write queued so far (perhaps none: an earlier
            // task took ours).
            let writes = std::mem::take(&mut *queue.lock().unwrap_or_else(|e| e.into_inner()));
            if writes.is_empty() {
                return;
            }
            let mut deliveries = Vec::with_capacity(writes.len());
            let committed = guard.batch(|s| {
                for write in writes {
                    deliveries.push(write(s));
                }
            });
            let failed = committed.err().map(|e| e.to_string());
            for deliver in deliveries {
                deliver(failed.clone());
            }
        })
        .await
        .map_err(|e| SyncError::Internal(format!("store task: {e}")))?;
        outcome
            .await
            .map_err(|_| SyncError::Internal("store task ended without an answer".into()))?
    }

    async fn watermark(&self, name: &'static str) -> Result<Option<DateTime<Utc>>, SyncError> {
        let text = self.db(move |s| s.watermark(name)).await?;
        Ok(text
            .filter(|t| !t.is_empty())
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// The plan the guard held last, if any is waiting for confirmation.
    pub fn held_plan(&self) -> Result<Option<HeldPlan>, StoreError> {
        let text = self.with_store(|s| s.watermark(WATERMARK_HELD_PLAN))?;
        Ok(text
            .filter(|t| !t.is_empty())
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Runs one quick or full sync. Never panics on outside input; every outcome is in the report
    /// (and in the store's run record).
    pub async fn run(&self, kind: SyncKind, options: RunOptions) -> RunReport {
        self.run_scoped(kind, Scope::Everyone, options).await
    }

    /// A run over `scope`: every phase, as [`SyncEngine::run`] describes; a one-user run
    /// ([`SyncEngine::run_user`]) reads, decides and writes only that user's mailbox.
    async fn run_scoped(&self, kind: SyncKind, scope: Scope<'_>, options: RunOptions) -> RunReport {
        // The previous run's memory is given back before this one allocates.
        self.janitor.settle().await;
        let started = Instant::now();
        let calls_before = self.exchange.pool().stats().calls;
        let graph_before = self.intune.requests_sent();
        let mut report = RunReport {
            run_id: None,
            kind,
            outcome: SyncOutcome::Failed,
            error: None,
            warnings: Vec::new(),
            devices_seen: 0,
            mailboxes_seen: 0,
            decisions: BTreeMap::new(),
            changes_planned: 0,
            changes_applied: 0,
            changes_failed: 0,
            journal_reconciled: 0,
            rollout_entries: 0,
            notifications_sent: 0,
            notifications_failed: 0,
            exchange_calls: 0,
            graph_requests: 0,
            duration_ms: 0,
            plan: PlanSummary::default(),
        };
        // A quick sync needs both watermarks; without them it is a full sync.
        if kind == SyncKind::Quick && scope == Scope::Everyone {
            match (
                self.watermark(WATERMARK_EXCHANGE).await,
                self.watermark(WATERMARK_INTUNE).await,
            ) {
                (Ok(Some(_)), Ok(Some(_))) => {}
                (Ok(_), Ok(_)) => {
                    tracing::info!("quick sync: no watermark yet, running a full sync instead");
                    report.kind = SyncKind::Full;
                }
                (Err(e), _) | (_, Err(e)) => {
                    report.error = Some(e.to_string());
                    return report;
                }
            }
        }
        let store_kind = match report.kind {
            SyncKind::Quick => RunKind::Quick,
            SyncKind::Full => RunKind::Full,
        };
        let mailbox = match scope {
            Scope::Mailbox(user) => Some(user.to_string()),
            Scope::Everyone => None,
        };
        let run_id = match self
            .db(move |s| s.begin_run_for(store_kind, mailbox.as_deref()))
            .await
        {
            Ok(id) => id,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        report.run_id = Some(run_id.0);
        let phrase = report.kind.phrase();
        match (scope, report.kind) {
            (Scope::Mailbox(user), _) => tracing::info!(
                run = run_id.0,
                "Handling command: Getting the mobile devices of one user ({user}) to sync them now"
            ),
            (Scope::Everyone, SyncKind::Full) => tracing::info!(
                run = run_id.0,
                "Handling command: Getting the mobile device list without a time filter (full sync)"
            ),
            (Scope::Everyone, SyncKind::Quick) => tracing::info!(
                run = run_id.0,
                "Handling command: Getting the mobile device list changed since the last sync (quick sync)"
            ),
        }
        let result = self.run_inner(run_id, scope, options, &mut report).await;
        // The run's listings and plans are dropped by now: give their memory back until the next run.
        self.with_store(Store::release_memory);
        self.janitor.release();
        report.exchange_calls = self.exchange.pool().stats().calls - calls_before;
        report.graph_requests = self.intune.requests_sent() - graph_before;
        report.duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(outcome) => report.outcome = outcome,
            Err(SyncError::SimulatedCrash(n)) => {
                // A killed process records nothing more: the run stays "running" in the store.
                report.outcome = SyncOutcome::Failed;
                report.error = Some(SyncError::SimulatedCrash(n).to_string());
                return report;
            }
            Err(e) => {
                report.outcome = SyncOutcome::Failed;
                report.error = Some(self.explain(&e).await);
            }
        }
        let outcome = match report.outcome {
            SyncOutcome::Succeeded => RunOutcome::Succeeded,
            SyncOutcome::HeldByGuard => RunOutcome::Held,
            SyncOutcome::DryRun => RunOutcome::DryRun,
            SyncOutcome::Failed => RunOutcome::Failed,
        };
        let counts = report.counts_json();
        let error = report.error.clone();
        if let Err(e) = self
            .db(move |s| s.finish_run(run_id, outcome, &counts, error.as_deref()))
            .await
        {
            report.outcome = SyncOutcome::Failed;
            report.error = Some(e.to_string());
        }
        match report.outcome {
            SyncOutcome::Succeeded => tracing::info!(
                run = run_id.0,
                applied = report.changes_applied,
                failed = report.changes_failed,
                exchange_calls = report.exchange_calls,
                graph_requests = report.graph_requests,
                duration_ms = report.duration_ms,
                "{phrase} completed successfully. Details: Inventory command result - Devices synced: {}",
                report.devices_seen
            ),
            SyncOutcome::DryRun => tracing::info!(
                run = run_id.0,
                "{phrase} dry run: {} changes planned, nothing applied. Devices synced: {}",
                report.changes_planned,
                report.devices_seen
            ),
            SyncOutcome::HeldByGuard => tracing::warn!(
                run = run_id.0,
                "{phrase} held by the mass-change guard: {}",
                report.error.as_deref().unwrap_or_default()
            ),
            SyncOutcome::Failed => tracing::error!(
                run = run_id.0,
                "{phrase} failed: {}",
                report.error.as_deref().unwrap_or_default()
            ),
        }
        report
    }

    /// The error of a failed run for the admin; a refusal by the proxy says what the proxy wants.
    async fn explain(&self, error: &SyncError) -> String {
        let text = crate::error_text::chain(error);
        if let Some(proxy) = &self.proxy {
            let target = self.intune.graph_authority();
            if let Some(why) = proxy.explain_refusal(&text, &target).await {
                return format!("{why} ({})", error);
            }
        }
        error.to_string()
    }

    /// One run as its phases: read (with the journal of an interrupted run settled) → rollout (when
    /// due) → decide → guard → apply → record → notify → watermarks. Each phase is a function taking
    /// the previous phase's output.
    async fn run_inner(
        &self,
        run_id: RunId,
        scope: Scope<'_>,
        options: RunOptions,
        report: &mut RunReport,
    ) -> Result<SyncOutcome, SyncError> {
        let kind = report.kind;
        let mut read = self
            .read(run_id, kind, scope, options)
            .instrument(phase("read"))
            .await?;
        report.devices_seen = read.snap.devices_seen;
        report.mailboxes_seen = read.snap.mailboxes.len();
        report.journal_reconciled = read.journal_reconciled;
        if let Some(e) = &read.snap.intune_error {
            report.warnings.push(format!(
                "the Intune inventory could not be read completely ({e}); no allowed device was blocked or quarantined in this run"
            ));
        }

        let rollout_changes = self
            .rollout(run_id, kind, options, &mut read)
            .instrument(phase("rollout"))
            .await?;
        report.rollout_entries = rollout_changes.iter().map(MailboxChange::len).sum();

        let mut decided = phase("decide").in_scope(|| self.decide(kind, read));
        for device in decided.mailboxes.iter().flat_map(|m| &m.devices) {
            *report
                .decisions
                .entry(device.decision.desired.as_str().to_string())
                .or_default() += 1;
        }

        let guarded = phase("plan_and_guard").in_scope(|| self.guard(&decided));
        report.changes_planned = guarded
            .plan
            .changes
            .iter()
            .filter(|c| !c.is_empty())
            .count();
        report.plan = guarded.summary();

        if options.dry_run {
            let mut changes = rollout_changes;
            changes.extend(guarded.sending().cloned());
            report.plan.changes = changes;
            if let GuardVerdict::Hold { message, .. } = &guarded.verdict {
                report.warnings.push(format!(
                    "without --confirm this plan would be held: {message}"
                ));
            }
            if let Some(level) = decided.default_to_set {
                report.warnings.push(format!(
                    "the organisation's DefaultAccessLevel would be set to {level:?}"
                ));
            }
            return Ok(SyncOutcome::DryRun);
        }

        if let Some(message) = scope.held_alone(&guarded.verdict) {
            report.error = Some(message);
            return Ok(SyncOutcome::HeldByGuard);
        }
        if let Some(message) = self
            .hold(kind, &decided, &guarded, options)
            .instrument(phase("hold"))
            .await?
        {
            report.error = Some(message);
            return Ok(SyncOutcome::HeldByGuard);
        }

        let applied = self
            .apply(run_id, &decided, &guarded.plan)
            .instrument(phase("apply"))
            .await?;
        report.changes_applied = applied.applied;
        report.changes_failed = applied.failed;
        let refused = applied.failed - applied.unanswered;
        if refused > 0 {
            report.warnings.push(format!(
                "{refused} mailbox changes were refused by Exchange (see the audit trail)"
            ));
        }
        if applied.unanswered > 0 {
            report.warnings.push(format!(
                "{} mailbox changes got no answer from Exchange and may have landed: the connector owns \
                 their entries, and the next run reads those mailboxes and settles them",
                applied.unanswered
            ));
        }

        // The default last: the allow entries that keep compliant devices syncing are in place first.
        if let Some(level) = decided.default_to_set {
            tracing::info!(
                ?level,
                "{}: setting the organisation's DefaultAccessLevel",
                kind.phrase()
            );
            self.exchange
                .set_organization_settings(&crate::exchange::cmdlets::OrganizationSettingsUpdate {
                    default_access_level: Some(level),
                    ..Default::default()
                })
                .await?;
        }

        let end = EndStates::new(&guarded.plan, &applied);
        // Who is told comes from the decisions before the record phase consumes them.
        let notices = self
            .notices(&decided, &end)
            .instrument(phase("notify.who"))
            .await?;
        // The record phase takes the decided devices: nothing after it needs them.
        let mailboxes = std::mem::take(&mut decided.mailboxes);
        let recorded = decided.context.read_ahead.take().map(|ahead| ahead.rows);
        self.record(run_id, mailboxes, recorded, &guarded.plan, &end)
            .instrument(phase("record"))
            .await?;
        self.notify(notices, report)
            .instrument(phase("notify"))
            .await?;
        if scope == Scope::Everyone {
            self.advance_watermarks(&decided.context, &applied)
                .instrument(phase("advance_watermarks"))
                .await?;
        }
        let intune_error = decided.context.intune_error.take();
        self.janitor.discard((decided, guarded, end, applied));
        if let Some(e) = intune_error {
            report.error = Some(format!("Intune read incomplete: {e}"));
            return Ok(SyncOutcome::Failed);
        }
        Ok(SyncOutcome::Succeeded)
    }

    /// Read phase: settles what an interrupted run left open (its mailboxes are re-read), reads
    /// Exchange and Intune, and loads the entries the connector owns on the mailboxes read.
    async fn read(
        &self,
        run_id: RunId,
        kind: SyncKind,
        scope: Scope<'_>,
        options: RunOptions,
    ) -> Result<ReadPhase, SyncError> {
        let open: Vec<JournalEntry> = if options.dry_run {
            Vec::new()
        } else {
            self.db(|s| s.open_journal_entries()).await?
        };
        if let Scope::Mailbox(user) = scope {
            return self.read_user(run_id, user, open).await;
        }
        let journal_mailboxes: Vec<String> = {
            let mut seen = HashSet::new();
            open.iter()
                .map(|e| e.change.mailbox.clone())
                .filter(|m| seen.insert(m.to_ascii_lowercase()))
                .collect()
        };
        let snap = match kind {
            SyncKind::Full => self.read_full(&journal_mailboxes).await?,
            SyncKind::Quick => self.read_quick(&journal_mailboxes).await?,
        };
        self.settle_and_own(run_id, kind, open, snap).await
    }

    /// The end of the read phase: the open journal entries settled from what `snap` read, and the
    /// entries the connector owns on its mailboxes.
    async fn settle_and_own(
        &self,
        run_id: RunId,
        kind: SyncKind,
        open: Vec<JournalEntry>,
        mut snap: Snapshot,
    ) -> Result<ReadPhase, SyncError> {
        let journal_reconciled = if open.is_empty() {
            0
        } else {
            self.reconcile_journal(run_id, open, &snap)
                .instrument(phase("read.reconcile_journal"))
                .await?
        };
        let owned = self
            .owned_for(kind, &mut snap)
            .instrument(phase("read.owned_entries"))
            .await?;
        Ok(ReadPhase {
            snap,
            owned,
            journal_reconciled,
        })
    }

    /// Rollout phase (full runs, when asked or due): allow-lists what syncs now before enforcing, and
    /// updates the read lists and owned entries as if applied (dry runs too), so enforcement is planned
    /// on top. Returns the rollout's changes.
    async fn rollout(
        &self,
        run_id: RunId,
        kind: SyncKind,
        options: RunOptions,
        read: &mut ReadPhase,
    ) -> Result<Vec<MailboxChange>, SyncError> {
        let due = kind == SyncKind::Full
            && self.settings.enabled
            && (options.rollout
                || (self.settings.rollout_mode
                    && self.watermark(WATERMARK_ROLLOUT_DONE).await?.is_none()));
        if !due {
            return Ok(Vec::new());
        }
        let snap = &mut read.snap;
        let rollout = {
            let devices: Vec<Vec<&MobileDevice>> = snap
                .mailboxes
                .iter()
                .map(|m| m.devices.iter().map(|d| &**d).collect())
                .collect();
            let inputs: Vec<RolloutMailbox<'_>> = snap
                .mailboxes
                .iter()
                .zip(&devices)
                .map(|(m, devices)| RolloutMailbox {
                    mailbox: &m.cas,
                    devices,
                    targeted: snap.targeting.is_mailbox_targeted(&m.cas),
                })
                .collect();
            policy::rollout_plan(&snap.org, &inputs)
        };
        if !options.dry_run {
            let applied = self
                .apply_changes(
                    run_id,
                    &rollout.changes,
                    OwnedOrigin::Rollout,
                    &HashMap::new(),
                )
                .await?;
            if applied.failed == 0 {
                let now = Utc::now().to_rfc3339();
                self.db(move |s| s.set_watermark(WATERMARK_ROLLOUT_DONE, &now))
                    .await?;
            }
        }
        for change in &rollout.changes {
            if let Some(m) = snap
                .mailboxes
                .iter_mut()
                .find(|m| m.cas.identity == change.mailbox)
            {
                let (allowed, blocked) = change.apply_to(&m.cas);
                m.cas.active_sync_allowed_device_ids = allowed;
                m.cas.active_sync_blocked_device_ids = blocked;
                let o = read
                    .owned
                    .entry(change.mailbox.to_ascii_lowercase())
                    .or_default();
                for id in &change.allow_add {
                    o.entries.insert(ListKind::Allow, id);
                    o.rollout.insert(id.to_ascii_lowercase());
                }
            }
        }
        Ok(rollout.changes)
    }

    /// Decide phase: one [`Decision`] per device from [`policy::decide`], kept with its device.
    fn decide(&self, kind: SyncKind, read: ReadPhase) -> Decided {
        let ReadPhase {
            mut snap,
            mut owned,
            ..
        } = read;
        // Full sync keeps the organisation's default as configured (the unmanaged-device access),
        // unless the Intune read failed (changing the default could restrict allowed devices).
        let default_to_set =
            if kind == SyncKind::Full && self.settings.enabled && snap.intune_error.is_none() {
                self.settings
                    .default_access_to_set(snap.org.default_access_level)
            } else {
                None
            };
        let target_org = OrgAccess {
            default_access_level: default_to_set.unwrap_or(snap.org.default_access_level),
            rules: snap.org.rules.clone(),
        };
        let mailboxes = std::mem::take(&mut snap.mailboxes);
        let index = ManagedIndex::new(&snap.managed);
        let intune_read_failed = snap.intune_error.is_some();
        let decided = mailboxes
            .into_iter()
            .map(|m| {
                let o = owned
                    .remove(&m.cas.identity.to_ascii_lowercase())
                    .unwrap_or_default();
                let targeted = snap.targeting.is_mailbox_targeted(&m.cas);
                let devices = m
                    .devices
                    .into_iter()
                    .map(|device| {
                        let decision = policy::decide(
                            &self.settings,
                            &target_org,
                            &DecisionInput {
                                device: &device,
                                mailbox: &m.cas,
                                targeted,
                                managed: index.get(&device.device_id),
                                inventory: snap.completeness(&device.device_id),
                                owned: &o.entries,
                                grandfathered: o
                                    .rollout
                                    .contains(&device.device_id.to_ascii_lowercase()),
                                intune_read_failed,
                            },
                        );
                        DecidedDevice { device, decision }
                    })
                    .collect();
                DecidedMailbox {
                    cas: m.cas,
                    devices,
                    complete: m.complete,
                    owned: o.entries,
                    targeted,
                }
            })
            .collect();
        drop(index);
        self.janitor.discard(std::mem::take(&mut snap.managed));
        Decided {
            mailboxes: decided,
            target_org,
            default_to_set,
            context: snap,
        }
    }

    /// Guard phase: the per-mailbox plan ([`policy::plan`]) and the mass-change guard's verdict on it.
    fn guard(&self, decided: &Decided) -> Guarded {
        let plan: Plan = {
            let inputs: Vec<MailboxInput<'_>> = decided
                .mailboxes
                .iter()
                .map(|m| MailboxInput {
                    mailbox: &m.cas,
                    devices: m
                        .devices
                        .iter()
                        .map(|d| PlannedDevice {
                            device: &d.device,
                            decision: &d.decision,
                        })
                        .collect(),
                    devices_complete: m.complete,
                    owned: &m.owned,
                })
                .collect();
            policy::plan(&decided.target_org, &self.settings, &inputs)
        };
        let verdict = policy::guard(
            &plan,
            decided.context.guard_base,
            self.settings.mass_change_threshold_percent,
        );
        Guarded { plan, verdict }
    }

    /// Stores the plan as held and returns the message when the guard holds it and the admin did not
    /// confirm it; `None` when the plan may be applied. `--confirm` applies only a plan the guard held
    /// before, and only while the new plan restricts and releases no more devices than that one: with
    /// no held plan, the guard applies as in any run.
    async fn hold(
        &self,
        kind: SyncKind,
        decided: &Decided,
        guarded: &Guarded,
        options: RunOptions,
    ) -> Result<Option<String>, SyncError> {
        let GuardVerdict::Hold { message, .. } = &guarded.verdict else {
            return Ok(None);
        };
        let summary = guarded.summary();
        let held = self.held_plan().map_err(SyncError::Store)?;
        let within_held = held.as_ref().is_some_and(|h| {
            summary.restricted <= h.summary.restricted && summary.released <= h.summary.released
        });
        if options.confirm_guard && within_held {
            tracing::warn!(
                restricted = summary.restricted,
                released = summary.released,
                allowed_now = summary.allowed_now,
                "{}: the admin confirmed a plan the mass-change guard held; applying it",
                kind.phrase()
            );
            return Ok(None);
        }
        let message = match (&held, options.confirm_guard) {
            (Some(h), true) => format!(
                "{message} The confirmed plan blocked or quarantined {} and allowed {} devices; this \
                 one does more: review the new plan and confirm again.",
                h.summary.restricted, h.summary.released
            ),
            (None, true) => format!(
                "{message} No held plan was waiting for confirmation, so nothing was confirmed: this plan \
                 is held now; review it, then run `sync --confirm` to apply it."
            ),
            (_, false) => format!("{message} Run `sync --confirm` to apply it."),
        };
        let mut summary = summary;
        summary.changes = guarded.sending().take(HELD_PLAN_CHANGES).cloned().collect();
        let held = HeldPlan {
            held_at: Utc::now(),
            kind,
            message: message.clone(),
            summary,
            devices: held_devices(decided, &guarded.plan),
        };
        let json = serde_json::to_string(&held)
            .map_err(|e| SyncError::Internal(format!("held plan: {e}")))?;
        self.db(move |s| s.set_watermark(WATERMARK_HELD_PLAN, &json))
            .await?;
        Ok(Some(message))
    }

    /// Apply phase: sends the plan's changes, each with the decision of the devices it concerns as
    /// the audit trail's reason.
    async fn apply(
        &self,
        run_id: RunId,
        decided: &Decided,
        plan: &Plan,
    ) -> Result<Applied, SyncError> {
        // The reasons of the devices the plan changes only (a converged run changes none).
        let planned: HashSet<String> = plan
            .changes
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| c.mailbox.to_ascii_lowercase())
            .collect();
        let mut reasons: HashMap<(String, String), String> = HashMap::new();
        for m in &decided.mailboxes {
            if !planned.contains(&m.cas.identity.to_ascii_lowercase()) {
                continue;
            }
            for d in &m.devices {
                let decision = &d.decision;
                reasons.insert(
                    (
                        m.cas.identity.to_ascii_lowercase(),
                        d.device.device_id.to_ascii_lowercase(),
                    ),
                    format!(
                        "{} ({}): {}",
                        decision.desired, decision.reason, decision.explanation
                    ),
                );
            }
        }
        self.apply_changes(run_id, &plan.changes, OwnedOrigin::Policy, &reasons)
            .await
    }

    /// Watermarks move only when everything they cover was handled: a refused change or an incomplete
    /// Intune read is seen again by the next quick sync. The held plan, if any, is cleared.
    async fn advance_watermarks(
        &self,
        snap: &Snapshot,
        applied: &Applied,
    ) -> Result<(), SyncError> {
        let ex_mark = snap.exchange_mark.to_rfc3339();
        let in_mark = snap.intune_mark.to_rfc3339();
        let move_exchange = applied.failed == 0;
        let move_intune = snap.intune_error.is_none();
        self.db(move |s| {
            if move_exchange {
                s.set_watermark(WATERMARK_EXCHANGE, &ex_mark)?;
            }
            if move_intune {
                s.set_watermark(WATERMARK_INTUNE, &in_mark)?;
            }
            s.set_watermark(WATERMARK_HELD_PLAN, "")
        })
        .await
    }
    /// Reads everything: all partnerships, the mailboxes with partnerships, the organisation's rules
    /// and default, every managed device and the targeted users.
    async fn read_full(&self, journal_mailboxes: &[String]) -> Result<Snapshot, SyncError> {
        let now = Utc::now();
        let overlap = chrono::Duration::from_std(self.config.watermark_overlap)
            .unwrap_or(chrono::Duration::zero());
        let mark = now - overlap;
        let ex = &self.exchange;
        // The partnerships are grouped by their mailbox as the pages arrive: the listing is never
        // held whole beside its groups (at 50,000 devices that second copy was ~25 MiB of the peak).
        let by_mailbox: Mutex<HashMap<String, Vec<Box<MobileDevice>>>> = Mutex::new(HashMap::new());
        let listing = ex.for_each_device(
            None,
            || lock_groups(&by_mailbox).clear(),
            |d| {
                lock_groups(&by_mailbox)
                    .entry(mailbox_key_of(&d))
                    .or_default()
                    .push(Box::new(d))
            },
        );
        let exchange_reads = async {
            tokio::try_join!(
                listing,
                ex.cas_mailboxes_with_devices(),
                ex.organization_settings(),
                ex.device_access_rules()
            )
        };
        let intune_reads = async {
            tokio::join!(
                self.intune.decision_records(None),
                self.intune.group_members(
                    &self.settings.included_groups,
                    &self.settings.excluded_groups
                )
            )
        };
        // What the record phase will compare with, read while the listing waits on Exchange.
        let recorded_rows = async {
            let read = self.db(|s| {
                let rows = s.recorded_rows()?;
                // Straight into the map: a list of 50,000 entries first raised the run's peak.
                let mut owned = HashMap::new();
                s.for_each_owned_entry(|e| add_owned(&mut owned, e))?;
                Ok((rows, owned))
            });
            match read.await {
                Ok((rows, owned)) => Some(ReadAhead {
                    rows,
                    owned: Some(owned),
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "the stored rows were not read ahead");
                    None
                }
            }
        };
        let (exchange, (managed, members), read_ahead) = tokio::join!(
            exchange_reads.instrument(phase("read.exchange")),
            intune_reads.instrument(phase("read.graph")),
            recorded_rows.instrument(phase("read.recorded_rows"))
        );
        let join = phase("read.join").entered();
        // A failed Exchange read aborts before anything is written.
        let (_, cas, org_settings, rules) = exchange?;
        let by_mailbox = by_mailbox
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let members = if self.settings.enabled {
            members?
        } else {
            Default::default()
        };
        let (managed, complete_ids, intune_error) = match managed {
            Ok(m) => (m, None, None),
            Err(e) => {
                tracing::warn!(error = %e, "full sync: the Intune inventory could not be read");
                (Vec::new(), Some(HashSet::new()), Some(e.to_string()))
            }
        };

        let count = |states: &[DeviceAccessState]| {
            by_mailbox
                .values()
                .flatten()
                .filter(|d| states.contains(&d.device_access_state))
                .count()
        };
        let guard_base = GuardBase {
            allowed: count(&[DeviceAccessState::Allowed]),
            restricted: count(&[DeviceAccessState::Blocked, DeviceAccessState::Quarantined]),
        };
        let devices_seen = by_mailbox.values().map(Vec::len).sum();
        let mut mailboxes: Vec<MailboxData> = Vec::with_capacity(cas.len());
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for c in cas {
            let idx = mailboxes.len();
            for key in [
                Some(&c.identity),
                Some(&c.name),
                c.sam_account_name.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                by_key.entry(key.to_ascii_lowercase()).or_insert(idx);
            }
            mailboxes.push(MailboxData {
                cas: c,
                devices: Vec::new(),
                complete: true,
            });
        }
        let mut orphans: BTreeMap<String, Vec<Box<MobileDevice>>> = BTreeMap::new();
        for (key, mut devices) in by_mailbox {
            // A group grew by doubling; it is kept until the run ends, so without its spare room.
            devices.shrink_to_fit();
            match by_key.get(&key) {
                Some(&i) => {
                    let held = &mut mailboxes[i].devices;
                    if held.is_empty() {
                        *held = devices;
                    } else {
                        // Partnerships naming their mailbox in two spellings: one order whatever
                        // order the groups came in.
                        held.extend(devices);
                        held.sort_by(|a, b| a.identity.cmp(&b.identity));
                    }
                }
                None => {
                    orphans.insert(key, devices);
                }
            }
        }
        drop(join);
        // Mailboxes the connector owns entries on (or journaled) but that the listing did not return.
        let owned_mailboxes: Vec<String> = self
            .db(|s| s.owned_mailboxes())
            .instrument(phase("read.owned_mailboxes"))
            .await?
            .into_iter()
            .chain(journal_mailboxes.iter().cloned())
            .collect();
        let mut extra: BTreeMap<String, Vec<Box<MobileDevice>>> = orphans;
        for m in owned_mailboxes {
            let key = m.to_ascii_lowercase();
            if !by_key.contains_key(&key) {
                extra.entry(m).or_default();
            }
        }
        let extra_read = self
            .read_cas_mailboxes(extra.keys().cloned().collect())
            .instrument(phase("read.extra_mailboxes"))
            .await?;
        for (key, devs) in extra {
            match extra_read.get(&key.to_ascii_lowercase()) {
                Some(c) => mailboxes.push(MailboxData {
                    cas: c.clone(),
                    devices: devs,
                    complete: true,
                }),
                None if !devs.is_empty() => {
                    tracing::warn!(mailbox = %key, devices = devs.len(), "full sync: no CAS mailbox for these partnerships; skipped");
                }
                None => {
                    // The mailbox is gone: so are the entries the connector had on it.
                    let mailbox = key.clone();
                    self.db(move |s| {
                        for e in s.owned_entries(&mailbox)? {
                            s.forget_owned(&e.mailbox, e.list, &e.device_id)?;
                        }
                        Ok(())
                    })
                    .await?;
                }
            }
        }

        Ok(Snapshot {
            org: OrgAccess {
                default_access_level: org_settings.default_access_level,
                rules,
            },
            mailboxes,
            managed,
            complete_ids,
            intune_error,
            targeting: Targeting::new(members.included_users, members.excluded_users),
            exchange_mark: mark,
            intune_mark: mark,
            guard_base,
            devices_seen,
            read_ahead,
        })
    }

    /// Reads what changed: partnerships changed since the Exchange watermark, managed devices changed
    /// since the Intune watermark, and just the mailboxes (and Intune records) of those devices.
    async fn read_quick(&self, journal_mailboxes: &[String]) -> Result<Snapshot, SyncError> {
        let now = Utc::now();
        let overlap = chrono::Duration::from_std(self.config.watermark_overlap)
            .unwrap_or(chrono::Duration::zero());
        let mark = now - overlap;
        let ex_since = self.watermark(WATERMARK_EXCHANGE).await?.unwrap_or(mark);
        let in_since = self.watermark(WATERMARK_INTUNE).await?.unwrap_or(mark);
        // The groups' members (pages of 999 users) are read beside everything else: nothing but the
        // targeting needs them, and waiting for them held the lookups back by a third of a second.
        let members = self
            .intune
            .group_members(
                &self.settings.included_groups,
                &self.settings.excluded_groups,
            )
            .instrument(phase("read.groups"));
        let (members, devices) = tokio::join!(
            members,
            self.read_quick_devices(journal_mailboxes, ex_since, in_since)
        );
        let QuickDevices {
            org,
            mailboxes,
            managed,
            complete,
            intune_error,
            devices_seen,
        } = devices?;
        let members = if self.settings.enabled {
            members?
        } else {
            Default::default()
        };
        let guard_base = self.recorded_guard_base().await?;
        Ok(Snapshot {
            org,
            mailboxes,
            managed,
            complete_ids: Some(complete),
            intune_error,
            targeting: Targeting::new(members.included_users, members.excluded_users),
            exchange_mark: mark,
            intune_mark: mark,
            guard_base,
            devices_seen,
            read_ahead: None,
        })
    }

    /// The quick read's devices: the Exchange delta and the Intune changes, the partnerships and
    /// Intune records each side lacks looked up, and the mailboxes they belong to.
    async fn read_quick_devices(
        &self,
        journal_mailboxes: &[String],
        ex_since: DateTime<Utc>,
        in_since: DateTime<Utc>,
    ) -> Result<QuickDevices, SyncError> {
        let ex = &self.exchange;
        let exchange_reads = async {
            tokio::try_join!(
                ex.list_devices_changed_since(ex_since),
                ex.organization_settings(),
                ex.device_access_rules()
            )
        };
        let (exchange, changed_records) = tokio::join!(
            exchange_reads.instrument(phase("read.exchange")),
            self.intune
                .managed_devices_changed_since(in_since)
                .instrument(phase("read.graph"))
        );
        let (changed_devices, org_settings, rules) = exchange?;
        let mut intune_error = None;
        let mut managed: Vec<ManagedDevice> = match changed_records {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "quick sync: changed Intune records could not be read");
                intune_error = Some(e.to_string());
                Vec::new()
            }
        };
        let intune_changed: HashSet<String> = managed
            .iter()
            .filter_map(|m| m.eas_device_id.as_deref())
            .map(str::to_ascii_lowercase)
            .collect();

        // Skip partnerships whose change is the one the connector made: same state as recorded after
        // the last run, and no Intune change (so a quick sync after a full one costs what changed).
        let mut keys: BTreeMap<String, Vec<MobileDevice>> = BTreeMap::new();
        for d in changed_devices {
            keys.entry(mailbox_key_of(&d)).or_default().push(d);
        }
        let mut by_mailbox: BTreeMap<String, (Vec<MobileDevice>, bool)> = BTreeMap::new();
        // The recorded states of those mailboxes' devices, in one trip to the store.
        let names: Vec<String> = keys.keys().cloned().collect();
        let mut recorded = self
            .db(move |s| {
                names
                    .into_iter()
                    .map(|k| Ok((k.clone(), s.inventory_for_mailbox(&k)?)))
                    .collect::<Result<HashMap<_, _>, StoreError>>()
            })
            .instrument(phase("read.recorded_states"))
            .await?;
        for (key, devs) in keys {
            let known: HashMap<String, DeviceAccessState> = recorded
                .remove(&key)
                .unwrap_or_default()
                .into_iter()
                .map(|r| (r.device_id.to_ascii_lowercase(), r.access_state))
                .collect();
            let keep: Vec<MobileDevice> = devs
                .into_iter()
                .filter(|d| {
                    let id = d.device_id.to_ascii_lowercase();
                    intune_changed.contains(&id) || known.get(&id) != Some(&d.device_access_state)
                })
                .collect();
            if !keep.is_empty() {
                by_mailbox.insert(key, (keep, false));
            }
        }
        // Intune changes of partnerships not in the Exchange delta: look the partnerships up.
        let seen: HashSet<String> = by_mailbox
            .values()
            .flat_map(|(d, _)| d.iter().map(|d| d.device_id.to_ascii_lowercase()))
            .collect();
        let lookups: Vec<String> = intune_changed
            .iter()
            .filter(|id| !seen.contains(*id) && filter_safe(id))
            .cloned()
            .collect();
        // The lookups run in parallel, bounded by the pool.
        let mut found = futures_util::stream::iter(lookups.chunks(EXCHANGE_LOOKUP_BATCH))
            .map(|chunk| {
                let filter = any_of(chunk, |id| format!("DeviceId -eq '{id}'"), " -or ");
                async move { ex.list_devices_filtered(&filter).await }
            })
            .buffer_unordered(ex.pool().limit().max(1));
        while let Some(devices) = found.next().await {
            for d in devices? {
                by_mailbox
                    .entry(mailbox_key_of(&d))
                    .or_insert_with(|| (Vec::new(), false))
                    .0
                    .push(d);
            }
        }
        drop(found);
        // Mailboxes of interrupted changes: every partnership, so stale entries can go too.
        for m in journal_mailboxes {
            let devices = ex.mailbox_devices(m).await?;
            by_mailbox.insert(m.to_ascii_lowercase(), (devices, true));
        }

        // Intune records of the partnerships whose record did not change: a filtered read that
        // succeeds is complete for those ids (no record = not enrolled).
        let mut complete: HashSet<String> = intune_changed.clone();
        let need: Vec<String> = by_mailbox
            .values()
            .flat_map(|(d, _)| d.iter().map(|d| d.device_id.to_ascii_lowercase()))
            .filter(|id| !intune_changed.contains(id) && filter_safe(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let intune_lookups = async {
            let mut lookups = futures_util::stream::iter(need.chunks(GRAPH_LOOKUP_BATCH))
                .map(|chunk| {
                    let filter = any_of(chunk, |id| format!("easDeviceId eq '{id}'"), " or ");
                    async move { (chunk, self.intune.decision_records(Some(&filter)).await) }
                })
                .buffered(GRAPH_LOOKUP_CONCURRENCY);
            while let Some((chunk, result)) = lookups.next().await {
                match result {
                    Ok(records) => {
                        managed.extend(records);
                        complete.extend(chunk.iter().cloned());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "quick sync: Intune lookup failed; those devices keep their access");
                        intune_error.get_or_insert(e.to_string());
                    }
                }
            }
        };
        // The mailboxes are known: their CAS mailboxes are read beside the Intune lookups (Graph and
        // Exchange wait on different services).
        let (cas, ()) = tokio::join!(
            self.read_cas_mailboxes(by_mailbox.keys().cloned().collect())
                .instrument(phase("read.cas_mailboxes")),
            intune_lookups.instrument(phase("read.graph_lookups"))
        );
        let cas = cas?;
        let mut mailboxes = Vec::new();
        let mut devices_seen = 0;
        for (key, (devices, complete_list)) in by_mailbox {
            match cas.get(&key) {
                Some(c) => {
                    devices_seen += devices.len();
                    mailboxes.push(MailboxData {
                        cas: c.clone(),
                        devices: devices.into_iter().map(Box::new).collect(),
                        complete: complete_list,
                    });
                }
                None => tracing::warn!(mailbox = %key, "quick sync: mailbox not found; skipped"),
            }
        }
        Ok(QuickDevices {
            org: OrgAccess {
                default_access_level: org_settings.default_access_level,
                rules,
            },
            mailboxes,
            managed,
            complete,
            intune_error,
            devices_seen,
        })
    }

    /// The guard's base as the store recorded it (a run that reads only some devices).
    async fn recorded_guard_base(&self) -> Result<GuardBase, SyncError> {
        let by_state = self.db(|s| s.counts_by_state()).await?;
        let count = |states: &[DeviceAccessState]| {
            states
                .iter()
                .filter_map(|state| by_state.get(state.as_str()))
                .sum::<u64>() as usize
        };
        Ok(GuardBase {
            allowed: count(&[DeviceAccessState::Allowed]),
            restricted: count(&[DeviceAccessState::Blocked, DeviceAccessState::Quarantined]),
        })
    }

    /// Reads CAS mailboxes one by one (bounded by the pool); a mailbox that does not exist is left out,
    /// any other failure fails the read. Keys of the result are lowercase.
    async fn read_cas_mailboxes(
        &self,
        identities: Vec<String>,
    ) -> Result<HashMap<String, CasMailbox>, SyncError> {
        let parallel = self.exchange.pool().limit().max(1);
        let mut stream = futures_util::stream::iter(identities)
            .map(|id| async move {
                let r = self.exchange.cas_mailbox(&id).await;
                (id, r)
            })
            .buffer_unordered(parallel);
        let mut out = HashMap::new();
        while let Some((id, r)) = stream.next().await {
            match r {
                Ok(c) => {
                    out.insert(id.to_ascii_lowercase(), c);
                }
                Err(ExchangeError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Settles the changes an interrupted run left open (or whose answer never came), from what the
    /// re-read mailboxes hold now; each keeps the origin it was journaled with, and gets audit rows.
    async fn reconcile_journal(
        &self,
        run_id: RunId,
        open: Vec<JournalEntry>,
        snap: &Snapshot,
    ) -> Result<usize, SyncError> {
        let lists: HashMap<String, (Vec<String>, Vec<String>)> = snap
            .mailboxes
            .iter()
            .map(|m| {
                (
                    m.cas.identity.to_ascii_lowercase(),
                    (
                        m.cas.active_sync_allowed_device_ids.clone(),
                        m.cas.active_sync_blocked_device_ids.clone(),
                    ),
                )
            })
            .collect();
        let n = open.len();
        tracing::info!(
            entries = n,
            "reconciling changes left open by an interrupted run or unanswered by Exchange"
        );
        let actor = self.config.actor.clone();
        self.db(move |s| {
            let gone = (Vec::new(), Vec::new());
            for entry in open {
                // Mailbox gone: nothing of the change can be on its lists any more.
                let (allowed, blocked) = lists
                    .get(&entry.change.mailbox.to_ascii_lowercase())
                    .unwrap_or(&gone);
                s.reconcile_open_entry(&entry, allowed, blocked, &actor, Some(run_id))?;
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }

    /// The owned entries of the snapshot's mailboxes, by lowercase mailbox identity.
    async fn owned_for(
        &self,
        kind: SyncKind,
        snap: &mut Snapshot,
    ) -> Result<HashMap<String, Owned>, SyncError> {
        // Read ahead with the stored rows: they serve while nothing was written since (settling the
        // journal, forgetting a gone mailbox's entries).
        if let Some(ahead) = snap.read_ahead.take() {
            let (current, mut ahead) = self
                .db(move |s| Ok((s.is_current(&ahead.rows)?, ahead)))
                .await?;
            let owned = ahead.owned.take();
            snap.read_ahead = Some(ahead);
            if let (true, Some(owned)) = (current, owned) {
                return Ok(owned);
            }
            tracing::debug!("the owned entries are read again: written since read ahead");
        }
        let entries = match kind {
            SyncKind::Full => self.db(|s| s.all_owned_entries()).await?,
            SyncKind::Quick => {
                let names: Vec<String> = snap
                    .mailboxes
                    .iter()
                    .map(|m| m.cas.identity.clone())
                    .collect();
                self.db(move |s| {
                    let mut all = Vec::new();
                    for n in names {
                        all.extend(s.owned_entries(&n)?);
                    }
                    Ok(all)
                })
                .await?
            }
        };
        let mut owned = HashMap::new();
        for e in entries {
            add_owned(&mut owned, e);
        }
        Ok(owned)
    }

    /// Applies changes in parallel (bounded by the pool): each journaled before it is sent and marked
    /// done after; owned entries recorded or forgotten once Exchange accepted; one audit row per entry.
    async fn apply_changes(
        &self,
        run_id: RunId,
        changes: &[MailboxChange],
        origin: OwnedOrigin,
        reasons: &HashMap<(String, String), String>,
    ) -> Result<Applied, SyncError> {
        let sends = AtomicUsize::new(0);
        // Twice the runspaces in flight: while one change waits for its journal commit or its
        // settling, another one uses the runspace (the pool still bounds the calls to Exchange).
        // A simulated crash (tests) keeps one change per runspace, so that with one runspace the
        // sends it counts follow the plan's order and the crash hits the change a test chose.
        let per_runspace = if self.config.crash_after_sends.is_some() {
            1
        } else {
            2
        };
        let parallel = self.exchange.pool().limit().max(1) * per_runspace;
        let mut stream = futures_util::stream::iter(changes)
            .map(|c| self.apply_one(run_id, c, origin, reasons, &sends))
            .buffer_unordered(parallel);
        let mut out = Applied::default();
        while let Some(r) = stream.next().await {
            match r? {
                Some(ChangeResult::Applied) => out.applied += 1,
                Some(ChangeResult::Refused(mailbox)) => {
                    out.failed += 1;
                    out.failed_mailboxes.insert(mailbox.to_ascii_lowercase());
                }
                Some(ChangeResult::Unanswered(mailbox)) => {
                    out.failed += 1;
                    out.unanswered += 1;
                    out.failed_mailboxes.insert(mailbox.to_ascii_lowercase());
                }
                None => {}
            }
        }
        Ok(out)
    }

    async fn apply_one(
        &self,
        run_id: RunId,
        change: &MailboxChange,
        origin: OwnedOrigin,
        reasons: &HashMap<(String, String), String>,
        sends: &AtomicUsize,
    ) -> Result<Option<ChangeResult>, SyncError> {
        let mailbox = change.mailbox.clone();
        if change.is_empty() {
            // Only stale ownership to forget: nothing to send.
            let forget = change.forget_owned.clone();
            self.db_grouped(move |s| {
                for (list, id) in forget {
                    forget_any_case(s, &mailbox, list, &id)?;
                }
                Ok(())
            })
            .await?;
            return Ok(None);
        }
        let journaled = change.clone();
        let journal_id = self
            .db_grouped(move |s| s.journal_pending(Some(run_id), &journaled, origin))
            .await?;
        let edit = DeviceListEdit {
            allow_add: change.allow_add.clone(),
            allow_remove: change.allow_remove.clone(),
            block_add: change.block_add.clone(),
            block_remove: change.block_remove.clone(),
        };
        let result = self.exchange.edit_device_lists(&mailbox, &edit).await;
        if let Some(n) = self.config.crash_after_sends
            && sends.fetch_add(1, Ordering::SeqCst) + 1 >= n
        {
            return Err(SyncError::SimulatedCrash(n));
        }
        let error = match result {
            Ok(()) => None,
            Err(e) if write_may_have_landed(&e) => {
                // No answer: the write may have landed. The change stays journaled (its added entries
                // owned) and the next run reads the mailbox and settles it.
                tracing::warn!(mailbox = %mailbox, error = %e, "Exchange did not answer a list change; the next run settles it from what the mailbox holds");
                let message = e.to_string();
                self.db_grouped(move |s| s.journal_unanswered(journal_id, &message))
                    .await?;
                return Ok(Some(ChangeResult::Unanswered(mailbox)));
            }
            Err(e) => {
                tracing::warn!(mailbox = %mailbox, error = %e, "Exchange refused a list change");
                Some(e.to_string())
            }
        };
        let key = mailbox.to_ascii_lowercase();
        let why = |id: &str| {
            reasons
                .get(&(key.clone(), id.to_ascii_lowercase()))
                .cloned()
                .unwrap_or_else(|| match origin {
                    OwnedOrigin::Rollout => {
                        "rollout: the device was syncing before enforcement started".to_string()
                    }
                    OwnedOrigin::Policy => "the partnership is gone (device reset or removed): the connector withdraws its entry".to_string(),
                })
        };
        let reasons: HashMap<String, String> = change
            .allow_add
            .iter()
            .chain(&change.allow_remove)
            .chain(&change.block_add)
            .chain(&change.block_remove)
            .map(|id| (id.to_ascii_lowercase(), why(id)))
            .collect();
        let change = change.clone();
        let ok = error.is_none();
        let actor = self.config.actor.clone();
        // One transaction: journal done, audit rows, owned entries recorded or forgotten.
        self.db_grouped(move |s| {
            let why = |id: &str| {
                reasons
                    .get(&id.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default()
            };
            s.settle_change(
                journal_id,
                Some(run_id),
                &actor,
                &change,
                &why,
                error.as_deref(),
            )
        })
        .await?;
        Ok(Some(if ok {
            ChangeResult::Applied
        } else {
            ChangeResult::Refused(mailbox)
        }))
    }

    /// Who the notify phase tells: one mail per device of a targeted user that this run leaves
    /// blocked or quarantined by the connector's decision, unless its owner was already told; and
    /// the devices allowed again, whose mail is forgotten so a later restriction is told anew.
    async fn notices(&self, decided: &Decided, end: &EndStates) -> Result<Notices, SyncError> {
        if self.notifier.is_none() {
            return Ok(Notices::default());
        }
        let notified = self.db(|s| s.notified_devices()).await?;
        let mut due = Vec::new();
        let mut allowed_again = Vec::new();
        for m in &decided.mailboxes {
            let key = m.cas.identity.to_ascii_lowercase();
            for d in &m.devices {
                let state = end.of(&m.cas, &d.device);
                let was_told =
                    notified.contains(&(key.clone(), d.device.device_id.to_ascii_lowercase()));
                let restricted_by_us = m.targeted
                    && matches!(
                        (d.decision.desired, state),
                        (DesiredAccess::Block, DeviceAccessState::Blocked)
                            | (DesiredAccess::Quarantine, DeviceAccessState::Quarantined)
                    );
                if restricted_by_us && !was_told && !m.cas.primary_smtp_address.is_empty() {
                    due.push(Notice::new(&m.cas, &d.device));
                } else if was_told && state == DeviceAccessState::Allowed {
                    allowed_again.push((m.cas.identity.clone(), d.device.device_id.clone()));
                }
            }
        }
        Ok(Notices { due, allowed_again })
    }

    /// Notify phase: sends the mails [`SyncEngine::notices`] found due and forgets the mails of the
    /// devices allowed again. A mail that cannot be sent is counted and warned about, and sent by the
    /// next run (nothing is recorded for it).
    async fn notify(&self, notices: Notices, report: &mut RunReport) -> Result<(), SyncError> {
        let Some(notifier) = self.notifier.clone() else {
            return Ok(());
        };
        let Notices { due, allowed_again } = notices;
        if !allowed_again.is_empty() {
            self.db(move |s| {
                for (mailbox, device_id) in &allowed_again {
                    s.forget_notification(mailbox, device_id)?;
                }
                Ok(())
            })
            .await?;
        }
        if due.is_empty() {
            return Ok(());
        }
        let results: Vec<(Notice, Result<(), NotifyError>)> =
            futures_util::stream::iter(due.into_iter().map(|notice| {
                let notifier = notifier.clone();
                async move {
                    let result = notifier
                        .notify_device(&notice.to, &notice.user, &notice.device)
                        .await;
                    (notice, result)
                }
            }))
            .buffer_unordered(NOTIFY_CONCURRENCY)
            .collect()
            .await;
        let mut sent = Vec::new();
        let mut first_error = None;
        for (notice, result) in results {
            match result {
                Ok(()) => sent.push((notice.mailbox, notice.device_id)),
                Err(e) => {
                    report.notifications_failed += 1;
                    first_error.get_or_insert_with(|| {
                        format!("{} ({}): {}", notice.to, notice.device_id, e)
                    });
                }
            }
        }
        report.notifications_sent = sent.len();
        let now = Utc::now();
        self.db(move |s| {
            for (mailbox, device_id) in &sent {
                s.notification_sent(mailbox, device_id, now)?;
            }
            Ok(())
        })
        .await?;
        if let Some(e) = first_error {
            report.warnings.push(format!(
                "{} notification mails could not be sent and will be tried again by the next run; first failure: {e}",
                report.notifications_failed
            ));
        }
        Ok(())
    }

    /// Record phase: the inventory (with the states the run leaves), the decisions, and which
    /// decisions this run made Exchange agree with.
    async fn record(
        &self,
        run_id: RunId,
        mailboxes: Vec<DecidedMailbox>,
        recorded: Option<RecordedRows>,
        plan: &Plan,
        end: &EndStates,
    ) -> Result<(), SyncError> {
        let now = Utc::now();
        // Devices whose entries this run changed (their decision is now applied).
        // By mailbox (lowercase), so a mailbox the plan did not change costs one lookup.
        let mut touched: HashMap<String, HashSet<String>> = HashMap::new();
        for c in &plan.changes {
            touched
                .entry(c.mailbox.to_ascii_lowercase())
                .or_default()
                .extend(
                    c.allow_add
                        .iter()
                        .chain(&c.allow_remove)
                        .chain(&c.block_add)
                        .chain(&c.block_remove)
                        .map(|id| id.to_ascii_lowercase()),
                );
        }
        // Sized once: grown by doubling, these two held up to twice their 50,000 records at the peak.
        let devices: usize = mailboxes.iter().map(|m| m.devices.len()).sum();
        let mut inventory = Vec::with_capacity(devices);
        let mut rows = Vec::with_capacity(devices);
        for m in mailboxes {
            let touched_here = touched.get(&m.cas.identity.to_ascii_lowercase());
            let failed = end.failed(&m.cas);
            // The records take the devices' own texts: the devices are not needed after this phase,
            // and copying 50,000 of them doubled the run's peak memory.
            for DecidedDevice {
                device: d,
                decision,
            } in m.devices
            {
                let (state, reason) = end.with_reason(&m.cas, &d);
                let agrees = !failed
                    && touched_here
                        .is_some_and(|ids| ids.contains(&d.device_id.to_ascii_lowercase()))
                    && decision
                        .desired
                        .expected_state()
                        .is_some_and(|want| want == state);
                let client_version = d.eas_protocol_text().map(str::to_string);
                let eas_protocol_refused = self.exchange_online && d.refused_by_exchange_online();
                // The decision's mailbox and DeviceId are its inventory record's (same index).
                rows.push((decision, agrees));
                inventory.push(InventoryRecord {
                    mailbox: m.cas.identity.clone(),
                    device_id: d.device_id,
                    device_type: d.device_type,
                    device_model: d.device_model,
                    first_seen: now,
                    last_seen: now,
                    access_state: state,
                    access_reason: reason,
                    // The mailbox's display name; a partnership's `UserDisplayName` is often a
                    // canonical path in real Exchange.
                    user_display_name: Some(m.cas.display_name.clone())
                        .filter(|n| !n.trim().is_empty())
                        .or(d.user_display_name),
                    device_os: d.device_os,
                    client_version,
                    eas_protocol_refused,
                });
            }
        }
        let janitor = self.janitor.clone();
        self.db(move |s| {
            // Read ahead during the listing; read again if anything was written since.
            let current = match recorded {
                Some(rows) => {
                    let current = s.still_current(rows)?;
                    if current.is_none() {
                        tracing::debug!("the stored rows are read again: written since read ahead");
                    }
                    current
                }
                None => None,
            };
            let (inventory_ahead, decisions_ahead) = current.map(RecordedRows::split).unzip();
            phase("record.inventory")
                .in_scope(|| s.upsert_inventory_with(&inventory, inventory_ahead))?;
            let batch: Vec<(&str, &str, &Decision)> = inventory
                .iter()
                .zip(&rows)
                .map(|(r, (decision, _))| (r.mailbox.as_str(), r.device_id.as_str(), decision))
                .collect();
            phase("record.decisions")
                .in_scope(|| s.record_decisions_with(Some(run_id), now, &batch, decisions_ahead))?;
            // `applied_at` only for the devices this run changed (one durable write each; the store
            // has no batch form yet), and only when there are few: a first full sync skips it.
            let agreeing: Vec<&InventoryRecord> = inventory
                .iter()
                .zip(&rows)
                .filter(|(_, (_, agrees))| *agrees)
                .map(|(r, _)| r)
                .collect();
            if agreeing.len() <= MARK_APPLIED_MAX {
                for r in agreeing {
                    s.mark_decision_applied(&r.mailbox, &r.device_id, now)?;
                }
            }
            janitor.discard((inventory, rows));
            Ok(())
        })
        .await
    }
}

/// The state each device ends the run in: the planned state, or its current state when its
/// mailbox's change failed.
struct EndStates {
    /// By (mailbox, DeviceId), lowercase: the state and the reason Exchange will give for it.
    planned: HashMap<(String, String), (DeviceAccessState, DeviceAccessStateReason)>,
    /// Mailboxes whose change failed (lowercase).
    failed: HashSet<String>,
}

impl EndStates {
    fn new(plan: &Plan, applied: &Applied) -> Self {
        let planned = plan
            .effects
            .iter()
            .map(|e| {
                (
                    (
                        e.mailbox.to_ascii_lowercase(),
                        e.device_id.to_ascii_lowercase(),
                    ),
                    (e.after, e.after_reason),
                )
            })
            .collect();
        EndStates {
            planned,
            failed: applied.failed_mailboxes.clone(),
        }
    }

    fn failed(&self, mailbox: &CasMailbox) -> bool {
        self.failed.contains(&mailbox.identity.to_ascii_lowercase())
    }

    fn of(&self, mailbox: &CasMailbox, device: &MobileDevice) -> DeviceAccessState {
        self.with_reason(mailbox, device).0
    }

    /// The state the device ends in and the reason Exchange will give for it: the plan's, or the
    /// device's own when its mailbox was not changed or its change failed.
    fn with_reason(
        &self,
        mailbox: &CasMailbox,
        device: &MobileDevice,
    ) -> (DeviceAccessState, DeviceAccessStateReason) {
        let current = (
            device.device_access_state,
            device.device_access_state_reason,
        );
        if self.planned.is_empty() || self.failed(mailbox) {
            return current;
        }
        self.planned
            .get(&(
                mailbox.identity.to_ascii_lowercase(),
                device.device_id.to_ascii_lowercase(),
            ))
            .copied()
            .unwrap_or(current)
    }
}

/// Forgets an owned entry whatever the case it was recorded in (Exchange compares DeviceIds without
/// regard to case; the planner lowercases them).
fn forget_any_case(
    s: &Store,
    mailbox: &str,
    list: ListKind,
    device_id: &str,
) -> Result<(), StoreError> {
    if !s.forget_owned(mailbox, list, device_id)? {
        for e in s.owned_entries(mailbox)? {
            if e.list == list && e.device_id.eq_ignore_ascii_case(device_id) {
                s.forget_owned(mailbox, list, &e.device_id)?;
            }
        }
    }
    Ok(())
}
