//! Telling users how to get their phone allowed: one mail per newly blocked or quarantined device,
//! sent through EWS as the notification account, with the enrolment link ("Get started"), in the
//! configured language. The EWS URL is `ExchangeWebServiceURL` when configured, else Autodiscover's
//! answer (cached for the life of the notifier).
//!
//! | file | owns |
//! |---|---|
//! | `auth.rs` | NTLM (via `ntlmclient`) and Basic over HTTP |
//! | `autodiscover.rs` | the candidate order, POX and SOAP |
//! | `ews.rs` | `CreateItem` with `SendAndSaveCopy` |
//! | `template.rs` | subjects and bodies in English, French and Dutch |

pub mod auth;
pub mod autodiscover;
pub mod ews;
pub mod template;
pub mod xml;

pub use auth::{AuthScheme, MailboxCredential};
pub use autodiscover::{AutodiscoverError, Discovered};
pub use ews::EwsError;
pub use template::{Language, MailFields, Template};

/// The Company Portal enrolment page (the "Get started" link).
pub const DEFAULT_ENROL_LINK: &str = "https://portal.manage.microsoft.com/";

/// How to send notifications.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// The notification mailbox's SMTP address.
    pub mailbox: String,
    /// Its credential.
    pub credential: MailboxCredential,
    /// `ExchangeWebServiceURL`: skips Autodiscover when set.
    pub ews_url: Option<String>,
    /// `AutodiscoverRedirectHosts`: hosts outside the mailbox's domain Autodiscover may redirect to.
    pub autodiscover_redirect_hosts: Vec<String>,
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
}

impl NotifyError {
    /// Whether the next sync should simply try again.
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Autodiscover(_) => true,
            NotifyError::Ews(e) => e.is_transient(),
        }
    }
}

/// Sends notifications.
#[derive(Debug)]
pub struct Notifier {
    client: reqwest::Client,
    config: NotifierConfig,
    ews_url: tokio::sync::Mutex<Option<String>>,
}

impl NotifierConfig {
    /// Where Autodiscover may be redirected: the mailbox's domain and `AutodiscoverRedirectHosts`.
    pub fn redirect_policy(&self) -> autodiscover::RedirectPolicy {
        autodiscover::RedirectPolicy {
            allowed_hosts: self.autodiscover_redirect_hosts.clone(),
        }
    }
}

impl Notifier {
    /// A notifier. Build `client` with [`auth::http1_client`] (NTLM needs one connection per host).
    pub fn new(client: reqwest::Client, config: NotifierConfig) -> Self {
        let configured = config.ews_url.clone();
        Notifier {
            client,
            config,
            ews_url: tokio::sync::Mutex::new(configured),
        }
    }

    /// The EWS URL in use: configured, or found by Autodiscover once.
    pub async fn ews_url(&self) -> Result<String, NotifyError> {
        let mut cached = self.ews_url.lock().await;
        if let Some(url) = cached.as_ref() {
            return Ok(url.clone());
        }
        let found = autodiscover::discover_with(
            &self.client,
            &self.config.mailbox,
            &self.config.credential,
            &self.config.redirect_policy(),
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

    /// Sends one HTML mail to `to` as the notification account.
    pub async fn send(&self, to: &str, subject: &str, html: &str) -> Result<(), NotifyError> {
        let ews_url = self.ews_url().await?;
        Ok(ews::send_mail(
            &self.client,
            &ews_url,
            &self.config.credential,
            to,
            subject,
            html,
        )
        .await?)
    }

    /// Mails `to` about `device`.
    pub async fn notify_device(
        &self,
        to: &str,
        user_display_name: &str,
        device: &str,
    ) -> Result<(), NotifyError> {
        let ews_url = self.ews_url().await?;
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
        let result = ews::send_mail(
            &self.client,
            &ews_url,
            &self.config.credential,
            to,
            &subject,
            &html,
        )
        .await;
        if result.is_ok() {
            tracing::info!(from = %self.config.mailbox, to = %to, "SendEmail from notification account to useremail succeeded");
        }
        Ok(result?)
    }
}
