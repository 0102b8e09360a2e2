//! App-only OAuth 2.0 (client credentials) against the Entra ID v2 token endpoint (spec §3.6), for any
//! resource: `https://outlook.office365.com/.default` for Exchange REST, `https://graph.microsoft.com/.default`
//! for Graph. The app proves itself with a client secret or, as the connector package provides, a
//! certificate: an RS256 client assertion whose `x5t` names the certificate.
//!
//! Tokens are cached per scope and renewed before they expire; a resource that refuses a token
//! (HTTP 401) calls [`TokenClient::refresh`] once. Entra's error bodies are parsed into
//! [`OAuthError::Entra`], whose message names the AADSTS code and what to do about it.

use crate::certificate::ClientCertificate;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lifetime of a client assertion.
const ASSERTION_LIFETIME_SECONDS: i64 = 600;

/// How the app proves who it is.
#[derive(Clone)]
pub enum ClientCredential {
    /// A client secret.
    Secret(Secret),
    /// A certificate whose public part is registered on the app.
    Certificate(Arc<ClientCertificate>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("Secret(***)"),
            ClientCredential::Certificate(c) => {
                write!(f, "Certificate({})", c.sha1_thumbprint_hex())
            }
        }
    }
}

/// Where and as whom to ask for tokens.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// `https://login.microsoftonline.com` (or a national cloud, or the lab).
    pub login_base: String,
    /// Tenant id or domain.
    pub tenant: String,
    /// The app's client id.
    pub client_id: String,
    /// Secret or certificate.
    pub credential: ClientCredential,
    /// Renew a cached token this long before it expires (at most half its lifetime).
    pub renew_before: Duration,
}

impl OAuthConfig {
    /// A configuration with the default renewal margin (5 minutes).
    pub fn new(
        login_base: &str,
        tenant: &str,
        client_id: &str,
        credential: ClientCredential,
    ) -> Self {
        OAuthConfig {
            login_base: login_base.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            credential,
            renew_before: Duration::from_secs(300),
        }
    }

    /// `{login_base}/{tenant}/oauth2/v2.0/token`: also the `aud` of client assertions.
    pub fn token_endpoint(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.login_base.trim_end_matches('/'),
            self.tenant
        )
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The token endpoint could not be reached.
    #[error(
        "cannot reach the Entra ID token endpoint {endpoint}: {message}. Check the network, the proxy and TLS trust towards the login endpoint."
    )]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The cause.
        message: String,
        /// Whether it was a timeout or connection failure (worth retrying).
        transient: bool,
    },
    /// Entra ID answered with an error.
    #[error("Entra ID refused the token request for {scope} ({error}{codes}): {description}{hint}",
        codes = codes.first().map(|c| format!(", AADSTS{c}")).unwrap_or_default(),
        hint = hint.map(|h| format!(" What to do: {h}")).unwrap_or_default())]
    Entra {
        /// HTTP status.
        status: u16,
        /// The scope asked for.
        scope: String,
        /// `error`, e.g. `invalid_client`.
        error: String,
        /// `error_description` (starts with `AADSTSnnnn:`).
        description: String,
        /// `error_codes`.
        codes: Vec<u64>,
        /// What an administrator should do, for the codes the connector knows.
        hint: Option<&'static str>,
    },
    /// An answer that is neither a token nor an Entra error.
    #[error("unexpected answer from the token endpoint (HTTP {status}): {body}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The connector's certificate is past its validity: Entra ID would refuse it.
    #[error(
        "the connector's certificate ({subject}) expired on {expired_on}; Entra ID refuses an expired certificate. Download a new connector package and import it with the setup (Settings) or `configure`."
    )]
    CertificateExpired {
        /// The certificate's subject.
        subject: String,
        /// When it expired (RFC 3339).
        expired_on: String,
    },
    /// The client assertion could not be signed.
    #[error(
        "cannot sign the client assertion with the connector certificate: {0}. Download a new connector package."
    )]
    Assertion(String),
    /// The HTTP client could not be built.
    #[error("cannot set up HTTPS for the token endpoint: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

