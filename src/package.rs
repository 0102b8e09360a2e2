//! The connector package: the `.zip` an admin downloads for a tenant and imports in setup, the
//! counterpart of the original's `MicrosoftIntune.accountcert`. Defined once here so the lab writes what
//! setup reads.
//!
//! Layout (entries read by these exact names; nothing else is extracted):
//!
//! | entry | content |
//! |---|---|
//! | `connector-package.json` | [`PackageManifest`] (tenant id, client id, endpoints, PFX password) |
//! | `MicrosoftIntune.accountcert` | the client certificate and its private key, PKCS#12 (PFX) |
//!
//! A package is untrusted input: entries are read by name, with size limits, and every field is checked.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Name of the manifest entry.
pub const MANIFEST_ENTRY: &str = "connector-package.json";
/// Name of the certificate entry.
pub const CERTIFICATE_ENTRY: &str = "MicrosoftIntune.accountcert";
/// The manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
const MAX_CERTIFICATE_BYTES: u64 = 256 * 1024;
const MAX_PACKAGE_BYTES: u64 = 4 * 1024 * 1024;

/// What the package says about the tenant and the app the connector signs in as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageManifest {
    /// Always [`FORMAT_VERSION`] for packages this build writes.
    pub format_version: u32,
    /// Entra tenant id (GUID).
    pub tenant_id: String,
    /// Optional tenant display name, shown in setup.
    #[serde(default)]
    pub tenant_name: Option<String>,
    /// Application (client) id (GUID).
    pub client_id: String,
    /// Optional app display name, shown in setup.
    #[serde(default)]
    pub app_name: Option<String>,
    /// Entra login base, e.g. `https://login.microsoftonline.com`.
    pub login_base: String,
    /// Graph base, e.g. `https://graph.microsoft.com`.
    pub graph_base: String,
    /// Exchange Online REST base, for hosted Exchange, e.g. `https://outlook.office365.com`.
    #[serde(default)]
    pub exchange_rest_base: Option<String>,
    /// Password of the PFX entry.
    pub certificate_password: Secret,
}

/// A connector package in memory.
#[derive(Debug, Clone)]
pub struct ConnectorPackage {
    /// The manifest.
    pub manifest: PackageManifest,
    /// The PFX bytes.
    pub certificate_pfx: Vec<u8>,
}

/// Why a package could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// I/O on the package file.
    #[error("cannot read or write the connector package {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a zip.
    #[error(
        "{path} is not a connector package (not a .zip archive: {reason}). Download the package for your tenant again."
    )]
    NotZip {
        /// The file.
        path: PathBuf,
        /// What the zip reader said.
        reason: String,
    },
    /// A required entry is missing.
    #[error(
        "the connector package has no {entry} entry. Download the package for your tenant again; do not repack it."
    )]
    MissingEntry {
        /// Entry name.
        entry: &'static str,
    },
    /// An entry is larger than any real package's.
    #[error(
        "the {entry} entry of the connector package is larger than {limit} bytes; this is not a genuine package"
    )]
    TooLarge {
        /// Entry name.
        entry: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The manifest is not valid.
    #[error("the connector package's manifest is not valid: {0}")]
    BadManifest(String),
    /// A zip-level failure while writing.
    #[error("cannot write the connector package: {0}")]
    Write(String),
}

impl PackageManifest {
    /// Checks every field; the message names the field and what is wrong with it.
    pub fn validate(&self) -> Result<(), PackageError> {
        let bad = |msg: String| Err(PackageError::BadManifest(msg));
        if self.format_version != FORMAT_VERSION {
            return bad(format!(
                "format version {} is not supported (this connector reads version {FORMAT_VERSION}); update the connector",
                self.format_version
            ));
        }
        if uuid::Uuid::parse_str(&self.tenant_id).is_err() {
            return bad(format!("tenantId '{}' is not a GUID", self.tenant_id));
        }
        if uuid::Uuid::parse_str(&self.client_id).is_err() {
            return bad(format!("clientId '{}' is not a GUID", self.client_id));
        }
        for (name, value) in [
            ("loginBase", Some(&self.login_base)),
            ("graphBase", Some(&self.graph_base)),
            ("exchangeRestBase", self.exchange_rest_base.as_ref()),
        ] {
            let Some(value) = value else { continue };
            match url::Url::parse(value) {
                Ok(url) if url.scheme() == "https" => {}
                Ok(_) => return bad(format!("{name} '{value}' must be an https:// URL")),
                Err(e) => return bad(format!("{name} '{value}' is not a URL: {e}")),
            }
        }
        Ok(())
    }
}

impl ConnectorPackage {
    /// Reads and checks a package file.
    pub fn read(path: &Path) -> Result<Self, PackageError> {
        let io = |source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge {
                entry: "package",
                limit: MAX_PACKAGE_BYTES,
            });
        }
        Self::from_reader(file).map_err(|e| match e {
            PackageError::NotZip { reason, .. } => PackageError::NotZip {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })
    }

    /// Reads and checks a package from any seekable reader.
    pub fn from_reader<R: Read + Seek>(reader: R) -> Result<Self, PackageError> {
        let mut archive = zip::ZipArchive::new(reader).map_err(|e| PackageError::NotZip {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
        let manifest_bytes = read_entry(&mut archive, MANIFEST_ENTRY, MAX_MANIFEST_BYTES)?;
        let manifest: PackageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| PackageError::BadManifest(e.to_string()))?;
        manifest.validate()?;
        let certificate_pfx = read_entry(&mut archive, CERTIFICATE_ENTRY, MAX_CERTIFICATE_BYTES)?;
        Ok(ConnectorPackage {
            manifest,
            certificate_pfx,
        })
    }

    /// Writes the package as a zip file readable by its owner only (it holds the certificate's key).
    pub fn write(&self, path: &Path) -> Result<(), PackageError> {
        self.manifest.validate()?;
        let file =
            crate::file_rights::create_owner_only(path).map_err(|source| PackageError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        self.write_to(file)
    }

    /// Writes the package to any seekable writer.
    pub fn write_to<W: Write + Seek>(&self, writer: W) -> Result<(), PackageError> {
        let werr = |e: &dyn std::fmt::Display| PackageError::Write(e.to_string());
        let mut zip = zip::ZipWriter::new(writer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let manifest = serde_json::to_vec_pretty(&self.manifest).map_err(|e| werr(&e))?;
        zip.start_file(MANIFEST_ENTRY, options)
            .map_err(|e| werr(&e))?;
        zip.write_all(&manifest).map_err(|e| werr(&e))?;
        zip.start_file(CERTIFICATE_ENTRY, options)
            .map_err(|e| werr(&e))?;
        zip.write_all(&self.certificate_pfx).map_err(|e| werr(&e))?;
        zip.finish().map_err(|e| werr(&e))?;
        Ok(())
    }
}

fn read_entry<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    entry: &'static str,
    limit: u64,
) -> Result<Vec<u8>, PackageError> {
    let file = archive
        .by_name(entry)
        .map_err(|_| PackageError::MissingEntry { entry })?;
    if file.size() > limit {
        return Err(PackageError::TooLarge { entry, limit });
    }
    let mut bytes = Vec::new();
    // The declared size can lie; the cap on what is read is what protects us.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PackageError::BadManifest(format!("{entry}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(PackageError::TooLarge { entry, limit });
    }
    Ok(bytes)
}
