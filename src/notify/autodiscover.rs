//! Finding the EWS URL of the notification mailbox with Autodiscover, in the candidate order of spec
//! §10.1: `https://<domain>/autodiscover/autodiscover.svc|.xml`, then
//! `https://autodiscover.<domain>/...`, then the unauthenticated `http://autodiscover.<domain>` GET that
//! may redirect (302, HTTPS only) to the real endpoint. SOAP (`GetUserSettings`) is tried before POX at
//! each place; redirections to another address or URL are followed, at most ten times.
//!
//! Credentials follow redirects, so a redirect is followed only to an `https://` URL whose host is in
//! the mailbox's domain (the domain itself or a name under it) or one the admin listed in
//! `AutodiscoverRedirectHosts` ([`RedirectPolicy`]); an address redirect likewise only to such a
//! domain. Anything else is refused and listed in the error. Answers are read bounded
//! ([`super::xml::MAX_BODY_BYTES`], [`super::xml::MAX_DEPTH`]).
//!
//! Not done: the Active Directory SCP lookup (needs LDAP to a domain controller) and the DNS SRV record
//! `_autodiscover._tcp.<domain>`; set `ExchangeWebServiceURL` where those are what an organisation
//! relies on.

use super::auth::{self, AuthError, MailboxCredential};
use super::template::escape_html;
use super::xml::{elements, first_text, read_body};
use reqwest::header::HeaderMap;

/// Which kind of candidate answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CandidateKind {
    /// `https://<domain>/autodiscover/...`.
    DomainRoot,
    /// `https://autodiscover.<domain>/autodiscover/...`.
    AutodiscoverHost,
    /// The redirect from `http://autodiscover.<domain>/autodiscover/autodiscover.xml`.
    HttpRedirect,
    /// A URL another Autodiscover answer pointed to.
    Redirected,
}

/// SOAP or POX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AutodiscoverProtocol {
    /// `autodiscover.svc`, `GetUserSettings`.
    Soap,
    /// `autodiscover.xml`, the 2006 schema.
    Pox,
}

/// Where the EWS URL came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Discovered {
    /// The EWS URL.
    pub ews_url: String,
    /// The Autodiscover URL that answered.
    pub via: String,
    /// Its kind.
    pub kind: CandidateKind,
    /// SOAP or POX.
    pub protocol: AutodiscoverProtocol,
}

/// Every candidate failed.
#[derive(Debug, thiserror::Error)]
#[error("Autodiscover found no EWS URL for {address}. Tried: {}. Check that autodiscover.{domain} (or {domain}) resolves to a Client Access server and answers over HTTPS, or set ExchangeWebServiceURL (e.g. https://mail.{domain}/EWS/Exchange.asmx).", .attempts.join("; "))]
pub struct AutodiscoverError {
    /// The mailbox.
    pub address: String,
    /// Its domain.
    pub domain: String,
    /// Each URL tried and why it failed.
    pub attempts: Vec<String>,
}

/// Where Autodiscover may send the connector (and its credentials) next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Hosts outside the mailbox's domain that are allowed too (each with the names under it).
    pub allowed_hosts: Vec<String>,
}

impl RedirectPolicy {
    /// Whether `host` is `domain` or under it, or an allowed host or under one.
    pub fn allows_host(&self, host: &str, domain: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let within = |zone: &str| {
            let zone = zone.trim().trim_end_matches('.').to_ascii_lowercase();
            !zone.is_empty()
                && (host == zone
                    || host
                        .strip_suffix(&zone)
                        .is_some_and(|rest| rest.ends_with('.')))
        };
        within(domain) || self.allowed_hosts.iter().any(|h| within(h))
    }

    /// `Ok` when a redirect to `url` may be followed for a mailbox of `domain`; else why not.
    pub fn check_url(&self, url: &str, domain: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL ({e})"))?;
        if parsed.scheme() != "https" {
            return Err(format!(
                "{url} is not HTTPS (ignored, as Exchange clients must)"
            ));
        }
        match parsed.host_str() {
            Some(host) if self.allows_host(host.trim_matches(['[', ']']), domain) => Ok(()),
            Some(host) => Err(format!(
                "{host} is outside {domain}; add it to AutodiscoverRedirectHosts if the organisation really uses it"
            )),
            None => Err(format!("{url} names no host")),
        }
    }
}

enum Step {
    Found(String),
    RedirectAddress(String),
    RedirectUrl(String),
    Failed(String),
}

/// Finds the EWS URL of `address`, following redirects within the mailbox's domain only.
pub async fn discover(
    client: &reqwest::Client,
    address: &str,
    credential: &MailboxCredential,
) -> Result<Discovered, AutodiscoverError> {
    discover_with(client, address, credential, &RedirectPolicy::default()).await
}

