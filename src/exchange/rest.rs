//! Exchange Online transport: REST `InvokeCommand` (spec §9.1), the protocol of the V3 management
//! module.
//!
//! `POST {base}/adminapi/beta/{tenant}/InvokeCommand` with `{"CmdletInput":{"CmdletName":..,
//! "Parameters":{..}}}` and an app-only bearer token ([`crate::oauth`]). Pages are followed through
//! `@odata.nextLink`, posting the same body, and each page's records go to the sink as the page is
//! read (a page holds at most `odata.maxpagesize` records). A page that fails for a transient reason
//! (503, 504, 408, 429, the tenant-concurrency message, a network error) is retried by itself with
//! jittered backoff honouring `Retry-After` (capped at `max_retry_after`, the cap logged) — the records of
//! earlier pages are not fetched again. A 401 fetches a new token once.

use super::pool::RetryPolicy;
use super::{Connector, ExchangeError, Invocation, InvokeOutcome, RecordSink, Transport};
use crate::oauth::TokenClient;
use crate::retry_after::RetryAfter;
use crate::secret::Secret;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The well-known system mailbox app-only calls are anchored on.
pub const SYSTEM_MAILBOX: &str = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}";

/// The scope of Exchange Online's resource.
pub const EXCHANGE_ONLINE_SCOPE: &str = "https://outlook.office365.com/.default";

/// REST transport settings.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// `https://outlook.office365.com` (or a national cloud's).
    pub base_url: String,
    /// Tenant id or initial domain, as it goes in the URL.
    pub tenant: String,
    /// Domain (or tenant id) for `X-AnchorMailbox: APP:SystemMailbox{...}@<domain>`.
    pub anchor_domain: String,
    /// Token scope (`<resource>/.default`).
    pub scope: String,
    /// `Prefer: odata.maxpagesize=`.
    pub page_size: u32,
    /// `X-ClientApplication`.
    pub client_application: String,
    /// Retries of one page.
    pub retry: RetryPolicy,
    /// Cap of one `Retry-After` wait: a longer one is cut to this and logged with it.
    pub max_retry_after: Duration,
}

impl RestConfig {
    /// Settings for a tenant with the defaults (Exchange Online resource, 1000 per page).
    pub fn new(base_url: &str, tenant: &str) -> Self {
        RestConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
            anchor_domain: tenant.to_string(),
            scope: EXCHANGE_ONLINE_SCOPE.to_string(),
            page_size: 1000,
            client_application: concat!("ExchangeConnector/", env!("CARGO_PKG_VERSION"))
                .to_string(),
            retry: RetryPolicy::default(),
            max_retry_after: crate::retry_after::DEFAULT_MAX_RETRY_AFTER,
        }
    }

    /// The `InvokeCommand` URL.
    pub fn invoke_url(&self) -> String {
        format!(
            "{}/adminapi/beta/{}/InvokeCommand",
            self.base_url, self.tenant
        )
    }
}

struct Shared {
    http: reqwest::Client,
    tokens: Arc<TokenClient>,
    config: RestConfig,
}

/// Opens REST "runspaces" (sessions sharing one HTTP client and token cache).
#[derive(Clone)]
pub struct RestConnector {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RestConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConnector")
            .field("url", &self.shared.config.invoke_url())
            .finish()
    }
}

impl RestConnector {
    /// A connector; build `http` with [`crate::tls::http_client_builder`].
    pub fn new(config: RestConfig, tokens: Arc<TokenClient>, http: reqwest::Client) -> Self {
        RestConnector {
            shared: Arc::new(Shared {
                http,
                tokens,
                config,
            }),
        }
    }

    /// A session directly (without a pool).
    pub fn session(&self) -> RestSession {
        RestSession {
            shared: self.shared.clone(),
            connection_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl Connector for RestConnector {
    fn connect<'a>(
        &'a self,
        _server: Option<&'a super::CasServer>,
    ) -> BoxFuture<'a, Result<Box<dyn Transport>, ExchangeError>> {
        Box::pin(async move { Ok(Box::new(self.session()) as Box<dyn Transport>) })
    }
}

/// A task aborted when its handle is dropped: a page fetched ahead is not left running when the
/// listing ends early (an undecodable page, a stopped worker).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One logical connection (`connection-id`).
pub struct RestSession {
    shared: Arc<Shared>,
    connection_id: String,
}

/// One page of an `InvokeCommand` answer.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// The records.
    #[serde(default)]
    pub value: Vec<Value>,
    /// The next page's URL.
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// The cmdlet's warnings.
    #[serde(default, rename = "@adminapi.warnings")]
    pub warnings: Vec<String>,
}

