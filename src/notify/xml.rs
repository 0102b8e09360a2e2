//! Just enough XML reading for Autodiscover and EWS answers: element text by local name, whatever
//! prefixes the server chose.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One element met while reading: its local name, attributes and direct text.
#[derive(Debug, Clone, Default)]
pub struct Element {
    /// Local name (no prefix).
    pub name: String,
    /// Attributes by local name.
    pub attributes: Vec<(String, String)>,
    /// Text directly inside it.
    pub text: String,
    /// Local names of the open ancestors, outermost first.
    pub path: Vec<String>,
}

impl Element {
    /// An attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether an ancestor has this local name.
    pub fn within(&self, name: &str) -> bool {
        self.path.iter().any(|p| p == name)
    }
}

/// Every element of the document in document order, or a message saying why it is not XML.
pub fn elements(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut done = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                let element = open(&start, &stack);
                stack.push(element);
            }
            Ok(Event::Empty(start)) => done.push(open(&start, &stack)),
            Ok(Event::Text(text)) => {
                if let Some(top) = stack.last_mut() {
                    let value = text.decode().map_err(|e| e.to_string())?;
                    let value = quick_xml::escape::unescape(&value).map_err(|e| e.to_string())?;
                    top.text.push_str(&value);
                }
            }
            Ok(Event::CData(data)) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::End(_)) => {
                if let Some(element) = stack.pop() {
                    done.push(element);
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "not valid XML at byte {}: {e}",
                    reader.buffer_position()
                ));
            }
        }
    }
    if !stack.is_empty() {
        return Err("the XML document ends before its elements are closed".into());
    }
    Ok(done)
}

fn open(start: &quick_xml::events::BytesStart<'_>, stack: &[Element]) -> Element {
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
        path: stack.iter().map(|e| e.name.clone()).collect(),
    }
}

/// The text of the first element with this local name.
pub fn first_text<'a>(elements: &'a [Element], name: &str) -> Option<&'a str> {
    elements
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.text.as_str())
}
