//! Alert label and annotation templates rendered per alert with the data Prometheus gives
//! them (`$labels`, `$value`, `$externalLabels`, `$externalURL`), through the crate's Go
//! template engine. A template that fails renders as Prometheus renders it: the error in
//! place of the text.

use crate::template::{AlertTemplateData, Template, render_alert_template};

/// The text with its template expanded for one alert.
pub(crate) fn render(text: &str, data: &AlertTemplateData<'_>) -> String {
    rendered_or_error(text, render_alert_template(text, data))
}

/// A label or annotation template parsed once per rule, not once per alert and evaluation.
#[derive(Debug, Clone)]
pub(crate) struct ParsedTemplate {
    pub(crate) name: String,
    text: String,
    /// `None` when the text does not parse (the rule loader refuses such rules; rendering
    /// then reports the parse error in place, as [`render`] does).
    parsed: Option<Template>,
}

impl ParsedTemplate {
    pub(crate) fn new(name: &str, text: &str) -> ParsedTemplate {
        ParsedTemplate {
            name: name.to_owned(),
            text: text.to_owned(),
            parsed: Template::parse_alert(text).ok(),
        }
    }

    /// [`render`] of the parsed text. A result carrying an `alertname` label names its
    /// template after it, so that case goes through [`render`] for the same error text.
    pub(crate) fn render(&self, data: &AlertTemplateData<'_>) -> String {
        match &self.parsed {
            Some(template) if !data.labels.contains_key("alertname") => {
                rendered_or_error(&self.text, template.render_alert(data))
            }
            _ => render(&self.text, data),
        }
    }
}

fn rendered_or_error(
    text: &str,
    rendered: Result<String, crate::template::TemplateError>,
) -> String {
    match rendered {
        Ok(rendered) => rendered,
        Err(err) => {
            tracing::warn!(template = text, error = %err, "expanding alert template failed");
            format!("<error expanding template: {err}>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::LabelSet;

    #[test]
    fn renders_prometheus_variables_and_reports_failures_in_place() {
        let labels = LabelSet::from([("instance".to_owned(), "web-1".to_owned())]);
        let external = LabelSet::new();
        let data = AlertTemplateData {
            labels: &labels,
            value: 5.0,
            external_labels: &external,
            external_url: "http://argus:8080",
        };
        assert_eq!(
            render("{{ $value }} on {{ $labels.instance }}", &data),
            "5 on web-1"
        );
        assert_eq!(render("plain", &data), "plain");
        assert!(
            render("{{ humanize \"x\" }}", &data).starts_with("<error expanding template: "),
            "a failing template renders its error in place"
        );
    }
}
