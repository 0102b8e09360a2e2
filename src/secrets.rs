//! The secret store: the ONLY module that reads or writes stored secrets (passwords, client secret,
//! the package's certificate). Nothing here logs a value; values travel as [`Secret`].
//!
//! Stores:
//! * [`KeyringStore`] — the OS credential store through `keyring-core`: on Windows the Credential
//!   Manager with **Local** persistence (`CRED_PERSIST_LOCAL_MACHINE`; the default, Enterprise, roams
//!   with the profile); on Linux the Secret Service (feature `secret-service`) when a session has one.
//! * [`FileStore`] — one JSON file readable only by the service's user (file 0600 in a 0700 folder,
//!   written atomically), for a headless Linux service. The kernel keyutils store is deliberately not
//!   used: it forgets everything at reboot.
//!
//! Entries are addressed by (instance, key): several connectors on one host keep separate entries.

use crate::secret::Secret;
use crate::text_code::TextCode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Prefix of every credential-store entry (service name `ExchangeConnector/<instance>`).
pub const SERVICE_PREFIX: &str = "ExchangeConnector";
/// Name of the file store's file inside its folder.
pub const SECRETS_FILE: &str = "secrets.json";

/// Why a secret could not be read, stored or deleted.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// File-store I/O.
    #[error(
        "cannot use the secret file {path}: {source}. Run as the service's user (or root) and check the folder exists and is writable."
    )]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The secret file is not what this program writes.
    #[error(
        "the secret file {path} is damaged ({reason}). Move it away and run `configure` again to store the secrets anew."
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a value).
        reason: String,
    },
    /// Others could read the secret file.
    #[error(
        "the secret file {path} can be read by other users (mode {mode:o}). Fix it with: chmod 600 {path}"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The OS credential store cannot be used.
    #[error(
        "the {store} is not available: {reason}. Use the file store (--secret-store file) on a server without one."
    )]
    Unavailable {
        /// Which store.
        store: String,
        /// What it said.
        reason: String,
    },
    /// The OS credential store refused an operation.
    #[error("the {store} refused to {action} {key}: {reason}")]
    Store {
        /// Which store.
        store: String,
        /// get / store / delete.
        action: &'static str,
        /// The secret's key.
        key: String,
        /// What it said.
        reason: String,
    },
    /// A secret too large for the store: refused before anything of the set is stored.
    #[error(
        "{key} is too large for the {store} ({size} bytes, the limit is {limit}); nothing was stored. Check the connector package: export it again from the tenant, or give a smaller certificate (2048 or 3072-bit RSA)."
    )]
    TooLarge {
        /// Which store.
        store: String,
        /// The secret's key.
        key: String,
        /// Its size as the store counts it.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
    /// An instance name that cannot name entries or folders.
    #[error("instance name '{0}' is not valid; use 1 to 32 letters, digits, '-' or '_'")]
    BadInstance(String),
}

/// A place to keep secrets, addressed by (instance, key).
pub trait SecretStore: Send + Sync {
    /// The secret, or `None` when none is stored.
    fn get(&self, instance: &str, key: &str) -> Result<Option<Secret>, SecretError>;
    /// Stores (or replaces) a secret.
    fn set(&self, instance: &str, key: &str, value: &Secret) -> Result<(), SecretError>;
    /// Deletes a secret; deleting a missing one is not an error.
    fn delete(&self, instance: &str, key: &str) -> Result<(), SecretError>;
    /// Where the secrets are, for messages (e.g. "Windows Credential Manager"): English for the CLI
    /// and error messages, translated by the setup GUI.
    fn describe(&self) -> TextCode;
    /// Whether `value` fits this store; [`store_all`] asks it of every secret before storing any.
    fn check(&self, key: &str, value: &Secret) -> Result<(), SecretError> {
        let _ = (key, value);
        Ok(())
    }
}

/// Stores a set of secrets whole or not at all: every one is checked against the store first, so a
/// secret that cannot fit never leaves the ones before it stored.
pub fn store_all(
    store: &dyn SecretStore,
    instance: &str,
    secrets: &[(&str, &Secret)],
) -> Result<(), SecretError> {
    check_instance(instance)?;
    for (key, value) in secrets {
        store.check(key, value)?;
    }
    for (key, value) in secrets {
        store.set(instance, key, value)?;
    }
    Ok(())
}

/// Which store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreKind {
    /// The platform's choice: see [`default_for_platform`].
    #[default]
    Auto,
    /// The OS credential store; fail if there is none.
    Os,
    /// The 0600 file in the configuration folder.
    File,
}

