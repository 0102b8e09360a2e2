//! The lab's own certificate authority. The lab serves TLS only with certificates this CA issues;
//! clients trust the CA explicitly (its PEM path is in the endpoints file). Nothing ever turns
//! verification off.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// Why the CA or a server certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// rcgen failed.
    #[error("cannot create the lab certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate.
    #[error("cannot configure TLS for the lab: {0}")]
    Tls(#[from] rustls::Error),
}

/// A CA that lives as long as the lab process.
pub struct LabCa {
    params: CertificateParams,
    key: KeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl std::fmt::Debug for LabCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LabCa { .. }")
    }
}

impl LabCa {
    /// Makes a new CA (ECDSA P-256, ten days).
    pub fn new(name: &str) -> Result<Self, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{name} Lab Root CA"));
        dn.push(DnType::OrganizationName, "Exchange Connector lab");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = std::time::SystemTime::now();
        params.not_before = (now - std::time::Duration::from_secs(3600)).into();
        params.not_after = (now + std::time::Duration::from_secs(10 * 86_400)).into();
        let cert = params.self_signed(&key)?;
        Ok(LabCa {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            params,
            key,
        })
    }

    /// The CA certificate in PEM: what clients trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server TLS configuration with a certificate for `names` (DNS names and IP addresses).
    pub fn server_config(&self, names: &[String]) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = std::time::SystemTime::now();
        params.not_before = (now - std::time::Duration::from_secs(3600)).into();
        params.not_after = (now + std::time::Duration::from_secs(9 * 86_400)).into();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        let chain = vec![
            CertificateDer::from(cert.der().to_vec()),
            CertificateDer::from(self.cert_der.clone()),
        ];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(crate::tls::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
