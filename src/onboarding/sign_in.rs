//! The admin's sign-in: the device authorization grant (`POST {login}/{tenant}/oauth2/v2.0/devicecode`,
//! then the token endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code`, answered
//! with `authorization_pending` until the user signs in, `authorization_declined` or `expired_token` —
//! entra-docs `identity-platform/v2-oauth2-device-code.md`; `slow_down` adds 5 seconds to the interval,
//! RFC 8628 §3.5), or the authorization code grant with PKCE (RFC 7636, `code_challenge_method=S256`)
//! through the system browser and a loopback redirect on `http://localhost:<port>`.
//!
//! The resulting [`AdminToken`] lives in memory only: it is neither serialisable nor printable.

use super::{Authority, OnboardingError};
use crate::secret::Secret;
use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;
use std::time::Duration;

/// The `grant_type` of the device-code token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A signed-in admin's delegated Graph token, for this onboarding session only.
pub struct AdminToken {
    token: Secret,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

impl AdminToken {
    /// The bearer value, for the Graph client of this session.
    pub(crate) fn into_secret(self) -> Secret {
        self.token
    }
}

/// What the person must do: open `verification_uri` and type `user_code`.
#[derive(Debug, Clone)]
pub struct DeviceCodePrompt {
    /// The short code to type.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// Entra's instruction text.
    pub message: String,
    /// Seconds until the code expires.
    pub expires_in: u64,
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    #[serde(default = "default_interval")]
    interval: u64,
}

fn default_expiry() -> u64 {
    900
}

fn default_interval() -> u64 {
    5
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A device-code sign-in in progress: show [`DeviceCodeSignIn::prompt`], then [`DeviceCodeSignIn::wait`].
pub struct DeviceCodeSignIn {
    http: reqwest::Client,
    authority: Authority,
    client_id: String,
    device_code: Secret,
    interval: u64,
    prompt: DeviceCodePrompt,
}

async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(u16, String), OnboardingError> {
    let response =
        http.post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| OnboardingError::Unreachable {
                url: url.to_string(),
                reason: crate::error_text::chain(&e),
            })?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| OnboardingError::Unreachable {
            url: url.to_string(),
            reason: crate::error_text::chain(&e),
        })?;
    Ok((status, body))
}

/// The first line of Entra's `error_description` (the rest is trace ids).
fn first_line(text: Option<String>) -> String {
    text.unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Reads a token answer: the token, or the typed refusal.
fn token_from(status: u16, body: &str) -> Result<Result<AdminToken, String>, OnboardingError> {
    let answer: TokenAnswer = serde_json::from_str(body).map_err(|_| OnboardingError::SignIn {
        error: format!("HTTP {status}"),
        description: body.chars().take(200).collect(),
    })?;
    if let Some(token) = answer.access_token {
        return Ok(Ok(AdminToken {
            token: Secret::new(token),
        }));
    }
    let error = answer.error.unwrap_or_else(|| format!("HTTP {status}"));
    let description = first_line(answer.error_description);
    match error.as_str() {
        "authorization_pending" | "slow_down" => Ok(Err(error)),
        "authorization_declined" | "access_denied" => Err(OnboardingError::Declined {
            detail: description,
        }),
        "expired_token" | "code_expired" => Err(OnboardingError::CodeExpired),
        _ => Err(OnboardingError::SignIn { error, description }),
    }
}

impl DeviceCodeSignIn {
    /// Asks for a device code for `client_id` (a public client app) with onboarding's scopes.
    pub async fn start(
        http: reqwest::Client,
        authority: Authority,
        client_id: &str,
    ) -> Result<DeviceCodeSignIn, OnboardingError> {
        let url = authority.oauth_endpoint("devicecode");
        let scope = authority.sign_in_scope();
        let (status, body) =
            post_form(&http, &url, &[("client_id", client_id), ("scope", &scope)]).await?;
        let answer: DeviceCodeAnswer = match serde_json::from_str(&body) {
            Ok(a) => a,
            Err(_) => {
                let refusal: TokenAnswer =
                    serde_json::from_str(&body).map_err(|_| OnboardingError::SignIn {
                        error: format!("HTTP {status}"),
                        description: body.chars().take(200).collect(),
                    })?;
                return Err(OnboardingError::SignIn {
                    error: refusal.error.unwrap_or_else(|| format!("HTTP {status}")),
                    description: first_line(refusal.error_description),
                });
            }
        };
        let message = answer.message.unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}.",
                answer.verification_uri, answer.user_code
            )
        });
        Ok(DeviceCodeSignIn {
            http,
            authority,
            client_id: client_id.to_string(),
            device_code: Secret::new(answer.device_code),
            interval: answer.interval.max(1),
            prompt: DeviceCodePrompt {
                user_code: answer.user_code,
                verification_uri: answer.verification_uri,
                message,
                expires_in: answer.expires_in,
            },
        })
    }

    /// What to show the person.
    pub fn prompt(&self) -> &DeviceCodePrompt {
        &self.prompt
    }

    /// Polls the token endpoint every `interval` seconds until the person signed in, declined, or the
    /// code expired.
    pub async fn wait(mut self) -> Result<AdminToken, OnboardingError> {
        let url = self.authority.oauth_endpoint("token");
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.prompt.expires_in + 30);
        loop {
            tokio::time::sleep(Duration::from_secs(self.interval)).await;
            if tokio::time::Instant::now() > deadline {
                return Err(OnboardingError::CodeExpired);
            }
            let (status, body) = post_form(
                &self.http,
                &url,
                &[
                    ("grant_type", DEVICE_CODE_GRANT),
                    ("client_id", &self.client_id),
                    ("device_code", self.device_code.expose()),
                ],
            )
            .await?;
            match token_from(status, &body)? {
                Ok(token) => return Ok(token),
                Err(pending) if pending == "slow_down" => self.interval += 5,
                Err(_) => {}
            }
        }
    }
}

