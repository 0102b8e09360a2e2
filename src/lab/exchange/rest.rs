//! REST `InvokeCommand` as Exchange Online serves it (spec §9.1):
//! `POST /adminapi/{beta|v2.0}/{tenant}/InvokeCommand[?$select=..]` with an app-only bearer token
//! carrying `Exchange.ManageAsApp`, body `{"CmdletInput":{"CmdletName":..,"Parameters":{..}}}`.
//!
//! Paging is server-driven: `Prefer: odata.maxpagesize=N` (default 1000) sizes a page, and
//! `@odata.nextLink` is an absolute URL carrying an opaque skip token, to which the client POSTs the
//! same body. The token binds the offset to a hash of the cmdlet input, so a nextLink replayed with
//! another body is refused instead of silently paging the wrong listing. The token also names the
//! result set the first page came from: the listing is run once and its later pages are cut from it,
//! as a server-side cursor does (running the cmdlet again for every page made a 50-page listing
//! quadratic); a cursor the lab no longer holds (evicted, or a restarted lab) runs the cmdlet again.

use super::engine::{self, CallContext, Item};
use crate::lab::LabState;
use crate::lab::faults::Surface;
use crate::lab::tokens::{self, AuthFailure, Resource};
use crate::model::exchange::ErrorRecord;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default and maximum page sizes.
const DEFAULT_PAGE: usize = 1000;
const MAX_PAGE: usize = 10_000;

/// The server name Exchange Online puts in error ids.
const EXO_SERVER: &str = "AM0PR01MB0001";

/// Result sets a listing's later pages are cut from.
const MAX_CURSORS: usize = 256;
/// How long an unfinished listing's result set is kept.
const CURSOR_TTL: Duration = Duration::from_secs(600);

/// The result sets of listings still being paged, by cursor id (the skip token names one).
#[derive(Default)]
struct Cursors {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, (Arc<engine::Output>, Instant)>>,
}

impl Cursors {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Arc<engine::Output>, Instant)>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps a result set for its next pages; the oldest (or expired) go first.
    fn open(&self, output: Arc<engine::Output>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut open = self.lock();
        open.retain(|_, (_, at)| at.elapsed() < CURSOR_TTL);
        if open.len() >= MAX_CURSORS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| *id)
        {
            open.remove(&oldest);
        }
        open.insert(id, (output, Instant::now()));
        id
    }

    fn get(&self, id: u64) -> Option<Arc<engine::Output>> {
        self.lock().get(&id).map(|(output, _)| output.clone())
    }

    fn close(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// The routes (`/adminapi/beta/...` and `/adminapi/v2.0/...`), sharing the open listings.
pub fn router() -> Router<Arc<LabState>> {
    let cursors = Arc::new(Cursors::default());
    Router::new()
        .route(
            "/adminapi/beta/{tenant}/InvokeCommand",
            invoke_route("beta", cursors.clone()),
        )
        .route(
            "/adminapi/v2.0/{tenant}/InvokeCommand",
            invoke_route("v2.0", cursors),
        )
}

/// `POST InvokeCommand` of one API version.
fn invoke_route(
    version: &'static str,
    cursors: Arc<Cursors>,
) -> axum::routing::MethodRouter<Arc<LabState>> {
    post(
        move |State(state): State<Arc<LabState>>,
              Path(tenant): Path<String>,
              Query(query): Query<HashMap<String, String>>,
              headers: HeaderMap,
              body: Bytes| {
            let cursors = cursors.clone();
            async move {
                let request = Request {
                    version,
                    tenant: &tenant,
                    query: &query,
                    headers: &headers,
                    body: &body,
                };
                invoke_command(&state, &cursors, request).await
            }
        },
    )
}

/// One `InvokeCommand` request.
struct Request<'a> {
    version: &'a str,
    tenant: &'a str,
    query: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal; charset=utf-8"),
    );
    response
}

