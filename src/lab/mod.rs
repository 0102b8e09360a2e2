//! The lab: a simulated Exchange organisation and Intune tenant on 127.0.0.1 that speaks the real wire
//! protocols over HTTPS from its own CA. Used by the integration tests, the benchmarks and the
//! `--lab` demo. **Production modules never import this module.**
//!
//! | module | serves |
//! |---|---|
//! | [`org`], [`tenant`] | the data: mailboxes, partnerships, lists, rules; users, groups, managed devices |
//! | [`scenario`], [`generate`] | hand-written organisations (JSON) and generated ones at scale |
//! | [`exchange`] | the cmdlet engine, REST `InvokeCommand`, the `/PowerShell/` endpoint and the `pwsh` stand-in |
//! | [`identity`], [`tokens`] | the Entra token endpoint, OpenID discovery; minting and checking access tokens |
//! | [`graph`] | Graph v1.0/beta: managed devices, groups, users, exchange connectors, legacy settings |
//! | [`directory`], [`graph_apps`], [`sign_in`] | onboarding: app registrations, service principals, app-role assignments, keys; device-code and PKCE sign-in of an admin |
//! | [`ews`] | Autodiscover (POX and SOAP) and EWS `CreateItem`, Basic and NTLM |
//! | [`control`] | the JSON control API for tests and people trying the product |
//! | [`ca`], [`server`] | the lab CA and the HTTPS listeners (one per CAS, one for the cloud) |
//! | [`stand_in`] | the wrapper that points a connector's `PowerShellPath` at the `pwsh` stand-in (the `--lab` demo and `configure --lab-endpoints`) |

pub mod ca;
pub mod cas;
pub mod control;
pub mod directory;
pub mod endpoints;
pub mod ews;
pub mod exchange;
pub mod faults;
pub mod generate;
pub mod graph;
pub mod graph_apps;
pub mod identity;
pub mod org;
pub mod scenario;
pub mod server;
pub mod sign_in;
pub mod stand_in;
pub mod tenant;
pub mod tokens;

use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock, RwLock};

pub use endpoints::Endpoints;

/// A message EWS or Graph accepted for sending; the lab keeps it in its outbox instead of delivering it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// The sending mailbox (the authenticated account's address).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body as sent.
    pub body: String,
    /// `HTML` or `Text`.
    pub body_type: String,
    /// `MessageDisposition` used.
    pub disposition: String,
    /// When EWS accepted it.
    pub sent_at: DateTime<Utc>,
    /// How it was sent: [`SENT_VIA_EWS`] (`CreateItem`) or [`SENT_VIA_GRAPH`] (`sendMail`).
    #[serde(default = "sent_via_ews")]
    pub via: String,
}

/// [`SentMessage::via`] of a message sent through EWS `CreateItem`.
pub const SENT_VIA_EWS: &str = "ews";
/// [`SentMessage::via`] of a message sent through Graph `sendMail`.
pub const SENT_VIA_GRAPH: &str = "graph";

fn sent_via_ews() -> String {
    SENT_VIA_EWS.to_string()
}

/// An open remote PowerShell session, counted against its account's `PowerShellMaxConcurrency`.
#[derive(Debug, Clone)]
pub struct ShellSession {
    /// Session (runspace) id.
    pub id: String,
    /// Account name, lower-cased `DOMAIN\sam`.
    pub account: String,
    /// The CAS that holds it.
    pub cas: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Last request.
    pub last_used: DateTime<Utc>,
}

/// The CAS a request came in on (set by the CAS listener as a request extension).
#[derive(Debug, Clone)]
pub struct ServingCas {
    /// NetBIOS name, e.g. `CAS01`.
    pub name: String,
    /// FQDN, e.g. `cas01.contoso.lab`.
    pub fqdn: String,
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
}

/// Counters of what the lab served, for benchmarks and tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// Exchange cmdlet calls (REST pages and PowerShell invokes).
    pub exchange_calls: AtomicU64,
    /// Objects returned by those calls.
    pub exchange_objects: AtomicU64,
    /// Graph requests.
    pub graph_requests: AtomicU64,
    /// Token requests.
    pub token_requests: AtomicU64,
    /// EWS and Autodiscover requests (on the Client Access servers and Exchange Online's, answered or
    /// refused): a hosted run must leave it at zero.
    pub ews_requests: AtomicU64,
    /// Graph `sendMail` requests (accepted or refused).
    pub send_mail_requests: AtomicU64,
    /// `Set-CASMailbox` calls that reached a mailbox, by mailbox identity (crash tests bound them).
    pub mailbox_writes: Mutex<std::collections::BTreeMap<String, u64>>,
}

