//! The endpoints file the lab writes once it listens: everything a client needs to use it.

use serde::{Deserialize, Serialize};

/// An account name and its password, as written in the endpoints file (lab credentials only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountEndpoint {
    /// `DOMAIN\user`.
    pub user: String,
    /// Password.
    pub password: String,
}

/// The notification mailbox and its password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MailboxEndpoint {
    /// SMTP address.
    pub address: String,
    /// Password.
    pub password: String,
}

/// One Client Access server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CasEndpoint {
    /// NetBIOS name, e.g. `CAS01`.
    pub name: String,
    /// FQDN, e.g. `cas01.contoso.lab` (resolve it to 127.0.0.1).
    pub fqdn: String,
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// `https://127.0.0.1:<port>/PowerShell/`.
    pub powershell_url: String,
}

/// The targeting of the scenario's policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyEndpoint {
    /// Included group ids.
    pub included_groups: Vec<String>,
    /// Excluded group ids.
    pub excluded_groups: Vec<String>,
}

/// The endpoints file (`--endpoints-file`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Entra login base: `{login_base}/{tenant}/oauth2/v2.0/token`.
    pub login_base: String,
    /// Graph base: `{graph_base}/v1.0/...`, `{graph_base}/beta/...`.
    pub graph_base: String,
    /// Exchange REST base: `{exchange_rest_base}/adminapi/beta/{tenant}/InvokeCommand`.
    pub exchange_rest_base: String,
    /// POX Autodiscover URL on the first CAS.
    pub autodiscover_url: String,
    /// SOAP Autodiscover URL on the first CAS.
    pub autodiscover_svc_url: String,
    /// EWS on the first CAS.
    pub ews_url: String,
    /// Control API base.
    pub control_base: String,
    /// PEM file of the lab's CA: trust it explicitly.
    pub ca_cert_pem: String,
    /// Tenant id.
    pub tenant_id: String,
    /// The connector app's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Its certificate (PFX file path).
    pub client_certificate_pfx: String,
    /// The PFX password.
    pub client_certificate_password: String,
    /// The organisation's SMTP domain (resolve `<domain>`, `autodiscover.<domain>` and the CAS FQDNs to
    /// 127.0.0.1 to use names instead of ports' IPs).
    pub domain: String,
    /// The Client Access servers.
    pub cas_servers: Vec<CasEndpoint>,
    /// The Exchange service account.
    pub service_account: AccountEndpoint,
    /// The notification account.
    pub notification_account: MailboxEndpoint,
    /// The policy's groups.
    pub policy: PolicyEndpoint,
    /// A connector package for this tenant.
    pub package_zip: String,
}
