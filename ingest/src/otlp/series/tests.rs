#![cfg(test)]
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, ScopeMetrics, Sum,
    Summary,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;
use crate::otlp::delta::DeltaConfig;

const T: u64 = 1_700_000_000_000_000_000;
const T_MS: i64 = 1_700_000_000_000;

pub(crate) fn kv(key: &str, v: V) -> OtlpKeyValue {
    OtlpKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        key_strindex: 0,
    }
}

fn s(v: &str) -> V {
    V::StringValue(v.into())
}

fn accumulator() -> DeltaAccumulator {
    DeltaAccumulator::new(
        DeltaConfig::default(),
        prometheus::IntGauge::new("delta", "delta").unwrap_or_else(|e| panic!("{e}")),
    )
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help"),
        unit: unit.into(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

pub(crate) fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("service.namespace", s("shop")),
                    kv("service.instance.id", s("pod-1")),
                    kv("k8s.pod.name", s("checkout-7d9")),
                    kv("deployment.environment", s("prod")),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    version: "2.1".into(),
                    attributes: vec![kv("lib.kind", s("server"))],
                    dropped_attributes_count: 0,
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn number(attrs: Vec<OtlpKeyValue>, time: u64, v: NumberValue) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: 0,
        time_unix_nano: time,
        exemplars: Vec::new(),
        flags: 0,
        value: Some(v),
    }
}

fn histogram_point(
    time: u64,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: Option<f64>,
) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: vec![kv("http.route", s("/pay"))],
        time_unix_nano: time,
        count: counts.iter().sum(),
        sum,
        bucket_counts: counts,
        explicit_bounds: bounds,
        ..HistogramDataPoint::default()
    }
}

/// `series value@t` lines of a conversion, sorted.
fn lines(c: &ConvertedMetrics) -> Vec<String> {
    let mut out: Vec<String> = c
        .series
        .iter()
        .flat_map(|s| {
            s.samples
                .iter()
                .map(move |x| format!("{} {}@{}", s.labels, x.v, x.t))
        })
        .collect();
    out.sort();
    out
}

const ID: &str = "instance=\"pod-1\", job=\"shop/checkout\", otel_scope_lib_kind=\"server\", otel_scope_name=\"io.opentelemetry.http\", otel_scope_version=\"2.1\"";

