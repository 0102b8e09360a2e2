//! Rolling the connector's own certificate with Graph `addKey` and `removeKey`: the app proves it holds
//! a current key with a self-signed JWT — `aud` `00000002-0000-0000-c000-000000000000`, `iss` the
//! application's object id, `nbf`, `exp` at most 10 minutes later, signed with the private key of one
//! of the app's valid certificates (microsoft-graph-docs `concepts/application-rollkey-prooftoken.md`).
//! The new key is added with a proof signed by the current one, then the old key is removed with a
//! proof signed by the new one.

use super::OnboardingError;
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

/// The keys that were switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledKey {
    /// `keyId` of the added key.
    pub added: String,
    /// `keyId` of the removed key, when the app still listed it.
    pub removed: Option<String>,
}

async fn call(
    http: &reqwest::Client,
    url: &str,
    app_token: &Secret,
    body: Option<&Value>,
    action: &str,
) -> Result<Value, OnboardingError> {
    let request = match body {
        Some(body) => http.post(url).json(body),
        None => http.get(url),
    };
    let response = request
        .bearer_auth(app_token.expose())
        .send()
        .await
        .map_err(|e| OnboardingError::Unreachable {
            url: url.to_string(),
            reason: crate::error_text::chain(&e),
        })?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(json);
    }
    let field = |n: &str| {
        json.pointer(&format!("/error/{n}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Err(OnboardingError::Graph {
        action: action.to_string(),
        status,
        code: field("code"),
        message: field("message"),
    })
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
    let base = format!(
        "{}/v1.0/applications/{object_id}",
        graph_base.trim_end_matches('/')
    );
    let added = call(
        http,
        &format!("{base}/addKey"),
        app_token,
        Some(&json!({
            "keyCredential": {
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "displayName": next.subject,
                "key": base64::engine::general_purpose::STANDARD.encode(&next.certificate_der),
            },
            "passwordCredential": null,
            "proof": proof(current, object_id)?.expose(),
        })),
        "add the new certificate (addKey)",
    )
    .await?;
    let added = added
        .get("keyId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let app = call(http, &base, app_token, None, "read the app's keys").await?;
    let old = app
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|k| {
            k.get("customKeyIdentifier")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(&current.sha1_thumbprint_hex()))
        })
        .and_then(|k| k.get("keyId").and_then(Value::as_str))
        .map(str::to_string);
    if let Some(key_id) = &old {
        call(
            http,
            &format!("{base}/removeKey"),
            app_token,
            Some(&json!({ "keyId": key_id, "proof": proof(next, object_id)?.expose() })),
            "remove the old certificate (removeKey)",
        )
        .await?;
    }
    Ok(RolledKey {
        added,
        removed: old,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_starts_thirty_days_before_expiry() {
        let soon = ClientCertificate::generate("soon", 20).unwrap();
        let later = ClientCertificate::generate("later", 90).unwrap();
        let now = chrono::Utc::now();
        assert!(needs_rotation(&soon, now));
        assert!(!needs_rotation(&later, now));
    }
}
