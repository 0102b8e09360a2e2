//! The Exchange management client: the only way the connector sees and changes Exchange.
//!
//! | module | what |
//! |---|---|
//! | [`cmdlets`] | [`ExchangeClient`]: typed calls (devices, CAS mailboxes, lists, settings, rules, servers, permissions) |
//! | [`bridge`] | on-premises transport: a PowerShell child running `assets/exchange-bridge.ps1` ([`crate::bridge_protocol`]) |
//! | [`rest`] | Exchange Online transport: REST `InvokeCommand` with an app-only token |
//! | [`pool`] | the runspace pool: bounded parallelism, backpressure, retries, shrinking, recycling |
//! | [`failover`] | Client Access server discovery, failover and return to the primary |
//! | [`commands_log`] | optional JSON-lines log of every cmdlet sent |
//! | [`error`] | [`ExchangeError`] |
//!
//! A [`Transport`] is one runspace: it runs one cmdlet at a time and streams the output records to a
//! [`RecordSink`]. A [`Connector`] opens transports against a server. The [`pool::RunspacePool`] owns
//! the transports and is what [`ExchangeClient`] calls.

pub mod bridge;
pub mod cmdlets;
pub mod commands_log;
pub mod error;
pub mod failover;
pub mod pool;
pub mod rest;

pub use cmdlets::{
    DeviceListEdit, ExchangeClient, ExchangeSupport, ExchangeVersion, OrganizationSettingsUpdate,
    PermissionReport,
};
pub use error::ExchangeError;

use crate::model::exchange::ErrorRecord;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

/// One cmdlet call: name and parameters (see [`crate::bridge_protocol`] for the value mapping).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Cmdlet name, e.g. `Get-MobileDevice`.
    pub cmdlet: String,
    /// Parameters. Objects are hashtables (`{"Add":[..],"Remove":[..]}`).
    pub parameters: Map<String, Value>,
    /// The properties the caller reads, when not all: REST asks Exchange for these only
    /// (`$select`), which halves a 50,000-device listing's bytes and the memory its records hold.
    /// The PowerShell bridge returns whole objects (the remote session serializes them whole).
    pub properties: Option<&'static [&'static str]>,
}

impl Invocation {
    /// A call without parameters.
    pub fn new(cmdlet: &str) -> Self {
        Invocation {
            cmdlet: cmdlet.to_string(),
            parameters: Map::new(),
            properties: None,
        }
    }

    /// Asks for these properties only (the others come back empty).
    pub fn select(mut self, properties: &'static [&'static str]) -> Self {
        self.properties = Some(properties);
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.parameters.insert(name.to_string(), value.into());
        self
    }

    /// Whether the cmdlet changes something (used for logging and documentation of retry safety).
    pub fn is_write(&self) -> bool {
        !self.cmdlet.starts_with("Get-")
    }
}

/// What a finished call reported besides its records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvokeOutcome {
    /// Records written.
    pub count: u64,
    /// Non-terminating error records.
    pub errors: Vec<ErrorRecord>,
    /// Warnings (REST `@adminapi.warnings`).
    pub warnings: Vec<String>,
}

impl InvokeOutcome {
    /// Fails with the first error record, if any.
    pub fn into_result(self, cmdlet: &str) -> Result<InvokeOutcome, ExchangeError> {
        match self.errors.first() {
            Some(record) => Err(ExchangeError::from_record(cmdlet, record)),
            None => Ok(self),
        }
    }
}

/// Receives the output records of a call as they arrive.
pub trait RecordSink: Send {
    /// Called before every attempt: a retried call starts again from its first record, so a sink
    /// that collects must forget what an earlier, failed attempt delivered.
    fn restart(&mut self);
    /// One record. An error stops delivery (the call is still drained, then fails with it).
    fn record(&mut self, record: Value) -> Result<(), ExchangeError>;
    /// One REST `InvokeCommand` page as its JSON text: its records go to the sink, the rest of the
    /// page comes back. A sink that decodes into a type overrides this to read the records straight
    /// from the text (one pass, no intermediate `Value` per record); this default hands `Value`s to
    /// [`RecordSink::record`].
    fn page(&mut self, cmdlet: &str, text: &str) -> Result<rest::PageRest, ExchangeError> {
        let page = rest::read_page(cmdlet, text)?;
        let count = page.value.len() as u64;
        for record in page.value {
            self.record(record)?;
        }
        Ok(rest::PageRest {
            count,
            next_link: page.next_link,
            warnings: page.warnings,
        })
    }
}

