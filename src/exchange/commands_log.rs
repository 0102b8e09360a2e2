//! The commands log: every cmdlet the connector sends, as JSON lines, for diagnostics ("what did the
//! connector do to this mailbox?"). Device IDs are recorded; secrets never are — the cmdlets the
//! client sends carry none, and parameters whose names look secret are masked all the same.

use super::Invocation;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// A JSON-lines writer of the cmdlets sent.
pub struct CommandsLog {
    writer: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for CommandsLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommandsLog")
    }
}

impl CommandsLog {
    /// Logs to any writer.
    pub fn new(writer: Box<dyn Write + Send>) -> Self {
        CommandsLog {
            writer: Mutex::new(writer),
        }
    }

    /// Appends to a file (created if missing), readable by its owner only: it names every mailbox
    /// and device the connector touched.
    pub fn append_to(path: &Path) -> std::io::Result<Self> {
        let file = crate::file_rights::append_owner_only(path)?;
        Ok(Self::new(Box::new(std::io::LineWriter::new(file))))
    }

    /// Records one cmdlet about to be sent to `server` (attempt 1, 2, ... for retries).
    pub fn record(&self, server: &str, invocation: &Invocation, attempt: u32) {
        let mut parameters = invocation.parameters.clone();
        for (name, value) in parameters.iter_mut() {
            if looks_secret(name) {
                *value = Value::String("***".into());
            }
        }
        let line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "server": server,
            "cmdlet": invocation.cmdlet,
            "parameters": parameters,
            "attempt": attempt,
        });
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // A diagnostics log must never fail a sync: write errors are reported once in tracing.
        if let Err(e) = writeln!(writer, "{line}") {
            tracing::warn!(error = %e, "cannot write the Exchange commands log");
        }
    }
}

fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["password", "secret", "credential", "token", "key"]
        .iter()
        .any(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logs_device_ids_but_masks_secrets() {
        let buf = Shared::default();
        let log = CommandsLog::new(Box::new(buf.clone()));
        let inv = Invocation::new("Set-CASMailbox")
            .param("Identity", "alice")
            .param(
                "ActiveSyncAllowedDeviceIDs",
                json!({"Add": ["DEV1"], "Remove": []}),
            )
            .param("Password", "hunter2");
        log.record("cas01.contoso.lab", &inv, 1);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("DEV1"));
        assert!(!text.contains("hunter2"));
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["cmdlet"], "Set-CASMailbox");
    }
}
