//! A sentence for an admin as a stable code with parameters, carried with its English rendering
//! ([`TextCode`]): the connection checks give their details and fixes this way (as `policy::ReasonCode`
//! does for decisions), so `diagnose` prints the English and the setup GUI renders French and Dutch from
//! its own catalogue by key — the library never depends on the GUI. Words that come from outside (a
//! server's message) are never a parameter to translate: they stay verbatim beside the sentence.
//!
//! Write one with [`coded!`](crate::coded): `coded!("chk_dns_ok", "{host} resolves to {addresses}",
//! host = host, addresses = list)`. A test finds every key written so in the sources the GUI renders and
//! fails when a language lacks it.
//!
//! A `TextCode` crosses the control channel (the worker's replies and progress lines): it serialises
//! as an object, and reads back from either that object or a plain string (an older worker's English,
//! shown as written).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// A sentence: its key (empty for text that has none, e.g. built before it had a code), its
/// parameters and its English rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireText", into = "WireText")]
pub struct TextCode {
    /// The catalogue key; empty: only the English is known.
    pub key: Cow<'static, str>,
    /// The values of the template's `{name}` placeholders.
    pub params: Vec<(Cow<'static, str>, String)>,
    /// The English sentence.
    pub english: String,
    /// The sentences inside this one, when there are any: boxed, as they are rare, so a `TextCode`
    /// stays small inside the error types that carry one.
    nested: Option<Box<Nested>>,
}

/// The sentences inside a [`TextCode`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Nested {
    /// Placeholders whose value is itself a sentence ([`TextCode::with_text`]).
    texts: Vec<(Cow<'static, str>, TextCode)>,
    /// The sentences this one joins ([`TextCode::joined`]).
    parts: Vec<TextCode>,
}

/// A `TextCode` on the wire: its own object, or plain text (an older peer's English; read only).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum WireText {
    Coded {
        #[serde(default)]
        key: Cow<'static, str>,
        #[serde(default)]
        params: Vec<(Cow<'static, str>, String)>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        texts: Vec<(Cow<'static, str>, TextCode)>,
        #[serde(default)]
        english: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parts: Vec<TextCode>,
    },
    Plain(String),
}

impl From<WireText> for TextCode {
    fn from(wire: WireText) -> Self {
        match wire {
            WireText::Coded {
                key,
                params,
                texts,
                english,
                parts,
            } => TextCode {
                key,
                params,
                english,
                nested: (!texts.is_empty() || !parts.is_empty())
                    .then(|| Box::new(Nested { texts, parts })),
            },
            WireText::Plain(english) => TextCode::plain(english),
        }
    }
}

impl From<TextCode> for WireText {
    fn from(text: TextCode) -> Self {
        let Nested { texts, parts } = text.nested.map(|n| *n).unwrap_or_default();
        WireText::Coded {
            key: text.key,
            params: text.params,
            texts,
            english: text.english,
            parts,
        }
    }
}

impl TextCode {
    /// A sentence from its key, English template and parameters.
    pub fn new(key: &'static str, template: &str, params: Vec<(&'static str, String)>) -> Self {
        let english = fill(template, &params);
        TextCode {
            key: Cow::Borrowed(key),
            params: params
                .into_iter()
                .map(|(name, value)| (Cow::Borrowed(name), value))
                .collect(),
            english,
            nested: None,
        }
    }

    /// This sentence with its `{name}` placeholder filled by another sentence (e.g. a secret
    /// store's name), which a translation renders in its own language.
    pub fn with_text(mut self, name: &'static str, text: TextCode) -> Self {
        self.english = self.english.replace(&format!("{{{name}}}"), &text.english);
        self.nested
            .get_or_insert_with(Box::default)
            .texts
            .push((Cow::Borrowed(name), text));
        self
    }

    /// The sentences this one joins ([`TextCode::joined`]); empty for a single sentence.
    pub fn parts(&self) -> &[TextCode] {
        self.nested.as_ref().map_or(&[], |n| &n.parts)
    }

    /// Text without a code (shown as written in every language).
    pub fn plain(english: impl Into<String>) -> Self {
        TextCode {
            english: english.into(),
            ..TextCode::default()
        }
    }

    /// The sentence in the language of `template` (a translation of the same key); `text` renders
    /// the sentences of [`TextCode::with_text`] placeholders in the same language.
    pub fn render(&self, template: &str) -> String {
        self.render_with(template, &|t: &TextCode| t.english.clone())
    }

    /// [`TextCode::render`], with `text` rendering the nested sentences.
    pub fn render_with(&self, template: &str, text: &dyn Fn(&TextCode) -> String) -> String {
        let mut out = fill(template, &self.params);
        for (name, nested) in self.nested.iter().flat_map(|n| &n.texts) {
            out = out.replace(&format!("{{{name}}}"), &text(nested));
        }
        out
    }

    /// Several sentences shown as one, separated by `; ` (several fixes of one check).
    pub fn joined(parts: Vec<TextCode>) -> Self {
        if parts.len() == 1 {
            return parts.into_iter().next().unwrap_or_default();
        }
        TextCode {
            english: parts
                .iter()
                .map(|p| p.english.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            nested: (!parts.is_empty()).then(|| {
                Box::new(Nested {
                    texts: Vec::new(),
                    parts,
                })
            }),
            ..TextCode::default()
        }
    }
}

