//! The one way the connector writes a file: a new temporary file in the same folder, flushed to disk,
//! then renamed over the target, so a crash leaves the old file or the new one, never half of either.
//! On Unix the temporary file is created `0600` (the rename keeps that mode): every file the connector
//! writes — configuration, policy, secrets, templates — is readable by its owner only.
//!
//! [`write`] does it in one step; [`stage`] writes the temporary file and leaves the rename to
//! [`StagedFile::commit`], for callers that replace several files together (all staged first, then all
//! renamed). A staged file that is dropped without being committed is removed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A fully written, flushed temporary file waiting to be renamed over its target.
#[derive(Debug)]
pub struct StagedFile {
    temp: Option<PathBuf>,
    target: PathBuf,
}

impl StagedFile {
    /// The file this one will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temporary file over the target (and, on Unix, flushes the folder so the rename
    /// itself survives a crash). On failure the temporary file is removed.
    pub fn commit(mut self) -> std::io::Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        if let Err(e) = std::fs::rename(&temp, &self.target) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        sync_folder(&self.target);
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// Writes `bytes` to a new owner-only temporary file beside `path` and flushes it to disk; the target
/// is untouched until [`StagedFile::commit`].
pub fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<StagedFile> {
    let temp = temp_path(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // From here on, dropping `staged` removes the temporary file whatever fails.
    let staged = StagedFile {
        temp: Some(temp.clone()),
        target: path.to_path_buf(),
    };
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(staged)
}

/// Replaces `path` with `bytes` atomically; the file is readable by its owner only (Unix `0600`).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    stage(path, bytes)?.commit()
}

/// `.<name>.tmp-<pid>-<n>` beside `path`: hidden, unique within the process and between processes.
fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Flushes the folder entry of a renamed file. Best effort: the data itself is already on disk, and
/// some file systems refuse to open a folder for this.
fn sync_folder(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.xml");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.xml"]);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_owner_only_even_when_the_old_one_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.xml");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_dropped_stage_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.json");
        write(&path, b"old").unwrap();
        let staged = stage(&path, b"new").unwrap();
        assert_eq!(staged.target(), path);
        assert_eq!(names(dir.path()).len(), 2);
        drop(staged);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["policy.json"]);
        stage(&path, b"new").unwrap().commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder").join("x");
        assert!(write(&missing, b"x").is_err());
        // Renaming onto a folder fails after the temporary file was written: it must be removed.
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("inside"), b"x").unwrap();
        assert!(write(&folder, b"x").is_err());
        assert_eq!(names(dir.path()), ["folder"]);
    }
}
