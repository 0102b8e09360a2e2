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
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.clone(),
            provider.clone(),
        ) {
            Ok(verifier) => Arc::new(verifier),
            // Wine's crypt32 cannot build a chain engine with an exclusive root store (Windows can):
            // there, verify against the configured CA with webpki, then against the OS store.
            Err(_) if !extra.is_empty() => Arc::new(ExtraCaThenOs::new(extra, provider.clone())?),
            Err(e) => return Err(e.into()),
        };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous() // only to plug in the platform verifier; verification stays on
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// The configured CA (webpki), then the OS trust store: a certificate either accepts is valid. Both
/// verify the whole chain, the name and the validity; nothing is skipped. (The configured CA first:
/// the platform verifier logs every certificate it rejects as an error.)
#[derive(Debug)]
struct ExtraCaThenOs {
    os: rustls_platform_verifier::Verifier,
    extra: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ExtraCaThenOs {
    fn new(
        extra: Vec<CertificateDer<'static>>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in extra {
            roots.add(cert)?;
        }
        let extra = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
        Ok(ExtraCaThenOs {
            os: rustls_platform_verifier::Verifier::new(provider)?,
            extra,
        })
    }
}

impl rustls::client::danger::ServerCertVerifier for ExtraCaThenOs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.extra
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .or_else(|_| {
                self.os.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                )
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.extra.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.extra.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.extra.supported_verify_schemes()
    }
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
