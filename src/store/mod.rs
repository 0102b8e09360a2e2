//! The state store (issue 4, item 6): one SQLite file in WAL mode holding the device inventory, the last
//! decision per device, the entries the connector owns, an audit trail of every change applied to
//! Exchange, runs, watermarks, a crash-safety journal and the notifications sent.
//!
//! Synchronous by design (rusqlite is): async callers run it on a blocking thread
//! (`tokio::task::spawn_blocking`). One [`Store`] is one connection; it is `Send`, not `Sync`.
//!
//! Crash safety: [`Store::journal_pending`] commits a change, with its origin (rollout or policy),
//! before it is sent to Exchange, and in the same transaction records every entry it adds as owned
//! (pending): from that moment the connector never mistakes the entry for an admin's, whatever happens
//! next. [`Store::settle_change`] then records, in one transaction, the journal result, the audit entries
//! and the ownership of the entries added (confirmed) or removed; a refused change drops its pending
//! entries. A write whose answer never came stays pending ([`Store::journal_unanswered`]).
//! [`Store::open_journal_entries`] returns what a crashed or unanswered change left open, and
//! [`Store::reconcile_open_entry`] settles each from the lists Exchange has now, with audit rows: an
//! added entry on the list is owned, one that is not is forgotten. `synchronous=FULL` makes each journal
//! write durable across power loss, not only process death.
//!
//! Schema: migrations in `store/migrations.rs` applied from `PRAGMA user_version`, each in a transaction.

mod cas_servers;
mod migrations;
mod run_lease;
mod savepoint;

pub use cas_servers::{KnownCasServer, StoreServerMemory};
pub use run_lease::RunHolder;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::model::exchange::{Caseless, DeviceAccessState, DeviceAccessStateReason};
use crate::model::intune::ExchangeAccessStateReason;
use crate::policy::{Decision, DesiredAccess, ListKind, MailboxChange, OwnedEntries};

/// How long a write waits for another connection's lock before failing with [`StoreError::Locked`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = migrations::MIGRATIONS.len() as u32;

/// A store failure, saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error(
        "cannot open the state database {path}: {source}. Check that the directory exists and that the \
         service account may create and write files in it"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another process holds the lock longer than the busy timeout.
    #[error(
        "the state database {path} is locked by another process (waited {BUSY_TIMEOUT:?}): is a second \
         connector service or a manual sync running against the same configuration directory? Stop it, \
         or retry"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The disk is full.
    #[error(
        "the disk holding the state database {path} is full: free space on that volume, then retry"
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// The file or its directory is read-only.
    #[error(
        "the state database {path} is not writable: give the service account write permission on the \
         file, its -wal and -shm companions and their directory"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// Not an SQLite database, or damaged.
    #[error(
        "the state database {path} is damaged or not an SQLite file: stop the service, move the file \
         aside (keep it for support) and restart; a new database is created, but the record of entries \
         the connector owns is lost, so run a full sync in rollout mode"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
    },
    /// Written by a newer build.
    #[error(
        "the state database {path} has schema version {found}, newer than this build supports \
         ({supported}): upgrade the connector, or restore the database that matches this version"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A migration failed (the database stays at the previous version).
    #[error(
        "migrating the state database {path} to schema version {version} failed: {source}. Nothing was \
         changed; report this with the diagnostics bundle"
    )]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version being migrated to.
        version: u32,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Any other SQLite failure.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A stored value this build cannot read.
    #[error(
        "state database {path}: unreadable stored {what}: {detail}. The row was written by another \
         version or edited by hand"
    )]
    Data {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// The problem.
        detail: String,
    },
    /// Another process (or connection) is running a sync against this store.
    #[error(
        "another sync is running against the state database {path}: {}. One run at a time may use a \
         store: wait for it to finish, or stop that process (a process that died frees the store at \
         once)",
        run_lease::holder_text(.holder)
    )]
    RunInProgress {
        /// The database file.
        path: PathBuf,
        /// Who runs, when it recorded itself.
        holder: Option<Box<RunHolder>>,
    },
    /// The run lock file beside the database cannot be created or locked.
    #[error(
        "cannot lock {path} to run a sync: {source}. Give the service account write permission on the \
         folder of the state database"
    )]
    RunLock {
        /// The lock file (`<db>.lock`).
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The result type of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A run's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunKind {
    /// Reads only what changed since the watermarks.
    Quick,
    /// Reads everything.
    Full,
    /// Allow-lists the devices already syncing before enforcement.
    Rollout,
}

impl RunKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Quick => "quick",
            RunKind::Full => "full",
            RunKind::Rollout => "rollout",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [RunKind::Quick, RunKind::Full, RunKind::Rollout]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunOutcome {
    /// Not finished (running, or the process died).
    Running,
    /// Applied its plan.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Held by the mass-change guard, waiting for the admin.
    Held,
    /// Computed the plan without applying it.
    DryRun,
}

impl RunOutcome {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Held => "held",
            RunOutcome::DryRun => "dry-run",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            RunOutcome::Running,
            RunOutcome::Succeeded,
            RunOutcome::Failed,
            RunOutcome::Held,
            RunOutcome::DryRun,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// A run's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Id.
    pub id: RunId,
    /// Kind.
    pub kind: RunKind,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    pub ended_at: Option<DateTime<Utc>>,
    /// Counts (JSON object: devices read, decisions by kind, changes applied, ...).
    pub counts: serde_json::Value,
    /// Outcome.
    pub outcome: RunOutcome,
    /// The one mailbox a one-user run covered; `None`: everyone.
    pub mailbox: Option<String>,
    /// Error, when failed or held.
    pub error: Option<String>,
}

/// A journal entry's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JournalId(pub i64);

/// How a journaled change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalResult {
    /// Exchange accepted it.
    Applied,
    /// Exchange refused it.
    Failed(String),
    /// Left pending by a crashed run; a later run compared it with Exchange and settled it.
    Reconciled,
}

/// A change left pending (sent or not, landed or not: unknown) by a run that did not finish or got no
/// answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Id, for [`Store::journal_done`].
    pub id: JournalId,
    /// The run that journaled it.
    pub run_id: Option<RunId>,
    /// Which phase made it: the rollout (its allow entries grandfather devices) or the policy.
    pub origin: OwnedOrigin,
    /// The change.
    pub change: MailboxChange,
    /// When it was journaled.
    pub created_at: DateTime<Utc>,
}

/// Who added an owned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OwnedOrigin {
    /// The policy's decision.
    Policy,
    /// The rollout (the device was syncing before enforcement: grandfathered).
    Rollout,
}

impl OwnedOrigin {
    fn as_str(self) -> &'static str {
        match self {
            OwnedOrigin::Policy => "policy",
            OwnedOrigin::Rollout => "rollout",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [OwnedOrigin::Policy, OwnedOrigin::Rollout]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// A list entry the connector added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedEntry {
    /// Mailbox identity.
    pub mailbox: String,
    /// Which list.
    pub list: ListKind,
    /// DeviceId.
    pub device_id: String,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// The run that added it.
    pub run_id: Option<RunId>,
    /// Why.
    pub origin: OwnedOrigin,
}

/// One device of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryRecord {
    /// Mailbox identity.
    pub mailbox: String,
    /// DeviceId.
    pub device_id: String,
    /// Family.
    pub device_type: String,
    /// Model.
    pub device_model: Option<String>,
    /// First time the connector saw it (kept on update).
    pub first_seen: DateTime<Utc>,
    /// Last time the connector saw it.
    pub last_seen: DateTime<Utc>,
    /// Exchange's current state.
    pub access_state: DeviceAccessState,
    /// Exchange's reason.
    pub access_reason: DeviceAccessStateReason,
    /// The mailbox owner's display name, as Exchange reports it on the partnership.
    #[serde(default)]
    pub user_display_name: Option<String>,
    /// The phone's operating system (`DeviceOS`).
    #[serde(default)]
    pub device_os: Option<String>,
    /// The EAS protocol the client speaks (`ClientVersion`, e.g. `16.1`).
    #[serde(default)]
    pub client_version: Option<String>,
    /// Exchange Online refuses this client: its EAS protocol is below 16.1 (since 1 March 2026). Set
    /// only for a hosted organisation; a flag for the admin, never a decision of the connector.
    #[serde(default)]
    pub eas_protocol_refused: bool,
}

