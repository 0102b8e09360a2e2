//! Client Access server discovery and failover (spec §1.4).
//!
//! After the first successful connection the pool runs `Get-ExchangeServer` and hands the servers with
//! the Client Access role to [`Failover::set_discovered`]. From then on [`Failover::candidates`] gives
//! the order in which to try servers when a runspace is opened: the server in use first, then the
//! others, servers that recently failed last — so when the server in use stops answering, the next
//! connection attempt (the same retry cycle) lands on another one. While away from the configured
//! primary, the primary is tried first once every `probe_interval`; when it answers, the connector
//! returns to it. Every switch is logged. With `IsCasFailoverEnabled = false` only the primary is used.

use super::CasServer;
use crate::model::exchange::ExchangeServer;
use std::collections::HashMap;
use std::sync::Mutex;
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
        }
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

    /// Records the organisation's Exchange servers; keeps those with the Client Access role.
    pub fn set_discovered(&self, servers: &[ExchangeServer]) {
        let mut state = self.lock();
        state.discovered = true;
        let primary = state.servers[0].clone();
        for server in servers.iter().filter(|s| s.is_client_access_server) {
            let known = state.servers.iter().any(|k| {
                k.fqdn.eq_ignore_ascii_case(&server.fqdn)
                    || k.name.eq_ignore_ascii_case(&server.name)
            });
            if known {
                continue;
            }
            let uri = self.uri_for(&primary, server);
            state.servers.push(CasServer {
                name: server.name.clone(),
                fqdn: server.fqdn.clone(),
                connection_uri: uri,
            });
        }
        let names: Vec<&str> = state.servers.iter().map(|s| s.name.as_str()).collect();
        tracing::info!(servers = ?names, "discovered Client Access servers");
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
}
