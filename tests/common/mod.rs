//! Shared helpers for the integration tests: start a lab on loopback and make clients that trust its CA.
#![allow(dead_code)]

use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::scenario::Scenario;
use exchange_connector::lab::server::{LabOptions, RunningLab, start};
use std::path::Path;

/// A started lab and the temporary folder that holds its files.
pub struct TestLab {
    pub lab: RunningLab,
    pub dir: tempfile::TempDir,
}

impl std::ops::Deref for TestLab {
    type Target = RunningLab;
    fn deref(&self) -> &RunningLab {
        &self.lab
    }
}

/// Starts the small hand-made scenario.
pub async fn small_lab() -> TestLab {
    lab_with(Scenario::small()).await
}

/// Starts a generated organisation.
pub async fn generated_lab(users: usize, devices: usize, seed: u64) -> TestLab {
    lab_with(generate(GenerateSpec {
        users,
        devices,
        seed,
    }))
    .await
}

/// Starts a lab for a scenario.
pub async fn lab_with(scenario: Scenario) -> TestLab {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(LabOptions {
        scenario,
        dir: dir.path().to_path_buf(),
    })
    .await
    .expect("lab starts");
    TestLab { lab, dir }
}

/// An HTTP client that trusts the lab's CA (and nothing is switched off).
pub fn client(ca: &str) -> reqwest::Client {
    exchange_connector::tls::http_client_builder(Some(Path::new(ca)))
        .expect("tls")
        .build()
        .expect("client")
}

/// The connector app's token client with the lab's client secret, over a client that trusts the lab.
pub fn secret_tokens(
    e: &exchange_connector::lab::endpoints::Endpoints,
) -> exchange_connector::oauth::TokenClient {
    use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
    TokenClient::new(
        OAuthConfig::new(
            &e.login_base,
            &e.tenant_id,
            &e.client_id,
            ClientCredential::Secret(exchange_connector::secret::Secret::new(
                e.client_secret.clone(),
            )),
        ),
        client(&e.ca_cert_pem),
    )
}

/// `GET` of the lab's control API (`/counters`, `/status`, ...) as JSON.
pub async fn control_get(
    e: &exchange_connector::lab::endpoints::Endpoints,
    path: &str,
) -> serde_json::Value {
    client(&e.ca_cert_pem)
        .get(format!("{}{path}", e.control_base))
        .send()
        .await
        .expect("the lab's control API answers")
        .json()
        .await
        .expect("the control API answers JSON")
}

/// What the test proxy wants before it opens a tunnel.
#[derive(Clone, Copy)]
pub enum ProxyAuth {
    /// Any client.
    None,
    /// Basic with this user and password.
    Basic(&'static str, &'static str),
    /// Answers 407 offering only NTLM and Negotiate.
    NtlmOnly,
}

/// A forward proxy on loopback that tunnels CONNECT to 127.0.0.1 (the lab's names all live there)
/// and records each tunnel's target; returns its port and the targets.
pub async fn forward_proxy(
    auth: ProxyAuth,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let target = text
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let authorised = match auth {
                    ProxyAuth::None => true,
                    ProxyAuth::NtlmOnly => false,
                    ProxyAuth::Basic(user, password) => {
                        let want = format!(
                            "proxy-authorization: basic {}",
                            base64::engine::general_purpose::STANDARD
                                .encode(format!("{user}:{password}"))
                                .to_ascii_lowercase()
                        );
                        text.to_ascii_lowercase().contains(&want)
                    }
                };
                if !authorised {
                    let offer = match auth {
                        ProxyAuth::NtlmOnly => {
                            "Proxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\n"
                        }
                        _ => "Proxy-Authenticate: Basic realm=\"test\"\r\n",
                    };
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 407 Proxy Authentication Required\r\n{offer}Content-Length: 0\r\nConnection: close\r\n\r\n")
                                .as_bytes(),
                        )
                        .await;
                    return;
                }
                log.lock().unwrap().push(target.clone());
                let port: u16 = target
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(443);
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    return;
                };
                let _ = s
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut s, &mut upstream).await;
            });
        }
    });
    (port, seen)
}