/// Credentials the lab hands out in its endpoints file.
#[derive(Debug, Clone)]
pub struct LabCredentials {
    /// The connector app's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Secret,
    /// Its certificate's PFX and password.
    pub client_certificate_pfx: Vec<u8>,
    /// PFX password.
    pub client_certificate_password: Secret,
    /// Exchange service account `DOMAIN\user`.
    pub service_account_user: String,
    /// Its password.
    pub service_account_password: Secret,
    /// Notification mailbox address.
    pub notification_address: String,
    /// Its password.
    pub notification_password: Secret,
}

/// Everything the lab's handlers share.
#[derive(Debug)]
pub struct LabState {
    /// The Exchange organisation.
    pub org: RwLock<org::ExchangeOrg>,
    /// The tenant.
    pub tenant: RwLock<tenant::Tenant>,
    /// Injected faults.
    pub faults: Mutex<faults::Faults>,
    /// Messages sent through EWS or Graph.
    pub outbox: Mutex<Vec<SentMessage>>,
    /// Open PowerShell sessions by id.
    pub shells: Mutex<HashMap<String, ShellSession>>,
    /// What was served.
    pub counters: Counters,
    /// Key the lab signs its access tokens with.
    pub token_signing_key: Secret,
    /// Credentials of the scenario's connector app and accounts.
    pub credentials: LabCredentials,
    /// The lab's URLs, known once the listeners are bound.
    pub endpoints: OnceLock<Endpoints>,
    /// App registrations, service principals, grants and pending sign-ins (onboarding).
    pub directory: Mutex<directory::Directory>,
    /// Client ids of the tenant's sign-in apps that mirror directory apps (see [`directory::Directory::publish`]).
    published_apps: Mutex<Vec<String>>,
}

impl LabState {
    /// Builds the state from a scenario's organisation and tenant.
    pub fn new(org: org::ExchangeOrg, tenant: tenant::Tenant, credentials: LabCredentials) -> Self {
        LabState {
            org: RwLock::new(org),
            tenant: RwLock::new(tenant),
            faults: Mutex::new(faults::Faults::default()),
            outbox: Mutex::new(Vec::new()),
            shells: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            token_signing_key: Secret::new(uuid::Uuid::new_v4().simple().to_string()),
            credentials,
            endpoints: OnceLock::new(),
            directory: Mutex::new(directory::Directory::default()),
            published_apps: Mutex::new(Vec::new()),
        }
    }

    /// Reads the organisation, recovering from a poisoned lock (a panicked handler must not take
    /// the whole lab down).
    pub fn org(&self) -> std::sync::RwLockReadGuard<'_, org::ExchangeOrg> {
        self.org.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the organisation.
    pub fn org_mut(&self) -> std::sync::RwLockWriteGuard<'_, org::ExchangeOrg> {
        self.org.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the tenant.
    pub fn tenant(&self) -> std::sync::RwLockReadGuard<'_, tenant::Tenant> {
        self.tenant.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the tenant.
    pub fn tenant_mut(&self) -> std::sync::RwLockWriteGuard<'_, tenant::Tenant> {
        self.tenant.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The fault settings.
    pub fn faults(&self) -> std::sync::MutexGuard<'_, faults::Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory (onboarding objects and pending sign-ins).
    pub fn directory(&self) -> std::sync::MutexGuard<'_, directory::Directory> {
        self.directory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mirrors the directory's apps into the tenant's sign-in apps, after every change to them.
    pub fn publish_directory(&self) {
        let directory = self.directory();
        let mut published = self
            .published_apps
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        directory.publish(&mut self.tenant_mut(), &mut published);
    }

    /// The lab's URLs. Empty strings before the listeners are bound (never seen by handlers).
    pub fn urls(&self) -> Endpoints {
        self.endpoints.get().cloned().unwrap_or_default()
    }
}
