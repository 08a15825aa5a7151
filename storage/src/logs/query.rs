//! From the user's Lucene-syntax query to a tantivy query.
//!
//! tantivy's grammar parses the text; tantivy's `QueryParser` builds each leaf, with three
//! gaps filled here:
//!
//! - field names: a name that is not a top-level field, or that dots into a field that is not
//!   JSON (`host.name` with `host` a keyword field), means a key of `fields`;
//! - wildcards and prefixes on single terms (`time*`, `ser?ice`, `service:mark*`): tantivy's
//!   parser only has phrase prefixes (`"connection res"*`); here they become a regular
//!   expression over the field's terms (lower-cased where the field's tokenizer lower-cases);
//! - ranges and `field:*` on keys of `fields`: tantivy runs those only on fast JSON fields;
//!   here they are term ranges over the inverted index (numbers as i64, u64 and f64 terms,
//!   anything else as a range of lower-cased text terms).
//!
//! Terms are combined with AND unless the query says otherwise (`a b` = `a AND b`), and a
//! clause of only negations matches everything else (`-level:DEBUG`).

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, InvertedIndexRangeQuery, Occur, Query,
    QueryParser, RegexQuery,
};
use tantivy::query_grammar::{
    Delimiter, UserInputAst, UserInputBound, UserInputLeaf, UserInputLiteral,
};
use tantivy::schema::{Field, FieldType, Term, Type};

use super::schema::{FIELDS, KEYWORD_TOKENIZER, LogSchema, tokenizers};
use crate::StorageError;

pub(crate) struct QueryBuilder {
    schema: LogSchema,
    parser: QueryParser,
}

impl QueryBuilder {
    pub(crate) fn new(schema: &LogSchema) -> QueryBuilder {
        let mut parser = QueryParser::new(
            schema.schema.clone(),
            vec![schema.message, schema.fields],
            tokenizers(),
        );
        parser.set_conjunction_by_default();
        parser.allow_regexes();
        QueryBuilder {
            schema: schema.clone(),
            parser,
        }
    }

