//! The connector's client certificate: read from the package's PFX, used to sign OAuth client
//! assertions. Also makes new certificates (for `package create` tests and the lab).

use crate::secret::Secret;
use base64::Engine as _;
use sha1::Digest as _;

/// A certificate with its private key, as the connector uses it to sign in.
#[derive(Clone)]
pub struct ClientCertificate {
    /// DER of the certificate.
    pub certificate_der: Vec<u8>,
    /// PKCS#8 DER of the RSA private key.
    private_key_pkcs8_der: Vec<u8>,
    /// Subject, as p12-keystore renders it.
    pub subject: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("sha1_thumbprint", &self.sha1_thumbprint_hex())
            .field("private_key", &"***")
            .finish()
    }
}

/// Why a certificate could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Wrong password or damaged file.
    #[error(
        "cannot open the certificate (PFX): {0}. The password may be wrong or the file damaged; download the connector package again."
    )]
    Pfx(String),
    /// The PFX has no private key.
    #[error(
        "the certificate file holds no private key; the connector needs the certificate with its key (a .pfx exported with the private key)"
    )]
    NoPrivateKey,
    /// Key generation or encoding failed.
    #[error("cannot create a certificate: {0}")]
    Generate(String),
}

impl ClientCertificate {
    /// Opens a PKCS#12 file.
    pub fn from_pfx(pfx: &[u8], password: &Secret) -> Result<Self, CertificateError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            pfx,
            password.expose(),
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| CertificateError::Pfx(e.to_string()))?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or(CertificateError::NoPrivateKey)?;
        let leaf = chain
            .certs()
            .first()
            .ok_or(CertificateError::NoPrivateKey)?;
        Ok(ClientCertificate {
            certificate_der: leaf.as_der().to_vec(),
            private_key_pkcs8_der: chain.key().as_der().to_vec(),
            subject: leaf.subject().to_string(),
        })
    }

    /// The end of the certificate's validity (`None` when its DER cannot be read).
    pub fn not_after(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.certificate_der).ok()?;
        chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
    }

    /// Makes a new self-signed RSA-2048 certificate, valid for `days` days.
    pub fn generate(common_name: &str, days: i64) -> Result<Self, CertificateError> {
        let now = std::time::SystemTime::now();
        Self::generate_valid(
            common_name,
            now - std::time::Duration::from_secs(3600),
            now + std::time::Duration::from_secs(days.max(1) as u64 * 86_400),
        )
    }

    /// Makes a new self-signed RSA-2048 certificate valid from `not_before` to `not_after` (tests
    /// make expired and soon-expiring ones with it).
    pub fn generate_valid(
        common_name: &str,
        not_before: std::time::SystemTime,
        not_after: std::time::SystemTime,
    ) -> Result<Self, CertificateError> {
        use rsa::pkcs8::EncodePrivateKey as _;
        let gen_err = |e: &dyn std::fmt::Display| CertificateError::Generate(e.to_string());
        let key = rsa::RsaPrivateKey::new(&mut rand08(), 2048).map_err(|e| gen_err(&e))?;
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| gen_err(&e))?
            .as_bytes()
            .to_vec();
        let key_der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.clone());
        let key_pair =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| gen_err(&e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| gen_err(&e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params.self_signed(&key_pair).map_err(|e| gen_err(&e))?;
        Ok(ClientCertificate {
            certificate_der: cert.der().to_vec(),
            private_key_pkcs8_der: pkcs8,
            subject: format!("CN={common_name}"),
        })
    }

    /// Writes a PKCS#12 file protected by `password`.
    pub fn to_pfx(&self, password: &Secret) -> Result<Vec<u8>, CertificateError> {
        let gen_err = |e: &dyn std::fmt::Display| CertificateError::Generate(e.to_string());
        let cert =
            p12_keystore::Certificate::from_der(&self.certificate_der).map_err(|e| gen_err(&e))?;
        let key = p12_keystore::PrivateKey::from_der(&self.private_key_pkcs8_der)
            .map_err(|e| gen_err(&e))?;
        let local_key_id = sha1::Sha1::digest(&self.certificate_der).to_vec();
        let chain = p12_keystore::PrivateKeyChain::new(local_key_id, key, vec![cert]);
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry(
            "connector",
            p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
        );
        store
            .writer(password.expose())
            .write()
            .map_err(|e| gen_err(&e))
    }

    /// The private key in PKCS#8 PEM, for JWT signing. Secret: never log it.
    pub fn private_key_pem(&self) -> Secret {
        Secret::new(pem_encode("PRIVATE KEY", &self.private_key_pkcs8_der))
    }

    /// The certificate in PEM.
    pub fn certificate_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.certificate_der)
    }

    /// SHA-1 thumbprint, upper-case hex as Windows shows it.
    pub fn sha1_thumbprint_hex(&self) -> String {
        hex_upper(&sha1::Sha1::digest(&self.certificate_der))
    }

    /// `x5t`: base64url of the SHA-1 thumbprint.
    pub fn x5t(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha1::Sha1::digest(&self.certificate_der))
    }

    /// `x5t#S256`: base64url of the SHA-256 thumbprint.
    pub fn x5t_s256(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(&self.certificate_der))
    }
}

/// PEM-encodes DER with the given label.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// rsa 0.9 wants a rand_core 0.6 RNG; the OS RNG through getrandom is the right one for keys.
fn rand08() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfx_round_trip_keeps_certificate_and_key() {
        let cert = ClientCertificate::generate("round-trip", 30).expect("generate");
        let password = Secret::new("pfx-pass");
        let pfx = cert.to_pfx(&password).expect("to_pfx");
        let back = ClientCertificate::from_pfx(&pfx, &password).expect("from_pfx");
        assert_eq!(back.certificate_der, cert.certificate_der);
        assert_eq!(back.private_key_pkcs8_der, cert.private_key_pkcs8_der);
        assert!(ClientCertificate::from_pfx(&pfx, &Secret::new("wrong")).is_err());
        assert!(!format!("{back:?}").contains("PRIVATE"));
    }
}
