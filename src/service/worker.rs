//! The long-running worker: runs quick syncs on an interval and a full sync daily ([`Schedule`]), one
//! run at a time, answers the control channel, and stops cleanly.
//!
//! One task (the scheduler loop) owns every run, so two runs never overlap: a sync requested over the
//! channel while one runs is queued (at most one of each kind) and answered so. The engine is rebuilt
//! before the next run whenever the configuration or the secrets changed, and when building it fails
//! (a missing secret, Graph unreachable) the worker keeps serving the channel, so setup can still hand
//! it the secrets it lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use tokio::sync::{broadcast, mpsc, watch};

use super::channel::{self, ChannelAddress, ChannelHandler};
use super::messages::{
    CertificateStatus, Connection, CurrentRun, DEVICE_PAGE_MAX, DeviceLookup, DevicePage,
    ExchangeServerInUse, GROUP_SEARCH_MAX, GroupHit, HistoryDay, LookupReply, NextRun,
    ProgressEvent, Registration, Reply, Request, RunPhase, StatusReply,
};
use super::schedule::{Due, Schedule};
use super::setup::{self, SetupProblem};
use crate::coded;
use crate::config::{Config, ConfigError};
use crate::secrets::SecretStore;
use crate::settings;
use crate::store::RunKind;
use crate::sync::cli::SetupError;
use crate::sync::{
    RunOptions, RunReport, SyncEngine, SyncKind, SyncOutcome, WATERMARK_HELD_PLAN, status_report,
};
use crate::text_code::TextCode;