impl std::str::FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(StoreKind::Auto),
            "os" => Ok(StoreKind::Os),
            "file" => Ok(StoreKind::File),
            other => Err(format!(
                "'{other}' is not a secret store; use auto, os or file"
            )),
        }
    }
}

/// Checks an instance name: it names folders and credential entries.
pub fn check_instance(instance: &str) -> Result<(), SecretError> {
    let ok = !instance.is_empty()
        && instance.len() <= 32
        && instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SecretError::BadInstance(instance.to_string()))
    }
}

/// The platform's store for a configuration folder: Windows → Credential Manager; Linux → the
/// Secret Service when built with it and a session bus answers, else the file store in `config_dir`.
pub fn default_for_platform(config_dir: &Path) -> Result<Box<dyn SecretStore>, SecretError> {
    open(StoreKind::Auto, config_dir)
}

impl dyn SecretStore {
    /// Same as [`default_for_platform`], spelled `<dyn SecretStore>::default_for_platform(dir)`.
    pub fn default_for_platform(config_dir: &Path) -> Result<Box<dyn SecretStore>, SecretError> {
        default_for_platform(config_dir)
    }
}

/// Opens the store of `kind`; secrets of the file store live in `config_dir/secrets/`.
pub fn open(kind: StoreKind, config_dir: &Path) -> Result<Box<dyn SecretStore>, SecretError> {
    let file = || -> Box<dyn SecretStore> { Box::new(FileStore::new(config_dir.join("secrets"))) };
    match kind {
        StoreKind::File => Ok(file()),
        #[cfg(windows)]
        StoreKind::Os | StoreKind::Auto => {
            Ok(Box::new(crate::win::vault::WindowsVault::open(config_dir)?))
        }
        #[cfg(not(windows))]
        StoreKind::Os => Ok(Box::new(KeyringStore::native()?)),
        #[cfg(not(windows))]
        StoreKind::Auto => {
            match KeyringStore::native() {
                Ok(store) => Ok(Box::new(store)),
                // No Secret Service (headless server): the file store is the designed fallback.
                Err(_) => Ok(file()),
            }
        }
    }
}

/// The OS credential store through `keyring-core`.
pub struct KeyringStore {
    store: Arc<keyring_core::CredentialStore>,
    name: TextCode,
    /// Windows: ask for Local persistence and a readable target name on each entry.
    windows_local: bool,
}

/// The Credential Manager's limit on a credential blob (`CRED_MAX_CREDENTIAL_BLOB_SIZE`, 5 × 512
/// bytes); the keyring store saves a value as UTF-16, two bytes per unit.
pub const CREDENTIAL_BLOB_LIMIT: usize = 5 * 512;

impl KeyringStore {
    /// Wraps any keyring-core store (tests use `keyring_core::mock`). No entry modifiers are sent.
    pub fn with_store(store: Arc<keyring_core::CredentialStore>, name: impl Into<String>) -> Self {
        KeyringStore {
            store,
            name: TextCode::plain(name.into()),
            windows_local: false,
        }
    }

    /// The platform's native store.
    #[cfg(windows)]
    pub fn native() -> Result<Self, SecretError> {
        let name = crate::coded!("ss_credential_manager", "Windows Credential Manager");
        let store =
            windows_native_keyring_store::Store::new().map_err(|e| SecretError::Unavailable {
                store: name.to_string(),
                reason: e.to_string(),
            })?;
        Ok(KeyringStore {
            store,
            name,
            windows_local: true,
        })
    }

