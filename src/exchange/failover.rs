//! Client Access server discovery and failover (spec §1.4).
//!
//! After the first successful connection the pool runs `Get-ExchangeServer` and hands the servers with
//! the Client Access role to [`Failover::set_discovered`]. From then on [`Failover::candidates`] gives
//! the order in which to try servers when a runspace is opened: the server in use first, then the
//! others, servers that recently failed last — so when the server in use stops answering, the next
//! connection attempt (the same retry cycle) lands on another one. While away from the configured
//! primary, the primary is tried first once every `probe_interval`; when it answers, the connector
//! returns to it. Every switch is logged. With `IsCasFailoverEnabled = false` only the primary is used.
//!
//! The discovered servers are remembered through a [`ServerMemory`] (the state store:
//! [`crate::store::StoreServerMemory`]), so a fresh process — a restarted worker, a CLI `sync` — whose
//! primary is down at start fails over too. A fresh process always starts on the primary, so it is
//! back there as soon as the primary answers again.

use super::CasServer;
use crate::model::exchange::ExchangeServer;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Failover settings.
#[derive(Debug, Clone)]
pub struct FailoverConfig {
    /// `IsCasFailoverEnabled` (default true).
    pub enabled: bool,
    /// How often to try the primary again while on another server.
    pub probe_interval: Duration,
    /// How long a server that failed is tried only after the others.
    pub down_for: Duration,
    /// Connection URIs of discovered servers, by FQDN or name (case-insensitive), for servers that do
    /// not listen on the primary's scheme and port. Others get the primary's URI with the host replaced.
    pub uri_overrides: HashMap<String, String>,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            enabled: true,
            probe_interval: Duration::from_secs(60),
            down_for: Duration::from_secs(300),
            uri_overrides: HashMap::new(),
        }
    }
}

/// Where the discovered servers outlive the process. Implementations handle (log) their own errors:
/// failing to remember servers never fails a run.
pub trait ServerMemory: Send + Sync {
    /// The servers discovered earlier through `primary` (the primary itself may be among them).
    fn load(&self, primary: &CasServer) -> Vec<CasServer>;
    /// Replaces the servers discovered through `primary`.
    fn save(&self, primary: &CasServer, servers: &[CasServer]);
    /// `server` is now the one in use.
    fn in_use(&self, primary: &CasServer, server: &CasServer);
}

#[derive(Debug)]
struct State {
    /// Primary first, then discovered servers.
    servers: Vec<CasServer>,
    current: usize,
    discovered: bool,
    down_until: HashMap<String, Instant>,
    last_probe: Instant,
}

/// The failover state shared by the pool's runspaces.
#[derive(Debug)]
pub struct Failover {
    config: FailoverConfig,
    state: Mutex<State>,
    memory: OnceLock<Box<dyn ServerMemory>>,
}

impl std::fmt::Debug for dyn ServerMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerMemory")
    }
}

impl Failover {
    /// Starts on the configured primary.
    pub fn new(primary: CasServer, config: FailoverConfig) -> Self {
        Failover {
            config,
            state: Mutex::new(State {
                servers: vec![primary],
                current: 0,
                discovered: false,
                down_until: HashMap::new(),
                last_probe: Instant::now(),
            }),
            memory: OnceLock::new(),
        }
    }

    /// Remembers the discovered servers in `memory` from now on, and takes those it remembers as
    /// failover candidates at once (discovery still runs after the first connection and refreshes
    /// them). Only the first memory given is kept.
    pub fn remember_in(&self, memory: Box<dyn ServerMemory>) {
        if !self.config.enabled {
            return;
        }
        let primary = self.primary();
        let known = memory.load(&primary);
        if self.memory.set(memory).is_err() {
            return;
        }
        if known.is_empty() {
            return;
        }
        let mut state = self.lock();
        for server in known {
            let already = state.servers.iter().any(|k| same_server(k, &server));
            if !already {
                state.servers.push(server);
            }
        }
        let names: Vec<&str> = state.servers.iter().map(|s| s.name.as_str()).collect();
        tracing::info!(servers = ?names, "Client Access servers remembered from an earlier run");
    }

