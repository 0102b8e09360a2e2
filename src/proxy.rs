//! The outbound proxy. Configured explicitly — a service's own user has no Internet settings, and the
//! HTTP stack reads neither the WinHTTP proxy nor PAC files — so every client is built from the
//! configuration by [`crate::connection::http_client`], which also switches the system proxy off.
//!
//! Accepted spellings: `host`, `host:port`, `[::1]:8080`, `http://host:port`, `https://host:port`.
//! Proxy authentication: Basic only (reqwest has no NTLM/Negotiate); a 407 that offers only NTLM or
//! Negotiate becomes [`ProxyError::UnsupportedAuth`], which says what to do.

pub use crate::address::{ProxyAddressError, ProxyScheme, ProxySpec};
use crate::config::Config;
use crate::secret::Secret;
use crate::secrets::{SecretError, SecretStore};

/// Why the proxy setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The address itself (ProxyHost, ProxyPort, ProxyEnabled) is wrong.
    #[error(transparent)]
    Address(#[from] ProxyAddressError),
    /// A ProxyUser without a password in the store.
    #[error(
        "ProxyUser is set but no ProxyPassword is stored; store it with `configure` or clear ProxyUser"
    )]
    NoPassword,
    /// The proxy wants NTLM/Negotiate.
    #[error(
        "the proxy {proxy} asks for {schemes} authentication, which the connector does not support. Either let this host (the connector server) through the proxy without authentication, or enable Basic authentication on the proxy and set ProxyUser and ProxyPassword"
    )]
    UnsupportedAuth {
        /// The proxy URL.
        proxy: String,
        /// The schemes it offered, e.g. `NTLM, Negotiate`.
        schemes: String,
    },
    /// Basic was offered but the credentials were refused (or none were given).
    #[error(
        "the proxy {proxy} refused the connection: proxy authentication required (407). {hint}"
    )]
    AuthRejected {
        /// The proxy URL.
        proxy: String,
        /// What to do.
        hint: String,
    },
    /// Reading the password.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// TLS set-up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// reqwest refused the proxy.
    #[error("cannot use the proxy {proxy}: {reason}")]
    Client {
        /// The proxy URL.
        proxy: String,
        /// What reqwest said.
        reason: String,
    },
    /// Network failure while probing.
    #[error("cannot reach the proxy {proxy}: {source}")]
    Io {
        /// The proxy URL.
        proxy: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl ProxySpec {
    /// A reqwest proxy for every scheme, with Basic credentials when given.
    pub fn to_reqwest(
        &self,
        credentials: Option<(&str, &Secret)>,
    ) -> Result<reqwest::Proxy, ProxyError> {
        let mut proxy = reqwest::Proxy::all(self.url()).map_err(|e| ProxyError::Client {
            proxy: self.url(),
            reason: e.to_string(),
        })?;
        if let Some((user, password)) = credentials {
            proxy = proxy.basic_auth(user, password.expose());
        }
        Ok(proxy)
    }
}

/// A configured proxy with its credentials (the password from the secret store).
#[derive(Debug, Clone)]
pub struct ConfiguredProxy {
    /// The normalised address.
    pub spec: ProxySpec,
    /// `ProxyUser` and its password, when the proxy needs Basic credentials.
    pub credentials: Option<(String, Secret)>,
}

impl ConfiguredProxy {
    /// The reqwest proxy for every scheme.
    pub fn to_reqwest(&self) -> Result<reqwest::Proxy, ProxyError> {
        self.spec.to_reqwest(self.credential_pair())
    }

    /// The credentials as [`ProxySpec::to_reqwest`] and [`probe_connect`] take them.
    pub fn credential_pair(&self) -> Option<(&str, &Secret)> {
        self.credentials.as_ref().map(|(u, p)| (u.as_str(), p))
    }

    /// When `error` (an error text with its sources) says the proxy refused a tunnel with 407, asks
    /// the proxy again for `target` (`host:port`) and returns the error that says what it wants —
    /// [`ProxyError::UnsupportedAuth`] when it offers only NTLM or Negotiate. `None` otherwise.
    pub async fn explain_refusal(&self, error: &str, target: &str) -> Option<ProxyError> {
        let lower = error.to_ascii_lowercase();
        if !(lower.contains("proxy authorization required")
            || lower.contains("proxy authentication required")
            || lower.contains(" 407"))
        {
            return None;
        }
        Some(explain_tunnel_refusal(&self.spec, self.credential_pair(), target).await)
    }
}

/// The proxy of a configuration with its credentials, or `None` when no proxy is used.
pub fn configured(
    config: &Config,
    secrets: &dyn SecretStore,
    instance: &str,
) -> Result<Option<ConfiguredProxy>, ProxyError> {
    let Some(spec) = config.proxy_spec()? else {
        return Ok(None);
    };
    let credentials = match &config.proxy.user {
        Some(user) => Some((
            user.clone(),
            secrets
                .get(instance, "ProxyPassword")?
                .ok_or(ProxyError::NoPassword)?,
        )),
        None => None,
    };
    Ok(Some(ConfiguredProxy { spec, credentials }))
}

/// The authentication schemes a 407 offers, from its `Proxy-Authenticate` header values.
pub fn offered_schemes<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut schemes: Vec<String> = Vec::new();
    for value in values {
        // A header may hold several challenges: `Basic realm="a, b", NTLM`. Split on commas outside
        // quotes; a part whose first word has no '=' starts a challenge, and that word is the scheme.
        let mut parts = Vec::new();
        let (mut quoted, mut start) = (false, 0);
        for (i, c) in value.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    parts.push(&value[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&value[start..]);
        for part in parts {
            if let Some(first) = part.split_whitespace().next()
                && !first.contains('=')
                && !schemes.iter().any(|s| s.eq_ignore_ascii_case(first))
            {
                schemes.push(first.to_string());
            }
        }
    }
    schemes
}

/// Turns a proxy's answer into an error when it is a 407: [`ProxyError::UnsupportedAuth`] when only
/// NTLM/Negotiate/Kerberos are offered, [`ProxyError::AuthRejected`] otherwise. Any other status is `Ok`.
pub fn check_proxy_status<'a>(
    proxy: &ProxySpec,
    status: u16,
    proxy_authenticate: impl IntoIterator<Item = &'a str>,
    sent_credentials: bool,
) -> Result<(), ProxyError> {
    if status != 407 {
        return Ok(());
    }
    let schemes = offered_schemes(proxy_authenticate);
    let basic = schemes.iter().any(|s| s.eq_ignore_ascii_case("basic"));
    if !schemes.is_empty() && !basic {
        return Err(ProxyError::UnsupportedAuth {
            proxy: proxy.url(),
            schemes: schemes.join(", "),
        });
    }
    let hint = if sent_credentials {
        "The proxy refused ProxyUser and ProxyPassword: check them (run `configure` again to store the password)."
    } else {
        "Set ProxyUser and store ProxyPassword, or let this host through the proxy without authentication."
    };
    Err(ProxyError::AuthRejected {
        proxy: proxy.url(),
        hint: hint.to_string(),
    })
}

