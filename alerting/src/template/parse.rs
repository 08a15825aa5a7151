//! The parser of Go's `text/template`: tokens to a tree of text, actions and control
//! structures, with Go's parse-time checks (functions defined, variables declared, `break`
//! inside `range`, one `{{end}}` per control).

use std::collections::HashMap;

use super::error::Fail;
use super::funcs::{self, FuncStatus};
use super::lex::{Tok, Token};

/// Limits nesting of control structures so that a hostile template cannot exhaust the stack.
const MAX_NESTING: usize = 50;

pub(crate) type List = Vec<Node>;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    /// `pos..end` is the action's source (`template "name" .`), quoted by render errors.
    Template {
        pos: usize,
        end: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipe,
    pub(crate) list: List,
    pub(crate) else_list: Option<List>,
}

/// A pipeline, with its declared (`:=`) or assigned (`=`) variables.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub(crate) pos: usize,
    pub(crate) decl: Vec<String>,
    pub(crate) is_assign: bool,
    pub(crate) cmds: Vec<Cmd>,
}

/// One stage of a pipeline: a function, method or value and its arguments. `pos..end` is its
/// source text, which render errors quote as Go does.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub(crate) pos: usize,
    pub(crate) end: usize,
    pub(crate) args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.a.b`: fields of dot.
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// `(pipeline).a.b` or `func.a`: fields of a computed value.
    Chain(Box<Arg>, Vec<String>),
    Pipe(Box<Pipe>),
}

/// A parsed template set: the main body and the `define`d (or `block`) templates.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub(crate) root: List,
    pub(crate) defines: HashMap<String, List>,
}

/// How a list ended.
enum End {
    Eof,
    Close(usize),
    Else(usize),
}

/// Variable checks: `Some(names)` when the predefined variables are known at parse time (Go
/// refuses an undeclared variable when parsing); `None` leaves the check to rendering.
pub(crate) fn parse(tokens: Vec<Token>, predefined: Option<&[&str]>) -> Result<Tree, Fail> {
    let mut parser = Parser {
        tokens,
        next: 0,
        vars: Vec::new(),
        predefined: predefined.map(|names| names.iter().map(|n| format!("${n}")).collect()),
        range_depth: 0,
        nesting: 0,
        defines: HashMap::new(),
    };
    parser.reset_vars();
    let mut root = Vec::new();
    loop {
        if parser.at_keyword("define") {
            parser.definition()?;
            continue;
        }
        match parser.text_or_action()? {
            Item::Node(node) => root.push(node),
            Item::End(End::Eof) => break,
            Item::End(End::Close(pos)) => return Err(Fail::new(pos, "unexpected {{end}}")),
            Item::End(End::Else(pos)) => return Err(Fail::new(pos, "unexpected {{else}}")),
        }
    }
    Ok(Tree {
        root,
        defines: parser.defines,
    })
}

enum Item {
    Node(Node),
    End(End),
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Variables in scope, innermost last; `None` in `predefined` turns the check off.
    vars: Vec<String>,
    predefined: Option<Vec<String>>,
    range_depth: usize,
    nesting: usize,
    defines: HashMap<String, List>,
}

impl Parser {
    fn reset_vars(&mut self) {
        self.vars = vec!["$".to_owned()];
        if let Some(predefined) = &self.predefined {
            self.vars.extend(predefined.iter().cloned());
        }
    }

    fn peek(&self) -> &Token {
        // The lexer always ends with Eof, and `advance` never moves past it.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.next < self.tokens.len() - 1 {
            self.next += 1;
        }
        token
    }

    /// Where the last consumed token starts.
    fn consumed_pos(&self) -> usize {
        self.tokens[self.next.saturating_sub(1)].pos
    }

    fn skip_space(&mut self) {
        while self.peek().kind == Tok::Space {
            self.advance();
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.advance()
    }

    /// Is the next thing `{{KEYWORD`? Consumes nothing.
    fn at_keyword(&self, keyword: &str) -> bool {
        if self.peek().kind != Tok::LeftDelim {
            return false;
        }
        let mut i = self.next + 1;
        while self.tokens.get(i).is_some_and(|t| t.kind == Tok::Space) {
            i += 1;
        }
        matches!(self.tokens.get(i), Some(Token { kind: Tok::Ident(word), .. }) if word == keyword)
    }

    /// The `}}` that must come next.
    fn right_delim(&mut self, context: &str) -> Result<(), Fail> {
        let token = self.next_non_space();
        match token.kind {
            Tok::RightDelim => Ok(()),
            other => Err(unexpected(&other, token.pos, context)),
        }
    }

    /// The quoted template name that must come next.
    fn template_name(&mut self, context: &str) -> Result<String, Fail> {
        let token = self.next_non_space();
        match token.kind {
            Tok::Str(quoted) => unquote(&quoted).map_err(|m| Fail::new(token.pos, m)),
            Tok::RawStr(raw) => Ok(raw),
            other => Err(unexpected(&other, token.pos, context)),
        }
    }

    fn definition(&mut self) -> Result<(), Fail> {
        self.advance(); // {{
        let define = self.next_non_space();
        let name = self.template_name("define clause")?;
        self.right_delim("define clause")?;
        let body = self.definition_body(define.pos, "define clause")?;
        self.add_define(define.pos, name, body)
    }

    /// The body of a `define` or `block`, with its own variables (only `$` and the predefined).
    fn definition_body(&mut self, pos: usize, context: &str) -> Result<List, Fail> {
        let saved = std::mem::take(&mut self.vars);
        let saved_range = std::mem::take(&mut self.range_depth);
        self.reset_vars();
        let (body, end) = self.list()?;
        self.vars = saved;
        self.range_depth = saved_range;
        match end {
            End::Close(_) => Ok(body),
            End::Else(at) => Err(Fail::new(
                at,
                format!("unexpected {{{{else}}}} in {context}"),
            )),
            End::Eof => Err(Fail::new(pos, format!("unexpected EOF in {context}"))),
        }
    }

    fn add_define(&mut self, pos: usize, name: String, body: List) -> Result<(), Fail> {
        let empty = |list: &List| {
            list.iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.defines.get(&name) {
            Some(existing) if !empty(existing) && !empty(&body) => Err(Fail::new(
                pos,
                format!("multiple definition of template {name:?}"),
            )),
            Some(existing) if empty(&body) && !empty(existing) => Ok(()),
            _ => {
                self.defines.insert(name, body);
                Ok(())
            }
        }
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of the text.
    fn list(&mut self) -> Result<(List, End), Fail> {
        let mut list = Vec::new();
        loop {
            if self.at_keyword("define") {
                return Err(Fail::new(
                    self.peek().pos,
                    "{{define}} is only allowed at the top level",
                ));
            }
            match self.text_or_action()? {
                Item::Node(node) => list.push(node),
                Item::End(end) => return Ok((list, end)),
            }
        }
    }

    fn text_or_action(&mut self) -> Result<Item, Fail> {
        let token = self.advance();
        match token.kind {
            Tok::Text(text) => Ok(Item::Node(Node::Text(text))),
            Tok::LeftDelim => self.action(),
            Tok::Eof => Ok(Item::End(End::Eof)),
            other => Err(unexpected(&other, token.pos, "input")),
        }
    }

    fn action(&mut self) -> Result<Item, Fail> {
        self.skip_space();
        let token = self.peek().clone();
        if let Tok::Ident(word) = &token.kind {
            match word.as_str() {
                "end" => {
                    self.advance();
                    self.right_delim("end")?;
                    return Ok(Item::End(End::Close(token.pos)));
                }
                "else" => {
                    self.advance();
                    return Ok(Item::End(End::Else(token.pos)));
                }
                "if" | "with" | "range" => {
                    self.advance();
                    let kind = word.clone();
                    return self.control(&kind, token.pos).map(Item::Node);
                }
                "break" | "continue" => {
                    self.advance();
                    if self.range_depth == 0 {
                        return Err(Fail::new(
                            token.pos,
                            format!("{{{{{word}}}}} outside {{{{range}}}}"),
                        ));
                    }
                    self.right_delim(word)?;
                    return Ok(Item::Node(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    }));
                }
                "template" => {
                    self.advance();
                    let name = self.template_name("template clause")?;
                    self.skip_space();
                    let pipe = if self.peek().kind == Tok::RightDelim {
                        self.advance();
                        None
                    } else {
                        Some(self.pipeline("template clause", &Tok::RightDelim)?)
                    };
                    return Ok(Item::Node(Node::Template {
                        pos: token.pos,
                        end: self.consumed_pos(),
                        name,
                        pipe,
                    }));
                }
                "block" => {
                    self.advance();
                    let name = self.template_name("block clause")?;
                    let pipe = self.pipeline("block clause", &Tok::RightDelim)?;
                    let end = self.consumed_pos();
                    let body = self.definition_body(token.pos, "block clause")?;
                    self.add_define(token.pos, name.clone(), body)?;
                    return Ok(Item::Node(Node::Template {
                        pos: token.pos,
                        end,
                        name,
                        pipe: Some(pipe),
                    }));
                }
                "define" => {
                    return Err(Fail::new(
                        token.pos,
                        "{{define}} is only allowed at the top level",
                    ));
                }
                _ => {}
            }
        }
        let pipe = self.pipeline("command", &Tok::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn control(&mut self, kind: &str, pos: usize) -> Result<Node, Fail> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Fail::new(pos, "control structures nested too deeply"));
        }
        let scope = self.vars.len();
        let pipe = self.pipeline(kind, &Tok::RightDelim)?;
        if kind == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.list()?;
        if kind == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            End::Close(_) => None,
            End::Eof => return Err(Fail::new(pos, format!("unexpected EOF in {{{{{kind}}}}}"))),
            End::Else(else_pos) => {
                self.skip_space();
                let chained =
                    matches!(&self.peek().kind, Tok::Ident(w) if w == kind && kind != "range");
                if chained {
                    // `{{else if …}}` is `{{else}}{{if …}}…{{end}}{{end}}` sharing one `{{end}}`.
                    let inner = self.advance();
                    Some(vec![self.control(kind, inner.pos)?])
                } else {
                    self.right_delim("else")?;
                    let (else_list, end) = self.list()?;
                    match end {
                        End::Close(_) => Some(else_list),
                        End::Else(at) => {
                            return Err(Fail::new(
                                at,
                                format!(
                                    "expected end; found {{{{else}}}} after {{{{else}}}} at offset {else_pos}"
                                ),
                            ));
                        }
                        End::Eof => {
                            return Err(Fail::new(
                                pos,
                                format!("unexpected EOF in {{{{{kind}}}}}"),
                            ));
                        }
                    }
                }
            }
        };
        self.vars.truncate(scope);
        self.nesting -= 1;
        let branch = Branch {
            pipe,
            list,
            else_list,
        };
        Ok(match kind {
            "if" => Node::If(branch),
            "with" => Node::With(branch),
            _ => Node::Range(branch),
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> Result<Pipe, Fail> {
        self.skip_space();
        let pos = self.peek().pos;
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Declarations: `$x :=`, `$x =`, and in range `$i, $v :=`.
        if let Tok::Var(_) = self.peek().kind {
            let save = self.next;
            let mut names = Vec::new();
            let mut operator = None;
            while let Tok::Var(name) = self.peek().kind.clone() {
                self.advance();
                names.push(name);
                self.skip_space();
                match self.peek().kind {
                    Tok::Declare | Tok::Assign => {
                        operator = Some(self.advance());
                        break;
                    }
                    Tok::Comma if context == "range" && names.len() == 1 => {
                        self.advance();
                        self.skip_space();
                    }
                    _ => break,
                }
            }
            match operator {
                Some(op) => {
                    if names.len() > 2 || (names.len() == 2 && context != "range") {
                        return Err(Fail::new(
                            pos,
                            format!("too many declarations in {context}"),
                        ));
                    }
                    is_assign = op.kind == Tok::Assign;
                    for name in &names {
                        if is_assign {
                            self.use_var(name, pos)?;
                        } else {
                            self.vars.push(name.clone());
                        }
                    }
                    decl = names;
                }
                None => self.next = save,
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            if &self.peek().kind == end {
                let token = self.advance();
                if cmds.is_empty() {
                    return Err(Fail::new(token.pos, format!("missing value for {context}")));
                }
                break;
            }
            let cmd = self.command(end)?;
            cmds.push(cmd);
            self.skip_space();
            match self.peek().kind.clone() {
                Tok::Pipe => {
                    self.advance();
                }
                ref k if k == end => {}
                other => return Err(unexpected(&other, self.peek().pos, context)),
            }
        }
        for (stage, cmd) in cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(
                    Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Int(_) | Arg::Float(_) | Arg::Str(_)
                )
            ) {
                return Err(Fail::new(
                    cmd.pos,
                    format!("non executable command in pipeline stage {}", stage + 1),
                ));
            }
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self, end: &Tok) -> Result<Cmd, Fail> {
        let pos = self.peek().pos;
        let mut args = Vec::new();
        let mut last_end = pos;
        loop {
            self.skip_space();
            let kind = self.peek().kind.clone();
            if kind == Tok::Pipe || &kind == end {
                break;
            }
            let token_pos = self.peek().pos;
            match self.operand()? {
                Some(arg) => {
                    args.push(arg);
                    last_end = self.peek().pos;
                }
                None => return Err(unexpected(&kind, token_pos, "operand")),
            }
            match self.peek().kind {
                Tok::Space | Tok::Pipe => {}
                ref k if k == end => {}
                ref other => return Err(unexpected(other, self.peek().pos, "operand")),
            }
        }
        if args.is_empty() {
            return Err(Fail::new(pos, "empty command"));
        }
        Ok(Cmd {
            pos,
            end: last_end,
            args,
        })
    }

    fn operand(&mut self) -> Result<Option<Arg>, Fail> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        while let Tok::Field(name) = &self.peek().kind {
            fields.push(name.clone());
            self.advance();
        }
        if fields.is_empty() {
            return Ok(Some(term));
        }
        Ok(Some(match term {
            Arg::Field(mut chain) => {
                chain.extend(fields);
                Arg::Field(chain)
            }
            Arg::Var(name, mut chain) => {
                chain.extend(fields);
                Arg::Var(name, chain)
            }
            Arg::Bool(_) | Arg::Str(_) | Arg::Int(_) | Arg::Float(_) | Arg::Nil | Arg::Dot => {
                return Err(Fail::new(self.peek().pos, "unexpected . after term"));
            }
            other => Arg::Chain(Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>, Fail> {
        let token = self.peek().clone();
        let arg = match token.kind {
            Tok::Ident(word) => match word.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                "if" | "else" | "end" | "range" | "with" | "template" | "block" | "define"
                | "break" | "continue" => return Ok(None),
                name => match funcs::status(name) {
                    FuncStatus::Defined => Arg::Func(word),
                    FuncStatus::NeedsQueryEngine => {
                        return Err(Fail::new(
                            token.pos,
                            format!("function {name:?} not supported in Argus templates"),
                        ));
                    }
                    FuncStatus::Undefined => {
                        return Err(Fail::new(
                            token.pos,
                            format!("function {name:?} not defined"),
                        ));
                    }
                },
            },
            Tok::Dot => Arg::Dot,
            Tok::Var(name) => {
                self.use_var(&name, token.pos)?;
                Arg::Var(name, Vec::new())
            }
            Tok::Field(name) => Arg::Field(vec![name]),
            Tok::Number(text) => number(&text).map_err(|m| Fail::new(token.pos, m))?,
            Tok::Char(text) => Arg::Int(i64::from(u32::from(
                unquote_char(&text).map_err(|m| Fail::new(token.pos, m))?,
            ))),
            Tok::Str(quoted) => Arg::Str(unquote(&quoted).map_err(|m| Fail::new(token.pos, m))?),
            Tok::RawStr(raw) => Arg::Str(raw),
            Tok::LeftParen => {
                self.advance();
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen)?;
                return Ok(Some(Arg::Pipe(Box::new(pipe))));
            }
            _ => return Ok(None),
        };
        self.advance();
        Ok(Some(arg))
    }

    fn use_var(&self, name: &str, pos: usize) -> Result<(), Fail> {
        if self.predefined.is_none() || self.vars.iter().any(|v| v == name) {
            Ok(())
        } else {
            Err(Fail::new(pos, format!("undefined variable {name:?}")))
        }
    }
}

fn unexpected(kind: &Tok, pos: usize, context: &str) -> Fail {
    let what = match kind {
        Tok::Eof => return Fail::new(pos, format!("unexpected EOF in {context}")),
        Tok::RightDelim => "\"}}\"".to_owned(),
        Tok::LeftDelim => "\"{{\"".to_owned(),
        Tok::RightParen => "\")\"".to_owned(),
        Tok::LeftParen => "\"(\"".to_owned(),
        Tok::Pipe => "\"|\"".to_owned(),
        Tok::Comma => "\",\"".to_owned(),
        Tok::Declare => "\":=\"".to_owned(),
        Tok::Assign => "\"=\"".to_owned(),
        Tok::Other(c) => format!("{:?}", c.to_string()),
        Tok::Ident(word) => format!("<{word}>"),
        Tok::Field(name) => format!("<.{name}>"),
        Tok::Var(name) => format!("<{name}>"),
        Tok::Number(text) | Tok::Char(text) | Tok::Str(text) => text.clone(),
        Tok::RawStr(raw) => format!("`{raw}`"),
        Tok::Text(_) => "text".to_owned(),
        Tok::Space => "space".to_owned(),
        Tok::Dot => "<.>".to_owned(),
    };
    Fail::new(pos, format!("unexpected {what} in {context}"))
}

/// A number constant as Go's `text/template` types it: integer text gives an `int`, text with
/// a fraction or exponent a `float64`.
fn number(text: &str) -> Result<Arg, String> {
    if text.ends_with('i') && !text.starts_with("0x") {
        return Err(format!("complex number {text:?} is not supported"));
    }
    if let Some(value) = parse_go_int(text) {
        return i64::try_from(value)
            .map(Arg::Int)
            .map_err(|_| format!("{text} overflows int"));
    }
    let cleaned = text.replace('_', "");
    match cleaned.parse::<f64>() {
        Ok(value) if text.contains(['.', 'e', 'E']) && !text.starts_with("0x") => {
            Ok(Arg::Float(value))
        }
        Ok(_) => Err(format!("integer overflow: {text:?}")),
        Err(_) => Err(format!("illegal number syntax: {text:?}")),
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)` before the range check: sign, base prefix
/// (`0x`, `0o`, `0b`, or a leading `0` for octal), digits with underscores.
fn parse_go_int(text: &str) -> Option<i128> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.len() > 40 {
        return None;
    }
    let value = i128::from_str_radix(&digits, radix).ok()?;
    Some(if negative { -value } else { value })
}

