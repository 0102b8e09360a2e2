//! OPATH `-Filter` expressions as Exchange's `Get-*` cmdlets accept them: comparisons
//! (`-eq -ne -lt -gt -le -ge -like -notlike`), `-and`, `-or`, `-not`, parentheses, quoted strings
//! (`'x'` or `"x"`), `$true`, `$false`, `$null`, and dates written either as ISO-8601
//! (`'2024-05-01T10:00:00Z'`) or the en-US culture style (`'05/01/2024 10:00:00'`, read as UTC, the
//! lab's server time zone).
//!
//! A filter is parsed once against the property table of the object type it filters
//! ([`PropertyKind`] per filterable name), so unknown properties and unconvertible literals are
//! refused up front, as Exchange refuses them when it binds `-Filter`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// The type of a filterable property, which decides how a literal converts and compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    /// Text (and enums, compared by name).
    Text,
    /// `$true` / `$false`.
    Bool,
    /// A date and time.
    Date,
    /// A multi-valued text property: `-eq` means "contains".
    List,
}

/// A property value of an object being filtered.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// Text.
    Text(&'a str),
    /// Boolean.
    Bool(bool),
    /// Date.
    Date(DateTime<Utc>),
    /// Multi-valued text.
    List(&'a [String]),
    /// Not set.
    Null,
}

/// A literal after conversion to its property's type.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Bool(bool),
    Date(DateTime<Utc>),
    Null,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Like,
    NotLike,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "-eq" | "-ieq" | "-ceq" => Op::Eq,
            "-ne" | "-ine" | "-cne" => Op::Ne,
            "-lt" | "-ilt" => Op::Lt,
            "-gt" | "-igt" => Op::Gt,
            "-le" | "-ile" => Op::Le,
            "-ge" | "-ige" => Op::Ge,
            "-like" | "-ilike" => Op::Like,
            "-notlike" | "-inotlike" => Op::NotLike,
            _ => return None,
        })
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// `Property -op value`.
    Compare {
        /// Canonical property name (as in the property table).
        property: &'static str,
        /// Its kind.
        kind: PropertyKind,
        /// Operator.
        op: OpCode,
        /// The converted literal.
        value: LiteralValue,
    },
}

/// An operator of a [`Filter::Compare`] (opaque to callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpCode(Op);

/// A literal of a [`Filter::Compare`] (opaque to callers).
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralValue(Literal);

/// Why a filter was refused. `Display` gives the text Exchange puts inside
/// `Exception setting "Filter": "..."`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression does not parse.
    #[error(
        "Invalid filter syntax. For a description of the filter parameter syntax see the command help.\n\"{filter}\" at position {position}."
    )]
    Syntax {
        /// The filter text.
        filter: String,
        /// 1-based character position of the problem.
        position: usize,
    },
    /// A property that is not filterable on this object type.
    #[error(
        "\"{property}\" is not a recognized filterable property. Valid property names are: {valid}."
    )]
    UnknownProperty {
        /// The name used.
        property: String,
        /// The filterable names, comma separated.
        valid: String,
    },
    /// A literal that does not convert to its property's type.
    #[error("The value \"{value}\" could not be converted to type {type_name}.")]
    BadValue {
        /// The literal.
        value: String,
        /// .NET type name.
        type_name: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LParen,
    RParen,
    Dash(String),
    Quoted(String),
    Variable(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, usize> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push((Token::LParen, start));
            i += 1;
        } else if c == ')' {
            tokens.push((Token::RParen, start));
            i += 1;
        } else if c == '\'' || c == '"' {
            // Doubling the quote escapes it (PowerShell rules); a backtick escapes in "..." too.
            let quote = c;
            let mut value = String::new();
            i += 1;
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err(start);
                };
                if ch == quote {
                    if chars.get(i + 1) == Some(&quote) {
                        value.push(quote);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                if ch == '`'
                    && quote == '"'
                    && let Some(&next) = chars.get(i + 1)
                {
                    value.push(next);
                    i += 2;
                    continue;
                }
                value.push(ch);
                i += 1;
            }
            tokens.push((Token::Quoted(value), start));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.get(i) {
                if ch.is_whitespace() || ch == '(' || ch == ')' || ch == '\'' || ch == '"' {
                    break;
                }
                word.push(ch);
                i += 1;
            }
            let word = word.trim_start_matches('`').to_string();
            let token = if word.starts_with('-') && word.len() > 1 {
                Token::Dash(word)
            } else if let Some(var) = word.strip_prefix('$') {
                Token::Variable(var.to_string())
            } else {
                Token::Word(word)
            };
            tokens.push((token, start));
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    text: &'a str,
    properties: &'a [(&'static str, PropertyKind)],
}

