//! OData paging shared by the Graph and Exchange REST clients: a list comes in pages, each naming the
//! next in `@odata.nextLink`, so a listing's pages are sequential. Reading the next link first, with a
//! pass that skips the records without building them, lets a client ask for the next page while it
//! decodes this one: the decoding hides inside the next page's round trip.

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The `@odata.nextLink` of a page's JSON text; `None` when there is none or the text is not a JSON
/// object (the full decoding then says what is wrong).
pub fn next_link(text: &str) -> Option<String> {
    // Graph and Exchange put the link after the records: found from the end, it costs nothing. The
    // text `"@odata.nextLink"` followed by `:` can only be a key (a string value is never followed
    // by `:`); a record holding that key would be caught by the full decoding, which must agree.
    if let Some(at) = text.rfind("\"@odata.nextLink\"") {
        let rest = text[at + "\"@odata.nextLink\"".len()..].trim_start();
        if let Some(value) = rest.strip_prefix(':') {
            let mut values = serde_json::Deserializer::from_str(value).into_iter::<String>();
            if let Some(Ok(link)) = values.next() {
                return Some(link);
            }
        }
    }
    scanned_next_link(text)
}

/// [`next_link`] by a pass over the whole page that skips the records.
fn scanned_next_link(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct LinkOnly {
        #[serde(default, rename = "@odata.nextLink")]
        next_link: Option<String>,
        #[serde(default, rename = "value")]
        _value: IgnoredAny,
    }
    serde_json::from_str::<LinkOnly>(text)
        .ok()
        .and_then(|page| page.next_link)
}

#[cfg(test)]
mod tests {
    use super::next_link;
    use proptest::prelude::*;

    #[test]
    fn the_next_link_is_read_wherever_it_stands() {
        let after = r#"{"value":[{"a":1},{"b":[2,3]}],"@odata.nextLink":"https://x/next?p=2"}"#;
        let before = r#"{"@odata.nextLink":"https://x/next?p=2","value":[]}"#;
        assert_eq!(next_link(after).as_deref(), Some("https://x/next?p=2"));
        assert_eq!(next_link(before).as_deref(), Some("https://x/next?p=2"));
        assert_eq!(next_link(r#"{"value":[]}"#), None);
        assert_eq!(next_link("not json"), None);
        assert_eq!(next_link(r#"{"@odata.nextLink":5}"#), None);
    }

    proptest! {
        /// Whatever the text, no panic; for a page, the same link the full decoding finds.
        #[test]
        fn agrees_with_a_full_decoding(text in "\\PC{0,80}", link in "[a-z:/?=&0-9]{0,30}", n in 0usize..4) {
            let _ = next_link(&text);
            let page = serde_json::json!({
                "value": vec![serde_json::json!({"text": text}); n],
                "@odata.nextLink": link,
            })
            .to_string();
            let full: serde_json::Value = serde_json::from_str(&page).unwrap();
            let read = next_link(&page);
            prop_assert_eq!(read.as_deref(), full["@odata.nextLink"].as_str());
        }
    }
}