impl OAuthError {
    /// Worth retrying later.
    pub fn is_transient(&self) -> bool {
        match self {
            OAuthError::Unreachable { transient, .. } => *transient,
            OAuthError::Entra { status, codes, .. } => {
                *status >= 500
                    || *status == 429
                    || codes.iter().any(|c| TRANSIENT_CODES.contains(c))
            }
            OAuthError::Unexpected { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The AADSTS codes, if Entra answered.
    pub fn aadsts_codes(&self) -> &[u64] {
        match self {
            OAuthError::Entra { codes, .. } => codes,
            _ => &[],
        }
    }
}

/// Entra codes meaning "try again later".
const TRANSIENT_CODES: &[u64] = &[90033, 50196];

/// What to do for the AADSTS codes app-only sign-in meets.
pub fn aadsts_hint(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "the client secret is wrong. Create a new secret for the app, or use the connector certificate."
        }
        7000222 => "the client secret has expired. Create a new one in the app registration.",
        700027 | 700023 => {
            "the certificate that signed the assertion is not registered on the app. Upload the connector certificate to the app registration, or download a new connector package."
        }
        700021 => {
            "the assertion's issuer or subject does not match the client id. Check the client id in the configuration."
        }
        50013 => {
            "the assertion is invalid (audience, issuer or lifetime). Check the tenant, the clock of this server, and the connector package."
        }
        700024 => {
            "the assertion is outside its validity window. Check the clock of the connector server (time synchronisation)."
        }
        700016 => {
            "no app with this client id exists in the tenant. Check the client id and tenant, or re-run the connector setup to register the app."
        }
        7000112 => {
            "the app is disabled in the tenant. An administrator must enable it (Enterprise applications)."
        }
        7000218 => {
            "the request had no client secret or assertion. Check the connector configuration."
        }
        90002 | 900023 | 90013 | 900021 => {
            "the tenant is not found. Check the tenant id or domain in the configuration."
        }
        70011 | 1002012 => {
            "the requested scope is invalid. App-only tokens need '<resource>/.default', e.g. https://outlook.office365.com/.default."
        }
        500011 => {
            "the resource is not provisioned in the tenant. Check that the tenant has Exchange Online or Graph, and the resource URI."
        }
        65001 | 650057 => {
            "the app lacks admin consent for this resource. Grant admin consent for its API permissions."
        }
        53003 => {
            "a Conditional Access policy blocked the sign-in. Exclude the connector's workload identity from the policy."
        }
        70003 => {
            "the grant type is not supported; the connector uses client_credentials. Check the token endpoint URL."
        }
        900144 => {
            "the request misses a required parameter. Check the client id and tenant in the configuration."
        }
        50027 => {
            "the client assertion is malformed. Download a new connector package (certificate)."
        }
        700025 => {
            "the client is public; a confidential client (secret or certificate) is required."
        }
        _ => return None,
    })
}

/// Entra's error body.
#[derive(Debug, Deserialize)]
struct EntraError {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Parses an error answer of the token endpoint.
pub fn parse_error(status: u16, scope: &str, body: &str) -> OAuthError {
    match serde_json::from_str::<EntraError>(body) {
        Ok(e) => {
            let mut codes = e.error_codes;
            if codes.is_empty()
                && let Some(code) = e
                    .error_description
                    .strip_prefix("AADSTS")
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|digits| digits.parse().ok())
            {
                codes.push(code);
            }
            let hint = codes.iter().find_map(|c| aadsts_hint(*c));
            OAuthError::Entra {
                status,
                scope: scope.to_string(),
                error: e.error,
                // Entra appends trace and correlation ids on new lines; the first line says it all.
                description: e
                    .error_description
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                codes,
                hint,
            }
        }
        Err(_) => OAuthError::Unexpected {
            status,
            body: body.chars().take(300).collect(),
        },
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// A client assertion: RS256 JWT, `x5t` = SHA-1 thumbprint of the certificate, `aud` = the token
/// endpoint, `iss` = `sub` = client id, a fresh `jti`, valid for 10 minutes.
pub fn client_assertion(
    certificate: &ClientCertificate,
    client_id: &str,
    token_endpoint: &str,
) -> Result<Secret, OAuthError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.x5t = Some(certificate.x5t());
    let now = chrono::Utc::now().timestamp();
    let claims = AssertionClaims {
        aud: token_endpoint,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now,
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECONDS,
    };
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(certificate.private_key_pem().expose().as_bytes())
            .map_err(|e| OAuthError::Assertion(e.to_string()))?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Secret::new)
        .map_err(|e| OAuthError::Assertion(e.to_string()))
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// Gets and caches app-only tokens. Share it (`Arc`) between every client of one app.
pub struct TokenClient {
    http: reqwest::Client,
    config: OAuthConfig,
    // One lock for all scopes: concurrent callers of an expiring token wait for one request
    // instead of each asking Entra.
    cache: tokio::sync::Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("endpoint", &self.config.token_endpoint())
            .field("client_id", &self.config.client_id)
            .finish()
    }
}

impl TokenClient {
    /// A client using `http` (`crate::connection` builds both for a run).
    pub fn new(config: OAuthConfig, http: reqwest::Client) -> Self {
        TokenClient {
            http,
            config,
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// A valid token for `scope` (e.g. `https://outlook.office365.com/.default`), from the cache
    /// unless it is about to expire.
    pub async fn token(&self, scope: &str) -> Result<Secret, OAuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(scope)
            && Instant::now() < cached.renew_at
        {
            return Ok(cached.token.clone());
        }
        let fresh = self.request(scope).await?;
        let token = fresh.token.clone();
        cache.insert(scope.to_string(), fresh);
        Ok(token)
    }

    /// A new token for `scope`, after a resource refused the cached one. `rejected` is that token:
    /// when another caller already replaced it, the replacement is returned without asking again.
    pub async fn refresh(&self, scope: &str, rejected: &Secret) -> Result<Secret, OAuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(scope)
            && cached.token != *rejected
            && Instant::now() < cached.renew_at
        {
            return Ok(cached.token.clone());
        }
        let fresh = self.request(scope).await?;
        let token = fresh.token.clone();
        cache.insert(scope.to_string(), fresh);
        Ok(token)
    }

