//! Starting the lab: the world, its CA and certificates, the connector package, and the HTTPS listeners
//! on 127.0.0.1 — one "cloud" listener (Entra login, Graph, Exchange REST, control API) and one per
//! Client Access server (`/PowerShell/`, Autodiscover, EWS; switched by [`CasManager`]).

use super::ca::{CaError, LabCa};
use super::cas::{Listener, spawn_listener};
use super::endpoints::{AccountEndpoint, CasEndpoint, Endpoints, MailboxEndpoint, PolicyEndpoint};
use super::scenario::{Scenario, ScenarioError};
use super::{LabState, ServingCas};
use crate::certificate::ClientCertificate;
use crate::package::{ConnectorPackage, PackageManifest};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

pub use super::cas::{CasError, CasManager};

/// What to start.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The world to simulate.
    pub scenario: Scenario,
    /// Folder for the CA certificate, the client certificate, the connector package and the
    /// endpoints file.
    pub dir: PathBuf,
}

/// Why the lab could not start or a CAS could not be started again.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The scenario is inconsistent.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Certificates.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// The client certificate.
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertificateError),
    /// The connector package.
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
    /// Binding or files.
    #[error("lab I/O error ({what}): {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Serving or switching a Client Access server.
    #[error(transparent)]
    Cas(#[from] CasError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
    let what = what.into();
    move |source| LabError::Io { what, source }
}

/// A lab that is listening.
pub struct RunningLab {
    /// Shared state: read it or change it directly in tests.
    pub state: Arc<LabState>,
    /// Its endpoints (also written to `<dir>/endpoints.json`).
    pub endpoints: Endpoints,
    /// The CAS listeners.
    pub cas: Arc<CasManager>,
    cloud: Mutex<Option<Listener>>,
}

impl std::fmt::Debug for RunningLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningLab")
            .field("endpoints", &self.endpoints.control_base)
            .finish()
    }
}

impl RunningLab {
    /// Stops a CAS (see [`CasManager::stop`]).
    pub async fn stop_cas(&self, name: &str) -> Result<(), CasError> {
        self.cas.stop(name).await
    }

    /// Starts a CAS again.
    pub async fn start_cas(&self, name: &str) -> Result<(), CasError> {
        self.cas.start(name).await
    }

    /// Writes the endpoints file to `path`.
    pub fn write_endpoints(&self, path: &std::path::Path) -> Result<(), LabError> {
        let json = serde_json::to_string_pretty(&self.endpoints).unwrap_or_default();
        write_private(path, json.as_bytes())
    }

    /// Stops every listener.
    pub async fn shutdown(&self) {
        self.cas.stop_all().await;
        let cloud = self.cloud.lock().ok().and_then(|mut c| c.take());
        if let Some(listener) = cloud {
            listener.stop().await;
        }
    }
}

/// Writes a file only the current user can read (it holds lab credentials).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), LabError> {
    crate::atomic_file::write(path, bytes).map_err(io_err(format!("writing {}", path.display())))
}

