//! Transactions that nest: a store operation's own transaction is a savepoint, so several operations
//! can share one outer transaction ([`Store::batch`](super::Store::batch)) and one commit — one fsync
//! for a group of journal writes instead of one each.

use rusqlite::Connection;

/// A transaction as a SQLite savepoint: outside any transaction it begins one (deferred) and its
/// release commits; inside one it is nested and its release keeps its work in the outer transaction.
/// Dropped without [`StoreTx::commit`], its work is rolled back (the outer transaction, if any, goes
/// on).
pub(super) struct StoreTx<'c> {
    conn: &'c Connection,
    /// Whether this savepoint began the transaction (its release is the commit).
    outermost: bool,
    done: bool,
}

const NAME: &str = "store_tx";

impl<'c> StoreTx<'c> {
    /// Begins the savepoint.
    pub(super) fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        let outermost = conn.is_autocommit();
        conn.execute_batch(&format!("SAVEPOINT {NAME}"))?;
        Ok(StoreTx {
            conn,
            outermost,
            done: false,
        })
    }

    /// Releases the savepoint: commits, unless an outer transaction is open.
    pub(super) fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        let released = self.conn.execute_batch(&format!("RELEASE {NAME}"));
        if released.is_err() && self.outermost && !self.conn.is_autocommit() {
            // The commit failed (busy, disk full): end the transaction rather than leave it open.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        released
    }
}

impl std::ops::Deref for StoreTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for StoreTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Undo this savepoint's work, then end it; nothing more can be done about a failure here
            // (the connection reports it on its next statement).
            let _ = self
                .conn
                .execute_batch(&format!("ROLLBACK TO {NAME}; RELEASE {NAME}"));
        }
    }
}
