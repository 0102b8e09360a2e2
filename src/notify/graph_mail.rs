//! Notifications for Exchange Online: Graph `POST /users/{id | userPrincipalName}/sendMail` as the
//! notification mailbox, with the app's own token — no mailbox password.
//!
//! Why not EWS: Basic authentication for EWS in Exchange Online was switched off in October 2022, and EWS
//! itself is blocked for tenants on the default `EWSEnabled` since 1 October 2026 and switched off for
//! everyone on 1 April 2027 (Exchange team, MC1227454). Microsoft's replacement for mail sent by an app is
//! `sendMail` with the `Mail.Send` application permission (learn.microsoft.com/graph/api/user-sendmail:
//! body `{"message": {...}, "saveToSentItems": bool}`, answer `202 Accepted`).
//!
//! Why RBAC for Applications: the Entra permission `Mail.Send` lets an app "send mail as any user"; an
//! Exchange admin limits the app to chosen mailboxes with a management scope and a role assignment
//! (`New-ManagementScope`, `New-ManagementRoleAssignment -App … -Role "Application Mail.Send"
//! -CustomResourceScope …`, learn.microsoft.com/exchange/permissions-exo/application-rbac). Application
//! Access Policies are deprecated ("Don't create new App Access Policies"). A mailbox outside the app's
//! grants is refused with `403` and `ErrorAccessDenied`; [`rbac_commands`] are the admin's fix.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::xml::read_body;
use crate::error_text::chain;
use crate::oauth::{OAuthError, TokenClient};
use crate::retry_after::{DEFAULT_MAX_RETRY_AFTER, RetryAfter};

/// Attempts per message when Graph throttles (429) or fails (5xx).
const ATTEMPTS: u32 = 3;
/// The name [`rbac_commands`] gives the management scope.
pub const SCOPE_NAME: &str = "Exchange Connector notification mailbox";
/// The RBAC for Applications role that allows `sendMail`.
pub const SEND_ROLE: &str = "Application Mail.Send";

/// Why Graph did not send a message.
#[derive(Debug, thiserror::Error)]
pub enum GraphMailError {
    /// No token for Graph.
    #[error("no Graph token to send mail: {0}")]
    Token(#[from] OAuthError),
    /// Graph could not be reached.
    #[error("Graph at {url} cannot be reached to send mail: {detail}")]
    Unreachable {
        /// The `sendMail` URL.
        url: String,
        /// The transport's error chain.
        detail: String,
    },
    /// Exchange refused to let the app send as the mailbox.
    #[error(
        "Exchange Online refused to let the app send as {mailbox} (HTTP 403, {code}: {message}); the app needs the role \"{SEND_ROLE}\" for this mailbox through RBAC for Applications (`exchange-connector-service diagnose` prints the two commands for an Exchange admin; `exchange-connector-service rbac-mail` runs them when the app may)"
    )]
    Denied {
        /// The notification mailbox.
        mailbox: String,
        /// Graph's `error.code` (`ErrorAccessDenied`).
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// Graph refused the message for another reason.
    #[error("Graph did not send the message from {mailbox}: HTTP {status}, {code}: {message}")]
    Refused {
        /// The notification mailbox.
        mailbox: String,
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`, e.g. `ErrorInvalidUser`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
}

impl GraphMailError {
    /// Whether trying again later may work without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphMailError::Token(e) => e.is_transient(),
            GraphMailError::Unreachable { .. } => true,
            GraphMailError::Denied { .. } => false,
            GraphMailError::Refused { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// Sends mail through Graph with the app's token. Built only by `connection` (the run's HTTP client,
/// through the configured proxy).
#[derive(Debug, Clone)]
pub struct GraphMailer {
    http: reqwest::Client,
    tokens: Arc<TokenClient>,
    graph_base: String,
    scope: String,
}

impl GraphMailer {
    /// A mailer on `graph_base` (`https://graph.microsoft.com`) with tokens for `scope`.
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<TokenClient>,
        graph_base: &str,
        scope: &str,
    ) -> Self {
        GraphMailer {
            http,
            tokens,
            graph_base: graph_base.trim_end_matches('/').to_string(),
            scope: scope.to_string(),
        }
    }

    /// The `sendMail` URL of `mailbox`.
    pub fn send_mail_url(&self, mailbox: &str) -> String {
        let user =
            percent_encoding::utf8_percent_encode(mailbox, percent_encoding::NON_ALPHANUMERIC);
        format!("{}/v1.0/users/{user}/sendMail", self.graph_base)
    }

    /// The app's Graph token (the connection check reads its roles).
    pub async fn token(&self) -> Result<crate::secret::Secret, OAuthError> {
        self.tokens.token(&self.scope).await
    }

    /// Sends one HTML message from `mailbox` to `to`; `save_to_sent_items` keeps a copy in the
    /// mailbox's Sent Items. Throttling (429, with `Retry-After` bounded) and server errors are tried
    /// again a few times.
    pub async fn send(
        &self,
        mailbox: &str,
        to: &str,
        subject: &str,
        html: &str,
        save_to_sent_items: bool,
    ) -> Result<(), GraphMailError> {
        let url = self.send_mail_url(mailbox);
        let body = json!({
            "message": {
                "subject": subject,
                "body": {"contentType": "HTML", "content": html},
                "toRecipients": [{"emailAddress": {"address": to}}],
            },
            "saveToSentItems": save_to_sent_items,
        });
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            let token = self.tokens.token(&self.scope).await?;
            let response = self
                .http
                .post(&url)
                .bearer_auth(token.expose())
                .json(&body)
                .send()
                .await
                .map_err(|e| GraphMailError::Unreachable {
                    url: url.clone(),
                    detail: chain(&e),
                })?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                return Ok(());
            }
            let wait = RetryAfter::from_headers(response.headers(), DEFAULT_MAX_RETRY_AFTER)
                .map(|r| {
                    r.log_if_capped("Graph sendMail", &url);
                    r.wait
                })
                .unwrap_or(Duration::from_millis(500 * u64::from(attempt)));
            let text = read_body(response).await.unwrap_or_default();
            let (code, message) = graph_error(&text);
            let error = if status == 403 && code == "ErrorAccessDenied" {
                GraphMailError::Denied {
                    mailbox: mailbox.to_string(),
                    code,
                    message,
                }
            } else {
                GraphMailError::Refused {
                    mailbox: mailbox.to_string(),
                    status,
                    code,
                    message,
                }
            };
            if !error.is_transient() || attempt == ATTEMPTS {
                return Err(error);
            }
            last = Some(error);
            tokio::time::sleep(wait).await;
        }
        Err(last.unwrap_or(GraphMailError::Unreachable {
            url,
            detail: "no attempt made".into(),
        }))
    }
}

