//! Who may read and write the connector's files.
//!
//! * Files that hold what others must not read (the connector package, the support bundle, the
//!   commands log, sealed secrets) are created readable by their owner only: mode `0600` on Unix; on
//!   Windows a protected DACL granting the creating account and SYSTEM (set before any byte is
//!   written).
//! * The service's data folder gets a protected DACL on Windows (SYSTEM and Administrators full
//!   control, the service's own SID modify, nobody else), at install and at every start.
//! * The policy and the notification template are loaded only from a folder nobody else can write.

use std::fs::File;
use std::path::{Path, PathBuf};

/// A folder others can write: the service refuses to load its policy or templates from it.
#[derive(Debug, thiserror::Error)]
pub enum FolderRightsError {
    /// Someone other than the administrators and the service may write the folder.
    #[error(
        "the folder {folder} can be written by others ({who}), so anyone could plant {what} there; refusing to load it. {fix}"
    )]
    WritableByOthers {
        /// The folder.
        folder: PathBuf,
        /// What would have been loaded.
        what: String,
        /// Who else may write (SIDs on Windows, `group`/`others` on Unix).
        who: String,
        /// The command that fixes it.
        fix: String,
    },
    /// The folder's rights cannot be read or set.
    #[error("cannot {action} the rights of {folder}: {source}. Run as an administrator (root).")]
    Io {
        /// read / set.
        action: &'static str,
        /// The folder.
        folder: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Creates (or truncates) `path` readable and writable by its owner only.
pub fn create_owner_only(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    restrict_to_owner(path)?;
    Ok(file)
}

/// Opens `path` for appending, creating it owner-only when it is new (the commands log).
pub fn append_owner_only(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    restrict_to_owner(path)?;
    Ok(file)
}

/// Writes `bytes` to `path` atomically (a crash leaves the old file or the new one) and readable by
/// its owner only (`0600` from its creation on Unix; on Windows the owner-only DACL follows the rename,
/// inside a folder already closed to others).
pub fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::atomic_file::write(path, bytes)?;
    restrict_to_owner(path)
}

/// Restricts an existing file to its owner (Unix: `0600`; Windows: owner and SYSTEM, protected).
pub fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(windows)]
    {
        let owner = crate::win::sid::current_user_sid()?;
        crate::win::acl::set_protected_dacl(path, &crate::win::acl::owner_only_sddl(&owner))
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = path;
        Ok(())
    }
}

/// Gives the service's data folder its protected DACL (Windows; see the module doc). On Unix the
/// folder's mode is the package's and systemd's business (`StateDirectory=`, 0750): nothing to do.
pub fn protect_data_folder(folder: &Path, service_name: &str) -> Result<(), FolderRightsError> {
    #[cfg(windows)]
    {
        let sddl = crate::win::acl::data_folder_sddl(&crate::win::sid::service_sid(service_name));
        crate::win::acl::set_protected_dacl(folder, &sddl).map_err(|source| FolderRightsError::Io {
            action: "set",
            folder: folder.to_path_buf(),
            source,
        })
    }
    #[cfg(not(windows))]
    {
        let _ = (folder, service_name);
        Ok(())
    }
}

/// Refuses a folder that anyone but the administrators (root), the service and the current account
/// can write, before `what` is loaded from it. A folder that does not exist is not checked.
pub fn check_not_writable_by_others(
    folder: &Path,
    service_name: &str,
    what: &str,
) -> Result<(), FolderRightsError> {
    if !folder.exists() {
        return Ok(());
    }
    let io = |source| FolderRightsError::Io {
        action: "read",
        folder: folder.to_path_buf(),
        source,
    };
    #[cfg(windows)]
    let (who, fix) = {
        use crate::win::sid;
        let mut trusted = vec![
            sid::SYSTEM.to_string(),
            sid::ADMINISTRATORS.to_string(),
            sid::trusted_installer(),
            sid::service_sid(service_name),
        ];
        trusted.push(sid::current_user_sid().map_err(io)?);
        let others = crate::win::acl::others_who_can_write(folder, &trusted).map_err(io)?;
        (
            others.join(", "),
            format!(
                "Restart the service (it sets the folder's rights at start) or run: icacls \"{}\" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F \"NT SERVICE\\{service_name}\":(OI)(CI)M",
                folder.display()
            ),
        )
    };
    #[cfg(unix)]
    let (who, fix) = {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = service_name;
        let meta = std::fs::metadata(folder).map_err(io)?;
        let mode = meta.permissions().mode();
        let mut who = Vec::new();
        if mode & 0o020 != 0 && meta.gid() != 0 {
            who.push(format!("group {}", meta.gid()));
        }
        if mode & 0o002 != 0 {
            who.push("everyone".to_string());
        }
        (
            who.join(", "),
            format!("Fix it with: chmod go-w {}", folder.display()),
        )
    };
    #[cfg(not(any(unix, windows)))]
    let (who, fix) = (String::new(), String::new());
    if who.is_empty() {
        Ok(())
    } else {
        Err(FolderRightsError::WritableByOthers {
            folder: folder.to_path_buf(),
            what: what.to_string(),
            who,
            fix,
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn owner_only_files_are_0600() {
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join("package.zip");
        drop(create_owner_only(&created).unwrap());
        assert_eq!(mode(&created), 0o600);
        let appended = dir.path().join("commands.log");
        drop(append_owner_only(&appended).unwrap());
        assert_eq!(mode(&appended), 0o600);
        let written = dir.path().join("sealed");
        write_owner_only(&written, b"x").unwrap();
        assert_eq!(mode(&written), 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temporary file left"
        );
    }

    #[test]
    fn a_world_writable_folder_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        check_not_writable_by_others(dir.path(), "ExchangeConnector", "policy.json").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_not_writable_by_others(dir.path(), "ExchangeConnector", "policy.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("everyone") && err.contains("chmod go-w"),
            "{err}"
        );
        assert!(err.contains("policy.json"), "{err}");
    }
}
