//! HTTP authentication for Autodiscover and EWS with the notification account: Windows authentication
//! (the on-premises default) and Basic. The first request carries no credentials; the 401 says what the
//! server offers. Windows authentication is NTLM inside SPNEGO (`Authorization: Negotiate`, see
//! [`super::spnego`]) when the server offers `Negotiate` — real IIS offers `Negotiate` and `NTLM` —
//! and plain `NTLM` when it offers only that; Kerberos needs a KDC and is not spoken. Basic credentials
//! go only to a server that asked for them, only over https and only when the admin chose Basic. NTLM
//! messages come from the `ntlmclient` crate; this module only carries them over HTTP. NTLM
//! authenticates a connection, so the client used here must keep one HTTP/1.1 connection per host (see
//! [`http1_client`]).

use crate::secret::Secret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};

/// Which scheme to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AuthScheme {
    /// NTLM (on-premises default).
    #[default]
    Ntlm,
    /// Basic (only over HTTPS).
    Basic,
}

/// The notification account's credential.
#[derive(Debug, Clone)]
pub struct MailboxCredential {
    /// `user@domain` (UPN) or `DOMAIN\user`.
    pub user: String,
    /// Password.
    pub password: Secret,
    /// Scheme.
    pub scheme: AuthScheme,
}

/// Why an authenticated request failed before any application answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Network, TLS or proxy.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// URL.
        url: String,
        /// Cause with its chain.
        message: String,
    },
    /// The server refused the credentials.
    #[error(
        "{url} refused the notification account's credentials ({scheme:?}). Check the account name (user@domain or DOMAIN\\user) and password, and that the account is not locked or expired."
    )]
    Refused {
        /// URL.
        url: String,
        /// Scheme tried.
        scheme: AuthScheme,
    },
    /// The server does not offer the scheme.
    #[error(
        "{url} does not accept {scheme:?} authentication (it offers: {offered}). Choose a scheme the server offers."
    )]
    SchemeNotOffered {
        /// URL.
        url: String,
        /// Scheme tried.
        scheme: AuthScheme,
        /// What the server offered.
        offered: String,
    },
    /// A malformed NTLM challenge.
    #[error("{url} sent an NTLM challenge that cannot be read: {message}")]
    BadChallenge {
        /// URL.
        url: String,
        /// Why.
        message: String,
    },
}

/// A client suited to NTLM: HTTP/1.1 only, one kept-alive connection per host, TLS from `builder`.
pub fn http1_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, reqwest::Error> {
    builder
        .http1_only()
        .pool_max_idle_per_host(1)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
}

fn split_user(user: &str) -> (String, String) {
    match user.split_once('\\') {
        Some((domain, name)) => (domain.to_string(), name.to_string()),
        None => (String::new(), user.to_string()),
    }
}

