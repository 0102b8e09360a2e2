//! Microsoft Graph, app-only: Intune managed devices, the group membership that decides who the policy
//! targets, users, the registration of the connector (`deviceManagementExchangeConnector`, beta) and the
//! retired connector's settings a migrating tenant may still hold (spec §3).
//!
//! Every request follows `@odata.nextLink` verbatim, honours `Retry-After` on 429/503/504 (capped at
//! [`IntuneConfig::max_retry_after`]) or else waits a jittered exponential backoff, renews the token once on 401, and turns a 403 into an error that names the
//! permission the app lacks.

use crate::model::intune::{
    ConditionalAccessSettings, ExchangeConnector, ExchangeOnPremisesPolicy, ManagedDevice, User,
};
use crate::oauth::{OAuthError, TokenClient};
use crate::retry_after::RetryAfter;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The properties of a managed device a decision reads (`policy::decide`: the record's id for the
/// explanation, its EAS DeviceId to join, its agent and compliance, and its last check-in to prefer
/// the newest record of a DeviceId). A sync asks for these alone: at 50,000 devices the full
/// property set cost ~25 MiB more of the run's memory and half again the transfer.
pub const DECISION_SELECT: &str = "id,easDeviceId,managementAgent,complianceState,lastSyncDateTime";

/// The managed-device properties shown to an admin (`diagnose`, the why panel): nothing more is
/// transferred.
pub const MANAGED_DEVICE_SELECT: &str = "id,userId,deviceName,userPrincipalName,emailAddress,operatingSystem,osVersion,model,manufacturer,managementAgent,complianceState,easActivated,easActivationDateTime,easDeviceId,exchangeLastSuccessfulSyncDateTime,exchangeAccessState,exchangeAccessStateReason,lastSyncDateTime,enrolledDateTime";

/// Where Graph is and how hard to try.
#[derive(Debug, Clone)]
pub struct IntuneConfig {
    /// `https://graph.microsoft.com` (or a national cloud, or the lab).
    pub graph_base: String,
    /// Token scope; `https://graph.microsoft.com/.default` for the public cloud.
    pub scope: String,
    /// `$top` for lists (Intune serves at most 1000 per page).
    pub page_size: u32,
    /// Attempts per request on throttling or server errors before giving up.
    pub max_attempts: u32,
    /// Cap of one computed backoff wait (when Graph sends no `Retry-After`).
    pub max_backoff: Duration,
    /// Cap of one `Retry-After` wait: a longer one is cut to this and logged with it.
    pub max_retry_after: Duration,
}

impl IntuneConfig {
    /// Defaults for a Graph base URL.
    pub fn new(graph_base: &str) -> Self {
        IntuneConfig {
            graph_base: graph_base.trim_end_matches('/').to_string(),
            scope: "https://graph.microsoft.com/.default".to_string(),
            page_size: 1000,
            max_attempts: 6,
            max_backoff: Duration::from_secs(30),
            max_retry_after: crate::retry_after::DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

/// Why a Graph call failed.
#[derive(Debug, thiserror::Error)]
pub enum IntuneError {
    /// No token.
    #[error("cannot sign in to Microsoft Graph: {0}")]
    Token(#[from] OAuthError),
    /// Network, TLS or proxy.
    #[error(
        "cannot reach Microsoft Graph at {url}: {message}. Check the network path, the proxy settings and TLS trust towards Graph."
    )]
    Unreachable {
        /// The URL.
        url: String,
        /// The cause.
        message: String,
    },
    /// The app lacks an application permission.
    #[error(
        "the connector's app may not {operation}: Graph answered 403 ({message}). Grant the application permission {permissions} to the app in Entra ID and give admin consent."
    )]
    Forbidden {
        /// What was attempted.
        operation: String,
        /// Permissions that would allow it (from Graph's message when it names them).
        permissions: String,
        /// Graph's own words.
        message: String,
    },
    /// Still throttled after every retry.
    #[error(
        "Microsoft Graph kept throttling {url} (HTTP {status}) after {attempts} attempts; the next sync will try again"
    )]
    Throttled {
        /// The URL.
        url: String,
        /// 429, 503 or 504.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// A 401 even with a fresh token.
    #[error("Microsoft Graph refused the connector's token for {url}: {message}")]
    Unauthorized {
        /// The URL.
        url: String,
        /// Graph's words.
        message: String,
    },
    /// The object does not exist.
    #[error("not found in Microsoft Graph: {what}")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// Any other answer.
    #[error("Microsoft Graph answered HTTP {status} for {url}: {code}: {message}")]
    Graph {
        /// Status.
        status: u16,
        /// URL.
        url: String,
        /// Graph error code.
        code: String,
        /// Graph's message.
        message: String,
    },
    /// The body was not what Graph documents.
    #[error("unexpected answer from Microsoft Graph for {url}: {message}")]
    Decode {
        /// URL.
        url: String,
        /// What did not fit.
        message: String,
    },
}