/// A browser sign-in in progress: open [`AuthCodeSignIn::browser_url`], then
/// [`AuthCodeSignIn::finish`] waits for the redirect on the loopback listener.
pub struct AuthCodeSignIn {
    http: reqwest::Client,
    authority: Authority,
    client_id: String,
    listener: tokio::net::TcpListener,
    redirect_uri: String,
    verifier: Secret,
    state: String,
    url: String,
}

/// A PKCE verifier (32 random bytes, base64url: 43 characters) and its S256 challenge.
fn pkce_pair() -> (Secret, String) {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

impl AuthCodeSignIn {
    /// Opens the loopback listener on an ephemeral port and builds the authorize URL.
    pub async fn start(
        http: reqwest::Client,
        authority: Authority,
        client_id: &str,
    ) -> Result<AuthCodeSignIn, OnboardingError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| OnboardingError::BrowserSignIn(format!("no loopback port: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| OnboardingError::BrowserSignIn(e.to_string()))?
            .port();
        let redirect_uri = format!("http://localhost:{port}/");
        let (verifier, challenge) = pkce_pair();
        let state = uuid::Uuid::new_v4().simple().to_string();
        let mut url = url::Url::parse(&authority.oauth_endpoint("authorize"))
            .map_err(|e| OnboardingError::BrowserSignIn(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", &authority.sign_in_scope())
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(AuthCodeSignIn {
            http,
            authority,
            client_id: client_id.to_string(),
            listener,
            redirect_uri,
            verifier,
            state,
            url: url.to_string(),
        })
    }

    /// The URL to open in the system browser.
    pub fn browser_url(&self) -> &str {
        &self.url
    }

    /// Waits (at most `timeout`) for the browser to come back with a code, then redeems it with the
    /// PKCE verifier.
    pub async fn finish(self, timeout: Duration) -> Result<AdminToken, OnboardingError> {
        let query = tokio::time::timeout(timeout, self.redirect())
            .await
            .map_err(|_| {
                OnboardingError::BrowserSignIn(format!(
                    "no answer within {} seconds (browser closed?)",
                    timeout.as_secs()
                ))
            })??;
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if get("state").as_deref() != Some(self.state.as_str()) {
            return Err(OnboardingError::BrowserSignIn(
                "the answer's state does not match this sign-in".into(),
            ));
        }
        if let Some(error) = get("error") {
            let description = first_line(get("error_description"));
            return Err(if error == "access_denied" {
                OnboardingError::Declined {
                    detail: description,
                }
            } else {
                OnboardingError::SignIn { error, description }
            });
        }
        let code = get("code")
            .ok_or_else(|| OnboardingError::BrowserSignIn("the answer carries no code".into()))?;
        let url = self.authority.oauth_endpoint("token");
        let (status, body) = post_form(
            &self.http,
            &url,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &self.client_id),
                ("code", &code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", self.verifier.expose()),
                ("scope", &self.authority.sign_in_scope()),
            ],
        )
        .await?;
        match token_from(status, &body)? {
            Ok(token) => Ok(token),
            Err(other) => Err(OnboardingError::SignIn {
                error: other,
                description: String::new(),
            }),
        }
    }

    /// Accepts connections until one carries `code` or `error`, answers it with a short page, and
    /// returns its query.
    async fn redirect(&self) -> Result<Vec<(String, String)>, OnboardingError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| OnboardingError::BrowserSignIn(e.to_string()))?;
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buffer.windows(4).any(|w| w == b"\r\n\r\n") && buffer.len() < 16 * 1024 {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let text = String::from_utf8_lossy(&buffer);
            let target = text
                .lines()
                .next()
                .and_then(|line| line.split_whitespace().nth(1))
                .unwrap_or("/");
            let query: Vec<(String, String)> = target
                .split_once('?')
                .map(|(_, q)| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default();
            let answered = query.iter().any(|(k, _)| k == "code" || k == "error");
            let page = if answered {
                "<html><body>Sign-in received. You can close this window and return to the Exchange Connector.</body></html>"
            } else {
                "<html><body>Waiting for the sign-in.</body></html>"
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            if answered {
                return Ok(query);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_s256_of_verifier() {
        let (verifier, challenge) = pkce_pair();
        assert_eq!(verifier.expose().len(), 43);
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.expose().as_bytes()));
        assert_eq!(challenge, expected);
    }

    #[test]
    fn pending_and_refusals_are_typed() {
        assert!(matches!(
            token_from(400, r#"{"error":"authorization_pending"}"#),
            Ok(Err(_))
        ));
        assert!(matches!(
            token_from(400, r#"{"error":"expired_token"}"#),
            Err(OnboardingError::CodeExpired)
        ));
        assert!(matches!(
            token_from(
                400,
                r#"{"error":"authorization_declined","error_description":"AADSTS: no\r\nTrace"}"#
            ),
            Err(OnboardingError::Declined { .. })
        ));
    }
}