impl Parser<'_> {
    fn syntax(&self) -> FilterError {
        let position = self
            .tokens
            .get(self.pos)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| self.text.chars().count() + 1);
        FilterError::Syntax {
            filter: self.text.to_string(),
            position,
        }
    }

    fn peek_dash(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some((Token::Dash(w), _)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_dash("-or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.not()?;
        while self.peek_dash("-and") {
            self.pos += 1;
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        if self.peek_dash("-not")
            || matches!(self.tokens.get(self.pos), Some((Token::Word(w), _)) if w == "!")
        {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        match self.tokens.get(self.pos).cloned() {
            Some((Token::LParen, _)) => {
                self.pos += 1;
                let inner = self.or()?;
                match self.tokens.get(self.pos) {
                    Some((Token::RParen, _)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(self.syntax()),
                }
            }
            Some((Token::Word(name), _)) => {
                let (property, kind) = self
                    .properties
                    .iter()
                    .find(|(p, _)| p.eq_ignore_ascii_case(&name))
                    .copied()
                    .ok_or_else(|| FilterError::UnknownProperty {
                        property: name.clone(),
                        valid: self
                            .properties
                            .iter()
                            .map(|(p, _)| *p)
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                self.pos += 1;
                let op = match self.tokens.get(self.pos) {
                    Some((Token::Dash(w), _)) => Op::parse(w).ok_or_else(|| self.syntax())?,
                    _ => return Err(self.syntax()),
                };
                self.pos += 1;
                let literal = match self.tokens.get(self.pos).cloned() {
                    Some((Token::Quoted(s), _)) | Some((Token::Word(s), _)) => convert(&s, kind)?,
                    Some((Token::Variable(v), _)) => match v.to_ascii_lowercase().as_str() {
                        "true" => Literal::Bool(true),
                        "false" => Literal::Bool(false),
                        "null" => Literal::Null,
                        _ => return Err(self.syntax()),
                    },
                    _ => return Err(self.syntax()),
                };
                self.pos += 1;
                let literal = match (kind, literal) {
                    (PropertyKind::Bool, Literal::Text(t)) => match t.to_ascii_lowercase().as_str()
                    {
                        "true" | "1" => Literal::Bool(true),
                        "false" | "0" => Literal::Bool(false),
                        _ => {
                            return Err(FilterError::BadValue {
                                value: t,
                                type_name: "System.Boolean",
                            });
                        }
                    },
                    (_, other) => other,
                };
                Ok(Filter::Compare {
                    property,
                    kind,
                    op: OpCode(op),
                    value: LiteralValue(literal),
                })
            }
            _ => Err(self.syntax()),
        }
    }
}

fn convert(text: &str, kind: PropertyKind) -> Result<Literal, FilterError> {
    match kind {
        PropertyKind::Date => {
            parse_date(text)
                .map(Literal::Date)
                .ok_or_else(|| FilterError::BadValue {
                    value: text.to_string(),
                    type_name: "System.DateTime",
                })
        }
        _ => Ok(Literal::Text(text.to_string())),
    }
}

/// Parses a date as Exchange accepts it in filters: ISO-8601 / RFC 3339, or en-US culture style
/// `MM/dd/yyyy [HH:mm[:ss]]` (with optional AM/PM). Dates without an offset are taken as UTC.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    const FORMATS: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %I:%M %p",
    ];
    for format in FORMATS {
        if let Ok(d) = NaiveDateTime::parse_from_str(text, format) {
            return Some(d.and_utc());
        }
    }
    for format in ["%Y-%m-%d", "%m/%d/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
        }
    }
    None
}

/// Parses a filter against the filterable properties of one object type.
pub fn parse(
    text: &str,
    properties: &[(&'static str, PropertyKind)],
) -> Result<Filter, FilterError> {
    let mut trimmed = text.trim();
    // A script block `{ ... }` arrives as its text; Exchange accepts it with or without the braces.
    if let Some(inner) = trimmed.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        trimmed = inner.trim();
    }
    let tokens = tokenize(trimmed).map_err(|position| FilterError::Syntax {
        filter: text.to_string(),
        position,
    })?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        text,
        properties,
    };
    if parser.tokens.is_empty() {
        return Err(parser.syntax());
    }
    let filter = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(parser.syntax());
    }
    Ok(filter)
}

/// `-like`: `*` matches any run, `?` one character; case-insensitive.
pub fn like(value: &str, pattern: &str) -> bool {
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut vi, mut pi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            vi += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn compare_text(value: &str, op: Op, literal: &str) -> bool {
    // ASCII (every DeviceId, most names) compares without allocating: a filtered listing compares
    // each of 50,000 partnerships with each literal.
    let ordering = if value.is_ascii() && literal.is_ascii() {
        value
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .cmp(literal.bytes().map(|b| b.to_ascii_lowercase()))
    } else {
        value.to_lowercase().cmp(&literal.to_lowercase())
    };
    match op {
        Op::Eq => ordering.is_eq(),
        Op::Ne => ordering.is_ne(),
        Op::Lt => ordering.is_lt(),
        Op::Gt => ordering.is_gt(),
        Op::Le => ordering.is_le(),
        Op::Ge => ordering.is_ge(),
        Op::Like => like(value, literal),
        Op::NotLike => !like(value, literal),
    }
}

fn compare<T: PartialOrd>(value: T, op: Op, literal: T) -> bool {
    match op {
        Op::Eq | Op::Like => value == literal,
        Op::Ne | Op::NotLike => value != literal,
        Op::Lt => value < literal,
        Op::Gt => value > literal,
        Op::Le => value <= literal,
        Op::Ge => value >= literal,
    }
}

fn is_empty(value: &FieldValue<'_>) -> bool {
    match value {
        FieldValue::Null => true,
        FieldValue::Text(t) => t.is_empty(),
        FieldValue::List(l) => l.is_empty(),
        _ => false,
    }
}

impl Filter {
    /// The texts a filter made only of `property -eq 'text'` comparisons joined by `-or` compares
    /// with: an object can match only if its `property` equals one of them (case-insensitively), so
    /// a caller with an index on that property looks them up instead of scanning every object, then
    /// still evaluates the filter on each. `None` for any other shape.
    pub fn equality_texts(&self, property: &str) -> Option<Vec<&str>> {
        match self {
            Filter::Or(a, b) => {
                let mut texts = a.equality_texts(property)?;
                texts.extend(b.equality_texts(property)?);
                Some(texts)
            }
            Filter::Compare {
                property: p,
                op: OpCode(Op::Eq),
                value: LiteralValue(Literal::Text(text)),
                ..
            } if p.eq_ignore_ascii_case(property) => Some(vec![text.as_str()]),
            _ => None,
        }
    }

    /// Evaluates the filter; `get` returns an object's value for a canonical property name.
    pub fn matches<'a, F>(&self, get: &F) -> bool
    where
        F: Fn(&str) -> FieldValue<'a>,
    {
        match self {
            Filter::And(a, b) => a.matches(get) && b.matches(get),
            Filter::Or(a, b) => a.matches(get) || b.matches(get),
            Filter::Not(a) => !a.matches(get),
            Filter::Compare {
                property,
                op,
                value,
                ..
            } => {
                let field = get(property);
                let op = op.0;
                match (&value.0, &field) {
                    (Literal::Null, f) => match op {
                        Op::Eq | Op::Like => is_empty(f),
                        _ => !is_empty(f),
                    },
                    // A property that is not set matches only "not equal" comparisons.
                    (_, FieldValue::Null) => matches!(op, Op::Ne | Op::NotLike),
                    (Literal::Text(l), FieldValue::Text(v)) => compare_text(v, op, l),
                    (Literal::Text(l), FieldValue::List(items)) => match op {
                        Op::Ne | Op::NotLike => {
                            let positive = if op == Op::Ne { Op::Eq } else { Op::Like };
                            !items.iter().any(|i| compare_text(i, positive, l))
                        }
                        _ => items.iter().any(|i| compare_text(i, op, l)),
                    },
                    (Literal::Text(l), FieldValue::Bool(b)) => {
                        compare_text(if *b { "True" } else { "False" }, op, l)
                    }
                    (Literal::Bool(l), FieldValue::Bool(b)) => compare(*b, op, *l),
                    (Literal::Bool(l), FieldValue::Text(t)) => {
                        compare_text(t, op, if *l { "True" } else { "False" })
                    }
                    (Literal::Date(l), FieldValue::Date(d)) => compare(*d, op, *l),
                    (Literal::Date(l), FieldValue::Text(t)) => match parse_date(t) {
                        Some(d) => compare(d, op, *l),
                        None => matches!(op, Op::Ne | Op::NotLike),
                    },
                    (Literal::Text(l), FieldValue::Date(d)) => match parse_date(l) {
                        Some(l) => compare(*d, op, l),
                        None => false,
                    },
                    _ => matches!(op, Op::Ne | Op::NotLike),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_or_of_equalities_names_its_texts_and_nothing_else_does() {
        let props = &[
            ("DeviceId", PropertyKind::Text),
            ("DeviceType", PropertyKind::Text),
        ];
        let f = parse(
            "DeviceId -eq 'A1' -or DeviceId -eq 'b2' -or (DeviceId -eq 'C3')",
            props,
        )
        .unwrap();
        assert_eq!(f.equality_texts("DeviceId"), Some(vec!["A1", "b2", "C3"]));
        for other in [
            "DeviceId -eq 'A1' -or DeviceType -eq 'iPhone'",
            "DeviceId -eq 'A1' -and DeviceType -eq 'iPhone'",
            "DeviceId -like 'A*'",
            "DeviceId -ne 'A1'",
            "-not (DeviceId -eq 'A1')",
            "DeviceId -eq $null",
        ] {
            let f = parse(other, props).unwrap();
            assert_eq!(f.equality_texts("DeviceId"), None, "{other}");
        }
    }

    #[test]
    fn ascii_and_unicode_texts_compare_alike() {
        for (a, b) in [("AbC", "abc"), ("abd", "ABC"), ("É1", "é1"), ("x", "É")] {
            for op in [Op::Eq, Op::Ne, Op::Lt, Op::Gt, Op::Le, Op::Ge] {
                let slow = match op {
                    Op::Eq => a.to_lowercase() == b.to_lowercase(),
                    Op::Ne => a.to_lowercase() != b.to_lowercase(),
                    Op::Lt => a.to_lowercase() < b.to_lowercase(),
                    Op::Gt => a.to_lowercase() > b.to_lowercase(),
                    Op::Le => a.to_lowercase() <= b.to_lowercase(),
                    _ => a.to_lowercase() >= b.to_lowercase(),
                };
                assert_eq!(compare_text(a, op, b), slow, "{a} {op:?} {b}");
            }
        }
    }

    const PROPS: &[(&str, PropertyKind)] = &[
        ("DeviceAccessState", PropertyKind::Text),
        ("FirstSyncTime", PropertyKind::Date),
        ("HasActiveSyncDevicePartnership", PropertyKind::Bool),
        ("DisplayName", PropertyKind::Text),
        ("ActiveSyncAllowedDeviceIDs", PropertyKind::List),
    ];

    fn object<'a>(list: &'a [String]) -> impl Fn(&str) -> FieldValue<'a> {
        move |p| match p {
            "DeviceAccessState" => FieldValue::Text("Quarantined"),
            "FirstSyncTime" => FieldValue::Date(parse_date("2024-05-02T08:00:00Z").unwrap()),
            "HasActiveSyncDevicePartnership" => FieldValue::Bool(true),
            "DisplayName" => FieldValue::Text("CAS_{abc}"),
            "ActiveSyncAllowedDeviceIDs" => FieldValue::List(list),
            _ => FieldValue::Null,
        }
    }

    #[test]
    fn parses_and_evaluates() {
        let list = vec!["AAA".to_string(), "BBB".to_string()];
        let get = object(&list);
        let t = |f: &str| parse(f, PROPS).unwrap().matches(&get);
        assert!(t("DeviceAccessState -eq 'quarantined'"));
        assert!(t("{DeviceAccessState -eq \"Quarantined\"}"));
        assert!(!t("DeviceAccessState -ne 'Quarantined'"));
        assert!(t("FirstSyncTime -gt '2024-05-01T10:00:00Z'"));
        assert!(t("FirstSyncTime -gt '05/01/2024 10:00:00'"));
        assert!(!t("FirstSyncTime -lt '05/01/2024'"));
        assert!(t("HasActiveSyncDevicePartnership -eq $true"));
        assert!(!t(
            "HasActiveSyncDevicePartnership -eq $true -and -not DisplayName -like 'CAS_{*'"
        ));
        assert!(t(
            "(HasActiveSyncDevicePartnership -eq $false) -or (DisplayName -like 'cas_*')"
        ));
        assert!(t("ActiveSyncAllowedDeviceIDs -eq 'bbb'"));
        assert!(!t("ActiveSyncAllowedDeviceIDs -ne 'bbb'"));
        assert!(t("DisplayName -ne $null"));
        assert!(t("DisplayName -notlike 'x*'"));
    }

    #[test]
    fn refuses_bad_filters() {
        assert!(matches!(
            parse("DeviceAccessState -eq", PROPS),
            Err(FilterError::Syntax { .. })
        ));
        assert!(matches!(
            parse("Bogus -eq 'x'", PROPS),
            Err(FilterError::UnknownProperty { .. })
        ));
        assert!(matches!(
            parse("FirstSyncTime -gt 'yesterday'", PROPS),
            Err(FilterError::BadValue { .. })
        ));
        assert!(matches!(
            parse("(DisplayName -eq 'a'", PROPS),
            Err(FilterError::Syntax { .. })
        ));
        assert!(matches!(
            parse("DisplayName -foo 'a'", PROPS),
            Err(FilterError::Syntax { .. })
        ));
        let e = parse("DeviceAccessState -eq 'a' 'b'", PROPS).unwrap_err();
        assert!(e.to_string().starts_with("Invalid filter syntax."), "{e}");
    }

    #[test]
    fn like_wildcards() {
        assert!(like("iPhone15C2", "iphone*"));
        assert!(like("iPhone15C2", "*15?2"));
        assert!(!like("iPhone15C2", "android*"));
        assert!(like("", "*"));
    }
}
