//! Rendering a parsed template: Go's `text/template` execution (`exec.go`) over [`Value`]s,
//! bounded in template-call depth, work and output size so that no input runs away.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::error::Fail;
use super::fmt::write_value;
use super::funcs::{self, CallError, Env};
use super::parse::{Arg, Cmd, List, Node, Pipe, Tree};
use super::value::{MapKind, Value};

/// Nested `{{template}}` calls allowed (Go allows 100000; a template that needs more than a
/// few is a loop).
pub(crate) const MAX_TEMPLATE_DEPTH: usize = 50;
/// Nesting of template calls, control structures and parenthesised pipelines together while
/// rendering: each level is a few stack frames, and renders run on ordinary threads (2 MiB
/// stacks), so the total is bounded, not only each kind.
pub(crate) const MAX_NESTING: usize = 150;
/// Output allowed from one render.
pub(crate) const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Nodes, iterations and calls allowed in one render.
pub(crate) const MAX_STEPS: u64 = 1_000_000;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'t> {
    tree: &'t Tree,
    name: &'t str,
    text: &'t str,
    /// The variables of the current template call, innermost last; `$` first.
    vars: Vec<(String, Value)>,
    /// The predefined variables, visible in every template.
    globals: Vec<(String, Value)>,
    env: Env<'t>,
    out: String,
    depth: usize,
    nesting: usize,
    steps: u64,
}

type Result<T> = std::result::Result<T, Fail>;