impl IntuneError {
    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            IntuneError::Unreachable { .. } | IntuneError::Throttled { .. } => true,
            IntuneError::Token(e) => e.is_transient(),
            IntuneError::Graph { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Who the policy targets: the users of the included groups and of the excluded groups, transitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMembers {
    /// User ids in any included group.
    pub included_users: HashSet<String>,
    /// User ids in any excluded group (exclusion wins).
    pub excluded_users: HashSet<String>,
}

/// A group as the directory names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryGroup {
    /// Object id (what the policy stores).
    pub id: String,
    /// Display name (what the admin sees).
    #[serde(default)]
    pub display_name: String,
}

/// A Graph client for one app.
#[derive(Debug, Clone)]
pub struct IntuneClient {
    http: reqwest::Client,
    tokens: Arc<TokenClient>,
    config: IntuneConfig,
    requests: Arc<AtomicU64>,
}

enum Method {
    Get,
    Post(Value),
    Patch(Value),
    Delete,
}

impl IntuneClient {
    /// A client. `http` carries the TLS trust and the proxy (see `crate::tls`).
    pub fn new(http: reqwest::Client, tokens: Arc<TokenClient>, config: IntuneConfig) -> Self {
        IntuneClient {
            http,
            tokens,
            config,
            requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// `host:port` of the Graph base (what a proxy is asked to tunnel to).
    pub fn graph_authority(&self) -> String {
        url::Url::parse(&self.config.graph_base)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(format!("{host}:{}", u.port_or_known_default()?))
            })
            .unwrap_or_else(|| self.config.graph_base.clone())
    }

    /// HTTP requests sent so far (retries included), for run statistics.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, version: &str, path: &str) -> String {
        format!(
            "{}/{version}/{}",
            self.config.graph_base,
            path.trim_start_matches('/')
        )
    }

    /// Every managed device, or those matching an OData `$filter`, with only the properties the
    /// connector reads. The list is complete or the call fails: a partial inventory is never returned.
    pub async fn managed_devices(
        &self,
        filter: Option<&str>,
    ) -> Result<Vec<ManagedDevice>, IntuneError> {
        self.managed_devices_selecting(MANAGED_DEVICE_SELECT, filter)
            .await
    }

    /// Like [`IntuneClient::managed_devices`], with only the properties a decision reads
    /// ([`DECISION_SELECT`]): what a sync asks for.
    pub async fn decision_records(
        &self,
        filter: Option<&str>,
    ) -> Result<Vec<ManagedDevice>, IntuneError> {
        self.managed_devices_selecting(DECISION_SELECT, filter)
            .await
    }

