//! Outbound TLS for every HTTP client the connector builds: always verified, TLS 1.2 or newer, against
//! the operating system's trust store plus an optional CA file from the configuration (on-premises
//! Exchange often runs on an internal CA; the lab's CA is trusted the same way). There is deliberately no
//! way to switch verification off.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read.
    #[error(
        "cannot read the trusted CA file {path}: {source}. Check the path in the configuration (TrustedCaFile)."
    )]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CA file held no PEM certificate.
    #[error(
        "the trusted CA file {path} contains no PEM certificate (-----BEGIN CERTIFICATE-----). Export the CA certificate as Base-64 (PEM) and point TrustedCaFile at it."
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS verification: {0}")]
    Rustls(#[from] rustls::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The crypto provider the whole program uses (ring: builds for Windows with mingw alone).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadCaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// A rustls client configuration: the OS trust store plus the certificates of `extra_ca_file`.
pub fn client_config(extra_ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let extra = match extra_ca_file {
        Some(path) => read_pem_certificates(path)?,
        None => Vec::new(),
    };
    let provider = crypto_provider();
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous() // only to plug in the platform verifier; verification stays on
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// A `reqwest` client builder with [`client_config`] installed. Callers add proxy, timeouts and headers.
pub fn http_client_builder(
    extra_ca_file: Option<&Path>,
) -> Result<reqwest::ClientBuilder, TlsError> {
    let config = client_config(extra_ca_file)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .user_agent(concat!("exchange-connector/", env!("CARGO_PKG_VERSION"))))
}
