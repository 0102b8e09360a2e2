//! `exchange-connector-setup --lab`: starts the lab in-process and fills the wizard from its endpoints.
//!
//! This is the one place production code uses [`crate::lab`] (ARCHITECTURE.md): a demo path for
//! newcomers and the tests, never reached without `--lab`.

use crate::bridge_protocol::Authentication;
use crate::gui::connect::ConnectEnv;
use crate::gui::wizard::sign_in::FixedTarget;
use crate::gui::wizard::{ServerType, WizardState};
use crate::lab::endpoints::Endpoints;
use crate::lab::generate::{GenerateSpec, generate};
use crate::lab::server::{LabOptions, RunningLab, start};
use crate::lab::stand_in;
pub use crate::lab::stand_in::lab_program;
use crate::onboarding::Authority;
use crate::service::channel::ChannelAddress;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Why the lab demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum LabDemoError {
    /// The runtime or the folder.
    #[error("cannot prepare the lab: {0}")]
    Io(#[from] std::io::Error),
    /// The lab itself.
    #[error("the lab did not start: {0}")]
    Lab(String),
}

/// A running lab and the runtime it runs on.
pub struct LabDemo {
    /// The runtime (also used by the GUI for its checks).
    pub runtime: tokio::runtime::Runtime,
    /// The lab.
    pub lab: RunningLab,
    /// Its folder.
    pub dir: PathBuf,
}

impl std::fmt::Debug for LabDemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabDemo").field("dir", &self.dir).finish()
    }
}

impl LabDemo {
    /// Starts a generated organisation (`users`, `devices`) in `dir` on a new runtime; with
    /// `empty_tenant` the tenant has no connector app yet (the sign-in step creates it).
    pub fn start(
        users: usize,
        devices: usize,
        empty_tenant: bool,
        dir: &Path,
    ) -> Result<LabDemo, LabDemoError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::fs::create_dir_all(dir)?;
        let mut scenario = generate(GenerateSpec {
            users,
            devices,
            seed: 1,
        });
        scenario.tenant.no_connector_app = empty_tenant;
        let lab = runtime
            .block_on(start(LabOptions {
                scenario,
                dir: dir.to_path_buf(),
            }))
            .map_err(|e| LabDemoError::Lab(e.to_string()))?;
        Ok(LabDemo {
            runtime,
            lab,
            dir: dir.to_path_buf(),
        })
    }
}

/// The wizard's fields as the lab's endpoints file gives them.
pub fn prefill(e: &Endpoints) -> WizardState {
    let mut w = WizardState {
        package_path: e.package_zip.clone(),
        server_type: ServerType::OnPremises,
        trusted_ca_file: e.ca_cert_pem.clone(),
        exchange_user: e.service_account.user.clone(),
        exchange_password: e.service_account.password.clone(),
        notification_mailbox: e.notification_account.address.clone(),
        notification_password: e.notification_account.password.clone(),
        ..WizardState::default()
    };
    if let Some(cas) = e.cas_servers.first() {
        w.server = cas.fqdn.clone();
        w.powershell_url = format!(
            "https://{}:{}/PowerShell/",
            cas.fqdn,
            port_of(&cas.base_url)
        );
    }
    w.load_package();
    w
}

/// The wizard's fields for the lab's empty tenant: everything but the package, which the sign-in
/// step makes.
pub fn prefill_for_sign_in(e: &Endpoints) -> WizardState {
    WizardState {
        package_path: String::new(),
        package: None,
        ..prefill(e)
    }
}

/// Where the sign-in step signs in on the lab: its login host, Graph and tenant, its CA, a public
/// client of the lab's.
pub fn sign_in_target(e: &Endpoints) -> FixedTarget {
    FixedTarget {
        authority: Authority {
            login_base: e.login_base.clone(),
            graph_base: e.graph_base.clone(),
            tenant: e.tenant_id.clone(),
        },
        ca_file: Some(PathBuf::from(&e.ca_cert_pem)),
        client_id: "exchange-connector-lab-sign-in".to_string(),
        exchange_rest_base: e.exchange_rest_base.clone(),
    }
}

fn port_of(base_url: &str) -> u16 {
    url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .unwrap_or(443)
}

/// The environment for the lab: its names pinned to loopback, the `pwsh` stand-in as PowerShell host,
/// configuration and secrets in `dir`, and a worker address nobody listens on unless a test serves it.
pub fn env(e: &Endpoints, lab_program: &Path, dir: &Path) -> ConnectEnv {
    let loopback = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut resolve: Vec<(String, SocketAddr)> = e
        .cas_servers
        .iter()
        .map(|c| (c.fqdn.clone(), loopback(port_of(&c.base_url))))
        .collect();
    if let Some(first) = e.cas_servers.first() {
        let port = port_of(&first.base_url);
        resolve.push((e.domain.clone(), loopback(port)));
        resolve.push((format!("autodiscover.{}", e.domain), loopback(port)));
    }
    let config_dir = dir.join("config");
    // The worker the setup starts runs the same stand-in as `configure --lab-endpoints` sets up.
    let mut extra_settings = vec![
        ("ExchangeWebServiceURL".to_string(), e.ews_url.clone()),
        ("QuickSyncIntervalMinutes".to_string(), "1".to_string()),
    ];
    match stand_in::write_wrapper(dir, lab_program, Path::new(&e.ca_cert_pem)) {
        Ok(wrapper) => extra_settings.extend(
            stand_in::connector_settings(&wrapper)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        ),
        // The demo's worker then cannot reach Exchange, and says so in status.
        Err(_) => {
            extra_settings.push(("PowerShellAuthentication".to_string(), "Basic".to_string()))
        }
    }
    ConnectEnv {
        extra_settings,
        instance: "lab".into(),
        // Where the worker's file store (`--secret-store file`) keeps them.
        secrets_dir: Some(config_dir.join("secrets")),
        config_dir,
        channel: ChannelAddress(dir.join("worker.sock").display().to_string()),
        resolve,
        bridge_host: Some((
            lab_program.to_path_buf(),
            vec!["pwsh".into(), "--ca-file".into(), e.ca_cert_pem.clone()],
        )),
        powershell_authentication: Some(Authentication::Basic),
        cloud_override: None,
    }
}