    async fn managed_devices_selecting(
        &self,
        select: &str,
        filter: Option<&str>,
    ) -> Result<Vec<ManagedDevice>, IntuneError> {
        let mut url = reqwest::Url::parse(&self.url("v1.0", "deviceManagement/managedDevices"))
            .map_err(|e| IntuneError::Decode {
                url: self.config.graph_base.clone(),
                message: e.to_string(),
            })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("$select", select);
            query.append_pair("$top", &self.config.page_size.to_string());
            if let Some(filter) = filter {
                query.append_pair("$filter", filter);
            }
        }
        self.collect_pages(url.as_str(), "read Intune managed devices")
            .await
    }

    /// Managed devices whose record changed at or after `since` (quick sync): compliance changes move
    /// `lastSyncDateTime` because the device reports its new state when it checks in. Only the
    /// properties a decision reads ([`DECISION_SELECT`]).
    pub async fn managed_devices_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<ManagedDevice>, IntuneError> {
        let filter = format!(
            "lastSyncDateTime ge {}",
            since.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        self.decision_records(Some(&filter)).await
    }

    /// The user ids that are members of a group, following nested groups.
    pub async fn transitive_user_ids(
        &self,
        group_id: &str,
    ) -> Result<HashSet<String>, IntuneError> {
        #[derive(serde::Deserialize)]
        struct Member {
            id: String,
        }
        let url = format!(
            "{}?$select=id&$top=999",
            self.url(
                "v1.0",
                &format!(
                    "groups/{}/transitiveMembers/microsoft.graph.user",
                    urlencode(group_id)
                )
            )
        );
        let members: Vec<Member> = self
            .collect_pages(&url, &format!("read the members of group {group_id}"))
            .await
            .map_err(|e| match e {
                IntuneError::NotFound { .. } => IntuneError::NotFound {
                    what: format!(
                        "group {group_id} (is it still in Entra ID? check the policy's groups)"
                    ),
                },
                other => other,
            })?;
        Ok(members
            .into_iter()
            .map(|m| m.id.to_ascii_lowercase())
            .collect())
    }

    /// Groups whose display name starts with `prefix` (case-insensitive), at most `top`, by name: the
    /// Settings page's group picker. `startswith` on `displayName` is a basic Graph query (no
    /// `ConsistencyLevel` header), allowed to app-only tokens with `GroupMember.Read.All`.
    pub async fn search_groups(
        &self,
        prefix: &str,
        top: u32,
    ) -> Result<Vec<DirectoryGroup>, IntuneError> {
        let mut url =
            reqwest::Url::parse(&self.url("v1.0", "groups")).map_err(|e| IntuneError::Decode {
                url: self.config.graph_base.clone(),
                message: e.to_string(),
            })?;
        url.query_pairs_mut()
            .append_pair(
                "$filter",
                &format!("startswith(displayName,'{}')", prefix.replace('\'', "''")),
            )
            .append_pair("$select", "id,displayName")
            .append_pair("$top", &top.clamp(1, 999).to_string());
        let page = self
            .send_text(Method::Get, url.as_str(), "search the directory's groups")
            .await?;
        let (mut groups, _) = read_page::<DirectoryGroup>(url.as_str(), &page)?;
        groups.sort_by_key(|g| g.display_name.to_lowercase());
        Ok(groups)
    }

    /// Members of the included and excluded groups.
    pub async fn group_members(
        &self,
        included_groups: &[String],
        excluded_groups: &[String],
    ) -> Result<GroupMembers, IntuneError> {
        let mut members = GroupMembers::default();
        for group in included_groups {
            members
                .included_users
                .extend(self.transitive_user_ids(group).await?);
        }
        for group in excluded_groups {
            members
                .excluded_users
                .extend(self.transitive_user_ids(group).await?);
        }
        Ok(members)
    }

    /// A user by id or UPN.
    pub async fn user(&self, id_or_upn: &str) -> Result<User, IntuneError> {
        let url = format!(
            "{}?$select=id,userPrincipalName,mail,displayName,preferredLanguage",
            self.url("v1.0", &format!("users/{}", urlencode(id_or_upn)))
        );
        let value = self
            .send(Method::Get, &url, &format!("read user {id_or_upn}"))
            .await?;
        decode(&url, value)
    }

    /// The retired connector's targeting, if the tenant still holds it.
    pub async fn conditional_access_settings(
        &self,
    ) -> Result<Option<ConditionalAccessSettings>, IntuneError> {
        let url = self.url("beta", "deviceManagement/conditionalAccessSettings");
        match self
            .send(
                Method::Get,
                &url,
                "read the on-premises conditional access settings",
            )
            .await
        {
            Ok(value) => decode(&url, unwrap_value(value)).map(Some),
            Err(IntuneError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The retired connector's Exchange policy, if the tenant still holds it.
    pub async fn exchange_on_premises_policy(
        &self,
    ) -> Result<Option<ExchangeOnPremisesPolicy>, IntuneError> {
        let url = self.url("beta", "deviceManagement/exchangeOnPremisesPolicy");
        match self
            .send(Method::Get, &url, "read the Exchange on-premises policy")
            .await
        {
            Ok(value) => decode(&url, unwrap_value(value)).map(Some),
            Err(IntuneError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The Exchange connectors registered in the tenant.
    pub async fn exchange_connectors(&self) -> Result<Vec<ExchangeConnector>, IntuneError> {
        let url = self.url("beta", "deviceManagement/exchangeConnectors");
        self.collect_pages(&url, "list the Exchange connectors")
            .await
    }

    /// Registers a connector; returns it with its id.
    pub async fn register_connector(
        &self,
        connector: &ExchangeConnector,
    ) -> Result<ExchangeConnector, IntuneError> {
        let url = self.url("beta", "deviceManagement/exchangeConnectors");
        let mut body = serde_json::to_value(connector).map_err(|e| IntuneError::Decode {
            url: url.clone(),
            message: e.to_string(),
        })?;
        if let Value::Object(map) = &mut body {
            map.remove("id");
            map.insert(
                "@odata.type".into(),
                "#microsoft.graph.deviceManagementExchangeConnector".into(),
            );
        }
        let value = self
            .send(Method::Post(body), &url, "register the Exchange connector")
            .await?;
        decode(&url, value)
    }

    /// Updates a registered connector (status, last sync time, version...).
    pub async fn update_connector(&self, id: &str, changes: Value) -> Result<(), IntuneError> {
        let url = self.url(
            "beta",
            &format!("deviceManagement/exchangeConnectors/{}", urlencode(id)),
        );
        self.send(
            Method::Patch(changes),
            &url,
            "update the Exchange connector's status",
        )
        .await?;
        Ok(())
    }

    /// Removes a registered connector (the "Replace" of setup).
    pub async fn delete_connector(&self, id: &str) -> Result<(), IntuneError> {
        let url = self.url(
            "beta",
            &format!("deviceManagement/exchangeConnectors/{}", urlencode(id)),
        );
        self.send(
            Method::Delete,
            &url,
            "remove the previous Exchange connector",
        )
        .await?;
        Ok(())
    }

    /// Follows `@odata.nextLink` verbatim until it is absent.
    async fn collect_pages<T: DeserializeOwned>(
        &self,
        first: &str,
        operation: &str,
    ) -> Result<Vec<T>, IntuneError> {
        let mut items = Vec::new();
        let mut url = first.to_string();
        let mut text = self.send_text(Method::Get, &url, operation).await?;
        loop {
            // The next page is asked for first, then this one decoded while it travels.
            let link = crate::odata::next_link(&text);
            let fetch_next = async {
                match &link {
                    Some(next) => self.send_text(Method::Get, next, operation).await.map(Some),
                    None => Ok(None),
                }
            };
            let decode = async { read_page::<T>(&url, &text) };
            // An undecodable page ends the call at once (the fetch in flight is dropped).
            let (next, page) = tokio::try_join!(fetch_next, decode)?;
            let (values, next_link) = page;
            items.extend(values);
            if next_link != link {
                return Err(IntuneError::Decode {
                    url,
                    message: "the page's @odata.nextLink could not be read ahead".into(),
                });
            }
            match (next, link) {
                (Some(next_text), Some(next_url)) => {
                    text = next_text;
                    url = next_url;
                }
                _ => {
                    // Grown by doubling and kept for the whole run: without the spare room.
                    items.shrink_to_fit();
                    return Ok(items);
                }
            }
        }
    }

    /// The app's own app-only Graph token (the certificate rotation's `addKey`/`removeKey` calls).
    pub async fn app_token(&self) -> Result<crate::secret::Secret, IntuneError> {
        Ok(self.tokens.token(&self.config.scope).await?)
    }

    /// One request with token renewal and retries. Returns the JSON body (`Null` for 204).
    async fn send(&self, method: Method, url: &str, operation: &str) -> Result<Value, IntuneError> {
        let body = self.send_text(method, url, operation).await?;
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|e| IntuneError::Decode {
            url: url.to_string(),
            message: e.to_string(),
        })
    }

    /// [`IntuneClient::send`] without decoding: the body of a 2xx answer as text (empty for 204),
    /// so a list page is decoded once, straight into its typed items.
    async fn send_text(
        &self,
        method: Method,
        url: &str,
        operation: &str,
    ) -> Result<String, IntuneError> {
        let mut token = self.tokens.token(&self.config.scope).await?;
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let request = match &method {
                Method::Get => self.http.get(url),
                Method::Post(body) => self.http.post(url).json(body),
                Method::Patch(body) => self.http.patch(url).json(body),
                Method::Delete => self.http.delete(url),
            };
            let response = request
                .bearer_auth(token.expose())
                .header("client-request-id", uuid::Uuid::new_v4().to_string())
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e)
                    if attempt < self.config.max_attempts && (e.is_timeout() || e.is_connect()) =>
                {
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                    continue;
                }
                Err(e) => {
                    return Err(IntuneError::Unreachable {
                        url: url.to_string(),
                        message: crate::error_text::chain(&e),
                    });
                }
            };
            let status = response.status().as_u16();
            let retry_after =
                RetryAfter::from_headers(response.headers(), self.config.max_retry_after);
            let body = response.text().await.unwrap_or_default();
            match status {
                200..=299 => return Ok(body),
                401 if !renewed => {
                    renewed = true;
                    token = self.tokens.refresh(&self.config.scope, &token).await?;
                    continue;
                }
                429 | 503 | 504 if attempt < self.config.max_attempts => {
                    tracing::debug!(status, attempt, "Graph throttled; waiting before retrying");
                    if let Some(retry_after) = &retry_after {
                        retry_after.log_if_capped("Microsoft Graph", url);
                    }
                    let wait = retry_after.map(|r| r.wait);
                    tokio::time::sleep(self.backoff(attempt, wait)).await;
                    continue;
                }
                429 | 503 | 504 => {
                    return Err(IntuneError::Throttled {
                        url: url.to_string(),
                        status,
                        attempts: attempt,
                    });
                }
                _ => {}
            }
            let (code, message) = graph_error(&body);
            return Err(match status {
                401 => IntuneError::Unauthorized {
                    url: url.to_string(),
                    message,
                },
                403 => IntuneError::Forbidden {
                    operation: operation.to_string(),
                    permissions: permissions_named(&message)
                        .unwrap_or_else(|| required_permission(url).to_string()),
                    message,
                },
                404 => IntuneError::NotFound {
                    what: format!("{operation} ({url})"),
                },
                _ => IntuneError::Graph {
                    status,
                    url: url.to_string(),
                    code,
                    message,
                },
            });
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait;
        }
        let base = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(10)));
        let capped = base.min(self.config.max_backoff);
        // Full jitter: many connectors throttled together must not retry in step.
        let jitter = rand::rng().random_range(0.5..1.0);
        capped.mul_f64(jitter)
    }
}

