//! `ExportMetricsServiceRequest` → series samples and metric metadata, following what
//! Prometheus' OTLP receiver writes (see `ingest/docs/otlp.md` for the whole rule).

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    SummaryDataPoint,
};
use storage::{
    Labels, METRIC_NAME, MetricMetadata, MetricType, Sample, SeriesSamples, SeriesWriter, stale_nan,
};

use super::common::{ExportOutcome, Rejections, Signal, attr_value, nanos_to_ms};
use super::delta::{DeltaAccumulator, Total, Undo};
use super::naming::{NameKind, label_name, metric_name, prom_unit};
use crate::{IngestError, IngestMetrics};

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point marks the series as gone (written as a
/// Prometheus stale marker).
const NO_RECORDED_VALUE: u32 = 1;

/// How resource and scope attributes become labels.
#[derive(Debug, Clone)]
pub struct MetricLabelConfig {
    /// Resource attributes written as labels of every series (sanitised names, as data-point
    /// attributes are). Default none, as in Prometheus: they are on `target_info`.
    pub promote_resource_attributes: Vec<String>,
    /// Every resource attribute as a label, except `ignore_resource_attributes` (default
    /// false).
    pub promote_all_resource_attributes: bool,
    /// Resource attributes never promoted when `promote_all_resource_attributes` is set.
    pub ignore_resource_attributes: Vec<String>,
    /// `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` and
    /// `otel_scope_<attribute>` labels from the instrumentation scope (default true).
    pub promote_scope_metadata: bool,
    /// Write `target_info` with the resource attributes (default true).
    pub target_info: bool,
}

impl Default for MetricLabelConfig {
    fn default() -> Self {
        MetricLabelConfig {
            promote_resource_attributes: Vec::new(),
            promote_all_resource_attributes: false,
            ignore_resource_attributes: Vec::new(),
            promote_scope_metadata: true,
            target_info: true,
        }
    }
}

/// Resource attributes that identify the target and become `job` and `instance`.
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// A converted request, ready for the store.
#[derive(Debug, Default)]
pub(crate) struct ConvertedMetrics {
    pub(crate) series: Vec<SeriesSamples>,
    pub(crate) metadata: Vec<MetricMetadata>,
    /// Data points in the request.
    pub(crate) points: u64,
    pub(crate) rejected: Rejections,
    pub(crate) undo: Undo,
}

/// Series under construction: samples grouped by label set.
#[derive(Default)]
struct Batch {
    index: HashMap<Labels, usize>,
    series: Vec<SeriesSamples>,
    families: HashMap<String, usize>,
    metadata: Vec<MetricMetadata>,
}

impl Batch {
    fn push(&mut self, labels: Labels, sample: Sample) {
        match self.index.get(&labels) {
            Some(&i) => self.series[i].samples.push(sample),
            None => {
                self.index.insert(labels.clone(), self.series.len());
                self.series.push(SeriesSamples {
                    labels,
                    samples: vec![sample],
                });
            }
        }
    }

    fn family(&mut self, name: &str, kind: MetricType, help: &str, unit: &str) {
        if self.families.contains_key(name) {
            return;
        }
        self.families.insert(name.to_string(), self.metadata.len());
        self.metadata.push(MetricMetadata {
            metric_family: name.to_string(),
            kind,
            help: help.to_string(),
            unit: unit.to_string(),
        });
    }
}

/// Labels every series of a resource (and scope) carries.
struct Context {
    /// Lowest precedence: promoted resource attributes.
    promoted: Vec<(String, String)>,
    /// Overriding data-point attributes: scope labels, then `job` and `instance`.
    overriding: Vec<(String, String)>,
}

/// Converts a request. `now_ms` is the time of points without one. Never panics; a point
/// that cannot be stored is counted in `rejected` with the reason.
pub(crate) fn convert(
    req: ExportMetricsServiceRequest,
    config: &MetricLabelConfig,
    delta: &DeltaAccumulator,
    now_ms: i64,
) -> ConvertedMetrics {
    let mut out = ConvertedMetrics::default();
    let mut batch = Batch::default();
    for rm in req.resource_metrics {
        convert_resource(rm, config, delta, now_ms, &mut batch, &mut out);
    }
    out.series = batch.series;
    out.metadata = batch.metadata;
    out
}

fn text(value: Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    attr_value(value).map(|v| v.to_text()).unwrap_or_default()
}

/// Attributes as label pairs: names sanitised, values as text; names that collide after
/// sanitising get their values joined with `;` in the order of the original keys.
fn label_pairs(attrs: Vec<OtlpKeyValue>, prefix: &str) -> Vec<(String, String)> {
    let mut named: Vec<(String, String, String)> = attrs
        .into_iter()
        .filter_map(|kv| {
            let name = label_name(&kv.key);
            let value = text(kv.value);
            (!name.is_empty() && !value.is_empty())
                .then(|| (format!("{prefix}{name}"), kv.key, value))
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut out: Vec<(String, String)> = Vec::with_capacity(named.len());
    for (name, _, value) in named {
        match out.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(';');
                joined.push_str(&value);
            }
            _ => out.push((name, value)),
        }
    }
    out
}

fn convert_resource(
    rm: ResourceMetrics,
    config: &MetricLabelConfig,
    delta: &DeltaAccumulator,
    now_ms: i64,
    batch: &mut Batch,
    out: &mut ConvertedMetrics,
) {
    let attrs = rm.resource.map(|r| r.attributes).unwrap_or_default();
    let find = |key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| text(kv.value.clone()))
            .filter(|v| !v.is_empty())
    };
    let job = find(SERVICE_NAME).map(|name| match find(SERVICE_NAMESPACE) {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    });
    let instance = find(SERVICE_INSTANCE_ID);
    let identifying =
        |key: &str| matches!(key, SERVICE_NAME | SERVICE_NAMESPACE | SERVICE_INSTANCE_ID);
    let promoted_attrs: Vec<OtlpKeyValue> = attrs
        .iter()
        .filter(|kv| {
            if config.promote_all_resource_attributes {
                !config.ignore_resource_attributes.contains(&kv.key) && !identifying(&kv.key)
            } else {
                config.promote_resource_attributes.contains(&kv.key)
            }
        })
        .cloned()
        .collect();
    let promoted = label_pairs(promoted_attrs, "");
    let mut identity: Vec<(String, String)> = Vec::new();
    if let Some(job) = &job {
        identity.push(("job".into(), job.clone()));
    }
    if let Some(instance) = &instance {
        identity.push(("instance".into(), instance.clone()));
    }

    let mut latest: Option<i64> = None;
    for sm in rm.scope_metrics {
        let mut overriding = if config.promote_scope_metadata {
            scope_labels(sm.scope, &sm.schema_url)
        } else {
            Vec::new()
        };
        overriding.extend(identity.iter().cloned());
        let context = Context {
            promoted: promoted.clone(),
            overriding,
        };
        for metric in sm.metrics {
            convert_metric(metric, &context, delta, now_ms, batch, out, &mut latest);
        }
    }

    // target_info: the resource's other attributes, to join on job and instance
    if config.target_info
        && (job.is_some() || instance.is_some())
        && let Some(t) = latest
    {
        let info: Vec<OtlpKeyValue> = attrs
            .into_iter()
            .filter(|kv| !identifying(&kv.key))
            .collect();
        if !info.is_empty() {
            let mut pairs = label_pairs(info, "");
            pairs.extend(identity);
            pairs.push((METRIC_NAME.into(), "target_info".into()));
            batch.push(Labels::from_pairs(pairs), Sample { t, v: 1.0 });
            batch.family("target_info", MetricType::Gauge, "Target metadata", "");
        }
    }
}

