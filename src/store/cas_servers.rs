//! The Client Access servers discovered through a configured primary (issue 11, item 3), so a fresh
//! process whose primary is down at start can fail over ([`crate::exchange::failover`]).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Result, Store, ts};
use crate::exchange::CasServer;
use crate::exchange::failover::ServerMemory;

/// A remembered Client Access server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownCasServer {
    /// Name, FQDN and connection URI.
    pub name: String,
    /// FQDN.
    pub fqdn: String,
    /// `https://<server>/PowerShell/` (or the configured override).
    pub connection_uri: String,
    /// When discovery last listed it.
    pub discovered_at: DateTime<Utc>,
    /// When the connector last switched to it (none: never switched to).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&KnownCasServer> for CasServer {
    fn from(k: &KnownCasServer) -> CasServer {
        CasServer {
            name: k.name.clone(),
            fqdn: k.fqdn.clone(),
            connection_uri: k.connection_uri.clone(),
        }
    }
}

impl Store {
    /// The servers discovered through the primary `primary_fqdn`, by name.
    pub fn cas_servers(&self, primary_fqdn: &str) -> Result<Vec<KnownCasServer>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, fqdn, connection_uri, discovered_at, last_used_at FROM cas_servers \
                 WHERE primary_fqdn = ?1 ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![primary_fqdn], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, fqdn, connection_uri, discovered, used) = row.map_err(|e| self.err(e))?;
            out.push(KnownCasServer {
                name,
                fqdn,
                connection_uri,
                discovered_at: self.time(&discovered)?,
                last_used_at: self.opt_time(used)?,
            });
        }
        Ok(out)
    }

    /// Replaces the servers discovered through `primary_fqdn` (keeping when each was last used).
    pub fn save_cas_servers(&self, primary_fqdn: &str, servers: &[CasServer]) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let now = ts(Utc::now());
        let names: Vec<String> = servers.iter().map(|s| s.name.to_lowercase()).collect();
        tx.execute(
            "DELETE FROM cas_servers WHERE primary_fqdn = ?1 AND lower(name) NOT IN \
             (SELECT value FROM json_each(?2))",
            params![
                primary_fqdn,
                serde_json::to_string(&names).unwrap_or_default()
            ],
        )
        .map_err(|e| self.err(e))?;
        for server in servers {
            tx.execute(
                "INSERT INTO cas_servers (primary_fqdn, name, fqdn, connection_uri, discovered_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (primary_fqdn, name) DO UPDATE SET \
                 fqdn = excluded.fqdn, connection_uri = excluded.connection_uri, \
                 discovered_at = excluded.discovered_at",
                params![
                    primary_fqdn,
                    server.name,
                    server.fqdn,
                    server.connection_uri,
                    now
                ],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Records that the connector switched to `server` (for status and support).
    pub fn mark_cas_server_used(&self, primary_fqdn: &str, server: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE cas_servers SET last_used_at = ?3 WHERE primary_fqdn = ?1 AND name = ?2",
                params![primary_fqdn, server, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// [`ServerMemory`] in the state database at `path`: each call opens its own short connection, so
/// the pool's tasks never wait for the engine's.
#[derive(Debug, Clone)]
pub struct StoreServerMemory {
    path: PathBuf,
}

impl StoreServerMemory {
    /// The memory of the store at `path`; `None` for an in-memory store (nothing outlives it).
    pub fn new(path: &Path) -> Option<StoreServerMemory> {
        (path.as_os_str() != ":memory:").then(|| StoreServerMemory {
            path: path.to_path_buf(),
        })
    }

    fn with_store<R>(&self, what: &str, f: impl FnOnce(&Store) -> Result<R>) -> Option<R> {
        match Store::open(&self.path).and_then(|store| f(&store)) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "cannot {what} the Client Access servers in the state database");
                None
            }
        }
    }
}

impl ServerMemory for StoreServerMemory {
    fn load(&self, primary: &CasServer) -> Vec<CasServer> {
        self.with_store("read", |s| s.cas_servers(&primary.fqdn))
            .unwrap_or_default()
            .iter()
            .map(CasServer::from)
            .collect()
    }

    fn save(&self, primary: &CasServer, servers: &[CasServer]) {
        self.with_store("remember", |s| s.save_cas_servers(&primary.fqdn, servers));
    }

    fn in_use(&self, primary: &CasServer, server: &CasServer) {
        self.with_store("record the use of", |s| {
            s.mark_cas_server_used(&primary.fqdn, &server.name)
        });
    }
}