/// Finds the EWS URL of `address`, following redirects that `redirects` allows.
pub async fn discover_with(
    client: &reqwest::Client,
    address: &str,
    credential: &MailboxCredential,
    redirects: &RedirectPolicy,
) -> Result<Discovered, AutodiscoverError> {
    let mut address = address.trim().to_string();
    let mut attempts = Vec::new();
    let original_domain = domain_of(&address).unwrap_or_default();
    for _hop in 0..10 {
        let Some(domain) = domain_of(&address) else {
            break;
        };
        let mut candidates: Vec<(String, CandidateKind)> = Vec::new();
        for (host, kind) in [
            (domain.clone(), CandidateKind::DomainRoot),
            (
                format!("autodiscover.{domain}"),
                CandidateKind::AutodiscoverHost,
            ),
        ] {
            candidates.push((
                format!("https://{host}/autodiscover/autodiscover.svc"),
                kind,
            ));
            candidates.push((
                format!("https://{host}/autodiscover/autodiscover.xml"),
                kind,
            ));
        }
        let mut redirected_address = None;
        let mut queue: std::collections::VecDeque<(String, CandidateKind)> = candidates.into();
        let mut http_probe_done = false;
        let mut tried = std::collections::HashSet::new();
        loop {
            let Some((url, kind)) = queue.pop_front() else {
                if http_probe_done {
                    break;
                }
                http_probe_done = true;
                match http_redirect(client, &domain).await.and_then(|target| {
                    redirects
                        .check_url(&target, &original_domain)
                        .map(|()| target)
                }) {
                    Ok(target) => {
                        queue.push_back((target, CandidateKind::HttpRedirect));
                        continue;
                    }
                    Err(why) => {
                        attempts.push(format!("http://autodiscover.{domain}: {why}"));
                        break;
                    }
                }
            };
            if !tried.insert(url.to_ascii_lowercase()) {
                continue;
            }
            let protocol = if url.to_ascii_lowercase().ends_with(".svc") {
                AutodiscoverProtocol::Soap
            } else {
                AutodiscoverProtocol::Pox
            };
            let step = match protocol {
                AutodiscoverProtocol::Soap => soap(client, &url, &address, credential).await,
                AutodiscoverProtocol::Pox => pox(client, &url, &address, credential).await,
            };
            match step {
                Step::Found(ews_url) => {
                    return Ok(Discovered {
                        ews_url,
                        via: url,
                        kind,
                        protocol,
                    });
                }
                Step::RedirectUrl(next) => match redirects.check_url(&next, &original_domain) {
                    Ok(()) => queue.push_front((next, CandidateKind::Redirected)),
                    Err(why) => attempts.push(format!("{url}: refused a redirect: {why}")),
                },
                Step::RedirectAddress(next) if next.eq_ignore_ascii_case(&address) => {
                    attempts.push(format!("{url}: redirected to the same address"))
                }
                Step::RedirectAddress(next) => {
                    let allowed = domain_of(&next)
                        .is_some_and(|d| redirects.allows_host(&d, &original_domain));
                    if allowed {
                        redirected_address = Some(next);
                        break;
                    }
                    attempts.push(format!(
                        "{url}: refused a redirect to the address {next}, outside {original_domain}; add its domain to AutodiscoverRedirectHosts if the organisation really uses it"
                    ));
                }
                Step::Failed(why) => attempts.push(format!("{url}: {why}")),
            }
        }
        match redirected_address {
            Some(next) => address = next,
            None => break,
        }
    }
    Err(AutodiscoverError {
        address,
        domain: original_domain,
        attempts,
    })
}

fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

async fn http_redirect(client: &reqwest::Client, domain: &str) -> Result<String, String> {
    let url = format!("http://autodiscover.{domain}/autodiscover/autodiscover.xml");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| crate::error_text::chain(&e))?;
    let status = response.status().as_u16();
    if status != 302 && status != 301 {
        return Err(format!("answered HTTP {status}, not a redirect"));
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("a redirect without Location")?;
    // Whether the target may be followed is the caller's `RedirectPolicy` check.
    Ok(location.to_string())
}

fn auth_failure(e: AuthError) -> Step {
    Step::Failed(e.to_string())
}

