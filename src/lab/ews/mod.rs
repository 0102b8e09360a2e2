//! Autodiscover (POX `autodiscover.xml` and SOAP `autodiscover.svc`) and EWS (`/EWS/Exchange.asmx`)
//! as every Client Access server serves them, behind IIS-style authentication: `Negotiate` (NTLM inside
//! SPNEGO, or raw NTLM; no Kerberos, the lab has no KDC), `NTLM` and Basic.
//!
//! | module | serves |
//! |---|---|
//! | [`autodiscover`] | POX request schema 2006 / response 2006a, SOAP `GetUserSettings` |
//! | [`operations`] | EWS `CreateItem` (the notification mail), `ResolveNames`, `GetFolder` |
//! | [`ntlm`] | the server side of NTLMv2 |
//! | [`xml`] | namespace-aware parsing of requests |
//!
//! Every request counts in `counters.ews_requests`; storms on [`Surface::Autodiscover`] and
//! [`Surface::Ews`] answer before authentication, as IIS queueing does.
//!
//! Exchange Online (an organisation with `exchange_online`, and always on the cloud listener:
//! [`exchange_online_router`]) answers as it does in December 2026: Basic, NTLM and Negotiate get a
//! 401 offering only `Bearer` (Basic authentication for EWS was switched off in October 2022), and a
//! bearer token gets a 403 saying EWS is blocked (tenants on the default `EWSEnabled` are set to
//! False from 1 October 2026, MC1227454; EWS is switched off for everyone on 1 April 2027).

pub mod autodiscover;
pub mod ntlm;
pub mod operations;
pub mod xml;

use super::faults::Surface;
use super::org::{ExchangeOrg, LabAccount};
use super::{LabState, ServingCas};
use crate::notify::spnego;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The Exchange build the lab's CAS servers report (Exchange 2019 CU12).
pub const EXCHANGE_BUILD: (u32, u32, u32, u32) = (15, 2, 1118, 7);

/// Routes of this surface: POX and SOAP Autodiscover and EWS, in the casings clients use.
pub fn router() -> Router<Arc<LabState>> {
    // One table per router (that is, per CAS listener): a type 3 message must answer a challenge
    // this CAS issued.
    let challenges = Arc::new(ntlm::ChallengeTable::default());
    let mut router = Router::new();
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
        "/AutoDiscover/AutoDiscover.xml",
        "/autodiscover/Autodiscover.xml",
    ] {
        router = router.route(
            path,
            get(autodiscover::pox_get).post(autodiscover::pox_post),
        );
    }
    for path in [
        "/autodiscover/autodiscover.svc",
        "/Autodiscover/Autodiscover.svc",
        "/AutoDiscover/AutoDiscover.svc",
        "/autodiscover/Autodiscover.svc",
    ] {
        router = router.route(path, post(autodiscover::soap_post));
    }
    for path in [
        "/EWS/Exchange.asmx",
        "/ews/exchange.asmx",
        "/EWS/exchange.asmx",
    ] {
        router = router.route(path, post(operations::ews_post).get(operations::ews_get));
    }
    router.layer(axum::Extension(challenges))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account's `DOMAIN\sam`.
    pub account: String,
    /// Its UPN.
    pub upn: String,
    /// Its mailbox's primary SMTP address, when it has a mailbox.
    pub address: Option<String>,
}

impl Caller {
    fn of(org: &ExchangeOrg, account: &LabAccount) -> Caller {
        let mailbox = org
            .find_mailbox(&account.upn)
            .or_else(|| org.find_mailbox(&account.user_name));
        Caller {
            account: account.user_name.clone(),
            upn: account.upn.clone(),
            address: mailbox.map(|i| org.mailboxes[i].cas.primary_smtp_address.clone()),
        }
    }
}

/// What Autodiscover says about a mailbox.
#[derive(Debug, Clone)]
pub struct MailboxInfo {
    /// Display name.
    pub display_name: String,
    /// Primary SMTP address.
    pub smtp: String,
    /// Alias.
    pub alias: String,
    /// Mailbox GUID.
    pub guid: String,
    /// `LegacyExchangeDN`.
    pub legacy_dn: String,
}

/// The mailbox with this SMTP address (or UPN), if any.
pub fn find_mailbox_by_address(org: &ExchangeOrg, address: &str) -> Option<MailboxInfo> {
    if !address.contains('@') {
        return None;
    }
    let idx = org.find_mailbox(address)?;
    let cas = &org.mailboxes[idx].cas;
    Some(MailboxInfo {
        display_name: cas.display_name.clone(),
        smtp: cas.primary_smtp_address.clone(),
        alias: cas.name.clone(),
        guid: cas.guid.clone(),
        legacy_dn: format!(
            "/o={}/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={}",
            org.name, cas.name
        ),
    })
}

