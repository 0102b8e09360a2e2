//! Faults the control API can inject, so tests and benchmarks can see how the connector copes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which surface a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Surface {
    /// Graph (`graph_base`).
    Graph,
    /// The Entra token endpoint.
    Token,
    /// REST `InvokeCommand`.
    ExchangeRest,
    /// The PowerShell endpoint of the CAS servers.
    PowerShell,
    /// Autodiscover.
    Autodiscover,
    /// EWS.
    Ews,
}

/// A run of throttled or failing answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storm {
    /// Surface hit.
    pub surface: Surface,
    /// HTTP status: 429 or 503 (or any other the test wants).
    pub status: u16,
    /// How many requests still get it.
    pub remaining: u32,
    /// `Retry-After` in seconds (0 = header omitted).
    #[serde(default)]
    pub retry_after_seconds: u32,
}

/// Autodiscover answers with a redirect (POX `redirectUrl`, SOAP `RedirectUrl`) instead of settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutodiscoverRedirect {
    /// Where to send the client, e.g. a host outside the organisation.
    pub url: String,
    /// How many Autodiscover requests still get it.
    pub remaining: u32,
}

/// The fault settings. Everything defaults to "no fault", except the shell limit, which defaults to
/// Exchange's own `PowerShellMaxConcurrency` of 18.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Latency added to every Exchange cmdlet call (REST or PowerShell), in milliseconds.
    pub exchange_latency_ms: u64,
    /// Latency added per object an Exchange call returns, in microseconds.
    pub exchange_latency_per_object_us: u64,
    /// Latency added to every Graph request, in milliseconds.
    pub graph_latency_ms: u64,
    /// Current storms.
    pub storms: Vec<Storm>,
    /// Lifetime of new access tokens, in seconds.
    pub token_lifetime_seconds: u64,
    /// Tokens issued before this instant are refused as expired ("expire every token now").
    pub tokens_not_before: Option<DateTime<Utc>>,
    /// Concurrent PowerShell sessions allowed per account (`PowerShellMaxConcurrency`).
    pub max_concurrent_shells: u32,
    /// Per-app Graph budget: requests per window (0 = unlimited), answered with 429 beyond it.
    pub graph_requests_per_window: u32,
    /// The window of that budget, in seconds.
    pub graph_window_seconds: u32,
    /// Idle PowerShell sessions expire after this many seconds.
    pub shell_idle_timeout_seconds: u64,
    /// Autodiscover redirects the next requests there.
    pub autodiscover_redirect: Option<AutodiscoverRedirect>,
    /// The next this many `Set-CASMailbox` calls over REST are applied, but their answer never arrives:
    /// the connection is cut after the write (a timeout or a dropped connection as the client sees it).
    pub unanswered_writes: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            exchange_latency_ms: 0,
            exchange_latency_per_object_us: 0,
            graph_latency_ms: 0,
            storms: Vec::new(),
            token_lifetime_seconds: 3599,
            tokens_not_before: None,
            max_concurrent_shells: 18,
            graph_requests_per_window: 0,
            graph_window_seconds: 20,
            shell_idle_timeout_seconds: 900,
            autodiscover_redirect: None,
            unanswered_writes: 0,
        }
    }
}

impl Faults {
    /// Takes one Autodiscover redirect: the URL to redirect this request to, if any.
    pub fn take_autodiscover_redirect(&mut self) -> Option<String> {
        let redirect = self.autodiscover_redirect.as_mut()?;
        let url = redirect.url.clone();
        redirect.remaining = redirect.remaining.saturating_sub(1);
        if redirect.remaining == 0 {
            self.autodiscover_redirect = None;
        }
        Some(url)
    }

    /// Takes one unanswered write: `true` if this `Set-CASMailbox` must lose its answer.
    pub fn take_unanswered_write(&mut self) -> bool {
        if self.unanswered_writes == 0 {
            return false;
        }
        self.unanswered_writes -= 1;
        true
    }

    /// Takes one request from the first storm on this surface: `Some((status, retry_after))` if the
    /// request must fail.
    pub fn take_storm(&mut self, surface: Surface) -> Option<(u16, u32)> {
        let pos = self
            .storms
            .iter()
            .position(|s| s.surface == surface && s.remaining > 0)?;
        let storm = &mut self.storms[pos];
        storm.remaining -= 1;
        let hit = (storm.status, storm.retry_after_seconds);
        if storm.remaining == 0 {
            self.storms.remove(pos);
        }
        Some(hit)
    }
}