/// Reads one page of `InvokeCommand` (a 2xx answer's body); anything else is [`ExchangeError::Decode`].
pub fn read_page(cmdlet: &str, text: &str) -> Result<Page, ExchangeError> {
    serde_json::from_str::<Page>(text).map_err(|e| ExchangeError::Decode {
        cmdlet: cmdlet.to_string(),
        message: format!("the page is not InvokeCommand's JSON: {e}"),
    })
}

/// What a page holds besides its records, once a sink took them ([`super::RecordSink::page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageRest {
    /// Records the page held.
    pub count: u64,
    /// The next page's URL.
    pub next_link: Option<String>,
    /// The cmdlet's warnings.
    pub warnings: Vec<String>,
}

/// A page whose records are decoded straight into `T`.
#[derive(Deserialize)]
struct TypedPage<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(default, rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(default, rename = "@adminapi.warnings")]
    warnings: Vec<String>,
}

/// Reads one page of `InvokeCommand` with its records decoded into `T` in the same pass over the
/// text (a page of 1000 partnerships is read once, not into `Value`s first); a page that is not
/// JSON, or a record of another shape, is [`ExchangeError::Decode`].
pub fn read_typed_page<T: DeserializeOwned>(
    cmdlet: &str,
    text: &str,
) -> Result<(Vec<T>, PageRest), ExchangeError> {
    let page = serde_json::from_str::<TypedPage<T>>(text).map_err(|e| ExchangeError::Decode {
        cmdlet: cmdlet.to_string(),
        message: format!("the page is not InvokeCommand's JSON of these records: {e}"),
    })?;
    let rest = PageRest {
        count: page.value.len() as u64,
        next_link: page.next_link,
        warnings: page.warnings,
    };
    Ok((page.value, rest))
}

/// Adds `"@odata.type":"#Exchange.GenericHashTable"` to hashtable parameters, as the V3 module does.
pub fn annotate_parameters(parameters: &Map<String, Value>) -> Map<String, Value> {
    parameters
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::Object(table) if !table.contains_key("@odata.type") => {
                    let mut table = table.clone();
                    table.insert("@odata.type".into(), json!("#Exchange.GenericHashTable"));
                    Value::Object(table)
                }
                other => other.clone(),
            };
            (name.clone(), value)
        })
        .collect()
}

/// Parses an error answer of `InvokeCommand` into a typed error.
pub fn parse_error(cmdlet: &str, status: u16, body: &str) -> ExchangeError {
    let lower = body.to_ascii_lowercase();
    if lower.contains("maximum number of concurrent requests per tenant") {
        return ExchangeError::Throttled {
            retry_after: None,
            message: "You have reached the maximum number of concurrent requests per tenant".into(),
        };
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        let start: String = body.chars().take(300).collect();
        return ExchangeError::Http {
            cmdlet: cmdlet.to_string(),
            status,
            message: start.trim().to_string(),
        };
    };
    let error = v.get("error").unwrap_or(&v);
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let top_message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // "<Code>|<Category>|<Message>", as the V3 module reads it.
    let detail = error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|d| {
            d.iter()
                .find_map(|d| d.get("message").and_then(Value::as_str))
        });
    let internal_type = error
        .get("innererror")
        .or_else(|| error.get("innerError"))
        .and_then(|i| i.get("internalException"))
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(detail) = detail {
        let parts: Vec<&str> = detail.splitn(3, '|').collect();
        if let [id, category, message] = parts[..] {
            // "<code>|<category>|<message>" in some builds, "<type>|<category>|..." or
            // "<code>|<type>|..." in others: classify on all of them and the internal exception's type.
            let exception_type = format!("{id} {category} {internal_type}");
            return super::error::classify(
                cmdlet,
                category,
                &exception_type,
                message,
                Some(id.to_string()),
                "",
            );
        }
        return super::error::classify(cmdlet, "", "", detail, none_if_empty(code), "");
    }
    let inner = error
        .get("innererror")
        .or_else(|| error.get("innerError"))
        .and_then(|i| i.get("internalException").or(Some(i)))
        .and_then(|i| {
            i.get("message")
                .and_then(Value::as_str)
                .map(|m| (m, i.get("type").and_then(Value::as_str).unwrap_or_default()))
        });
    if let Some((message, type_name)) = inner {
        return super::error::classify(cmdlet, "", type_name, message, none_if_empty(code), "");
    }
    if status == 401 || status == 403 {
        return ExchangeError::Unauthorized {
            status,
            message: top_message.to_string(),
        };
    }
    if !top_message.is_empty() && (400..500).contains(&status) && status != 408 && status != 429 {
        return super::error::classify(cmdlet, code, "", top_message, none_if_empty(code), "");
    }
    ExchangeError::Http {
        cmdlet: cmdlet.to_string(),
        status,
        message: if top_message.is_empty() {
            code.to_string()
        } else {
            top_message.to_string()
        },
    }
}

