//! The EWS client's Windows authentication against a server that offers what real IIS offers
//! (`Negotiate` and `NTLM`) and against one that offers only `NTLM`: NTLM inside SPNEGO in the first
//! case (what Windows sends without a Kerberos ticket), plain NTLM in the second, the password proven
//! either way. Kerberos cannot be tested without a KDC. A small server on loopback records every
//! `Authorization` scheme it receives.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use exchange_connector::lab::ews::ntlm;
use exchange_connector::notify::auth::{self, AuthScheme, MailboxCredential};
use exchange_connector::notify::spnego::{self, NTLMSSP_OID, NegState, NegTokenResp};
use exchange_connector::secret::Secret;
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "Notify-Pass-1";
const CHALLENGE: [u8; 8] = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";

struct Server {
    offers: &'static [&'static str],
    /// `Authorization` as received: the scheme, and whether its token was SPNEGO-wrapped.
    seen: Mutex<Vec<(String, bool)>>,
}

async fn ews(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let refuse = || {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        for offer in server.offers {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, HeaderValue::from_static(offer));
        }
        response
    };
    let Some((scheme, token)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
    else {
        return refuse();
    };
    let raw = B64.decode(token.trim()).unwrap_or_default();
    let wrapped = !spnego::is_raw_ntlm(&raw);
    server
        .seen
        .lock()
        .unwrap()
        .push((scheme.to_string(), wrapped));
    if !server.offers.iter().any(|o| o.eq_ignore_ascii_case(scheme)) {
        return refuse();
    }
    let ntlm_bytes = match (wrapped, raw.first()) {
        (false, _) => raw,
        (true, Some(0x60)) => spnego::parse_init(&raw).unwrap().mech_token.unwrap(),
        (true, _) => spnego::parse_resp(&raw).unwrap().response_token.unwrap(),
    };
    if let Ok(negotiate) = ntlm::parse_negotiate(&ntlm_bytes) {
        let identity = ntlm::ServerIdentity {
            nb_domain: "CONTOSO".into(),
            nb_computer: "CAS01".into(),
            dns_domain: "contoso.lab".into(),
            dns_computer: "cas01.contoso.lab".into(),
        };
        let mut message =
            ntlm::challenge_message(&negotiate, &identity, CHALLENGE, ntlm::filetime_now());
        if wrapped {
            message = spnego::resp_token(&NegTokenResp {
                neg_state: Some(NegState::AcceptIncomplete),
                supported_mech: Some(NTLMSSP_OID.to_vec()),
                response_token: Some(message),
            });
        }
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&format!("{scheme} {}", B64.encode(message))).unwrap(),
        );
        return response;
    }
    match ntlm::parse_authenticate(&ntlm_bytes) {
        Ok(auth) if ntlm::verify_v2(&auth, &CHALLENGE, PASSWORD).is_ok() => {
            (StatusCode::OK, "sent").into_response()
        }
        _ => refuse(),
    }
}

/// Posts once as `password` to a server offering `offers`; the status and the schemes it saw.
async fn post_to(
    offers: &'static [&'static str],
    password: &str,
) -> (Result<u16, String>, Vec<(String, bool)>) {
    let server = Arc::new(Server {
        offers,
        seen: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/EWS/Exchange.asmx", post(ews))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    let http =
        auth::http1_client(exchange_connector::tls::http_client_builder(None).unwrap()).unwrap();
    let credential = MailboxCredential {
        user: r"CONTOSO\notify".into(),
        password: Secret::new(password.to_string()),
        scheme: AuthScheme::Ntlm,
    };
    let result = auth::post(
        &http,
        &format!("http://127.0.0.1:{port}/EWS/Exchange.asmx"),
        "text/xml",
        "<soap:Envelope/>",
        &HeaderMap::new(),
        &credential,
    )
    .await
    .map(|r| r.status().as_u16())
    .map_err(|e| e.to_string());
    serving.abort();
    let seen = server.seen.lock().unwrap().clone();
    (result, seen)
}

#[tokio::test]
async fn negotiate_carries_ntlm_in_spnego_when_offered_and_plain_ntlm_otherwise() {
    // What real IIS offers for Exchange: Negotiate first. NTLM goes inside SPNEGO.
    let (status, seen) = post_to(&["Negotiate", "NTLM"], PASSWORD).await;
    assert_eq!(status, Ok(200));
    assert_eq!(
        seen,
        [
            ("Negotiate".to_string(), true),
            ("Negotiate".to_string(), true)
        ]
    );

    // Only NTLM offered: plain NTLM.
    let (status, seen) = post_to(&["NTLM"], PASSWORD).await;
    assert_eq!(status, Ok(200));
    assert_eq!(
        seen,
        [("NTLM".to_string(), false), ("NTLM".to_string(), false)]
    );

    // A wrong password is refused, named as such, either way.
    let (status, _) = post_to(&["Negotiate", "NTLM"], "wrong").await;
    assert!(
        status
            .unwrap_err()
            .contains("refused the notification account")
    );

    // A server offering neither (Bearer only, as Exchange Online): not offered, and nothing sent.
    let (status, seen) = post_to(&["Bearer"], PASSWORD).await;
    assert!(status.unwrap_err().contains("does not accept"), "{seen:?}");
    assert!(seen.is_empty(), "{seen:?}");
}
