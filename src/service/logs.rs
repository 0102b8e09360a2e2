//! Where the worker logs and how: the rolling `Connector<N>.log` files ([`crate::logging`]) in the
//! platform's log folder, plus standard error when run in the foreground.

use std::path::{Path, PathBuf};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::logging::{DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, RollingFiles, SharedRollingFiles};

/// The log files' name prefix (`Connector0.log` ... `Connector29.log`, like the original).
pub const LOG_PREFIX: &str = "Connector";

/// The log folder of an instance: `%ProgramData%\ExchangeConnector\Logs` on Windows; on Linux
/// `/var/log/exchange-connector` for root with the system configuration folder, else the
/// configuration folder's `logs/` (a folder given with `--config-dir` keeps its logs beside it).
pub fn default_log_dir(config_dir: &Path, instance: &str) -> PathBuf {
    let system = config_dir == crate::config::default_config_dir(instance);
    let suffix = |base: PathBuf| {
        if instance == crate::config::DEFAULT_INSTANCE {
            base
        } else {
            base.join(instance)
        }
    };
    if cfg!(windows) {
        if system {
            return suffix(crate::config::default_base_dir().join("Logs"));
        }
        return config_dir.join("Logs");
    }
    // The system folder, also when a non-root service user is pointed at it (the systemd unit).
    if system && crate::config::default_base_dir() == Path::new("/etc/exchange-connector")
        || config_dir == Path::new("/etc/exchange-connector")
    {
        return suffix(PathBuf::from("/var/log/exchange-connector"));
    }
    config_dir.join("logs")
}

/// Installs the global subscriber: the rolling files always, standard error too when `foreground`.
/// `RUST_LOG` refines the level (default `info`).
pub fn init(log_dir: &Path, foreground: bool) -> std::io::Result<PathBuf> {
    init_with_event_log(log_dir, foreground, None)
}

/// [`init`], plus (Windows) errors and warnings copied to the Application event log under the
/// source `event_source` (the service's name; the MSI registers it). A source that cannot be opened
/// leaves the files alone to log.
pub fn init_with_event_log(
    log_dir: &Path,
    foreground: bool,
    event_source: Option<&str>,
) -> std::io::Result<PathBuf> {
    #[cfg(windows)]
    let event_layer = event_source
        .and_then(|name| crate::win::eventlog::EventSource::open(name).ok())
        .map(crate::logging::EventLogLayer::new);
    #[cfg(not(windows))]
    let event_layer: Option<crate::logging::EventLogLayer<NoEventLog>> = {
        let _ = event_source;
        None
    };
    let files = RollingFiles::open(log_dir, LOG_PREFIX, DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES)?;
    let current = files.current_path();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(SharedRollingFiles::new(files))
        .with_ansi(false);
    let stderr_layer = foreground.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
    });
    // A second init (tests calling twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .with(event_layer)
        .try_init();
    Ok(current)
}

/// No Event Log outside Windows.
#[cfg(not(windows))]
#[derive(Debug)]
pub struct NoEventLog;

#[cfg(not(windows))]
impl crate::logging::EventSink for NoEventLog {
    fn write_event(&self, _: crate::logging::EventLevel, _: u32, _: &str) {}
}
