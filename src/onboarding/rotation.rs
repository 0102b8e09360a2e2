//! Rolling the connector's own certificate with Graph `addKey` and `removeKey`: the app proves it holds
//! a current key with a self-signed JWT — `aud` `00000002-0000-0000-c000-000000000000`, `iss` the
//! application's object id, `nbf`, `exp` at most 10 minutes later, signed with the private key of one
//! of the app's valid certificates (microsoft-graph-docs `concepts/application-rollkey-prooftoken.md`).
//! The new key is added with a proof signed by the current one, then the old key is removed with a
//! proof signed by the new one.

use super::OnboardingError;
use super::graph::DirectoryClient;
use crate::certificate::ClientCertificate;
use crate::secret::Secret;
use base64::Engine as _;
use serde_json::{Value, json};

/// The `aud` of a proof of possession.
pub const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";

/// Rotation starts this many days before the current certificate expires.
pub const ROTATE_DAYS_BEFORE_EXPIRY: i64 = 30;

/// Whether `certificate` is within [`ROTATE_DAYS_BEFORE_EXPIRY`] of its expiry at `now`.
pub fn needs_rotation(certificate: &ClientCertificate, now: chrono::DateTime<chrono::Utc>) -> bool {
    certificate
        .not_after()
        .is_some_and(|end| end - now <= chrono::Duration::days(ROTATE_DAYS_BEFORE_EXPIRY))
}

/// A proof of possession signed by `signer` for the application `object_id`, valid 10 minutes.
pub fn proof(signer: &ClientCertificate, object_id: &str) -> Result<Secret, OnboardingError> {
    let now = chrono::Utc::now().timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(signer.x5t());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(signer.private_key_pem().expose().as_bytes())
        .map_err(|e| OnboardingError::Client(format!("cannot sign the proof: {e}")))?;
    jsonwebtoken::encode(
        &header,
        &json!({ "aud": PROOF_AUDIENCE, "iss": object_id, "nbf": now, "exp": now + 600 }),
        &key,
    )
    .map(Secret::new)
    .map_err(|e| OnboardingError::Client(format!("cannot sign the proof: {e}")))
}

/// The `keyId` the connector gives a certificate's key credential: a GUID made of the first 16
/// bytes of the SHA-256 of the certificate, so the service can name its current key to `removeKey`
/// without reading the app's keys (which an app may not do without a directory permission).
pub fn key_id_for(certificate: &ClientCertificate) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(&certificate.certificate_der);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// The keys that were switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledKey {
    /// `keyId` of the added key.
    pub added: String,
    /// `keyId` of the removed key, when the app still listed it.
    pub removed: Option<String>,
}

/// Adds `next`'s public key to the application `object_id`, proved by `current` (a key the app
/// holds now). Returns the new key's `keyId`.
pub async fn add_key(
    graph: &DirectoryClient,
    object_id: &str,
    current: &ClientCertificate,
    next: &ClientCertificate,
) -> Result<String, OnboardingError> {
    let body = json!({
        "keyCredential": {
            "keyId": key_id_for(next),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "displayName": next.subject,
            "key": base64::engine::general_purpose::STANDARD.encode(&next.certificate_der),
        },
        "passwordCredential": null,
        "proof": proof(current, object_id)?.expose(),
    });
    let added = graph
        .post(&format!("applications/{object_id}/addKey"), &body)
        .await?
        .map_err(|f| f.into_error("add the new certificate (addKey)"))?;
    Ok(added
        .get("keyId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// Removes the key `key_id` from the application `object_id`, proved by `prover` (a key the app
/// keeps).
pub async fn remove_key(
    graph: &DirectoryClient,
    object_id: &str,
    key_id: &str,
    prover: &ClientCertificate,
) -> Result<(), OnboardingError> {
    let body = json!({ "keyId": key_id, "proof": proof(prover, object_id)?.expose() });
    graph
        .post(&format!("applications/{object_id}/removeKey"), &body)
        .await?
        .map(|_| ())
        .map_err(|f| f.into_error("remove the old certificate (removeKey)"))
}

/// The `keyId` of `certificate`'s key among the app's `keyCredentials` (matched by thumbprint), when
/// the app lets itself read them; else `None` (then [`key_id_for`] names it).
pub async fn key_id_of(
    graph: &DirectoryClient,
    object_id: &str,
    certificate: &ClientCertificate,
) -> Option<String> {
    let app = graph
        .get("read the app's keys", &format!("applications/{object_id}"))
        .await
        .ok()?;
    app.get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|k| {
            thumbprint_of_key(k)
                .is_some_and(|t| t.eq_ignore_ascii_case(&certificate.sha1_thumbprint_hex()))
        })
        .and_then(|k| k.get("keyId").and_then(Value::as_str))
        .map(str::to_string)
}

/// The SHA-1 thumbprint (upper-case hex) a `keyCredentials` entry names in `customKeyIdentifier`:
/// Graph returns that binary property base64-encoded (it defaults to the certificate's thumbprint —
/// learn.microsoft.com, "keyCredential resource type"); hex is taken as it is.
pub fn thumbprint_of_key(key: &Value) -> Option<String> {
    let text = key
        .get("customKeyIdentifier")
        .and_then(Value::as_str)?
        .trim();
    if text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(text.to_ascii_uppercase());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    (bytes.len() == 20).then(|| bytes.iter().map(|b| format!("{b:02X}")).collect())
}

/// Adds `next` to the application `object_id` (proved by `current`), then removes `current`'s key
/// (proved by `next`). `app_token` is the app's own app-only Graph token.
pub async fn roll_key(
    http: &reqwest::Client,
    graph_base: &str,
    app_token: &Secret,
    object_id: &str,
    current: &ClientCertificate,
    next: &ClientCertificate,
) -> Result<RolledKey, OnboardingError> {
    let graph = DirectoryClient::with_bearer(http.clone(), graph_base, app_token.clone());
    let old = key_id_of(&graph, object_id, current)
        .await
        .unwrap_or_else(|| key_id_for(current));
    let added = add_key(&graph, object_id, current, next).await?;
    remove_key(&graph, object_id, &old, next).await?;
    Ok(RolledKey {
        added,
        removed: Some(old),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_thumbprint_in_hex_or_base64() {
        let hex = "BB5D1064437D8720A5C53078185E6A361A78B10A";
        let bytes: Vec<u8> = (0..20)
            .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        let base64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        for given in [hex.to_ascii_lowercase(), base64] {
            let key = json!({ "customKeyIdentifier": given });
            assert_eq!(thumbprint_of_key(&key).as_deref(), Some(hex));
        }
        assert_eq!(
            thumbprint_of_key(&json!({ "customKeyIdentifier": "x" })),
            None
        );
    }

    #[test]
    fn rotation_starts_thirty_days_before_expiry() {
        let soon = ClientCertificate::generate("soon", 20).unwrap();
        let later = ClientCertificate::generate("later", 90).unwrap();
        let now = chrono::Utc::now();
        assert!(needs_rotation(&soon, now));
        assert!(!needs_rotation(&later, now));
    }
}
