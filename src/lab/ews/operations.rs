//! EWS (`/EWS/Exchange.asmx`, SOAP 1.1): `CreateItem` for messages (what the connector sends its
//! notification mail with), plus the few read operations generic EWS clients call before sending:
//! `ConvertId` (version discovery), `ResolveNames` and `GetFolder` on distinguished folders.
//! Sent messages land in the lab's outbox instead of being delivered.

use super::xml::{self, Element, esc};
use super::{Caller, ServingCas, ntlm, prologue};
use crate::lab::faults::Surface;
use crate::lab::{LabState, SentMessage};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt::Write as _;
use std::sync::Arc;

/// EWS types namespace (`t:`).
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS messages namespace (`m:`).
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS errors namespace (SOAP fault details).
pub const ERRORS_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// `RequestServerVersion/@Version` values Exchange 2019 accepts.
pub const SERVER_VERSIONS: &[&str] = &[
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
];

const XML_DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";

/// `GET /EWS/Exchange.asmx`: authentication first (clients probe it), then a short page.
pub async fn ews_get(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    Extension(challenges): Extension<Arc<ntlm::ChallengeTable>>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = prologue(&state, &cas, &challenges, &headers, Surface::Ews) {
        return *response;
    }
    super::xml_response(
        StatusCode::OK,
        "text/html; charset=utf-8",
        "<html><body>Exchange Web Services (lab). POST SOAP requests here.</body></html>".into(),
    )
}

/// `POST /EWS/Exchange.asmx`.
pub async fn ews_post(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    Extension(challenges): Extension<Arc<ntlm::ChallengeTable>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match prologue(&state, &cas, &challenges, &headers, Surface::Ews) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let root = match xml::parse(&body) {
        Ok(root) => root,
        Err(e) => return schema_validation(&format!("The request is not well-formed XML: {e}")),
    };
    let Some((_, header, body)) = xml::soap_body(&root) else {
        return schema_validation("The root element is not a SOAP envelope.");
    };
    if let Some(version) = header
        .and_then(|h| h.child(TYPES_NS, "RequestServerVersion"))
        .map(|v| v.attr("Version").unwrap_or(""))
        && !SERVER_VERSIONS.contains(&version)
    {
        return fault(
            "ErrorInvalidServerVersion",
            "The specified server version is invalid.",
            "",
        );
    }
    let Some(op) = body.children.first() else {
        return schema_validation("The SOAP body is empty.");
    };
    if op.ns != MESSAGES_NS {
        return fault("ErrorInvalidRequest", "The request is invalid.", "");
    }
    let inner = match op.name.as_str() {
        "CreateItem" => match create_item(&state, &caller, op) {
            Ok(inner) => inner,
            Err(response) => return *response,
        },
        "ConvertId" => convert_id(op),
        "ResolveNames" => resolve_names(&state, op),
        "GetFolder" => get_folder(&caller, op),
        _ => return fault("ErrorInvalidRequest", "The request is invalid.", ""),
    };
    super::xml_response(StatusCode::OK, "text/xml; charset=utf-8", envelope(&inner))
}

/// A success or error response message of `kind` (e.g. `CreateItem`).
fn response_message(kind: &str, code: &str, message: &str, inner: &str) -> String {
    if code == "NoError" {
        format!(
            r#"<m:{kind}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{kind}ResponseMessage>"#
        )
    } else {
        format!(
            r#"<m:{kind}ResponseMessage ResponseClass="Error"><m:MessageText>{message}</m:MessageText><m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{inner}</m:{kind}ResponseMessage>"#,
            message = esc(message)
        )
    }
}

fn operation_response(op: &str, messages: &str) -> String {
    format!(
        r#"<m:{op}Response xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}"><m:ResponseMessages>{messages}</m:ResponseMessages></m:{op}Response>"#
    )
}

fn envelope(body: &str) -> String {
    let (major, minor, build, revision) = super::EXCHANGE_BUILD;
    format!(
        r#"{XML_DECL}<s:Envelope xmlns:s="{soap}"><s:Header><h:ServerVersionInfo MajorVersion="{major}" MinorVersion="{minor}" MajorBuildNumber="{build}" MinorBuildNumber="{revision}" Version="V2017_07_11" xmlns:h="{TYPES_NS}" xmlns="{TYPES_NS}" xmlns:xsd="{XSD}" xmlns:xsi="{XSI}"/></s:Header><s:Body xmlns:xsi="{XSI}" xmlns:xsd="{XSD}">{body}</s:Body></s:Envelope>"#,
        soap = xml::SOAP11
    )
}

/// A SOAP fault carrying an EWS ResponseCode (HTTP 500), with optional extra detail XML.
fn fault(code: &str, message: &str, extra_detail: &str) -> Response {
    let body = format!(
        r#"{XML_DECL}<s:Envelope xmlns:s="{soap}"><s:Body><s:Fault><faultcode xmlns:a="{TYPES_NS}">a:{code}</faultcode><faultstring xml:lang="en-US">{message}</faultstring><detail><e:ResponseCode xmlns:e="{ERRORS_NS}">{code}</e:ResponseCode><e:Message xmlns:e="{ERRORS_NS}">{message}</e:Message>{extra_detail}</detail></s:Fault></s:Body></s:Envelope>"#,
        soap = xml::SOAP11,
        message = esc(message),
    );
    super::xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        body,
    )
}

