//! The service's vault on Windows: short secrets (passwords, the client secret) in the Credential
//! Manager of the account that runs the service, and the connector's certificate (a PFX, too big
//! for a credential blob) in a DPAPI file sealed for that same account.
//!
//! Why DPAPI and not the LocalMachine certificate store: the certificate is used by our own code
//! (`oauth`'s certificate assertion, signed with `rsa`), not by SChannel, so the certificate store's
//! one advantage, signing through CNG without ever exposing the key, would need a second signing
//! path. DPAPI under the virtual account `NT SERVICE\<name>` keeps the same property the brief asks
//! for — readable by the service alone — with the file's DACL (its owner and SYSTEM) as a second
//! wall. ARCHITECTURE.md "Windows delivery" has the whole argument.

use crate::secret::Secret;
use crate::secrets::{KeyringStore, SecretError, SecretStore, check_instance};
use crate::text_code::TextCode;
use std::path::{Path, PathBuf};

/// Secrets kept in DPAPI files rather than in the Credential Manager (their size).
pub const SEALED_KEYS: &[&str] = &["ClientCertificate"];

/// A sealed secret larger than this is refused: a connector PFX is 3–8 KB of base64.
pub const MAX_SEALED_BYTES: usize = 64 * 1024;

/// Credential Manager plus DPAPI files in `dir`.
pub struct WindowsVault {
    credentials: KeyringStore,
    dir: PathBuf,
}

impl WindowsVault {
    /// The vault whose sealed files live in `config_dir\secrets`.
    pub fn open(config_dir: &Path) -> Result<Self, SecretError> {
        Ok(WindowsVault {
            credentials: KeyringStore::native()?,
            dir: config_dir.join("secrets"),
        })
    }

    /// The DPAPI file of a sealed secret.
    pub fn sealed_path(&self, instance: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{instance}.{key}.dpapi"))
    }

    fn is_sealed(key: &str) -> bool {
        SEALED_KEYS.contains(&key)
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SecretError + '_ {
        move |source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn sealed_error(key: &str, action: &'static str, reason: String) -> SecretError {
        SecretError::Store {
            store: "DPAPI-sealed file".into(),
            action,
            key: key.to_string(),
            reason,
        }
    }
}

impl SecretStore for WindowsVault {
    fn check(&self, key: &str, value: &Secret) -> Result<(), SecretError> {
        if !Self::is_sealed(key) {
            return self.credentials.check(key, value);
        }
        let size = value.expose().len();
        if size > MAX_SEALED_BYTES {
            return Err(SecretError::TooLarge {
                store: self.describe().to_string(),
                key: key.to_string(),
                size,
                limit: MAX_SEALED_BYTES,
            });
        }
        Ok(())
    }

    fn get(&self, instance: &str, key: &str) -> Result<Option<Secret>, SecretError> {
        if !Self::is_sealed(key) {
            return self.credentials.get(instance, key);
        }
        check_instance(instance)?;
        let path = self.sealed_path(instance, key);
        let sealed = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io(&path)(e)),
        };
        let plain = super::dpapi::unprotect(&sealed).map_err(|e| {
            Self::sealed_error(
                key,
                "read",
                format!(
                    "{} cannot be decrypted by this account ({e}); only the account that stored it (the service's) can read it",
                    path.display()
                ),
            )
        })?;
        String::from_utf8(plain)
            .map(|v| Some(Secret::new(v)))
            .map_err(|_| Self::sealed_error(key, "read", "not text".into()))
    }

    fn set(&self, instance: &str, key: &str, value: &Secret) -> Result<(), SecretError> {
        self.check(key, value)?;
        if !Self::is_sealed(key) {
            return self.credentials.set(instance, key, value);
        }
        check_instance(instance)?;
        let sealed = super::dpapi::protect(value.expose().as_bytes())
            .map_err(|e| Self::sealed_error(key, "store", e.to_string()))?;
        std::fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let path = self.sealed_path(instance, key);
        crate::file_rights::write_owner_only(&path, &sealed).map_err(Self::io(&path))
    }

    fn delete(&self, instance: &str, key: &str) -> Result<(), SecretError> {
        if !Self::is_sealed(key) {
            return self.credentials.delete(instance, key);
        }
        check_instance(instance)?;
        let path = self.sealed_path(instance, key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }

    fn describe(&self) -> TextCode {
        crate::coded!(
            "ss_vault_sealed",
            "{credentials} (the certificate: DPAPI-sealed in {dir})",
            dir = self.dir.display()
        )
        .with_text("credentials", self.credentials.describe())
    }
}
