//! The runspace pool.
//!
//! * **Bounded.** One runspace by default; with `EnableParallelCommandSupport` several
//!   ([`parallel_runspaces`]), always below the service account's `PowerShellMaxConcurrency` (default
//!   18) with headroom for the administrators' own sessions.
//! * **Backpressure.** A semaphore with one permit per runspace: callers wait for a free runspace
//!   instead of opening more shells. Open runspaces (busy + idle) never exceed the permits.
//! * **Retries.** Transient errors are retried with jittered exponential backoff (honouring a
//!   server's `Retry-After`). A server that stops answering is retried at once on another Client
//!   Access server ([`super::failover`]).
//! * **Shrinks.** When Exchange answers "maximum of N concurrent shells" the pool drops a permit and an
//!   idle runspace and retries with fewer, instead of failing the sync. The N Exchange names becomes the
//!   pool's budget ([`parallel_runspaces`] of it, with [`PoolConfig::shell_headroom`]): the pool goes
//!   straight down to that budget instead of one runspace per refusal.
//! * **Grows back.** Once no shell limit was hit for [`PoolConfig::grow_after`], a successful call adds
//!   one runspace back, up to the budget (another session of the account, since closed, may have been
//!   the cause).
//! * **Recycles.** A runspace older than `max_age`, or one that had a transport error, is closed and
//!   replaced. Sessions are always closed: by [`RunspacePool::shutdown`], and on drop.
//!
//! # Retrying writes
//!
//! A write interrupted by a dying server may or may not have been applied. The client only sends
//! writes that are idempotent: list edits use `@{Add=...; Remove=...}` (adding an id already present or
//! removing one already absent changes nothing), and settings and rules are set to absolute values. So
//! retrying the same call on another server cannot apply anything twice.