async fn pox(
    client: &reqwest::Client,
    url: &str,
    address: &str,
    credential: &MailboxCredential,
) -> Step {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>{}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"#,
        escape_html(address)
    );
    let elements = match exchange(client, url, &body, &HeaderMap::new(), credential).await {
        Ok(elements) => elements,
        Err(step) => return step,
    };
    if let Some(error) = elements
        .iter()
        .find(|e| e.name == "Message" && e.within("Error"))
    {
        let code = first_text(&elements, "ErrorCode").unwrap_or("");
        return Step::Failed(format!("Autodiscover error {code}: {}", error.text));
    }
    match first_text(&elements, "Action") {
        Some("redirectAddr") => {
            if let Some(next) = first_text(&elements, "RedirectAddr") {
                return Step::RedirectAddress(next.to_string());
            }
        }
        Some("redirectUrl") => {
            if let Some(next) = first_text(&elements, "RedirectUrl") {
                return Step::RedirectUrl(next.to_string());
            }
        }
        _ => {}
    }
    // Protocol blocks: take EXCH (internal) first, then EXPR / EXHTTP (external).
    let mut current_type = String::new();
    let mut internal = None;
    let mut external = None;
    for element in &elements {
        // Elements close before their parent, so a Protocol's children come before the Protocol.
        match element.name.as_str() {
            "Type" if element.within("Protocol") => current_type = element.text.clone(),
            "EwsUrl" if element.within("Protocol") => match current_type.as_str() {
                "EXCH" => internal = internal.or(Some(element.text.clone())),
                _ => external = external.or(Some(element.text.clone())),
            },
            "Protocol" => current_type.clear(),
            _ => {}
        }
    }
    match internal.or(external) {
        Some(url) if !url.is_empty() => Step::Found(url),
        _ => Step::Failed("the answer has no EwsUrl".into()),
    }
}

async fn soap(
    client: &reqwest::Client,
    url: &str,
    address: &str,
    credential: &MailboxCredential,
) -> Step {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover" xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header><a:RequestedServerVersion>Exchange2010</a:RequestedServerVersion><wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action><wsa:To>{to}</wsa:To></soap:Header><soap:Body><a:GetUserSettingsRequestMessage><a:Request><a:Users><a:User><a:Mailbox>{mailbox}</a:Mailbox></a:User></a:Users><a:RequestedSettings><a:Setting>InternalEwsUrl</a:Setting><a:Setting>ExternalEwsUrl</a:Setting></a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage></soap:Body></soap:Envelope>"#,
        to = escape_html(url),
        mailbox = escape_html(address)
    );
    let mut headers = HeaderMap::new();
    if let Ok(value) =
        "\"http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings\""
            .parse()
    {
        headers.insert("SOAPAction", value);
    }
    let elements = match exchange(client, url, &body, &headers, credential).await {
        Ok(elements) => elements,
        Err(step) => return step,
    };
    // Per-user error code wins over the response's, which is NoError when the request itself was fine.
    let user_error = elements
        .iter()
        .find(|e| e.name == "ErrorCode" && e.within("UserResponse"))
        .map(|e| e.text.clone());
    let top_error = elements
        .iter()
        .find(|e| e.name == "ErrorCode" && !e.within("UserResponse"))
        .map(|e| e.text.clone());
    let code = user_error.or(top_error).unwrap_or_else(|| "NoError".into());
    let redirect_target = elements
        .iter()
        .find(|e| e.name == "RedirectTarget")
        .map(|e| e.text.clone())
        .unwrap_or_default();
    match code.as_str() {
        "NoError" => {}
        "RedirectAddress" if !redirect_target.is_empty() => {
            return Step::RedirectAddress(redirect_target);
        }
        "RedirectUrl" if !redirect_target.is_empty() => return Step::RedirectUrl(redirect_target),
        other => {
            let message = elements
                .iter()
                .find(|e| e.name == "ErrorMessage" && !e.text.is_empty())
                .map(|e| e.text.clone())
                .unwrap_or_default();
            return Step::Failed(format!("{other} {message}").trim().to_string());
        }
    }
    let mut settings = std::collections::HashMap::new();
    let mut name = String::new();
    for element in &elements {
        if element.within("UserSetting") {
            match element.name.as_str() {
                "Name" => name = element.text.clone(),
                "Value" => {
                    settings.insert(name.clone(), element.text.clone());
                }
                _ => {}
            }
        }
    }
    match settings
        .get("InternalEwsUrl")
        .or_else(|| settings.get("ExternalEwsUrl"))
        .filter(|u| !u.is_empty())
    {
        Some(url) => Step::Found(url.clone()),
        None => Step::Failed("GetUserSettings returned no EWS URL".into()),
    }
}

/// Posts an Autodiscover request and reads the XML answer; anything else is the step to take instead.
async fn exchange(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    headers: &HeaderMap,
    credential: &MailboxCredential,
) -> Result<Vec<super::xml::Element>, Step> {
    let response = auth::post(
        client,
        url,
        "text/xml; charset=utf-8",
        body,
        headers,
        credential,
    )
    .await
    .map_err(auth_failure)?;
    let status = response.status().as_u16();
    if let Some(location) = redirect_location(&response) {
        return Err(Step::RedirectUrl(location));
    }
    if status != 200 {
        return Err(Step::Failed(format!("HTTP {status}")));
    }
    let text = read_body(response)
        .await
        .map_err(|e| Step::Failed(e.to_string()))?;
    elements(&text).map_err(|e| Step::Failed(format!("the answer cannot be read: {e}")))
}

fn redirect_location(response: &reqwest::Response) -> Option<String> {
    if !matches!(response.status().as_u16(), 301 | 302 | 307 | 308) {
        return None;
    }
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