    /// The query for `text`; `None` when it matches everything (empty or `*`).
    pub(crate) fn parse(&self, text: &str) -> Result<Option<Box<dyn Query>>, StorageError> {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return Ok(None);
        }
        let ast = tantivy::query_grammar::parse_query(text).map_err(|_| {
            let (_, errors) = tantivy::query_grammar::parse_query_lenient(text);
            let detail = errors
                .first()
                .map(|e| format!("{} at position {}", e.message, e.pos))
                .unwrap_or_else(|| "syntax error".to_string());
            StorageError::InvalidQuery(format!("{detail} in {text:?}"))
        })?;
        self.convert(ast).map(Some)
    }

    fn convert(&self, ast: UserInputAst) -> Result<Box<dyn Query>, StorageError> {
        match ast {
            UserInputAst::Clause(children) => {
                let mut clauses = Vec::with_capacity(children.len() + 1);
                for (occur, child) in children {
                    clauses.push((occur.unwrap_or(Occur::Must), self.convert(child)?));
                }
                if clauses.is_empty() {
                    return Ok(Box::new(EmptyQuery));
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Should, Box::new(AllQuery)));
                }
                Ok(Box::new(BooleanQuery::new(clauses)))
            }
            // Hits are ordered by time, not score: a boost changes nothing.
            UserInputAst::Boost(child, _) => self.convert(*child),
            UserInputAst::Leaf(leaf) => self.leaf(*leaf),
        }
    }

    fn leaf(&self, mut leaf: UserInputLeaf) -> Result<Box<dyn Query>, StorageError> {
        if let Some(name) = leaf_field(&mut leaf) {
            *name = self.qualify(name);
        }
        match leaf {
            UserInputLeaf::Literal(lit)
                if lit.delimiter == Delimiter::None
                    && (lit.prefix || lit.phrase.contains(['*', '?'])) =>
            {
                self.wildcard(&lit)
            }
            UserInputLeaf::Range {
                field: Some(name),
                lower,
                upper,
            } if self.json_path(&name).is_some() => {
                let path = self.json_path(&name).unwrap_or_default();
                Ok(json_range(self.schema.fields, path, &lower, &upper))
            }
            UserInputLeaf::Exists { field } => self.exists(&field),
            leaf => self
                .parser
                .build_query_from_user_input_ast(UserInputAst::Leaf(Box::new(leaf)))
                .map_err(|e| StorageError::InvalidQuery(e.to_string())),
        }
    }

    /// The name a query field means: a top-level field, or else a key path of `fields`.
    fn qualify(&self, name: &str) -> String {
        let schema = &self.schema.schema;
        match schema.find_field(name) {
            Some((field, path))
                if path.is_empty() || schema.get_field_entry(field).field_type().is_json() =>
            {
                name.to_string()
            }
            _ => format!("{FIELDS}.{name}"),
        }
    }

    /// The key path inside `fields` that a qualified name targets, `Some("")` for `fields`
    /// itself.
    fn json_path<'a>(&self, name: &'a str) -> Option<&'a str> {
        match self.schema.schema.find_field(name) {
            Some((field, path)) if field == self.schema.fields => Some(path),
            _ => None,
        }
    }

    fn exists(&self, name: &str) -> Result<Box<dyn Query>, StorageError> {
        if let Some(path) = self.json_path(name) {
            // Any string or number under the path.
            let any = UserInputBound::Unbounded;
            let numbers = json_range(self.schema.fields, path, &any, &any);
            let strings = json_term_regex(self.schema.fields, path, ".*")?;
            return Ok(Box::new(BooleanQuery::new(vec![
                (Occur::Should, numbers),
                (Occur::Should, strings),
            ])));
        }
        let (field, _) = self.field(name)?;
        if self.schema.schema.get_field_entry(field).is_fast() {
            Ok(Box::new(ExistsQuery::new(name.to_string(), false)))
        } else {
            // Any term of the field.
            regex_query(".*", field)
        }
    }

    fn field(&self, name: &str) -> Result<(Field, &'static str), StorageError> {
        match self.schema.schema.find_field(name) {
            Some((field, "")) => Ok((field, "")),
            _ => Err(StorageError::InvalidQuery(format!(
                "unknown field {name:?}"
            ))),
        }
    }

    fn wildcard(&self, lit: &UserInputLiteral) -> Result<Box<dyn Query>, StorageError> {
        let mut pattern = lit.phrase.clone();
        if lit.prefix {
            pattern.push('*');
        }
        let Some(name) = &lit.field_name else {
            // Unqualified: the message, as for plain terms.
            return regex_query(
                &wildcard_regex(&pattern.to_lowercase()),
                self.schema.message,
            );
        };
        if let Some(path) = self.json_path(name) {
            return json_term_regex(
                self.schema.fields,
                path,
                &wildcard_regex(&pattern.to_lowercase()),
            );
        }
        let (field, _) = self.field(name)?;
        let FieldType::Str(options) = self.schema.schema.get_field_entry(field).field_type() else {
            return Err(StorageError::InvalidQuery(format!(
                "wildcards apply to text fields, not {name:?}"
            )));
        };
        let lowercase = options
            .get_indexing_options()
            .is_some_and(|o| matches!(o.tokenizer(), "default" | KEYWORD_TOKENIZER));
        if lowercase {
            pattern = pattern.to_lowercase();
        }
        regex_query(&wildcard_regex(&pattern), field)
    }
}

/// The field name a leaf targets, if it names one.
fn leaf_field(leaf: &mut UserInputLeaf) -> Option<&mut String> {
    match leaf {
        UserInputLeaf::Literal(lit) => lit.field_name.as_mut(),
        UserInputLeaf::Range { field, .. }
        | UserInputLeaf::Set { field, .. }
        | UserInputLeaf::Regex { field, .. } => field.as_mut(),
        UserInputLeaf::Exists { field } => Some(field),
        UserInputLeaf::All => None,
    }
}

