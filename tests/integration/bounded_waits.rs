//! A huge `Retry-After` from Graph or Exchange Online REST is capped, and the log line names the cap:
//! the lab throttles with a one-day `Retry-After`, the client waits its (test-sized) cap and goes on.

use crate::common;

use exchange_connector::exchange::ExchangeClient;
use exchange_connector::exchange::pool::{PoolConfig, RetryPolicy};
use exchange_connector::exchange::rest::RestConfig;
use exchange_connector::intune::{IntuneClient, IntuneConfig};
use exchange_connector::lab::faults::{Storm, Surface};
use exchange_connector::oauth::{ClientCredential, OAuthConfig, TokenClient};
use exchange_connector::secret::Secret;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ONE_DAY: u32 = 86_400;

/// Log lines written while the guard lives (this thread's subscriber; the tests run on a
/// current-thread runtime, so every task of the test logs here).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|l| l.clone()).unwrap_or_default()).into_owned()
    }
}

/// Throttles `surface` once with a day-long `Retry-After`, runs `call`, and returns its result and the
/// log. The timeout only turns a lost cap (a day's wait) into a failure instead of a hang: generous,
/// not a timing check.
async fn throttled_once<T>(
    lab: &common::TestLab,
    surface: Surface,
    call: impl std::future::Future<Output = T>,
) -> (T, String) {
    lab.state.faults().storms.push(Storm {
        surface,
        status: 429,
        remaining: 1,
        retry_after_seconds: ONE_DAY,
    });
    let log = Captured::default();
    let guard = log.start();
    let result = tokio::time::timeout(Duration::from_secs(300), call)
        .await
        .expect("the client waited the server's whole Retry-After instead of its cap");
    drop(guard);
    (result, log.text())
}

#[tokio::test]
async fn a_day_long_graph_retry_after_is_capped_and_the_cap_logged() {
    let lab = common::small_lab().await;
    let e = &lab.endpoints;
    let tokens = common::secret_tokens(e);
    let mut config = IntuneConfig::new(&e.graph_base);
    config.max_retry_after = Duration::from_secs(1);
    let intune = IntuneClient::new(common::client(&e.ca_cert_pem), Arc::new(tokens), config);
    let (devices, text) = throttled_once(&lab, Surface::Graph, intune.managed_devices(None)).await;
    assert_eq!(devices.unwrap().len(), 7);
    assert!(
        text.contains("Microsoft Graph asked to wait 86400s")
            && text.contains("waiting the cap of 1s"),
        "{text}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_day_long_rest_retry_after_is_capped_and_the_cap_logged() {
    let lab = common::small_lab().await;
    let e = &lab.endpoints;
    let pfx = std::fs::read(&e.client_certificate_pfx).unwrap();
    let cert = exchange_connector::certificate::ClientCertificate::from_pfx(
        &pfx,
        &Secret::new(e.client_certificate_password.clone()),
    )
    .unwrap();
    let tokens = Arc::new(TokenClient::new(
        OAuthConfig::new(
            &e.login_base,
            &e.tenant_id,
            &e.client_id,
            ClientCredential::Certificate(Arc::new(cert)),
        ),
        common::client(&e.ca_cert_pem),
    ));
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    };
    let mut config = RestConfig::new(&e.exchange_rest_base, &e.tenant_id);
    config.anchor_domain = e.domain.clone();
    config.retry = retry.clone();
    config.max_retry_after = Duration::from_secs(1);
    let pool = PoolConfig {
        retry,
        ..Default::default()
    };
    let exchange =
        ExchangeClient::online(config, tokens, common::client(&e.ca_cert_pem), pool, None);
    let (devices, text) =
        throttled_once(&lab, Surface::ExchangeRest, exchange.list_devices()).await;
    assert!(!devices.unwrap().is_empty());
    assert!(
        text.contains("Exchange Online asked to wait 86400s")
            && text.contains("waiting the cap of 1s"),
        "{text}"
    );
    lab.shutdown().await;
}
