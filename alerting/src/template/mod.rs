//! Go's `text/template`, our own implementation, as Prometheus renders alert labels and
//! annotations and Alertmanager renders notifications: text and actions, trim markers,
//! comments, pipelines, variables, field chains, `if`/`range`/`with`/`define`/`template`/
//! `block`, Go's builtins and Prometheus' and Alertmanager's functions, formatted byte for byte
//! as Go formats them.
//!
//! A template is parsed once ([`Template::parse`]) and rendered many times. Rendering is
//! bounded: template calls nest at most [`exec::MAX_TEMPLATE_DEPTH`] deep, calls, controls and
//! parentheses together at most [`exec::MAX_NESTING`], one render does at most
//! [`exec::MAX_STEPS`] steps and writes at most [`exec::MAX_OUTPUT_BYTES`] bytes; past that it
//! fails with an error instead of running away (or overflowing the stack).
//!
//! Differences from Go, all deliberate: functions that run PromQL (`query`, `first`, …) are
//! refused at parse time; times are in UTC only (`tz` knows no other zone); predefined
//! variables are visible inside `define`d templates too; a JSON object whose values are all
//! strings behaves as a `map[string]string` (a missing key renders `""`, as Prometheus' and
//! Alertmanager's `missingkey=zero` gives for label maps), any other object as
//! `map[string]interface{}` (a missing key renders `<no value>`).

mod error;
mod exec;
mod fmt;
mod funcs;
mod lex;
mod parse;
mod time;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use error::TemplateError;

use crate::LabelSet;
use exec::Exec;
use parse::Tree;
use value::Value;

mod value;

/// The name Go gives a template parsed without one.
const DEFAULT_NAME: &str = "template";
/// The name of alert templates when the alert's name is not at hand (Prometheus:
/// `__alert_<alertname>`).
const ALERT_TEMPLATE_NAME: &str = "__alert";

/// The variables Prometheus defines for alert templates (its preamble
/// `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}…`).
const ALERT_VARIABLES: [&str; 4] = ["labels", "externalLabels", "externalURL", "value"];

/// A parsed template: parsed once, rendered many times.
#[derive(Debug, Clone)]
pub struct Template {
    name: Arc<str>,
    text: Arc<str>,
    /// `None` for text without actions, which renders as itself.
    tree: Option<Arc<Tree>>,
}

impl Template {
    /// Parses `text`; variables other than `$` and those declared in the text are looked up
    /// when rendering.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse_inner(DEFAULT_NAME, text, None)
    }

    /// Parses `text` as a template called `name` (the name appears in errors), refusing
    /// variables other than `$`, those declared in the text and `predefined` (names without
    /// the `$`), as Go does at parse time.
    pub fn parse_with_vars(
        name: &str,
        text: &str,
        predefined: &[&str],
    ) -> Result<Template, TemplateError> {
        Template::parse_inner(name, text, Some(predefined))
    }

    fn parse_inner(
        name: &str,
        text: &str,
        predefined: Option<&[&str]>,
    ) -> Result<Template, TemplateError> {
        let tree = if text.contains("{{") {
            let parsed = lex::lex(text).and_then(|tokens| parse::parse(tokens, predefined));
            Some(Arc::new(parsed.map_err(|fail| fail.locate(name, text))?))
        } else {
            None
        };
        Ok(Template {
            name: Arc::from(name),
            text: Arc::from(text),
            tree,
        })
    }

    /// Renders with `dot` as `.` and `vars` as predefined variables (`("labels", …)` is
    /// `$labels`) visible everywhere. A string variable `externalURL` is what the
    /// `externalURL` and `pathPrefix` functions return.
    pub fn render(
        &self,
        dot: &serde_json::Value,
        vars: &[(&str, serde_json::Value)],
    ) -> Result<String, TemplateError> {
        let Some(tree) = &self.tree else {
            return Ok(self.text.to_string());
        };
        let external_url = vars
            .iter()
            .find(|(name, _)| name.trim_start_matches('$') == "externalURL")
            .and_then(|(_, value)| value.as_str())
            .unwrap_or("");
        self.render_values(
            tree,
            Value::from_json(dot),
            exec::globals(vars),
            external_url,
        )
    }

    fn render_values(
        &self,
        tree: &Tree,
        dot: Value,
        globals: Vec<(String, Value)>,
        external_url: &str,
    ) -> Result<String, TemplateError> {
        Exec::new(tree, &self.name, &self.text, globals, external_url)
            .run(dot)
            .map_err(|fail| fail.locate(&self.name, &self.text))
    }
}

/// The data of an alert template, as Prometheus' `AlertTemplateData` plus the external URL.
#[derive(Debug, Clone, Copy)]
pub struct AlertTemplateData<'a> {
    pub labels: &'a LabelSet,
    pub external_labels: &'a LabelSet,
    pub external_url: &'a str,
    pub value: f64,
}

/// Prometheus' alert templating: `text` sees `$labels`, `$externalLabels`, `$externalURL` and
/// `$value` (and `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`). Text without `{{`
/// is returned as is without parsing. To render one text for many alerts, parse it once with
/// [`Template::parse_alert`] and call [`Template::render_alert`].
pub fn render_alert_template(
    text: &str,
    data: &AlertTemplateData<'_>,
) -> Result<String, TemplateError> {
    if !text.contains("{{") {
        return Ok(text.to_owned());
    }
    Template::parse_with_vars(&alert_template_name(data.labels), text, &ALERT_VARIABLES)?
        .render_alert(data)
}

impl Template {
    /// Parses an alert label or annotation template (Prometheus' variables predefined).
    pub fn parse_alert(text: &str) -> Result<Template, TemplateError> {
        Template::parse_with_vars(ALERT_TEMPLATE_NAME, text, &ALERT_VARIABLES)
    }

    /// Renders with Prometheus' alert template data (see [`render_alert_template`]); `$value`
    /// keeps NaN and infinities, which JSON cannot carry.
    pub fn render_alert(&self, data: &AlertTemplateData<'_>) -> Result<String, TemplateError> {
        let Some(tree) = &self.tree else {
            return Ok(self.text.to_string());
        };
        let labels = exec::label_value(data.labels);
        let external_labels = exec::label_value(data.external_labels);
        let url = Value::str(data.external_url);
        let value = Value::Float(data.value);
        let dot = exec::struct_value(vec![
            ("Labels", labels.clone()),
            ("ExternalLabels", external_labels.clone()),
            ("ExternalURL", url.clone()),
            ("Value", value.clone()),
        ]);
        let globals = vec![
            ("$labels".to_owned(), labels),
            ("$externalLabels".to_owned(), external_labels),
            ("$externalURL".to_owned(), url),
            ("$value".to_owned(), value),
        ];
        self.render_values(tree, dot, globals, data.external_url)
    }
}

/// Checks that `text` parses as an alert template (for rule validation): syntax, defined
/// functions, declared variables.
pub fn check_alert_template(text: &str) -> Result<(), TemplateError> {
    Template::parse_alert(text).map(|_| ())
}

/// Prometheus names an alert's templates `__alert_<alertname>`.
fn alert_template_name(labels: &LabelSet) -> String {
    match labels.get("alertname") {
        Some(name) => format!("{ALERT_TEMPLATE_NAME}_{name}"),
        None => ALERT_TEMPLATE_NAME.to_owned(),
    }
}