fn schema_validation(detail: &str) -> Response {
    fault(
        "ErrorSchemaValidation",
        &format!("The request failed schema validation: {detail}"),
        "",
    )
}

/// EWS throttling: HTTP 500, `ErrorServerBusy`, and the `BackOffMilliseconds` to honour.
pub fn server_busy(backoff_ms: u64) -> Response {
    fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        &format!(
            r#"<t:MessageXml xmlns:t="{TYPES_NS}"><t:Value Name="BackOffMilliseconds">{backoff_ms}</t:Value></t:MessageXml>"#
        ),
    )
}

/// Whether `address` looks like an SMTP address Exchange would accept.
pub fn is_valid_smtp(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 255
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// Why one item of a `CreateItem` was refused: (ResponseCode, MessageText).
type ItemError = (&'static str, &'static str);

fn create_item(state: &LabState, caller: &Caller, op: &Element) -> Result<String, Box<Response>> {
    let disposition = op.attr("MessageDisposition");
    if let Some(d) = disposition
        && !["SaveOnly", "SendOnly", "SendAndSaveCopy"].contains(&d)
    {
        return Err(Box::new(schema_validation(&format!(
            "The 'MessageDisposition' attribute is invalid - The value '{d}' is invalid according to its datatype."
        ))));
    }
    let Some(items) = op.child(MESSAGES_NS, "Items") else {
        return Err(Box::new(schema_validation(
            "The element 'CreateItem' has incomplete content. List of possible elements expected: 'Items'.",
        )));
    };
    let mut messages = String::new();
    for item in &items.children {
        let outcome = if item.is(TYPES_NS, "Message") {
            create_message(state, caller, disposition, item)
        } else {
            Err((
                "ErrorInvalidRequest",
                "The lab's EWS only creates messages.",
            ))
        };
        match outcome {
            Ok(inner) => messages.push_str(&response_message("CreateItem", "NoError", "", &inner)),
            Err((code, text)) => {
                messages.push_str(&response_message("CreateItem", code, text, "<m:Items/>"))
            }
        }
    }
    Ok(operation_response("CreateItem", &messages))
}

fn create_message(
    state: &LabState,
    caller: &Caller,
    disposition: Option<&str>,
    message: &Element,
) -> Result<String, ItemError> {
    let Some(disposition) = disposition else {
        return Err((
            "ErrorMessageDispositionRequired",
            "MessageDisposition attribute is required.",
        ));
    };
    let Some(from) = caller.address.clone() else {
        return Err((
            "ErrorMissingEmailAddress",
            "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
        ));
    };
    // Sending as someone else needs Send-As, which no lab account has.
    let claimed_from = message
        .child(TYPES_NS, "From")
        .or_else(|| message.child(TYPES_NS, "Sender"))
        .and_then(|f| f.child(TYPES_NS, "Mailbox"))
        .and_then(|m| m.child_text(TYPES_NS, "EmailAddress"));
    if let Some(claimed) = claimed_from
        && !claimed.eq_ignore_ascii_case(&from)
    {
        return Err((
            "ErrorSendAsDenied",
            "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message.",
        ));
    }
    let mut recipients = Vec::new();
    for list in ["ToRecipients", "CcRecipients", "BccRecipients"] {
        let Some(list) = message.child(TYPES_NS, list) else {
            continue;
        };
        for mailbox in list.children_named(TYPES_NS, "Mailbox") {
            let address = mailbox.child_text(TYPES_NS, "EmailAddress").unwrap_or("");
            if address.is_empty() {
                return Err((
                    "ErrorInvalidRecipients",
                    "At least one recipient isn't valid., A recipient has no e-mail address.",
                ));
            }
            if !is_valid_smtp(address) {
                return Err((
                    "ErrorInvalidSmtpAddress",
                    "The SMTP address format is invalid.",
                ));
            }
            recipients.push(address.to_string());
        }
    }
    let subject = message
        .child(TYPES_NS, "Subject")
        .map(|s| s.text.clone())
        .unwrap_or_default();
    let (body, body_type) = message
        .child(TYPES_NS, "Body")
        .map(|b| {
            (
                b.text.clone(),
                b.attr("BodyType").unwrap_or("Text").to_string(),
            )
        })
        .unwrap_or_else(|| (String::new(), "Text".to_string()));

    if disposition == "SaveOnly" {
        // A draft: saved, not sent, so nothing reaches the outbox.
        let id: [u8; 32] = rand::random();
        let change: [u8; 16] = rand::random();
        return Ok(format!(
            r#"<m:Items><t:Message><t:ItemId Id="{}" ChangeKey="{}"/></t:Message></m:Items>"#,
            B64.encode(id),
            B64.encode(change)
        ));
    }
    if recipients.is_empty() {
        return Err((
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        ));
    }
    let sent = SentMessage {
        from,
        to: recipients,
        subject,
        body,
        body_type,
        disposition: disposition.to_string(),
        sent_at: chrono::Utc::now(),
        via: crate::lab::SENT_VIA_EWS.to_string(),
    };
    tracing::debug!(from = %sent.from, to = ?sent.to, "EWS accepted a message");
    state
        .outbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(sent);
    Ok("<m:Items/>".to_string())
}

/// `ConvertId`: the lab keeps no item ids, so every id is malformed — which is all version discovery
/// (exchangelib) needs: the answer's `ServerVersionInfo` header.
fn convert_id(op: &Element) -> String {
    let count = op
        .child(MESSAGES_NS, "SourceIds")
        .map(|s| s.children.len())
        .unwrap_or(0)
        .max(1);
    let message = response_message(
        "ConvertId",
        "ErrorInvalidIdMalformed",
        "Id is malformed.",
        "",
    );
    operation_response("ConvertId", &message.repeat(count))
}

/// `ResolveNames`: matches mailboxes by any identity (address with or without `smtp:`, alias, name).
fn resolve_names(state: &LabState, op: &Element) -> String {
    let entry = op
        .child_text(MESSAGES_NS, "UnresolvedEntry")
        .unwrap_or("")
        .to_string();
    let key = entry
        .strip_prefix("smtp:")
        .or_else(|| entry.strip_prefix("SMTP:"))
        .unwrap_or(&entry);
    let org = state.org();
    let Some(idx) = org.find_mailbox(key) else {
        let message = response_message(
            "ResolveNames",
            "ErrorNameResolutionNoResults",
            "No results were found.",
            "",
        );
        return operation_response("ResolveNames", &message);
    };
    let cas = &org.mailboxes[idx].cas;
    let resolution = format!(
        r#"<m:ResolutionSet TotalItemsInView="1" IncludesLastItemInRange="true"><t:Resolution><t:Mailbox><t:Name>{name}</t:Name><t:EmailAddress>{smtp}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:Resolution></m:ResolutionSet>"#,
        name = esc(&cas.display_name),
        smtp = esc(&cas.primary_smtp_address)
    );
    operation_response(
        "ResolveNames",
        &response_message("ResolveNames", "NoError", "", &resolution),
    )
}

/// Distinguished folders the lab's mailboxes have: (id, display name, folder class).
const FOLDERS: &[(&str, &str, &str)] = &[
    ("root", "Top of Information Store", ""),
    ("msgfolderroot", "Top of Information Store", "IPF.Note"),
    ("inbox", "Inbox", "IPF.Note"),
    ("sentitems", "Sent Items", "IPF.Note"),
    ("drafts", "Drafts", "IPF.Note"),
    ("deleteditems", "Deleted Items", "IPF.Note"),
    ("outbox", "Outbox", "IPF.Note"),
];

/// `GetFolder` on distinguished folders of the caller's mailbox (empty folders).
fn get_folder(caller: &Caller, op: &Element) -> String {
    let ids: Vec<&Element> = op
        .child(MESSAGES_NS, "FolderIds")
        .map(|f| f.children.iter().collect())
        .unwrap_or_default();
    let mut messages = String::new();
    for id in ids {
        let name = if id.is(TYPES_NS, "DistinguishedFolderId") {
            id.attr("Id").unwrap_or("")
        } else {
            ""
        };
        let found = FOLDERS.iter().find(|(n, _, _)| *n == name);
        let mailbox = id
            .child(TYPES_NS, "Mailbox")
            .and_then(|m| m.child_text(TYPES_NS, "EmailAddress"))
            .map(str::to_string)
            .or_else(|| caller.address.clone());
        let message = match (found, mailbox) {
            (Some((name, display, class)), Some(mailbox)) => {
                let folder_id = B64.encode(format!("lab-folder:{mailbox}:{name}"));
                let class = if class.is_empty() {
                    String::new()
                } else {
                    format!("<t:FolderClass>{class}</t:FolderClass>")
                };
                let folder = format!(
                    r#"<m:Folders><t:Folder><t:FolderId Id="{id}" ChangeKey="AQAAAA=="/>{class}<t:DisplayName>{display}</t:DisplayName><t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount><t:UnreadCount>0</t:UnreadCount></t:Folder></m:Folders>"#,
                    id = esc(&folder_id),
                );
                response_message("GetFolder", "NoError", "", &folder)
            }
            (Some(_), None) => response_message(
                "GetFolder",
                "ErrorMissingEmailAddress",
                "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
                "",
            ),
            (None, _) => response_message(
                "GetFolder",
                "ErrorFolderNotFound",
                "The specified folder could not be found in the store.",
                "",
            ),
        };
        let _ = write!(messages, "{message}");
    }
    operation_response("GetFolder", &messages)
}