/// Checks a response got through the proxy (an `http://` target: the proxy's 407 arrives as a response).
pub fn check_response(
    proxy: &ProxySpec,
    response: &reqwest::Response,
    sent_credentials: bool,
) -> Result<(), ProxyError> {
    let values = response
        .headers()
        .get_all(reqwest::header::PROXY_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    check_proxy_status(proxy, response.status().as_u16(), values, sent_credentials)
}

/// Whether a request failed because the proxy refused to open a tunnel with 407 (an `https://` target:
/// reqwest reports it without the proxy's headers; [`explain_tunnel_refusal`] finds out why).
pub fn is_proxy_auth_required(err: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("proxy authorization required")
            || text.contains("proxy authentication required")
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// After [`is_proxy_auth_required`], asks the proxy again (see [`probe_connect`]) and returns the error
/// that says what it wants: [`ProxyError::UnsupportedAuth`] for NTLM/Negotiate only.
pub async fn explain_tunnel_refusal(
    proxy: &ProxySpec,
    credentials: Option<(&str, &Secret)>,
    target: &str,
) -> ProxyError {
    match probe_connect(proxy, credentials, target).await {
        Err(e) => e,
        // The proxy let the probe through this time: report the original refusal plainly.
        Ok(()) => ProxyError::AuthRejected {
            proxy: proxy.url(),
            hint: "It accepted a second attempt; it may limit connections. Try again.".into(),
        },
    }
}

/// Asks the proxy for a tunnel to `target` (`host:port`) and reads its answer, so a 407 on an HTTPS
/// target — which reqwest reports without the headers — can be explained. Used by `diagnose`.
pub async fn probe_connect(
    proxy: &ProxySpec,
    credentials: Option<(&str, &Secret)>,
    target: &str,
) -> Result<(), ProxyError> {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = |source| ProxyError::Io {
        proxy: proxy.url(),
        source,
    };
    if proxy.scheme == ProxyScheme::Https {
        // TLS to the proxy itself is not probed here; the real clients handle it.
        return Ok(());
    }
    let mut stream = tokio::net::TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(io)?;
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    // Read the response head only; cap it so a misbehaving proxy cannot make us buffer forever.
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ProxyError::Client {
            proxy: proxy.url(),
            reason: "the proxy did not answer with HTTP".into(),
        })?;
    let challenges: Vec<&str> = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authenticate"))
        .map(|(_, v)| v.trim())
        .collect();
    check_proxy_status(proxy, status, challenges, credentials.is_some())?;
    if !(200..300).contains(&status) {
        return Err(ProxyError::Client {
            proxy: proxy.url(),
            reason: format!("the proxy answered {status} to CONNECT {target}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntlm_only_407_is_unsupported_with_a_fix() {
        let spec = ProxySpec::parse("proxy:8080", None).unwrap();
        let err = check_proxy_status(&spec, 407, ["NTLM", "Negotiate"], false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ProxyError::UnsupportedAuth { .. }));
        assert!(text.contains("NTLM, Negotiate"), "{text}");
        assert!(text.contains("without authentication"), "{text}");
        assert!(text.contains("Basic"), "{text}");

        let err = check_proxy_status(&spec, 407, ["Negotiate, NTLM"], false).unwrap_err();
        assert!(matches!(err, ProxyError::UnsupportedAuth { .. }));

        let err =
            check_proxy_status(&spec, 407, ["NTLM", "Basic realm=\"corp\""], true).unwrap_err();
        assert!(matches!(err, ProxyError::AuthRejected { .. }));
        assert!(check_proxy_status(&spec, 200, ["NTLM"], false).is_ok());
    }

    #[test]
    fn schemes_are_read_from_combined_challenges() {
        assert_eq!(
            offered_schemes(["Basic realm=\"a, b\", NTLM", "Negotiate"]),
            ["Basic", "NTLM", "Negotiate"]
        );
    }

    /// A fake proxy that answers every CONNECT with 407 NTLM/Negotiate, `connections` times, and
    /// hands back the requests it saw.
    async fn ntlm_only_proxy(connections: usize) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..connections {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n",
                )
                .await
                .unwrap();
            }
            seen
        });
        (port, task)
    }

    fn proxy_config(port: u16, user: Option<&str>) -> Config {
        let mut values: crate::config::Values = [
            ("ExchangeServer", "cas01.contoso.com".to_string()),
            ("ExchangeUser", "CONTOSO\\svc".to_string()),
            (
                "TenantId",
                "11111111-2222-3333-4444-555555555555".to_string(),
            ),
            (
                "ClientId",
                "66666666-7777-8888-9999-000000000000".to_string(),
            ),
            ("ProxyEnabled", "true".to_string()),
            ("ProxyHost", format!("127.0.0.1:{port}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(user) = user {
            values.insert("ProxyUser".into(), user.into());
        }
        Config::from_values(&values).unwrap()
    }

    #[tokio::test]
    async fn basic_credentials_go_to_the_proxy_from_the_store() {
        use base64::Engine as _;
        let (port, server) = ntlm_only_proxy(1).await;
        let config = proxy_config(port, Some("CONTOSO\\proxy-user"));
        let dir = tempfile::tempdir().unwrap();
        let store = crate::secrets::FileStore::new(dir.path());
        // No password stored: refused before any connection, with the fix.
        let err = crate::connection::http_client(&config, &store, "default").unwrap_err();
        assert!(matches!(err, ProxyError::NoPassword), "{err}");
        store
            .set("default", "ProxyPassword", &Secret::new("pr0xy-pw"))
            .unwrap();
        let client = crate::connection::http_client(&config, &store, "default")
            .unwrap()
            .build()
            .unwrap();
        let _ = client.get("https://graph.contoso.invalid/").send().await;
        let seen = server.await.unwrap();
        let token =
            base64::engine::general_purpose::STANDARD.encode("CONTOSO\\proxy-user:pr0xy-pw");
        assert!(
            seen[0].starts_with("CONNECT graph.contoso.invalid:443"),
            "{}",
            seen[0]
        );
        assert!(
            seen[0].to_ascii_lowercase().contains(&format!(
                "proxy-authorization: basic {}",
                token.to_ascii_lowercase()
            )),
            "{}",
            seen[0]
        );
    }

    #[tokio::test]
    async fn a_real_client_through_an_ntlm_proxy_gets_the_plain_explanation() {
        let (port, server) = ntlm_only_proxy(2).await;
        let config = proxy_config(port, None);
        let dir = tempfile::tempdir().unwrap();
        let store = crate::secrets::FileStore::new(dir.path());
        let client = crate::connection::http_client(&config, &store, "default")
            .unwrap()
            .build()
            .unwrap();
        // The name never resolves: only the proxy is contacted.
        let err = client
            .get("https://graph.contoso.invalid/v1.0/")
            .send()
            .await
            .unwrap_err();
        assert!(is_proxy_auth_required(&err), "{err:?}");
        let spec = config.proxy_spec().unwrap().unwrap();
        let explained = explain_tunnel_refusal(&spec, None, "graph.contoso.invalid:443").await;
        assert!(
            matches!(explained, ProxyError::UnsupportedAuth { .. }),
            "{explained}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn probe_explains_an_ntlm_only_proxy() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n",
            )
            .await
            .unwrap();
        });
        let spec = ProxySpec::parse(&format!("127.0.0.1:{port}"), None).unwrap();
        let err = probe_connect(&spec, None, "graph.microsoft.com:443")
            .await
            .unwrap_err();
        assert!(matches!(err, ProxyError::UnsupportedAuth { .. }), "{err}");
        server.await.unwrap();
    }
}
