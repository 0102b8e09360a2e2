//! Property tests of every parser of outside input: the connector package `.zip`, the PFX, the
//! configuration XML, Autodiscover/EWS XML (the connector's reader and the lab's), Graph and REST JSON
//! pages and errors, the PowerShell bridge's JSON lines, and the OPATH filters and NTLM messages the lab
//! parses. Each gets random and mutated-valid input: it must never panic, and what it refuses it
//! refuses with its typed error. Case counts are modest so the suite stays fast.

use exchange_connector::bridge_protocol::{Reply, Request};
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::config::Config;
use exchange_connector::exchange::rest::{parse_error, read_page};
use exchange_connector::intune::read_page as read_graph_page;
use exchange_connector::lab::exchange::engine::DEVICE_PROPERTIES;
use exchange_connector::lab::exchange::opath;
use exchange_connector::model::intune::ManagedDevice;
use exchange_connector::notify::xml::elements;
use exchange_connector::package::{ConnectorPackage, FORMAT_VERSION, PackageManifest};
use exchange_connector::secret::Secret;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

const PFX_PASSWORD: &str = "pfx-pass";

/// A valid PFX and a valid package holding it, made once (key generation is the slow part).
fn valid() -> &'static (Vec<u8>, Vec<u8>) {
    static VALID: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    VALID.get_or_init(|| {
        let cert = ClientCertificate::generate("prop", 30).unwrap();
        let pfx = cert.to_pfx(&Secret::new(PFX_PASSWORD)).unwrap();
        let package = ConnectorPackage {
            manifest: PackageManifest {
                format_version: FORMAT_VERSION,
                tenant_id: "11111111-2222-3333-4444-555555555555".into(),
                tenant_name: Some("Contoso".into()),
                client_id: "66666666-7777-8888-9999-000000000000".into(),
                app_name: None,
                login_base: "https://login.microsoftonline.com".into(),
                graph_base: "https://graph.microsoft.com".into(),
                exchange_rest_base: None,
                certificate_password: Secret::new(PFX_PASSWORD),
            },
            certificate_pfx: pfx.clone(),
        };
        let mut zip = Cursor::new(Vec::new());
        package.write_to(&mut zip).unwrap();
        (pfx, zip.into_inner())
    })
}

/// Byte edits: (position, new byte) pairs and an optional cut, applied to a valid input.
fn edits() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        prop::option::of(any::<usize>()),
    )
}

fn mutate(valid: &[u8], (changes, cut): &(Vec<(usize, u8)>, Option<usize>)) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    for (at, byte) in changes {
        let len = bytes.len();
        if len > 0 {
            bytes[at % len] = *byte;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (valid.len() + 1));
    }
    bytes
}

