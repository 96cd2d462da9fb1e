//! A small GraphQL document parser: enough of the language for the operations the emulator serves.
//!
//! Supported: one or more operations (`query`/`mutation`, optionally named, with variable definitions whose
//! types are skipped, or an anonymous `{ … }` query), fields with aliases, arguments, directives and
//! selection sets, named fragments and fragment spreads, inline fragments (their fields are merged, the
//! type condition is ignored), every literal kind, variables, comments and commas. Not supported:
//! subscriptions, block strings. Arguments are resolved against the request's `variables` into
//! `serde_json` values; a variable that was not supplied makes the argument (or input-object field)
//! absent, as GraphQL specifies.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

/// A literal or variable in a document.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    Variable(String),
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Enum(String),
    List(Vec<Literal>),
    Object(Vec<(String, Literal)>),
}

impl Literal {
    /// The value with variables substituted; `None` when it is a variable that was not supplied.
    pub(super) fn resolve(&self, variables: &Map<String, Value>) -> Option<Value> {
        Some(match self {
            Self::Variable(name) => return variables.get(name).cloned(),
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::String(s) | Self::Enum(s) => Value::String(s.clone()),
            Self::List(items) => {
                Value::Array(items.iter().map(|item| item.resolve(variables).unwrap_or(Value::Null)).collect())
            }
            Self::Object(fields) => Value::Object(
                fields.iter().filter_map(|(key, value)| Some((key.clone(), value.resolve(variables)?))).collect(),
            ),
        })
    }
}

/// A directive such as `@idempotent(key: "…")`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Directive {
    pub(super) name: String,
    pub(super) arguments: Vec<(String, Literal)>,
}

/// A field in a selection set.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Field {
    pub(super) alias: Option<String>,
    pub(super) name: String,
    pub(super) arguments: Vec<(String, Literal)>,
    pub(super) directives: Vec<Directive>,
    /// Empty for scalar fields.
    pub(super) selection: Vec<Field>,
}

impl Field {
    /// The key the field's value has in the response.
    pub(super) fn response_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// Argument `name`, resolved; `None` when absent (or an unsupplied variable).
    pub(super) fn argument(&self, name: &str, variables: &Map<String, Value>) -> Option<Value> {
        self.arguments.iter().find(|(key, _)| key == name).and_then(|(_, value)| value.resolve(variables))
    }

    /// The sub-field called `name` (first match), if selected.
    pub(super) fn child(&self, name: &str) -> Option<&Field> {
        self.selection.iter().find(|field| field.name == name)
    }
}

/// Query or mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OperationKind {
    Query,
    Mutation,
}

impl OperationKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
        }
    }
}

/// One operation, fragments expanded.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Operation {
    pub(super) kind: OperationKind,
    pub(super) name: Option<String>,
    /// Variable defaults from the definitions (`$first: Int = 10`).
    pub(super) defaults: Map<String, Value>,
    pub(super) selection: Vec<Field>,
}

/// Parses `document` and picks the operation named `operation_name` (or the only one).
pub(super) fn parse_operation(document: &str, operation_name: Option<&str>) -> Result<Operation, String> {
    let tokens = tokenize(document)?;
    let mut parser = Parser { tokens, pos: 0, fragments: HashMap::new() };
    let mut operations = Vec::new();
    let mut raw_fragments: Vec<(String, Vec<RawSelection>)> = Vec::new();
    while !parser.at_end() {
        match parser.peek() {
            Some(Token::Name(word)) if word == "fragment" => {
                parser.pos += 1;
                let name = parser.name()?;
                parser.expect_name("on")?;
                parser.name()?;
                let selection = parser.selection_set()?;
                raw_fragments.push((name, selection));
            }
            _ => operations.push(parser.operation()?),
        }
    }
    parser.fragments = raw_fragments.into_iter().collect();
    let chosen = match operation_name {
        Some(wanted) => operations.into_iter().find(|op| op.name.as_deref() == Some(wanted)),
        None if operations.len() == 1 => operations.pop(),
        None => return Err("Must provide operation name if query contains multiple operations".into()),
    };
    let raw = chosen.ok_or_else(|| "No operation found with that name".to_owned())?;
    let selection = parser.expand(&raw.selection, 0)?;
    Ok(Operation { kind: raw.kind, name: raw.name, defaults: raw.defaults, selection })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Variable(String),
    Int(i64),
    Float(f64),
    Str(String),
    Punct(char),
    Spread,
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() || c == ',' || c == '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | '=' | '@' | '!' | '|' | '&' => {
                tokens.push(Token::Punct(c));
                i += 1;
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    tokens.push(Token::Spread);
                    i += 3;
                } else {
                    return Err(format!("unexpected '.' at {i}"));
                }
            }
            '$' => {
                i += 1;
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                if start == i {
                    return Err("expected a variable name after '$'".into());
                }
                tokens.push(Token::Variable(chars[start..i].iter().collect()));
            }
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    return Err("block strings are not supported by the emulator".into());
                }
                i += 1;
                let mut text = String::new();
                loop {
                    let Some(&ch) = chars.get(i) else { return Err("unterminated string".into()) };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(&escaped) = chars.get(i) else { return Err("unterminated string".into()) };
                            i += 1;
                            match escaped {
                                'n' => text.push('\n'),
                                't' => text.push('\t'),
                                'r' => text.push('\r'),
                                'b' => text.push('\u{8}'),
                                'f' => text.push('\u{c}'),
                                'u' => {
                                    let hex: String = chars.get(i..i + 4).unwrap_or_default().iter().collect();
                                    let code = u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?;
                                    text.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                    i += 4;
                                }
                                other => text.push(other),
                            }
                        }
                        other => text.push(other),
                    }
                }
                tokens.push(Token::Str(text));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                let mut float = false;
                while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    float |= matches!(chars[i], '.' | 'e' | 'E');
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if float {
                    tokens.push(Token::Float(text.parse().map_err(|_| format!("bad number {text}"))?));
                } else {
                    tokens.push(Token::Int(text.parse().map_err(|_| format!("bad number {text}"))?));
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Name(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone)]
enum RawSelection {
    Field { field: Field, selection: Vec<RawSelection> },
    Spread(String),
    Inline(Vec<RawSelection>),
}

