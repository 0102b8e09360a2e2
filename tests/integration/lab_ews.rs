//! The lab's Autodiscover (POX and SOAP) and EWS over loopback HTTPS, with Basic and NTLM (the NTLM
//! client side is the independent `ntlmclient` crate, so the server is checked against someone else's
//! reading of MS-NLMP).

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{TestLab, client, small_lab};
use exchange_connector::lab::faults::{Storm, Surface};
use reqwest::StatusCode;

const NOTIFY: &str = "notify@contoso.lab";

fn outbox_len(lab: &TestLab) -> usize {
    lab.state.outbox.lock().unwrap().len()
}

fn notify_password(lab: &TestLab) -> String {
    lab.endpoints.notification_account.password.clone()
}

/// Runs the NTLM handshake (NEGOTIATE → CHALLENGE → AUTHENTICATE carrying the request) with the
/// `ntlmclient` crate and returns the final response.
async fn ntlm_post(
    http: &reqwest::Client,
    url: &str,
    user: &str,
    domain: &str,
    password: &str,
    body: &str,
) -> reqwest::Response {
    ntlm_post_as("NTLM", http, url, user, domain, password, body).await
}

/// The same with the scheme named explicitly (`NTLM`, or raw NTLM inside `Negotiate`).
async fn ntlm_post_as(
    scheme: &str,
    http: &reqwest::Client,
    url: &str,
    user: &str,
    domain: &str,
    password: &str,
    body: &str,
) -> reqwest::Response {
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE
        | ntlmclient::Flags::REQUEST_TARGET
        | ntlmclient::Flags::NEGOTIATE_NTLM
        | ntlmclient::Flags::NEGOTIATE_WORKSTATION_SUPPLIED;
    let negotiate = ntlmclient::Message::Negotiate(ntlmclient::NegotiateMessage {
        flags,
        supplied_domain: String::new(),
        supplied_workstation: "TESTHOST".into(),
        os_version: Default::default(),
    });
    let first = http
        .post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "Authorization",
            format!("{scheme} {}", B64.encode(negotiate.to_bytes().unwrap())),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let header = first
        .headers()
        .get("www-authenticate")
        .expect("challenge header")
        .to_str()
        .unwrap()
        .to_string();
    let token = header
        .strip_prefix(&format!("{scheme} "))
        .expect("NTLM challenge");
    let bytes = B64.decode(token).unwrap();
    let ntlmclient::Message::Challenge(challenge) =
        ntlmclient::Message::try_from(bytes.as_slice()).unwrap()
    else {
        panic!("not a challenge message");
    };
    assert!(
        challenge
            .flags
            .contains(ntlmclient::Flags::NEGOTIATE_TARGET_INFO)
    );
    assert_eq!(challenge.target_name, "CONTOSO");
    let target_info: Vec<u8> = challenge
        .target_information
        .iter()
        .flat_map(|e| e.to_bytes())
        .collect();
    let creds = ntlmclient::Credentials {
        username: user.into(),
        password: password.into(),
        domain: domain.into(),
    };
    let response = ntlmclient::respond_challenge_ntlm_v2(
        challenge.challenge,
        &target_info,
        ntlmclient::get_ntlm_time(),
        &creds,
    );
    let auth = response.to_message(
        &creds,
        "TESTHOST",
        ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM,
    );
    http.post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "Authorization",
            format!("{scheme} {}", B64.encode(auth.to_bytes().unwrap())),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn pox_request(address: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#
    )
}

