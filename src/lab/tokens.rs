//! Access tokens the lab issues and checks. They are JWTs (HS256 with the lab's own key); clients treat
//! them as opaque bearer strings, as they must with Entra's.

use super::LabState;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The resource a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Microsoft Graph.
    Graph,
    /// Exchange Online (REST `InvokeCommand`).
    Exchange,
}

impl Resource {
    /// The `aud` of tokens for this resource (the real resource URIs, so standard clients that ask for
    /// `https://graph.microsoft.com/.default` get a token the lab's Graph accepts).
    pub fn audience(self) -> &'static str {
        match self {
            Resource::Graph => "https://graph.microsoft.com",
            Resource::Exchange => "https://outlook.office365.com",
        }
    }

    /// Maps a `scope` of a token request (`<resource>/.default`) to a resource. Accepts the real
    /// resource URIs and the lab's own base URLs.
    pub fn from_scope(scope: &str, state: &LabState) -> Option<Resource> {
        let urls = state.urls();
        let base = scope
            .trim()
            .strip_suffix("/.default")?
            .trim_end_matches('/');
        let graph_like = [
            Resource::Graph.audience(),
            urls.graph_base.trim_end_matches('/'),
        ];
        let exchange_like = [
            Resource::Exchange.audience(),
            "https://outlook.office.com",
            "00000002-0000-0ff1-ce00-000000000000",
            urls.exchange_rest_base.trim_end_matches('/'),
        ];
        if graph_like
            .iter()
            .any(|b| !b.is_empty() && b.eq_ignore_ascii_case(base))
        {
            Some(Resource::Graph)
        } else if exchange_like
            .iter()
            .any(|b| !b.is_empty() && b.eq_ignore_ascii_case(base))
        {
            Some(Resource::Exchange)
        } else {
            None
        }
    }
}

/// Claims of a lab access token (a subset of Entra's v1 app-only token claims).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Audience: the resource URI.
    pub aud: String,
    /// Issuer: `https://sts.windows.net/{tid}/`.
    pub iss: String,
    /// Tenant id.
    pub tid: String,
    /// Client id of the app.
    pub appid: String,
    /// Application permissions granted.
    pub roles: Vec<String>,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Token id.
    pub uti: String,
    /// Delegated permissions (space-separated) of a token issued to a signed-in user; absent in
    /// app-only tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// The signed-in user's UPN (delegated tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// The signed-in user's directory role, as the lab names it (delegated tokens; Entra puts role
    /// template ids in `wids`, which the lab does not model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_role: Option<String>,
}

impl AccessClaims {
    /// Whether this is a delegated token carrying `permission` in `scp`.
    pub fn has_scope(&self, permission: &str) -> bool {
        self.scp.as_deref().is_some_and(|scp| {
            scp.split_whitespace()
                .any(|s| s.eq_ignore_ascii_case(permission))
        })
    }

    /// The signed-in user's role (delegated tokens).
    pub fn admin_role(&self) -> Option<super::directory::AdminRole> {
        self.lab_role
            .as_deref()
            .and_then(super::directory::AdminRole::parse)
    }
}

/// Mints a delegated access token for a signed-in admin: `client_id` is the public client that signed
/// them in, `scp` the delegated permissions granted. Returns the token and its lifetime.
pub fn mint_delegated(
    state: &LabState,
    client_id: &str,
    resource: Resource,
    scp: &str,
    admin: &super::directory::SignedInAdmin,
) -> Option<(String, u64)> {
    let tenant_id = state.tenant().tenant_id.clone();
    let lifetime = state.faults().token_lifetime_seconds;
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        aud: resource.audience().to_string(),
        iss: format!("https://sts.windows.net/{tenant_id}/"),
        tid: tenant_id,
        appid: client_id.to_string(),
        roles: Vec::new(),
        iat: now,
        nbf: now - 60,
        exp: now + lifetime as i64,
        uti: uuid::Uuid::new_v4().simple().to_string(),
        scp: Some(scp.to_string()),
        upn: Some(admin.upn.clone()),
        lab_role: Some(admin.role.name().to_string()),
    };
    let key = EncodingKey::from_secret(state.token_signing_key.expose().as_bytes());
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).ok()?;
    Some((token, lifetime))
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a token this lab issued, or for another audience.
    Invalid(String),
    /// Expired (or issued before the control API expired every token).
    Expired,
    /// A valid token without the role the operation needs.
    Forbidden {
        /// The role that would have been enough (the least privileged).
        needed: String,
    },
}

/// Mints an access token for an app and a resource, with the app's roles for that resource and the
/// lifetime the faults allow. Returns the token and its lifetime in seconds.
pub fn mint(state: &LabState, client_id: &str, resource: Resource) -> Option<(String, u64)> {
    let tenant = state.tenant();
    let app = tenant.app(client_id)?;
    let roles = match resource {
        Resource::Graph => app.graph_roles.clone(),
        Resource::Exchange => app.exchange_roles.clone(),
    };
    let lifetime = state.faults().token_lifetime_seconds;
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        aud: resource.audience().to_string(),
        iss: format!("https://sts.windows.net/{}/", tenant.tenant_id),
        tid: tenant.tenant_id.clone(),
        appid: app.client_id.clone(),
        roles,
        iat: now,
        nbf: now - 60,
        exp: now + lifetime as i64,
        uti: uuid::Uuid::new_v4().simple().to_string(),
        scp: None,
        upn: None,
        lab_role: None,
    };
    let key = EncodingKey::from_secret(state.token_signing_key.expose().as_bytes());
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).ok()?;
    Some((token, lifetime))
}

/// Checks the `Authorization` header of a request for `resource`. `any_of_roles` lists the roles that
/// allow the operation (empty: any valid token will do); the first is named in a 403.
pub fn authorize(
    state: &LabState,
    headers: &axum::http::HeaderMap,
    resource: Resource,
    any_of_roles: &[&str],
) -> Result<AccessClaims, AuthFailure> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthFailure::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(AuthFailure::Missing)?
        .trim();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[resource.audience()]);
    validation.leeway = 0;
    let key = DecodingKey::from_secret(state.token_signing_key.expose().as_bytes());
    let data =
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthFailure::Expired,
                _ => AuthFailure::Invalid(e.to_string()),
            }
        })?;
    let claims = data.claims;
    if let Some(not_before) = state.faults().tokens_not_before
        && claims.iat < not_before.timestamp()
    {
        return Err(AuthFailure::Expired);
    }
    if !any_of_roles.is_empty()
        && !any_of_roles
            .iter()
            .any(|needed| claims.roles.iter().any(|r| r.eq_ignore_ascii_case(needed)))
    {
        return Err(AuthFailure::Forbidden {
            needed: any_of_roles[0].to_string(),
        });
    }
    Ok(claims)
}