fn simple_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Exchange Online's short error code (`Ex` + 6 hex digits), from the record's error id when it
/// has one.
fn exo_error_code(record: &ErrorRecord) -> String {
    match record.exchange_error_id() {
        Some(id) => format!("Ex{}", &id[..6]),
        None => {
            let hash = record
                .exception
                .type_name
                .bytes()
                .fold(0x811c_9dc5u32, |h, b| {
                    (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
                });
            format!("Ex{:06X}", hash & 0x00ff_ffff)
        }
    }
}

/// A cmdlet error in Exchange Online's shape: `details[0].message` is
/// `<ErrorCode>|<ExceptionType>|<Message>` (e.g. `Ex6F9304|Microsoft.Exchange.Configuration.Tasks.
/// ManagementObjectNotFoundException|The operation couldn't be performed ...`), as the V3 module reads it.
fn cmdlet_error(record: &ErrorRecord) -> Response {
    let not_found = record
        .exception
        .type_name
        .ends_with("CommandNotFoundException");
    let status = if not_found {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    let short = record
        .exception
        .type_name
        .rsplit('.')
        .next()
        .unwrap_or_default();
    let body = json!({
        "error": {
            "code": short,
            "message": format!("Error executing request. {}", record.exception.message),
            "details": [{
                "code": "Context",
                "target": "",
                "message": format!("{}|{}|{}", exo_error_code(record), record.exception.type_name, record.exception.message),
            }],
            "innererror": {
                "message": record.exception.message,
                "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                "internalException": {
                    "message": record.exception.message,
                    "type": record.exception.type_name,
                    "fullyQualifiedErrorId": record.fully_qualified_error_id,
                },
            },
        }
    });
    json_response(status, &body)
}

fn auth_error(failure: AuthFailure) -> Response {
    let (status, code, message) = match failure {
        AuthFailure::Missing => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The request has no bearer token.".to_string(),
        ),
        AuthFailure::Invalid(why) => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            format!("The token is not valid: {why}"),
        ),
        AuthFailure::Expired => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The token is expired.".to_string(),
        ),
        AuthFailure::Forbidden { needed } => {
            return simple_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "The application is not authorized for this operation: the role '{needed}' is required."
                ),
            );
        }
    };
    let mut response = simple_error(status, "Unauthorized", &message);
    let challenge = format!(
        "Bearer realm=\"\",authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\",client_id=\"00000002-0000-0ff1-ce00-000000000000\",error=\"{code}\",error_description=\"{}\"",
        message.replace('"', "'")
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn storm_response(status: u16, retry_after: u32) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
        simple_error(
            status,
            "TooManyRequests",
            "You have reached the maximum number of concurrent requests per tenant. Please wait and try again",
        )
    } else {
        simple_error(
            status,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please try again later.",
        )
    };
    if retry_after > 0 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    response
}

/// `odata.maxpagesize=N` from `Prefer` (several preferences may be comma separated).
fn max_page_size(headers: &HeaderMap) -> usize {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| value.trim().trim_matches('"').parse::<usize>().ok())
                .flatten()
        })
        .next()
        .filter(|n| *n > 0)
        .map_or(DEFAULT_PAGE, |n| n.min(MAX_PAGE))
}

fn input_hash(cmdlet: &str, parameters: &Map<String, Value>) -> u64 {
    // serde_json's Map is ordered by key, so equal inputs serialise equally.
    let text = format!(
        "{}\n{}",
        cmdlet.to_ascii_lowercase(),
        Value::Object(parameters.clone())
    );
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Where a listing's next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SkipToken {
    offset: usize,
    /// The hash of the cmdlet input the listing answers.
    hash: u64,
    /// The result set the first page came from (0: none kept).
    cursor: u64,
}

fn encode_skip_token(token: SkipToken) -> String {
    let SkipToken {
        offset,
        hash,
        cursor,
    } = token;
    URL_SAFE_NO_PAD.encode(format!("{offset}:{hash:016x}:{cursor:x}"))
}

fn decode_skip_token(token: &str) -> Option<SkipToken> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    let offset = parts.next()?.parse().ok()?;
    let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
    let cursor = match parts.next() {
        Some(cursor) => u64::from_str_radix(cursor, 16).ok()?,
        None => 0,
    };
    parts.next().is_none().then_some(SkipToken {
        offset,
        hash,
        cursor,
    })
}

/// The base URL clients reach this listener on.
fn base_url(state: &LabState, headers: &HeaderMap) -> String {
    let configured = state.urls().exchange_rest_base;
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("https://{host}")
}

/// `Get-MobileDevice` → `MobileDevice`, for `@odata.context`.
fn entity_name(cmdlet: &str) -> String {
    let noun = cmdlet.split_once('-').map_or(cmdlet, |(_, noun)| noun);
    noun.to_string()
}

fn select(value: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return value;
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        other => other,
    }
}