#[derive(Debug)]
struct RawOperation {
    kind: OperationKind,
    name: Option<String>,
    defaults: Map<String, Value>,
    selection: Vec<RawSelection>,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    fragments: HashMap<String, Vec<RawSelection>>,
}

/// Deepest selection nesting (and fragment expansion) accepted.
const MAX_DEPTH: usize = 32;

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Result<Token, String> {
        let token = self.tokens.get(self.pos).cloned().ok_or_else(|| "unexpected end of document".to_owned())?;
        self.pos += 1;
        Ok(token)
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Token::Punct(punct)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: char) -> Result<(), String> {
        if self.eat(punct) { Ok(()) } else { Err(format!("expected '{punct}' at token {}", self.pos)) }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Name(name) => Ok(name),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    fn expect_name(&mut self, word: &str) -> Result<(), String> {
        let name = self.name()?;
        if name == word { Ok(()) } else { Err(format!("expected {word:?}, found {name:?}")) }
    }

    fn operation(&mut self) -> Result<RawOperation, String> {
        let mut kind = OperationKind::Query;
        let mut name = None;
        let mut defaults = Map::new();
        if let Some(Token::Name(word)) = self.peek() {
            kind = match word.as_str() {
                "query" => OperationKind::Query,
                "mutation" => OperationKind::Mutation,
                other => return Err(format!("unsupported operation type {other:?}")),
            };
            self.pos += 1;
            if let Some(Token::Name(op_name)) = self.peek() {
                name = Some(op_name.clone());
                self.pos += 1;
            }
            if self.eat('(') {
                while !self.eat(')') {
                    let Token::Variable(var) = self.next()? else {
                        return Err("expected a variable definition".into());
                    };
                    self.expect(':')?;
                    self.skip_type()?;
                    if self.eat('=') {
                        let value = self.literal(true)?;
                        defaults.insert(var, value.resolve(&Map::new()).unwrap_or(Value::Null));
                    }
                    self.directives()?;
                }
            }
            self.directives()?;
        }
        let selection = self.selection_set()?;
        Ok(RawOperation { kind, name, defaults, selection })
    }

    fn skip_type(&mut self) -> Result<(), String> {
        if self.eat('[') {
            self.skip_type()?;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        self.eat('!');
        Ok(())
    }

    fn selection_set(&mut self) -> Result<Vec<RawSelection>, String> {
        self.expect('{')?;
        let mut out = Vec::new();
        while !self.eat('}') {
            if self.peek() == Some(&Token::Spread) {
                self.pos += 1;
                match self.peek() {
                    Some(Token::Name(word)) if word == "on" => {
                        self.pos += 1;
                        self.name()?;
                        self.directives()?;
                        out.push(RawSelection::Inline(self.selection_set()?));
                    }
                    Some(Token::Name(_)) => {
                        let name = self.name()?;
                        self.directives()?;
                        out.push(RawSelection::Spread(name));
                    }
                    _ => {
                        self.directives()?;
                        out.push(RawSelection::Inline(self.selection_set()?));
                    }
                }
                continue;
            }
            let first = self.name()?;
            let (alias, name) = if self.eat(':') { (Some(first), self.name()?) } else { (None, first) };
            let arguments = if self.peek() == Some(&Token::Punct('(')) { self.arguments()? } else { Vec::new() };
            let directives = self.directives()?;
            let selection = if self.peek() == Some(&Token::Punct('{')) { self.selection_set()? } else { Vec::new() };
            out.push(RawSelection::Field {
                field: Field { alias, name, arguments, directives, selection: Vec::new() },
                selection,
            });
        }
        Ok(out)
    }

    fn arguments(&mut self) -> Result<Vec<(String, Literal)>, String> {
        self.expect('(')?;
        let mut out = Vec::new();
        while !self.eat(')') {
            let name = self.name()?;
            self.expect(':')?;
            out.push((name, self.literal(false)?));
        }
        Ok(out)
    }

    fn directives(&mut self) -> Result<Vec<Directive>, String> {
        let mut out = Vec::new();
        while self.eat('@') {
            let name = self.name()?;
            let arguments = if self.peek() == Some(&Token::Punct('(')) { self.arguments()? } else { Vec::new() };
            out.push(Directive { name, arguments });
        }
        Ok(out)
    }

    fn literal(&mut self, constant: bool) -> Result<Literal, String> {
        Ok(match self.next()? {
            Token::Variable(name) if !constant => Literal::Variable(name),
            Token::Variable(_) => return Err("variables are not allowed here".into()),
            Token::Int(i) => Literal::Int(i),
            Token::Float(f) => Literal::Float(f),
            Token::Str(s) => Literal::String(s),
            Token::Name(word) => match word.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                _ => Literal::Enum(word),
            },
            Token::Punct('[') => {
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.literal(constant)?);
                }
                Literal::List(items)
            }
            Token::Punct('{') => {
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let name = self.name()?;
                    self.expect(':')?;
                    fields.push((name, self.literal(constant)?));
                }
                Literal::Object(fields)
            }
            other => return Err(format!("expected a value, found {other:?}")),
        })
    }

    fn expand(&self, raw: &[RawSelection], depth: usize) -> Result<Vec<Field>, String> {
        if depth > MAX_DEPTH {
            return Err("selection nested too deeply (or a fragment cycle)".into());
        }
        let mut out = Vec::new();
        for item in raw {
            match item {
                RawSelection::Field { field, selection } => {
                    let mut field = field.clone();
                    field.selection = self.expand(selection, depth + 1)?;
                    out.push(field);
                }
                RawSelection::Spread(name) => {
                    let fragment =
                        self.fragments.get(name).ok_or_else(|| format!("Fragment {name} was used, but not defined"))?;
                    out.extend(self.expand(fragment, depth + 1)?);
                }
                RawSelection::Inline(selection) => out.extend(self.expand(selection, depth + 1)?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_mutation_with_directive_and_variables() {
        let doc = r#"
            # set stock
            mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
              inventorySetQuantities(input: $input) @idempotent(key: $key) {
                inventoryAdjustmentGroup { id changes { name delta } }
                userErrors { code field message }
              }
            }"#;
        let op = parse_operation(doc, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op.kind, OperationKind::Mutation);
        let root = &op.selection[0];
        assert_eq!(root.name, "inventorySetQuantities");
        assert_eq!(root.directives[0].name, "idempotent");
        let vars = json!({"input": {"name": "available"}, "key": "k1"});
        let vars = vars.as_object().cloned().unwrap_or_default();
        assert_eq!(root.argument("input", &vars), Some(json!({"name": "available"})));
        assert_eq!(root.directives[0].arguments[0].1.resolve(&vars), Some(json!("k1")));
    }

    #[test]
    fn inline_literals_aliases_and_fragments() {
        let doc = r#"query { a: productVariants(first: 2, query: "sku:X") { ...V } }
                     fragment V on ProductVariantConnection { nodes { id sku } pageInfo { hasNextPage } }"#;
        let op = parse_operation(doc, None).unwrap_or_else(|e| panic!("{e}"));
        let root = &op.selection[0];
        assert_eq!(root.response_key(), "a");
        assert_eq!(root.argument("first", &Map::new()), Some(json!(2)));
        assert_eq!(root.selection.len(), 2);
        let object = Literal::Object(vec![
            ("x".into(), Literal::Variable("missing".into())),
            ("y".into(), Literal::Null),
            ("z".into(), Literal::List(vec![Literal::Int(1), Literal::Float(1.5), Literal::Enum("AVAILABLE".into())])),
        ]);
        assert_eq!(object.resolve(&Map::new()), Some(json!({"y": null, "z": [1, 1.5, "AVAILABLE"]})));
    }

    #[test]
    fn rejects_broken_documents() {
        assert!(parse_operation("{ shop { id }", None).is_err());
        assert!(parse_operation("subscription { x }", None).is_err());
        assert!(parse_operation("query A { a } query B { b }", None).is_err());
        assert!(parse_operation("query A { a } query B { b }", Some("B")).is_ok());
        assert!(parse_operation("{ ...Missing }", None).is_err());
        assert!(parse_operation("fragment F on X { ...F } { ...F }", None).is_err());
    }
}