fn scope_labels(scope: Option<InstrumentationScope>, schema_url: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(scope) = scope {
        out.extend(label_pairs(scope.attributes, "otel_scope_"));
        out.push(("otel_scope_name".into(), scope.name));
        out.push(("otel_scope_version".into(), scope.version));
    }
    out.push(("otel_scope_schema_url".into(), schema_url.to_string()));
    out
}

/// The label set of a point: context and point attributes in precedence order, the name,
/// and an extra label (`le`, `quantile`).
fn point_labels(context: &Context, attrs: &[(String, String)], name: &str) -> Labels {
    let pairs = context
        .promoted
        .iter()
        .chain(attrs)
        .chain(&context.overriding)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([(METRIC_NAME, name)]);
    Labels::from_pairs(pairs)
}

fn point_time(time_unix_nano: u64, now_ms: i64) -> i64 {
    nanos_to_ms(time_unix_nano).unwrap_or(now_ms)
}

#[allow(clippy::too_many_arguments)]
fn convert_metric(
    metric: Metric,
    context: &Context,
    delta: &DeltaAccumulator,
    now_ms: i64,
    batch: &mut Batch,
    out: &mut ConvertedMetrics,
    latest: &mut Option<i64>,
) {
    let Some(data) = metric.data else {
        return;
    };
    let points = match &data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(e) => e.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    } as u64;
    out.points += points;
    let kind = match &data {
        Data::Sum(s) if s.is_monotonic => NameKind::Counter,
        Data::Gauge(_) | Data::Sum(_) => NameKind::Gauge,
        _ => NameKind::Distribution,
    };
    let name = metric_name(&metric.name, &metric.unit, kind);
    let rejected = &mut out.rejected;
    if name.is_empty() {
        rejected.reject_many("invalid_metric_name", points, || {
            format!("metric {:?}: no usable character in the name", metric.name)
        });
        return;
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let delta_t = AggregationTemporality::Delta as i32;
    let mut cx = PointCx {
        context,
        name: &name,
        metric: &metric.name,
        now_ms,
        batch,
        rejected,
        latest,
    };
    let unit = prom_unit(&metric.unit);
    let help = metric.description.as_str();
    match data {
        Data::Gauge(g) => {
            cx.family(MetricType::Gauge, help, &unit);
            for p in g.data_points {
                cx.number(p, None);
            }
        }
        Data::Sum(s) if s.aggregation_temporality == cumulative => {
            let kind = if s.is_monotonic {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            cx.family(kind, help, &unit);
            for p in s.data_points {
                cx.number(p, None);
            }
        }
        Data::Sum(s) if s.aggregation_temporality == delta_t && s.is_monotonic => {
            cx.family(MetricType::Counter, help, &unit);
            for p in s.data_points {
                cx.number(p, Some((delta, &mut out.undo)));
            }
        }
        Data::Sum(s) if s.aggregation_temporality == delta_t => {
            cx.rejected
                .reject_many("delta_non_monotonic_sum", points, || {
                    format!(
                        "metric {:?}: a non-monotonic sum with delta temporality has no running \
                     value to store; export it with cumulative temporality",
                        metric.name
                    )
                });
        }
        Data::Histogram(h) if h.aggregation_temporality == cumulative => {
            cx.family(MetricType::Histogram, help, &unit);
            for p in h.data_points {
                cx.histogram(p, None);
            }
        }
        Data::Histogram(h) if h.aggregation_temporality == delta_t => {
            cx.family(MetricType::Histogram, help, &unit);
            for p in h.data_points {
                cx.histogram(p, Some((delta, &mut out.undo)));
            }
        }
        Data::Sum(_) | Data::Histogram(_) => {
            cx.rejected.reject_many("invalid_temporality", points, || {
                format!(
                    "metric {:?}: aggregation temporality must be cumulative or delta",
                    metric.name
                )
            });
        }
        Data::ExponentialHistogram(_) => {
            cx.rejected
                .reject_many("exponential_histogram", points, || {
                    format!(
                        "metric {:?}: exponential histograms are not supported; configure the \
                     SDK's view or the collector to export explicit-bucket histograms",
                        metric.name
                    )
                });
        }
        Data::Summary(s) => {
            cx.family(MetricType::Summary, help, &unit);
            for p in s.data_points {
                cx.summary(p);
            }
        }
    }
}

/// What converting the points of one metric needs.
struct PointCx<'a> {
    context: &'a Context,
    name: &'a str,
    /// The metric's OTLP name, for messages.
    metric: &'a str,
    now_ms: i64,
    batch: &'a mut Batch,
    rejected: &'a mut Rejections,
    latest: &'a mut Option<i64>,
}