    async fn request(&self, scope: &str) -> Result<Cached, OAuthError> {
        let endpoint = self.config.token_endpoint();
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", self.config.client_id.clone()),
            ("scope", scope.to_string()),
            ("grant_type", "client_credentials".to_string()),
        ];
        match &self.config.credential {
            ClientCredential::Secret(secret) => {
                form.push(("client_secret", secret.expose().to_string()))
            }
            ClientCredential::Certificate(cert) => {
                if let Some(end) = cert.not_after()
                    && end <= chrono::Utc::now()
                {
                    return Err(OAuthError::CertificateExpired {
                        subject: cert.subject.clone(),
                        expired_on: end.format("%Y-%m-%d %H:%M UTC").to_string(),
                    });
                }
                let assertion = client_assertion(cert, &self.config.client_id, &endpoint)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ));
                form.push(("client_assertion", assertion.expose().to_string()));
            }
        }
        let started = Instant::now();
        let unreachable = |e: reqwest::Error| OAuthError::Unreachable {
            endpoint: endpoint.clone(),
            transient: e.is_timeout() || e.is_connect() || e.is_request(),
            // reqwest's Display names the URL, never the form body.
            message: crate::error_text::chain(&e),
        };
        let response = self
            .http
            .post(&endpoint)
            .form(&form)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(parse_error(status, scope, &body));
        }
        let parsed: TokenResponse =
            serde_json::from_str(&body).map_err(|_| OAuthError::Unexpected {
                status,
                body: "a 2xx answer without access_token".into(),
            })?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3599));
        let margin = self.config.renew_before.min(lifetime / 2);
        tracing::debug!(
            scope,
            lifetime_s = lifetime.as_secs(),
            "got an access token"
        );
        Ok(Cached {
            token: Secret::new(parsed.access_token),
            renew_at: started + lifetime - margin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn parses_entra_errors_with_codes_and_hints() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215],"timestamp":"t","trace_id":"x","correlation_id":"y"}"#;
        let e = parse_error(401, "https://outlook.office365.com/.default", body);
        let text = e.to_string();
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(text.contains("client secret is wrong"), "{text}");
        assert!(!text.contains("Trace ID"));
        assert!(!e.is_transient());
        assert_eq!(e.aadsts_codes(), &[7000215]);
        // Codes only in the description.
        let e = parse_error(
            400,
            "s",
            r#"{"error":"invalid_scope","error_description":"AADSTS70011: The provided value for scope is not valid."}"#,
        );
        assert_eq!(e.aadsts_codes(), &[70011]);
        assert!(matches!(
            parse_error(502, "s", "<html>bad gateway</html>"),
            OAuthError::Unexpected { status: 502, .. }
        ));
        assert!(parse_error(503, "s", "oops").is_transient());
    }

    #[tokio::test]
    async fn an_expired_certificate_is_named_before_any_request() {
        let now = std::time::SystemTime::now();
        let cert = ClientCertificate::generate_valid(
            "expired-test",
            now - std::time::Duration::from_secs(40 * 86_400),
            now - std::time::Duration::from_secs(86_400),
        )
        .unwrap();
        let expected_end = cert.not_after().unwrap();
        assert!(expected_end < chrono::Utc::now());
        let client = TokenClient::new(
            OAuthConfig::new(
                // Nothing listens here: the check must come first.
                "https://127.0.0.1:9",
                "tenant-1",
                "client-1",
                ClientCredential::Certificate(std::sync::Arc::new(cert)),
            ),
            crate::tls::http_client_builder(None)
                .unwrap()
                .build()
                .unwrap(),
        );
        let e = client
            .token("https://graph.microsoft.com/.default")
            .await
            .unwrap_err();
        assert!(matches!(e, OAuthError::CertificateExpired { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("expired on"), "{text}");
        assert!(text.contains("new connector package"), "{text}");
        assert!(!e.is_transient());
    }

    #[test]
    fn assertion_has_the_shape_entra_expects() {
        let cert = ClientCertificate::generate("assertion-test", 2).unwrap();
        let endpoint = "https://login.example/tenant-1/oauth2/v2.0/token";
        let jwt = client_assertion(&cert, "client-1", endpoint).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> serde_json::Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap()
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t"], cert.x5t());
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], endpoint);
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
        let (nbf, exp) = (
            claims["nbf"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - nbf, 600);
        // The signature verifies with the certificate's public key.
        let public_pem = {
            use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(cert.private_key_pem().expose()).unwrap();
            rsa::RsaPublicKey::from(&key)
                .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                .unwrap()
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[endpoint]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
        jsonwebtoken::decode::<serde_json::Value>(jwt.expose(), &key, &validation).unwrap();
    }
}