#[test]
fn gauges_counters_and_the_label_rule() {
    let req = request(vec![
        metric(
            "system.cpu.utilization",
            "1",
            Data::Gauge(Gauge {
                data_points: vec![number(
                    vec![kv("cpu", V::IntValue(0)), kv("state", s("user"))],
                    T,
                    NumberValue::AsDouble(0.25),
                )],
            }),
        ),
        metric(
            "http.server.requests",
            "{request}",
            Data::Sum(Sum {
                data_points: vec![number(
                    vec![
                        kv("http.method", s("GET")),
                        // collides with http.method once sanitised: values joined
                        kv("http_method", s("get")),
                        // overridden by the resource's identity
                        kv("job", s("spoofed")),
                        kv("0xdead", V::BoolValue(true)),
                    ],
                    T,
                    NumberValue::AsInt(42),
                )],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        ),
        metric(
            "queue.depth",
            "{item}",
            Data::Sum(Sum {
                data_points: vec![number(vec![], 0, NumberValue::AsInt(-3))],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: false,
            }),
        ),
    ]);
    let c = convert(req, &MetricLabelConfig::default(), &accumulator(), 5);
    assert_eq!(c.points, 3);
    assert_eq!(c.rejected.total(), 0);
    assert_eq!(
        lines(&c),
        vec![
            format!(
                "http_server_requests_total{{http_method=\"GET;get\", instance=\"pod-1\", \
                 job=\"shop/checkout\", key_0xdead=\"true\", otel_scope_lib_kind=\"server\", \
                 otel_scope_name=\"io.opentelemetry.http\", otel_scope_version=\"2.1\"}} 42@{T_MS}"
            ),
            format!("queue_depth{{{ID}}} -3@5"),
            format!("system_cpu_utilization_ratio{{cpu=\"0\", {ID}, state=\"user\"}} 0.25@{T_MS}"),
            format!(
                "target_info{{deployment_environment=\"prod\", instance=\"pod-1\", job=\"shop/checkout\", k8s_pod_name=\"checkout-7d9\"}} 1@{T_MS}"
            ),
        ]
    );
    let md: Vec<String> = c
        .metadata
        .iter()
        .map(|m| format!("{} {} {:?} {:?}", m.metric_family, m.kind, m.help, m.unit))
        .collect();
    assert_eq!(
        md,
        vec![
            "system_cpu_utilization_ratio gauge \"system.cpu.utilization help\" \"\"",
            "http_server_requests_total counter \"http.server.requests help\" \"\"",
            "queue_depth gauge \"queue.depth help\" \"\"",
            "target_info gauge \"Target metadata\" \"\"",
        ]
    );
}

#[test]
fn promoted_resource_attributes_and_scope_off() {
    let req = request(vec![metric(
        "up",
        "",
        Data::Gauge(Gauge {
            data_points: vec![number(
                vec![kv("k8s.pod.name", s("from-point"))],
                T,
                NumberValue::AsInt(1),
            )],
        }),
    )]);
    let config = MetricLabelConfig {
        promote_resource_attributes: vec!["deployment.environment".into(), "k8s.pod.name".into()],
        promote_scope_metadata: false,
        target_info: false,
        ..MetricLabelConfig::default()
    };
    let c = convert(req.clone(), &config, &accumulator(), 5);
    // the point's attribute wins over the promoted resource attribute of the same name
    assert_eq!(
        lines(&c),
        vec![format!(
            "up{{deployment_environment=\"prod\", instance=\"pod-1\", job=\"shop/checkout\", k8s_pod_name=\"from-point\"}} 1@{T_MS}"
        )]
    );
    let all = MetricLabelConfig {
        promote_all_resource_attributes: true,
        ignore_resource_attributes: vec!["k8s.pod.name".into()],
        promote_scope_metadata: false,
        target_info: false,
        ..MetricLabelConfig::default()
    };
    let mut req = req;
    req.resource_metrics[0].scope_metrics[0].metrics[0].data = Some(Data::Gauge(Gauge {
        data_points: vec![number(vec![], T, NumberValue::AsInt(1))],
    }));
    let c = convert(req, &all, &accumulator(), 5);
    assert_eq!(
        lines(&c),
        vec![format!(
            "up{{deployment_environment=\"prod\", instance=\"pod-1\", job=\"shop/checkout\"}} 1@{T_MS}"
        )]
    );
}

#[test]
fn classic_histograms_and_summaries() {
    let req = request(vec![
        metric(
            "http.server.request.duration",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![
                    histogram_point(T, vec![0.1, 1.0, 2.5], vec![3, 2, 0, 1], Some(4.5)),
                    // no buckets at all: only +Inf, and no sum
                    HistogramDataPoint {
                        attributes: vec![kv("http.route", s("/empty"))],
                        time_unix_nano: T,
                        count: 7,
                        ..HistogramDataPoint::default()
                    },
                ],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        ),
        metric(
            "rpc.latency",
            "ms",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T,
                    count: 10,
                    sum: 55.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 4.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 9.5,
                        },
                    ],
                    ..SummaryDataPoint::default()
                }],
            }),
        ),
    ]);
    let config = MetricLabelConfig {
        promote_scope_metadata: false,
        target_info: false,
        ..MetricLabelConfig::default()
    };
    let c = convert(req, &config, &accumulator(), 5);
    assert_eq!(c.rejected.total(), 0);
    let id = "instance=\"pod-1\", job=\"shop/checkout\"";
    let h = "http_server_request_duration_seconds";
    assert_eq!(
        lines(&c),
        vec![
            format!("{h}_bucket{{http_route=\"/empty\", {id}, le=\"+Inf\"}} 7@{T_MS}"),
            format!("{h}_bucket{{http_route=\"/pay\", {id}, le=\"+Inf\"}} 6@{T_MS}"),
            format!("{h}_bucket{{http_route=\"/pay\", {id}, le=\"0.1\"}} 3@{T_MS}"),
            format!("{h}_bucket{{http_route=\"/pay\", {id}, le=\"1\"}} 5@{T_MS}"),
            format!("{h}_bucket{{http_route=\"/pay\", {id}, le=\"2.5\"}} 5@{T_MS}"),
            format!("{h}_count{{http_route=\"/empty\", {id}}} 7@{T_MS}"),
            format!("{h}_count{{http_route=\"/pay\", {id}}} 6@{T_MS}"),
            format!("{h}_sum{{http_route=\"/pay\", {id}}} 4.5@{T_MS}"),
            format!("rpc_latency_milliseconds_count{{{id}}} 10@{T_MS}"),
            format!("rpc_latency_milliseconds_sum{{{id}}} 55@{T_MS}"),
            format!("rpc_latency_milliseconds{{{id}, quantile=\"0.5\"}} 4@{T_MS}"),
            format!("rpc_latency_milliseconds{{{id}, quantile=\"0.99\"}} 9.5@{T_MS}"),
        ]
    );
    assert_eq!(c.metadata[0].unit, "seconds");
    assert_eq!(c.metadata[0].kind, MetricType::Histogram);
    assert_eq!(c.metadata[1].kind, MetricType::Summary);
}