impl PointCx<'_> {
    fn family(&mut self, kind: MetricType, help: &str, unit: &str) {
        self.batch.family(self.name, kind, help, unit);
    }

    fn time(&mut self, time_unix_nano: u64) -> i64 {
        let t = point_time(time_unix_nano, self.now_ms);
        *self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
        t
    }

    fn push(
        &mut self,
        attrs: &[(String, String)],
        name: &str,
        extra: Option<(&str, String)>,
        t: i64,
        v: f64,
    ) {
        let mut labels = point_labels(self.context, attrs, name);
        if let Some((k, value)) = extra {
            labels.set(k, value);
        }
        self.batch.push(labels, Sample { t, v });
    }

    fn number(&mut self, p: NumberDataPoint, delta: Option<(&DeltaAccumulator, &mut Undo)>) {
        let stale = p.flags & NO_RECORDED_VALUE != 0;
        let value = match p.value {
            Some(NumberValue::AsDouble(d)) => d,
            Some(NumberValue::AsInt(i)) => i as f64,
            None if stale => stale_nan(),
            None => {
                let metric = self.metric;
                self.rejected.reject("missing_value", || {
                    format!("metric {metric:?}: a data point without a value")
                });
                return;
            }
        };
        let attrs = label_pairs(p.attributes, "");
        let t = self.time(p.time_unix_nano);
        let value = match delta {
            Some(_) if stale => stale_nan(),
            Some((acc, undo)) => {
                let labels = point_labels(self.context, &attrs, self.name);
                match acc.add(
                    &labels,
                    p.time_unix_nano,
                    Total::Sum(value),
                    self.now_ms,
                    undo,
                ) {
                    Ok(Total::Sum(total)) => total,
                    Ok(_) => value,
                    Err(e) => {
                        let (metric, name) = (self.metric, self.name);
                        self.rejected.reject(e.reason(), || {
                            format!(
                                "metric {metric:?} ({name}): delta point not applied ({})",
                                e.reason()
                            )
                        });
                        return;
                    }
                }
            }
            None => value,
        };
        let name = self.name;
        self.push(&attrs, name, None, t, value);
    }

    fn histogram(&mut self, p: HistogramDataPoint, delta: Option<(&DeltaAccumulator, &mut Undo)>) {
        let metric = self.metric;
        let bounds_ok = p.explicit_bounds.iter().all(|b| b.is_finite())
            && p.explicit_bounds.windows(2).all(|w| w[0] < w[1]);
        let shape_ok =
            p.bucket_counts.is_empty() || p.bucket_counts.len() == p.explicit_bounds.len() + 1;
        if !bounds_ok || !shape_ok {
            self.rejected.reject("invalid_histogram", || {
                format!(
                    "metric {metric:?}: {} bucket counts for {} explicit bounds (want bounds + 1, \
                     bounds finite and increasing)",
                    p.bucket_counts.len(),
                    p.explicit_bounds.len()
                )
            });
            return;
        }
        let stale = p.flags & NO_RECORDED_VALUE != 0;
        let attrs = label_pairs(p.attributes, "");
        let t = self.time(p.time_unix_nano);
        let (bounds, counts, sum, count) = if p.bucket_counts.is_empty() {
            (Vec::new(), Vec::new(), p.sum, p.count)
        } else {
            (p.explicit_bounds, p.bucket_counts, p.sum, p.count)
        };
        let (bounds, counts, sum, count) = match delta {
            Some(_) if stale => (bounds, counts, sum, count),
            Some((acc, undo)) => {
                let labels = point_labels(self.context, &attrs, self.name);
                let point = Total::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                };
                match acc.add(&labels, p.time_unix_nano, point, self.now_ms, undo) {
                    Ok(Total::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    }) => (bounds, counts, sum, count),
                    Ok(Total::Sum(_)) => return,
                    Err(e) => {
                        let name = self.name;
                        self.rejected.reject(e.reason(), || {
                            format!(
                                "metric {metric:?} ({name}): delta point not applied ({})",
                                e.reason()
                            )
                        });
                        return;
                    }
                }
            }
            None => (bounds, counts, sum, count),
        };
        let value = |v: f64| if stale { stale_nan() } else { v };
        let bucket = format!("{}_bucket", self.name);
        let mut cumulative = 0u64;
        for (bound, c) in bounds.iter().zip(&counts) {
            cumulative = cumulative.saturating_add(*c);
            self.push(
                &attrs,
                &bucket,
                Some(("le", bound.to_string())),
                t,
                value(cumulative as f64),
            );
        }
        // +Inf is the point's count, as Prometheus writes it
        self.push(
            &attrs,
            &bucket,
            Some(("le", "+Inf".into())),
            t,
            value(count as f64),
        );
        if let Some(sum) = sum {
            self.push(&attrs, &format!("{}_sum", self.name), None, t, value(sum));
        }
        self.push(
            &attrs,
            &format!("{}_count", self.name),
            None,
            t,
            value(count as f64),
        );
    }

    fn summary(&mut self, p: SummaryDataPoint) {
        let stale = p.flags & NO_RECORDED_VALUE != 0;
        let value = |v: f64| if stale { stale_nan() } else { v };
        let attrs = label_pairs(p.attributes, "");
        let t = self.time(p.time_unix_nano);
        let name = self.name;
        for q in &p.quantile_values {
            self.push(
                &attrs,
                name,
                Some(("quantile", q.quantile.to_string())),
                t,
                value(q.value),
            );
        }
        self.push(&attrs, &format!("{name}_sum"), None, t, value(p.sum));
        self.push(
            &attrs,
            &format!("{name}_count"),
            None,
            t,
            value(p.count as f64),
        );
    }
}

