//! Telling users how to get their phone allowed: one mail per newly blocked or quarantined device,
//! from the notification mailbox, with the enrolment link ("Get started"), in the configured language.
//! On premises the mail goes through EWS as the notification account (the EWS URL is
//! `ExchangeWebServiceURL` when configured, else Autodiscover's answer, cached for the life of the
//! notifier); for Exchange Online through Graph `sendMail` with the app's token ([`graph_mail`]). The
//! templates, the rendering and the retry bookkeeping of the sync engine are the same for both.
//!
//! | file | owns |
//! |---|---|
//! | `auth.rs` | Windows authentication (NTLM via `ntlmclient`, inside SPNEGO when the server offers `Negotiate`) and Basic over HTTP |
//! | `autodiscover.rs` | the candidate order, POX and SOAP |
//! | `ews.rs` | `CreateItem` with `SendAndSaveCopy` |
//! | `graph_mail.rs` | Graph `sendMail`, RBAC for Applications and the admin's two commands |
//! | `rbac.rs` | setting up RBAC for Applications for the notification mailbox (read first, create what is missing) |
//! | `spnego.rs` | SPNEGO tokens around NTLM (both sides: the client and the lab's IIS stand-in) |
//! | `template.rs` | subjects and bodies in English, French and Dutch |

pub mod auth;
pub mod autodiscover;
pub mod ews;
pub mod graph_mail;
pub mod rbac;
pub mod spnego;
pub mod template;
pub mod xml;

pub use auth::{AuthScheme, MailboxCredential};
pub use autodiscover::{AutodiscoverError, Discovered};
pub use ews::EwsError;
pub use graph_mail::{GraphMailError, GraphMailer};
pub use template::{Language, MailFields, Template};

/// The Company Portal enrolment page (the "Get started" link).
pub const DEFAULT_ENROL_LINK: &str = "https://portal.manage.microsoft.com/";

/// How notifications reach Exchange.
#[derive(Debug, Clone)]
pub enum MailRoute {
    /// On premises: EWS `CreateItem` as the notification account (EWS on premises is unchanged).
    Ews(EwsRoute),
    /// Exchange Online: Graph `sendMail` with the app's token; no mailbox password.
    Graph,
}

/// The EWS route: the notification account's credential and where EWS is.
#[derive(Debug, Clone)]
pub struct EwsRoute {
    /// The notification account's credential (NTLM or Negotiate; Basic only over https when chosen).
    pub credential: MailboxCredential,
    /// `ExchangeWebServiceURL`: skips Autodiscover when set.
    pub ews_url: Option<String>,
    /// `AutodiscoverRedirectHosts`: hosts outside the mailbox's domain Autodiscover may redirect to.
    pub autodiscover_redirect_hosts: Vec<String>,
}

impl EwsRoute {
    /// Where Autodiscover may be redirected: the mailbox's domain and `AutodiscoverRedirectHosts`.
    pub fn redirect_policy(&self) -> autodiscover::RedirectPolicy {
        autodiscover::RedirectPolicy {
            allowed_hosts: self.autodiscover_redirect_hosts.clone(),
        }
    }
}

/// How to send notifications.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// The notification mailbox's SMTP address.
    pub mailbox: String,
    /// EWS (on premises) or Graph (Exchange Online).
    pub route: MailRoute,
    /// Language of the mail.
    pub language: Language,
    /// The admin's template, if any; else the shipped one for `language`.
    pub template: Option<Template>,
    /// The enrolment link.
    pub enrol_link: String,
}

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No EWS URL could be found.
    #[error(transparent)]
    Autodiscover(#[from] AutodiscoverError),
    /// EWS refused or failed.
    #[error(transparent)]
    Ews(#[from] EwsError),
    /// Graph refused or failed.
    #[error(transparent)]
    Graph(#[from] GraphMailError),
    /// The notifier was built without what its route needs (a programming error in `connection`).
    #[error("the notifier for {0} was built without the client its route needs")]
    Unrouted(String),
}

impl NotifyError {
    /// Whether the next sync should simply try again.
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Autodiscover(_) => true,
            NotifyError::Ews(e) => e.is_transient(),
            NotifyError::Graph(e) => e.is_transient(),
            NotifyError::Unrouted(_) => false,
        }
    }
}

