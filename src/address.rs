//! Host names and proxy addresses as the settings spell them: shape checks with no I/O. It sits below
//! `settings` (which validates with it), `config` (which combines `ProxyHost` and `ProxyPort`) and
//! `proxy` (which builds clients), so none of those three needs another above it.

use std::fmt;

use crate::coded;
use crate::text_code::TextCode;

/// Why a proxy address (`ProxyHost`, `ProxyPort`, `ProxyEnabled`) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyAddressError {
    /// The address is not a host, host:port or http(s) URL.
    BadAddress {
        /// What was configured.
        input: String,
        /// What is wrong (coded, so the setup GUI can translate it).
        reason: TextCode,
    },
    /// No port anywhere.
    NoPort {
        /// What was configured.
        input: String,
    },
    /// ProxyHost and ProxyPort disagree.
    PortConflict {
        /// What was configured.
        input: String,
        /// Port in the address.
        in_host: u16,
        /// ProxyPort.
        in_setting: u16,
    },
    /// Credentials written into the address.
    CredentialsInAddress {
        /// What was configured (credentials elided).
        input: String,
    },
    /// ProxyEnabled without ProxyHost.
    NoHost,
}

impl std::error::Error for ProxyAddressError {}

impl fmt::Display for ProxyAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The reason in brackets reads better in one English line than the GUI's joined parts.
            ProxyAddressError::BadAddress { input, reason } => write!(
                f,
                "'{input}' is not a proxy address ({reason}); use host:port or http://host:port (for example proxy.contoso.com:8080)"
            ),
            other => f.write_str(&other.text().english),
        }
    }
}

impl ProxyAddressError {
    /// The message as coded sentences, for the setup GUI to show in the admin's language
    /// (`Display` stays the English the CLI prints).
    pub fn text(&self) -> TextCode {
        match self {
            ProxyAddressError::BadAddress { input, reason } => TextCode::joined(vec![
                coded!(
                    "ad_proxy_not_address",
                    "'{input}' is not a proxy address",
                    input = input
                ),
                reason.clone(),
                coded!(
                    "ad_proxy_use_form",
                    "use host:port or http://host:port (for example proxy.contoso.com:8080)"
                ),
            ]),
            ProxyAddressError::NoPort { input } => coded!(
                "ad_proxy_no_port",
                "'{input}' names no port; add :PORT to ProxyHost or set ProxyPort",
                input = input
            ),
            ProxyAddressError::PortConflict {
                input,
                in_host,
                in_setting,
            } => coded!(
                "ad_proxy_port_conflict",
                "ProxyHost '{input}' says port {in_host} but ProxyPort says {in_setting}; remove one of them",
                input = input,
                in_host = in_host,
                in_setting = in_setting
            ),
            ProxyAddressError::CredentialsInAddress { input } => coded!(
                "ad_proxy_credentials",
                "'{input}' contains a user name or password; put the user in ProxyUser and the password in the secret store (ProxyPassword)",
                input = input
            ),
            ProxyAddressError::NoHost => coded!(
                "ad_proxy_no_host",
                "ProxyEnabled is true but ProxyHost is empty; set ProxyHost or set ProxyEnabled to false"
            ),
        }
    }
}