/// Converts, appends durably, and records the metadata. Blocking.
pub(crate) fn export(
    writer: &dyn SeriesWriter,
    config: &MetricLabelConfig,
    delta: &DeltaAccumulator,
    metrics: &IngestMetrics,
    req: ExportMetricsServiceRequest,
) -> Result<ExportOutcome, IngestError> {
    let ConvertedMetrics {
        series,
        metadata,
        points,
        mut rejected,
        undo,
    } = convert(req, config, delta, storage::now_ms());
    let converted = points.saturating_sub(rejected.total());
    let result = (|| {
        let outcome = if series.is_empty() {
            storage::AppendOutcome::default()
        } else {
            writer.append(series)?
        };
        if !metadata.is_empty() {
            writer.record_metadata(&metadata)?;
        }
        Ok::<_, IngestError>(outcome)
    })();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            if !undo.is_empty() {
                delta.revert(undo);
            }
            return Err(e);
        }
    };
    metrics
        .samples_written
        .with_label_values(&["otlp"])
        .inc_by(outcome.samples_appended);
    // Storage counts samples, and a histogram point is many: its refusals are reported as
    // points, at most as many as were sent.
    let refused = outcome.rejected_total().min(converted);
    if refused > 0 {
        let detail = outcome.first_rejection.clone().unwrap_or_default();
        for (reason, n) in &outcome.rejected {
            metrics
                .http_rejects
                .with_label_values(&["otlp", reason])
                .inc_by(*n);
        }
        rejected.reject_many("storage_rejected", refused, || {
            format!(
                "storage refused {} samples; first: {detail}",
                outcome.rejected_total()
            )
        });
    }
    Ok(ExportOutcome::new(
        metrics,
        Signal::Metrics,
        converted - refused,
        &rejected,
    ))
}

#[cfg(test)]
mod tests;
