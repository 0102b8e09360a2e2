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
}