    /// Whether servers besides the primary are known (discovered now or remembered).
    pub fn has_alternatives(&self) -> bool {
        self.config.enabled && self.lock().servers.len() > 1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether failover is on.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// The configured primary.
    pub fn primary(&self) -> CasServer {
        self.lock().servers[0].clone()
    }

    /// The server new runspaces go to.
    pub fn current(&self) -> CasServer {
        let state = self.lock();
        state.servers[state.current].clone()
    }

    /// All known servers, primary first.
    pub fn servers(&self) -> Vec<CasServer> {
        self.lock().servers.clone()
    }

    /// Discovery still to do.
    pub fn needs_discovery(&self) -> bool {
        self.config.enabled && !self.lock().discovered
    }

    /// Records the organisation's Exchange servers; keeps those with the Client Access role. They
    /// replace the servers known before (remembered ones included); the primary stays first.
    pub fn set_discovered(&self, servers: &[ExchangeServer]) {
        let mut state = self.lock();
        state.discovered = true;
        if !servers.iter().any(|s| s.is_client_access_server) {
            // Discovery refused or empty: keep what was remembered rather than forget it.
            return;
        }
        let primary = state.servers[0].clone();
        let in_use = state.servers[state.current].clone();
        let mut known = vec![primary.clone()];
        for server in servers.iter().filter(|s| s.is_client_access_server) {
            let duplicate = known.iter().any(|k| {
                k.fqdn.eq_ignore_ascii_case(&server.fqdn)
                    || k.name.eq_ignore_ascii_case(&server.name)
            });
            if duplicate {
                continue;
            }
            let uri = self.uri_for(&primary, server);
            known.push(CasServer {
                name: server.name.clone(),
                fqdn: server.fqdn.clone(),
                connection_uri: uri,
            });
        }
        state.current = known
            .iter()
            .position(|k| same_server(k, &in_use))
            .unwrap_or(0);
        state.servers = known;
        let names: Vec<&str> = state.servers.iter().map(|s| s.name.as_str()).collect();
        tracing::info!(servers = ?names, "discovered Client Access servers");
        let discovered = state.servers[1..].to_vec();
        drop(state);
        if let Some(memory) = self.memory.get() {
            memory.save(&primary, &discovered);
        }
    }

    fn uri_for(&self, primary: &CasServer, server: &ExchangeServer) -> String {
        let overridden = self.config.uri_overrides.iter().find(|(key, _)| {
            key.eq_ignore_ascii_case(&server.fqdn) || key.eq_ignore_ascii_case(&server.name)
        });
        if let Some((_, uri)) = overridden {
            return uri.clone();
        }
        if let Ok(mut url) = url::Url::parse(&primary.connection_uri)
            && url.set_host(Some(&server.fqdn)).is_ok()
        {
            return url.to_string();
        }
        format!("https://{}/PowerShell/", server.fqdn)
    }

    /// The order in which to try servers for a new runspace.
    pub fn candidates(&self) -> Vec<CasServer> {
        let mut state = self.lock();
        if !self.config.enabled {
            return vec![state.servers[0].clone()];
        }
        let now = Instant::now();
        let mut order: Vec<usize> = Vec::with_capacity(state.servers.len());
        // Away from the primary: try it first once per probe interval, to return to it.
        let probe = state.current != 0
            && now.duration_since(state.last_probe) >= self.config.probe_interval;
        if probe {
            state.last_probe = now;
            order.push(0);
        }
        if !order.contains(&state.current) {
            order.push(state.current);
        }
        for i in 0..state.servers.len() {
            if !order.contains(&i) && (i != 0 || state.current == 0) {
                order.push(i);
            }
        }
        // The primary, when away from it and not probing, goes last: it was down a moment ago.
        if !order.contains(&0) {
            order.push(0);
        }
        let is_down = |i: &usize| {
            state
                .down_until
                .get(&state.servers[*i].name.to_ascii_lowercase())
                .is_some_and(|until| *until > now)
        };
        let skip = usize::from(probe);
        let (head, tail) = order.split_at(skip);
        let mut rest: Vec<usize> = tail.to_vec();
        rest.sort_by_key(|i| is_down(i)); // stable: keeps the order among up and among down servers
        head.iter()
            .chain(rest.iter())
            .map(|i| state.servers[*i].clone())
            .collect()
    }

    /// A runspace opened on `server`: it becomes the one in use (logged when it changes).
    pub fn report_success(&self, server: &CasServer) {
        let mut state = self.lock();
        state.down_until.remove(&server.name.to_ascii_lowercase());
        let Some(index) = state.servers.iter().position(|s| s.name == server.name) else {
            return;
        };
        if index != state.current {
            let from = state.servers[state.current].name.clone();
            state.current = index;
            state.last_probe = Instant::now();
            if index == 0 {
                tracing::warn!(from = %from, to = %server.name, "Client Access server failover: back on the primary");
            } else {
                tracing::warn!(from = %from, to = %server.name, "Client Access server failover: switched server");
            }
            let primary = state.servers[0].clone();
            drop(state);
            if let Some(memory) = self.memory.get() {
                memory.in_use(&primary, server);
            }
        }
    }

    /// `server` did not answer: try the others first for a while.
    pub fn report_unreachable(&self, server: &CasServer) {
        let mut state = self.lock();
        let until = Instant::now() + self.config.down_for;
        state
            .down_until
            .insert(server.name.to_ascii_lowercase(), until);
        tracing::warn!(server = %server.name, "Client Access server did not answer");
    }

    /// Whether runspaces on `server` may still be used (false once the pool moved to another one).
    pub fn is_current(&self, server: &CasServer) -> bool {
        let state = self.lock();
        state.servers[state.current].name == server.name
    }

    /// Whether a probe of the primary is due (idle runspaces on another server should then be
    /// dropped, so the next connection tries the primary).
    pub fn probe_due(&self) -> bool {
        let state = self.lock();
        self.config.enabled
            && state.current != 0
            && Instant::now().duration_since(state.last_probe) >= self.config.probe_interval
    }
}

/// The same server: same name or same FQDN (case-insensitive).
fn same_server(a: &CasServer, b: &CasServer) -> bool {
    a.name.eq_ignore_ascii_case(&b.name) || a.fqdn.eq_ignore_ascii_case(&b.fqdn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> ExchangeServer {
        ExchangeServer {
            name: name.into(),
            identity: name.into(),
            fqdn: format!("{}.contoso.lab", name.to_ascii_lowercase()),
            server_role: "Mailbox, ClientAccess".into(),
            admin_display_version: "Version 15.2".into(),
            site: None,
            is_client_access_server: true,
            is_e15_or_later: true,
        }
    }

    fn primary() -> CasServer {
        CasServer {
            name: "CAS01".into(),
            fqdn: "cas01.contoso.lab".into(),
            connection_uri: "https://cas01.contoso.lab:8443/PowerShell/".into(),
        }
    }

    #[test]
    fn fails_over_and_returns_to_primary() {
        let config = FailoverConfig {
            probe_interval: Duration::from_millis(50),
            ..Default::default()
        };
        let f = Failover::new(primary(), config);
        assert!(f.needs_discovery());
        let mut mbx = server("MBX01");
        mbx.is_client_access_server = false;
        f.set_discovered(&[server("CAS01"), server("CAS02"), server("CAS03"), mbx]);
        assert_eq!(f.servers().len(), 3);
        assert_eq!(
            f.servers()[1].connection_uri,
            "https://cas02.contoso.lab:8443/PowerShell/"
        );
        let names = |v: Vec<CasServer>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(names(f.candidates()), ["CAS01", "CAS02", "CAS03"]);
        // The primary dies: it goes last; the next connection lands on CAS02.
        f.report_unreachable(&primary());
        assert_eq!(names(f.candidates()), ["CAS02", "CAS03", "CAS01"]);
        f.report_success(&f.servers()[1]);
        assert_eq!(f.current().name, "CAS02");
        assert!(!f.probe_due());
        std::thread::sleep(Duration::from_millis(60));
        assert!(f.probe_due());
        assert_eq!(names(f.candidates()), ["CAS01", "CAS02", "CAS03"]);
        f.report_success(&primary());
        assert_eq!(f.current().name, "CAS01");
    }

    #[test]
    fn disabled_uses_only_primary() {
        let f = Failover::new(
            primary(),
            FailoverConfig {
                enabled: false,
                ..Default::default()
            },
        );
        assert!(!f.needs_discovery());
        f.report_unreachable(&primary());
        assert_eq!(f.candidates(), vec![primary()]);
    }

    /// A memory in a vector, as the store keeps it.
    #[derive(Default)]
    struct Remembered(Mutex<(Vec<CasServer>, Option<String>)>);

    impl ServerMemory for std::sync::Arc<Remembered> {
        fn load(&self, _primary: &CasServer) -> Vec<CasServer> {
            self.0.lock().unwrap().0.clone()
        }
        fn save(&self, _primary: &CasServer, servers: &[CasServer]) {
            self.0.lock().unwrap().0 = servers.to_vec();
        }
        fn in_use(&self, _primary: &CasServer, server: &CasServer) {
            self.0.lock().unwrap().1 = Some(server.name.clone());
        }
    }

    #[test]
    fn a_fresh_failover_fails_over_to_remembered_servers_and_starts_on_the_primary() {
        let memory = std::sync::Arc::new(Remembered::default());
        let names = |v: Vec<CasServer>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        // A first process discovers the servers; the memory keeps all but the primary.
        let first = Failover::new(primary(), FailoverConfig::default());
        first.remember_in(Box::new(memory.clone()));
        assert!(!first.has_alternatives());
        first.set_discovered(&[server("CAS01"), server("CAS02"), server("CAS03")]);
        assert_eq!(names(memory.load(&primary())), ["CAS02", "CAS03"]);
        // A second process: the remembered servers are candidates before any connection.
        let second = Failover::new(primary(), FailoverConfig::default());
        second.remember_in(Box::new(memory.clone()));
        assert!(second.has_alternatives());
        assert!(
            second.needs_discovery(),
            "discovery still refreshes the list"
        );
        assert_eq!(names(second.candidates()), ["CAS01", "CAS02", "CAS03"]);
        second.report_unreachable(&primary());
        assert_eq!(names(second.candidates()), ["CAS02", "CAS03", "CAS01"]);
        second.report_success(&second.servers()[1]);
        assert_eq!(memory.0.lock().unwrap().1.as_deref(), Some("CAS02"));
        // Discovery refused: what was remembered stays.
        second.set_discovered(&[]);
        assert_eq!(second.servers().len(), 3);
        assert_eq!(second.current().name, "CAS02");
        // A server retired from the organisation is forgotten at the next discovery.
        second.set_discovered(&[server("CAS01"), server("CAS02")]);
        assert_eq!(names(second.servers()), ["CAS01", "CAS02"]);
        assert_eq!(second.current().name, "CAS02", "still on the server in use");
        assert_eq!(names(memory.load(&primary())), ["CAS02"]);
    }
}