/// The last decision about a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Mailbox identity.
    pub mailbox: String,
    /// DeviceId.
    pub device_id: String,
    /// The decision.
    pub decision: Decision,
    /// When it was taken.
    pub decided_at: DateTime<Utc>,
    /// When Exchange was made to agree (none while pending, or when nothing had to change).
    pub applied_at: Option<DateTime<Utc>>,
    /// The run that took it.
    pub run_id: Option<RunId>,
}

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeOp {
    /// Added to a list.
    Add,
    /// Removed from a list.
    Remove,
}

impl ChangeOp {
    fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Add => "add",
            ChangeOp::Remove => "remove",
        }
    }
}

/// One change applied to Exchange, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The run.
    pub run_id: Option<RunId>,
    /// Who: the connector host and account (`HOST\account`).
    pub actor: String,
    /// Mailbox identity.
    pub mailbox: String,
    /// Which list.
    pub list: ListKind,
    /// Add or remove.
    pub op: ChangeOp,
    /// DeviceId.
    pub device_id: String,
    /// Why (the decision's reason and explanation).
    pub reason: String,
    /// `None` when Exchange accepted it, else its error.
    pub error: Option<String>,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub entry: AuditEntry,
}

/// The state database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The OS lock on `<db>.lock` while this connection runs a sync ([`Store::begin_run`]).
    run_lock: std::cell::RefCell<Option<std::fs::File>>,
}

