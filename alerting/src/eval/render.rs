//! Rendering of alert label and annotation templates with the data Prometheus gives them
//! (`$labels`, `$value`, `$externalLabels`, `$externalURL`), through the Go template engine
//! (`crate::template`).

use crate::alert::LabelSet;
use crate::template::{AlertTemplateData, render_alert_template};

/// What a rule's templates see for one alert.
pub(crate) struct TemplateData<'a> {
    pub(crate) labels: &'a LabelSet,
    pub(crate) value: f64,
    pub(crate) external_labels: &'a LabelSet,
    pub(crate) external_url: &'a str,
}

/// The text with its template expanded for `data`. A template that fails to render gives
/// Prometheus' `<error expanding template: …>` in its place (and a warning), so one broken
/// annotation does not stop the alert.
pub(crate) fn render(text: &str, data: &TemplateData<'_>) -> String {
    let data = AlertTemplateData {
        labels: data.labels,
        external_labels: data.external_labels,
        external_url: data.external_url,
        value: data.value,
    };
    match render_alert_template(text, &data) {
        Ok(rendered) => rendered,
        Err(err) => {
            tracing::warn!(error = %err, "expanding alert template failed");
            format!("<error expanding template: {err}>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_variables_and_reports_failures_in_place() {
        let labels = LabelSet::from([("instance".to_owned(), "web-1".to_owned())]);
        let external = LabelSet::new();
        let data = TemplateData {
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
        assert_eq!(
            render("{{ humanize \"x\" }}", &data),
            "<error expanding template: template: __alert:1:3: executing \"__alert\" at \
             <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": \
             invalid syntax>"
        );
    }
}