#[test]
fn delta_sums_and_histograms_accumulate() {
    let acc = accumulator();
    let config = MetricLabelConfig {
        promote_scope_metadata: false,
        target_info: false,
        ..MetricLabelConfig::default()
    };
    let delta_sum = |time: u64, v: i64| {
        metric(
            "jobs.done",
            "",
            Data::Sum(Sum {
                data_points: vec![number(vec![], time, NumberValue::AsInt(v))],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            }),
        )
    };
    let delta_hist = |time: u64, counts: Vec<u64>| {
        metric(
            "work.time",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![histogram_point(time, vec![1.0], counts, Some(1.0))],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        )
    };
    let c = convert(
        request(vec![delta_sum(T, 2), delta_hist(T, vec![1, 0])]),
        &config,
        &acc,
        5,
    );
    assert_eq!(c.rejected.total(), 0);
    let c = convert(
        request(vec![
            delta_sum(T + 1_000_000_000, 3),
            delta_hist(T + 1_000_000_000, vec![0, 2]),
            // the same point again (an exporter retry): refused, not counted twice
            delta_sum(T + 1_000_000_000, 3),
        ]),
        &config,
        &acc,
        5,
    );
    assert_eq!(c.rejected.count("delta_out_of_order"), 1);
    let id = "instance=\"pod-1\", job=\"shop/checkout\"";
    let t = T_MS + 1000;
    assert_eq!(
        lines(&c),
        vec![
            format!("jobs_done_total{{{id}}} 5@{t}"),
            format!("work_time_seconds_bucket{{http_route=\"/pay\", {id}, le=\"+Inf\"}} 3@{t}"),
            format!("work_time_seconds_bucket{{http_route=\"/pay\", {id}, le=\"1\"}} 1@{t}"),
            format!("work_time_seconds_count{{http_route=\"/pay\", {id}}} 3@{t}"),
            format!("work_time_seconds_sum{{http_route=\"/pay\", {id}}} 2@{t}"),
        ]
    );
    // a failed write takes its deltas back: the retry counts once
    acc.revert(c.undo);
    let c = convert(
        request(vec![delta_sum(T + 1_000_000_000, 3)]),
        &config,
        &acc,
        5,
    );
    assert_eq!(lines(&c), vec![format!("jobs_done_total{{{id}}} 5@{t}")]);
}