/// Graph's `error.code` and `error.message`, or the status text's stand-ins for a body without them.
fn graph_error(text: &str) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field = |name: &str| {
        value
            .pointer(&format!("/error/{name}"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    (
        field("code").unwrap_or_else(|| "UnknownError".into()),
        field("message").unwrap_or_else(|| text.chars().take(200).collect()),
    )
}

/// The two Exchange Online PowerShell commands that let the app (`client_id`) send as `mailbox` and
/// only as it: a management scope holding the mailbox, and the `Application Mail.Send` role assigned
/// to the app in that scope (RBAC for Applications; `-App` takes the app's service principal, which
/// `New-ServicePrincipal -AppId <client id> -ObjectId <enterprise app object id>` creates once in
/// Exchange if it does not know the app yet).
pub fn rbac_commands(client_id: &str, mailbox: &str) -> [String; 2] {
    let mailbox = mailbox.replace('\'', "''");
    [
        format!(
            "New-ManagementScope -Name \"{SCOPE_NAME}\" -RecipientRestrictionFilter \"PrimarySmtpAddress -eq '{mailbox}'\""
        ),
        format!(
            "New-ManagementRoleAssignment -App {client_id} -Role \"{SEND_ROLE}\" -CustomResourceScope \"{SCOPE_NAME}\""
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_name_the_app_and_the_mailbox() {
        let [scope, assignment] = rbac_commands("9a8b7c6d", "notify@contoso.com");
        assert_eq!(
            scope,
            "New-ManagementScope -Name \"Exchange Connector notification mailbox\" -RecipientRestrictionFilter \"PrimarySmtpAddress -eq 'notify@contoso.com'\""
        );
        assert_eq!(
            assignment,
            "New-ManagementRoleAssignment -App 9a8b7c6d -Role \"Application Mail.Send\" -CustomResourceScope \"Exchange Connector notification mailbox\""
        );
        // A quote in an address cannot end the filter's string.
        assert!(rbac_commands("x", "o'neil@contoso.com")[0].contains("'o''neil@contoso.com'"));
    }

    #[test]
    fn graph_errors_are_read_from_their_json_shape() {
        let (code, message) = graph_error(
            r#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again.","innerError":{}}}"#,
        );
        assert_eq!(code, "ErrorAccessDenied");
        assert!(message.starts_with("Access is denied"));
        assert_eq!(graph_error("<html>").0, "UnknownError");
    }
}
