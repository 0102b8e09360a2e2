//! Just enough XML reading for Autodiscover and EWS answers: element text by local name, whatever
//! prefixes the server chose. The answers come from servers the connector was pointed to, so the
//! reading is bounded: bodies are read up to [`MAX_BODY_BYTES`] ([`read_body`]), elements nest at most
//! [`MAX_DEPTH`] deep, and each element shares its ancestors' chain instead of copying it.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::sync::Arc;

/// The largest Autodiscover or EWS answer read (real ones are a few kilobytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The deepest element nesting accepted (real answers nest fewer than 15 deep).
pub const MAX_DEPTH: usize = 64;

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("not valid XML at byte {position}: {reason}")]
    Malformed {
        /// Where the reader stopped.
        position: u64,
        /// What was wrong.
        reason: String,
    },
    /// Elements nested deeper than [`MAX_DEPTH`].
    #[error(
        "the XML nests elements more than {max} deep, which no Autodiscover or EWS answer does"
    )]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// An answer larger than [`MAX_BODY_BYTES`].
    #[error("the answer is larger than {max} bytes, which no Autodiscover or EWS answer is")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// The document stops inside an element.
    #[error("the XML document ends before its elements are closed")]
    Unclosed,
    /// The answer could not be read from the network.
    #[error("the answer could not be read: {0}")]
    Transport(String),
}

/// One open ancestor: its local name and its own parent, shared by every descendant.
#[derive(Debug)]
struct Ancestor {
    name: String,
    parent: Option<Arc<Ancestor>>,
}

/// One element met while reading: its local name, attributes and direct text.
#[derive(Debug, Clone, Default)]
pub struct Element {
    /// Local name (no prefix).
    pub name: String,
    /// Attributes by local name.
    pub attributes: Vec<(String, String)>,
    /// Text directly inside it.
    pub text: String,
    parent: Option<Arc<Ancestor>>,
}

impl Element {
    /// An attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Local names of the open ancestors, innermost first.
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(self.parent.as_deref(), |a| a.parent.as_deref())
            .map(|a| a.name.as_str())
    }

    /// Whether an ancestor has this local name.
    pub fn within(&self, name: &str) -> bool {
        self.ancestors().any(|a| a == name)
    }
}

/// Reads an answer's body as text, refusing one larger than [`MAX_BODY_BYTES`] without reading on.
pub async fn read_body(mut response: reqwest::Response) -> Result<String, XmlError> {
    let too_large = XmlError::TooLarge {
        max: MAX_BODY_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| XmlError::Transport(crate::error_text::chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Every element of the document in document order (an element after its children).
pub fn elements(xml: &str) -> Result<Vec<Element>, XmlError> {
    if xml.len() > MAX_BODY_BYTES {
        return Err(XmlError::TooLarge {
            max: MAX_BODY_BYTES,
        });
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    // Each open element with the chain node its children point to.
    let mut stack: Vec<(Element, Arc<Ancestor>)> = Vec::new();
    let mut done = Vec::new();
    let malformed = |reader: &Reader<&[u8]>, reason: String| XmlError::Malformed {
        position: reader.buffer_position(),
        reason,
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep { max: MAX_DEPTH });
                }
                let element = open(&start, &stack);
                let node = Arc::new(Ancestor {
                    name: element.name.clone(),
                    parent: element.parent.clone(),
                });
                stack.push((element, node));
            }
            Ok(Event::Empty(start)) => done.push(open(&start, &stack)),
            Ok(Event::Text(text)) => {
                if let Some((top, _)) = stack.last_mut() {
                    let value = text
                        .decode()
                        .map_err(|e| malformed(&reader, e.to_string()))?;
                    let value = quick_xml::escape::unescape(&value)
                        .map_err(|e| malformed(&reader, e.to_string()))?;
                    top.text.push_str(&value);
                }
            }
            Ok(Event::CData(data)) => {
                if let Some((top, _)) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::End(_)) => {
                if let Some((element, _)) = stack.pop() {
                    done.push(element);
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(malformed(&reader, e.to_string())),
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Unclosed);
    }
    Ok(done)
}

fn open(start: &quick_xml::events::BytesStart<'_>, stack: &[(Element, Arc<Ancestor>)]) -> Element {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).to_string();
    let attributes = start
        .attributes()
        .filter_map(Result::ok)
        .map(|a| {
            (
                String::from_utf8_lossy(a.key.local_name().as_ref()).to_string(),
                String::from_utf8_lossy(&a.value).to_string(),
            )
        })
        .collect();
    Element {
        name,
        attributes,
        text: String::new(),
        parent: stack.last().map(|(_, node)| node.clone()),
    }
}

/// The text of the first element with this local name.
pub fn first_text<'a>(elements: &'a [Element], name: &str) -> Option<&'a str> {
    elements
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.text.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_shared_and_read_innermost_first() {
        let found = elements(
            "<a:Envelope xmlns:a='x'><Body><Protocol><Type>EXCH</Type></Protocol></Body><Empty/></a:Envelope>",
        )
        .unwrap();
        let kind = found.iter().find(|e| e.name == "Type").unwrap();
        assert_eq!(kind.text, "EXCH");
        assert_eq!(
            kind.ancestors().collect::<Vec<_>>(),
            ["Protocol", "Body", "Envelope"]
        );
        assert!(kind.within("Body") && !kind.within("Type"));
        let empty = found.iter().find(|e| e.name == "Empty").unwrap();
        assert_eq!(empty.ancestors().collect::<Vec<_>>(), ["Envelope"]);
    }

    #[test]
    fn depth_size_and_broken_documents_are_typed_errors() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(
            elements(&deep).unwrap_err(),
            XmlError::TooDeep { max: MAX_DEPTH }
        );
        let fine = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(elements(&fine).unwrap().len(), MAX_DEPTH);
        let big = format!("<a>{}</a>", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            elements(&big).unwrap_err(),
            XmlError::TooLarge {
                max: MAX_BODY_BYTES
            }
        );
        assert_eq!(elements("<a><b></b>").unwrap_err(), XmlError::Unclosed);
        assert!(matches!(
            elements("<a></b>").unwrap_err(),
            XmlError::Malformed { .. }
        ));
    }
}
