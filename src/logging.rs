//! Rolling log files like the original connector's: `Connector0.log` ... `Connector29.log`, a new file
//! every 10 MB, wrapping back to 0 (`tracing-appender` rotates by time only, hence this writer). Admins
//! grep these for "full sync", "quick sync" and "Devices synced".

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size of one file before the next is started.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1000 * 1000;
/// Files kept.
pub const DEFAULT_MAX_FILES: u32 = 30;

/// A writer that rolls over `Connector<N>.log` by size.
#[derive(Debug)]
pub struct RollingFiles {
    dir: PathBuf,
    prefix: String,
    max_bytes: u64,
    max_files: u32,
    index: u32,
    written: u64,
    file: File,
}

impl RollingFiles {
    /// Opens the log folder, continuing the most recently written file.
    pub fn open(dir: &Path, prefix: &str, max_bytes: u64, max_files: u32) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let max_files = max_files.max(1);
        let newest = (0..max_files)
            .filter_map(|i| {
                let meta = std::fs::metadata(dir.join(format!("{prefix}{i}.log"))).ok()?;
                Some((meta.modified().ok()?, i, meta.len()))
            })
            .max_by_key(|(modified, _, _)| *modified);
        let (index, written) = match newest {
            Some((_, i, len)) => (i, len),
            None => (0, 0),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{prefix}{index}.log")))?;
        Ok(RollingFiles {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            max_bytes: max_bytes.max(1024),
            max_files,
            index,
            written,
            file,
        })
    }

    /// The file being written.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{}{}.log", self.prefix, self.index))
    }

    fn roll(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.index = (self.index + 1) % self.max_files;
        // Truncate: the file being reused is the oldest one.
        self.file = File::create(self.current_path())?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RollingFiles {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.roll()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A cloneable handle for `tracing_subscriber::fmt().with_writer(...)`; each event is written whole.
#[derive(Debug, Clone)]
pub struct SharedRollingFiles(Arc<Mutex<RollingFiles>>);

impl SharedRollingFiles {
    /// Wraps a writer.
    pub fn new(files: RollingFiles) -> Self {
        SharedRollingFiles(Arc::new(Mutex::new(files)))
    }
}

/// One event's writer: buffers the event and writes it in one piece, so a roll never splits a line.
#[derive(Debug)]
pub struct EventWriter {
    target: Arc<Mutex<RollingFiles>>,
    buffer: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut files = self.target.lock().unwrap_or_else(|e| e.into_inner());
        // A log line that cannot be written has nowhere better to go; the service keeps running.
        let _ = files.write_all(&self.buffer);
        let _ = files.flush();
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedRollingFiles {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            target: self.0.clone(),
            buffer: Vec::with_capacity(256),
        }
    }
}

/// The level of a Windows Event Log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLevel {
    /// Error.
    Error,
    /// Warning.
    Warning,
    /// Information.
    Information,
}

/// Stable Event Log ids per kind of problem (by the module that reports it): monitoring rules key on
/// them. Errors are the base id, warnings base + 1 (the table is in `wix/README.md` too).
pub const EVENT_IDS: &[(&str, u32)] = &[
    ("exchange_connector::secrets", 1100),
    ("exchange_connector::win", 1100),
    ("exchange_connector::file_rights", 1100),
    ("exchange_connector::exchange", 1200),
    ("exchange_connector::intune", 1300),
    ("exchange_connector::oauth", 1300),
    ("exchange_connector::notify", 1400),
    ("exchange_connector::sync", 1500),
    ("exchange_connector::store", 1500),
    ("exchange_connector::config", 1600),
    ("exchange_connector::settings", 1600),
    ("exchange_connector::service", 1700),
];

/// Anything not in [`EVENT_IDS`].
pub const EVENT_ID_OTHER: u32 = 1000;

/// The event id of an event of `target` at `level`.
pub fn event_id(target: &str, level: EventLevel) -> u32 {
    let base = EVENT_IDS
        .iter()
        .filter(|(prefix, _)| {
            target == *prefix
                || target
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with("::"))
        })
        .map(|(_, id)| *id)
        .next()
        .unwrap_or(EVENT_ID_OTHER);
    match level {
        EventLevel::Error => base,
        EventLevel::Warning | EventLevel::Information => base + 1,
    }
}

/// Where the Event Log layer writes (the Windows Event Log; a recorder in tests).
pub trait EventSink: Send + Sync + 'static {
    /// Writes one entry; a failure is dropped (the rolling files have the line anyway).
    fn write_event(&self, level: EventLevel, id: u32, text: &str);
}

#[cfg(windows)]
impl EventSink for crate::win::eventlog::EventSource {
    fn write_event(&self, level: EventLevel, id: u32, text: &str) {
        let _ = self.report(level, id, text);
    }
}