fn ts(at: DateTime<Utc>) -> String {
    // Fixed width so text order is time order.
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Opens (creating if needed) the database file and migrates it to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        // Several processes opening a new database at once race to switch it to WAL and migrate it;
        // SQLite answers some of those races with SQLITE_BUSY at once, without waiting on the busy
        // handler. Such an open is tried again (a fresh connection each time) for up to BUSY_TIMEOUT.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            let conn = Connection::open(&path).map_err(|source| match classify(&path, source) {
                StoreError::Sqlite { path, source } => StoreError::Open { path, source },
                other => other,
            })?;
            match Store::init(conn, path.clone(), true) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    /// An in-memory database (tests, dry runs without a configuration).
    pub fn open_in_memory() -> Result<Store> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Store::init(conn, path, false)
    }

    fn init(mut conn: Connection, path: PathBuf, wal: bool) -> Result<Store> {
        let err = |e| classify(&path, e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        if wal {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Data {
                    path,
                    what: "journal mode",
                    detail: format!(
                        "SQLite refused WAL mode (got {mode}); is the file on a network share?"
                    ),
                });
            }
        }
        // Per-device statements (decisions, owned entries, audit) run thousands of times a run.
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        migrate(&mut conn, &path)?;
        Ok(Store {
            conn,
            path,
            run_lock: std::cell::RefCell::new(None),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }

    /// A transaction of one operation; nested (a savepoint) inside [`Store::batch`].
    fn tx(&self) -> rusqlite::Result<savepoint::StoreTx<'_>> {
        savepoint::StoreTx::begin(&self.conn)
    }

    /// Runs several operations in one transaction, so they share one commit (one fsync). Each keeps its
    /// own all-or-nothing: an operation that fails is rolled back alone and `f` decides what follows.
    /// Nothing `f` did is durable before this returns `Ok`.
    pub fn batch<R>(&self, f: impl FnOnce(&Store) -> R) -> Result<R> {
        let tx = self.tx().map_err(|e| self.err(e))?;
        let out = f(self);
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn data(&self, what: &'static str, detail: impl fmt::Display) -> StoreError {
        StoreError::Data {
            path: self.path.clone(),
            what,
            detail: detail.to_string(),
        }
    }

    fn time(&self, text: &str) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.data("timestamp", format!("{text:?}: {e}")))
    }

    fn opt_time(&self, text: Option<String>) -> Result<Option<DateTime<Utc>>> {
        text.map(|t| self.time(&t)).transpose()
    }

    // ---- runs ----

    /// Records the start of a run, after taking the run lease: one run per store at a time, across
    /// processes (the worker, a CLI `sync`, a second service). Fails with
    /// [`StoreError::RunInProgress`], naming the holder, while another connection runs. The lease is
    /// released by [`Store::finish_run`], or when this store is dropped or its process dies.
    pub fn begin_run(&self, kind: RunKind) -> Result<RunId> {
        self.begin_run_for(kind, None)
    }

    /// [`Store::begin_run`] for a run that covers one mailbox only (`None`: everyone).
    pub fn begin_run_for(&self, kind: RunKind, mailbox: Option<&str>) -> Result<RunId> {
        self.take_run_lease()?;
        let begun = self.record_run_start(kind, mailbox);
        if begun.is_err() {
            self.release_run_lease();
        }
        begun
    }

    /// Records the end of a run and releases the run lease.
    pub fn finish_run(
        &self,
        run: RunId,
        outcome: RunOutcome,
        counts: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET ended_at = ?2, outcome = ?3, counts = ?4, error = ?5 WHERE id = ?1",
                params![run.0, ts(Utc::now()), outcome.as_str(), counts.to_string(), error],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(self.data("run", format!("no run with id {run}")));
        }
        self.release_run_lease();
        Ok(())
    }

    const RUN_COLUMNS: &'static str =
        "id, kind, started_at, ended_at, counts, outcome, error, mailbox";

    fn runs_where(&self, clause: &str, params: impl rusqlite::Params) -> Result<Vec<RunRecord>> {
        let sql = format!("SELECT {} FROM runs {clause}", Self::RUN_COLUMNS);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, started, ended, counts, outcome, error, mailbox) =
                row.map_err(|e| self.err(e))?;
            out.push(RunRecord {
                id: RunId(id),
                kind: RunKind::parse(&kind).ok_or_else(|| self.data("run kind", &kind))?,
                started_at: self.time(&started)?,
                ended_at: self.opt_time(ended)?,
                counts: serde_json::from_str(&counts).map_err(|e| self.data("run counts", e))?,
                outcome: RunOutcome::parse(&outcome)
                    .ok_or_else(|| self.data("run outcome", &outcome))?,
                error,
                mailbox,
            });
        }
        Ok(out)
    }

    /// The `n` most recent runs, newest first.
    pub fn recent_runs(&self, n: usize) -> Result<Vec<RunRecord>> {
        self.runs_where("ORDER BY id DESC LIMIT ?1", params![n as i64])
    }

    /// The newest run of this kind that succeeded, over everyone (a one-user run does not count).
    pub fn last_successful_run(&self, kind: RunKind) -> Result<Option<RunRecord>> {
        Ok(self
            .runs_where(
                "WHERE kind = ?1 AND outcome = 'succeeded' AND mailbox IS NULL \
                 ORDER BY id DESC LIMIT 1",
                params![kind.as_str()],
            )?
            .into_iter()
            .next())
    }

    // ---- journal ----

    /// Journals a change before it is sent to Exchange; committed (durably) when this returns. In the
    /// same transaction, the owned entries the change forgets are forgotten and every entry it adds is
    /// recorded as owned (with `origin`), pending until the change is settled: the connector owns what
    /// it sends from this moment, so neither a crash nor a lost answer can turn its entry into an
    /// admin's.
    pub fn journal_pending(
        &self,
        run: Option<RunId>,
        change: &MailboxChange,
        origin: OwnedOrigin,
    ) -> Result<JournalId> {
        let json = serde_json::to_string(change).map_err(|e| self.data("journal change", e))?;
        let e = |e| self.err(e);
        let tx = self.tx().map_err(e)?;
        tx.execute(
            "INSERT INTO journal (run_id, mailbox, change, state, created_at, origin)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
            params![
                run.map(|r| r.0),
                change.mailbox,
                json,
                ts(Utc::now()),
                origin.as_str()
            ],
        )
        .map_err(e)?;
        let id = JournalId(tx.last_insert_rowid());
        // Forgotten first: an entry an admin removed that this change adds again is owned afresh.
        for (list, device_id) in &change.forget_owned {
            sql_forget_owned(&tx, &change.mailbox, *list, device_id).map_err(e)?;
        }
        for (ids, list, op) in change_entries(change) {
            if op == ChangeOp::Add {
                for device_id in ids {
                    sql_record_owned(&tx, &change.mailbox, list, device_id, run, origin, Some(id))
                        .map_err(e)?;
                }
            }
        }
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// Keeps a journaled change pending after a write whose answer never came (timeout, cut
    /// connection): it may have landed. Its added entries stay owned; the next run reads the mailbox
    /// and settles it with [`Store::reconcile_open_entry`]. `error` is kept with the entry.
    pub fn journal_unanswered(&self, id: JournalId, error: &str) -> Result<()> {
        let changed = self
            .conn
            .execute(
                "UPDATE journal SET error = ?2 WHERE id = ?1 AND state = 'pending'",
                params![id.0, error],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(self.data(
                "journal entry",
                format!("no pending journal entry with id {}", id.0),
            ));
        }
        Ok(())
    }

    /// Marks a journaled change done, with its result.
    pub fn journal_done(&self, id: JournalId, result: &JournalResult) -> Result<()> {
        let changed = sql_journal_done(&self.conn, id, result).map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(self.data(
                "journal entry",
                format!("no journal entry with id {}", id.0),
            ));
        }
        Ok(())
    }

    /// Changes left pending by runs that did not finish, oldest first: the next run re-reads those
    /// mailboxes and settles each with [`JournalResult::Reconciled`].
    pub fn open_journal_entries(&self) -> Result<Vec<JournalEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, run_id, change, created_at, origin FROM journal WHERE state = 'pending'
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, run, change, created, origin) = row.map_err(|e| self.err(e))?;
            out.push(JournalEntry {
                id: JournalId(id),
                run_id: run.map(RunId),
                origin: OwnedOrigin::parse(&origin)
                    .ok_or_else(|| self.data("journal origin", &origin))?,
                change: serde_json::from_str(&change)
                    .map_err(|e| self.data("journal change", e))?,
                created_at: self.time(&created)?,
            });
        }
        Ok(out)
    }

    // ---- owned entries ----

    /// The entries the connector owns on a mailbox.
    pub fn owned_entries(&self, mailbox: &str) -> Result<Vec<OwnedEntry>> {
        self.owned_where("WHERE mailbox = ?1", params![mailbox])
    }

    /// Every owned entry (full sync).
    pub fn all_owned_entries(&self) -> Result<Vec<OwnedEntry>> {
        self.owned_where("", params![])
    }

    /// The mailboxes the connector owns entries on (as recorded), without the entries.
    pub fn owned_mailboxes(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT mailbox FROM owned_entries")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The owned entries of a mailbox in the form the policy's planner takes.
    pub fn owned_set(&self, mailbox: &str) -> Result<OwnedEntries> {
        Ok(self
            .owned_entries(mailbox)?
            .into_iter()
            .map(|e| (e.list, e.device_id))
            .collect())
    }

    fn owned_where(&self, clause: &str, params: impl rusqlite::Params) -> Result<Vec<OwnedEntry>> {
        let mut out = Vec::new();
        self.owned_each(clause, params, |entry| out.push(entry))?;
        Ok(out)
    }

    /// Every owned entry, handed to `each` one at a time (a full sync's 50,000 need no list of
    /// them on the way to its per-mailbox map).
    pub fn for_each_owned_entry(&self, each: impl FnMut(OwnedEntry)) -> Result<()> {
        self.owned_each("", params![], each)
    }

    fn owned_each(
        &self,
        clause: &str,
        params: impl rusqlite::Params,
        mut each: impl FnMut(OwnedEntry),
    ) -> Result<()> {
        let sql = format!(
            "SELECT mailbox, list, device_id, added_at, run_id, origin FROM owned_entries {clause}
             ORDER BY mailbox, list, device_id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (mailbox, list, device_id, added, run, origin) = row.map_err(|e| self.err(e))?;
            each(OwnedEntry {
                mailbox,
                list: ListKind::parse(&list).ok_or_else(|| self.data("list kind", &list))?,
                device_id,
                added_at: self.time(&added)?,
                run_id: run.map(RunId),
                origin: OwnedOrigin::parse(&origin)
                    .ok_or_else(|| self.data("owned entry origin", &origin))?,
            });
        }
        Ok(())
    }

    /// Records that the connector added an entry (after Exchange accepted it). Idempotent.
    pub fn record_owned(
        &self,
        mailbox: &str,
        list: ListKind,
        device_id: &str,
        run: Option<RunId>,
        origin: OwnedOrigin,
    ) -> Result<()> {
        sql_record_owned(&self.conn, mailbox, list, device_id, run, origin, None)
            .map_err(|e| self.err(e))
    }

    /// Forgets an owned entry (removed from Exchange, or gone). Returns whether it was recorded.
    pub fn forget_owned(&self, mailbox: &str, list: ListKind, device_id: &str) -> Result<bool> {
        sql_forget_owned(&self.conn, mailbox, list, device_id).map_err(|e| self.err(e))
    }

    /// Settles a journaled change in one transaction, once Exchange answered: marks the journal entry
    /// done, writes one audit entry per list entry added or removed (with `why(device_id)` as the
    /// reason, and `error` when Exchange refused), and — when it was applied — confirms the added
    /// entries as owned and forgets the removed ones; when it was refused, drops the entries the change
    /// had recorded as pending. Either all of this is recorded or none of it, so a crash leaves the
    /// journal entry open for [`Store::reconcile_open_entry`].
    pub fn settle_change(
        &self,
        journal: JournalId,
        run: Option<RunId>,
        actor: &str,
        change: &MailboxChange,
        why: &dyn Fn(&str) -> String,
        error: Option<&str>,
    ) -> Result<()> {
        let e = |e| self.err(e);
        let tx = self.tx().map_err(e)?;
        let origin = sql_journal_origin(&tx, journal).map_err(e)?;
        let mailbox = change.mailbox.as_str();
        for (ids, list, op) in change_entries(change) {
            for id in ids {
                sql_audit(
                    &tx,
                    &AuditEntry {
                        run_id: run,
                        actor: actor.to_string(),
                        mailbox: mailbox.to_string(),
                        list,
                        op,
                        device_id: id.clone(),
                        reason: why(id),
                        error: error.map(String::from),
                    },
                )
                .map_err(e)?;
                if error.is_none() {
                    match op {
                        ChangeOp::Add => {
                            sql_record_owned(&tx, mailbox, list, id, run, origin, None)
                                .map_err(e)?;
                        }
                        ChangeOp::Remove => {
                            sql_forget_owned(&tx, mailbox, list, id).map_err(e)?;
                        }
                    }
                }
            }
        }
        if error.is_some() {
            sql_drop_pending(&tx, journal).map_err(e)?;
        }
        // The change's `forget_owned` were forgotten when it was journaled.
        let result = match error {
            None => JournalResult::Applied,
            Some(error) => JournalResult::Failed(error.to_string()),
        };
        if sql_journal_done(&tx, journal, &result).map_err(e)? == 0 {
            return Err(self.data(
                "journal entry",
                format!("no journal entry with id {}", journal.0),
            ));
        }
        tx.commit().map_err(e)
    }

    /// Settles a change a crashed run left pending, or whose answer never came, from the mailbox's lists
    /// as Exchange has them now: each DeviceId it added that is on its list now is owned (with the
    /// journaled origin: a rollout entry stays a rollout entry), each it added that is not is
    /// forgotten, each it removed that is gone is forgotten; one audit row per list entry says what
    /// was found (`actor`, `run`: the reconciling run). Then the entry is marked
    /// [`JournalResult::Reconciled`]. One transaction. Returns the number of entries found applied.
    pub fn reconcile_open_entry(
        &self,
        entry: &JournalEntry,
        allowed_now: &[String],
        blocked_now: &[String],
        actor: &str,
        run: Option<RunId>,
    ) -> Result<usize> {
        let e = |e| self.err(e);
        let tx = self.tx().map_err(e)?;
        let change = &entry.change;
        let from = match entry.run_id {
            Some(r) => format!("run {r}"),
            None => "an earlier run".to_string(),
        };
        let mut applied = 0;
        for (ids, list, op) in change_entries(change) {
            let now = match list {
                ListKind::Allow => allowed_now,
                ListKind::Block => blocked_now,
            };
            for id in ids {
                let present = crate::abq::list_contains(now, id);
                let landed = match op {
                    ChangeOp::Add => present,
                    ChangeOp::Remove => !present,
                };
                match op {
                    ChangeOp::Add if present => {
                        sql_record_owned(
                            &tx,
                            &change.mailbox,
                            list,
                            id,
                            entry.run_id,
                            entry.origin,
                            None,
                        )
                        .map_err(e)?;
                    }
                    ChangeOp::Add => {
                        sql_forget_owned(&tx, &change.mailbox, list, id).map_err(e)?;
                    }
                    ChangeOp::Remove if !present => {
                        sql_forget_owned(&tx, &change.mailbox, list, id).map_err(e)?;
                    }
                    ChangeOp::Remove => {}
                }
                if landed {
                    applied += 1;
                }
                sql_audit(
                    &tx,
                    &AuditEntry {
                        run_id: run,
                        actor: actor.to_string(),
                        mailbox: change.mailbox.clone(),
                        list,
                        op,
                        device_id: id.clone(),
                        reason: format!(
                            "reconciled: a {} change of {from} that was interrupted or got no answer; \
                             Exchange shows it {}",
                            entry.origin.as_str(),
                            if landed { "applied" } else { "not applied" }
                        ),
                        error: (!landed).then(|| "not applied".to_string()),
                    },
                )
                .map_err(e)?;
            }
        }
        sql_journal_done(&tx, entry.id, &JournalResult::Reconciled).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(applied)
    }

    // ---- inventory ----

    /// Inserts or updates inventory records in one transaction (`first_seen` of a known device is
    /// kept; `last_seen` is the record's). A full sync hands over the whole inventory, nearly all of
    /// it unchanged: then only new and changed rows are written, and the unchanged ones are seen
    /// through the sweep's mark (a row-by-row upsert of 50,000 devices cost most of the record
    /// phase, and rewriting their `last_seen` most of what was left).
    pub fn upsert_inventory(&self, records: &[InventoryRecord]) -> Result<()> {
        self.upsert_inventory_with(records, None)
    }

    /// [`Store::upsert_inventory`] comparing with the stored rows as read ahead (`ahead`, from
    /// [`Store::recorded_rows`] and still current), not reading them again.
    pub fn upsert_inventory_with(
        &self,
        records: &[InventoryRecord],
        ahead: Option<StoredInventory>,
    ) -> Result<()> {
        let tx = self.tx().map_err(|e| self.err(e))?;
        let seen_at = records.first().map(|r| r.last_seen);
        let bulk = match seen_at {
            Some(at) if records.len() >= INVENTORY_BULK_MIN => {
                let stored_rows = match &ahead {
                    Some(ahead) => ahead.rows.len(),
                    None => self.inventory_count()?,
                };
                records.iter().all(|r| r.last_seen == at)
                    && records.len().saturating_mul(2) >= stored_rows
            }
            _ => false,
        };
        let written = match seen_at {
            Some(at) if bulk => match ahead {
                Some(stored) => Ok(stored),
                None => sql_stored_inventory(&tx),
            }
            .and_then(|stored| sql_upsert_inventory_seen(&tx, records, at, stored)),
            _ => records
                .iter()
                .try_for_each(|r| sql_upsert_inventory_row(&tx, r, false)),
        };
        written.map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// The stored inventory and decisions as a full sync's record phase compares with them, read
    /// ahead: while the sync's listing waits on Exchange, this costs no time of the run. What else
    /// is read through this connection before it writes (the owned entries, for the read phase)
    /// shares its moment ([`Store::is_current`]).
    pub fn recorded_rows(&self) -> Result<RecordedRows> {
        let as_of = self.as_of()?;
        let inventory = sql_stored_inventory(&self.conn).map_err(|e| self.err(e))?;
        let decisions = sql_stored_decisions(&self.conn).map_err(|e| self.err(e))?;
        Ok(RecordedRows {
            inventory,
            decisions,
            as_of,
        })
    }

    /// Whether `rows` still describe the store: nothing was written through this connection and no
    /// other connection committed since they were read.
    pub fn is_current(&self, rows: &RecordedRows) -> Result<bool> {
        Ok(self.as_of()? == rows.as_of)
    }

    /// `rows` if they still describe the store ([`Store::is_current`]); otherwise `None` (the
    /// writes read again).
    pub fn still_current(&self, rows: RecordedRows) -> Result<Option<RecordedRows>> {
        Ok(self.is_current(&rows)?.then_some(rows))
    }

    /// This connection's count of changed rows and the file's data version (which moves when
    /// another connection commits).
    fn as_of(&self) -> Result<(u64, i64)> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .map_err(|e| self.err(e))?;
        Ok((self.conn.total_changes(), version))
    }

    /// The inventory of one mailbox.
    pub fn inventory_for_mailbox(&self, mailbox: &str) -> Result<Vec<InventoryRecord>> {
        self.inventory_where("WHERE mailbox = ?1 ORDER BY device_id", params![mailbox])
    }

    /// One page of the whole inventory, by mailbox then DeviceId (the status page's device table).
    pub fn inventory_page(&self, offset: usize, limit: usize) -> Result<Vec<InventoryRecord>> {
        self.inventory_where(
            "ORDER BY mailbox, device_id LIMIT ?1 OFFSET ?2",
            params![limit as i64, offset as i64],
        )
    }

    /// Frees the connection's page cache and other memory SQLite can do without (it refills as
    /// needed): between runs the cache's pages, allocated while a run read 50,000 rows, would pin
    /// the heap pages around them.
    pub fn release_memory(&self) {
        if let Err(e) = self.conn.release_memory() {
            tracing::debug!(error = %e, "SQLite kept its cache");
        }
    }

    /// How many devices the inventory holds.
    pub fn inventory_count(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT COUNT(*) FROM inventory", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as usize)
            .map_err(|e| self.err(e))
    }

    /// How many decisions are stored.
    fn decisions_count(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT COUNT(*) FROM decisions", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as usize)
            .map_err(|e| self.err(e))
    }

    fn inventory_where(
        &self,
        clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<InventoryRecord>> {
        let sql = format!(
            "SELECT mailbox, device_id, device_type, device_model, first_seen,
                    {INVENTORY_LAST_SEEN}, access_state, access_reason, user_display_name,
                    device_os, client_version, eas_protocol_refused
             FROM inventory {clause}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((
                    (
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ),
                    (
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, String>(7)?,
                    ),
                    (
                        row.get::<_, Option<String>>(8)?,
                        row.get::<_, Option<String>>(9)?,
                        row.get::<_, Option<String>>(10)?,
                        row.get::<_, bool>(11)?,
                    ),
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (mailbox, device_id, device_type, device_model),
                (first, last, state, reason),
                (user_display_name, device_os, client_version, eas_protocol_refused),
            ) = row.map_err(|e| self.err(e))?;
            out.push(InventoryRecord {
                mailbox,
                device_id,
                device_type,
                device_model,
                first_seen: self.time(&first)?,
                last_seen: self.time(&last)?,
                access_state: self.word(&state, "access state")?,
                access_reason: self.word(&reason, "access state reason")?,
                user_display_name,
                device_os,
                client_version,
                eas_protocol_refused,
            });
        }
        Ok(out)
    }

    /// How many known devices Exchange Online refuses for their EAS protocol (below 16.1).
    pub fn eas_protocol_refused_count(&self) -> Result<usize> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM inventory WHERE eas_protocol_refused <> 0",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as usize)
            .map_err(|e| self.err(e))
    }

    /// Removes a device from the inventory (its partnership is gone).
    pub fn forget_inventory(&self, mailbox: &str, device_id: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM inventory WHERE mailbox = ?1 AND device_id = ?2",
                params![mailbox, device_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Number of inventoried devices per Exchange access state (`Allowed`, `Blocked`, ...).
    pub fn counts_by_state(&self) -> Result<BTreeMap<String, u64>> {
        self.counts("SELECT access_state, COUNT(*) FROM inventory GROUP BY access_state")
    }

    /// Number of last decisions per desired access (`Allow`, `Block`, ...).
    pub fn counts_by_decision(&self) -> Result<BTreeMap<String, u64>> {
        self.counts("SELECT desired, COUNT(*) FROM decisions GROUP BY desired")
    }

    fn counts(&self, sql: &str) -> Result<BTreeMap<String, u64>> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (key, n) = row.map_err(|e| self.err(e))?;
            out.insert(key, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Parses an enum stored by its serde word.
    fn word<T: serde::de::DeserializeOwned>(&self, text: &str, what: &'static str) -> Result<T> {
        serde_json::from_value(serde_json::Value::String(text.to_string()))
            .map_err(|e| self.data(what, format!("{text:?}: {e}")))
    }

    // ---- decisions ----

    /// Records the last decision about a device (replacing the previous one). `applied_at` is cleared
    /// when the decision changes and kept when it is the same. A decision the same as the recorded one
    /// (desired access, reason, explanation) is left as it is, with the time and run that first made
    /// it: a converged run writes nothing for its unchanged devices.
    pub fn record_decision(
        &self,
        mailbox: &str,
        device_id: &str,
        decision: &Decision,
        decided_at: DateTime<Utc>,
        run: Option<RunId>,
    ) -> Result<()> {
        sql_record_decision(&self.conn, mailbox, device_id, decision, decided_at, run)
            .map_err(|e| self.err(e))
    }

    /// Records many decisions in one transaction (a full sync decides every device; one transaction
    /// instead of one durable commit per device).
    pub fn record_decisions(
        &self,
        run: Option<RunId>,
        decided_at: DateTime<Utc>,
        decisions: &[(&str, &str, &Decision)],
    ) -> Result<()> {
        self.record_decisions_with(run, decided_at, decisions, None)
    }

    /// [`Store::record_decisions`] comparing with the stored decisions as read ahead (`ahead`, from
    /// [`Store::recorded_rows`] and still current), not reading them again.
    pub fn record_decisions_with(
        &self,
        run: Option<RunId>,
        decided_at: DateTime<Utc>,
        decisions: &[(&str, &str, &Decision)],
        ahead: Option<StoredDecisions>,
    ) -> Result<()> {
        let tx = self.tx().map_err(|e| self.err(e))?;
        // As for the inventory: comparing with every stored decision pays only when the batch is a
        // large share of them (a quick sync's 500 decisions over 50,000 stored are upserted one by one).
        let bulk = decisions.len() >= INVENTORY_BULK_MIN
            && decisions.len().saturating_mul(2)
                >= match &ahead {
                    Some(ahead) => ahead.rows.len(),
                    None => self.decisions_count()?,
                };
        if bulk {
            match ahead {
                Some(stored) => Ok(stored),
                None => sql_stored_decisions(&tx),
            }
            .and_then(|stored| {
                sql_record_decisions_compared(&tx, decisions, decided_at, run, stored)
            })
            .map_err(|e| self.err(e))?;
        } else {
            for (mailbox, device_id, decision) in decisions {
                sql_record_decision(&tx, mailbox, device_id, decision, decided_at, run)
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Records that Exchange now agrees with the device's last decision.
    pub fn mark_decision_applied(
        &self,
        mailbox: &str,
        device_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE decisions SET applied_at = ?3 WHERE mailbox = ?1 AND device_id = ?2",
                params![mailbox, device_id, ts(at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    const DECISION_COLUMNS: &'static str = "mailbox, device_id, desired, reason, explanation, decided_at, applied_at, run_id, reason_code";

    fn decisions_where(
        &self,
        clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<DecisionRecord>> {
        let sql = format!("SELECT {} FROM decisions {clause}", Self::DECISION_COLUMNS);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Option<i64>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (mailbox, device_id, desired, reason, explanation, decided, applied, run, code) =
                row.map_err(|e| self.err(e))?;
            out.push(DecisionRecord {
                mailbox,
                device_id,
                decision: Decision {
                    desired: DesiredAccess::parse(&desired)
                        .ok_or_else(|| self.data("desired access", &desired))?,
                    reason: ExchangeAccessStateReason::parse(&reason),
                    explanation,
                    // A code this build does not know reads as unrecorded: the English text stays.
                    code: code
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or_default(),
                },
                decided_at: self.time(&decided)?,
                applied_at: self.opt_time(applied)?,
                run_id: run.map(RunId),
            });
        }
        Ok(out)
    }

    /// The last decision about a device of a mailbox.
    pub fn last_decision(&self, mailbox: &str, device_id: &str) -> Result<Option<DecisionRecord>> {
        Ok(self
            .decisions_where(
                "WHERE mailbox = ?1 AND device_id = ?2",
                params![mailbox, device_id],
            )?
            .into_iter()
            .next())
    }

    /// The last decisions about a DeviceId, in every mailbox it syncs.
    pub fn decisions_for_device(&self, device_id: &str) -> Result<Vec<DecisionRecord>> {
        self.decisions_where("WHERE device_id = ?1 ORDER BY mailbox", params![device_id])
    }

    /// The last decisions about every device of a user's mailbox.
    pub fn decisions_for_user(&self, mailbox: &str) -> Result<Vec<DecisionRecord>> {
        self.decisions_where("WHERE mailbox = ?1 ORDER BY device_id", params![mailbox])
    }

    // ---- watermarks ----

    /// A watermark's value.
    pub fn watermark(&self, name: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT value FROM watermarks WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a watermark.
    pub fn set_watermark(&self, name: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO watermarks (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![name, value, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    // ---- audit ----

    /// Appends a change applied (or attempted) to the audit trail.
    pub fn audit(&self, entry: &AuditEntry) -> Result<()> {
        sql_audit(&self.conn, entry).map_err(|e| self.err(e))
    }

    /// The `n` most recent audit entries, newest first.
    pub fn recent_changes(&self, n: usize) -> Result<Vec<AuditRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at, run_id, actor, mailbox, list, op, device_id, reason, error
                 FROM audit ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![n as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, String>(8)?,
                    row.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, run, actor, mailbox, list, op, device_id, reason, error) =
                row.map_err(|e| self.err(e))?;
            out.push(AuditRecord {
                id,
                at: self.time(&at)?,
                entry: AuditEntry {
                    run_id: run.map(RunId),
                    actor,
                    mailbox,
                    list: ListKind::parse(&list).ok_or_else(|| self.data("list kind", &list))?,
                    op: match op.as_str() {
                        "add" => ChangeOp::Add,
                        "remove" => ChangeOp::Remove,
                        other => return Err(self.data("audit operation", other)),
                    },
                    device_id,
                    reason,
                    error,
                },
            });
        }
        Ok(out)
    }

    // ---- notifications ----

    /// Records that the owner of a device was sent the notification mail.
    pub fn notification_sent(
        &self,
        mailbox: &str,
        device_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO notifications (mailbox, device_id, sent_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (mailbox, device_id) DO UPDATE SET sent_at = excluded.sent_at",
                params![mailbox, device_id, ts(at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets that a device's owner was notified (the device is allowed again), so that a later
    /// block or quarantine sends a new mail. Returns whether there was a record.
    pub fn forget_notification(&self, mailbox: &str, device_id: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM notifications WHERE mailbox = ?1 AND device_id = ?2",
                params![mailbox, device_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every (mailbox, DeviceId) whose owner was notified, lowercase: one read for a whole run.
    pub fn notified_devices(&self) -> Result<std::collections::HashSet<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT mailbox, device_id FROM notifications")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = std::collections::HashSet::new();
        for row in rows {
            let (mailbox, device_id) = row.map_err(|e| self.err(e))?;
            out.insert((mailbox.to_ascii_lowercase(), device_id.to_ascii_lowercase()));
        }
        Ok(out)
    }

    /// When the owner of a device was last sent the notification mail, if ever.
    pub fn was_notified(&self, mailbox: &str, device_id: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT sent_at FROM notifications WHERE mailbox = ?1 AND device_id = ?2",
                params![mailbox, device_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        self.opt_time(at)
    }
}

/// Applies the missing migrations, each in its own `BEGIN IMMEDIATE` transaction with its
/// `user_version` bump. The version is read again inside the transaction (which holds the write lock),
/// so two processes opening an old database at once migrate it once: the second finds the work done.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let too_new = |found| StoreError::TooNew {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    };
    let read_version = |conn: &Connection| -> std::result::Result<u32, rusqlite::Error> {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
    };
    // Up to date (the common case): no write lock taken.
    let current = read_version(conn).map_err(|e| classify(path, e))?;
    if current > SCHEMA_VERSION {
        return Err(too_new(current));
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    loop {
        let before = |e| migration_error(path, current + 1, e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(before)?;
        let current = read_version(&tx).map_err(before)?;
        if current > SCHEMA_VERSION {
            return Err(too_new(current));
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        let version = current + 1;
        let fail = |e| migration_error(path, version, e);
        tx.execute_batch(migrations::MIGRATIONS[current as usize])
            .map_err(fail)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
}

/// A failed migration to `version`, unless SQLite's error says something more useful (busy, full).
fn migration_error(path: &Path, version: u32, source: rusqlite::Error) -> StoreError {
    match classify(path, source) {
        StoreError::Sqlite { path, source } => StoreError::Migration {
            path,
            version,
            source,
        },
        other => other,
    }
}

/// Turns SQLite's error into one that says what to do.
fn classify(path: &Path, source: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            StoreError::Open { path, source }
        }
        _ => StoreError::Sqlite { path, source },
    }
}

/// The list entries of a change, with their list and operation.
fn change_entries(change: &MailboxChange) -> [(&Vec<String>, ListKind, ChangeOp); 4] {
    [
        (&change.allow_add, ListKind::Allow, ChangeOp::Add),
        (&change.allow_remove, ListKind::Allow, ChangeOp::Remove),
        (&change.block_add, ListKind::Block, ChangeOp::Add),
        (&change.block_remove, ListKind::Block, ChangeOp::Remove),
    ]
}

// Statement helpers on a connection or a transaction (a `Transaction` derefs to a `Connection`).

fn sql_journal_done(
    conn: &Connection,
    id: JournalId,
    result: &JournalResult,
) -> rusqlite::Result<usize> {
    let (word, error) = match result {
        JournalResult::Applied => ("applied", None),
        JournalResult::Failed(error) => ("failed", Some(error.as_str())),
        JournalResult::Reconciled => ("reconciled", None),
    };
    conn.prepare_cached(
        "UPDATE journal SET state = 'done', done_at = ?2, result = ?3, error = ?4 WHERE id = ?1",
    )?
    .execute(params![id.0, ts(Utc::now()), word, error])
}

/// Records an owned entry: pending on `journal` (the change that adds it is not settled yet), or
/// confirmed (`None`), which also confirms a pending record of it. An existing record keeps its origin.
fn sql_record_owned(
    conn: &Connection,
    mailbox: &str,
    list: ListKind,
    device_id: &str,
    run: Option<RunId>,
    origin: OwnedOrigin,
    journal: Option<JournalId>,
) -> rusqlite::Result<()> {
    let sql = if journal.is_some() {
        "INSERT INTO owned_entries (mailbox, list, device_id, added_at, run_id, origin, journal_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (mailbox, list, device_id) DO NOTHING"
    } else {
        "INSERT INTO owned_entries (mailbox, list, device_id, added_at, run_id, origin, journal_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (mailbox, list, device_id) DO UPDATE SET journal_id = NULL"
    };
    conn.prepare_cached(sql)?.execute(params![
        mailbox,
        list.as_str(),
        device_id,
        ts(Utc::now()),
        run.map(|r| r.0),
        origin.as_str(),
        journal.map(|j| j.0)
    ])?;
    Ok(())
}

/// Drops the owned entries a refused change had recorded as pending (Exchange did not add them).
fn sql_drop_pending(conn: &Connection, journal: JournalId) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM owned_entries WHERE journal_id = ?1")?
        .execute(params![journal.0])
}

/// The origin a change was journaled with.
fn sql_journal_origin(conn: &Connection, journal: JournalId) -> rusqlite::Result<OwnedOrigin> {
    let text: Option<String> = conn
        .query_row(
            "SELECT origin FROM journal WHERE id = ?1",
            params![journal.0],
            |row| row.get(0),
        )
        .optional()?;
    Ok(text
        .as_deref()
        .and_then(OwnedOrigin::parse)
        .unwrap_or(OwnedOrigin::Policy))
}

fn sql_forget_owned(
    conn: &Connection,
    mailbox: &str,
    list: ListKind,
    device_id: &str,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "DELETE FROM owned_entries WHERE mailbox = ?1 AND list = ?2 AND device_id = ?3",
        )?
        .execute(params![mailbox, list.as_str(), device_id])?;
    Ok(n > 0)
}

fn sql_audit(conn: &Connection, entry: &AuditEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (run_id, at, actor, mailbox, list, op, device_id, reason, result, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        entry.run_id.map(|r| r.0),
        ts(Utc::now()),
        entry.actor,
        entry.mailbox,
        entry.list.as_str(),
        entry.op.as_str(),
        entry.device_id,
        entry.reason,
        if entry.error.is_none() {
            "ok"
        } else {
            "failed"
        },
        entry.error
    ])?;
    Ok(())
}

/// From this many records on, [`Store::upsert_inventory`] and [`Store::record_decisions`] compare
/// with what is stored before writing.
const INVENTORY_BULK_MIN: usize = 256;

/// Inserts or updates one inventory row. `in_sweep`: the row is part of a full sync's sweep (see
/// [`sql_upsert_inventory_seen`]); a row already in the sweep stays in it, as its own `last_seen` is
/// then the later of the two times.
fn sql_upsert_inventory_row(
    conn: &Connection,
    r: &InventoryRecord,
    in_sweep: bool,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO inventory (mailbox, device_id, device_type, device_model, first_seen,
                                last_seen, access_state, access_reason,
                                user_display_name, device_os, client_version,
                                eas_protocol_refused, in_sweep)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (mailbox, device_id) DO UPDATE SET
            device_type = excluded.device_type, device_model = excluded.device_model,
            last_seen = excluded.last_seen, access_state = excluded.access_state,
            access_reason = excluded.access_reason,
            user_display_name = excluded.user_display_name,
            device_os = excluded.device_os,
            client_version = excluded.client_version,
            eas_protocol_refused = excluded.eas_protocol_refused,
            in_sweep = MAX(inventory.in_sweep, excluded.in_sweep)",
    )?
    .execute(params![
        r.mailbox,
        r.device_id,
        r.device_type,
        r.device_model,
        ts(r.first_seen),
        ts(r.last_seen),
        r.access_state.as_str(),
        r.access_reason.as_str(),
        r.user_display_name,
        r.device_os,
        r.client_version,
        r.eas_protocol_refused,
        in_sweep
    ])?;
    Ok(())
}

/// A row's `last_seen` as SQL: its own, or the sweep's mark when the last full sync saw it later.
const INVENTORY_LAST_SEEN: &str = "CASE WHEN in_sweep = 1
         THEN MAX(last_seen, COALESCE((SELECT seen_at FROM inventory_sweep WHERE id = 1), last_seen))
         ELSE last_seen END";

/// Keyed hashes that let a bulk write compare 50,000 stored rows with a run's records without a
/// copy of their text. The keys are random per write (`RandomState`), so no device name can be made
/// to collide with another row; a row's identity takes two independent hashes (128 bits).
struct RowHashes {
    key: [std::collections::hash_map::RandomState; 2],
    content: std::collections::hash_map::RandomState,
}

impl RowHashes {
    fn new() -> Self {
        use std::collections::hash_map::RandomState;
        RowHashes {
            key: [RandomState::new(), RandomState::new()],
            content: RandomState::new(),
        }
    }

    /// A row's identity as the primary key compares it: the mailbox exactly, the DeviceId without
    /// ASCII case (`COLLATE NOCASE`).
    fn key(&self, mailbox: &str, device_id: &str) -> RowKey {
        use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
        RowKey(self.key.each_ref().map(|state| {
            let mut h = state.build_hasher();
            h.write(mailbox.as_bytes());
            h.write_u8(0xff);
            Caseless(device_id).hash(&mut h);
            h.finish()
        }))
    }

    /// The columns a run may change, as one hash (an absent field differs from an empty one).
    fn content<const N: usize>(&self, fields: [Option<&str>; N]) -> u64 {
        use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
        let mut h = self.content.build_hasher();
        for field in fields {
            field.hash(&mut h);
        }
        h.finish()
    }
}

/// A row's identity as two keyed hashes ([`RowHashes::key`]). Already random, it is its own hash
/// in the maps that find stored rows by it ([`RowKeyHasher`]): hashing it again cost a tenth of a
/// converged full sync's record phase.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RowKey([u64; 2]);

impl std::hash::Hash for RowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0]);
    }
}

/// Passes a [`RowKey`]'s first hash through.
#[derive(Default)]
struct RowKeyHasher(u64);

impl std::hash::Hasher for RowKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Not used by [`RowKey`]; folds anything else in, so the hasher stays correct for any key.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// The maps of stored rows by [`RowKey`].
type RowMap<V> = HashMap<RowKey, V, std::hash::BuildHasherDefault<RowKeyHasher>>;

/// A stored row as a bulk write compares it.
struct StoredRow {
    rowid: i64,
    content: u64,
    in_sweep: bool,
}

/// The stored inventory and decisions as keyed hashes ([`Store::recorded_rows`]).
pub struct RecordedRows {
    inventory: StoredInventory,
    decisions: StoredDecisions,
    /// [`Store::as_of`] when read.
    as_of: (u64, i64),
}

impl RecordedRows {
    /// The inventory's part and the decisions' part, for the two writes.
    pub fn split(self) -> (StoredInventory, StoredDecisions) {
        (self.inventory, self.decisions)
    }
}

/// The stored inventory rows by identity, and the sweep's mark.
pub struct StoredInventory {
    hashes: RowHashes,
    rows: RowMap<StoredRow>,
    mark: Option<String>,
}

/// The stored decisions' content by identity.
pub struct StoredDecisions {
    hashes: RowHashes,
    rows: RowMap<u64>,
}

/// Reads the inventory as [`sql_upsert_inventory_seen`] compares with it.
fn sql_stored_inventory(conn: &Connection) -> rusqlite::Result<StoredInventory> {
    let mark: Option<String> = conn
        .query_row(
            "SELECT seen_at FROM inventory_sweep WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let hashes = RowHashes::new();
    let mut rows = RowMap::default();
    let mut stmt = conn.prepare(
        "SELECT rowid, mailbox, device_id, device_type, device_model, access_state,
                access_reason, user_display_name, device_os, client_version,
                eas_protocol_refused, in_sweep
         FROM inventory",
    )?;
    let mut found = stmt.query([])?;
    while let Some(row) = found.next()? {
        let content = hashes.content([
            Some(row.get_ref(3)?.as_str()?),
            row.get_ref(4)?.as_str_or_null()?,
            Some(row.get_ref(5)?.as_str()?),
            Some(row.get_ref(6)?.as_str()?),
            row.get_ref(7)?.as_str_or_null()?,
            row.get_ref(8)?.as_str_or_null()?,
            row.get_ref(9)?.as_str_or_null()?,
            Some(if row.get::<_, bool>(10)? { "1" } else { "0" }),
        ]);
        rows.insert(
            hashes.key(row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?),
            StoredRow {
                rowid: row.get(0)?,
                content,
                in_sweep: row.get(11)?,
            },
        );
    }
    Ok(StoredInventory { hashes, rows, mark })
}

/// Reads the decisions as [`sql_record_decisions_compared`] compares with them.
fn sql_stored_decisions(conn: &Connection) -> rusqlite::Result<StoredDecisions> {
    let hashes = RowHashes::new();
    let mut rows = RowMap::default();
    let mut stmt = conn.prepare(
        "SELECT mailbox, device_id, desired, reason, explanation, reason_code FROM decisions",
    )?;
    let mut found = stmt.query([])?;
    while let Some(row) = found.next()? {
        let content = hashes.content([
            Some(row.get_ref(2)?.as_str()?),
            Some(row.get_ref(3)?.as_str()?),
            Some(row.get_ref(4)?.as_str()?),
            row.get_ref(5)?.as_str_or_null()?,
        ]);
        rows.insert(
            hashes.key(row.get_ref(0)?.as_str()?, row.get_ref(1)?.as_str()?),
            content,
        );
    }
    Ok(StoredDecisions { hashes, rows })
}

/// An inventory record's content, in the order [`sql_upsert_inventory_seen`] reads the columns.
fn inventory_content(hashes: &RowHashes, r: &InventoryRecord) -> u64 {
    hashes.content([
        Some(&r.device_type),
        r.device_model.as_deref(),
        Some(r.access_state.as_str()),
        Some(r.access_reason.as_str()),
        r.user_display_name.as_deref(),
        r.device_os.as_deref(),
        r.client_version.as_deref(),
        Some(if r.eas_protocol_refused { "1" } else { "0" }),
    ])
}

/// Records a run that saw (nearly) the whole inventory at `seen_at`: new and changed rows are
/// upserted into the sweep, the unchanged ones join it if they were not in it, and the sweep's mark
/// moves to `seen_at`, which is then the `last_seen` of every row in it (a converged run of 50,000
/// devices writes a handful of rows, not 50,000). The rows not seen leave the sweep with the time
/// they were last seen written down. The rows read back as with one upsert per record.
fn sql_upsert_inventory_seen(
    conn: &Connection,
    records: &[InventoryRecord],
    seen_at: DateTime<Utc>,
    stored: StoredInventory,
) -> rusqlite::Result<()> {
    let StoredInventory {
        hashes,
        rows: mut stored,
        mark: previous_mark,
    } = stored;
    let (mut written, mut joined) = (0usize, 0usize);
    for r in records {
        match stored.remove(&hashes.key(&r.mailbox, &r.device_id)) {
            Some(row) if row.content == inventory_content(&hashes, r) => {
                if !row.in_sweep {
                    conn.prepare_cached("UPDATE inventory SET in_sweep = 1 WHERE rowid = ?1")?
                        .execute([row.rowid])?;
                    joined += 1;
                }
            }
            _ => {
                sql_upsert_inventory_row(conn, r, true)?;
                written += 1;
            }
        }
    }
    tracing::debug!(
        records = records.len(),
        written,
        joined,
        unseen = stored.len(),
        "inventory recorded through the sweep"
    );
    // Left in `stored`: the rows this run did not see. Those in the sweep leave it, keeping the time
    // they were last seen.
    for row in stored.into_values().filter(|row| row.in_sweep) {
        conn.prepare_cached(
            "UPDATE inventory SET last_seen = MAX(last_seen, COALESCE(?2, last_seen)), in_sweep = 0
             WHERE rowid = ?1",
        )?
        .execute(params![row.rowid, previous_mark])?;
    }
    conn.execute(
        "INSERT INTO inventory_sweep (id, seen_at) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        params![ts(seen_at)],
    )?;
    Ok(())
}

/// Records many decisions: each compared with the stored one by keyed hashes, and only the new and
/// changed ones written (a converged full sync's 50,000 upserts, each a lookup that changed
/// nothing, were most of its decision record).
fn sql_record_decisions_compared(
    conn: &Connection,
    decisions: &[(&str, &str, &Decision)],
    decided_at: DateTime<Utc>,
    run: Option<RunId>,
    stored: StoredDecisions,
) -> rusqlite::Result<()> {
    let StoredDecisions {
        hashes,
        rows: stored,
    } = stored;
    let mut code = Vec::new();
    for (mailbox, device_id, decision) in decisions {
        code.clear();
        let code = serde_json::to_writer(&mut code, &decision.code)
            .ok()
            .and_then(|()| std::str::from_utf8(&code).ok());
        let content = hashes.content([
            Some(decision.desired.as_str()),
            Some(decision.reason.as_str()),
            Some(&decision.explanation),
            code,
        ]);
        if stored.get(&hashes.key(mailbox, device_id)) != Some(&content) {
            sql_record_decision(conn, mailbox, device_id, decision, decided_at, run)?;
        }
    }
    Ok(())
}

fn sql_record_decision(
    conn: &Connection,
    mailbox: &str,
    device_id: &str,
    decision: &Decision,
    decided_at: DateTime<Utc>,
    run: Option<RunId>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO decisions (mailbox, device_id, desired, reason, explanation, decided_at, run_id,
                                reason_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (mailbox, device_id) DO UPDATE SET
            applied_at = CASE WHEN decisions.desired = excluded.desired
                              THEN decisions.applied_at ELSE NULL END,
            desired = excluded.desired, reason = excluded.reason,
            explanation = excluded.explanation, decided_at = excluded.decided_at,
            run_id = excluded.run_id, reason_code = excluded.reason_code
         WHERE decisions.desired IS NOT excluded.desired
            OR decisions.reason IS NOT excluded.reason
            OR decisions.explanation IS NOT excluded.explanation
            OR decisions.reason_code IS NOT excluded.reason_code",
    )?
    .execute(params![
        mailbox,
        device_id,
        decision.desired.as_str(),
        decision.reason.as_str(),
        decision.explanation,
        ts(decided_at),
        run.map(|r| r.0),
        serde_json::to_string(&decision.code).ok()
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A converged full sync (every device seen, none changed) moves the sweep's mark and writes no
    /// inventory row: rewriting 50,000 rows' `last_seen` was most of its record phase. Yet every
    /// row reads back as seen at the run's time.
    #[test]
    fn a_converged_full_sync_rewrites_no_inventory_row() {
        let store = Store::open_in_memory().unwrap();
        let records = |at: DateTime<Utc>| -> Vec<InventoryRecord> {
            (0..INVENTORY_BULK_MIN * 2)
                .map(|i| InventoryRecord {
                    mailbox: format!("user{}", i % 50),
                    device_id: format!("DEV{i:05}"),
                    device_type: "iPhone".into(),
                    device_model: None,
                    first_seen: at,
                    last_seen: at,
                    access_state: DeviceAccessState::Allowed,
                    access_reason: DeviceAccessStateReason::Global,
                    user_display_name: None,
                    device_os: None,
                    client_version: None,
                    eas_protocol_refused: false,
                })
                .collect()
        };
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let t1 = t0 + chrono::Duration::hours(6);
        store.upsert_inventory(&records(t0)).unwrap();
        let before = store.conn.total_changes();
        store.upsert_inventory(&records(t1)).unwrap();
        assert_eq!(
            store.conn.total_changes() - before,
            1,
            "only the sweep's mark is written"
        );
        let rows = store.inventory_page(0, 1000).unwrap();
        assert_eq!(rows.len(), INVENTORY_BULK_MIN * 2);
        assert!(rows.iter().all(|r| r.last_seen == t1 && r.first_seen == t0));

        // Read ahead (during a listing), the stored rows serve the write only while nothing was
        // written: any write through this connection makes them stale.
        let ahead = store.recorded_rows().unwrap();
        let ahead = store
            .still_current(ahead)
            .unwrap()
            .expect("nothing written since");
        let (inventory, _) = ahead.split();
        let t2 = t1 + chrono::Duration::hours(6);
        let before = store.conn.total_changes();
        store
            .upsert_inventory_with(&records(t2), Some(inventory))
            .unwrap();
        assert_eq!(store.conn.total_changes() - before, 1);
        assert!(store.inventory_page(0, 1).unwrap()[0].last_seen == t2);
        let ahead = store.recorded_rows().unwrap();
        store
            .mark_decision_applied("user1", "DEV00001", t2)
            .unwrap();
        store.upsert_inventory(&records(t2)[..1]).unwrap();
        assert!(
            store.still_current(ahead).unwrap().is_none(),
            "written since"
        );
    }

    /// The owned entries read with the read-ahead are those of its moment, and it goes stale when
    /// one is forgotten or recorded (the read phase then reads them again).
    #[test]
    fn the_read_ahead_carries_the_owned_entries_until_one_changes() {
        let store = Store::open_in_memory().unwrap();
        store
            .record_owned(
                "alice",
                ListKind::Allow,
                "PHONE1",
                None,
                OwnedOrigin::Rollout,
            )
            .unwrap();
        store
            .record_owned("bob", ListKind::Block, "PHONE2", None, OwnedOrigin::Policy)
            .unwrap();
        let ahead = store.recorded_rows().unwrap();
        let mut owned: Vec<(String, ListKind, String, OwnedOrigin)> = Vec::new();
        store
            .for_each_owned_entry(|e| owned.push((e.mailbox, e.list, e.device_id, e.origin)))
            .unwrap();
        assert!(store.is_current(&ahead).unwrap());
        owned.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            owned,
            vec![
                (
                    "alice".into(),
                    ListKind::Allow,
                    "PHONE1".into(),
                    OwnedOrigin::Rollout
                ),
                (
                    "bob".into(),
                    ListKind::Block,
                    "PHONE2".into(),
                    OwnedOrigin::Policy
                ),
            ]
        );
        assert!(
            store
                .forget_owned("bob", ListKind::Block, "PHONE2")
                .unwrap()
        );
        assert!(!store.is_current(&ahead).unwrap(), "forgotten since");
        let ahead = store.recorded_rows().unwrap();
        store
            .record_owned(
                "carol",
                ListKind::Allow,
                "PHONE3",
                None,
                OwnedOrigin::Policy,
            )
            .unwrap();
        assert!(!store.is_current(&ahead).unwrap(), "recorded since");
    }
}