fn regex_query(pattern: &str, field: Field) -> Result<Box<dyn Query>, StorageError> {
    RegexQuery::from_pattern(pattern, field)
        .map(|q| Box::new(q) as Box<dyn Query>)
        .map_err(|e| StorageError::InvalidQuery(e.to_string()))
}

/// `*` any run of characters, `?` one character, everything else literal.
fn wildcard_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// The bytes that begin every term of `fields` at `path` with value type `typ`.
fn json_prefix(field: Field, path: &str, typ: Type) -> Term {
    let mut term = Term::from_field_json_path(field, path, true);
    term.append_bytes(&[typ.to_code()]);
    term
}

/// A regular expression over the string terms under `path` (any path when it is empty).
fn json_term_regex(
    field: Field,
    path: &str,
    value_regex: &str,
) -> Result<Box<dyn Query>, StorageError> {
    let prefix = if path.is_empty() {
        // Any key path: path segments, the end-of-path byte, the string type.
        format!("[^\\x00]*\\x00{}", char::from(Type::Str.to_code()))
    } else {
        let term = json_prefix(field, path, Type::Str);
        let bytes = term.serialized_value_bytes();
        let text = std::str::from_utf8(bytes)
            .map_err(|_| StorageError::InvalidQuery(format!("field path {path:?} is not UTF-8")))?;
        text.chars()
            .map(|c| {
                if c.is_alphanumeric() {
                    c.to_string()
                } else {
                    format!("\\x{{{:x}}}", u32::from(c))
                }
            })
            .collect()
    };
    regex_query(&format!("{prefix}{value_regex}"), field)
}

/// A range over the terms of `fields` at `path`: numeric bounds match the i64, u64 and f64
/// terms in range; other bounds a range of (lower-cased) text terms.
fn json_range(
    field: Field,
    path: &str,
    lower: &UserInputBound,
    upper: &UserInputBound,
) -> Box<dyn Query> {
    // A bound as a float, and exactly when it is written as an integer.
    let number = |b: &UserInputBound| match b {
        UserInputBound::Inclusive(s) | UserInputBound::Exclusive(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| !v.is_nan())
            .map(|f| Some((f, s.parse::<i128>().ok()))),
        UserInputBound::Unbounded => Some(None),
    };
    // The typed appenders write the type byte, then the value.
    let term = |f: &dyn Fn(&mut Term)| {
        let mut t = Term::from_field_json_path(field, path, true);
        f(&mut t);
        t
    };
    if let (Some(lo), Some(hi)) = (number(lower), number(upper)) {
        let lo_inclusive = !matches!(lower, UserInputBound::Exclusive(_));
        let hi_inclusive = !matches!(upper, UserInputBound::Exclusive(_));
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // Integers: the smallest and largest integers inside the bounds.
        let int_lo = lo.map_or(Some(i128::from(i64::MIN)), |(f, i)| match i {
            Some(i) => Some(if lo_inclusive { i } else { i + 1 }),
            None => int_bound(f, lo_inclusive, true),
        });
        let int_hi = hi.map_or(Some(i128::from(u64::MAX)), |(f, i)| match i {
            Some(i) => Some(if hi_inclusive { i } else { i - 1 }),
            None => int_bound(f, hi_inclusive, false),
        });
        let (lo, hi) = (lo.map(|(f, _)| f), hi.map(|(f, _)| f));
        if let (Some(a), Some(b)) = (int_lo, int_hi)
            && a <= b
        {
            let i_lo = a.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            let i_hi = b.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            if i128::from(i_lo) <= b && a <= i128::from(i_hi) {
                clauses.push((
                    Occur::Should,
                    Box::new(InvertedIndexRangeQuery::new(
                        Bound::Included(term(&|t| t.append_type_and_fast_value(i_lo))),
                        Bound::Included(term(&|t| t.append_type_and_fast_value(i_hi))),
                    )),
                ));
            }
            // u64 terms only hold integers above i64::MAX.
            if b > i128::from(i64::MAX) {
                let u_lo = a.clamp(i128::from(i64::MAX) + 1, i128::from(u64::MAX)) as u64;
                let u_hi = b.min(i128::from(u64::MAX)) as u64;
                clauses.push((
                    Occur::Should,
                    Box::new(InvertedIndexRangeQuery::new(
                        Bound::Included(term(&|t| t.append_type_and_fast_value(u_lo))),
                        Bound::Included(term(&|t| t.append_type_and_fast_value(u_hi))),
                    )),
                ));
            }
        }
        let f_bound = |v: Option<f64>, inclusive: bool, default: f64| {
            let t = term(&|t| t.append_type_and_fast_value(v.unwrap_or(default)));
            if inclusive || v.is_none() {
                Bound::Included(t)
            } else {
                Bound::Excluded(t)
            }
        };
        clauses.push((
            Occur::Should,
            Box::new(InvertedIndexRangeQuery::new(
                f_bound(lo, lo_inclusive, f64::NEG_INFINITY),
                f_bound(hi, hi_inclusive, f64::INFINITY),
            )),
        ));
        return Box::new(BooleanQuery::new(clauses));
    }
    let text_bound = |b: &UserInputBound, unbounded: Bound<Term>| match b {
        UserInputBound::Inclusive(s) => {
            Bound::Included(term(&|t| t.append_type_and_str(&s.to_lowercase())))
        }
        UserInputBound::Exclusive(s) => {
            Bound::Excluded(term(&|t| t.append_type_and_str(&s.to_lowercase())))
        }
        UserInputBound::Unbounded => unbounded,
    };
    let lowest = Bound::Included(term(&|t| t.append_type_and_str("")));
    // Just past every string term of the path: the next type code.
    let mut past = Term::from_field_json_path(field, path, true);
    past.append_bytes(&[Type::Str.to_code() + 1]);
    Box::new(InvertedIndexRangeQuery::new(
        text_bound(lower, lowest),
        text_bound(upper, Bound::Excluded(past)),
    ))
}

