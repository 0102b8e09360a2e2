//! The notifier against the lab: Autodiscover through each candidate kind (SOAP and POX), EWS
//! `CreateItem` with NTLM and with Basic, the mail in the outbox in the configured language.

use crate::common;

use axum::response::IntoResponse;
use common::{TestLab, small_lab};
use exchange_connector::lab::faults::AutodiscoverRedirect;
use exchange_connector::notify::auth::http1_client;
use exchange_connector::notify::autodiscover::{
    CandidateKind, RedirectPolicy, discover, discover_with,
};
use exchange_connector::notify::ews::{EwsError, send_mail};
use exchange_connector::notify::xml::{MAX_BODY_BYTES, MAX_DEPTH, XmlError};
use exchange_connector::notify::{
    AuthScheme, EwsRoute, Language, MailRoute, MailboxCredential, Notifier, NotifierConfig,
    NotifyError,
};
use exchange_connector::secret::Secret;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn cas_addr(lab: &TestLab, index: usize) -> SocketAddr {
    let port: u16 = lab.endpoints.cas_servers[index]
        .base_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    ([127, 0, 0, 1], port).into()
}

/// A client whose DNS sends the given names to the given lab addresses (as an organisation's DNS
/// would send them to its Client Access servers).
fn client(lab: &TestLab, names: &[(&str, SocketAddr)]) -> reqwest::Client {
    let mut builder =
        exchange_connector::tls::http_client_builder(Some(Path::new(&lab.endpoints.ca_cert_pem)))
            .unwrap();
    for (name, addr) in names {
        builder = builder.resolve(name, *addr);
    }
    http1_client(builder).unwrap()
}

fn credential(lab: &TestLab, scheme: AuthScheme) -> MailboxCredential {
    MailboxCredential {
        user: lab.endpoints.notification_account.address.clone(),
        password: Secret::new(lab.endpoints.notification_account.password.clone()),
        scheme,
    }
}

#[tokio::test]
async fn autodiscover_finds_ews_at_the_domain_root_then_at_the_autodiscover_host() {
    let lab = small_lab().await;
    let address = lab.endpoints.notification_account.address.clone();
    for scheme in [AuthScheme::Ntlm, AuthScheme::Basic] {
        let at_root = client(&lab, &[("contoso.lab", cas_addr(&lab, 0))]);
        let found = discover(&at_root, &address, &credential(&lab, scheme))
            .await
            .unwrap();
        assert_eq!(found.kind, CandidateKind::DomainRoot);
        assert!(found.ews_url.ends_with("/EWS/Exchange.asmx"), "{found:?}");
        assert!(
            found.via.ends_with("autodiscover.svc"),
            "SOAP is tried first: {found:?}"
        );
    }
    // Only autodiscover.<domain> resolves: the second candidate answers.
    let at_host = client(&lab, &[("autodiscover.contoso.lab", cas_addr(&lab, 1))]);
    let found = discover(&at_host, &address, &credential(&lab, AuthScheme::Ntlm))
        .await
        .unwrap();
    assert_eq!(found.kind, CandidateKind::AutodiscoverHost);
    assert!(
        found
            .ews_url
            .contains(&lab.endpoints.cas_servers[1].base_url),
        "{found:?}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn autodiscover_follows_the_http_redirect_to_https_only() {
    let lab = small_lab().await;
    // The organisation's plain-HTTP autodiscover host redirects to a CAS over HTTPS.
    let target = format!(
        "https://cas01.contoso.lab:{}/autodiscover/autodiscover.xml",
        cas_addr(&lab, 0).port()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = listener.local_addr().unwrap();
    let redirect = axum::Router::new().route(
        "/autodiscover/autodiscover.xml",
        axum::routing::get(move || {
            let target = target.clone();
            async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, target)],
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, redirect).await.ok() });
    let c = client(
        &lab,
        &[
            ("autodiscover.contoso.lab", http_addr),
            ("cas01.contoso.lab", cas_addr(&lab, 0)),
        ],
    );
    let found = discover(
        &c,
        &lab.endpoints.notification_account.address,
        &credential(&lab, AuthScheme::Ntlm),
    )
    .await
    .unwrap();
    assert_eq!(found.kind, CandidateKind::HttpRedirect);
    assert!(
        found.via.ends_with("autodiscover.xml"),
        "POX at the redirect target: {found:?}"
    );
    assert!(found.ews_url.ends_with("/EWS/Exchange.asmx"));
    lab.shutdown().await;
}

#[tokio::test]
async fn autodiscover_failure_lists_every_attempt_and_how_to_fix_it() {
    let lab = small_lab().await;
    // Nothing resolves: every candidate fails.
    let c = client(&lab, &[]);
    let err = discover(
        &c,
        "notify@contoso.lab",
        &credential(&lab, AuthScheme::Ntlm),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("https://contoso.lab/autodiscover/autodiscover.svc"),
        "{text}"
    );
    assert!(
        text.contains("https://autodiscover.contoso.lab/autodiscover/autodiscover.xml"),
        "{text}"
    );
    assert!(text.contains("ExchangeWebServiceURL"), "{text}");
    lab.shutdown().await;
}

