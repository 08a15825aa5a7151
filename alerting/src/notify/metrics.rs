//! The notifier's own metrics on `/metrics`, all prefixed `argus_notifications_`.

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use storage::MetricsRegistrar;

#[derive(Clone)]
pub(crate) struct NotifyMetrics {
    pub(crate) alerts_received: IntCounter,
    pub(crate) alerts_dropped: IntCounter,
    pub(crate) sent: IntCounterVec,
    pub(crate) failed: IntCounterVec,
    pub(crate) retries: IntCounterVec,
    pub(crate) latency: HistogramVec,
    pub(crate) queue_length: IntGauge,
    pub(crate) silences: IntGaugeVec,
    pub(crate) persist_seconds: Histogram,
}

impl NotifyMetrics {
    pub(crate) fn new(registry: &prometheus::Registry) -> Self {
        let r = MetricsRegistrar(registry);
        NotifyMetrics {
            alerts_received: r.counter(
                "argus_notifications_alerts_received_total",
                "Alerts handed to the notifier by rule evaluation.",
            ),
            alerts_dropped: r.counter(
                "argus_notifications_alerts_dropped_total",
                "Alerts dropped because the notifier's input queue was full.",
            ),
            sent: r.counter_vec(
                "argus_notifications_sent_total",
                "Notifications delivered (2xx), by receiver.",
                &["receiver"],
            ),
            failed: r.counter_vec(
                "argus_notifications_failed_total",
                "Failed delivery attempts, by receiver and reason (status_4xx, status_429, \
                 status_5xx, status_other, timeout, connection, request, expired, \
                 receiver_removed, body).",
                &["receiver", "reason"],
            ),
            retries: r.counter_vec(
                "argus_notifications_retries_total",
                "Delivery attempts scheduled again after a retryable failure, by receiver.",
                &["receiver"],
            ),
            latency: r.seconds_vec(
                "argus_notifications_latency_seconds",
                "Duration of one webhook request, by receiver.",
                &["receiver"],
            ),
            queue_length: r.gauge(
                "argus_notifications_queue_length",
                "Notifications in the durable delivery queue.",
            ),
            silences: r.gauge_vec(
                "argus_notifications_silences",
                "Silences by state (active, pending, expired).",
                &["state"],
            ),
            persist_seconds: r.seconds(
                "argus_notifications_persist_seconds",
                "Time to make a flush's queue entries and notification log durable.",
            ),
        }
    }
}