/// The integer bound inside a real bound: the lower bound of `> 2.5` is 3, of `>= 3` is 3,
/// of `> 3` is 4; upper bounds likewise. `None` when no integer can satisfy it.
fn int_bound(v: f64, inclusive: bool, lower: bool) -> Option<i128> {
    let limit = 2f64.powi(70);
    if v.is_infinite() || v.abs() > limit {
        return match (v > 0.0, lower) {
            (true, true) | (false, false) => None,
            (true, false) => Some(i128::from(u64::MAX)),
            (false, true) => Some(i128::from(i64::MIN)),
        };
    }
    let integral = v.fract() == 0.0;
    let r = if lower {
        if integral && !inclusive {
            v + 1.0
        } else {
            v.ceil()
        }
    } else if integral && !inclusive {
        v - 1.0
    } else {
        v.floor()
    };
    Some(r as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_become_anchored_regexes() {
        assert_eq!(wildcard_regex("time*"), "time.*");
        assert_eq!(wildcard_regex("a?c.d"), "a.c\\.d");
    }

    #[test]
    fn integer_bounds() {
        assert_eq!(int_bound(2.5, true, true), Some(3));
        assert_eq!(int_bound(3.0, true, true), Some(3));
        assert_eq!(int_bound(3.0, false, true), Some(4));
        assert_eq!(int_bound(3.0, false, false), Some(2));
        assert_eq!(int_bound(-2.5, true, false), Some(-3));
        assert_eq!(int_bound(f64::INFINITY, true, true), None);
    }

    #[test]
    fn syntax_errors_say_where() {
        let b = QueryBuilder::new(&LogSchema::new());
        let err = b.parse("level:(ERROR").err().unwrap().to_string();
        assert!(err.starts_with("invalid query: "), "{err}");
        assert!(b.parse("").unwrap().is_none());
        assert!(b.parse(" * ").unwrap().is_none());
        assert!(
            b.parse("nosuchfield.x:1 AND host.name:a*")
                .unwrap()
                .is_some()
        );
    }
}