async fn notifier(
    lab: &TestLab,
    scheme: AuthScheme,
    language: Language,
    ews_url: Option<String>,
) -> Notifier {
    Notifier::new(
        client(lab, &[("contoso.lab", cas_addr(lab, 0))]),
        NotifierConfig {
            mailbox: lab.endpoints.notification_account.address.clone(),
            route: MailRoute::Ews(EwsRoute {
                credential: credential(lab, scheme),
                ews_url,
                autodiscover_redirect_hosts: Vec::new(),
            }),
            language,
            template: None,
            enrol_link: "https://portal.manage.microsoft.com/".into(),
        },
    )
}

#[tokio::test]
async fn a_notification_lands_in_the_outbox_with_ntlm_and_with_basic() {
    let lab = small_lab().await;
    for (scheme, language, marker) in [
        (AuthScheme::Ntlm, Language::En, "Get started"),
        (AuthScheme::Basic, Language::Fr, "Commencer"),
    ] {
        let n = notifier(&lab, scheme, language, None).await;
        n.notify_device("dave@contoso.lab", "Dave de Vries", "Dave's iPhone")
            .await
            .unwrap();
        let outbox = lab.state.outbox.lock().unwrap().clone();
        let sent = outbox.last().unwrap();
        assert_eq!(sent.to, vec!["dave@contoso.lab".to_string()]);
        assert_eq!(sent.from.to_ascii_lowercase(), "notify@contoso.lab");
        assert_eq!(sent.disposition, "SendAndSaveCopy");
        assert!(sent.subject.contains("Dave's iPhone"), "{}", sent.subject);
        assert!(
            sent.body.contains(marker)
                && sent.body.contains("https://portal.manage.microsoft.com/"),
            "{}",
            sent.body
        );
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn a_configured_ews_url_skips_autodiscover_and_wrong_passwords_are_named() {
    let lab = small_lab().await;
    let ews = lab.endpoints.ews_url.clone();
    let n = notifier(&lab, AuthScheme::Ntlm, Language::Nl, Some(ews.clone())).await;
    assert_eq!(n.ews_url().await.unwrap(), ews);
    n.notify_device("bob@contoso.lab", "Bob", "Galaxy")
        .await
        .unwrap();
    assert!(
        lab.state
            .outbox
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .body
            .contains("Aan de slag")
    );

    for scheme in [AuthScheme::Ntlm, AuthScheme::Basic] {
        let bad = Notifier::new(
            client(&lab, &[]),
            NotifierConfig {
                mailbox: "notify@contoso.lab".into(),
                route: MailRoute::Ews(EwsRoute {
                    credential: MailboxCredential {
                        user: "notify@contoso.lab".into(),
                        password: Secret::new("wrong"),
                        scheme,
                    },
                    ews_url: Some(ews.clone()),
                    autodiscover_redirect_hosts: Vec::new(),
                }),
                language: Language::En,
                template: None,
                enrol_link: "https://portal.manage.microsoft.com/".into(),
            },
        );
        let err = bad
            .notify_device("bob@contoso.lab", "Bob", "Galaxy")
            .await
            .unwrap_err();
        assert!(matches!(err, NotifyError::Ews(_)), "{err}");
        assert!(
            err.to_string()
                .contains("refused the notification account's credentials"),
            "{err}"
        );
        assert!(
            !err.to_string().contains("wrong"),
            "no password in the message: {err}"
        );
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn an_invalid_recipient_is_reported_with_ews_code() {
    let lab = small_lab().await;
    let n = notifier(
        &lab,
        AuthScheme::Basic,
        Language::En,
        Some(lab.endpoints.ews_url.clone()),
    )
    .await;
    let err = n
        .notify_device("not an address", "X", "Y")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ErrorInvalid"), "{err}");
    assert!(!err.is_transient());
    lab.shutdown().await;
}

/// A TCP listener that counts the connections made to it and answers none.
async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (addr, count)
}

fn redirect_autodiscover(lab: &TestLab, url: String, remaining: u32) {
    lab.state.faults().autodiscover_redirect = Some(AutodiscoverRedirect { url, remaining });
}

#[tokio::test]
async fn autodiscover_refuses_a_redirect_to_a_host_outside_the_domain() {
    let lab = small_lab().await;
    let (foreign, connections) = counting_listener().await;
    let c = client(
        &lab,
        &[
            ("contoso.lab", cas_addr(&lab, 0)),
            ("autodiscover.fabrikam.example", foreign),
        ],
    );
    // Both candidates at the domain root (SOAP, then POX) are sent to the foreign host.
    redirect_autodiscover(
        &lab,
        format!(
            "https://autodiscover.fabrikam.example:{}/autodiscover/autodiscover.svc",
            foreign.port()
        ),
        2,
    );
    let address = lab.endpoints.notification_account.address.clone();
    let err = discover(&c, &address, &credential(&lab, AuthScheme::Basic))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refused a redirect: autodiscover.fabrikam.example is outside contoso.lab")
            && text.contains("AutodiscoverRedirectHosts"),
        "{text}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing, least of all the credentials, went to the foreign host"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn autodiscover_follows_redirects_within_the_domain_and_to_listed_hosts() {
    let lab = small_lab().await;
    let address = lab.endpoints.notification_account.address.clone();
    let cas0 = cas_addr(&lab, 0);
    let c = client(
        &lab,
        &[
            ("contoso.lab", cas_addr(&lab, 1)),
            ("cas01.contoso.lab", cas0),
        ],
    );
    let found_after = |url: &str, allowed_hosts: &[&str]| {
        redirect_autodiscover(&lab, url.to_string(), 1);
        let policy = RedirectPolicy {
            allowed_hosts: allowed_hosts.iter().map(|h| h.to_string()).collect(),
        };
        let (c, address, credential) = (&c, &address, credential(&lab, AuthScheme::Ntlm));
        async move {
            discover_with(c, address, &credential, &policy)
                .await
                .unwrap()
        }
    };
    // A host under the mailbox's domain: followed.
    let inside = format!(
        "https://cas01.contoso.lab:{}/autodiscover/autodiscover.svc",
        cas0.port()
    );
    let found = found_after(&inside, &[]).await;
    assert_eq!(found.kind, CandidateKind::Redirected);
    assert_eq!(found.via, inside);
    // An address outside the domain: not followed by default (the next candidate answers) ...
    let outside = format!(
        "https://127.0.0.1:{}/autodiscover/autodiscover.svc",
        cas0.port()
    );
    let found = found_after(&outside, &[]).await;
    assert_eq!(found.kind, CandidateKind::DomainRoot);
    assert!(found.via.ends_with("autodiscover.xml"), "{found:?}");
    // ... but followed when the admin listed the host.
    let found = found_after(&outside, &["127.0.0.1"]).await;
    assert_eq!(found.kind, CandidateKind::Redirected);
    assert_eq!(found.via, outside);
    lab.shutdown().await;
}

/// A plain-HTTP stand-in for EWS: records each request's `Authorization` and answers per path —
/// `/open` without asking for credentials, `/guarded` with a Basic challenge first, `/huge` with a
/// body past the limit, `/deep` with XML nested past the limit.
async fn recording_ews() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    use axum::http::{HeaderMap, StatusCode, header};
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = seen.clone();
    let ok = r#"<Envelope><Body><CreateItemResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode></CreateItemResponseMessage></Body></Envelope>"#;
    let app = axum::Router::new().route(
        "/{kind}",
        axum::routing::post(
            move |axum::extract::Path(kind): axum::extract::Path<String>, headers: HeaderMap| {
                let record = record.clone();
                async move {
                    let authorization = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    record.lock().unwrap().push(authorization.clone());
                    match kind.as_str() {
                        "guarded" if authorization.is_none() => (
                            StatusCode::UNAUTHORIZED,
                            [(header::WWW_AUTHENTICATE, "Basic realm=\"ews\"")],
                            String::new(),
                        )
                            .into_response(),
                        "huge" => "x".repeat(2 * 1024 * 1024).into_response(),
                        "deep" => "<a>".repeat(200).into_response(),
                        _ => ok.to_string().into_response(),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (base, seen)
}

/// Sends a mail with Basic credentials to `<base>/<path>` of [`recording_ews`].
async fn send_basic(base: &str, path: &str) -> Result<(), EwsError> {
    let c = http1_client(exchange_connector::tls::http_client_builder(None).unwrap()).unwrap();
    let credential = MailboxCredential {
        user: "notify@contoso.lab".into(),
        password: Secret::new("pa55"),
        scheme: AuthScheme::Basic,
    };
    send_mail(
        &c,
        &format!("{base}/{path}"),
        &credential,
        "a@contoso.lab",
        "s",
        "b",
    )
    .await
}

#[tokio::test]
async fn basic_credentials_go_only_to_a_server_that_asks() {
    let (base, seen) = recording_ews().await;
    send_basic(&base, "open").await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None],
        "no challenge, no credentials"
    );
    seen.lock().unwrap().clear();
    send_basic(&base, "guarded").await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], None, "the first request carries no credentials");
    assert!(seen[1].as_deref().is_some_and(|a| a.starts_with("Basic ")));
}

#[tokio::test]
async fn oversized_and_too_deep_answers_are_typed_errors() {
    let (base, _) = recording_ews().await;
    for (path, expected) in [
        (
            "huge",
            XmlError::TooLarge {
                max: MAX_BODY_BYTES,
            },
        ),
        ("deep", XmlError::TooDeep { max: MAX_DEPTH }),
    ] {
        let err = send_basic(&base, path).await.unwrap_err();
        match err {
            EwsError::Unreadable { source, .. } => assert_eq!(source, expected, "{path}"),
            other => panic!("{path}: {other}"),
        }
    }
}