/// A stable deployment id for the organisation (the same on every CAS, as in AD).
pub fn deployment_id(org: &ExchangeOrg) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(format!("deployment:{}:{}", org.name, org.domain));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// Counts the request, then answers a storm if one is set for `surface`.
fn count_and_storm(state: &LabState, surface: Surface) -> Option<Response> {
    state.counters.ews_requests.fetch_add(1, Ordering::Relaxed);
    let (status, retry_after) = state.faults().take_storm(surface)?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    if surface == Surface::Ews && status == StatusCode::INTERNAL_SERVER_ERROR {
        // EWS throttling: HTTP 500 with ErrorServerBusy and the back-off to honour.
        let backoff = if retry_after == 0 {
            5_000
        } else {
            u64::from(retry_after) * 1000
        };
        return Some(operations::server_busy(backoff));
    }
    let mut response = (status, "The service is unavailable.").into_response();
    if retry_after > 0 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    Some(response)
}

/// A 401 offering Windows authentication (`Negotiate`, then `NTLM`) and Basic, as IIS does for
/// Exchange's virtual directories.
fn unauthorized(cas: &ServingCas) -> Box<Response> {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "401 - Unauthorized: Access is denied due to invalid credentials.",
    )
        .into_response();
    let headers = response.headers_mut();
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Negotiate"),
    );
    headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("NTLM"));
    if let Ok(basic) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", cas.fqdn)) {
        headers.append(header::WWW_AUTHENTICATE, basic);
    }
    Box::new(response)
}

/// Authenticates a request with Basic or NTLM: `NTLM`, or `Negotiate` carrying NTLM inside SPNEGO
/// (what Windows sends without a Kerberos ticket) or raw. `Err` is the response to send: a 401,
/// possibly carrying an NTLM challenge. Kerberos is refused: the lab has no KDC.
fn authenticate(
    state: &LabState,
    cas: &ServingCas,
    challenges: &ntlm::ChallengeTable,
    headers: &HeaderMap,
) -> Result<Caller, Box<Response>> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(cas));
    };
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    let Ok(raw) = B64.decode(token.trim()) else {
        return Err(unauthorized(cas));
    };
    if scheme.eq_ignore_ascii_case("Basic") {
        let text = String::from_utf8(raw).map_err(|_| unauthorized(cas))?;
        let (user, password) = text.split_once(':').ok_or_else(|| unauthorized(cas))?;
        let org = state.org();
        return match org.authenticate(user, password) {
            Some(account) => Ok(Caller::of(&org, account)),
            None => {
                tracing::debug!(user, "basic authentication refused");
                Err(unauthorized(cas))
            }
        };
    }
    if scheme.eq_ignore_ascii_case("NTLM") {
        return ntlm_step(state, cas, challenges, scheme, &raw, false);
    }
    if scheme.eq_ignore_ascii_case("Negotiate") {
        if spnego::is_raw_ntlm(&raw) {
            return ntlm_step(state, cas, challenges, scheme, &raw, false);
        }
        let ntlm = match spnego_ntlm(&raw) {
            Ok(ntlm) => ntlm,
            Err(e) => {
                tracing::debug!(error = %e, "SPNEGO token refused");
                return Err(unauthorized(cas));
            }
        };
        return ntlm_step(state, cas, challenges, scheme, &ntlm, true);
    }
    Err(unauthorized(cas))
}

/// The NTLM message inside an SPNEGO token: the `mechToken` of a first `NegTokenInit` that offers
/// NTLMSSP, or the `responseToken` of a later `NegTokenResp`.
fn spnego_ntlm(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.first() == Some(&0x60) {
        let init = spnego::parse_init(raw).map_err(|e| e.to_string())?;
        if !init.mech_types.iter().any(|m| m == spnego::NTLMSSP_OID) {
            return Err("no NTLMSSP among the offered mechanisms (the lab has no KDC)".into());
        }
        // An optimistic token is for the first mechanism; only NTLM's is usable here.
        return match (init.mech_types.first(), init.mech_token) {
            (Some(first), Some(token)) if first == spnego::NTLMSSP_OID => Ok(token),
            _ => Err("no NTLM token in the first message".into()),
        };
    }
    let resp = spnego::parse_resp(raw).map_err(|e| e.to_string())?;
    resp.response_token
        .ok_or_else(|| "no responseToken".to_string())
}