/// Text made of XML pieces, so most inputs are almost-XML: nesting, namespaces, entities, CDATA,
/// comments, stray brackets and the connector's own element names.
fn xml_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        Just("<OnPremisesExchangeConnectorServiceConfiguration>"),
        Just("</OnPremisesExchangeConnectorServiceConfiguration>"),
        Just("<ExchangeServer>"),
        Just("</ExchangeServer>"),
        Just("<ProxyPort>"),
        Just("</ProxyPort>"),
        Just("<TenantId/>"),
        Just("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">"),
        Just("</s:Envelope>"),
        Just("<x:Body xmlns:x=\"urn:x\">"),
        Just("</x:Body>"),
        Just("<Protocol><Type>EXCH</Type><EwsUrl>"),
        Just("</EwsUrl></Protocol>"),
        Just("<ErrorCode>RedirectUrl</ErrorCode>"),
        Just("<a b='1' c=\"2\">"),
        Just("</a>"),
        Just("<undeclared:e>"),
        Just("<![CDATA[x<y]]>"),
        Just("<!-- note -->"),
        Just("&amp;"),
        Just("&#x41;"),
        Just("&#xFFFFFFFF;"),
        Just("&bogus;"),
        Just("cas01.contoso.com"),
        Just("8080"),
        Just("<"),
        Just(">"),
        Just("\""),
        Just("\u{feff}"),
        Just("é\u{0}"),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// JSON values with the keys Graph and REST pages use, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(json!("2026-01-01T00:00:00Z")),
        Just(json!("compliant")),
    ];
    let key = prop_oneof![
        Just("value"),
        Just("@odata.nextLink"),
        Just("@adminapi.warnings"),
        Just("id"),
        Just("deviceName"),
        Just("easDeviceId"),
        Just("complianceState"),
        Just("lastSyncDateTime"),
        Just("userPrincipalName"),
        Just("managementAgent"),
        Just("error"),
        Just("code"),
        Just("message"),
        Just("details"),
        Just("innererror"),
        Just("internalException"),
        Just("type"),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn package_zip_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), change in edits()) {
        prop_assert!(ConnectorPackage::from_reader(Cursor::new(bytes)).is_err());
        let (_, zip) = valid();
        let mutated = mutate(zip, &change);
        let result = ConnectorPackage::from_reader(Cursor::new(mutated.clone()));
        if mutated == *zip {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn pfx_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), change in edits(), password in "[ -~]{0,12}") {
        prop_assert!(ClientCertificate::from_pfx(&bytes, &Secret::new(password.clone())).is_err());
        let (pfx, _) = valid();
        let mutated = mutate(pfx, &change);
        let result = ClientCertificate::from_pfx(&mutated, &Secret::new(PFX_PASSWORD));
        if mutated == *pfx {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn configuration_xml_never_panics(text in xml_soup(), noise in "\\PC{0,40}") {
        let _ = Config::from_xml(&text, Path::new("c.xml"));
        let _ = Config::from_xml(&noise, Path::new("c.xml"));
    }

    #[test]
    fn autodiscover_and_ews_xml_never_panic(text in xml_soup(), noise in "\\PC{0,40}", depth in 0usize..200) {
        let _ = elements(&text);
        let _ = elements(&noise);
        let nested = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let read = elements(&nested);
        prop_assert_eq!(read.is_ok(), depth <= exchange_connector::notify::xml::MAX_DEPTH);
        let _ = exchange_connector::lab::ews::xml::parse(text.as_bytes());
        let _ = exchange_connector::lab::ews::xml::parse(noise.as_bytes());
    }

    #[test]
    fn graph_pages_never_panic(page in json_value(), text in "\\PC{0,60}") {
        let _ = read_graph_page::<ManagedDevice>("https://graph/x", &page.to_string());
        let wrapped = json!({ "value": [page.clone()] }).to_string();
        let read = read_graph_page::<Value>("https://graph/x", &wrapped);
        // Any JSON item of a well-formed page is read (floats may round differently: no equality).
        prop_assert_eq!(read.ok().map(|(items, _)| items.len()), Some(1));
        let _ = read_graph_page::<ManagedDevice>("https://graph/x", &text);
    }

    #[test]
    fn rest_pages_and_errors_never_panic(page in json_value(), status in 100u16..600, text in "\\PC{0,60}") {
        let body = page.to_string();
        let _ = read_page("Get-MobileDevice", &body);
        let _ = read_page("Get-MobileDevice", &text);
        let _ = parse_error("Get-MobileDevice", status, &body);
        let _ = parse_error("Get-MobileDevice", status, &text);
    }

    #[test]
    fn bridge_lines_never_panic(value in json_value(), op in prop_oneof![Just("open"), Just("invoke"), Just("close"), Just("opened"), Just("openFailed"), Just("record"), Just("error"), Just("end")], text in "\\PC{0,60}") {
        let mut line = value;
        if let Value::Object(map) = &mut line {
            map.insert("op".into(), json!(op));
        }
        let line = line.to_string();
        let _ = serde_json::from_str::<Reply>(&line);
        let _ = serde_json::from_str::<Request>(&line);
        let _ = serde_json::from_str::<Reply>(&text);
        let _ = serde_json::from_str::<Request>(&text);
    }

    #[test]
    fn opath_filters_never_panic(
        parts in prop::collection::vec(prop_oneof![
            Just("DeviceId"), Just("DeviceAccessState"), Just("FirstSyncTime"), Just("-eq"),
            Just("-ne"), Just("-like"), Just("-and"), Just("-or"), Just("-not"), Just("("),
            Just(")"), Just("{"), Just("}"), Just("'Allowed'"), Just("\"x*\""), Just("$true"),
            Just("$null"), Just("'2026-01-01'"), Just("'unterminated"), Just("''''"), Just(" "),
        ], 0..16),
        noise in "\\PC{0,40}",
    ) {
        let text = parts.join(" ");
        if let Ok(filter) = opath::parse(&text, DEVICE_PROPERTIES) {
            let _ = filter.matches(&|name: &str| match name {
                "FirstSyncTime" => opath::FieldValue::Null,
                "DeviceAccessState" => opath::FieldValue::Text("Allowed"),
                _ => opath::FieldValue::Text(""),
            });
        }
        let _ = opath::parse(&noise, DEVICE_PROPERTIES);
        let _ = opath::parse_date(&noise);
        let _ = opath::like(&noise, &text);
    }

    #[test]
    fn ntlm_messages_the_lab_reads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), header in any::<bool>()) {
        let mut message = bytes;
        if header {
            // Past the signature, so the field parsing is reached.
            let mut signed = b"NTLMSSP\0".to_vec();
            signed.extend_from_slice(&message);
            message = signed;
        }
        let _ = exchange_connector::lab::ews::ntlm::parse_negotiate(&message);
        let _ = exchange_connector::lab::ews::ntlm::parse_authenticate(&message);
        let _ = exchange_connector::lab::ews::ntlm::blob_timestamp(&message);
    }
}

/// The lab's Graph `$filter` parser is private to its request handler, so it is driven over HTTP:
/// every filter gets Graph's 200 or 400 answer, never a failed handler.
#[test]
fn graph_filters_the_lab_parses_get_an_answer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = runtime.block_on(crate::common::small_lab());
    let e = &lab.endpoints;
    let tokens = crate::common::secret_tokens(e);
    let token = runtime
        .block_on(tokens.token("https://graph.microsoft.com/.default"))
        .unwrap();
    let http = crate::common::client(&e.ca_cert_pem);
    let url = format!("{}/v1.0/deviceManagement/managedDevices", e.graph_base);
    let filter = prop::collection::vec(
        prop_oneof![
            Just("deviceName"),
            Just("complianceState"),
            Just("lastSyncDateTime"),
            Just("eq"),
            Just("ne"),
            Just("gt"),
            Just("and"),
            Just("or"),
            Just("not"),
            Just("startswith("),
            Just("contains("),
            Just(","),
            Just("("),
            Just(")"),
            Just("'compliant'"),
            Just("'it''s'"),
            Just("'open"),
            Just("2026-01-01T00:00:00Z"),
            Just("null"),
            Just("true"),
            Just("42"),
        ],
        0..12,
    )
    .prop_map(|parts| parts.join(" "));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&filter, |filter| {
        let status = runtime.block_on(async {
            http.get(&url)
                .query(&[("$filter", filter.as_str())])
                .bearer_auth(token.expose())
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        prop_assert!(matches!(status, Ok(200 | 400)), "{filter}: {status:?}");
        Ok(())
    });
    runtime.block_on(lab.shutdown());
    result.unwrap();
}
