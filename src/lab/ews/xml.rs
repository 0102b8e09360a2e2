//! A small namespace-aware element tree over quick-xml, enough for SOAP and POX requests: clients
//! choose their own prefixes (`soap:`, `s:`, `soapenv:`; `t:`, `typ:` ...), so elements are matched
//! by namespace URI and local name, never by prefix.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use std::borrow::Cow;

/// SOAP 1.1 envelope namespace.
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace.
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// Deepest nesting accepted (requests are shallow; this bounds the stack for hostile input).
const MAX_DEPTH: usize = 128;

/// An element: namespace URI, local name, attributes, children and the text directly inside it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Namespace URI (empty when none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes: (namespace URI, local name, value). Namespace declarations are left out.
    pub attrs: Vec<(String, String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Text and CDATA directly inside, entities resolved, untrimmed.
    pub text: String,
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// First child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child `{ns}name`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// First child with this local name, whatever its namespace.
    pub fn child_local(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Trimmed text of the first child `{ns}name`.
    pub fn child_text(&self, ns: &str, name: &str) -> Option<&str> {
        self.child(ns, name).map(|c| c.text.trim())
    }

    /// An unqualified attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, local, _)| ns.is_empty() && local == name)
            .map(|(_, _, v)| v.as_str())
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(pub String);

fn err(e: impl std::fmt::Display) -> XmlError {
    XmlError(e.to_string())
}

fn ns_of(res: ResolveResult<'_>) -> Result<String, XmlError> {
    match res {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(prefix) => Err(XmlError(format!(
            "undeclared namespace prefix '{}'",
            String::from_utf8_lossy(&prefix)
        ))),
    }
}

/// Parses a whole document into its root element. Fails on anything that is not well-formed.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|_| XmlError("not UTF-8".into()))?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (res, event) = reader.read_resolved_event().map_err(err)?;
        let ns = match &event {
            Event::Start(_) | Event::Empty(_) => ns_of(res)?,
            _ => String::new(),
        };
        if matches!(event, Event::Start(_) | Event::Empty(_)) && root.is_some() && stack.is_empty()
        {
            return Err(XmlError("more than one root element".into()));
        }
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError("nested too deeply".into()));
                }
                let element = element_of(&reader, ns, &e)?;
                stack.push(element);
            }
            Event::Empty(e) => {
                let element = element_of(&reader, ns, &e)?;
                attach(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| XmlError("unbalanced end".into()))?;
                attach(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let content = t.xml10_content().map_err(err)?;
                push_text(&mut stack, &content)?;
            }
            Event::CData(c) => {
                let content = c.decode().map_err(err)?;
                push_text(&mut stack, &content)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = if r.is_char_ref() {
                    let c = r
                        .resolve_char_ref()
                        .map_err(err)?
                        .ok_or_else(|| XmlError("bad character reference".into()))?;
                    Cow::Owned(c.to_string())
                } else {
                    let name = r.decode().map_err(err)?;
                    Cow::Borrowed(
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError(format!("unknown entity '{name}'")))?,
                    )
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::DocType(_) => return Err(XmlError("DTDs are not accepted".into())),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("unexpected end of document".into()));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn element_of(
    reader: &NsReader<&[u8]>,
    ns: String,
    e: &quick_xml::events::BytesStart<'_>,
) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(e.local_name().as_ref())
        .map_err(err)?
        .to_string();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(err)?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let (res, local) = reader.resolve_attribute(key);
        let ans = ns_of(res)?;
        let local = std::str::from_utf8(local.as_ref())
            .map_err(err)?
            .to_string();
        let value = attr.unescape_value().map_err(err)?.into_owned();
        attrs.push((ans, local, value));
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(top) => top.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(XmlError("text outside the root element".into())),
    }
    Ok(())
}

/// Escapes text for element content or a double-quoted attribute.
pub fn esc(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The SOAP body's first element, and which SOAP version the envelope uses.
pub fn soap_body(envelope: &Element) -> Option<(&'static str, Option<&Element>, &Element)> {
    let version = [SOAP11, SOAP12]
        .into_iter()
        .find(|v| envelope.is(v, "Envelope"))?;
    let header = envelope.child(version, "Header");
    let body = envelope.child(version, "Body")?;
    Some((version, header, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_do_not_matter_and_entities_resolve() {
        let doc = br#"<?xml version="1.0"?><x:Envelope xmlns:x="http://schemas.xmlsoap.org/soap/envelope/"
            xmlns:typ="urn:t"><x:Body><typ:Body BodyType="HTML">&lt;p&gt;a &amp; b&#33;</typ:Body><typ:E/></x:Body></x:Envelope>"#;
        let root = parse(doc).unwrap();
        let (v, _, body) = soap_body(&root).unwrap();
        assert_eq!(v, SOAP11);
        let b = body.child("urn:t", "Body").unwrap();
        assert_eq!(b.text, "<p>a & b!");
        assert_eq!(b.attr("BodyType"), Some("HTML"));
        assert!(body.child("urn:t", "E").is_some());
    }

    #[test]
    fn malformed_documents_fail() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"<p:a/>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<a/><b/>").is_err());
    }
}
