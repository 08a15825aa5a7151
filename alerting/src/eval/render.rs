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
