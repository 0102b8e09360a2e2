//! One run per store at a time (issue 11, item 2), across the worker, a CLI `sync` and any other
//! process on the same configuration folder.
//!
//! The lock is an OS file lock on `<db>.lock` beside the database ([`std::fs::File::try_lock`]:
//! `flock` on Unix, `LockFileEx` on Windows), held from [`Store::begin_run`] to [`Store::finish_run`].
//! The operating system drops it with its process, so a crashed run never blocks the next one and no
//! expiry is needed. The `run_lease` row only names the holder (process id, host, program, since when)
//! for the refusal the second run gets; a stale row left by a crash is overwritten by the next run.

use std::fs::{OpenOptions, TryLockError};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{Result, RunId, RunKind, Store, StoreError, ts};

/// Who is running against a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHolder {
    /// Its run, once recorded.
    pub run_id: Option<i64>,
    /// `quick`, `full` or `rollout`.
    pub run_kind: String,
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Program and role, e.g. `exchange-connector-service sync`.
    pub program: String,
    /// When the run began.
    pub since: DateTime<Utc>,
}

impl std::fmt::Display for RunHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} sync", self.run_kind)?;
        if let Some(id) = self.run_id {
            write!(f, " (run {id})")?;
        }
        write!(
            f,
            " by {}, process {} on {}, since {}",
            self.program,
            self.pid,
            self.host,
            self.since
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// The holder for [`StoreError::RunInProgress`]'s message.
pub(super) fn holder_text(holder: &Option<Box<RunHolder>>) -> String {
    match holder {
        Some(h) => h.to_string(),
        None => "a process that has not recorded itself yet".into(),
    }
}

/// The running program, with the role its subcommand gives it (`run` is the worker).
fn program() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown program".into());
    let role = std::env::args().skip(1).find_map(|a| match a.as_str() {
        "run" => Some("worker"),
        "sync" => Some("sync"),
        "service" => Some("service"),
        _ => None,
    });
    match role {
        Some(role) => format!("{exe} {role}"),
        None => exe,
    }
}

impl Store {
    /// The lock file of this database (none for an in-memory store, which no one else can open).
    fn run_lock_path(&self) -> Option<PathBuf> {
        let name = self.path.file_name()?;
        if self.path.as_os_str() == ":memory:" {
            return None;
        }
        let mut lock = name.to_os_string();
        lock.push(".lock");
        Some(self.path.with_file_name(lock))
    }

    /// Takes the OS lock for a run; kept while this connection already holds it (a run that stopped
    /// without [`Store::finish_run`], as a killed process would, is replaced by the next).
    pub(super) fn take_run_lease(&self) -> Result<()> {
        if self.run_lock.borrow().is_some() {
            return Ok(());
        }
        let Some(path) = self.run_lock_path() else {
            return Ok(());
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StoreError::RunLock {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                *self.run_lock.borrow_mut() = Some(file);
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(StoreError::RunInProgress {
                path: self.path.clone(),
                holder: self.run_holder().ok().flatten().map(Box::new),
            }),
            Err(TryLockError::Error(source)) => Err(StoreError::RunLock { path, source }),
        }
    }

    /// Releases the run lock (closing the file unlocks it).
    pub(super) fn release_run_lease(&self) {
        if self.run_lock.borrow_mut().take().is_some() {
            // Only the holder clears the row; a failure leaves a stale row the next run overwrites.
            if let Err(e) = self.conn.execute("DELETE FROM run_lease", []) {
                tracing::debug!(error = %e, "could not clear the run lease row");
            }
        }
    }

    /// Inserts the run and names this process as the lease holder, in one transaction.
    pub(super) fn record_run_start(&self, kind: RunKind, mailbox: Option<&str>) -> Result<RunId> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let now = ts(Utc::now());
        tx.execute(
            "INSERT INTO runs (kind, started_at, mailbox) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), now, mailbox],
        )
        .map_err(|e| self.err(e))?;
        let run = RunId(tx.last_insert_rowid());
        tx.execute(
            "INSERT OR REPLACE INTO run_lease (id, run_id, run_kind, pid, host, program, since) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run.0,
                kind.as_str(),
                std::process::id(),
                crate::host::host_name(),
                program(),
                now
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(run)
    }

    /// The holder recorded by the last run that began (stale after a crash: only meaningful while
    /// the lock is held by someone else).
    fn run_holder(&self) -> Result<Option<RunHolder>> {
        let row = self
            .conn
            .query_row(
                "SELECT run_id, run_kind, pid, host, program, since FROM run_lease WHERE id = 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, Option<i64>>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, u32>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(run_id, run_kind, pid, host, program, since)| {
            Ok(RunHolder {
                run_id,
                run_kind,
                pid,
                host,
                program,
                since: self.time(&since)?,
            })
        })
        .transpose()
    }
}