/// Go's `strconv.Unquote` for a double-quoted string.
pub(crate) fn unquote(quoted: &str) -> Result<String, String> {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("invalid syntax: {quoted}"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars
            .next()
            .ok_or_else(|| format!("invalid syntax: {quoted}"))?;
        push_escape(escape, &mut chars, '"', &mut out)
            .ok_or_else(|| format!("invalid syntax: {quoted}"))?;
    }
    Ok(out)
}

fn unquote_char(quoted: &str) -> Result<char, String> {
    let bad = || format!("malformed character constant: {quoted}");
    let inner = quoted
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .ok_or_else(bad)?;
    let mut chars = inner.chars().peekable();
    let mut out = String::new();
    match chars.next() {
        Some('\\') => {
            let escape = chars.next().ok_or_else(bad)?;
            push_escape(escape, &mut chars, '\'', &mut out).ok_or_else(bad)?;
        }
        Some(c) => out.push(c),
        None => return Err(bad()),
    }
    let mut result = out.chars();
    match (result.next(), result.next(), chars.next()) {
        (Some(c), None, None) => Ok(c),
        _ => Err(bad()),
    }
}

/// Appends the character of the escape sequence after a backslash; `None` when invalid.
fn push_escape(
    escape: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    quote: char,
    out: &mut String,
) -> Option<()> {
    let simple = match escape {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        c if c == quote => Some(c),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return Some(());
    }
    let mut take = |n: usize, radix: u32| -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..n {
            value = value * radix + chars.next()?.to_digit(radix)?;
        }
        Some(value)
    };
    match escape {
        'x' => out.push(char::from(u8::try_from(take(2, 16)?).ok()?)),
        'u' => out.push(char::from_u32(take(4, 16)?)?),
        'U' => out.push(char::from_u32(take(8, 16)?)?),
        '0'..='7' => {
            let rest = take(2, 8)?;
            let value = escape.to_digit(8)? * 64 + rest;
            out.push(char::from(u8::try_from(value).ok()?));
        }
        _ => return None,
    }
    Some(())
}