/// Starts the lab: builds the world, makes the CA, the client certificate and the connector package,
/// binds every listener on 127.0.0.1 (ephemeral ports) and writes `<dir>/endpoints.json`.
pub async fn start(options: LabOptions) -> Result<RunningLab, LabError> {
    let (org, mut tenant, mut credentials) = options.scenario.build()?;
    std::fs::create_dir_all(&options.dir)
        .map_err(io_err(format!("creating {}", options.dir.display())))?;
    let domain = org.domain.clone();

    let client_cert = ClientCertificate::generate("Exchange Connector (lab)", 365)?;
    credentials.client_certificate_pfx =
        client_cert.to_pfx(&credentials.client_certificate_password)?;
    if let Some(app) = tenant.apps.first_mut() {
        app.certificates.push(client_cert.certificate_der.clone());
    }

    let ca = LabCa::new(&org.name)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        domain.clone(),
    ];
    names.push(format!("autodiscover.{domain}"));
    names.push(format!("mail.{domain}"));
    for server in &org.servers {
        names.push(server.fqdn.clone());
    }
    let tls = ca.server_config(&names)?;
    let cas_servers: Vec<(String, String)> = org
        .servers
        .iter()
        .filter(|s| s.is_client_access_server)
        .map(|s| (s.name.clone(), s.fqdn.clone()))
        .collect();
    let policy = PolicyEndpoint {
        included_groups: tenant.conditional_access_settings.included_groups.clone(),
        excluded_groups: tenant.conditional_access_settings.excluded_groups.clone(),
    };
    let tenant_id = tenant.tenant_id.clone();
    let state = Arc::new(LabState::new(org, tenant, credentials.clone()));

    let cloud_tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io_err("binding the cloud listener"))?;
    let cloud_addr = cloud_tcp
        .local_addr()
        .map_err(io_err("reading the cloud address"))?;
    let cloud_base = format!("https://127.0.0.1:{}", cloud_addr.port());

    let mut cas_endpoints = Vec::new();
    let mut bound = Vec::new();
    for (name, fqdn) in &cas_servers {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io_err(format!("binding CAS {name}")))?;
        let addr = tcp.local_addr().map_err(io_err("reading a CAS address"))?;
        let base_url = format!("https://127.0.0.1:{}", addr.port());
        cas_endpoints.push(CasEndpoint {
            name: name.clone(),
            fqdn: fqdn.clone(),
            base_url: base_url.clone(),
            powershell_url: format!("{base_url}/PowerShell/"),
        });
        let serving = ServingCas {
            name: name.clone(),
            fqdn: fqdn.clone(),
            base_url,
        };
        bound.push((serving, tcp));
    }

    let dir = &options.dir;
    let ca_path = dir.join("lab-ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).map_err(io_err("writing the CA certificate"))?;
    let pfx_path = dir.join("connector-client.pfx");
    write_private(&pfx_path, &credentials.client_certificate_pfx)?;
    let package_path = dir.join("connector-package.zip");
    let first_cas = cas_endpoints.first().cloned().unwrap_or_default();
    let endpoints = Endpoints {
        login_base: cloud_base.clone(),
        graph_base: cloud_base.clone(),
        exchange_rest_base: cloud_base.clone(),
        autodiscover_url: format!("{}/autodiscover/autodiscover.xml", first_cas.base_url),
        autodiscover_svc_url: format!("{}/autodiscover/autodiscover.svc", first_cas.base_url),
        ews_url: format!("{}/EWS/Exchange.asmx", first_cas.base_url),
        control_base: format!("{cloud_base}/control"),
        ca_cert_pem: ca_path.display().to_string(),
        tenant_id: tenant_id.clone(),
        client_id: credentials.client_id.clone(),
        client_secret: credentials.client_secret.expose().to_string(),
        client_certificate_pfx: pfx_path.display().to_string(),
        client_certificate_password: credentials.client_certificate_password.expose().to_string(),
        domain: domain.clone(),
        cas_servers: cas_endpoints,
        service_account: AccountEndpoint {
            user: credentials.service_account_user.clone(),
            password: credentials.service_account_password.expose().to_string(),
        },
        notification_account: MailboxEndpoint {
            address: credentials.notification_address.clone(),
            password: credentials.notification_password.expose().to_string(),
        },
        policy,
        package_zip: package_path.display().to_string(),
    };
    let _ = state.endpoints.set(endpoints.clone());

    ConnectorPackage {
        manifest: PackageManifest {
            format_version: crate::package::FORMAT_VERSION,
            tenant_id,
            tenant_name: Some(state.tenant().display_name.clone()),
            client_id: credentials.client_id.clone(),
            app_name: Some("Exchange Connector".into()),
            login_base: endpoints.login_base.clone(),
            graph_base: endpoints.graph_base.clone(),
            exchange_rest_base: Some(endpoints.exchange_rest_base.clone()),
            certificate_password: credentials.client_certificate_password.clone(),
        },
        certificate_pfx: credentials.client_certificate_pfx.clone(),
    }
    .write(&package_path)?;

    let cas = Arc::new(CasManager::serve(state.clone(), tls.clone(), bound).await?);
    let cloud_router = super::identity::router()
        .merge(super::graph::router())
        .merge(super::graph_apps::router())
        .merge(super::exchange::rest_router())
        .merge(super::ews::exchange_online_router())
        .with_state(state.clone())
        .nest(
            "/control",
            super::control::router(state.clone(), cas.clone()),
        );
    let cloud = spawn_listener(cloud_tcp, tls, cloud_router);
    let lab = RunningLab {
        state,
        endpoints,
        cas,
        cloud: Mutex::new(Some(cloud)),
    };
    lab.write_endpoints(&dir.join("endpoints.json"))?;
    Ok(lab)
}
