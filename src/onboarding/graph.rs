//! The Graph calls of onboarding, made with the admin's delegated token: app registrations
//! (`POST /applications`, `GET /applications?$filter=tags/any(t:t eq '…')`, `PATCH`, `DELETE`), service
//! principals (`POST /servicePrincipals`, `GET /servicePrincipals?$filter=appId eq '…'`) and app-role
//! assignments (`POST /servicePrincipals/{resource id}/appRoleAssignedTo` with `principalId`,
//! `resourceId`, `appRoleId` — learn.microsoft.com, "Grant an appRoleAssignment for a service
//! principal"; `GET /servicePrincipals/{id}/appRoleAssignments`).

use super::{AdminToken, OnboardingError};
use serde_json::Value;

/// A Graph failure: status, code and message.
#[derive(Debug, Clone)]
pub struct GraphFailure {
    /// HTTP status.
    pub status: u16,
    /// Graph's `error.code`.
    pub code: String,
    /// Graph's `error.message`.
    pub message: String,
}

impl GraphFailure {
    /// The typed error for `action`.
    pub fn into_error(self, action: &str) -> OnboardingError {
        OnboardingError::Graph {
            action: action.to_string(),
            status: self.status,
            code: self.code,
            message: self.message,
        }
    }

    /// Whether Entra refused for lack of rights.
    pub fn is_denied(&self) -> bool {
        self.status == 403 || self.code == "Authorization_RequestDenied"
    }
}

/// Graph, as the signed-in admin.
pub struct DirectoryClient {
    http: reqwest::Client,
    graph_base: String,
    token: crate::secret::Secret,
}

impl DirectoryClient {
    /// A client for `graph_base` (e.g. `https://graph.microsoft.com`).
    pub fn new(http: reqwest::Client, graph_base: &str, token: AdminToken) -> DirectoryClient {
        DirectoryClient::with_bearer(http, graph_base, token.into_secret())
    }

    /// A client with another bearer token: the app's own app-only token (certificate rotation).
    pub fn with_bearer(
        http: reqwest::Client,
        graph_base: &str,
        token: crate::secret::Secret,
    ) -> DirectoryClient {
        DirectoryClient {
            http,
            graph_base: graph_base.trim_end_matches('/').to_string(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0/{}", self.graph_base, path.trim_start_matches('/'))
    }

    /// Sends a request; `Ok(Err(failure))` for a Graph refusal, `Err` when the server was not reached.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Result<Value, GraphFailure>, OnboardingError> {
        let url = self.url(path);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| super::unreachable(&url, &e))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(Ok(json));
        }
        let field = |name: &str| {
            json.pointer(&format!("/error/{name}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(Err(GraphFailure {
            status,
            code: field("code"),
            message: if field("message").is_empty() {
                text.chars().take(200).collect()
            } else {
                field("message")
            },
        }))
    }

    /// GET, failing with the typed error.
    pub async fn get(&self, action: &str, path: &str) -> Result<Value, OnboardingError> {
        self.send(reqwest::Method::GET, path, None)
            .await?
            .map_err(|f| f.into_error(action))
    }

    /// The `value` array of a collection.
    pub async fn list(&self, action: &str, path: &str) -> Result<Vec<Value>, OnboardingError> {
        Ok(self
            .get(action, path)
            .await?
            .get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// POST; Graph's refusal is returned for the caller to judge.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<Result<Value, GraphFailure>, OnboardingError> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// PATCH.
    pub async fn patch(
        &self,
        action: &str,
        path: &str,
        body: &Value,
    ) -> Result<(), OnboardingError> {
        self.send(reqwest::Method::PATCH, path, Some(body))
            .await?
            .map(|_| ())
            .map_err(|f| f.into_error(action))
    }

    /// DELETE; a 404 counts as done.
    pub async fn delete(&self, action: &str, path: &str) -> Result<(), OnboardingError> {
        match self.send(reqwest::Method::DELETE, path, None).await? {
            Ok(_) => Ok(()),
            Err(f) if f.status == 404 => Ok(()),
            Err(f) => Err(f.into_error(action)),
        }
    }
}

/// `'` doubled, as OData string literals need.
pub fn odata_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A `$filter` query, percent-encoded.
pub fn filter(expression: &str) -> String {
    format!(
        "$filter={}",
        percent_encoding::utf8_percent_encode(expression, percent_encoding::NON_ALPHANUMERIC)
    )
}
