//! Autodiscover: the POX service (`autodiscover.xml`, request schema 2006, Outlook response schema
//! 2006a) and the SOAP service (`autodiscover.svc`, `GetUserSettings`). Both point the client at the
//! EWS URL of the CAS that answered.

use super::xml::{self, esc};
use super::{MailboxInfo, ServingCas, deployment_id, find_mailbox_by_address, ntlm, prologue};
use crate::lab::LabState;
use crate::lab::faults::Surface;
use crate::lab::org::ExchangeOrg;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::fmt::Write as _;
use std::sync::Arc;

/// POX request namespace.
pub const POX_REQUEST_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
/// POX response root namespace.
pub const POX_RESPONSE_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
/// Outlook response schema (what the connector asks for).
pub const OUTLOOK_RESPONSE_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
/// SOAP Autodiscover namespace.
pub const SOAP_AUTODISCOVER_NS: &str = "http://schemas.microsoft.com/exchange/2010/Autodiscover";
/// WS-Addressing.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// XML Schema instance.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Every `UserSettingName` of the protocol: a valid name the lab has no value for is "not available",
/// any other name is invalid.
pub const USER_SETTING_NAMES: &[&str] = &[
    "UserDisplayName",
    "UserDN",
    "UserDeploymentId",
    "InternalMailboxServer",
    "InternalRpcClientServer",
    "InternalMailboxServerDN",
    "InternalEcpUrl",
    "InternalEcpVoicemailUrl",
    "InternalEcpEmailSubscriptionsUrl",
    "InternalEcpTextMessagingUrl",
    "InternalEcpDeliveryReportUrl",
    "InternalEcpRetentionPolicyTagsUrl",
    "InternalEcpPublishingUrl",
    "InternalEwsUrl",
    "InternalOABUrl",
    "InternalUMUrl",
    "InternalWebClientUrls",
    "MailboxDN",
    "PublicFolderServer",
    "ActiveDirectoryServer",
    "ExternalMailboxServer",
    "ExternalMailboxServerRequiresSSL",
    "ExternalMailboxServerAuthenticationMethods",
    "EcpVoicemailUrlFragment",
    "EcpEmailSubscriptionsUrlFragment",
    "EcpTextMessagingUrlFragment",
    "EcpDeliveryReportUrlFragment",
    "EcpRetentionPolicyTagsUrlFragment",
    "EcpPublishingUrlFragment",
    "ExternalEcpUrl",
    "ExternalEcpVoicemailUrl",
    "ExternalEcpEmailSubscriptionsUrl",
    "ExternalEcpTextMessagingUrl",
    "ExternalEcpDeliveryReportUrl",
    "ExternalEcpRetentionPolicyTagsUrl",
    "ExternalEcpPublishingUrl",
    "ExternalEwsUrl",
    "ExternalOABUrl",
    "ExternalUMUrl",
    "ExternalWebClientUrls",
    "CrossOrganizationSharingEnabled",
    "AlternateMailboxes",
    "CasVersion",
    "EwsSupportedSchemas",
    "InternalPop3Connections",
    "ExternalPop3Connections",
    "InternalImap4Connections",
    "ExternalImap4Connections",
    "InternalSmtpConnections",
    "ExternalSmtpConnections",
    "InternalServerExclusiveConnect",
    "ExternalServerExclusiveConnect",
    "ExchangeRpcUrl",
    "ShowGalAsDefaultView",
    "AutoDiscoverSMTPAddress",
    "InteropExternalEwsUrl",
    "ExternalEwsVersion",
    "InteropExternalEwsVersion",
    "MobileMailboxPolicyInterop",
    "GroupingInformation",
    "UserMSOnline",
    "MapiHttpEnabled",
];

const XML_DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// `GET autodiscover.xml`: 401 without credentials (what clients probing candidates see); with them,
/// the POX "Invalid Request" error, as Exchange answers a GET.
pub async fn pox_get(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    Extension(challenges): Extension<Arc<ntlm::ChallengeTable>>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = prologue(&state, &cas, &challenges, &headers, Surface::Autodiscover) {
        return *response;
    }
    pox_protocol_error(600, "Invalid Request")
}