fn none_if_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl RestSession {
    /// POSTs one page and returns its text (a 2xx answer), retrying what is transient.
    async fn post_page(
        &self,
        url: &str,
        cmdlet: &str,
        body: &bytes::Bytes,
    ) -> Result<String, ExchangeError> {
        let config = &self.shared.config;
        let tokens = &self.shared.tokens;
        let mut token: Secret = tokens.token(&config.scope).await?;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let request = self
                .shared
                .http
                .post(url)
                .bearer_auth(token.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-CmdletName", cmdlet)
                .header(
                    "X-AnchorMailbox",
                    format!("APP:{SYSTEM_MAILBOX}@{}", config.anchor_domain),
                )
                .header("X-ClientApplication", &config.client_application)
                .header("Prefer", format!("odata.maxpagesize={}", config.page_size))
                .header("client-request-id", uuid::Uuid::new_v4().to_string())
                .header("connection-id", &self.connection_id)
                .body(body.clone());
            let error = match request.send().await {
                Err(e) => ExchangeError::Transport {
                    server: config.base_url.clone(),
                    message: crate::error_text::chain(&e),
                },
                Ok(response) => {
                    let status = response.status().as_u16();
                    let wait = RetryAfter::from_headers(response.headers(), config.max_retry_after);
                    if let Some(wait) = &wait {
                        wait.log_if_capped("Exchange Online", url);
                    }
                    let wait = wait.map(|w| w.wait);
                    let text = response.text().await.map_err(|e| ExchangeError::Transport {
                        server: config.base_url.clone(),
                        message: format!("reading the answer: {e}"),
                    });
                    match text {
                        Err(e) => e,
                        Ok(text) if (200..300).contains(&status) => return Ok(text),
                        Ok(_) if status == 401 && !refreshed => {
                            // The cached token was refused (expired early, revoked): one fresh one.
                            refreshed = true;
                            token = tokens.refresh(&config.scope, &token).await?;
                            continue;
                        }
                        Ok(text) => {
                            let mut error = parse_error(cmdlet, status, &text);
                            if matches!(status, 408 | 429 | 503 | 504)
                                && !matches!(error, ExchangeError::Throttled { .. })
                            {
                                error = ExchangeError::Throttled {
                                    retry_after: wait,
                                    message: format!("HTTP {status}: {error}"),
                                };
                            } else if let ExchangeError::Throttled { retry_after, .. } = &mut error
                            {
                                *retry_after = wait;
                            }
                            error
                        }
                    }
                }
            };
            let retryable = matches!(
                error,
                ExchangeError::Throttled { .. } | ExchangeError::Transport { .. }
            );
            if !retryable || attempt >= config.retry.max_attempts {
                return Err(error);
            }
            let delay = error
                .retry_after()
                .unwrap_or_else(|| config.retry.delay(attempt));
            tracing::info!(cmdlet, attempt, ?delay, error = %error, "retrying InvokeCommand page");
            tokio::time::sleep(delay).await;
        }
    }

    async fn run(
        &self,
        invocation: &Invocation,
        sink: &mut dyn RecordSink,
    ) -> Result<InvokeOutcome, ExchangeError> {
        let body = json!({
            "CmdletInput": {
                "CmdletName": invocation.cmdlet,
                "Parameters": annotate_parameters(&invocation.parameters),
            }
        });
        let body: bytes::Bytes = serde_json::to_vec(&body)
            .map_err(|e| ExchangeError::Config(e.to_string()))?
            .into();
        let mut outcome = InvokeOutcome::default();
        let cmdlet = invocation.cmdlet.as_str();
        let mut url = self.shared.config.invoke_url();
        if let Some(properties) = invocation.properties {
            url.push_str("?$select=");
            url.push_str(&properties.join(","));
        }
        let mut text = self.post_page(&url, cmdlet, &body).await?;
        loop {
            // The next page is asked for first, then this one decoded while it travels (at most
            // two pages' text in memory). The fetch is a task of its own: on this task, a decode
            // (a synchronous ~6 ms for 1,000 devices) would hold the response's body back until it
            // ended, and every page would cost its decode on top of its latency. Dropped (an
            // undecodable page, a stopped worker), the fetch is aborted.
            let link = crate::odata::next_link(&text);
            let fetch = link.clone().map(|url| {
                let session = RestSession {
                    shared: self.shared.clone(),
                    connection_id: self.connection_id.clone(),
                };
                let (cmdlet, body) = (cmdlet.to_string(), body.clone());
                AbortOnDrop(tokio::spawn(async move {
                    session.post_page(&url, &cmdlet, &body).await
                }))
            });
            let page = sink.page(cmdlet, &text)?;
            outcome.count += page.count;
            outcome.warnings.extend(page.warnings);
            if page.next_link != link {
                return Err(ExchangeError::Decode {
                    cmdlet: cmdlet.to_string(),
                    message: "the page's @odata.nextLink could not be read ahead".into(),
                });
            }
            let Some(mut fetch) = fetch else {
                return Ok(outcome);
            };
            text = (&mut fetch.0)
                .await
                .map_err(|e| ExchangeError::Transport {
                    server: self.shared.config.invoke_url(),
                    message: format!("the page fetch ended early: {e}"),
                })??;
        }
    }
}