fn soap_request(addresses: &[&str], settings: &[&str]) -> String {
    let users: String = addresses
        .iter()
        .map(|a| format!("<a:User><a:Mailbox>{a}</a:Mailbox></a:User>"))
        .collect();
    let settings: String = settings
        .iter()
        .map(|s| format!("<a:Setting>{s}</a:Setting>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
   xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover"
   xmlns:wsa="http://www.w3.org/2005/08/addressing">
 <soap:Header>
  <a:RequestedServerVersion>Exchange2010</a:RequestedServerVersion>
  <wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>
  <wsa:To>https://autodiscover.contoso.lab/autodiscover/autodiscover.svc</wsa:To>
 </soap:Header>
 <soap:Body><a:GetUserSettingsRequestMessage><a:Request>
   <a:Users>{users}</a:Users>
   <a:RequestedSettings>{settings}</a:RequestedSettings>
 </a:Request></a:GetUserSettingsRequestMessage></soap:Body>
</soap:Envelope>"#
    )
}

fn create_item(disposition: &str, recipients: &[&str], subject: &str, body: &str) -> String {
    let to: String = recipients
        .iter()
        .map(|r| format!("<typ:Mailbox><typ:EmailAddress>{r}</typ:EmailAddress></typ:Mailbox>"))
        .collect();
    let to = if recipients.is_empty() {
        String::new()
    } else {
        format!("<typ:ToRecipients>{to}</typ:ToRecipients>")
    };
    // Unusual prefixes on purpose: the server must match namespaces, not prefixes.
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:typ="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:mes="http://schemas.microsoft.com/exchange/services/2006/messages">
 <soapenv:Header><typ:RequestServerVersion Version="Exchange2010_SP2"/></soapenv:Header>
 <soapenv:Body>
  <mes:CreateItem MessageDisposition="{disposition}">
   <mes:SavedItemFolderId><typ:DistinguishedFolderId Id="sentitems"/></mes:SavedItemFolderId>
   <mes:Items><typ:Message>
     <typ:Subject>{subject}</typ:Subject>
     <typ:Body BodyType="HTML">{body}</typ:Body>
     {to}
   </typ:Message></mes:Items>
  </mes:CreateItem>
 </soapenv:Body>
</soapenv:Envelope>"#
    )
}

#[tokio::test]
async fn unauthenticated_requests_get_401_offering_ntlm_and_basic() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    for response in [
        http.get(&lab.endpoints.autodiscover_url)
            .send()
            .await
            .unwrap(),
        http.post(&lab.endpoints.autodiscover_url)
            .body(pox_request(NOTIFY))
            .send()
            .await
            .unwrap(),
        http.post(&lab.endpoints.autodiscover_svc_url)
            .body(soap_request(&[NOTIFY], &["InternalEwsUrl"]))
            .send()
            .await
            .unwrap(),
        http.post(&lab.endpoints.ews_url)
            .body(create_item("SendOnly", &["heidi@contoso.lab"], "x", "y"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let offered: Vec<String> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(offered.iter().any(|v| v == "NTLM"), "{offered:?}");
        assert!(
            offered
                .iter()
                .any(|v| v.starts_with("Basic realm=\"cas01.contoso.lab\"")),
            "{offered:?}"
        );
    }
    assert_eq!(outbox_len(&lab), 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn pox_autodiscover_answers_the_ews_url_of_the_serving_cas() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let response = http
        .post(&lab.endpoints.autodiscover_url)
        .basic_auth("CONTOSO\\notify", Some(notify_password(&lab)))
        .header("Content-Type", "text/xml")
        .body(pox_request(NOTIFY))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains(
        r#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">"#
    ));
    assert!(text.contains(
        r#"<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">"#
    ));
    assert!(text.contains("<AutoDiscoverSMTPAddress>notify@contoso.lab</AutoDiscoverSMTPAddress>"));
    assert!(text.contains("<DisplayName>Intune Notifications</DisplayName>"));
    assert!(text.contains("<Type>EXCH</Type>") && text.contains("<Type>EXPR</Type>"));
    assert!(text.contains("<AccountType>email</AccountType>"));
    assert!(text.contains("<Action>settings</Action>"));
    let ews = format!("<EwsUrl>{}</EwsUrl>", lab.endpoints.ews_url);
    assert!(text.contains(&ews), "{text}");

    // The same request on another CAS names that CAS's EWS.
    let cas2 = &lab.endpoints.cas_servers[1];
    let text = http
        .post(format!("{}/Autodiscover/Autodiscover.xml", cas2.base_url))
        .basic_auth("notify@contoso.lab", Some(notify_password(&lab)))
        .body(pox_request(NOTIFY))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(&format!(
        "<EwsUrl>{}/EWS/Exchange.asmx</EwsUrl>",
        cas2.base_url
    )));

    // Unknown address: ErrorCode 500 inside the Outlook response.
    let text = http
        .post(&lab.endpoints.autodiscover_url)
        .basic_auth("CONTOSO\\notify", Some(notify_password(&lab)))
        .body(pox_request("nobody@contoso.lab"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("<ErrorCode>500</ErrorCode>"), "{text}");
    assert!(text.contains("The e-mail address cannot be found."));
    assert!(!text.contains("<EwsUrl>"));
    lab.shutdown().await;
}

#[tokio::test]
async fn pox_autodiscover_over_ntlm() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let response = ntlm_post(
        &http,
        &lab.endpoints.autodiscover_url,
        "notify",
        "CONTOSO",
        &notify_password(&lab),
        &pox_request(NOTIFY),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains(&format!("<EwsUrl>{}</EwsUrl>", lab.endpoints.ews_url)));
    lab.shutdown().await;
}

