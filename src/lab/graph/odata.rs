//! The OData query options the lab's Graph understands: `$select`, `$top`, `$count`, `$skiptoken` and a
//! `$filter` subset (comparisons `eq ne gt ge lt le`, `startswith`/`endswith`/`contains`, `and`, `or`,
//! `not`, parentheses), evaluated against an entity's JSON.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The query options of one request, still unvalidated against an entity type.
#[derive(Debug, Default, Clone)]
pub struct QueryOptions {
    /// `$select`, as written.
    pub select: Option<String>,
    /// `$filter`, as written.
    pub filter: Option<String>,
    /// `$top`, as written.
    pub top: Option<String>,
    /// `$skiptoken`.
    pub skiptoken: Option<String>,
    /// `$count=true`.
    pub count: bool,
    /// Every parameter except `$skiptoken`, in order, for building the next link.
    pub carried: Vec<(String, String)>,
}

impl QueryOptions {
    /// Reads the raw query string. Names are matched case-insensitively, with or without `$` (Graph
    /// v1.0 accepts both).
    pub fn parse(raw: Option<&str>) -> QueryOptions {
        let mut out = QueryOptions::default();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let key = name.trim_start_matches('$').to_ascii_lowercase();
            match key.as_str() {
                "select" => out.select = Some(value.to_string()),
                "filter" => out.filter = Some(value.to_string()),
                "top" => out.top = Some(value.to_string()),
                "count" => out.count = value.eq_ignore_ascii_case("true"),
                "skiptoken" => {
                    out.skiptoken = Some(value.to_string());
                    continue;
                }
                _ => {}
            }
            out.carried.push((name.to_string(), value.to_string()));
        }
        out
    }

    /// The page size: `$top` if given (1..=`max`), else `default`. Above `max`, Intune caps the page
    /// (`cap`) where the directory refuses the request.
    pub fn page_size(&self, default: usize, max: usize, cap: bool) -> Result<usize, String> {
        match &self.top {
            None => Ok(default),
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                Ok(n) if n > max && cap => Ok(max),
                _ => Err(format!(
                    "Invalid page size specified: '{text}'. Must be between 1 and {max} inclusive."
                )),
            },
        }
    }

    /// The next-page URL: `base` with the same options and a new `$skiptoken`. Option names keep their
    /// `$` as Graph's own next links do; values are percent-encoded (spaces as `%20`).
    pub fn next_link(&self, base: &str, skiptoken: &str) -> String {
        let pairs = self
            .carried
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(std::iter::once(("$skiptoken", skiptoken)));
        let query: Vec<String> = pairs
            .map(|(name, value)| {
                format!(
                    "{}={}",
                    percent_encoding::utf8_percent_encode(name, NAME),
                    percent_encoding::utf8_percent_encode(value, VALUE)
                )
            })
            .collect();
        format!("{base}?{}", query.join("&"))
    }
}

/// Characters escaped in query values of next links.
const VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Option names additionally keep `$`.
const NAME: &percent_encoding::AsciiSet = &VALUE.remove(b'$');

/// Makes an opaque skip token for an offset into a listing (`kind` keeps tokens of different lists apart).
pub fn encode_skiptoken(kind: &str, offset: usize) -> String {
    let text = format!("{kind}|{offset}|{}", uuid::Uuid::new_v4().simple());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// Reads a skip token made by [`encode_skiptoken`] for the same `kind`.
pub fn decode_skiptoken(kind: &str, token: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim().trim_end_matches('='))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('|');
    if parts.next()? != kind {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Resolves a `$select` list against the entity's properties: canonical names, or Graph's message for
/// the first unknown one.
pub fn resolve_select(
    select: &str,
    known: &[&str],
    type_name: &str,
) -> Result<Vec<String>, String> {
    select
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| canonical(name, known).ok_or_else(|| no_property(name, type_name)))
        .collect()
}

/// Keeps only the selected properties (and `@odata.*` annotations) of an entity.
pub fn project(entity: Value, select: Option<&[String]>, fill_missing: bool) -> Value {
    let (Some(select), Value::Object(map)) = (select, &entity) else {
        return entity;
    };
    let mut out = Map::new();
    for (k, v) in map {
        if k.starts_with("@odata.") {
            out.insert(k.clone(), v.clone());
        }
    }
    for name in select {
        match map.get(name) {
            Some(v) => {
                out.insert(name.clone(), v.clone());
            }
            None if fill_missing => {
                out.insert(name.clone(), Value::Null);
            }
            None => {}
        }
    }
    Value::Object(out)
}

fn canonical(name: &str, known: &[&str]) -> Option<String> {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| k.to_string())
}

