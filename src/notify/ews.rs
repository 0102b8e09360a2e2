//! Sending the notification through EWS: `CreateItem` with `SendAndSaveCopy`, a copy kept in Sent
//! Items (spec §10.4). Throttling answers (HTTP 503, `ErrorServerBusy` with `BackOffMilliseconds`) are
//! waited out a few times; every other failure is reported with EWS's own response code.

use super::auth::{self, AuthError, MailboxCredential};
use super::template::escape_html;
use super::xml::{XmlError, elements, read_body};
use reqwest::header::HeaderMap;
use std::time::Duration;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EwsError {
    /// Transport or authentication.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// EWS refused the message.
    #[error("EWS at {url} did not send the message: {code}: {message}{hint}")]
    Refused {
        /// EWS URL.
        url: String,
        /// `ResponseCode`, e.g. `ErrorSendAsDenied`.
        code: String,
        /// `MessageText`.
        message: String,
        /// What to do.
        hint: &'static str,
    },
    /// Still busy after the retries.
    #[error(
        "EWS at {url} stayed busy (throttled) after {attempts} attempts; the notification will be retried at the next sync"
    )]
    Busy {
        /// EWS URL.
        url: String,
        /// Attempts made.
        attempts: u32,
    },
    /// An answer that cannot be read (too large, too deep, not XML).
    #[error("unreadable answer from EWS at {url}: HTTP {status}: {source}")]
    Unreadable {
        /// EWS URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        source: XmlError,
    },
    /// Not an EWS answer.
    #[error("unexpected answer from EWS at {url}: HTTP {status}: {detail}")]
    Unexpected {
        /// EWS URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
}

impl EwsError {
    /// Whether trying again later may work without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            EwsError::Busy { .. } => true,
            EwsError::Auth(AuthError::Unreachable { .. }) => true,
            EwsError::Unreadable {
                source: XmlError::Transport(_),
                ..
            } => true,
            EwsError::Refused { code, .. } => matches!(
                code.as_str(),
                "ErrorServerBusy"
                    | "ErrorMailboxStoreUnavailable"
                    | "ErrorConnectionFailed"
                    | "ErrorInternalServerTransientError"
                    | "ErrorTimeoutExpired"
                    | "ErrorMailboxMoveInProgress"
            ),
            _ => false,
        }
    }
}

fn hint_for(code: &str) -> &'static str {
    match code {
        "ErrorSendAsDenied" | "ErrorAccessDenied" => {
            " — the notification account may only send as itself; check the account and its mailbox"
        }
        "ErrorNonExistentMailbox" | "ErrorMissingEmailAddress" => {
            " — the notification account needs an on-premises mailbox whose UPN equals its SMTP address"
        }
        "ErrorInvalidRecipients" | "ErrorInvalidSmtpAddress" => {
            " — the user's mail address is not valid"
        }
        "ErrorQuotaExceeded" => " — the notification mailbox is full; empty its Sent Items",
        _ => "",
    }
}

/// Sends one HTML message from the authenticated mailbox to `to`.
pub async fn send_mail(
    client: &reqwest::Client,
    ews_url: &str,
    credential: &MailboxCredential,
    to: &str,
    subject: &str,
    html: &str,
) -> Result<(), EwsError> {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></soap:Header><soap:Body><m:CreateItem MessageDisposition="SendAndSaveCopy"><m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId><m:Items><t:Message><t:Subject>{subject}</t:Subject><t:Body BodyType="HTML">{html}</t:Body><t:ToRecipients><t:Mailbox><t:EmailAddress>{to}</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem></soap:Body></soap:Envelope>"#,
        subject = escape_html(subject),
        html = escape_html(html),
        to = escape_html(to),
    );
    let mut headers = HeaderMap::new();
    if let Ok(value) =
        "\"http://schemas.microsoft.com/exchange/services/2006/messages/CreateItem\"".parse()
    {
        headers.insert("SOAPAction", value);
    }
    let attempts = 4;
    for attempt in 1..=attempts {
        let response = auth::post(
            client,
            ews_url,
            "text/xml; charset=utf-8",
            &body,
            &headers,
            credential,
        )
        .await?;
        let status = response.status().as_u16();
        if status == 503 {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            continue;
        }
        let unreadable = |source| EwsError::Unreadable {
            url: ews_url.to_string(),
            status,
            source,
        };
        let text = read_body(response).await.map_err(unreadable)?;
        let parsed = elements(&text).map_err(unreadable)?;
        let message = parsed
            .iter()
            .find(|e| e.name == "CreateItemResponseMessage");
        let code = parsed
            .iter()
            .find(|e| e.name == "ResponseCode")
            .map(|e| e.text.clone());
        let fault = parsed
            .iter()
            .find(|e| e.name == "faultstring")
            .map(|e| e.text.clone());
        match (
            message.and_then(|m| m.attribute("ResponseClass")),
            code.as_deref(),
        ) {
            (Some("Success"), _) => return Ok(()),
            (_, Some("ErrorServerBusy")) if attempt < attempts => {
                let back_off = parsed
                    .iter()
                    .find(|e| {
                        e.name == "Value" && e.attribute("Name") == Some("BackOffMilliseconds")
                    })
                    .and_then(|e| e.text.parse::<u64>().ok())
                    .unwrap_or(1000)
                    .min(30_000);
                tokio::time::sleep(Duration::from_millis(back_off)).await;
                continue;
            }
            (_, Some(code)) => {
                let message_text = parsed
                    .iter()
                    .find(|e| e.name == "MessageText")
                    .map(|e| e.text.clone())
                    .or(fault)
                    .unwrap_or_default();
                return Err(EwsError::Refused {
                    url: ews_url.to_string(),
                    code: code.to_string(),
                    message: message_text,
                    hint: hint_for(code),
                });
            }
            _ => {
                return Err(EwsError::Unexpected {
                    url: ews_url.to_string(),
                    status,
                    detail: fault
                        .unwrap_or_else(|| "no CreateItemResponseMessage in the answer".into()),
                });
            }
        }
    }
    Err(EwsError::Busy {
        url: ews_url.to_string(),
        attempts,
    })
}