async fn invoke_command(state: &LabState, cursors: &Cursors, request: Request<'_>) -> Response {
    let started = Instant::now();
    let Request {
        version,
        tenant,
        query,
        headers,
        body,
    } = request;
    let storm = state.faults().take_storm(Surface::ExchangeRest);
    if let Some((status, retry_after)) = storm {
        return storm_response(status, retry_after);
    }
    let claims = match tokens::authorize(
        state,
        headers,
        Resource::Exchange,
        &["Exchange.ManageAsApp"],
    ) {
        Ok(claims) => claims,
        Err(failure) => return auth_error(failure),
    };
    let tenant_ok = {
        let org = state.org();
        tenant.eq_ignore_ascii_case(&claims.tid) || tenant.eq_ignore_ascii_case(&org.domain)
    };
    if !tenant_ok {
        return simple_error(
            StatusCode::NOT_FOUND,
            "TenantNotFound",
            &format!("The tenant '{tenant}' does not match the token's tenant."),
        );
    }
    let input: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return simple_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("The request body is not valid JSON: {e}"),
            );
        }
    };
    let cmdlet_input = input.get("CmdletInput");
    let Some(cmdlet) = cmdlet_input
        .and_then(|c| c.get("CmdletName"))
        .and_then(Value::as_str)
    else {
        return simple_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The request body must be {\"CmdletInput\":{\"CmdletName\":...,\"Parameters\":{...}}}.",
        );
    };
    let parameters = match cmdlet_input.and_then(|c| c.get("Parameters")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return simple_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Parameters must be a JSON object.",
            );
        }
    };
    let hash = input_hash(cmdlet, &parameters);
    let token = match query.get("$skiptoken").or_else(|| query.get("$skipToken")) {
        None => None,
        Some(token) => match decode_skip_token(token) {
            Some(token) if token.hash == hash => Some(token),
            _ => {
                return simple_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidSkipToken",
                    "The skip token is not valid for this request. POST the same body to @odata.nextLink.",
                );
            }
        },
    };
    let fields: Vec<String> = query
        .get("$select")
        .map(|s| {
            s.split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let account = engine::app_account(&claims.appid);
    let ctx = CallContext {
        account: &account,
        server: EXO_SERVER,
    };
    let skip = token.map_or(0, |t| t.offset);
    let kept = token
        .filter(|t| t.cursor != 0)
        .and_then(|t| cursors.get(t.cursor).map(|output| (t.cursor, output)));
    let (cursor, output) = match kept {
        Some(kept) => kept,
        None => match engine::invoke(state, &ctx, cmdlet, &parameters) {
            Ok(output) => (0, Arc::new(output)),
            Err(record) => {
                engine::charge_call(state, 0, started).await;
                return cmdlet_error(&record);
            }
        },
    };
    if cmdlet.trim().eq_ignore_ascii_case("Set-CASMailbox")
        && state.faults().take_unanswered_write()
    {
        engine::charge_call(state, 0, started).await;
        return cut_connection();
    }
    if output.items.is_empty()
        && let Some(first) = output.errors.first()
    {
        engine::charge_call(state, 0, started).await;
        return cmdlet_error(first);
    }
    let page_size = max_page_size(headers);
    let end = skip.saturating_add(page_size).min(output.items.len());
    let page: &[Item] = output.items.get(skip..end).unwrap_or(&[]);
    let values = render_values(state, page, &fields);
    engine::charge_call(state, page.len(), started).await;

    let base = base_url(state, headers);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{base}/adminapi/{version}/{tenant}/$metadata#{}",
            entity_name(cmdlet)
        )),
    );
    if end < output.items.len() {
        // The first page of a listing keeps its result set for the pages after it.
        let cursor = if cursor == 0 {
            cursors.open(output.clone())
        } else {
            cursor
        };
        let next = SkipToken {
            offset: end,
            hash,
            cursor,
        };
        let mut link = format!(
            "{base}/adminapi/{version}/{tenant}/InvokeCommand?$skiptoken={}",
            encode_skip_token(next)
        );
        if let Some(sel) = query.get("$select") {
            link.push_str("&$select=");
            link.push_str(
                &percent_encoding::utf8_percent_encode(sel, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        body.insert("@odata.nextLink".into(), Value::String(link));
    } else if cursor != 0 {
        cursors.close(cursor);
    }
    let mut warnings: Vec<Value> = Vec::new();
    if skip == 0 {
        warnings.extend(output.warnings.iter().map(|w| Value::String(w.clone())));
        warnings.extend(
            output
                .errors
                .iter()
                .map(|e| Value::String(e.exception.message.clone())),
        );
    }
    if !warnings.is_empty() {
        body.insert("@adminapi.warnings".into(), Value::Array(warnings));
    }
    let mut response = page_response(&body, &values);
    if let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={page_size}")) {
        response.headers_mut().insert("preference-applied", v);
    }
    response
}

/// A page's records as JSON text, `[...]`: each written straight from the organisation (no `Value`
/// per record) unless `$select` asks for some properties only. An item the organisation no longer
/// holds (a result set kept for paging, the organisation since replaced) is left out.
fn render_values(state: &LabState, page: &[Item], fields: &[String]) -> Vec<u8> {
    let org = state.org();
    let present = |item: &&Item| match **item {
        Item::Device(m, d) | Item::Statistics(m, d) => {
            org.mailboxes.get(m).is_some_and(|mb| d < mb.devices.len())
        }
        Item::CasMailbox(m) | Item::Recipient(m) => m < org.mailboxes.len(),
        Item::Value(_) => true,
    };
    let mut out = Vec::with_capacity(page.len() * 1024);
    out.push(b'[');
    for (n, item) in page.iter().filter(present).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let written = if fields.is_empty() {
            engine::write_item(&org, item, &mut out)
        } else {
            serde_json::to_writer(&mut out, &select(engine::item_value(&org, item), fields))
        };
        if written.is_err() {
            out.extend_from_slice(b"null");
        }
    }
    out.push(b']');
    out
}

