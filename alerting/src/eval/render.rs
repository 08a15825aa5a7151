//! Rendering of alert label and annotation templates with the data Prometheus gives them
//! (`$labels`, `$value`, `$externalLabels`, `$externalURL`).
//!
//! The Go template engine (`alerting::template`, branch `tmpl`) has not reached this branch
//! yet: until it does, [`render`] returns the text unchanged. It is the one place to wire
//! the engine in.

use crate::alert::LabelSet;

/// What a rule's templates see for one alert.
pub(crate) struct TemplateData<'a> {
    pub(crate) labels: &'a LabelSet,
    pub(crate) value: f64,
    pub(crate) external_labels: &'a LabelSet,
    pub(crate) external_url: &'a str,
}

/// The text with its template expanded for `data`.
pub(crate) fn render(text: &str, data: &TemplateData<'_>) -> String {
    let _ = (
        data.labels,
        data.value,
        data.external_labels,
        data.external_url,
    );
    text.to_owned()
}