    /// The platform's native store.
    #[cfg(all(target_os = "linux", feature = "secret-service"))]
    pub fn native() -> Result<Self, SecretError> {
        let name = crate::coded!("ss_secret_service", "Secret Service");
        let unavailable = |reason: String| SecretError::Unavailable {
            store: name.to_string(),
            reason,
        };
        // Without a session bus there is no Secret Service; do not wait for a connection to fail.
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            return Err(unavailable(
                "no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set)".into(),
            ));
        }
        let store = zbus_secret_service_keyring_store::Store::new()
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(KeyringStore {
            store,
            name,
            windows_local: false,
        })
    }

    /// The platform's native store.
    #[cfg(not(any(windows, all(target_os = "linux", feature = "secret-service"))))]
    pub fn native() -> Result<Self, SecretError> {
        Err(SecretError::Unavailable {
            store: crate::coded!("ss_os_store", "OS credential store").to_string(),
            reason: "this build has none (on Linux, build with --features secret-service)".into(),
        })
    }

    fn entry(&self, instance: &str, key: &str) -> Result<keyring_core::Entry, SecretError> {
        check_instance(instance)?;
        let service = format!("{SERVICE_PREFIX}/{instance}");
        let target = format!("{SERVICE_PREFIX}/{instance}/{key}");
        let mut modifiers = std::collections::HashMap::new();
        if self.windows_local {
            // Local persistence: the credential stays on this machine and does not roam.
            modifiers.insert("persistence", "Local");
            modifiers.insert("target", target.as_str());
        }
        let modifiers = (!modifiers.is_empty()).then_some(&modifiers);
        self.store
            .build(&service, key, modifiers)
            .map_err(|e| self.err("open", key, e))
    }

    fn err(&self, action: &'static str, key: &str, e: keyring_core::Error) -> SecretError {
        SecretError::Store {
            store: self.name.to_string(),
            action,
            key: key.to_string(),
            reason: e.to_string(),
        }
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, instance: &str, key: &str) -> Result<Option<Secret>, SecretError> {
        match self.entry(instance, key)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.err("read", key, e)),
        }
    }

    fn check(&self, key: &str, value: &Secret) -> Result<(), SecretError> {
        let size = value.expose().encode_utf16().count() * 2;
        if self.windows_local && size > CREDENTIAL_BLOB_LIMIT {
            return Err(SecretError::TooLarge {
                store: self.name.to_string(),
                key: key.to_string(),
                size,
                limit: CREDENTIAL_BLOB_LIMIT,
            });
        }
        Ok(())
    }

    fn set(&self, instance: &str, key: &str, value: &Secret) -> Result<(), SecretError> {
        self.check(key, value)?;
        self.entry(instance, key)?
            .set_password(value.expose())
            .map_err(|e| self.err("store", key, e))
    }

    fn delete(&self, instance: &str, key: &str) -> Result<(), SecretError> {
        match self.entry(instance, key)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }

    fn describe(&self) -> TextCode {
        self.name.clone()
    }
}

/// Secrets in one JSON file readable only by its owner: `{ "<instance>": { "<key>": "<value>" } }`.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

type FileContent = BTreeMap<String, BTreeMap<String, String>>;

impl FileStore {
    /// A store whose file is `dir/secrets.json`; `dir` is created (0700) on first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore { dir: dir.into() }
    }

    /// The file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(SECRETS_FILE)
    }

    fn read(&self) -> Result<FileContent, SecretError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileContent::new()),
            Err(source) => return Err(SecretError::Io { path, source }),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map_err(|source| SecretError::Io {
                    path: path.clone(),
                    source,
                })?
                .permissions()
                .mode()
                & 0o777;
            // Refuse rather than use secrets others could have read or replaced.
            if mode & 0o077 != 0 {
                return Err(SecretError::TooOpen { path, mode });
            }
        }
        serde_json::from_slice(&bytes).map_err(|e| SecretError::Corrupt {
            path,
            // serde_json's message names a position, never the content.
            reason: format!(
                "not the expected JSON at line {} column {}",
                e.line(),
                e.column()
            ),
        })
    }

    fn write(&self, content: &FileContent) -> Result<(), SecretError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SecretError::Io { path, source }
        };
        create_private_dir(&self.dir).map_err(io(&self.dir))?;
        let path = self.path();
        let json = serde_json::to_vec_pretty(content).map_err(|e| SecretError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::atomic_file::write(&path, &json).map_err(io(&path))
    }
}

impl SecretStore for FileStore {
    fn get(&self, instance: &str, key: &str) -> Result<Option<Secret>, SecretError> {
        check_instance(instance)?;
        Ok(self
            .read()?
            .get(instance)
            .and_then(|m| m.get(key))
            .map(|v| Secret::new(v.clone())))
    }

    fn set(&self, instance: &str, key: &str, value: &Secret) -> Result<(), SecretError> {
        check_instance(instance)?;
        let mut content = self.read()?;
        content
            .entry(instance.to_string())
            .or_default()
            .insert(key.to_string(), value.expose().to_string());
        self.write(&content)
    }

    fn delete(&self, instance: &str, key: &str) -> Result<(), SecretError> {
        check_instance(instance)?;
        let mut content = self.read()?;
        let removed = content
            .get_mut(instance)
            .is_some_and(|m| m.remove(key).is_some());
        if removed {
            content.retain(|_, m| !m.is_empty());
            self.write(&content)?;
        }
        Ok(())
    }