/// The 200 answer in Exchange's order: `@odata.context`, then `"value"` (already JSON text), then
/// the other members (`@odata.nextLink`, `@adminapi.warnings`): a client learns the next page only
/// once it has read the records, as with Exchange Online.
fn page_response(body: &Map<String, Value>, values: &[u8]) -> Response {
    let mut text = Vec::with_capacity(values.len() + 1024);
    text.push(b'{');
    // Writing a Value or a string into a Vec cannot fail.
    let member = |text: &mut Vec<u8>, name: &str, value: &Value| {
        let _ = serde_json::to_writer(&mut *text, name);
        text.push(b':');
        let _ = serde_json::to_writer(&mut *text, value);
    };
    if let Some(context) = body.get("@odata.context") {
        member(&mut text, "@odata.context", context);
        text.push(b',');
    }
    text.extend_from_slice(b"\"value\":");
    text.extend_from_slice(values);
    for (name, value) in body.iter().filter(|(name, _)| *name != "@odata.context") {
        text.push(b',');
        member(&mut text, name, value);
    }
    text.push(b'}');
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal; charset=utf-8"),
    );
    response
}

/// An answer that never completes: the status line goes out, then the body fails, so the server
/// drops the connection (the `unansweredWrites` fault, after the write was applied).
fn cut_connection() -> Response {
    let body = axum::body::Body::from_stream(futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other(
            "the lab cut the connection after the write (unansweredWrites fault)",
        ))
    }));
    let mut response = Response::new(body);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_tokens_round_trip() {
        let token = SkipToken {
            offset: 2000,
            hash: 0xdead_beef,
            cursor: 7,
        };
        assert_eq!(decode_skip_token(&encode_skip_token(token)), Some(token));
        // A token without a cursor (an older lab's) pages by running the cmdlet again.
        let older = URL_SAFE_NO_PAD.encode("1000:00000000deadbeef");
        assert_eq!(
            decode_skip_token(&older),
            Some(SkipToken {
                offset: 1000,
                hash: 0xdead_beef,
                cursor: 0
            })
        );
        assert_eq!(decode_skip_token("!!"), None);
    }

    #[test]
    fn cursors_are_bounded_and_closed() {
        let cursors = Cursors::default();
        let output = Arc::new(engine::Output::default());
        let first = cursors.open(output.clone());
        assert!(cursors.get(first).is_some());
        for _ in 0..MAX_CURSORS {
            cursors.open(output.clone());
        }
        assert!(
            cursors.get(first).is_none(),
            "the oldest result set goes first"
        );
        assert_eq!(cursors.lock().len(), MAX_CURSORS);
        let last = cursors.open(output);
        cursors.close(last);
        assert!(cursors.get(last).is_none());
    }

    #[test]
    fn prefer_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_page_size(&headers), 1000);
        headers.insert(
            "prefer",
            HeaderValue::from_static("return=minimal, odata.maxpagesize=250"),
        );
        assert_eq!(max_page_size(&headers), 250);
    }
}