impl From<String> for TextCode {
    fn from(english: String) -> Self {
        TextCode::plain(english)
    }
}

impl From<&str> for TextCode {
    fn from(english: &str) -> Self {
        TextCode::plain(english)
    }
}

impl std::fmt::Display for TextCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.english)
    }
}

/// `template` with each `{name}` replaced by its value.
pub fn fill<N: AsRef<str>>(template: &str, params: &[(N, String)]) -> String {
    let mut text = template.to_string();
    for (name, value) in params {
        text = text.replace(&format!("{{{}}}", name.as_ref()), value);
    }
    text
}

/// The keys written with [`coded!`](crate::coded) in a source file's text, in order (for the test
/// that every key has every language).
pub fn keys_in_source(source: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("coded!(") {
        rest = &rest[at + "coded!(".len()..];
        let Some(open) = rest.find('"') else { break };
        // The key is the macro's first token: only blanks between the parenthesis and it.
        if !rest[..open].trim().is_empty() {
            continue;
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        keys.push(&after[..close]);
        rest = &after[close..];
    }
    keys
}

/// A [`TextCode`] from a key, an English template and `name = value` parameters.
#[macro_export]
macro_rules! coded {
    ($key:literal, $english:expr $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::text_code::TextCode::new(
            $key,
            $english,
            vec![$((stringify!($name), ($value).to_string())),*],
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coded_sentence_renders_in_english_and_in_a_translation() {
        let text = crate::coded!(
            "k_dns",
            "{host} resolves to {ip}",
            host = "cas1",
            ip = "10.0.0.1"
        );
        assert_eq!(text.english, "cas1 resolves to 10.0.0.1");
        assert_eq!(
            text.render("{host} se résout en {ip}"),
            "cas1 se résout en 10.0.0.1"
        );
        assert_eq!(text.key, "k_dns");
        assert_eq!(TextCode::from("as written").key, "");
    }

    /// A coded sentence crosses the control channel whole (its nested sentences too), and an older
    /// peer's plain English reads as uncoded text.
    #[test]
    fn a_coded_sentence_crosses_the_channel_and_plain_text_still_reads() {
        let text = crate::coded!("k_run", "{run} started: {n}", n = 3)
            .with_text("run", crate::coded!("k_quick", "quick sync"));
        assert_eq!(text.english, "quick sync started: 3");
        let wire = serde_json::to_string(&text).unwrap();
        let back: TextCode = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, text);
        let french = back.render_with("{run} démarrée : {n}", &|t: &TextCode| {
            assert_eq!(t.key, "k_quick");
            "la synchronisation rapide".into()
        });
        assert_eq!(french, "la synchronisation rapide démarrée : 3");

        let old: TextCode = serde_json::from_str("\"full sync started\"").unwrap();
        assert_eq!(old, TextCode::plain("full sync started"));
    }

    #[test]
    fn keys_are_found_in_source_text() {
        let source =
            "a(coded!(\"one\", \"x\")); coded!(\n  \"two\",\n \"y {z}\", z = 1); not_coded!(x)";
        assert_eq!(keys_in_source(source), vec!["one", "two"]);
    }
}