/// `POST autodiscover.xml`.
pub async fn pox_post(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    Extension(challenges): Extension<Arc<ntlm::ChallengeTable>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = prologue(&state, &cas, &challenges, &headers, Surface::Autodiscover) {
        return *response;
    }
    let Ok(root) = xml::parse(&body) else {
        return pox_protocol_error(600, "Invalid Request");
    };
    let Some(request) = root
        .is(POX_REQUEST_NS, "Autodiscover")
        .then(|| root.child(POX_REQUEST_NS, "Request"))
        .flatten()
    else {
        return pox_protocol_error(600, "Invalid Request");
    };
    let address = request
        .child_text(POX_REQUEST_NS, "EMailAddress")
        .unwrap_or("");
    let schema = request
        .child_text(POX_REQUEST_NS, "AcceptableResponseSchema")
        .unwrap_or(OUTLOOK_RESPONSE_NS);
    if schema != OUTLOOK_RESPONSE_NS {
        // Only the Outlook provider is installed in the lab (no mobilesync provider).
        return pox_protocol_error(601, "Provider is not available");
    }
    let redirect = state.faults().take_autodiscover_redirect();
    if let Some(url) = redirect {
        return pox_redirect(&url);
    }
    let org = state.org();
    let Some(mailbox) = find_mailbox_by_address(&org, address) else {
        return pox_outlook_error(500, "The e-mail address cannot be found.");
    };
    let body = pox_settings(&mailbox, &cas, &org);
    drop(org);
    super::xml_response(StatusCode::OK, "text/xml; charset=utf-8", body)
}

/// The POX answer that sends the client to another Autodiscover URL.
fn pox_redirect(url: &str) -> Response {
    let body = format!(
        r#"{XML_DECL}
<Autodiscover xmlns="{POX_RESPONSE_NS}">
  <Response xmlns="{OUTLOOK_RESPONSE_NS}">
    <Account>
      <Action>redirectUrl</Action>
      <RedirectUrl>{url}</RedirectUrl>
    </Account>
  </Response>
</Autodiscover>
"#,
        url = esc(url),
    );
    super::xml_response(StatusCode::OK, "text/xml; charset=utf-8", body)
}

fn pox_settings(mailbox: &MailboxInfo, cas: &ServingCas, org: &ExchangeOrg) -> String {
    let deployment = deployment_id(org);
    let domain = &org.domain;
    let base = &cas.base_url;
    let ews = format!("{base}/EWS/Exchange.asmx");
    let as_url = format!("{base}/Microsoft-Server-ActiveSync");
    let oab = format!("{base}/OAB/{deployment}/");
    let fqdn = &cas.fqdn;
    let ad = format!("dc01.{domain}");
    format!(
        r#"{XML_DECL}
<Autodiscover xmlns="{POX_RESPONSE_NS}">
  <Response xmlns="{OUTLOOK_RESPONSE_NS}">
    <User>
      <DisplayName>{display}</DisplayName>
      <LegacyDN>{legacy}</LegacyDN>
      <AutoDiscoverSMTPAddress>{smtp}</AutoDiscoverSMTPAddress>
      <DeploymentId>{deployment}</DeploymentId>
    </User>
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <MicrosoftOnline>False</MicrosoftOnline>
      <Protocol>
        <Type>EXCH</Type>
        <Server>{guid}@{domain}</Server>
        <ServerDN>/o={org}/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn={guid}@{domain}</ServerDN>
        <ServerVersion>73C2845E</ServerVersion>
        <AD>{ad}</AD>
        <ASUrl>{as_url}</ASUrl>
        <EwsUrl>{ews}</EwsUrl>
        <EmwsUrl>{ews}</EmwsUrl>
        <OOFUrl>{ews}</OOFUrl>
        <OABUrl>{oab}</OABUrl>
        <ServerExclusiveConnect>off</ServerExclusiveConnect>
      </Protocol>
      <Protocol>
        <Type>EXPR</Type>
        <Server>{fqdn}</Server>
        <SSL>On</SSL>
        <AuthPackage>Ntlm</AuthPackage>
        <ASUrl>{as_url}</ASUrl>
        <EwsUrl>{ews}</EwsUrl>
        <EmwsUrl>{ews}</EmwsUrl>
        <OOFUrl>{ews}</OOFUrl>
        <OABUrl>{oab}</OABUrl>
        <ServerExclusiveConnect>on</ServerExclusiveConnect>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>
"#,
        display = esc(&mailbox.display_name),
        legacy = esc(&mailbox.legacy_dn),
        smtp = esc(&mailbox.smtp),
        guid = esc(&mailbox.guid),
        org = esc(&org.name),
        domain = esc(domain),
        ad = esc(&ad),
        ews = esc(&ews),
        as_url = esc(&as_url),
        oab = esc(&oab),
        fqdn = esc(fqdn),
    )
}

fn error_time() -> String {
    let mut time = chrono::Utc::now().format("%H:%M:%S%.9f").to_string();
    // Exchange writes 100 ns ticks: seven decimals.
    time.truncate(time.len().saturating_sub(2));
    time
}

fn error_id() -> u32 {
    rand::random::<u32>() | 1
}