use super::commands_log::CommandsLog;
use super::failover::Failover;
use super::{
    CasServer, Connector, DiscardSink, ExchangeError, Invocation, InvokeOutcome, RecordSink,
    Transport,
};
use crate::model::exchange::ExchangeServer;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Retry settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1`: exponential with "equal jitter" (half fixed, half random),
    /// so parallel runspaces that failed together do not retry together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter_ms = rand::random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Runspaces at most (1 unless `EnableParallelCommandSupport`).
    pub max_runspaces: usize,
    /// A runspace older than this is closed and replaced (remote sessions go stale).
    pub max_age: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Cmdlets run on every new runspace (e.g. `Set-ADServerSettings -ViewEntireForest $true`, which
    /// is per session). Their failure is logged, not fatal.
    pub session_init: Vec<Invocation>,
    /// Sessions of the service account left free below the limit Exchange reports (the admins' own
    /// sessions under that account, a second instance).
    pub shell_headroom: u32,
    /// After a shrink, how long without a shell-limit refusal before one runspace is added back (and
    /// between two additions).
    pub grow_after: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_runspaces: 1,
            max_age: Duration::from_secs(30 * 60),
            retry: RetryPolicy::default(),
            session_init: Vec::new(),
            shell_headroom: 2,
            grow_after: Duration::from_secs(60),
        }
    }
}

/// Number of runspaces for `EnableParallelCommandSupport`: the requested number, or
/// `min(8, max_concurrency - headroom)`, in every case at most `max_concurrency - 1` and at least 1.
pub fn parallel_runspaces(requested: Option<usize>, max_concurrency: u32, headroom: u32) -> usize {
    let budget = max_concurrency.saturating_sub(headroom.max(1)).max(1) as usize;
    requested.unwrap_or(8).min(budget).max(1)
}

/// What the pool did, for diagnostics and benchmarks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Runspaces opened.
    pub opened: u64,
    /// Runspaces closed because of age or errors.
    pub recycled: u64,
    /// Calls retried.
    pub retries: u64,
    /// Runspaces the pool gave up on shell limits.
    pub shrinks: u64,
    /// Runspaces added back after shell limits stopped.
    pub regrowths: u64,
    /// Calls made (attempts).
    pub calls: u64,
    /// Current limit.
    pub limit: usize,
}

struct Runspace {
    transport: Box<dyn Transport>,
    server: Option<CasServer>,
    opened: Instant,
}

#[derive(Default)]
struct Counters {
    opened: AtomicU64,
    recycled: AtomicU64,
    retries: AtomicU64,
    shrinks: AtomicU64,
    regrowths: AtomicU64,
    calls: AtomicU64,
}

struct Inner {
    connector: Arc<dyn Connector>,
    failover: Option<Failover>,
    config: PoolConfig,
    permits: Arc<Semaphore>,
    /// Runspaces the pool aims at now (shrinks on shell limits, grows back up to `budget`).
    limit: AtomicUsize,
    /// Permits that exist (handed out or available): above `limit` after a shrink while calls were
    /// running; those permits are forgotten as their calls end.
    issued: AtomicUsize,
    /// The most runspaces: the configured number, lowered to what the limit Exchange reports allows.
    budget: AtomicUsize,
    /// The last shell-limit refusal or growth: the pool grows only `grow_after` past it.
    last_change: Mutex<Option<Instant>>,
    idle: Mutex<Vec<Runspace>>,
    log: Option<CommandsLog>,
    closed: AtomicBool,
    counters: Counters,
}

/// The runspace pool. Cheap to clone (shared).
#[derive(Clone)]
pub struct RunspacePool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RunspacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunspacePool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl RunspacePool {
    /// A pool opening runspaces with `connector`; `failover` is `None` for transports without servers
    /// (REST).
    pub fn new(
        connector: Arc<dyn Connector>,
        failover: Option<Failover>,
        config: PoolConfig,
        log: Option<CommandsLog>,
    ) -> Self {
        let size = config.max_runspaces.max(1);
        RunspacePool {
            inner: Arc::new(Inner {
                connector,
                failover,
                permits: Arc::new(Semaphore::new(size)),
                limit: AtomicUsize::new(size),
                issued: AtomicUsize::new(size),
                budget: AtomicUsize::new(size),
                last_change: Mutex::new(None),
                config,
                idle: Mutex::new(Vec::new()),
                log,
                closed: AtomicBool::new(false),
                counters: Counters::default(),
            }),
        }
    }

    /// Current number of runspaces allowed (shrinks on shell limits, grows back when they stop).
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// The most runspaces the pool grows back to: the configured number, or fewer once Exchange named
    /// its per-account shell limit.
    pub fn budget(&self) -> usize {
        self.inner.budget.load(Ordering::Relaxed)
    }

    /// The failover state, when the transport has servers.
    pub fn failover(&self) -> Option<&Failover> {
        self.inner.failover.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        PoolStats {
            opened: c.opened.load(Ordering::Relaxed),
            recycled: c.recycled.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            shrinks: c.shrinks.load(Ordering::Relaxed),
            regrowths: c.regrowths.load(Ordering::Relaxed),
            calls: c.calls.load(Ordering::Relaxed),
            limit: self.limit(),
        }
    }

    /// Runs a cmdlet on a runspace of the pool, with retries, failover and shrinking.
    pub async fn invoke(
        &self,
        invocation: &Invocation,
        sink: &mut dyn RecordSink,
    ) -> Result<InvokeOutcome, ExchangeError> {
        let inner = &self.inner;
        let policy = &inner.config.retry;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let permit = inner
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ExchangeError::Closed)?;
            if inner.closed.load(Ordering::Acquire) {
                return Err(ExchangeError::Closed);
            }
            let result = match self.checkout().await {
                Ok(mut runspace) => {
                    if let Some(log) = &inner.log {
                        log.record(runspace.transport.server(), invocation, attempt);
                    }
                    inner.counters.calls.fetch_add(1, Ordering::Relaxed);
                    sink.restart();
                    let result = runspace.transport.invoke(invocation, sink).await;
                    match &result {
                        Err(e) if e.recycles_runspace() => {
                            if e.server_unreachable()
                                && let (Some(f), Some(server)) = (&inner.failover, &runspace.server)
                            {
                                f.report_unreachable(server);
                                self.drop_idle_on(server);
                            }
                            self.recycle(runspace);
                        }
                        _ => self.checkin(runspace),
                    }
                    result
                }
                Err(e) => Err(e),
            };
            let error = match result {
                Ok(outcome) => {
                    self.release(permit);
                    self.maybe_grow();
                    return Ok(outcome);
                }
                Err(e) => e,
            };
            if let ExchangeError::TooManyShells { limit, .. } = &error {
                self.shrink(*limit);
            }
            self.release(permit);
            if !error.is_transient() || attempt >= policy.max_attempts {
                return Err(error);
            }
            inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            // Another server is waiting when the one in use stopped answering: no backoff then.
            let failover_ready = error.server_unreachable()
                && inner
                    .failover
                    .as_ref()
                    .is_some_and(|f| f.enabled() && f.servers().len() > 1);
            let delay = if failover_ready {
                Duration::ZERO
            } else {
                error
                    .retry_after()
                    .unwrap_or_else(|| policy.delay(attempt))
                    .min(policy.max_delay.max(Duration::from_secs(1)) * 3)
            };
            tracing::info!(cmdlet = %invocation.cmdlet, attempt, ?delay, error = %error, "retrying Exchange call");
            tokio::time::sleep(delay).await;
        }
    }

    /// Closes every idle runspace and refuses further calls. Runspaces in use close when their call
    /// ends.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.permits.close();
        let idle: Vec<Runspace> = std::mem::take(&mut *self.lock_idle());
        futures_util::future::join_all(idle.into_iter().map(|r| r.transport.close())).await;
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Runspace>> {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle runspace that is still good, or a new one.
    async fn checkout(&self) -> Result<Runspace, ExchangeError> {
        let probe_due = self
            .inner
            .failover
            .as_ref()
            .is_some_and(Failover::probe_due);
        let mut stale = Vec::new();
        let reused = {
            let mut idle = self.lock_idle();
            let mut found = None;
            while let Some(runspace) = idle.pop() {
                let too_old = runspace.opened.elapsed() >= self.inner.config.max_age;
                let moved = match (&self.inner.failover, &runspace.server) {
                    (Some(f), Some(server)) => !f.is_current(server),
                    _ => false,
                };
                if too_old || moved || probe_due {
                    // Probe: close one idle runspace so the new one (tried on the primary first)
                    // keeps the number of open shells within the limit.
                    stale.push(runspace);
                    if probe_due {
                        break;
                    }
                    continue;
                }
                found = Some(runspace);
                break;
            }
            // Opening a new runspace while others sit idle would exceed the permits: free one.
            if found.is_none()
                && stale.is_empty()
                && let Some(extra) = idle.pop()
            {
                stale.push(extra);
            }
            found
        };
        for runspace in stale {
            self.recycle(runspace);
        }
        match reused {
            Some(runspace) => Ok(runspace),
            None => self.open().await,
        }
    }

    fn checkin(&self, runspace: Runspace) {
        if self.inner.closed.load(Ordering::Acquire) {
            tokio::spawn(runspace.transport.close());
            return;
        }
        self.lock_idle().push(runspace);
    }

    fn recycle(&self, runspace: Runspace) {
        self.inner.counters.recycled.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(runspace.transport.close());
    }

    fn drop_idle_on(&self, server: &CasServer) {
        let dead: Vec<Runspace> = {
            let mut idle = self.lock_idle();
            let (dead, alive): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|r| r.server.as_ref() == Some(server));
            *idle = alive;
            dead
        };
        for runspace in dead {
            self.recycle(runspace);
        }
    }

    /// Returns a permit after a call, or forgets it while more permits exist than the pool's limit
    /// (a shrink while other calls were running).
    fn release(&self, permit: tokio::sync::OwnedSemaphorePermit) {
        let inner = &self.inner;
        let surplus = inner
            .issued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |issued| {
                (issued > inner.limit.load(Ordering::Acquire)).then(|| issued - 1)
            })
            .is_ok();
        if surplus {
            permit.forget();
        } else {
            drop(permit);
        }
    }

    /// Exchange refused another shell: run with one runspace fewer, and with no more than the limit it
    /// named allows (never fewer than one). Permits of running calls go as those calls end.
    fn shrink(&self, reported: Option<u32>) {
        let inner = &self.inner;
        if let Some(reported) = reported {
            let allowed = parallel_runspaces(
                Some(inner.config.max_runspaces),
                reported,
                inner.config.shell_headroom,
            );
            inner.budget.fetch_min(allowed, Ordering::AcqRel);
        }
        let budget = inner.budget.load(Ordering::Acquire);
        let before = inner
            .limit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                let target = n.saturating_sub(1).min(budget).max(1);
                (target < n).then_some(target)
            });
        *inner.last_change.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if let Ok(before) = before {
            let after = self.limit();
            inner
                .counters
                .shrinks
                .fetch_add((before - after) as u64, Ordering::Relaxed);
            let extra: Vec<Runspace> = {
                let mut idle = self.lock_idle();
                let keep = idle.len().saturating_sub(before - after);
                idle.split_off(keep)
            };
            for runspace in extra {
                self.recycle(runspace);
            }
            tracing::warn!(
                limit = after,
                budget,
                reported,
                "Exchange shell limit reached: the runspace pool shrank"
            );
        }
    }

    /// After a successful call: adds one runspace back when the pool is below its budget and no shell
    /// limit was hit for `grow_after`.
    fn maybe_grow(&self) {
        let inner = &self.inner;
        let budget = inner.budget.load(Ordering::Acquire);
        if inner.limit.load(Ordering::Acquire) >= budget {
            return;
        }
        {
            let mut last = inner.last_change.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < inner.config.grow_after) {
                return;
            }
            *last = Some(Instant::now());
        }
        let grown = inner
            .limit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < budget).then_some(n + 1)
            });
        if let Ok(before) = grown {
            // A permit still in circulation (not yet forgotten) counts towards the new limit.
            let added = inner
                .issued
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |issued| {
                    (issued <= before).then_some(issued + 1)
                })
                .is_ok();
            if added {
                inner.permits.add_permits(1);
            }
            inner.counters.regrowths.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                limit = before + 1,
                budget,
                "no Exchange shell limit lately: the runspace pool grew back by one"
            );
        }
    }

    /// Opens a runspace, trying the failover candidates in order.
    async fn open(&self) -> Result<Runspace, ExchangeError> {
        let inner = &self.inner;
        let Some(failover) = &inner.failover else {
            let transport = inner.connector.connect(None).await?;
            return Ok(self.opened(transport, None).await);
        };
        let candidates = failover.candidates();
        let single = candidates.len() == 1;
        let mut tried = Vec::new();
        let mut last = None;
        for server in candidates {
            match inner.connector.connect(Some(&server)).await {
                Ok(transport) => {
                    failover.report_success(&server);
                    let mut runspace = self.opened(transport, Some(server)).await;
                    if failover.needs_discovery() {
                        self.discover(&mut runspace).await;
                    }
                    return Ok(runspace);
                }
                Err(e) if e.server_unreachable() && failover.enabled() => {
                    failover.report_unreachable(&server);
                    tried.push(server.name.clone());
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match last {
            // Failover is on but nothing is known besides the primary: say why it did not help.
            Some(e) if single => Err(ExchangeError::NoFailoverTarget {
                server: tried.join(", "),
                last: Box::new(e),
            }),
            Some(e) => Err(ExchangeError::NoServerReachable {
                tried: tried.join(", "),
                last: Box::new(e),
            }),
            None => Err(ExchangeError::Config(
                "no Client Access server configured".into(),
            )),
        }
    }

    async fn opened(
        &self,
        mut transport: Box<dyn Transport>,
        server: Option<CasServer>,
    ) -> Runspace {
        self.inner.counters.opened.fetch_add(1, Ordering::Relaxed);
        for init in &self.inner.config.session_init {
            if let Some(log) = &self.inner.log {
                log.record(transport.server(), init, 1);
            }
            let result = transport.invoke(init, &mut DiscardSink).await;
            match result.and_then(|o| o.into_result(&init.cmdlet)) {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(cmdlet = %init.cmdlet, error = %e, "session set-up cmdlet failed")
                }
            }
        }
        Runspace {
            transport,
            server,
            opened: Instant::now(),
        }
    }

    /// `Get-ExchangeServer` on the first runspace: the other Client Access servers.
    async fn discover(&self, runspace: &mut Runspace) {
        let Some(failover) = &self.inner.failover else {
            return;
        };
        let invocation = Invocation::new("Get-ExchangeServer");
        if let Some(log) = &self.inner.log {
            log.record(runspace.transport.server(), &invocation, 1);
        }
        let mut sink = super::CollectSink::<ExchangeServer>::new("Get-ExchangeServer");
        let result = runspace.transport.invoke(&invocation, &mut sink).await;
        match result.and_then(|o| o.into_result("Get-ExchangeServer")) {
            Ok(_) => failover.set_discovered(&sink.items),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot discover the Client Access servers yet")
            }
            Err(e) => {
                // Without Get-ExchangeServer there is nothing to fail over to; do not ask again.
                tracing::warn!(error = %e, "cannot discover the Client Access servers: failover limited to the primary");
                failover.set_discovered(&[]);
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the transports closes them (the bridge closes its stdin and reaps the child).
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        drop(idle);
    }
}

#[cfg(test)]
mod tests {
    use super::super::failover::FailoverConfig;
    use super::*;
    use crate::model::exchange::{CategoryInfo, ErrorRecord, ExceptionInfo};
    use futures_util::future::BoxFuture;
    use serde_json::json;
    use std::collections::{HashMap, HashSet};

    /// An in-memory Exchange: servers that can be "down", a shell limit, and per-mailbox lists.
    #[derive(Default)]
    struct FakeOrg {
        down: HashSet<String>,
        shells: usize,
        max_shells: usize,
        peak_shells: usize,
        lists: HashMap<String, Vec<String>>,
        calls: Vec<(String, String)>,
        /// Fail the N-th record of the next listing with a transport error.
        fail_listing_at: Option<usize>,
        fail_open_transport: u32,
    }

    struct FakeConnector(Arc<Mutex<FakeOrg>>);
    struct FakeTransport {
        org: Arc<Mutex<FakeOrg>>,
        server: String,
    }

    impl Connector for FakeConnector {
        fn connect<'a>(
            &'a self,
            server: Option<&'a CasServer>,
        ) -> BoxFuture<'a, Result<Box<dyn Transport>, ExchangeError>> {
            Box::pin(async move {
                let name = server.map(|s| s.name.clone()).unwrap_or_default();
                let mut org = self.0.lock().unwrap();
                if org.down.contains(&name) || org.fail_open_transport > 0 {
                    org.fail_open_transport = org.fail_open_transport.saturating_sub(1);
                    return Err(ExchangeError::OpenFailed {
                        server: name,
                        kind: crate::bridge_protocol::OpenFailureKind::Transport,
                        message: "unreachable".into(),
                        hint: "",
                    });
                }
                if org.shells >= org.max_shells {
                    return Err(ExchangeError::TooManyShells {
                        limit: Some(org.max_shells as u32),
                        message: format!(
                            "This user is allowed a maximum of {} concurrent shells",
                            org.max_shells
                        ),
                    });
                }
                org.shells += 1;
                org.peak_shells = org.peak_shells.max(org.shells);
                Ok(Box::new(FakeTransport {
                    org: self.0.clone(),
                    server: name,
                }) as Box<dyn Transport>)
            })
        }
    }

    impl Transport for FakeTransport {
        fn invoke<'a>(
            &'a mut self,
            invocation: &'a Invocation,
            sink: &'a mut dyn RecordSink,
        ) -> BoxFuture<'a, Result<InvokeOutcome, ExchangeError>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let mut org = self.org.lock().unwrap();
                if org.down.contains(&self.server) {
                    return Err(ExchangeError::Transport {
                        server: self.server.clone(),
                        message: "connection reset".into(),
                    });
                }
                org.calls
                    .push((self.server.clone(), invocation.cmdlet.clone()));
                match invocation.cmdlet.as_str() {
                    "Get-ExchangeServer" => {
                        for name in ["CAS01", "CAS02"] {
                            sink.record(json!({"Name": name, "Identity": name, "Fqdn": format!("{}.lab", name.to_lowercase()),
                                "ServerRole": "ClientAccess", "AdminDisplayVersion": "15", "IsClientAccessServer": true, "IsE15OrLater": true}))?;
                        }
                        Ok(InvokeOutcome {
                            count: 2,
                            ..Default::default()
                        })
                    }
                    "Get-Numbers" => {
                        for i in 0..100 {
                            if org.fail_listing_at == Some(i) {
                                org.fail_listing_at = None;
                                let server = self.server.clone();
                                org.down.insert(server.clone());
                                return Err(ExchangeError::Transport {
                                    server,
                                    message: "died".into(),
                                });
                            }
                            sink.record(json!(i))?;
                        }
                        Ok(InvokeOutcome {
                            count: 100,
                            ..Default::default()
                        })
                    }
                    "Set-List" => {
                        let id = invocation.parameters["Identity"]
                            .as_str()
                            .unwrap()
                            .to_string();
                        let add = invocation.parameters["Ids"]["Add"]
                            .as_array()
                            .unwrap()
                            .clone();
                        let list = org.lists.entry(id).or_default();
                        for v in add {
                            let v = v.as_str().unwrap().to_string();
                            if !list.contains(&v) {
                                list.push(v);
                            }
                        }
                        Ok(InvokeOutcome::default())
                    }
                    _ => Ok(InvokeOutcome {
                        errors: vec![ErrorRecord {
                            exception: ExceptionInfo {
                                type_name: "X".into(),
                                message: "nope".into(),
                            },
                            category_info: CategoryInfo {
                                category: "InvalidOperation".into(),
                                activity: String::new(),
                                reason: String::new(),
                                target_name: String::new(),
                            },
                            fully_qualified_error_id: String::new(),
                        }],
                        ..Default::default()
                    }),
                }
            })
        }
        fn server(&self) -> &str {
            &self.server
        }
        fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                self.org.lock().unwrap().shells -= 1;
            })
        }
    }

    fn fast_retry() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    fn pool(org: &Arc<Mutex<FakeOrg>>, size: usize) -> RunspacePool {
        let primary = CasServer {
            name: "CAS01".into(),
            fqdn: "cas01.lab".into(),
            connection_uri: "https://cas01.lab/PowerShell/".into(),
        };
        RunspacePool::new(
            Arc::new(FakeConnector(org.clone())),
            Some(Failover::new(
                primary,
                FailoverConfig {
                    probe_interval: Duration::from_millis(30),
                    ..Default::default()
                },
            )),
            PoolConfig {
                max_runspaces: size,
                retry: fast_retry(),
                ..Default::default()
            },
            None,
        )
    }

    #[test]
    fn parallel_budget_stays_below_the_shell_limit() {
        assert_eq!(parallel_runspaces(None, 18, 2), 8);
        assert_eq!(parallel_runspaces(Some(30), 18, 2), 16);
        assert_eq!(parallel_runspaces(Some(30), 18, 0), 17);
        assert_eq!(parallel_runspaces(None, 3, 2), 1);
        assert_eq!(parallel_runspaces(Some(0), 18, 2), 1);
    }

    #[test]
    fn backoff_is_jittered_and_bounded() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 1..10 {
            let d = p.delay(attempt);
            assert!(d <= Duration::from_secs(1), "{d:?}");
            assert!(d >= Duration::from_millis(50).min(p.max_delay / 2));
        }
    }

    #[tokio::test]
    async fn listing_restarts_on_another_server_without_duplicates() {
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 18,
            fail_listing_at: Some(40),
            ..Default::default()
        }));
        let pool = pool(&org, 1);
        let mut sink = super::super::CollectSink::<u32>::new("Get-Numbers");
        pool.invoke(&Invocation::new("Get-Numbers"), &mut sink)
            .await
            .unwrap();
        assert_eq!(sink.items, (0..100).collect::<Vec<_>>());
        let f = pool.failover().unwrap();
        assert_eq!(f.current().name, "CAS02");
        // The primary comes back: after the probe interval the pool returns to it.
        org.lock().unwrap().down.clear();
        tokio::time::sleep(Duration::from_millis(40)).await;
        pool.invoke(&Invocation::new("Get-Numbers"), &mut sink)
            .await
            .unwrap();
        assert_eq!(f.current().name, "CAS01");
        assert_eq!(org.lock().unwrap().calls.last().unwrap().0, "CAS01");
        pool.shutdown().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(org.lock().unwrap().shells, 0, "every session closed");
    }

    #[tokio::test]
    async fn shrinks_on_shell_limit_and_completes_every_write() {
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 3,
            ..Default::default()
        }));
        let pool = pool(&org, 8);
        let calls = (0..200).map(|i| {
            let pool = pool.clone();
            async move {
                let inv = Invocation::new("Set-List")
                    .param("Identity", format!("mbx{}", i % 10))
                    .param("Ids", json!({"Add": [format!("dev{i}")], "Remove": []}));
                pool.invoke(&inv, &mut DiscardSink).await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        assert!(
            results.iter().all(Result::is_ok),
            "{:?}",
            results.iter().find(|r| r.is_err())
        );
        assert!(pool.limit() <= 3, "limit {}", pool.limit());
        assert!(org.lock().unwrap().peak_shells <= 3);
        let total: usize = org.lock().unwrap().lists.values().map(Vec::len).sum();
        assert_eq!(total, 200);
        assert!(pool.stats().shrinks >= 5);
        pool.shutdown().await;
    }

    /// `n` list writes at once; every one must succeed.
    async fn writes(pool: &RunspacePool, n: usize) {
        let calls = (0..n).map(|i| {
            let pool = pool.clone();
            async move {
                let inv = Invocation::new("Set-List")
                    .param("Identity", format!("mbx{}", i % 10))
                    .param("Ids", json!({"Add": [format!("dev{i}")], "Remove": []}));
                pool.invoke(&inv, &mut DiscardSink).await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        assert!(
            results.iter().all(Result::is_ok),
            "{:?}",
            results.iter().find(|r| r.is_err())
        );
    }

    #[tokio::test]
    async fn the_reported_limit_sets_the_budget() {
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 5,
            ..Default::default()
        }));
        let pool = pool(&org, 8);
        assert_eq!(pool.budget(), 8);
        writes(&pool, 100).await;
        // Exchange said 5: the budget is 5 less the headroom of 2, reached at the first refusal.
        assert_eq!(pool.budget(), 3);
        assert!(pool.limit() <= 3, "limit {}", pool.limit());
        assert!(org.lock().unwrap().peak_shells <= 5);
        pool.shutdown().await;
    }

    #[tokio::test]
    async fn grows_back_to_its_budget_once_the_shell_limit_stops() {
        // Other sessions of the service account hold 12 of its 18 shells: the pool of 8 gets 6.
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 18,
            shells: 12,
            ..Default::default()
        }));
        let pool = RunspacePool::new(
            Arc::new(FakeConnector(org.clone())),
            None,
            PoolConfig {
                max_runspaces: 8,
                retry: fast_retry(),
                grow_after: Duration::from_millis(20),
                ..Default::default()
            },
            None,
        );
        writes(&pool, 200).await;
        assert!(pool.stats().shrinks >= 2, "{:?}", pool.stats());
        // 18 less the headroom of 2 leaves room for the 8 configured.
        assert_eq!(pool.budget(), 8);
        assert!(org.lock().unwrap().peak_shells <= 18);

        // The other sessions close: the pool grows back to 8, one runspace at a time.
        org.lock().unwrap().shells -= 12;
        let grown_from = pool.limit();
        assert!(grown_from < 8, "limit {grown_from}");
        for _ in 0..500 {
            if pool.limit() == 8 {
                break;
            }
            writes(&pool, 16).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.limit(), 8, "{:?}", pool.stats());
        assert!(pool.stats().regrowths as usize >= 8 - grown_from);
        writes(&pool, 64).await;
        assert!(org.lock().unwrap().peak_shells <= 18);
        assert_eq!(org.lock().unwrap().shells, 8, "eight runspaces open");
        pool.shutdown().await;
    }

    #[tokio::test]
    async fn old_runspaces_are_recycled() {
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 18,
            ..Default::default()
        }));
        let pool = RunspacePool::new(
            Arc::new(FakeConnector(org.clone())),
            None,
            PoolConfig {
                max_age: Duration::from_millis(20),
                retry: fast_retry(),
                ..Default::default()
            },
            None,
        );
        let inv = Invocation::new("Get-ExchangeServer");
        pool.invoke(&inv, &mut DiscardSink).await.unwrap();
        pool.invoke(&inv, &mut DiscardSink).await.unwrap();
        assert_eq!(pool.stats().opened, 1, "young runspace reused");
        tokio::time::sleep(Duration::from_millis(30)).await;
        pool.invoke(&inv, &mut DiscardSink).await.unwrap();
        assert_eq!(pool.stats().opened, 2);
        assert_eq!(pool.stats().recycled, 1);
        pool.shutdown().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(org.lock().unwrap().shells, 0);
        assert!(matches!(
            pool.invoke(&inv, &mut DiscardSink).await,
            Err(ExchangeError::Closed)
        ));
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried_and_transient_opens_are() {
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 18,
            ..Default::default()
        }));
        let pool = RunspacePool::new(
            Arc::new(FakeConnector(org.clone())),
            None,
            PoolConfig {
                retry: fast_retry(),
                ..Default::default()
            },
            None,
        );
        org.lock().unwrap().fail_open_transport = 2;
        pool.invoke(&Invocation::new("Get-ExchangeServer"), &mut DiscardSink)
            .await
            .unwrap();
        assert_eq!(pool.stats().retries, 2);
        let out = pool
            .invoke(&Invocation::new("Get-Unknown"), &mut DiscardSink)
            .await
            .unwrap();
        assert!(out.into_result("Get-Unknown").is_err());
        assert_eq!(pool.stats().retries, 2, "a cmdlet error is not retried");
    }

    #[tokio::test]
    async fn a_primary_down_with_nothing_to_fail_over_to_says_so() {
        let org = Arc::new(Mutex::new(FakeOrg {
            max_shells: 18,
            down: HashSet::from(["CAS01".to_string()]),
            ..Default::default()
        }));
        let pool = pool(&org, 1);
        let err = pool
            .invoke(&Invocation::new("Get-Numbers"), &mut DiscardSink)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ExchangeError::NoFailoverTarget { server, .. } if server == "CAS01"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("no other Client Access server is known"),
            "{err}"
        );
    }
}