/// The least-privileged application permission for a Graph URL, for when Graph's 403 names none.
fn required_permission(url: &str) -> &'static str {
    if url.contains("/managedDevices") {
        "DeviceManagementManagedDevices.Read.All"
    } else if url.contains("/groups/") {
        "GroupMember.Read.All"
    } else if url.contains("/users/") {
        "User.Read.All"
    } else {
        "DeviceManagementServiceConfig.ReadWrite.All"
    }
}

/// Graph's 403 says "... must have one of the following scopes: A, B": keep that list.
fn permissions_named(message: &str) -> Option<String> {
    let (_, tail) = message.split_once("following scopes:")?;
    let list = tail.trim().trim_end_matches('.').trim();
    (!list.is_empty()).then(|| list.replace(", ", " or "))
}

fn graph_error(body: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect());
    (code, message)
}

/// Graph documents singletons bare but has shown them wrapped in `"value"`: accept both.
fn unwrap_value(value: Value) -> Value {
    match value {
        Value::Object(mut map) if map.get("value").is_some_and(Value::is_object) => {
            map.remove("value").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// One page of a Graph list (`url` is only for messages): its items and `@odata.nextLink`, decoded
/// from the body's text in one pass (no intermediate `Value` tree: at 50,000 devices that tree was
/// the read phase's largest allocation). A page without a `value` array, or an item of the wrong
/// shape, is [`IntuneError::Decode`].
pub fn read_page<T: DeserializeOwned>(
    url: &str,
    text: &str,
) -> Result<(Vec<T>, Option<String>), IntuneError> {
    #[derive(serde::Deserialize)]
    struct Page<T> {
        value: Option<Vec<T>>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    let page: Page<T> = serde_json::from_str(text).map_err(|e| IntuneError::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })?;
    let Some(items) = page.value else {
        return Err(IntuneError::Decode {
            url: url.to_string(),
            message: "the answer has no \"value\" array".into(),
        });
    };
    Ok((items, page.next_link))
}

fn decode<T: DeserializeOwned>(url: &str, value: Value) -> Result<T, IntuneError> {
    serde_json::from_value(value).map_err(|e| IntuneError::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })
}

fn urlencode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_message_names_the_permissions() {
        let msg = "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementManagedDevices.Read.All, DeviceManagementManagedDevices.ReadWrite.All";
        assert_eq!(
            permissions_named(msg).as_deref(),
            Some(
                "DeviceManagementManagedDevices.Read.All or DeviceManagementManagedDevices.ReadWrite.All"
            )
        );
        assert_eq!(permissions_named("nope"), None);
        assert_eq!(
            required_permission("https://g/v1.0/groups/x/transitiveMembers"),
            "GroupMember.Read.All"
        );
    }

    #[test]
    fn singletons_are_accepted_bare_or_wrapped() {
        let bare = serde_json::json!({"id": "1", "enabled": true});
        let wrapped = serde_json::json!({"value": {"id": "1", "enabled": true}});
        assert_eq!(unwrap_value(wrapped), bare);
        assert_eq!(unwrap_value(bare.clone()), bare);
    }
}