impl<'t> Exec<'t> {
    pub(crate) fn new(
        tree: &'t Tree,
        name: &'t str,
        text: &'t str,
        globals: Vec<(String, Value)>,
        external_url: &'t str,
    ) -> Exec<'t> {
        Exec {
            tree,
            name,
            text,
            vars: Vec::new(),
            globals,
            env: Env { external_url },
            out: String::new(),
            depth: 0,
            nesting: 0,
            steps: 0,
        }
    }

    pub(crate) fn run(mut self, dot: Value) -> Result<String> {
        self.vars.push(("$".to_owned(), dot.clone()));
        let tree = self.tree;
        self.walk_list(&dot, &tree.root)?;
        Ok(self.out)
    }

    /// An error at `pos`, with Go's `executing "NAME" at <…>:` context.
    fn error(&self, pos: usize, end: usize, message: impl std::fmt::Display) -> Fail {
        let context = self.text.get(pos..end).unwrap_or("").trim();
        let context = if context.chars().count() > 20 {
            format!("{}...", context.chars().take(20).collect::<String>())
        } else {
            context.to_owned()
        };
        Fail::new(
            pos,
            format!("executing {:?} at <{context}>: {message}", self.name),
        )
    }

    fn step(&mut self, pos: usize) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.error(
                pos,
                pos,
                format!("template does more than {MAX_STEPS} steps"),
            ));
        }
        Ok(())
    }

    fn write_out(&mut self, pos: usize, text: &str) -> Result<()> {
        if self.out.len() + text.len() > MAX_OUTPUT_BYTES {
            return Err(self.error(pos, pos, format!("output exceeds {MAX_OUTPUT_BYTES} bytes")));
        }
        self.out.push_str(text);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &List) -> Result<Flow> {
        for node in list {
            match self.walk(dot, node)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> Result<Flow> {
        if matches!(
            node,
            Node::Text(_) | Node::Action(_) | Node::Break | Node::Continue
        ) {
            return self.walk_node(dot, node);
        }
        self.enter(0)?;
        let flow = self.walk_node(dot, node);
        self.nesting -= 1;
        flow
    }

    fn enter(&mut self, pos: usize) -> Result<()> {
        if self.nesting >= MAX_NESTING {
            return Err(self.error(
                pos,
                pos,
                format!("template nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        self.nesting += 1;
        Ok(())
    }

    fn walk_node(&mut self, dot: &Value, node: &Node) -> Result<Flow> {
        match node {
            Node::Text(text) => {
                self.step(0)?;
                self.write_out(0, text)?;
            }
            Node::Action(pipe) => {
                self.step(pipe.pos)?;
                let value = self.pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let mut printed = String::new();
                    match value {
                        Value::Nil => printed.push_str("<no value>"),
                        value => write_value(&mut printed, &value),
                    }
                    self.write_out(pipe.pos, &printed)?;
                }
            }
            Node::If(branch) | Node::With(branch) => {
                self.step(branch.pipe.pos)?;
                let mark = self.vars.len();
                let value = self.pipeline(dot, &branch.pipe)?;
                let flow = if value.is_true() {
                    let inner = if matches!(node, Node::With(_)) {
                        &value
                    } else {
                        dot
                    };
                    self.walk_list(inner, &branch.list)?
                } else if let Some(else_list) = &branch.else_list {
                    self.walk_list(dot, else_list)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(branch) => {
                self.step(branch.pipe.pos)?;
                let flow =
                    self.range(dot, &branch.pipe, &branch.list, branch.else_list.as_ref())?;
                return Ok(flow);
            }
            Node::Template { pos, name, pipe } => {
                self.step(*pos)?;
                let new_dot = match pipe {
                    Some(pipe) => self.pipeline(dot, pipe)?,
                    None => Value::Nil,
                };
                let tree = self.tree;
                let Some(body) = tree.defines.get(name) else {
                    return Err(self.error(*pos, *pos, format!("no such template {name:?}")));
                };
                if self.depth >= MAX_TEMPLATE_DEPTH {
                    return Err(self.error(
                        *pos,
                        *pos,
                        format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
                    ));
                }
                self.depth += 1;
                let saved =
                    std::mem::replace(&mut self.vars, vec![("$".to_owned(), new_dot.clone())]);
                let result = self.walk_list(&new_dot, body);
                self.vars = saved;
                self.depth -= 1;
                result?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        dot: &Value,
        pipe: &Pipe,
        list: &List,
        else_list: Option<&List>,
    ) -> Result<Flow> {
        let mark = self.vars.len();
        let value = self.commands(dot, pipe)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(map, _) => map
                .iter()
                .map(|(k, v)| (Value::str(k), v.clone()))
                .collect(),
            Value::Int(n) => {
                if pipe.decl.len() > 1 {
                    return Err(self.error(
                        pipe.pos,
                        pipe.pos,
                        "can't use two variables to range over an integer",
                    ));
                }
                let n = (*n).clamp(0, (MAX_STEPS + 1) as i64);
                (0..n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Nil => Vec::new(),
            other => {
                return Err(self.error(
                    pipe.pos,
                    pipe.pos,
                    format!(
                        "range can't iterate over {}",
                        super::fmt::value_string(other)
                    ),
                ));
            }
        };
        if items.is_empty() {
            let flow = match else_list {
                Some(else_list) => self.walk_list(dot, else_list)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(match flow {
                Flow::Normal => Flow::Normal,
                // `break`/`continue` in a range's else belong to an outer range.
                other => other,
            });
        }
        for (key, item) in items {
            self.step(pipe.pos)?;
            let iteration = self.vars.len();
            match pipe.decl.as_slice() {
                [] => {}
                [only] => self.bind(pipe, only, item.clone())?,
                [first, second, ..] => {
                    self.bind(pipe, first, key)?;
                    self.bind(pipe, second, item.clone())?;
                }
            }
            let flow = self.walk_list(&item, list)?;
            self.vars.truncate(iteration);
            if let Flow::Break = flow {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn bind(&mut self, pipe: &Pipe, name: &str, value: Value) -> Result<()> {
        if pipe.is_assign {
            self.assign(pipe.pos, name, value)
        } else {
            self.vars.push((name.to_owned(), value));
            Ok(())
        }
    }

    fn assign(&mut self, pos: usize, name: &str, value: Value) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.error(pos, pos, format!("undefined variable: {name}"))),
        }
    }

    fn var(&self, pos: usize, end: usize, name: &str) -> Result<Value> {
        self.vars
            .iter()
            .rev()
            .chain(self.globals.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.error(pos, end, format!("undefined variable: {name}")))
    }

    /// The pipeline's value; declares or assigns its variables.
    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let value = self.commands(dot, pipe)?;
        for name in &pipe.decl {
            self.bind(pipe, name, value.clone())?;
        }
        Ok(value)
    }

    fn commands(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or(Value::Nil))
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> Result<Value> {
        self.step(cmd.pos)?;
        let (first, rest) = match cmd.args.split_first() {
            Some(split) => split,
            None => return Err(self.error(cmd.pos, cmd.end, "empty command")),
        };
        let not_a_function = |this: &Self, what: &str| -> Result<()> {
            if !rest.is_empty() || fin.is_some() {
                Err(this.error(
                    cmd.pos,
                    cmd.end,
                    format!("can't give argument to non-function {what}"),
                ))
            } else {
                Ok(())
            }
        };
        match first {
            Arg::Func(name) => self.call(dot, cmd, name, rest, fin),
            Arg::Field(chain) => self.field_chain(dot, cmd, dot.clone(), chain, rest, fin),
            Arg::Var(name, chain) => {
                let value = self.var(cmd.pos, cmd.end, name)?;
                if chain.is_empty() {
                    not_a_function(self, name)?;
                    return Ok(value);
                }
                self.field_chain(dot, cmd, value, chain, rest, fin)
            }
            Arg::Chain(node, chain) => {
                let value = self.arg(dot, cmd, node)?;
                self.field_chain(dot, cmd, value, chain, rest, fin)
            }
            Arg::Nil => Err(self.error(cmd.pos, cmd.end, "nil is not a command")),
            other => {
                not_a_function(self, self.text.get(cmd.pos..cmd.end).unwrap_or("").trim())?;
                self.arg(dot, cmd, other)
            }
        }
    }

    fn arg(&mut self, dot: &Value, cmd: &Cmd, arg: &Arg) -> Result<Value> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::str(s),
            Arg::Field(chain) => self.field_chain(dot, cmd, dot.clone(), chain, &[], None)?,
            Arg::Var(name, chain) => {
                let value = self.var(cmd.pos, cmd.end, name)?;
                self.field_chain(dot, cmd, value, chain, &[], None)?
            }
            Arg::Func(name) => self.call(dot, cmd, name, &[], None)?,
            Arg::Chain(node, chain) => {
                let value = self.arg(dot, cmd, node)?;
                self.field_chain(dot, cmd, value, chain, &[], None)?
            }
            Arg::Pipe(pipe) => {
                self.enter(pipe.pos)?;
                let mark = self.vars.len();
                let value = self.pipeline(dot, pipe);
                self.vars.truncate(mark);
                self.nesting -= 1;
                value?
            }
        })
    }

    fn args(
        &mut self,
        dot: &Value,
        cmd: &Cmd,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Vec<Value>> {
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.arg(dot, cmd, arg)?);
        }
        values.extend(fin);
        Ok(values)
    }

    /// `receiver.a.b.c`, the last element receiving `args` when it is a method.
    fn field_chain(
        &mut self,
        dot: &Value,
        cmd: &Cmd,
        mut receiver: Value,
        chain: &[String],
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value> {
        let Some((last, path)) = chain.split_last() else {
            return Ok(receiver);
        };
        for name in path {
            receiver = self.field(cmd, &receiver, name, Vec::new(), false)?;
        }
        let has_args = !args.is_empty() || fin.is_some();
        let values = self.args(dot, cmd, args, fin)?;
        self.field(cmd, &receiver, last, values, has_args)
    }

    fn field(
        &mut self,
        cmd: &Cmd,
        receiver: &Value,
        name: &str,
        args: Vec<Value>,
        has_args: bool,
    ) -> Result<Value> {
        if let Some(result) = funcs::method(receiver, name, &args) {
            return result.map_err(|e| self.call_error(cmd, name, e));
        }
        match receiver {
            Value::Map(map, kind) => {
                if has_args {
                    return Err(self.error(
                        cmd.pos,
                        cmd.end,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                Ok(match map.get(name) {
                    Some(value) => value.clone(),
                    None if *kind == MapKind::Strings => Value::str(""),
                    None => Value::Nil,
                })
            }
            Value::Nil => Ok(Value::Nil),
            other => Err(self.error(
                cmd.pos,
                cmd.end,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }

    fn call_error(&self, cmd: &Cmd, name: &str, error: CallError) -> Fail {
        match error {
            CallError::Args(message) => self.error(cmd.pos, cmd.end, message),
            CallError::Failed(message) => {
                self.error(cmd.pos, cmd.end, format!("error calling {name}: {message}"))
            }
        }
    }

    fn call(
        &mut self,
        dot: &Value,
        cmd: &Cmd,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value> {
        if name == "and" || name == "or" {
            if args.is_empty() && fin.is_none() {
                return Err(self.error(
                    cmd.pos,
                    cmd.end,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            // Go 1.18: evaluation stops at the first argument that decides the result.
            let mut value = Value::Nil;
            for arg in args {
                value = self.arg(dot, cmd, arg)?;
                if value.is_true() == (name == "or") {
                    return Ok(value);
                }
            }
            return Ok(fin.unwrap_or(value));
        }
        let values = self.args(dot, cmd, args, fin)?;
        funcs::call(name, &values, &self.env).map_err(|e| self.call_error(cmd, name, e))
    }
}

/// Converts the caller's predefined variables (`labels` or `$labels`) to values.
pub(crate) fn globals(vars: &[(&str, serde_json::Value)]) -> Vec<(String, Value)> {
    vars.iter()
        .map(|(name, value)| {
            let name = if name.starts_with('$') {
                (*name).to_owned()
            } else {
                format!("${name}")
            };
            (name, Value::from_json(value))
        })
        .collect()
}

/// A label set as a Go `map[string]string` value.
pub(crate) fn label_value(labels: &BTreeMap<String, String>) -> Value {
    Value::labels(labels.iter())
}

/// A Go `map[string]interface{}` from named values (Prometheus' template data struct).
pub(crate) fn struct_value(fields: Vec<(&str, Value)>) -> Value {
    let map = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Value::Map(Rc::new(map), MapKind::Any)
}