#[tokio::test]
async fn soap_autodiscover_get_user_settings() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let response = http
        .post(&lab.endpoints.autodiscover_svc_url)
        .basic_auth("CONTOSO\\notify", Some(notify_password(&lab)))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(soap_request(
            &[NOTIFY, "ghost@contoso.lab"],
            &[
                "InternalEwsUrl",
                "ExternalEwsUrl",
                "UserDisplayName",
                "NoSuchSetting",
                "InternalUMUrl",
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/xml; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let ews = &lab.endpoints.ews_url;
    assert!(text.contains(r#"<GetUserSettingsResponseMessage xmlns="http://schemas.microsoft.com/exchange/2010/Autodiscover">"#));
    assert!(text.contains(r#"xmlns:i="http://www.w3.org/2001/XMLSchema-instance""#));
    assert!(text.contains(&format!(
        r#"<UserSetting i:type="StringSetting"><Name>InternalEwsUrl</Name><Value>{ews}</Value></UserSetting>"#
    )));
    assert!(text.contains(&format!(
        r#"<UserSetting i:type="StringSetting"><Name>ExternalEwsUrl</Name><Value>{ews}</Value></UserSetting>"#
    )));
    assert!(text.contains("<Value>Intune Notifications</Value>"));
    assert!(text.contains("<SettingName>NoSuchSetting</SettingName>"));
    // Top level fine; first user fine with one unknown and one unavailable setting; second user
    // invalid.
    let codes: Vec<&str> = text
        .split("<ErrorCode>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "NoError",
            "NoError",
            "InvalidSetting",
            "SettingIsNotAvailable",
            "InvalidUser"
        ]
    );

    // Wrong password: 401.
    let response = http
        .post(&lab.endpoints.autodiscover_svc_url)
        .basic_auth("CONTOSO\\notify", Some("wrong"))
        .body(soap_request(&[NOTIFY], &["InternalEwsUrl"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    lab.shutdown().await;
}

#[tokio::test]
async fn create_item_send_and_save_copy_lands_in_the_outbox_over_ntlm() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let before = lab
        .state
        .counters
        .ews_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let response = ntlm_post(
        &http,
        &lab.endpoints.ews_url,
        "notify",
        "CONTOSO",
        &notify_password(&lab),
        &create_item(
            "SendAndSaveCopy",
            &["heidi@contoso.lab", "grace@contoso.lab"],
            "Action required: enrol your device &amp; more",
            "&lt;p&gt;&lt;a href=\"https://portal.manage.microsoft.com/\"&gt;Get started&lt;/a&gt;&lt;/p&gt;",
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"<m:CreateItemResponseMessage ResponseClass="Success">"#),
        "{text}"
    );
    assert!(text.contains("<m:ResponseCode>NoError</m:ResponseCode><m:Items/>"));
    assert!(text.contains("ServerVersionInfo"));
    let outbox = lab.state.outbox.lock().unwrap().clone();
    assert_eq!(outbox.len(), 1);
    let sent = &outbox[0];
    assert_eq!(sent.from, NOTIFY);
    assert_eq!(sent.to, ["heidi@contoso.lab", "grace@contoso.lab"]);
    assert_eq!(sent.subject, "Action required: enrol your device & more");
    assert_eq!(
        sent.body,
        r#"<p><a href="https://portal.manage.microsoft.com/">Get started</a></p>"#
    );
    assert_eq!(sent.body_type, "HTML");
    assert_eq!(sent.disposition, "SendAndSaveCopy");
    // Two requests: the NEGOTIATE and the AUTHENTICATE.
    let after = lab
        .state
        .counters
        .ews_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 2);

    // The UPN as user name, no domain, works too.
    let response = ntlm_post(
        &http,
        &lab.endpoints.ews_url,
        NOTIFY,
        "",
        &notify_password(&lab),
        &create_item("SendOnly", &["heidi@contoso.lab"], "second", "b"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outbox_len(&lab), 2);

    // Raw NTLM inside `Negotiate` (what Windows clients send when offered Negotiate) works too.
    let response = ntlm_post_as(
        "Negotiate",
        &http,
        &lab.endpoints.ews_url,
        "notify",
        "contoso",
        &notify_password(&lab),
        &create_item("SendOnly", &["heidi@contoso.lab"], "third", "c"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outbox_len(&lab), 3);
    lab.shutdown().await;
}

#[tokio::test]
async fn ntlm_with_a_wrong_password_is_refused() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let response = ntlm_post(
        &http,
        &lab.endpoints.ews_url,
        "notify",
        "CONTOSO",
        "not-the-password",
        &create_item("SendAndSaveCopy", &["heidi@contoso.lab"], "s", "b"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(outbox_len(&lab), 0);
    // An unknown user too.
    let response = ntlm_post(
        &http,
        &lab.endpoints.ews_url,
        "mallory",
        "CONTOSO",
        "whatever",
        &create_item("SendAndSaveCopy", &["heidi@contoso.lab"], "s", "b"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(outbox_len(&lab), 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn a_type3_answers_its_challenge_once() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    // A replayed AUTHENTICATE must not work: do a handshake, then resend the same type 3.
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM;
    let negotiate = ntlmclient::Message::Negotiate(ntlmclient::NegotiateMessage {
        flags,
        supplied_domain: String::new(),
        supplied_workstation: String::new(),
        os_version: Default::default(),
    });
    let first = http
        .post(&lab.endpoints.ews_url)
        .header(
            "Authorization",
            format!("NTLM {}", B64.encode(negotiate.to_bytes().unwrap())),
        )
        .send()
        .await
        .unwrap();
    let token = first.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .strip_prefix("NTLM ")
        .unwrap()
        .to_string();
    let ntlmclient::Message::Challenge(challenge) =
        ntlmclient::Message::try_from(B64.decode(token).unwrap().as_slice()).unwrap()
    else {
        panic!()
    };
    let info: Vec<u8> = challenge
        .target_information
        .iter()
        .flat_map(|e| e.to_bytes())
        .collect();
    let creds = ntlmclient::Credentials {
        username: "notify".into(),
        password: notify_password(&lab),
        domain: "CONTOSO".into(),
    };
    let auth = ntlmclient::respond_challenge_ntlm_v2(
        challenge.challenge,
        &info,
        ntlmclient::get_ntlm_time(),
        &creds,
    )
    .to_message(&creds, "", flags);
    let header = format!("NTLM {}", B64.encode(auth.to_bytes().unwrap()));
    let body = create_item("SendOnly", &["heidi@contoso.lab"], "once", "b");
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let response = http
            .post(&lab.endpoints.ews_url)
            .header("Authorization", &header)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    assert_eq!(outbox_len(&lab), 1);
    lab.shutdown().await;
}

#[tokio::test]
async fn basic_auth_right_and_wrong_password() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let body = create_item("SendOnly", &["heidi@contoso.lab"], "Hello", "Plain");
    let response = http
        .post(&lab.endpoints.ews_url)
        .basic_auth("CONTOSO\\notify", Some("wrong"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(outbox_len(&lab), 0);
    let response = http
        .post(&lab.endpoints.ews_url)
        .basic_auth("CONTOSO\\notify", Some(notify_password(&lab)))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let outbox = lab.state.outbox.lock().unwrap().clone();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].disposition, "SendOnly");
    lab.shutdown().await;
}

async fn basic_ews(lab: &TestLab, body: String) -> (StatusCode, String) {
    let response = client(&lab.endpoints.ca_cert_pem)
        .post(&lab.endpoints.ews_url)
        .basic_auth("CONTOSO\\notify", Some(notify_password(lab)))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn create_item_errors_use_the_real_response_codes() {
    let lab = small_lab().await;

    let (status, text) = basic_ews(&lab, create_item("SendAndSaveCopy", &[], "s", "b")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(r#"ResponseClass="Error""#), "{text}");
    assert!(text.contains("<m:ResponseCode>ErrorInvalidRecipients</m:ResponseCode>"));
    assert!(text.contains("<m:MessageText>"));

    let (status, text) =
        basic_ews(&lab, create_item("SendOnly", &["not an address"], "s", "b")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("<m:ResponseCode>ErrorInvalidSmtpAddress</m:ResponseCode>"),
        "{text}"
    );

    let (status, text) = basic_ews(&lab, "<soap:Envelope><broken".into()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("<s:Fault>"));
    assert!(text.contains("ErrorSchemaValidation"), "{text}");

    let bad_version = create_item("SendOnly", &["heidi@contoso.lab"], "s", "b")
        .replace("Exchange2010_SP2", "Exchange1999");
    let (status, text) = basic_ews(&lab, bad_version).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("ErrorInvalidServerVersion"), "{text}");

    let unknown = create_item("SendOnly", &["heidi@contoso.lab"], "s", "b")
        .replace("mes:CreateItem", "mes:FrobnicateItem");
    let (status, text) = basic_ews(&lab, unknown).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("ErrorInvalidRequest"), "{text}");

    // SaveOnly: a draft with an ItemId, nothing sent.
    let (status, text) = basic_ews(
        &lab,
        create_item("SaveOnly", &["heidi@contoso.lab"], "s", "b"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("<t:ItemId Id="), "{text}");

    // An account without a mailbox cannot send.
    let response = client(&lab.endpoints.ca_cert_pem)
        .post(&lab.endpoints.ews_url)
        .basic_auth("CONTOSO\\svc-eas", Some("Lab-Service-Pass-1"))
        .body(create_item("SendOnly", &["heidi@contoso.lab"], "s", "b"))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains("ErrorMissingEmailAddress"), "{text}");

    assert_eq!(outbox_len(&lab), 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn storms_answer_before_authentication() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    lab.state.faults().storms.push(Storm {
        surface: Surface::Ews,
        status: 500,
        remaining: 1,
        retry_after_seconds: 2,
    });
    lab.state.faults().storms.push(Storm {
        surface: Surface::Autodiscover,
        status: 503,
        remaining: 1,
        retry_after_seconds: 7,
    });
    let (status, text) = basic_ews(
        &lab,
        create_item("SendOnly", &["heidi@contoso.lab"], "s", "b"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("ErrorServerBusy"));
    assert!(text.contains(r#"<t:Value Name="BackOffMilliseconds">2000</t:Value>"#));
    let response = http
        .get(&lab.endpoints.autodiscover_url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "7");
    // Storms over: back to normal.
    let (status, _) = basic_ews(
        &lab,
        create_item("SendOnly", &["heidi@contoso.lab"], "s", "b"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    lab.shutdown().await;
}

#[tokio::test]
async fn autodiscover_protocol_errors_and_soap_12() {
    let lab = small_lab().await;
    let http = client(&lab.endpoints.ca_cert_pem);
    let password = notify_password(&lab);
    let pox = |body: String| {
        http.post(&lab.endpoints.autodiscover_url)
            .basic_auth("CONTOSO\\notify", Some(password.clone()))
            .body(body)
            .send()
    };
    let text = pox("<Autodiscover><Request>".into())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("<ErrorCode>600</ErrorCode>"), "{text}");
    let mobilesync = pox_request(NOTIFY).replace(
        "outlook/responseschema/2006a",
        "mobilesync/responseschema/2006",
    );
    let text = pox(mobilesync).await.unwrap().text().await.unwrap();
    assert!(text.contains("<ErrorCode>601</ErrorCode>"), "{text}");
    // An authenticated GET is an invalid request, as on Exchange.
    let text = http
        .get(&lab.endpoints.autodiscover_url)
        .basic_auth("CONTOSO\\notify", Some(password.clone()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("<ErrorCode>600</ErrorCode>"), "{text}");

    let soap = |body: String| {
        http.post(&lab.endpoints.autodiscover_svc_url)
            .basic_auth("CONTOSO\\notify", Some(password.clone()))
            .body(body)
            .send()
    };
    let response = soap("<s:Envelope".into()).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().await.unwrap().contains("Fault"));

    // SOAP 1.2 (the EWS Managed API's choice) is answered in SOAP 1.2.
    let request = soap_request(&[NOTIFY], &["ExternalEwsUrl"]).replace(
        "http://schemas.xmlsoap.org/soap/envelope/",
        "http://www.w3.org/2003/05/soap-envelope",
    );
    let response = soap(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/soap+xml; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope""#));
    assert!(text.contains(&format!("<Value>{}</Value>", lab.endpoints.ews_url)));
    lab.shutdown().await;
}