/// A `tracing` layer that copies the connector's errors and warnings to an [`EventSink`], as
/// `<message> (key=value, ...)`, with the id from [`event_id`]. Secrets never reach a log line in
/// the first place (they are `Secret`s), so nothing more is filtered here.
#[derive(Debug)]
pub struct EventLogLayer<S> {
    sink: S,
}

impl<S: EventSink> EventLogLayer<S> {
    /// A layer writing to `sink`.
    pub fn new(sink: S) -> Self {
        EventLogLayer { sink }
    }
}

/// Collects an event's message and fields.
#[derive(Default)]
struct EventText {
    message: String,
    fields: Vec<String>,
}

impl tracing::field::Visit for EventText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push(format!("{}={value}", field.name()));
        }
    }
}

impl<S: EventSink, C: tracing::Subscriber> tracing_subscriber::Layer<C> for EventLogLayer<S> {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, C>,
    ) {
        let metadata = event.metadata();
        // The connector's own problems; its dependencies' lines stay in the files.
        if !metadata.target().starts_with("exchange_connector") {
            return;
        }
        let level = match *metadata.level() {
            tracing::Level::ERROR => EventLevel::Error,
            tracing::Level::WARN => EventLevel::Warning,
            _ => return,
        };
        let mut text = EventText::default();
        event.record(&mut text);
        let mut line = text.message;
        if !text.fields.is_empty() {
            line = format!("{line} ({})", text.fields.join(", "));
        }
        self.sink
            .write_event(level, event_id(metadata.target(), level), &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_by_size_and_wraps_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = RollingFiles::open(dir.path(), "Connector", 1024, 3).unwrap();
        let line = [b'x'; 300];
        for n in 0..14 {
            if n == 12 {
                // File times are coarse (a few ms): make the last file clearly the newest.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            files.write_all(&line).unwrap();
        }
        // 3 lines per file (900 bytes; a 4th would pass 1024): 14 lines = files 0,1,2,0,1.
        assert_eq!(files.current_path(), dir.path().join("Connector1.log"));
        for i in 0..3 {
            let len = std::fs::metadata(dir.path().join(format!("Connector{i}.log")))
                .unwrap()
                .len();
            assert!(len <= 1024, "file {i} has {len} bytes");
        }
        assert!(
            !dir.path().join("Connector3.log").exists(),
            "never more than max_files"
        );
        drop(files);
        // Reopening continues the newest file.
        let files = RollingFiles::open(dir.path(), "Connector", 1024, 3).unwrap();
        assert_eq!(files.current_path(), dir.path().join("Connector1.log"));
    }

    #[test]
    fn events_are_written_whole() {
        use tracing_subscriber::fmt::MakeWriter as _;
        let dir = tempfile::tempdir().unwrap();
        let shared =
            SharedRollingFiles::new(RollingFiles::open(dir.path(), "Connector", 1024, 2).unwrap());
        for n in 0..50 {
            let mut w = shared.make_writer();
            write!(w, "full sync line {n:03} ").unwrap();
            writeln!(w, "{}", "y".repeat(100)).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join("Connector0.log")).unwrap()
            + &std::fs::read_to_string(dir.path().join("Connector1.log")).unwrap();
        assert!(
            text.lines()
                .all(|l| l.starts_with("full sync line ") && l.len() == 119),
            "{text}"
        );
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(EventLevel, u32, String)>>>);

    impl EventSink for Recorder {
        fn write_event(&self, level: EventLevel, id: u32, text: &str) {
            self.0.lock().unwrap().push((level, id, text.to_string()));
        }
    }

    #[test]
    fn errors_and_warnings_reach_the_event_log_with_stable_ids() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let recorder = Recorder::default();
        let subscriber = tracing_subscriber::registry().with(EventLogLayer::new(recorder.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "exchange_connector::sync::engine", "full sync finished");
            tracing::error!(target: "exchange_connector::exchange::pool", server = "cas1", "Exchange unreachable");
            tracing::warn!(target: "exchange_connector::secrets", "secret file too open");
            tracing::warn!(target: "exchange_connector::exchangeish", "not a prefix match");
            tracing::error!(target: "rustls_platform_verifier", "a dependency's line");
        });
        let events = recorder.0.lock().unwrap().clone();
        assert_eq!(
            events,
            [
                (
                    EventLevel::Error,
                    1200,
                    "Exchange unreachable (server=cas1)".to_string()
                ),
                (
                    EventLevel::Warning,
                    1101,
                    "secret file too open".to_string()
                ),
                (
                    EventLevel::Warning,
                    EVENT_ID_OTHER + 1,
                    "not a prefix match".to_string()
                ),
            ],
            "info and other crates' lines are not copied; ids by module"
        );
    }
}