/// Sends a POST with `body` and `content_type`, authenticating as `credential`. Returns the final
/// response (any status other than a refused 401).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: &str,
    extra: &HeaderMap,
    credential: &MailboxCredential,
) -> Result<reqwest::Response, AuthError> {
    let send = |authorization: Option<String>| {
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .headers(extra.clone())
            .body(body.to_string());
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.send()
    };
    let unreachable = |e: reqwest::Error| AuthError::Unreachable {
        url: url.to_string(),
        message: crate::error_text::chain(&e),
    };
    match credential.scheme {
        AuthScheme::Basic => {
            // No credentials before a challenge: a server that does not ask never sees them.
            let first = send(None).await.map_err(unreachable)?;
            if first.status() != 401 {
                return Ok(first);
            }
            if !offers(first.headers(), "Basic") {
                return Err(refused_or_not_offered(
                    url,
                    AuthScheme::Basic,
                    first.headers(),
                ));
            }
            discard_body(first).await;
            let token = B64.encode(format!(
                "{}:{}",
                credential.user,
                credential.password.expose()
            ));
            let response = send(Some(format!("Basic {token}")))
                .await
                .map_err(unreachable)?;
            if response.status() == 401 {
                return Err(AuthError::Refused {
                    url: url.to_string(),
                    scheme: AuthScheme::Basic,
                });
            }
            Ok(response)
        }
        AuthScheme::Ntlm => {
            // First without credentials, as Windows does: the 401 says what the server offers.
            let first = send(None).await.map_err(unreachable)?;
            if first.status() != 401 {
                return Ok(first);
            }
            // `Negotiate` when offered (real IIS offers `Negotiate` then `NTLM`): NTLM inside
            // SPNEGO, what Windows sends without a Kerberos ticket; plain `NTLM` otherwise.
            let wrapped = if offers(first.headers(), "Negotiate") {
                true
            } else if offers(first.headers(), "NTLM") {
                false
            } else {
                return Err(refused_or_not_offered(
                    url,
                    AuthScheme::Ntlm,
                    first.headers(),
                ));
            };
            discard_body(first).await;
            let scheme = if wrapped { "Negotiate" } else { "NTLM" };
            let (domain, user) = split_user(&credential.user);
            let workstation = "EXCHANGECONNECTOR".to_string();
            let negotiate = ntlmclient::Message::Negotiate(ntlmclient::NegotiateMessage {
                flags: ntlmclient::Flags::NEGOTIATE_UNICODE
                    | ntlmclient::Flags::REQUEST_TARGET
                    | ntlmclient::Flags::NEGOTIATE_NTLM
                    | ntlmclient::Flags::NEGOTIATE_WORKSTATION_SUPPLIED,
                supplied_domain: String::new(),
                supplied_workstation: workstation.clone(),
                os_version: Default::default(),
            });
            let bad = |message: String| AuthError::BadChallenge {
                url: url.to_string(),
                message,
            };
            let bytes = negotiate
                .to_bytes()
                .map_err(|e| bad(format!("cannot encode the negotiate message: {e:?}")))?;
            let token = if wrapped {
                super::spnego::init_token(&bytes)
            } else {
                bytes
            };
            let second = send(Some(format!("{scheme} {}", B64.encode(token))))
                .await
                .map_err(unreachable)?;
            if second.status() != 401 {
                return Ok(second);
            }
            let challenge_b64 = second
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| {
                    let (name, token) = v.trim().split_once(' ')?;
                    name.eq_ignore_ascii_case(scheme)
                        .then(|| token.trim().to_string())
                });
            let Some(challenge_b64) = challenge_b64 else {
                return Err(refused_or_not_offered(
                    url,
                    AuthScheme::Ntlm,
                    second.headers(),
                ));
            };
            // Read the body so the connection is free for the authenticate message.
            discard_body(second).await;
            let raw = B64.decode(challenge_b64).map_err(|e| bad(e.to_string()))?;
            // A server may answer SPNEGO with raw NTLM; the client then answers raw too.
            let reply_wrapped = wrapped && !super::spnego::is_raw_ntlm(&raw);
            let challenge_bytes = if reply_wrapped {
                let resp = super::spnego::parse_resp(&raw).map_err(|e| bad(e.to_string()))?;
                if resp.neg_state == Some(super::spnego::NegState::Reject) {
                    return Err(AuthError::Refused {
                        url: url.to_string(),
                        scheme: AuthScheme::Ntlm,
                    });
                }
                if resp
                    .supported_mech
                    .as_deref()
                    .is_some_and(|m| m != super::spnego::NTLMSSP_OID)
                {
                    return Err(bad(
                        "the server chose another SPNEGO mechanism than NTLM (Kerberos needs a domain-joined Windows host)".into(),
                    ));
                }
                resp.response_token
                    .ok_or_else(|| bad("the SPNEGO answer carries no NTLM challenge".into()))?
            } else {
                raw
            };
            let challenge = match ntlmclient::Message::try_from(challenge_bytes.as_slice()) {
                Ok(ntlmclient::Message::Challenge(c)) => c,
                Ok(other) => {
                    return Err(bad(format!(
                        "expected a challenge, got message type {}",
                        other.message_number()
                    )));
                }
                Err(e) => return Err(bad(format!("{e:?}"))),
            };
            let target_info: Vec<u8> = challenge
                .target_information
                .iter()
                .flat_map(|entry| entry.to_bytes())
                .collect();
            let creds = ntlmclient::Credentials {
                username: user,
                password: credential.password.expose().to_string(),
                domain,
            };
            let response = ntlmclient::respond_challenge_ntlm_v2(
                challenge.challenge,
                &target_info,
                ntlmclient::get_ntlm_time(),
                &creds,
            );
            let authenticate = response.to_message(
                &creds,
                &workstation,
                ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM,
            );
            let bytes = authenticate
                .to_bytes()
                .map_err(|e| bad(format!("cannot encode: {e:?}")))?;
            let token = if reply_wrapped {
                super::spnego::resp_token(&super::spnego::NegTokenResp {
                    neg_state: None,
                    supported_mech: None,
                    response_token: Some(bytes),
                })
            } else {
                bytes
            };
            let third = send(Some(format!("{scheme} {}", B64.encode(token))))
                .await
                .map_err(unreachable)?;
            if third.status() == 401 {
                return Err(AuthError::Refused {
                    url: url.to_string(),
                    scheme: AuthScheme::Ntlm,
                });
            }
            Ok(third)
        }
    }
}

/// Whether a 401's `WWW-Authenticate` headers offer `scheme`.
fn offers(headers: &HeaderMap, scheme: &str) -> bool {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|challenge| challenge.split_whitespace().next())
        .any(|s| s.eq_ignore_ascii_case(scheme))
}

/// Reads and drops a 401's body (so the kept-alive connection can carry the next message), at most
/// [`super::xml::MAX_BODY_BYTES`]; past that the connection is simply dropped.
async fn discard_body(mut response: reqwest::Response) {
    let mut read = 0usize;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > super::xml::MAX_BODY_BYTES {
            break;
        }
    }
}

fn refused_or_not_offered(url: &str, scheme: AuthScheme, headers: &HeaderMap) -> AuthError {
    let offered: Vec<String> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    let wanted: &[&str] = match scheme {
        AuthScheme::Ntlm => &["NTLM", "Negotiate"],
        AuthScheme::Basic => &["Basic"],
    };
    if offered.is_empty()
        || offered
            .iter()
            .any(|o| wanted.iter().any(|w| o.eq_ignore_ascii_case(w)))
    {
        AuthError::Refused {
            url: url.to_string(),
            scheme,
        }
    } else {
        AuthError::SchemeNotOffered {
            url: url.to_string(),
            scheme,
            offered: offered.join(", "),
        }
    }
}