/// A provider-level error (`Response` in the Outlook namespace), e.g. 500 for an unknown address.
fn pox_outlook_error(code: u32, message: &str) -> Response {
    let body = format!(
        r#"{XML_DECL}
<Autodiscover xmlns="{POX_RESPONSE_NS}">
  <Response xmlns="{OUTLOOK_RESPONSE_NS}">
    <Error Time="{time}" Id="{id}">
      <ErrorCode>{code}</ErrorCode>
      <Message>{message}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
"#,
        time = error_time(),
        id = error_id(),
        message = esc(message),
    );
    super::xml_response(StatusCode::OK, "text/xml; charset=utf-8", body)
}

/// A protocol-level error (600 Invalid Request, 601 Provider is not available), in the base namespace.
fn pox_protocol_error(code: u32, message: &str) -> Response {
    let body = format!(
        r#"{XML_DECL}
<Autodiscover xmlns="{POX_RESPONSE_NS}">
  <Response>
    <Error Time="{time}" Id="{id}">
      <ErrorCode>{code}</ErrorCode>
      <Message>{message}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
"#,
        time = error_time(),
        id = error_id(),
        message = esc(message),
    );
    super::xml_response(StatusCode::OK, "text/xml; charset=utf-8", body)
}

/// `POST autodiscover.svc` (SOAP 1.1 or 1.2): `GetUserSettings`.
pub async fn soap_post(
    State(state): State<Arc<LabState>>,
    Extension(cas): Extension<ServingCas>,
    Extension(challenges): Extension<Arc<ntlm::ChallengeTable>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = prologue(&state, &cas, &challenges, &headers, Surface::Autodiscover) {
        return *response;
    }
    let Ok(root) = xml::parse(&body) else {
        return soap_fault(xml::SOAP11, "The request is not well-formed XML.");
    };
    let Some((soap, _header, body)) = xml::soap_body(&root) else {
        return soap_fault(xml::SOAP11, "The request is not a SOAP envelope.");
    };
    let Some(request) = body
        .child(SOAP_AUTODISCOVER_NS, "GetUserSettingsRequestMessage")
        .and_then(|m| m.child(SOAP_AUTODISCOVER_NS, "Request"))
    else {
        let what = body.children.first().map(|e| e.name.as_str()).unwrap_or("");
        return soap_fault(
            soap,
            &format!("The operation '{what}' is not supported by this lab."),
        );
    };
    let requested: Vec<String> = request
        .child(SOAP_AUTODISCOVER_NS, "RequestedSettings")
        .map(|s| {
            s.children_named(SOAP_AUTODISCOVER_NS, "Setting")
                .map(|e| e.text.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    let users: Vec<String> = request
        .child(SOAP_AUTODISCOVER_NS, "Users")
        .map(|u| {
            u.children_named(SOAP_AUTODISCOVER_NS, "User")
                .map(|e| {
                    e.child_text(SOAP_AUTODISCOVER_NS, "Mailbox")
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();

    let (top_code, top_message) = if users.is_empty() || requested.is_empty() {
        ("InvalidRequest", "The request is invalid.")
    } else {
        ("NoError", "")
    };
    let redirect = state.faults().take_autodiscover_redirect();
    let org = state.org();
    let mut responses = String::new();
    for user in &users {
        if let Some(url) = &redirect {
            let _ = write!(
                responses,
                r#"<UserResponse><ErrorCode>RedirectUrl</ErrorCode><ErrorMessage>Redirection URL.</ErrorMessage><RedirectTarget>{url}</RedirectTarget><UserSettingErrors/><UserSettings/></UserResponse>"#,
                url = esc(url)
            );
            continue;
        }
        match find_mailbox_by_address(&org, user) {
            Some(mailbox) => user_response_ok(
                &mut responses,
                &mailbox,
                &requested,
                &cas,
                &deployment_id(&org),
                &org.domain,
            ),
            None => {
                let _ = write!(
                    responses,
                    r#"<UserResponse><ErrorCode>InvalidUser</ErrorCode><ErrorMessage>Invalid user: '{user}'</ErrorMessage><RedirectTarget i:nil="true"/><UserSettingErrors/><UserSettings/></UserResponse>"#,
                    user = esc(user)
                );
            }
        }
    }
    drop(org);
    let (major, minor, build, revision) = super::EXCHANGE_BUILD;
    let body = format!(
        r#"{XML_DECL}<s:Envelope xmlns:s="{soap}" xmlns:a="{WSA_NS}"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse</a:Action><h:ServerVersionInfo xmlns:h="{SOAP_AUTODISCOVER_NS}" xmlns:i="{XSI_NS}"><h:MajorVersion>{major}</h:MajorVersion><h:MinorVersion>{minor}</h:MinorVersion><h:MajorBuildNumber>{build}</h:MajorBuildNumber><h:MinorBuildNumber>{revision}</h:MinorBuildNumber><h:Version>Exchange2015</h:Version></h:ServerVersionInfo></s:Header><s:Body><GetUserSettingsResponseMessage xmlns="{SOAP_AUTODISCOVER_NS}"><Response xmlns:i="{XSI_NS}"><ErrorCode>{top_code}</ErrorCode><ErrorMessage>{top_message}</ErrorMessage><UserResponses>{responses}</UserResponses></Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>"#
    );
    super::xml_response(StatusCode::OK, soap_content_type(soap), body)
}

fn soap_content_type(soap: &str) -> &'static str {
    if soap == xml::SOAP12 {
        "application/soap+xml; charset=utf-8"
    } else {
        "text/xml; charset=utf-8"
    }
}

/// The settings the lab can answer for a mailbox.
fn setting_value(
    name: &str,
    mailbox: &MailboxInfo,
    cas: &ServingCas,
    deployment: &str,
    domain: &str,
) -> Option<String> {
    let ews = format!("{}/EWS/Exchange.asmx", cas.base_url);
    Some(match name {
        "InternalEwsUrl" | "ExternalEwsUrl" => ews,
        "UserDisplayName" => mailbox.display_name.clone(),
        "UserDN" => mailbox.legacy_dn.clone(),
        "UserDeploymentId" => deployment.to_string(),
        "AutoDiscoverSMTPAddress" => mailbox.smtp.clone(),
        "ActiveDirectoryServer" => format!("dc01.{domain}"),
        "InternalMailboxServer" | "ExternalMailboxServer" => cas.fqdn.clone(),
        "InternalRpcClientServer" => cas.fqdn.clone(),
        "MailboxDN" => format!(
            "{}/cn=Configuration/cn=Servers/cn={}@{domain}/cn=Microsoft Private MDB",
            mailbox.legacy_dn.split("/cn=Recipients").next().unwrap_or(""),
            mailbox.guid
        ),
        "CasVersion" => {
            let (major, minor, build, revision) = super::EXCHANGE_BUILD;
            format!("{major}.{minor:02}.{build:04}.{revision:03}")
        }
        "EwsSupportedSchemas" => "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2016".into(),
        "ExternalMailboxServerRequiresSSL" => "True".into(),
        "ExternalMailboxServerAuthenticationMethods" => "Ntlm".into(),
        "InternalOABUrl" | "ExternalOABUrl" => format!("{}/OAB/{deployment}/", cas.base_url),
        "InternalEcpUrl" | "ExternalEcpUrl" => format!("{}/ecp/", cas.base_url),
        "InternalWebClientUrls" | "ExternalWebClientUrls" => format!("{}/owa/", cas.base_url),
        _ => return None,
    })
}

fn user_response_ok(
    out: &mut String,
    mailbox: &MailboxInfo,
    requested: &[String],
    cas: &ServingCas,
    deployment: &str,
    domain: &str,
) {
    let mut settings = String::new();
    let mut errors = String::new();
    for name in requested {
        match setting_value(name, mailbox, cas, deployment, domain) {
            Some(value) => {
                let _ = write!(
                    settings,
                    r#"<UserSetting i:type="StringSetting"><Name>{name}</Name><Value>{value}</Value></UserSetting>"#,
                    name = esc(name),
                    value = esc(&value)
                );
            }
            None => {
                let (code, message) = if USER_SETTING_NAMES.contains(&name.as_str()) {
                    (
                        "SettingIsNotAvailable",
                        "The requested setting is not available.",
                    )
                } else {
                    ("InvalidSetting", "The requested setting is invalid.")
                };
                let _ = write!(
                    errors,
                    r#"<UserSettingError><ErrorCode>{code}</ErrorCode><ErrorMessage>{message}</ErrorMessage><SettingName>{name}</SettingName></UserSettingError>"#,
                    name = esc(name)
                );
            }
        }
    }
    let _ = write!(
        out,
        r#"<UserResponse><ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage><RedirectTarget i:nil="true"/><UserSettingErrors>{errors}</UserSettingErrors><UserSettings>{settings}</UserSettings></UserResponse>"#
    );
}

/// A SOAP fault for a request the service cannot read (HTTP 500, as WCF answers).
fn soap_fault(soap: &str, message: &str) -> Response {
    let code = if soap == xml::SOAP12 {
        "<s:Code><s:Value>s:Sender</s:Value></s:Code>".to_string()
    } else {
        "<faultcode>s:Client</faultcode>".to_string()
    };
    let reason = if soap == xml::SOAP12 {
        format!(
            r#"<s:Reason><s:Text xml:lang="en-US">{}</s:Text></s:Reason>"#,
            esc(message)
        )
    } else {
        format!(
            r#"<faultstring xml:lang="en-US">{}</faultstring>"#,
            esc(message)
        )
    };
    let body = format!(
        r#"{XML_DECL}<s:Envelope xmlns:s="{soap}"><s:Body><s:Fault>{code}{reason}</s:Fault></s:Body></s:Envelope>"#
    );
    super::xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        soap_content_type(soap),
        body,
    )
}