fn ntlm_step(
    state: &LabState,
    cas: &ServingCas,
    challenges: &ntlm::ChallengeTable,
    scheme: &str,
    raw: &[u8],
    wrapped: bool,
) -> Result<Caller, Box<Response>> {
    if let Ok(negotiate) = ntlm::parse_negotiate(raw) {
        let org = state.org();
        let identity = ntlm::ServerIdentity {
            nb_domain: org.netbios.clone(),
            nb_computer: cas.name.to_ascii_uppercase(),
            dns_domain: org.domain.clone(),
            dns_computer: cas.fqdn.clone(),
        };
        drop(org);
        let (challenge, timestamp) = challenges.issue();
        let msg = ntlm::challenge_message(&negotiate, &identity, challenge, timestamp);
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        // Answer in the scheme and the wrapping the client used: `NTLM`, raw NTLM in `Negotiate`,
        // or a `NegTokenResp` choosing NTLMSSP, as IIS answers SPNEGO.
        let msg = if wrapped {
            spnego::resp_token(&spnego::NegTokenResp {
                neg_state: Some(spnego::NegState::AcceptIncomplete),
                supported_mech: Some(spnego::NTLMSSP_OID.to_vec()),
                response_token: Some(msg),
            })
        } else {
            msg
        };
        let value = format!("{scheme} {}", B64.encode(msg));
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return Err(Box::new(response));
    }
    let auth = match ntlm::parse_authenticate(raw) {
        Ok(auth) => auth,
        Err(e) => {
            tracing::debug!(error = %e, "NTLM message refused");
            return Err(unauthorized(cas));
        }
    };
    let org = state.org();
    let qualified = format!("{}\\{}", auth.domain, auth.user);
    let account = org
        .accounts
        .iter()
        .find(|a| (!auth.domain.is_empty() && a.is_named(&qualified)) || a.is_named(&auth.user));
    let password = account.map(|a| a.password.expose()).unwrap_or("");
    let verdict = challenges
        .take(&auth, |c| ntlm::verify_v2(&auth, c, password).is_ok())
        .and_then(|challenge| ntlm::verify_v2(&auth, &challenge, password));
    match (verdict, account) {
        (Ok(()), Some(account)) => Ok(Caller::of(&org, account)),
        (verdict, _) => {
            tracing::debug!(user = %auth.user, domain = %auth.domain, outcome = ?verdict.err(), "NTLM authentication refused");
            Err(unauthorized(cas))
        }
    }
}

/// Routes of Exchange Online's EWS and Autodiscover on the cloud listener (the Exchange REST base
/// stands for `outlook.office365.com`): every request is counted and refused as a tenant where EWS
/// is blocked refuses it.
pub fn exchange_online_router() -> Router<Arc<LabState>> {
    let mut router = Router::new();
    for path in [
        "/EWS/Exchange.asmx",
        "/ews/exchange.asmx",
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
        "/autodiscover/autodiscover.svc",
        "/Autodiscover/Autodiscover.svc",
    ] {
        router = router.route(path, axum::routing::any(exchange_online_endpoint));
    }
    router
}

async fn exchange_online_endpoint(
    axum::extract::State(state): axum::extract::State<Arc<LabState>>,
    headers: HeaderMap,
) -> Response {
    state.counters.ews_requests.fetch_add(1, Ordering::Relaxed);
    exchange_online_refusal(&headers)
}

/// Exchange Online's answer to an EWS or Autodiscover request in December 2026: a 401 offering only
/// `Bearer` to anything else (Basic is off since 2022; NTLM never was on), a 403 to a bearer token
/// (EWS blocked).
pub fn exchange_online_refusal(headers: &HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer "));
    if !bearer {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "Basic authentication is disabled for Exchange Web Services in Exchange Online; use OAuth (Bearer).",
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"",
            ),
        );
        return response;
    }
    (
        StatusCode::FORBIDDEN,
        "Exchange Web Services is blocked for this organization (EWSEnabled is False since 1 October 2026; EWS in Exchange Online is switched off on 1 April 2027). Use Microsoft Graph.",
    )
        .into_response()
}

/// Reads the serving CAS, counts, applies storms and authenticates: the common prologue of every
/// handler here. `Err` is the response to send instead (boxed: it is the rare path).
fn prologue(
    state: &LabState,
    cas: &ServingCas,
    challenges: &ntlm::ChallengeTable,
    headers: &HeaderMap,
    surface: Surface,
) -> Result<Caller, Box<Response>> {
    if let Some(storm) = count_and_storm(state, surface) {
        return Err(Box::new(storm));
    }
    if state.org().exchange_online {
        return Err(Box::new(exchange_online_refusal(headers)));
    }
    authenticate(state, cas, challenges, headers)
}

/// A response with an XML body and content type.
fn xml_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