fn no_property(name: &str, type_name: &str) -> String {
    format!("Could not find a property named '{name}' on type '{type_name}'.")
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal of a `$filter`.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    DateTime(DateTime<Utc>),
    Number(f64),
    Bool(bool),
    Null,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// `property op literal`.
    Compare {
        /// Canonical property name.
        property: String,
        /// Operator.
        op: CompareOp,
        /// Literal, kept in parsed form.
        literal: FilterLiteral,
    },
    /// `startswith(p,'x')`, `endswith(p,'x')`, `contains(p,'x')`.
    Function {
        /// `startswith`, `endswith` or `contains`.
        name: String,
        /// Canonical property name.
        property: String,
        /// The string argument.
        argument: String,
    },
}

/// Public wrapper of the comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareOp(Op);

/// Public wrapper of a literal.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterLiteral(Literal);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Quoted(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '\'' => {
                // OData doubles a quote inside a string literal.
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string literal at position {i}")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | ',' | '\'')
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    known: &'a [&'a str],
    type_name: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, token: Token) -> Result<(), String> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(format!("expected {token:?}, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn property(&self, name: &str) -> Result<String, String> {
        canonical(name, self.known).ok_or_else(|| no_property(name, self.type_name))
    }

    fn primary(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let lower = word.to_ascii_lowercase();
                if matches!(lower.as_str(), "startswith" | "endswith" | "contains")
                    && self.tokens.get(self.pos) == Some(&Token::Open)
                {
                    self.pos += 1;
                    let property = match self.next() {
                        Some(Token::Word(p)) => self.property(&p)?,
                        other => return Err(format!("expected a property, found {other:?}")),
                    };
                    self.expect(Token::Comma)?;
                    let argument = match self.next() {
                        Some(Token::Quoted(s)) => s,
                        other => return Err(format!("expected a string, found {other:?}")),
                    };
                    self.expect(Token::Close)?;
                    return Ok(Filter::Function {
                        name: lower,
                        property,
                        argument,
                    });
                }
                let property = self.property(&word)?;
                let op = match self.next() {
                    Some(Token::Word(op)) => match op.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => return Err(format!("unknown operator '{other}'")),
                    },
                    other => return Err(format!("expected an operator, found {other:?}")),
                };
                let literal = match self.next() {
                    Some(Token::Quoted(s)) => Literal::Str(s),
                    Some(Token::Word(w)) => parse_bare_literal(&w)?,
                    other => return Err(format!("expected a literal, found {other:?}")),
                };
                Ok(Filter::Compare {
                    property,
                    op: CompareOp(op),
                    literal: FilterLiteral(literal),
                })
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn parse_bare_literal(word: &str) -> Result<Literal, String> {
    match word.to_ascii_lowercase().as_str() {
        "true" => return Ok(Literal::Bool(true)),
        "false" => return Ok(Literal::Bool(false)),
        "null" => return Ok(Literal::Null),
        _ => {}
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(word) {
        return Ok(Literal::DateTime(d.with_timezone(&Utc)));
    }
    if let Ok(n) = word.parse::<f64>() {
        return Ok(Literal::Number(n));
    }
    // A bare GUID is a valid OData literal (Edm.Guid); compare it as text.
    if uuid::Uuid::parse_str(word).is_ok() {
        return Ok(Literal::Str(word.to_string()));
    }
    Err(format!("'{word}' is not a valid literal"))
}

/// Parses a `$filter` against an entity type's properties. Errors carry Graph's message.
pub fn parse_filter(text: &str, known: &[&str], type_name: &str) -> Result<Filter, String> {
    let invalid = |detail: String| format!("Invalid filter clause: {detail}");
    let tokens = tokenize(text).map_err(invalid)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        known,
        type_name,
    };
    let filter = parser.or().map_err(|e| {
        if e.starts_with("Could not find") {
            e
        } else {
            invalid(e)
        }
    })?;
    if parser.pos < parser.tokens.len() {
        return Err(invalid(format!(
            "unexpected {:?} after the end of the expression",
            parser.tokens[parser.pos]
        )));
    }
    Ok(filter)
}

impl Filter {
    /// Whether an entity (as JSON) matches.
    pub fn matches(&self, entity: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(entity) && b.matches(entity),
            Filter::Or(a, b) => a.matches(entity) || b.matches(entity),
            Filter::Not(a) => !a.matches(entity),
            Filter::Compare {
                property,
                op,
                literal,
            } => compare(
                entity.get(property).unwrap_or(&Value::Null),
                op.0,
                &literal.0,
            ),
            Filter::Function {
                name,
                property,
                argument,
            } => {
                let Some(value) = entity.get(property).and_then(Value::as_str) else {
                    return false;
                };
                let (value, argument) = (value.to_lowercase(), argument.to_lowercase());
                match name.as_str() {
                    "startswith" => value.starts_with(&argument),
                    "endswith" => value.ends_with(&argument),
                    _ => value.contains(&argument),
                }
            }
        }
    }
}

