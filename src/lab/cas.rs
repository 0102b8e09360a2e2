//! The lab's Client Access server listeners and the accept loop every lab listener runs. A CAS can be
//! stopped — its listener closes and every connection it holds is cut, as when a server goes down —
//! and started again on the same port. Used by `server` (which starts them) and `control` (which
//! switches them), so neither of those needs the other's internals.

use super::{LabState, ServingCas};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Why a CAS could not be switched.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// No such CAS.
    #[error("the lab has no Client Access server named '{0}'")]
    UnknownCas(String),
    /// Its address is taken (binding again after a stop).
    #[error("cannot bind the lab CAS address {addr} again: {source}")]
    Bind {
        /// The CAS's address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The bound listener has no address.
    #[error("cannot read the address of lab CAS {name}: {source}")]
    Address {
        /// The CAS.
        name: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A running listener: a shutdown signal and the accept loop's task.
pub(super) struct Listener {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listener {
    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct CasSlot {
    addr: SocketAddr,
    serving: ServingCas,
    listener: Option<Listener>,
}

/// Starts and stops CAS listeners; shared by the running lab and the control API.
pub struct CasManager {
    state: Arc<LabState>,
    tls: Arc<rustls::ServerConfig>,
    slots: tokio::sync::Mutex<BTreeMap<String, CasSlot>>,
}

impl std::fmt::Debug for CasManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CasManager { .. }")
    }
}

impl CasManager {
    /// Serves every bound CAS (`(serving, its listener)`) and returns the manager that can stop and
    /// start them again on the same addresses.
    pub(super) async fn serve(
        state: Arc<LabState>,
        tls: Arc<rustls::ServerConfig>,
        bound: Vec<(ServingCas, TcpListener)>,
    ) -> Result<CasManager, CasError> {
        let manager = CasManager {
            state,
            tls,
            slots: tokio::sync::Mutex::new(BTreeMap::new()),
        };
        {
            let mut slots = manager.slots.lock().await;
            for (serving, tcp) in bound {
                let addr = tcp.local_addr().map_err(|source| CasError::Address {
                    name: serving.name.clone(),
                    source,
                })?;
                let router = manager.router(&serving);
                let listener = spawn_listener(tcp, manager.tls.clone(), router);
                slots.insert(
                    serving.name.clone(),
                    CasSlot {
                        addr,
                        serving,
                        listener: Some(listener),
                    },
                );
            }
        }
        Ok(manager)
    }

    fn router(&self, serving: &ServingCas) -> Router {
        super::exchange::cas_router()
            .merge(super::ews::router())
            .layer(axum::Extension(serving.clone()))
            .with_state(self.state.clone())
    }

    /// Stops a CAS: its listener closes and its open connections are cut.
    pub async fn stop(&self, name: &str) -> Result<(), CasError> {
        let mut slots = self.slots.lock().await;
        let slot = find_slot(&mut slots, name)?;
        if let Some(listener) = slot.listener.take() {
            listener.stop().await;
            // A dead server's sessions are gone; they must not keep counting against the shell limit.
            let dropped = super::exchange::drop_sessions_of_cas(&self.state, &slot.serving.name);
            tracing::info!(cas = %slot.serving.name, dropped, "lab CAS stopped");
        }
        Ok(())
    }

    /// Starts a stopped CAS again on the same address.
    pub async fn start(&self, name: &str) -> Result<(), CasError> {
        let mut slots = self.slots.lock().await;
        let slot = find_slot(&mut slots, name)?;
        if slot.listener.is_none() {
            let tcp = TcpListener::bind(slot.addr)
                .await
                .map_err(|source| CasError::Bind {
                    addr: slot.addr,
                    source,
                })?;
            let router = self.router(&slot.serving);
            slot.listener = Some(spawn_listener(tcp, self.tls.clone(), router));
            tracing::info!(cas = %slot.serving.name, "lab CAS started");
        }
        Ok(())
    }

    /// Names of the CAS servers and whether each is running.
    pub async fn status(&self) -> Vec<(String, bool)> {
        self.slots
            .lock()
            .await
            .values()
            .map(|s| (s.serving.name.clone(), s.listener.is_some()))
            .collect()
    }

    pub(super) async fn stop_all(&self) {
        let mut slots = self.slots.lock().await;
        for slot in slots.values_mut() {
            if let Some(listener) = slot.listener.take() {
                listener.stop().await;
            }
        }
    }
}

fn find_slot<'a>(
    slots: &'a mut BTreeMap<String, CasSlot>,
    name: &str,
) -> Result<&'a mut CasSlot, CasError> {
    let key = slots
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name) || slots_fqdn_matches(k, name))
        .cloned()
        .ok_or_else(|| CasError::UnknownCas(name.to_string()))?;
    slots
        .get_mut(&key)
        .ok_or_else(|| CasError::UnknownCas(name.to_string()))
}

fn slots_fqdn_matches(key: &str, name: &str) -> bool {
    name.split('.')
        .next()
        .is_some_and(|host| host.eq_ignore_ascii_case(key))
}

/// Accepts TLS connections and serves `router` on each until told to stop; stopping drops every
/// connection task, which cuts the connections as a dead server would.
pub(super) fn spawn_listener(
    tcp: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
) -> Listener {
    let (stop, mut stopped) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                accepted = tcp.accept() => {
                    let Ok((stream, _peer)) = accepted else { continue };
                    let acceptor = acceptor.clone();
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        let Ok(tls_stream) = acceptor.accept(stream).await else { return };
                        let _ = ConnBuilder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls_stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
    });
    Listener { stop, task }
}