#[test]
fn refused_points_are_counted_with_reasons() {
    let exp = metric(
        "latency",
        "s",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![
                ExponentialHistogramDataPoint::default(),
                ExponentialHistogramDataPoint::default(),
            ],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    );
    let delta_updown = metric(
        "queue.size",
        "",
        Data::Sum(Sum {
            data_points: vec![number(vec![], T, NumberValue::AsInt(1))],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: false,
        }),
    );
    let unspecified = metric(
        "x",
        "",
        Data::Sum(Sum {
            data_points: vec![number(vec![], T, NumberValue::AsInt(1))],
            aggregation_temporality: 0,
            is_monotonic: true,
        }),
    );
    let bad_hist = metric(
        "h",
        "",
        Data::Histogram(Histogram {
            data_points: vec![
                histogram_point(T, vec![1.0, 2.0], vec![1, 2], None),
                histogram_point(T, vec![2.0, 1.0], vec![1, 2, 3], None),
                histogram_point(T, vec![f64::NAN], vec![1, 2], None),
            ],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    );
    let no_value = metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: T,
                ..NumberDataPoint::default()
            }],
        }),
    );
    let bad_name = metric(
        "…",
        "",
        Data::Gauge(Gauge {
            data_points: vec![number(vec![], T, NumberValue::AsInt(1))],
        }),
    );
    let stale = metric(
        "gone",
        "",
        Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: T,
                flags: NO_RECORDED_VALUE,
                ..NumberDataPoint::default()
            }],
        }),
    );
    let no_data = Metric {
        name: "nothing".into(),
        ..Metric::default()
    };
    let c = convert(
        request(vec![
            exp,
            delta_updown,
            unspecified,
            bad_hist,
            no_value,
            bad_name,
            stale,
            no_data,
        ]),
        &MetricLabelConfig::default(),
        &accumulator(),
        5,
    );
    assert_eq!(c.points, 10);
    assert_eq!(c.rejected.count("exponential_histogram"), 2);
    assert_eq!(c.rejected.count("delta_non_monotonic_sum"), 1);
    assert_eq!(c.rejected.count("invalid_temporality"), 1);
    assert_eq!(c.rejected.count("invalid_histogram"), 3);
    assert_eq!(c.rejected.count("missing_value"), 1);
    assert_eq!(c.rejected.count("invalid_metric_name"), 1);
    assert_eq!(c.rejected.total(), 9);
    assert!(
        c.rejected
            .message(Signal::Metrics)
            .contains("exponential histograms are not supported"),
        "{}",
        c.rejected.message(Signal::Metrics)
    );
    // the stale point is a Prometheus stale marker
    let gone = c
        .series
        .iter()
        .find(|s| s.labels.metric_name() == Some("gone"))
        .unwrap_or_else(|| panic!("{:?}", lines(&c)));
    assert!(storage::is_stale_nan(gone.samples[0].v));
}

#[test]
fn resource_without_service_has_no_job_and_no_target_info() {
    let mut req = request(vec![metric(
        "up",
        "",
        Data::Gauge(Gauge {
            data_points: vec![number(vec![], T, NumberValue::AsInt(1))],
        }),
    )]);
    req.resource_metrics[0].resource = None;
    req.resource_metrics[0].scope_metrics[0].scope = None;
    let c = convert(req, &MetricLabelConfig::default(), &accumulator(), 5);
    assert_eq!(lines(&c), vec![format!("up{{}} 1@{T_MS}")]);
}

#[test]
fn export_reports_storage_refusals_and_reverts_deltas_on_failure() {
    let writer = crate::otlp::testutil::MemSeries::default();
    let metrics = IngestMetrics::new(&prometheus::Registry::new());
    let acc = accumulator();
    let config = MetricLabelConfig::default();
    let delta = |time: u64| {
        request(vec![metric(
            "jobs",
            "",
            Data::Sum(Sum {
                data_points: vec![number(vec![], time, NumberValue::AsInt(1))],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            }),
        )])
    };
    writer.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(export(&writer, &config, &acc, &metrics, delta(T)).is_err());
    writer
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let out = export(&writer, &config, &acc, &metrics, delta(T)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.accepted, 1);
    assert_eq!(out.rejected, 0);
    assert!(
        writer
            .latest()
            .iter()
            .any(|l| l.starts_with("jobs_total{") && l.ends_with(" 1")),
        "{:?}",
        writer.latest()
    );
    assert_eq!(writer.metadata.lock().len(), 2);
    assert_eq!(
        metrics.otlp_accepted.with_label_values(&["metrics"]).get(),
        1
    );
}