/// Checks a DNS name or IP address; the error is coded so the setup GUI can translate it (its
/// `Display` is the English).
pub fn check_host(v: &str) -> Result<&str, TextCode> {
    if v.parse::<std::net::IpAddr>().is_ok() {
        return Ok(v);
    }
    if v.contains("://") || v.contains('/') {
        return Err(coded!(
            "ad_host_is_url",
            "'{value}' is a URL; give only the server's name (for example cas01.contoso.com)",
            value = v
        ));
    }
    if v.contains(':') {
        return Err(coded!(
            "ad_host_has_port",
            "'{value}' has a port; give only the server's name (for example cas01.contoso.com)",
            value = v
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if v.len() > 253 || !v.trim_end_matches('.').split('.').all(label_ok) {
        return Err(coded!(
            "ad_host_invalid",
            "'{value}' is not a valid host name; use letters, digits, '-' and dots (for example cas01.contoso.com)",
            value = v
        ));
    }
    Ok(v)
}

/// `http` or `https` to the proxy itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyScheme {
    /// Plain HTTP to the proxy (the usual case; HTTPS targets are tunnelled with CONNECT).
    Http,
    /// TLS to the proxy.
    Https,
}

/// A normalised proxy address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    /// Scheme to the proxy.
    pub scheme: ProxyScheme,
    /// Host: lower-case name, IPv4, or IPv6 without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl fmt::Display for ProxySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

impl ProxySpec {
    /// Parses a configured address; `port` is ProxyPort, used when the address has none.
    pub fn parse(input: &str, port: Option<u16>) -> Result<ProxySpec, ProxyAddressError> {
        let raw = input.trim();
        let bad = |reason: TextCode| ProxyAddressError::BadAddress {
            input: raw.to_string(),
            reason,
        };
        if raw.is_empty() {
            return Err(bad(coded!("ad_proxy_empty", "it is empty")));
        }
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, rest)) => match s.to_ascii_lowercase().as_str() {
                "http" => (ProxyScheme::Http, rest),
                "https" => (ProxyScheme::Https, rest),
                other => {
                    return Err(bad(coded!(
                        "ad_proxy_scheme",
                        "scheme '{scheme}' is not supported",
                        scheme = other
                    )));
                }
            },
            None => (ProxyScheme::Http, raw),
        };
        // A trailing "/" is harmless; a path is a mistake (a PAC URL, perhaps).
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') {
            return Err(bad(coded!(
                "ad_proxy_path",
                "a proxy address has no path (PAC files are not supported)"
            )));
        }
        if rest.contains('@') {
            return Err(ProxyAddressError::CredentialsInAddress {
                input: format!("{}…", raw.split('@').next_back().unwrap_or_default()),
            });
        }
        let (host, port_in_host) = split_host_port(rest).map_err(bad)?;
        let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            host.to_ascii_lowercase()
        } else {
            check_host(host)
                .map_err(|_| {
                    bad(coded!(
                        "ad_proxy_host_invalid",
                        "the host name is not valid"
                    ))
                })?
                .to_ascii_lowercase()
        };
        let port = match (port_in_host, port) {
            (Some(a), Some(b)) if a != b => {
                return Err(ProxyAddressError::PortConflict {
                    input: raw.to_string(),
                    in_host: a,
                    in_setting: b,
                });
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                return Err(ProxyAddressError::NoPort {
                    input: raw.to_string(),
                });
            }
        };
        Ok(ProxySpec { scheme, host, port })
    }

    /// The normalised URL, e.g. `http://proxy.contoso.com:8080` or `http://[::1]:8080`.
    pub fn url(&self) -> String {
        let scheme = match self.scheme {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority())
    }

    /// `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), TextCode> {
    let parse_port = |p: &str| {
        p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            coded!(
                "ad_proxy_port",
                "'{value}' is not a port from 1 to 65535",
                value = p
            )
        })
    };
    if let Some(inner) = s.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| coded!("ad_proxy_bracket", "'[' without ']'"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(coded!(
                "ad_proxy_not_ipv6",
                "'{value}' is not an IPv6 address",
                value = host
            ));
        }
        return match after {
            "" => Ok((host, None)),
            p => match p.strip_prefix(':') {
                Some(p) => Ok((host, Some(parse_port(p)?))),
                None => Err(coded!(
                    "ad_proxy_after_bracket",
                    "unexpected text after ']'"
                )),
            },
        };
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((s, None));
    }
    match s.rsplit_once(':') {
        Some((host, p)) => {
            if host.contains(':') {
                return Err(coded!(
                    "ad_proxy_ipv6_brackets",
                    "write an IPv6 address in brackets, e.g. [::1]:8080"
                ));
            }
            Ok((host, Some(parse_port(p)?)))
        }
        None => Ok((s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(input: &str, port: Option<u16>) -> String {
        ProxySpec::parse(input, port).unwrap().url()
    }

    #[test]
    fn spellings_normalise_to_one_url() {
        assert_eq!(
            url("proxy.contoso.com:8080", None),
            "http://proxy.contoso.com:8080"
        );
        assert_eq!(
            url("PROXY.contoso.com", Some(3128)),
            "http://proxy.contoso.com:3128"
        );
        assert_eq!(url("http://proxy:8080/", None), "http://proxy:8080");
        assert_eq!(url("HTTPS://proxy:443", None), "https://proxy:443");
        assert_eq!(url("[::1]:8080", None), "http://[::1]:8080");
        assert_eq!(url("::1", Some(8080)), "http://[::1]:8080");
        assert_eq!(url("http://[::1]:8080", Some(8080)), "http://[::1]:8080");
        assert_eq!(url("10.0.0.5:80", None), "http://10.0.0.5:80");
    }

    #[test]
    fn mistakes_are_named() {
        let e = |i: &str, p| ProxySpec::parse(i, p).unwrap_err().to_string();
        assert!(e("proxy.contoso.com", None).contains("names no port"));
        assert!(e("proxy:8080", Some(3128)).contains("remove one of them"));
        assert!(e("http://bob:pw@proxy:8080", None).contains("ProxyUser"));
        assert!(!e("http://bob:pw@proxy:8080", None).contains("pw"));
        assert!(e("socks5://proxy:1080", None).contains("not supported"));
        assert!(e("http://wpad/proxy.pac", None).contains("PAC"));
        assert!(e("proxy:99999", None).contains("not a port"));
        // A bare "::1:8080" is itself an IPv6 address, so it has no port: brackets are needed.
        assert!(e("::1:8080", None).contains("names no port"));
        assert!(e("[::1]8080", None).contains("after ']'"));
        assert!(e("fe80::1x:80", None).contains("brackets"));
    }
}