impl Transport for RestSession {
    fn invoke<'a>(
        &'a mut self,
        invocation: &'a Invocation,
        sink: &'a mut dyn RecordSink,
    ) -> BoxFuture<'a, Result<InvokeOutcome, ExchangeError>> {
        Box::pin(async move { self.run(invocation, sink).await })
    }

    fn server(&self) -> &str {
        &self.shared.config.base_url
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtables_are_annotated() {
        let mut p = Map::new();
        p.insert("Identity".into(), json!("alice"));
        p.insert(
            "ActiveSyncAllowedDeviceIDs".into(),
            json!({"Add": ["A"], "Remove": []}),
        );
        let a = annotate_parameters(&p);
        assert_eq!(a["Identity"], "alice");
        assert_eq!(
            a["ActiveSyncAllowedDeviceIDs"]["@odata.type"],
            "#Exchange.GenericHashTable"
        );
        assert_eq!(a["ActiveSyncAllowedDeviceIDs"]["Add"], json!(["A"]));
    }

    #[test]
    fn parses_the_error_shapes() {
        let body = r#"{"error":{"code":"BadRequest","message":"Error executing cmdlet","details":[{"code":"Context","target":"","message":"Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'ghost' couldn't be found."}]}}"#;
        let e = parse_error("Get-CASMailbox", 400, body);
        assert!(matches!(e, ExchangeError::NotFound { .. }), "{e:?}");
        let body = r#"{"error":{"code":"InternalServerError","message":"x","innererror":{"message":"y","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","internalException":{"message":"The term 'Set-CASMailbox' is not recognized as the name of a cmdlet","type":"CommandNotFoundException"}}}}"#;
        let e = parse_error("Set-CASMailbox", 500, body);
        assert!(
            matches!(e, ExchangeError::PermissionDenied { ref cmdlet, .. } if cmdlet == "Set-CASMailbox"),
            "{e:?}"
        );
        let e = parse_error(
            "Get-MobileDevice",
            502,
            "<html><body>Bad Gateway</body></html>",
        );
        assert!(matches!(e, ExchangeError::Http { status: 502, .. }));
        assert!(e.is_transient());
        let e = parse_error(
            "Get-MobileDevice",
            429,
            r#"{"error":{"code":"TooManyRequests","message":"You have reached the maximum number of concurrent requests per tenant. Please wait and try again"}}"#,
        );
        assert!(matches!(e, ExchangeError::Throttled { .. }));
        let e = parse_error(
            "Set-CASMailbox",
            400,
            r#"{"error":{"code":"BadRequest","message":"Cannot bind parameter 'Foo'"}}"#,
        );
        assert!(matches!(e, ExchangeError::Cmdlet { .. }), "{e:?}");
        assert!(!e.is_transient());
    }
}
