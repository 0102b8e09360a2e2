//! `Retry-After` from Graph and Exchange Online, bounded: a throttled service may ask for any wait, but
//! one huge value must not stall the scheduler (the next run retries anyway). The wait is capped and a
//! capped wait is logged with both the asked wait and the cap.

use std::time::Duration;

/// The longest a client waits on one `Retry-After` unless configured otherwise.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A server's `Retry-After` and the wait actually taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// What the server asked for.
    pub asked: Duration,
    /// What will be waited: `asked`, at most the cap.
    pub wait: Duration,
    /// The cap in force.
    pub cap: Duration,
}

impl RetryAfter {
    /// `asked`, bounded by `cap`.
    pub fn bounded(asked: Duration, cap: Duration) -> Self {
        RetryAfter {
            asked,
            wait: asked.min(cap),
            cap,
        }
    }

    /// The bounded `Retry-After` of an answer, if it has a readable one (seconds or an HTTP date).
    pub fn from_headers(headers: &reqwest::header::HeaderMap, cap: Duration) -> Option<Self> {
        let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
        parse(value, chrono::Utc::now()).map(|asked| RetryAfter::bounded(asked, cap))
    }

    /// Whether the server asked for more than the cap.
    pub fn is_capped(&self) -> bool {
        self.asked > self.cap
    }

    /// Logs a capped wait (a normal one is the caller's usual retry line): the asked wait and the cap.
    pub fn log_if_capped(&self, service: &str, url: &str) {
        if self.is_capped() {
            tracing::warn!(
                service,
                url,
                asked_seconds = self.asked.as_secs(),
                cap_seconds = self.cap.as_secs(),
                "{service} asked to wait {}s before retrying (Retry-After); waiting the cap of {}s instead",
                self.asked.as_secs(),
                self.cap.as_secs()
            );
        }
    }
}

/// Reads a `Retry-After` value: delay-seconds, or an HTTP date (a date in the past is no wait).
pub fn parse(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_are_read_and_bounded() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse("Thu, 01 Jan 2026 00:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse("Wed, 31 Dec 2025 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse("soon", now), None);
        assert_eq!(parse("-5", now), None);
        let huge = RetryAfter::bounded(Duration::from_secs(u64::MAX), Duration::from_secs(60));
        assert_eq!(huge.wait, Duration::from_secs(60));
        assert!(huge.is_capped());
        let small = RetryAfter::bounded(Duration::from_secs(3), Duration::from_secs(60));
        assert_eq!(small.wait, Duration::from_secs(3));
        assert!(!small.is_capped());
    }
}
