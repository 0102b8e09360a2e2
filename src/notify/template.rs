//! The notification mail: a subject and an HTML body per language, with placeholders. The defaults
//! ship in `assets/notifications/`; an admin can replace them with a file of the same shape
//! (`Subject: ...` on the first line, the HTML after it).

use serde::{Deserialize, Serialize};

/// Languages the connector ships a notification in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// French.
    Fr,
    /// Dutch.
    Nl,
}

impl Language {
    /// Parses `en`, `fr`, `nl` (also `fr-BE`, `nl_NL`...).
    pub fn parse(text: &str) -> Option<Language> {
        match text.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("en") => Some(Language::En),
            Some("fr") => Some(Language::Fr),
            Some("nl") => Some(Language::Nl),
            _ => None,
        }
    }

    fn default_source(self) -> &'static str {
        match self {
            Language::En => include_str!("../../assets/notifications/en.html"),
            Language::Fr => include_str!("../../assets/notifications/fr.html"),
            Language::Nl => include_str!("../../assets/notifications/nl.html"),
        }
    }
}

/// A template: subject and HTML body, with `{user}`, `{device}` and `{enrol_link}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: String,
}

/// Why a template file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No subject line.
    #[error(
        "the notification template must start with a line 'Subject: ...' followed by the HTML body"
    )]
    NoSubject,
    /// A placeholder the mail cannot do without is missing.
    #[error(
        "the notification template has no {0} placeholder; the mail would not tell the user how to enrol"
    )]
    MissingPlaceholder(&'static str),
}

/// What fills the placeholders.
#[derive(Debug, Clone)]
pub struct MailFields<'a> {
    /// The user's display name.
    pub user: &'a str,
    /// The device's friendly name or model.
    pub device: &'a str,
    /// The enrolment link ("Get started").
    pub enrol_link: &'a str,
}

impl Template {
    /// The shipped template for a language.
    pub fn default_for(language: Language) -> Template {
        // The shipped files are checked by a test, so parsing them cannot fail at run time.
        Template::parse(language.default_source()).unwrap_or(Template {
            subject: "Action needed: enrol {device}".into(),
            html: "<p><a href=\"{enrol_link}\">Get started</a></p>".into(),
        })
    }

    /// Parses a template file's text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let text = text.trim_start_matches('\u{feff}');
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject = first
            .trim()
            .strip_prefix("Subject:")
            .ok_or(TemplateError::NoSubject)?
            .trim()
            .to_string();
        if !rest.contains("{enrol_link}") {
            return Err(TemplateError::MissingPlaceholder("{enrol_link}"));
        }
        Ok(Template {
            subject,
            html: rest.trim().to_string(),
        })
    }

    /// Fills the placeholders; values are HTML-escaped in the body.
    pub fn render(&self, fields: &MailFields<'_>) -> (String, String) {
        let subject = self
            .subject
            .replace("{user}", fields.user)
            .replace("{device}", fields.device);
        let html = self
            .html
            .replace("{user}", &escape_html(fields.user))
            .replace("{device}", &escape_html(fields.device))
            .replace("{enrol_link}", &escape_html(fields.enrol_link));
        (subject, html)
    }
}

/// Escapes text for HTML and XML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_parse_and_carry_the_link() {
        for language in [Language::En, Language::Fr, Language::Nl] {
            let template = Template::parse(language.default_source()).expect("shipped template");
            let (subject, html) = template.render(&MailFields {
                user: "Zoé <b>",
                device: "Zoé's iPhone",
                enrol_link: "https://portal.manage.microsoft.com/?a=1&b=2",
            });
            assert!(subject.contains("Zoé's iPhone"), "{subject}");
            assert!(html.contains("https://portal.manage.microsoft.com/?a=1&amp;b=2"));
            assert!(html.contains("Zoé &lt;b&gt;"), "user text is escaped");
        }
        assert_eq!(Language::parse("fr-BE"), Some(Language::Fr));
        assert_eq!(Language::parse("de"), None);
    }

    #[test]
    fn a_template_without_subject_or_link_is_refused() {
        assert!(matches!(
            Template::parse("<p>hi</p>"),
            Err(TemplateError::NoSubject)
        ));
        assert!(matches!(
            Template::parse("Subject: x\n<p>hi</p>"),
            Err(TemplateError::MissingPlaceholder(_))
        ));
    }
}
