//! Alert label and annotation templates rendered per alert with the data Prometheus gives
//! them (`$labels`, `$value`, `$externalLabels`, `$externalURL`), through the crate's Go
//! template engine. A template that fails renders as Prometheus renders it: the error in
//! place of the text.

use crate::template::{AlertTemplateData, render_alert_template};

/// The text with its template expanded for one alert.
pub(crate) fn render(text: &str, data: &AlertTemplateData<'_>) -> String {
    match render_alert_template(text, data) {
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