/// What sends the mail: the HTTP/1.1 client of EWS, or Graph.
#[derive(Debug)]
pub enum MailTransport {
    /// EWS: build the client with [`auth::http1_client`] (NTLM needs one connection per handshake).
    Ews(reqwest::Client),
    /// Graph `sendMail`.
    Graph(GraphMailer),
}

/// Sends notifications.
#[derive(Debug)]
pub struct Notifier {
    transport: MailTransport,
    config: NotifierConfig,
    ews_url: tokio::sync::Mutex<Option<String>>,
}

impl Notifier {
    /// An EWS notifier (on premises). Build `client` with [`auth::http1_client`].
    pub fn new(client: reqwest::Client, config: NotifierConfig) -> Self {
        Notifier::with_transport(MailTransport::Ews(client), config)
    }

    /// A notifier on `transport`, which must match `config.route` (`connection` picks it from the
    /// route).
    pub fn with_transport(transport: MailTransport, config: NotifierConfig) -> Self {
        let configured = match &config.route {
            MailRoute::Ews(ews) => ews.ews_url.clone(),
            MailRoute::Graph => None,
        };
        Notifier {
            transport,
            config,
            ews_url: tokio::sync::Mutex::new(configured),
        }
    }

    /// The EWS URL in use: configured, or found by Autodiscover once.
    pub async fn ews_url(&self) -> Result<String, NotifyError> {
        let (MailTransport::Ews(client), MailRoute::Ews(route)) =
            (&self.transport, &self.config.route)
        else {
            return Err(NotifyError::Unrouted(self.config.mailbox.clone()));
        };
        let mut cached = self.ews_url.lock().await;
        if let Some(url) = cached.as_ref() {
            return Ok(url.clone());
        }
        let found = autodiscover::discover_with(
            client,
            &self.config.mailbox,
            &route.credential,
            &route.redirect_policy(),
        )
        .await?;
        tracing::info!(ews_url = %found.ews_url, via = %found.via, "Autodiscover found the EWS URL for the notification account");
        *cached = Some(found.ews_url.clone());
        Ok(found.ews_url)
    }

    /// The notification mailbox (also where warnings for the admins go).
    pub fn mailbox(&self) -> &str {
        &self.config.mailbox
    }

    /// The Graph mailer, when mail goes through Graph (the connection check sends with it).
    pub fn graph_mailer(&self) -> Option<&GraphMailer> {
        match &self.transport {
            MailTransport::Graph(mailer) => Some(mailer),
            MailTransport::Ews(_) => None,
        }
    }

    /// Whether mail goes through Graph (Exchange Online).
    pub fn is_graph(&self) -> bool {
        matches!(self.transport, MailTransport::Graph(_))
    }

    /// Sends one HTML mail to `to` from the notification mailbox, through the route's transport.
    pub async fn send(&self, to: &str, subject: &str, html: &str) -> Result<(), NotifyError> {
        match (&self.transport, &self.config.route) {
            (MailTransport::Graph(graph), MailRoute::Graph) => Ok(graph
                .send(&self.config.mailbox, to, subject, html, true)
                .await?),
            (MailTransport::Ews(client), MailRoute::Ews(route)) => {
                let ews_url = self.ews_url().await?;
                Ok(ews::send_mail(client, &ews_url, &route.credential, to, subject, html).await?)
            }
            _ => Err(NotifyError::Unrouted(self.config.mailbox.clone())),
        }
    }

    /// Mails `to` about `device`.
    pub async fn notify_device(
        &self,
        to: &str,
        user_display_name: &str,
        device: &str,
    ) -> Result<(), NotifyError> {
        let template = self
            .config
            .template
            .clone()
            .unwrap_or_else(|| Template::default_for(self.config.language));
        let (subject, html) = template.render(&MailFields {
            user: user_display_name,
            device,
            enrol_link: &self.config.enrol_link,
        });
        self.send(to, &subject, &html).await?;
        tracing::info!(from = %self.config.mailbox, to = %to, via = if self.is_graph() { "Graph sendMail" } else { "EWS" }, "SendEmail from notification account to useremail succeeded");
        Ok(())
    }
}