/// A sink that drops records (writes, whose output the caller does not need).
#[derive(Debug, Default)]
pub struct DiscardSink;

impl RecordSink for DiscardSink {
    fn restart(&mut self) {}
    fn record(&mut self, _record: Value) -> Result<(), ExchangeError> {
        Ok(())
    }
}

/// Deserialises each record into `T` as it arrives (no JSON text is kept).
#[derive(Debug)]
pub struct CollectSink<T> {
    cmdlet: String,
    /// Records so far.
    pub items: Vec<T>,
}

impl<T> CollectSink<T> {
    /// A sink for a call of `cmdlet` (named in decoding errors).
    pub fn new(cmdlet: &str) -> Self {
        CollectSink {
            cmdlet: cmdlet.to_string(),
            items: Vec::new(),
        }
    }
}

impl<T: serde::de::DeserializeOwned + Send> RecordSink for CollectSink<T> {
    fn restart(&mut self) {
        self.items.clear();
    }
    fn record(&mut self, record: Value) -> Result<(), ExchangeError> {
        let item = serde_json::from_value(record).map_err(|e| ExchangeError::Decode {
            cmdlet: self.cmdlet.clone(),
            message: e.to_string(),
        })?;
        self.items.push(item);
        Ok(())
    }
    fn page(&mut self, cmdlet: &str, text: &str) -> Result<rest::PageRest, ExchangeError> {
        let (items, rest) = rest::read_typed_page::<T>(cmdlet, text)?;
        self.items.extend(items);
        Ok(rest)
    }
}

/// One runspace: runs one cmdlet at a time.
pub trait Transport: Send {
    /// Runs a cmdlet, streaming its records to `sink`. A terminating error is `Err`; non-terminating
    /// error records are in the outcome.
    fn invoke<'a>(
        &'a mut self,
        invocation: &'a Invocation,
        sink: &'a mut dyn RecordSink,
    ) -> BoxFuture<'a, Result<InvokeOutcome, ExchangeError>>;

    /// The server answering (FQDN, or the REST base URL).
    fn server(&self) -> &str;

    /// Closes the session (removes the remote runspace). Dropping a transport also closes it, without
    /// waiting.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A Client Access server the bridge can connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasServer {
    /// NetBIOS name (or the host of the URI for the configured primary).
    pub name: String,
    /// FQDN.
    pub fqdn: String,
    /// `http(s)://<server>/PowerShell/`.
    pub connection_uri: String,
}

impl CasServer {
    /// The server of a connection URI such as `https://cas01.contoso.com/PowerShell/`: the name is
    /// the host's first label in upper case; an IP address is its own name (its first "label", `10`
    /// or `127`, names no server).
    pub fn from_uri(connection_uri: &str) -> Result<CasServer, ExchangeError> {
        let url = url::Url::parse(connection_uri).map_err(|e| {
            ExchangeError::Config(format!("bad connection URI '{connection_uri}': {e}"))
        })?;
        let host = url.host_str().ok_or_else(|| {
            ExchangeError::Config(format!("the connection URI '{connection_uri}' has no host"))
        })?;
        let name = match url.host() {
            Some(url::Host::Domain(domain)) => domain
                .split('.')
                .next()
                .unwrap_or(domain)
                .to_ascii_uppercase(),
            _ => host.to_string(),
        };
        Ok(CasServer {
            name,
            fqdn: host.to_string(),
            connection_uri: connection_uri.to_string(),
        })
    }
}

/// Opens transports.
pub trait Connector: Send + Sync {
    /// Opens a runspace on `server` (`None` for transports without servers, such as REST).
    fn connect<'a>(
        &'a self,
        server: Option<&'a CasServer>,
    ) -> BoxFuture<'a, Result<Box<dyn Transport>, ExchangeError>>;
}

#[cfg(test)]
mod tests {
    use super::CasServer;

    #[test]
    fn a_server_is_named_by_its_first_label_and_an_ip_address_by_itself() {
        let named = CasServer::from_uri("https://cas01.contoso.com/PowerShell/").unwrap();
        assert_eq!(
            (named.name.as_str(), named.fqdn.as_str()),
            ("CAS01", "cas01.contoso.com")
        );
        let v4 = CasServer::from_uri("https://127.0.0.1:8443/PowerShell/").unwrap();
        assert_eq!(v4.name, "127.0.0.1");
        let v6 = CasServer::from_uri("https://[fd00::5]/PowerShell/").unwrap();
        assert_eq!(v6.name, "[fd00::5]");
        assert!(CasServer::from_uri("not a uri").is_err());
    }
}