fn ordering_holds(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Ne => ord != Equal,
        Op::Gt => ord == Greater,
        Op::Ge => ord != Less,
        Op::Lt => ord == Less,
        Op::Le => ord != Greater,
    }
}

fn as_datetime(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

fn compare(value: &Value, op: Op, literal: &Literal) -> bool {
    if matches!(literal, Literal::Null) || value.is_null() {
        let both_null = matches!(literal, Literal::Null) && value.is_null();
        return match op {
            Op::Eq => both_null,
            Op::Ne => !both_null,
            _ => false,
        };
    }
    let ord = match literal {
        Literal::DateTime(d) => as_datetime(value).map(|v| v.cmp(d)),
        Literal::Str(s) => match (as_datetime(value), DateTime::parse_from_rfc3339(s)) {
            (Some(v), Ok(d)) => Some(v.cmp(&d.with_timezone(&Utc))),
            // Graph's string comparisons are case-insensitive.
            _ => value
                .as_str()
                .map(|v| v.to_lowercase().cmp(&s.to_lowercase())),
        },
        Literal::Number(n) => value.as_f64().and_then(|v| v.partial_cmp(n)),
        Literal::Bool(b) => value.as_bool().map(|v| v.cmp(b)),
        Literal::Null => None,
    };
    ord.is_some_and(|ord| ordering_holds(op, ord))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KNOWN: &[&str] = &[
        "lastSyncDateTime",
        "complianceState",
        "userId",
        "easDeviceId",
    ];

    fn f(text: &str) -> Filter {
        parse_filter(text, KNOWN, "microsoft.graph.managedDevice").unwrap()
    }

    #[test]
    fn filters_combine_with_and_or_and_parentheses() {
        let d = json!({"lastSyncDateTime":"2024-03-01T10:00:00Z","complianceState":"noncompliant","userId":"u1","easDeviceId":"ABC"});
        assert!(f("lastSyncDateTime ge 2024-01-01T00:00:00Z").matches(&d));
        assert!(!f("lastSyncDateTime gt 2024-03-01T10:00:00Z").matches(&d));
        assert!(f("complianceState eq 'noncompliant' and easDeviceId eq 'abc'").matches(&d));
        assert!(
            f("userId eq 'u2' or (userId eq 'u1' and not (complianceState eq 'compliant'))")
                .matches(&d)
        );
        assert!(f("startswith(easDeviceId,'a')").matches(&d));
        assert!(f("userId ne null").matches(&d));
        assert!(!f("lastSyncDateTime lt '2024-01-01T00:00:00Z'").matches(&d));
    }

    #[test]
    fn unknown_property_and_bad_syntax_are_refused() {
        let e = parse_filter("colour eq 'x'", KNOWN, "microsoft.graph.managedDevice").unwrap_err();
        assert!(
            e.contains("Could not find a property named 'colour'"),
            "{e}"
        );
        assert!(parse_filter("userId eq", KNOWN, "t").is_err());
        assert!(parse_filter("userId eq 'x' userId", KNOWN, "t").is_err());
        assert!(parse_filter("(userId eq 'x'", KNOWN, "t").is_err());
    }

    #[test]
    fn skiptokens_round_trip_per_kind() {
        let t = encode_skiptoken("md", 2000);
        assert_eq!(decode_skiptoken("md", &t), Some(2000));
        assert_eq!(decode_skiptoken("dir", &t), None);
        assert_eq!(decode_skiptoken("md", "garbage!"), None);
    }
}