    fn describe(&self) -> TextCode {
        crate::coded!(
            "ss_secret_file",
            "secret file {path}",
            path = self.path().display()
        )
    }
}

/// Creates a folder (and parents) and restricts it to its owner.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // Windows: the folder's owner and SYSTEM only (0600 means nothing there); the file inherits it.
    #[cfg(windows)]
    crate::file_rights::restrict_to_owner(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(store: &dyn SecretStore) {
        assert!(store.get("default", "ExchangePassword").unwrap().is_none());
        store
            .set("default", "ExchangePassword", &Secret::new("pa55"))
            .unwrap();
        store
            .set("other", "ExchangePassword", &Secret::new("different"))
            .unwrap();
        assert_eq!(
            store
                .get("default", "ExchangePassword")
                .unwrap()
                .unwrap()
                .expose(),
            "pa55"
        );
        assert_eq!(
            store
                .get("other", "ExchangePassword")
                .unwrap()
                .unwrap()
                .expose(),
            "different"
        );
        store.delete("default", "ExchangePassword").unwrap();
        store.delete("default", "ExchangePassword").unwrap();
        assert!(store.get("default", "ExchangePassword").unwrap().is_none());
        assert!(store.get("other", "ExchangePassword").unwrap().is_some());
        assert!(matches!(
            store.get("../x", "k"),
            Err(SecretError::BadInstance(_))
        ));
    }

    #[test]
    fn file_store_round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("secrets"));
        round_trip(&store);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.path()), 0o600);
            assert_eq!(mode(&dir.path().join("secrets")), 0o700);
            std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = store.get("default", "x").unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("secrets"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [SECRETS_FILE]);
    }

    #[test]
    fn corrupt_file_error_shows_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        crate::atomic_file::write(&store.path(), b"{\"default\": \"hunter2").unwrap();
        let err = store.get("default", "x").unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    /// A file store that takes values of at most 8 bytes.
    struct Small(FileStore);

    impl SecretStore for Small {
        fn get(&self, instance: &str, key: &str) -> Result<Option<Secret>, SecretError> {
            self.0.get(instance, key)
        }
        fn set(&self, instance: &str, key: &str, value: &Secret) -> Result<(), SecretError> {
            self.0.set(instance, key, value)
        }
        fn delete(&self, instance: &str, key: &str) -> Result<(), SecretError> {
            self.0.delete(instance, key)
        }
        fn describe(&self) -> TextCode {
            "small store".into()
        }
        fn check(&self, key: &str, value: &Secret) -> Result<(), SecretError> {
            let size = value.expose().len();
            if size > 8 {
                return Err(SecretError::TooLarge {
                    store: self.describe().to_string(),
                    key: key.into(),
                    size,
                    limit: 8,
                });
            }
            Ok(())
        }
    }

    #[test]
    fn store_all_stores_nothing_when_one_secret_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Small(FileStore::new(dir.path()));
        let (short, long) = (Secret::new("pw"), Secret::new("far too long for it"));
        let err = store_all(
            &store,
            "default",
            &[
                ("CertificatePassword", &short),
                ("ClientCertificate", &long),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ClientCertificate") && err.contains("nothing was stored"),
            "{err}"
        );
        assert!(!err.contains("far too long"), "never the value: {err}");
        assert!(
            store
                .get("default", "CertificatePassword")
                .unwrap()
                .is_none()
        );
        store_all(&store, "default", &[("CertificatePassword", &short)]).unwrap();
        assert_eq!(
            store
                .get("default", "CertificatePassword")
                .unwrap()
                .unwrap()
                .expose(),
            "pw"
        );
    }

    #[test]
    fn keyring_store_round_trip_on_the_mock_store() {
        let store = KeyringStore::with_store(keyring_core::mock::Store::new().unwrap(), "mock");
        round_trip(&store);
    }

    /// Runs against the real Secret Service when one is reachable; otherwise says so and passes.
    #[cfg(all(target_os = "linux", feature = "secret-service"))]
    #[test]
    fn secret_service_round_trip_when_available() {
        match KeyringStore::native() {
            Ok(store) => {
                let instance = format!("test{}", std::process::id());
                store.set(&instance, "k", &Secret::new("v")).unwrap();
                assert_eq!(store.get(&instance, "k").unwrap().unwrap().expose(), "v");
                store.delete(&instance, "k").unwrap();
            }
            Err(e) => eprintln!("skipped: {e}"),
        }
    }
}