/// Why the worker could not start or build its engine.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Assembling the engine's set-up.
    #[error(transparent)]
    Setup(#[from] SetupProblem),
    /// Building the engine.
    #[error(transparent)]
    Build(#[from] SetupError),
    /// The control channel.
    #[error(transparent)]
    Channel(#[from] channel::ChannelError),
}

/// How to run the worker.
pub struct WorkerOptions {
    /// Instance name (secret entries, channel address).
    pub instance: String,
    /// Configuration folder.
    pub config_dir: PathBuf,
    /// The worker's own secret store.
    pub secrets: Box<dyn SecretStore>,
    /// Where the control channel listens.
    pub address: ChannelAddress,
    /// Overrides the configured quick interval (tests, troubleshooting).
    pub quick_interval: Option<Duration>,
    /// How long a stop waits for the run in flight before leaving it to the journal.
    pub stop_grace: Duration,
}

impl std::fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("instance", &self.instance)
            .field("config_dir", &self.config_dir)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A run asked for over the channel.
#[derive(Debug, Clone)]
struct RunRequest {
    kind: SyncKind,
    options: RunOptions,
    /// A one-user run ("Sync this user now") of this mailbox; `None`: a run of its kind.
    user: Option<String>,
}

impl RunRequest {
    /// A run of `kind` over everyone.
    fn everyone(kind: SyncKind, options: RunOptions) -> Self {
        RunRequest {
            kind,
            options,
            user: None,
        }
    }

    /// What the admin reads about it: "quick sync", "full sync", "sync of alice".
    fn phrase(&self) -> TextCode {
        match &self.user {
            Some(user) => coded!("wk_user_sync", "sync of {user}", user = user),
            None => kind_phrase(self.kind),
        }
    }
}

/// "quick sync" or "full sync", coded (the same words as [`SyncKind::phrase`]).
fn kind_phrase(kind: SyncKind) -> TextCode {
    match kind {
        SyncKind::Quick => coded!("wk_quick_sync", "quick sync"),
        SyncKind::Full => coded!("wk_full_sync", "full sync"),
    }
}

/// What the worker knows besides the store.
#[derive(Debug)]
struct Live {
    current: Option<CurrentRun>,
    /// Runs waiting behind the current one (at most one per kind).
    queued: Vec<SyncKind>,
    /// Connection state as of the last run or engine build.
    connection: Connection,
    /// The last error (engine build or run).
    last_error: Option<String>,
    /// The next scheduled run.
    next_run: Option<NextRun>,
    /// The engine must be rebuilt (configuration or secrets changed).
    reload: bool,
    /// The last report, for status.
    last_report: Option<RunReport>,
    /// The Intune registration: its id, or why the tenant refused it.
    registration: Registration,
    /// When the connector's certificate expires, and the warning while it is near or past.
    certificate: Option<CertificateStatus>,
    /// The Exchange server in use and, after a failover, the primary it replaced.
    exchange_server: Option<ExchangeServerInUse>,
}

struct Shared {
    instance: String,
    config_dir: PathBuf,
    secrets: Box<dyn SecretStore>,
    events: broadcast::Sender<ProgressEvent>,
    requests: mpsc::UnboundedSender<RunRequest>,
    live: Mutex<Live>,
    /// The store file, for status when no engine is built.
    store_path: PathBuf,
}

impl Shared {
    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn progress(&self, kind: SyncKind, phase: RunPhase, message: TextCode, run_id: Option<i64>) {
        if let Some(c) = self.live().current.as_mut() {
            c.phase = phase;
        }
        // No subscriber is fine: the event is for whoever listens.
        let _ = self.events.send(ProgressEvent {
            run_id,
            kind,
            phase,
            done: 0,
            total: None,
            message,
        });
    }
}

/// The channel's side of the worker.
struct Handler(Arc<Shared>);

impl ChannelHandler for Handler {
    async fn handle(&self, request: Request) -> Reply {
        let shared = self.0.clone();
        match request {
            Request::Status => {
                // The store is SQLite: read it off the async threads.
                match tokio::task::spawn_blocking(move || status_reply(&shared)).await {
                    Ok(status) => Reply::Status(Box::new(status)),
                    Err(e) => Reply::Error {
                        message: coded!("wk_status_failed", "status failed: {error}", error = e),
                    },
                }
            }
            Request::LookupUser { user } => {
                match tokio::task::spawn_blocking(move || lookup_user(&shared, &user)).await {
                    Ok(Ok(found)) => Reply::LookupUser(found),
                    Ok(Err(message)) => Reply::Error { message },
                    Err(e) => Reply::Error {
                        message: coded!("wk_lookup_failed", "look-up failed: {error}", error = e),
                    },
                }
            }
            Request::Sync { kind, dry_run } => queue_run(
                &shared,
                RunRequest::everyone(
                    kind,
                    RunOptions {
                        dry_run,
                        ..RunOptions::default()
                    },
                ),
            ),
            Request::ConfirmHeld => {
                let held = tokio::task::spawn_blocking(move || held_kind(&shared.store_path)).await;
                match held {
                    Ok(Some(kind)) => queue_run(
                        &self.0,
                        RunRequest::everyone(
                            kind,
                            RunOptions {
                                confirm_guard: true,
                                ..RunOptions::default()
                            },
                        ),
                    ),
                    _ => Reply::Error {
                        message: coded!("wk_no_held_plan", "no plan is waiting for confirmation"),
                    },
                }
            }
            Request::CancelHeld => {
                let path = shared.store_path.clone();
                let done = tokio::task::spawn_blocking(move || {
                    crate::store::Store::open(&path)
                        .and_then(|s| s.set_watermark(WATERMARK_HELD_PLAN, ""))
                })
                .await;
                match done {
                    Ok(Ok(())) => {
                        tracing::info!("the held plan was cancelled by the admin");
                        Reply::Accepted {
                            message: coded!(
                                "wk_held_dropped",
                                "the held plan was dropped; the next run plans afresh"
                            ),
                        }
                    }
                    Ok(Err(e)) => Reply::Error {
                        message: held_not_dropped(e),
                    },
                    Err(e) => Reply::Error {
                        message: held_not_dropped(e),
                    },
                }
            }
            Request::ApplyConfig { values } => apply_config(&shared, values),
            Request::StoreSecrets { secrets } => store_secrets(&shared, secrets),
            Request::Devices { offset, limit } => {
                match tokio::task::spawn_blocking(move || device_page(&shared, offset, limit)).await
                {
                    Ok(Ok(page)) => Reply::Devices(page),
                    Ok(Err(message)) => Reply::Error {
                        message: message.into(),
                    },
                    Err(e) => Reply::Error {
                        message: coded!(
                            "wk_device_list_failed",
                            "the device list failed: {error}",
                            error = e
                        ),
                    },
                }
            }
            Request::SyncUser { user } => {
                let known = tokio::task::spawn_blocking(move || lookup_user(&shared, &user)).await;
                match known {
                    Ok(Ok(found)) => sync_user(&self.0, &found.user),
                    Ok(Err(message)) => Reply::Error { message },
                    Err(e) => Reply::Error {
                        message: coded!("wk_lookup_failed", "look-up failed: {error}", error = e),
                    },
                }
            }
            Request::SearchGroups { prefix } => {
                let access = directory_access(
                    &shared.config_dir,
                    shared.secrets.as_ref(),
                    &shared.instance,
                );
                let found = match access {
                    Ok(access) => {
                        search_groups(
                            &access,
                            &crate::connection::ClientOptions::for_checks(),
                            &prefix,
                        )
                        .await
                    }
                    Err(message) => Err(message),
                };
                match found {
                    Ok(groups) => Reply::Groups { groups },
                    Err(message) => Reply::Error {
                        message: message.into(),
                    },
                }
            }
            // The server answers Subscribe itself.
            Request::Subscribe => Reply::Error {
                message: "subscribe is handled by the channel".into(),
            },
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.0.events.subscribe()
    }
}

fn queue_run(shared: &Shared, request: RunRequest) -> Reply {
    let mut live = shared.live();
    let phrase = request.phrase();
    if let Some(current) = &live.current
        && request.user.is_none()
    {
        if live.queued.contains(&request.kind) {
            return Reply::Accepted {
                message: coded!(
                    "wk_already_queued",
                    "a {current} is already running and a {run} is already queued after it"
                )
                .with_text("current", kind_phrase(current.kind))
                .with_text("run", phrase),
            };
        }
        live.queued.push(request.kind);
        drop(live);
        let _ = shared.requests.send(request);
        return Reply::Accepted {
            message: coded!(
                "wk_queued",
                "a sync is already running; the {run} is queued to run after it"
            )
            .with_text("run", phrase),
        };
    }
    drop(live);
    match shared.requests.send(request) {
        Ok(()) => Reply::Accepted {
            message: run_started(phrase),
        },
        Err(_) => Reply::Error {
            message: coded!("wk_stopping", "the worker is stopping"),
        },
    }
}

/// The progress line of a run while the engine reads, plans and applies (it reports no finer phase).
pub fn running_line() -> TextCode {
    coded!(
        "wk_running",
        "reading Exchange and Intune, planning and applying"
    )
}

/// "quick sync started", the reply and the first progress line of a run.
fn run_started(phrase: TextCode) -> TextCode {
    coded!("wk_run_started", "{run} started").with_text("run", phrase)
}

/// Why the held plan could not be dropped.
fn held_not_dropped(error: impl std::fmt::Display) -> TextCode {
    coded!(
        "wk_held_not_dropped",
        "cannot drop the held plan: {error}",
        error = error
    )
}

fn held_kind(store_path: &Path) -> Option<SyncKind> {
    let store = crate::store::Store::open(store_path).ok()?;
    let text = store.watermark(WATERMARK_HELD_PLAN).ok()??;
    let held: crate::sync::HeldPlan = serde_json::from_str(&text).ok()?;
    Some(held.kind)
}

fn apply_config(shared: &Shared, values: BTreeMap<String, String>) -> Reply {
    let mut config = match Config::from_values(&values) {
        Ok(c) => c,
        Err(errors) => {
            return Reply::Error {
                message: coded!(
                    "wk_config_not_applied",
                    "the configuration was not applied:\n{errors}",
                    errors = errors
                        .iter()
                        .map(|e| format!("  - {e}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            };
        }
    };
    // Elements of a newer version that this one does not know stay in the file.
    if let Ok(Some((_, unknown))) = Config::load_values(&shared.config_dir) {
        config.unknown = unknown;
    }
    match config.save(&shared.config_dir) {
        Ok(path) => {
            shared.live().reload = true;
            tracing::info!(file = %path.display(), "a new configuration was applied over the control channel");
            Reply::Accepted {
                message: coded!(
                    "wk_config_saved",
                    "configuration saved to {file}; it takes effect with the next run",
                    file = path.display()
                ),
            }
        }
        Err(e) => Reply::Error {
            message: coded!(
                "wk_config_not_saved",
                "the configuration was not saved: {error}",
                error = e
            ),
        },
    }
}

fn store_secrets(shared: &Shared, secrets: BTreeMap<String, crate::secret::Secret>) -> Reply {
    // All or nothing: a secret the store cannot take (too large for a credential) is refused before
    // any of the set is stored.
    if let Some(e) = secrets
        .iter()
        .find_map(|(key, value)| shared.secrets.check(key, value).err())
    {
        return Reply::Error {
            message: e.to_string().into(),
        };
    }
    let mut stored = Vec::new();
    for (key, value) in &secrets {
        let setting = match settings::lookup(key) {
            Ok(s) if s.is_secret() => s,
            Ok(s) => {
                return Reply::Error {
                    message: coded!(
                        "wk_not_a_secret",
                        "{key} is not a secret; apply it as configuration",
                        key = s.key
                    ),
                };
            }
            Err(e) => {
                return Reply::Error {
                    message: e.to_string().into(),
                };
            }
        };
        if let Err(e) = shared.secrets.set(&shared.instance, setting.key, value) {
            return Reply::Error {
                message: coded!(
                    "wk_secret_not_stored",
                    "storing {key}: {error}",
                    key = setting.key,
                    error = e
                ),
            };
        }
        stored.push(setting.key);
    }
    shared.live().reload = true;
    // Names only: never the values.
    tracing::info!(secrets = %stored.join(", "), store = %shared.secrets.describe(), "secrets stored over the control channel");
    Reply::Accepted {
        message: coded!(
            "wk_secrets_stored",
            "stored in the worker's {store}: {names}",
            names = stored.join(", ")
        )
        .with_text("store", shared.secrets.describe()),
    }
}

/// The status the channel returns: the store's report plus what only the running worker knows.
fn status_reply(shared: &Shared) -> StatusReply {
    let mut status = {
        let live = shared.live();
        StatusReply {
            instance: shared.instance.clone(),
            connection: live.connection.clone(),
            last_error: live.last_error.clone(),
            current_run: live.current.clone(),
            queued: live.queued.clone(),
            next_run: live.next_run,
            last_report: live.last_report.clone(),
            registration: live.registration.clone(),
            certificate: live.certificate.clone(),
            exchange_server: live.exchange_server.clone(),
            ..StatusReply::default()
        }
    };
    match crate::store::Store::open(&shared.store_path) {
        Ok(store) => {
            status.report = status_report(&store).map_err(|e| e.to_string());
            status.recent_changes = store.recent_changes(RECENT_CHANGES).unwrap_or_default();
            status.history = history(&store);
        }
        Err(e) => status.report = Err(e.to_string()),
    }
    status
}

/// A user's devices as the store knows them: Exchange's state and reason at the last sync, and the
/// connector's last decision with its reason and when it was applied. `user` is the mailbox alias or
/// an address whose local part is the alias.
fn lookup_user(shared: &Shared, user: &str) -> Result<LookupReply, TextCode> {
    let store = crate::store::Store::open(&shared.store_path).map_err(|e| e.to_string())?;
    let user = user.trim();
    let mut candidates = vec![user.to_string()];
    if let Some((local, _)) = user.split_once('@') {
        candidates.push(local.to_string());
    }
    for mailbox in candidates {
        let inventory = store
            .inventory_for_mailbox(&mailbox)
            .map_err(|e| e.to_string())?;
        let mut decisions = store
            .decisions_for_user(&mailbox)
            .map_err(|e| e.to_string())?;
        if inventory.is_empty() && decisions.is_empty() {
            continue;
        }
        let devices = inventory
            .into_iter()
            .map(|device| {
                let decision = decisions
                    .iter()
                    .position(|x| x.device_id.eq_ignore_ascii_case(&device.device_id))
                    .map(|i| decisions.swap_remove(i));
                DeviceLookup { device, decision }
            })
            .collect();
        return Ok(LookupReply {
            user: mailbox,
            devices,
        });
    }
    Err(coded!(
        "wk_user_unknown",
        "no device of '{user}' is known yet: check the mailbox alias or address, or wait for the next sync",
        user = user
    ))
}

/// One page of the device table: the store's inventory with each device's last decision.
fn device_page(shared: &Shared, offset: usize, limit: usize) -> Result<DevicePage, String> {
    let store = crate::store::Store::open(&shared.store_path).map_err(|e| e.to_string())?;
    let total = store.inventory_count().map_err(|e| e.to_string())?;
    let inventory = store
        .inventory_page(offset, limit.clamp(1, DEVICE_PAGE_MAX))
        .map_err(|e| e.to_string())?;
    let mut decisions: BTreeMap<String, Vec<crate::store::DecisionRecord>> = BTreeMap::new();
    let mut devices = Vec::with_capacity(inventory.len());
    for device in inventory {
        if !decisions.contains_key(&device.mailbox) {
            let found = store
                .decisions_for_user(&device.mailbox)
                .map_err(|e| e.to_string())?;
            decisions.insert(device.mailbox.clone(), found);
        }
        let decision = decisions.get(&device.mailbox).and_then(|list| {
            list.iter()
                .find(|x| x.device_id.eq_ignore_ascii_case(&device.device_id))
                .cloned()
        });
        devices.push(DeviceLookup { device, decision });
    }
    Ok(DevicePage {
        total,
        offset,
        devices,
    })
}

/// "Sync this user now": a one-user run of that mailbox ([`SyncEngine::run_user`]), queued behind the
/// run in flight if there is one.
fn sync_user(shared: &Shared, mailbox: &str) -> Reply {
    let busy = shared.live().current.is_some();
    let reply = queue_run(
        shared,
        RunRequest {
            kind: SyncKind::Quick,
            options: RunOptions::default(),
            user: Some(mailbox.to_string()),
        },
    );
    match reply {
        Reply::Accepted { .. } if busy => Reply::Accepted {
            message: coded!(
                "wk_user_sync_queued",
                "a sync is running; the sync of {user} is queued to run after it",
                user = mailbox
            ),
        },
        other => other,
    }
}

/// What the group search signs in with: the configuration's tenant, app and Graph, with the
/// credential and proxy from `secrets` (the worker's own vault; the setup's store when no worker runs).
pub fn directory_access(
    config_dir: &Path,
    secrets: &dyn SecretStore,
    instance: &str,
) -> Result<crate::connection::DirectoryAccess, String> {
    let config = Config::load(config_dir).map_err(|e| e.to_string())?.config;
    Ok(crate::connection::DirectoryAccess {
        login_base: config.login_base.clone(),
        tenant: config.tenant_id.clone(),
        client_id: config.client_id.clone(),
        credential: setup::client_credential(secrets, instance).map_err(|e| e.to_string())?,
        graph_base: config.graph_base.clone(),
        graph_scope: setup::graph_scope(&config.graph_base),
        extra_ca: config.trusted_ca_file.clone(),
        proxy: crate::proxy::configured(&config, secrets, instance).map_err(|e| e.to_string())?,
    })
}

/// The directory's groups whose name starts with `prefix` (at most [`GROUP_SEARCH_MAX`]), each with
/// the users it holds transitively (the same read a run makes), through
/// [`crate::connection::directory_client`]: what [`Request::SearchGroups`] answers.
pub async fn search_groups(
    access: &crate::connection::DirectoryAccess,
    options: &crate::connection::ClientOptions,
    prefix: &str,
) -> Result<Vec<GroupHit>, String> {
    let client = crate::connection::directory_client(access, options)
        .map_err(|e| crate::error_text::chain(&e))?;
    let groups = client
        .search_groups(prefix.trim(), GROUP_SEARCH_MAX)
        .await
        .map_err(|e| e.to_string())?;
    let mut hits = Vec::new();
    for group in groups {
        let members = client
            .transitive_user_ids(&group.id)
            .await
            .ok()
            .map(|u| u.len());
        hits.push(GroupHit {
            id: group.id,
            name: group.display_name,
            members,
        });
    }
    Ok(hits)
}

/// Decisions of the last successful full sync of each of the last days, oldest first: the status
/// page's chart.
fn history(store: &crate::store::Store) -> Vec<HistoryDay> {
    let mut by_day: BTreeMap<chrono::NaiveDate, BTreeMap<String, u64>> = BTreeMap::new();
    for run in store.recent_runs(200).unwrap_or_default() {
        if run.kind != crate::store::RunKind::Full
            || run.outcome != crate::store::RunOutcome::Succeeded
        {
            continue;
        }
        // Newest first: the first run seen of a day is its last.
        by_day
            .entry(run.started_at.date_naive())
            .or_insert_with(|| {
                serde_json::from_value(run.counts["decisions"].clone()).unwrap_or_default()
            });
    }
    let days = by_day.len();
    by_day
        .into_iter()
        .skip(days.saturating_sub(HISTORY_DAYS))
        .map(|(day, decisions)| HistoryDay { day, decisions })
        .collect()
}

/// Builds the engine from the configuration and the worker's own secrets, with the local policy
/// (`policy.json`, or the default policy): a run never depends on the tenant's retired settings.
pub async fn build_engine(
    config_dir: &Path,
    secrets: &dyn SecretStore,
    instance: &str,
) -> Result<(SyncEngine, Schedule), WorkerError> {
    let loaded = Config::load(config_dir)?;
    for w in &loaded.warnings {
        tracing::warn!("configuration: {w}");
    }
    let config = loaded.config;
    let schedule = Schedule {
        quick_interval: chrono::Duration::minutes(i64::from(
            config.quick_sync_interval_minutes.max(1),
        )),
        full_at: config.full_sync_time,
    };
    let settings = crate::policy_import::local_policy(config_dir)?;
    let engine = setup::sync_setup(&config, secrets, instance, config_dir, settings)?.build()?;
    Ok((engine, schedule))
}

/// The earliest a plan held by the mass-change guard is planned again without a confirmation.
const HELD_RETRY: chrono::Duration = chrono::Duration::hours(1);

/// Access changes shown in status.
const RECENT_CHANGES: usize = 20;
/// Days of history in status.
const HISTORY_DAYS: usize = 14;

/// Days before the certificate expires from which the admins are warned.
pub const CERTIFICATE_WARNING_DAYS: i64 = 30;
/// The day the certificate warning was last mailed (watermark).
const WATERMARK_CERTIFICATE_WARNED: &str = "certificate_warning_mailed";
/// The day the certificate rotation was last tried and failed (watermark): one try a day.
const WATERMARK_ROTATION_FAILED: &str = "certificate_rotation_failed";

/// The worker. [`Worker::run`] serves until `stop` turns true.
pub struct Worker {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedReceiver<RunRequest>,
    address: ChannelAddress,
    quick_interval: Option<Duration>,
    stop_grace: Duration,
    /// The connector certificate's subject and end of validity, read once per engine build.
    certificate: Option<(String, DateTime<Utc>)>,
    /// The last automatic rotation, for status.
    rotated: Option<String>,
    /// Why the last rotation failed (kept in the warning until one succeeds).
    rotation_problem: Option<String>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("instance", &self.shared.instance)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker; nothing runs until [`Worker::run`].
    pub fn new(options: WorkerOptions) -> Worker {
        let (events, _) = broadcast::channel(256);
        let (tx, rx) = mpsc::unbounded_channel();
        let store_path = options.config_dir.join(setup::STATE_DB);
        Worker {
            shared: Arc::new(Shared {
                instance: options.instance,
                config_dir: options.config_dir,
                secrets: options.secrets,
                events,
                requests: tx,
                live: Mutex::new(Live {
                    current: None,
                    queued: Vec::new(),
                    connection: Connection::NotConnectedYet,
                    last_error: None,
                    next_run: None,
                    reload: true,
                    last_report: None,
                    registration: Registration::NotYet,
                    certificate: None,
                    exchange_server: None,
                }),
                store_path,
            }),
            requests: rx,
            address: options.address,
            quick_interval: options.quick_interval,
            stop_grace: options.stop_grace,
            certificate: None,
            rotated: None,
            rotation_problem: None,
        }
    }

    /// Serves the channel and runs the schedule until `stop` turns true; then lets the run in flight
    /// finish (up to the grace period; the journal covers the rest), closes every Exchange session and
    /// removes the socket.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(), WorkerError> {
        let (channel_stop_tx, channel_stop) = watch::channel(false);
        let handler = Arc::new(Handler(self.shared.clone()));
        let address = self.address.clone();
        // Bind before announcing: a second worker on the same instance fails here.
        let server = {
            let address = address.clone();
            tokio::spawn(async move { channel::serve(&address, handler, channel_stop).await })
        };
        tracing::info!(instance = %self.shared.instance, channel = %address.0, "worker started");

        let mut engine: Option<Arc<SyncEngine>> = None;
        let mut schedule = Schedule::default();
        let mut retry_at: Option<DateTime<Utc>> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            if server.is_finished() {
                break;
            }
            // (Re)build the engine when needed.
            let reload = std::mem::take(&mut self.shared.live().reload);
            if (reload || engine.is_none()) && retry_at.is_none_or(|t| reload || Utc::now() >= t) {
                if let Some(old) = engine.take() {
                    old.shutdown().await;
                }
                match build_engine(
                    &self.shared.config_dir,
                    self.shared.secrets.as_ref(),
                    &self.shared.instance,
                )
                .await
                {
                    Ok((e, s)) => {
                        // Each step waits on the tenant or Exchange, which may not answer for
                        // minutes (retries, a server that is down): a stop ends them at once.
                        let prepared = tokio::select! {
                            _ = stop.changed() => None,
                            in_use = self.prepare(&e) => Some(in_use),
                        };
                        let Some(in_use) = prepared else {
                            tracing::info!("stop requested while the worker was getting ready");
                            e.shutdown().await;
                            break;
                        };
                        self.shared.live().exchange_server = in_use;
                        engine = Some(Arc::new(e));
                        schedule = s;
                        retry_at = None;
                        let mut live = self.shared.live();
                        live.last_error = None;
                        live.connection = Connection::Configured;
                    }
                    Err(e) => {
                        let message = crate::error_text::chain(&e);
                        tracing::error!("the sync engine cannot start: {message}");
                        let mut live = self.shared.live();
                        live.last_error = Some(message);
                        live.connection = Connection::NotConfigured;
                        retry_at = Some(Utc::now() + chrono::Duration::minutes(1));
                    }
                }
            }
            if let Some(q) = self.quick_interval {
                schedule.quick_interval =
                    chrono::Duration::from_std(q).unwrap_or(chrono::Duration::minutes(1));
            }
            // What is due next.
            let (due, mut when) = match &engine {
                Some(e) => {
                    let (lq, lf) = last_runs(e).await;
                    schedule.next(Utc::now(), &Local, lq, lf)
                }
                None => (Due::Quick, retry_at.unwrap_or_else(Utc::now)),
            };
            if let Some(t) = retry_at {
                when = when.max(t);
            }
            let due_kind = match due {
                Due::Quick => SyncKind::Quick,
                Due::Full => SyncKind::Full,
            };
            self.shared.live().next_run = Some(NextRun {
                kind: due_kind,
                at: when,
            });
            let wait = (when - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            let request = tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(wait) => {
                    if engine.is_none() { continue; }
                    RunRequest::everyone(due_kind, RunOptions::default())
                }
                r = self.requests.recv() => match r {
                    Some(r) => r,
                    None => break,
                },
            };
            // A reload asked for while waiting applies before this run.
            if self.shared.live().reload {
                let _ = self.shared.requests.send(request);
                continue;
            }
            let Some(current) = engine.clone() else {
                let message = self
                    .shared
                    .live()
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "the engine is not built".into());
                self.shared.progress(
                    request.kind,
                    RunPhase::Failed,
                    coded!(
                        "wk_not_started",
                        "{run} not started: {error}",
                        error = message
                    )
                    .with_text("run", request.phrase()),
                    None,
                );
                continue;
            };
            let one_user = request.user.is_some();
            let stopped = self.one_run(current, request, &mut stop).await;
            if one_user {
                // A one-user run leaves the schedule (and its retry) as it was.
                if stopped {
                    break;
                }
                continue;
            }
            let outcome = self.shared.live().last_report.as_ref().map(|r| r.outcome);
            // A failed run is retried after the quick interval, not in a tight loop; a plan the
            // guard holds waits for the admin's confirmation (a request), else is planned again
            // after HELD_RETRY at the earliest.
            retry_at = match outcome {
                Some(SyncOutcome::Failed) => Some(Utc::now() + schedule.quick_interval),
                Some(SyncOutcome::HeldByGuard) => {
                    Some(Utc::now() + schedule.quick_interval.max(HELD_RETRY))
                }
                _ => None,
            };
            if stopped {
                break;
            }
        }
        tracing::info!("worker stopping: no new run will start");
        if let Some(e) = engine.take() {
            e.shutdown().await;
        }
        let _ = channel_stop_tx.send(true);
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => tracing::warn!("control channel task: {e}"),
        }
        tracing::info!("worker stopped; every Exchange session is closed");
        Ok(())
    }

    /// What follows a (re)built engine: the registration in Intune, the certificate's expiry (and
    /// its rotation), the Exchange version. Cancelled by a stop: a rotation cut off between `addKey`
    /// and storing the new certificate leaves an unused key on the app, the current one still works.
    async fn prepare(&mut self, engine: &SyncEngine) -> Option<ExchangeServerInUse> {
        self.register(engine).await;
        self.certificate = self.read_certificate();
        self.check_certificate(engine).await;
        let mut in_use = exchange_in_use(engine);
        if let Some(in_use) = in_use.as_mut() {
            exchange_version(engine, in_use).await;
        }
        in_use
    }

    /// Registers the connector in Intune; a refusal is kept for status, never fatal.
    async fn register(&self, engine: &SyncEngine) {
        let result = match Config::load(&self.shared.config_dir) {
            Ok(loaded) => super::registration::register(engine.intune(), &loaded.config)
                .await
                .map_err(|e| crate::error_text::chain(&e)),
            Err(e) => Err(e.to_string()),
        };
        let registration = match result {
            Ok(id) => {
                tracing::info!(id = %id, "registered in Intune as an Exchange connector");
                Registration::Registered { id }
            }
            Err(problem) => {
                tracing::warn!(
                    "the tenant refused the connector's registration (syncs go on): {problem}"
                );
                Registration::Refused { problem }
            }
        };
        self.shared.live().registration = registration;
    }

    /// The stored certificate's subject and expiry (`None` with a client secret).
    fn read_certificate(&self) -> Option<(String, DateTime<Utc>)> {
        match setup::client_credential(self.shared.secrets.as_ref(), &self.shared.instance) {
            Ok(crate::oauth::ClientCredential::Certificate(cert)) => {
                Some((cert.subject.clone(), cert.not_after()?))
            }
            _ => None,
        }
    }

    /// From [`super::rotation::ROTATE_DAYS_BEFORE_EXPIRY`] days before the certificate expires, rolls
    /// it (at most one failed try a day); the engine is rebuilt on the new one.
    async fn rotate_certificate(&mut self, engine: &SyncEngine) {
        let current =
            match setup::client_credential(self.shared.secrets.as_ref(), &self.shared.instance) {
                Ok(crate::oauth::ClientCredential::Certificate(cert)) => cert,
                _ => return,
            };
        if !super::rotation::needs_rotation(&current, Utc::now()) {
            return;
        }
        let today = Utc::now().date_naive().to_string();
        let failed_on = engine
            .with_store(|s| s.watermark(WATERMARK_ROTATION_FAILED))
            .ok()
            .flatten();
        if failed_on.as_deref() == Some(today.as_str()) {
            return;
        }
        let outcome = match (
            Config::load(&self.shared.config_dir),
            engine.intune().app_token().await,
        ) {
            (Ok(loaded), Ok(token)) => {
                super::rotation::rotate(
                    &loaded.config,
                    self.shared.secrets.as_ref(),
                    &self.shared.instance,
                    &current,
                    token,
                )
                .await
            }
            (Err(e), _) => Err(super::rotation::RotationError::Token(e.to_string())),
            (_, Err(e)) => Err(super::rotation::RotationError::Token(
                crate::error_text::chain(&e),
            )),
        };
        match outcome {
            Ok(rotated) => {
                tracing::info!("the connector's certificate was {rotated}");
                self.rotated = Some(rotated.to_string());
                self.rotation_problem = None;
                self.certificate = self.read_certificate();
                self.shared.live().reload = true;
            }
            Err(e) => {
                let problem = format!(
                    "the automatic certificate rotation failed (tried again tomorrow): {}",
                    crate::error_text::chain(&e)
                );
                tracing::warn!("{problem}");
                self.rotation_problem = Some(problem);
                let _ = engine.with_store(|s| s.set_watermark(WATERMARK_ROTATION_FAILED, &today));
            }
        }
    }

    /// Keeps the certificate's expiry in status and, from [`CERTIFICATE_WARNING_DAYS`] before it
    /// expires, mails the admins once a day (a sign-in with an expired certificate is refused).
    /// The service first tries to roll it itself ([`Worker::rotate_certificate`]).
    async fn check_certificate(&mut self, engine: &SyncEngine) {
        self.rotate_certificate(engine).await;
        let Some((subject, expires)) = self.certificate.clone() else {
            self.shared.live().certificate = None;
            return;
        };
        let now = Utc::now();
        let days = (expires - now).num_days();
        let on = expires.format("%Y-%m-%d");
        let warning = if expires <= now {
            Some(format!(
                "the connector's certificate ({}) expired on {on}: Intune and Exchange Online refuse it. Download a new connector package and import it (setup: Settings, or `configure`).",
                subject
            ))
        } else if days < CERTIFICATE_WARNING_DAYS {
            Some(format!(
                "the connector's certificate ({}) expires on {on}, in {days} days: download a new connector package and import it before then (setup: Settings, or `configure`).",
                subject
            ))
        } else {
            None
        };
        let warning = match (&self.rotation_problem, warning) {
            (Some(problem), Some(w)) => Some(format!("{w} ({problem})")),
            (Some(problem), None) => Some(problem.clone()),
            (None, w) => w,
        };
        self.shared.live().certificate = Some(CertificateStatus {
            expires,
            warning: warning.clone(),
            rotated: self.rotated.clone(),
        });
        let Some(warning) = warning else { return };
        let today = now.date_naive().to_string();
        let mailed = engine
            .with_store(|s| s.watermark(WATERMARK_CERTIFICATE_WARNED))
            .ok()
            .flatten();
        if mailed.as_deref() == Some(today.as_str()) {
            return;
        }
        let html = format!(
            "<p>{}</p><p>Exchange Connector, instance {}.</p>",
            crate::notify::template::escape_html(&warning),
            crate::notify::template::escape_html(&self.shared.instance)
        );
        match engine
            .mail_admins(
                "Exchange Connector: the connector certificate expires",
                &html,
            )
            .await
        {
            Ok(true) => {
                tracing::warn!("{warning} (the notification mailbox was told)");
                let _ =
                    engine.with_store(|s| s.set_watermark(WATERMARK_CERTIFICATE_WARNED, &today));
            }
            Ok(false) => tracing::warn!("{warning} (no NotificationMailbox to tell the admins)"),
            Err(e) => tracing::warn!(
                "{warning} (the warning mail could not be sent, tried again later: {})",
                crate::error_text::chain(&e)
            ),
        }
    }

    /// Runs one sync; returns true when a stop arrived meanwhile.
    async fn one_run(
        &mut self,
        engine: Arc<SyncEngine>,
        request: RunRequest,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let kind = request.kind;
        let phrase = request.phrase();
        {
            let mut live = self.shared.live();
            if request.user.is_none() {
                live.queued.retain(|k| *k != kind);
            }
            live.current = Some(CurrentRun {
                kind,
                started_at: Utc::now(),
                phase: RunPhase::Started,
                dry_run: request.options.dry_run,
            });
        }
        let started = run_started(phrase.clone());
        tracing::info!("{started}");
        self.shared.progress(kind, RunPhase::Started, started, None);
        self.shared
            .progress(kind, RunPhase::Running, running_line(), None);
        // Polled in place: the engine's run future is not `Send`-general enough to spawn.
        let task = async {
            match &request.user {
                Some(user) => engine.run_user(user).await,
                None => engine.run(kind, request.options).await,
            }
        };
        tokio::pin!(task);
        let mut stopped = false;
        let report = tokio::select! {
            r = &mut task => r,
            _ = stop.changed() => {
                stopped = true;
                tracing::info!("stop requested while a {} runs: letting it finish (at most {} s)", kind.phrase(), self.stop_grace.as_secs());
                self.shared.progress(kind, RunPhase::Stopping, coded!("wk_service_stopping", "the service is stopping; the run in flight finishes first"), None);
                match tokio::time::timeout(self.stop_grace, &mut task).await {
                    Ok(r) => r,
                    Err(_) => {
                        // Dropping the run stops it at its next await; the journal holds what was sent.
                        tracing::warn!("the {} did not finish in time; changes left open are settled by the next run", kind.phrase());
                        self.shared.live().current = None;
                        return true;
                    }
                }
            }
        };
        log_report(&report);
        let run = match request.user {
            Some(_) => phrase.clone(),
            None => kind_phrase(report.kind),
        };
        let finished = coded!(
            "wk_run_finished",
            "{run} {outcome}: Devices synced: {devices}",
            devices = report.devices_seen
        )
        .with_text("run", run)
        .with_text("outcome", outcome_text(report.outcome));
        {
            let mut live = self.shared.live();
            live.current = None;
            live.connection = match report.outcome {
                SyncOutcome::Failed => Connection::Failed {
                    error: report.error.clone().unwrap_or_else(|| "run failed".into()),
                },
                _ => Connection::Connected,
            };
            live.last_error = report.error.clone();
            live.last_report = Some(report.clone());
        }
        self.shared
            .progress(report.kind, RunPhase::Finished, finished, report.run_id);
        // Like the preparation, these wait on the tenant: a stop (or one during the run) skips them.
        if !stopped {
            tokio::select! {
                _ = stop.changed() => stopped = true,
                _ = self.after_run(&engine, &report, request.options.dry_run) => {}
            }
        }
        stopped
    }

    /// After a run: the certificate's expiry, the server in use, and the run reported to Intune.
    async fn after_run(&mut self, engine: &SyncEngine, report: &RunReport, dry_run: bool) {
        self.check_certificate(engine).await;
        let mut in_use = exchange_in_use(engine);
        if let (Some(in_use), Some(known)) =
            (in_use.as_mut(), self.shared.live().exchange_server.as_ref())
        {
            in_use.version = known.version.clone();
            in_use.version_supported = known.version_supported;
            in_use.unsupported = known.unsupported.clone();
        }
        self.shared.live().exchange_server = in_use;
        let registration = self.shared.live().registration.clone();
        if let Registration::Registered { id } = registration
            && !dry_run
        {
            let ok = report.outcome == SyncOutcome::Succeeded;
            if let Err(e) =
                super::registration::report_run(engine.intune(), &id, ok, Utc::now()).await
            {
                let e = crate::error_text::chain(&e);
                tracing::warn!("cannot update the connector's status in Intune: {e}");
                self.shared.live().registration = Registration::Refused { problem: e };
            }
        }
    }
}

/// The Client Access server the bridge uses and, after a failover, the primary (REST: `None`).
fn exchange_in_use(engine: &SyncEngine) -> Option<ExchangeServerInUse> {
    let failover = engine.exchange().pool().failover()?;
    let (current, primary) = (failover.current(), failover.primary());
    let failed_over_from = (current.fqdn != primary.fqdn).then_some(primary.fqdn);
    Some(ExchangeServerInUse {
        server: current.fqdn,
        failed_over_from,
        version: None,
        version_supported: None,
        unsupported: None,
    })
}

/// Reads the on-premises Exchange version once the engine is built (status says when it is out of
/// support); a failed read leaves it unknown and is only logged.
async fn exchange_version(engine: &SyncEngine, in_use: &mut ExchangeServerInUse) {
    match engine.exchange().exchange_versions().await {
        Ok(versions) => {
            let unsupported = versions
                .iter()
                .find(|(_, v)| v.support != crate::exchange::ExchangeSupport::Supported);
            let (server, version) = match unsupported.or(versions.first()) {
                Some(found) => found,
                None => return,
            };
            in_use.version = Some(version.summary_of(server).english);
            in_use.version_supported = Some(unsupported.is_none());
            in_use.unsupported = match version.support {
                crate::exchange::ExchangeSupport::OutOfSupport { .. } => {
                    Some(super::messages::UnsupportedExchange {
                        server: server.clone(),
                        product: version.product.to_string(),
                        version: version.admin_display_version.clone(),
                        since: version.support_ended().unwrap_or_default(),
                    })
                }
                _ => None,
            };
        }
        Err(e) => tracing::warn!(
            "the Exchange version could not be read (Get-ExchangeServer): {}",
            crate::error_text::chain(&e)
        ),
    }
}

/// How a run ended, as the last progress line and the log say it.
fn outcome_text(outcome: SyncOutcome) -> TextCode {
    match outcome {
        SyncOutcome::Succeeded => coded!("wk_outcome_succeeded", "succeeded"),
        SyncOutcome::HeldByGuard => coded!("wk_outcome_held", "held for confirmation"),
        SyncOutcome::DryRun => coded!("wk_outcome_dry_run", "dry run"),
        SyncOutcome::Failed => coded!("wk_outcome_failed", "failed"),
    }
}

/// The lines admins grep for.
fn log_report(report: &RunReport) {
    let phrase = report.kind.phrase();
    match report.outcome {
        SyncOutcome::Failed => tracing::error!(
            "{phrase} failed after {} ms: {}",
            report.duration_ms,
            report.error.as_deref().unwrap_or("unknown error")
        ),
        outcome => tracing::info!(
            "{phrase} {}. Devices synced: {}. Mailboxes: {}. Changes applied: {}, failed: {}. Duration: {} ms",
            outcome_text(outcome),
            report.devices_seen,
            report.mailboxes_seen,
            report.changes_applied,
            report.changes_failed,
            report.duration_ms
        ),
    }
    for w in &report.warnings {
        tracing::warn!("{phrase}: {w}");
    }
}

/// The last successful quick and full sync times.
async fn last_runs(engine: &SyncEngine) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let at = |kind| {
        engine.with_store(|s| {
            s.last_successful_run(kind)
                .ok()
                .flatten()
                .map(|r| r.started_at)
        })
    };
    (at(RunKind::Quick), at(RunKind::Full))
}
