//! The rule manager's own metrics, every name prefixed `argus_rule_`, labelled
//! `rule_group="file;name"` like Prometheus' `prometheus_rule_group_*`.

use prometheus::{GaugeVec, HistogramVec, IntCounterVec, IntGaugeVec, Registry};
use storage::MetricsRegistrar;

use super::group::Group;

pub(crate) struct EvalMetrics {
    duration: HistogramVec,
    last_duration: GaugeVec,
    last_evaluation: GaugeVec,
    interval: GaugeVec,
    rules: IntGaugeVec,
    evaluations: IntCounterVec,
    failures: IntCounterVec,
    iterations: IntCounterVec,
    missed: IntCounterVec,
}

const GROUP: &[&str] = &["rule_group"];

impl EvalMetrics {
    pub(crate) fn new(registry: &Registry) -> EvalMetrics {
        let r = MetricsRegistrar(registry);
        EvalMetrics {
            duration: r.seconds_vec(
                "argus_rule_group_duration_seconds",
                "Duration of rule group evaluations.",
                GROUP,
            ),
            last_duration: r.float_gauge_vec(
                "argus_rule_group_last_duration_seconds",
                "Duration of the last evaluation of the rule group.",
                GROUP,
            ),
            last_evaluation: r.float_gauge_vec(
                "argus_rule_group_last_evaluation_timestamp_seconds",
                "Slot time of the last evaluation of the rule group.",
                GROUP,
            ),
            interval: r.float_gauge_vec(
                "argus_rule_group_interval_seconds",
                "Evaluation interval of the rule group.",
                GROUP,
            ),
            rules: r.gauge_vec("argus_rule_group_rules", "Rules in the rule group.", GROUP),
            evaluations: r.counter_vec("argus_rule_evaluations_total", "Rule evaluations.", GROUP),
            failures: r.counter_vec(
                "argus_rule_evaluation_failures_total",
                "Rule evaluations that failed.",
                GROUP,
            ),
            iterations: r.counter_vec(
                "argus_rule_group_iterations_total",
                "Scheduled evaluations of the rule group, missed ones included.",
                GROUP,
            ),
            missed: r.counter_vec(
                "argus_rule_group_iterations_missed_total",
                "Evaluations of the rule group skipped because an evaluation overran its slot.",
                GROUP,
            ),
        }
    }

    pub(crate) fn set_group_shape(&self, group: &Group) {
        let labels = [group.key.as_str()];
        self.interval
            .with_label_values(&labels)
            .set(group.interval.as_secs_f64());
        self.rules
            .with_label_values(&labels)
            .set(i64::try_from(group.spec.rules.len()).unwrap_or(i64::MAX));
    }

    pub(crate) fn remove_group(&self, key: &str) {
        let labels = [key];
        let _ = self.duration.remove_label_values(&labels);
        let _ = self.last_duration.remove_label_values(&labels);
        let _ = self.last_evaluation.remove_label_values(&labels);
        let _ = self.interval.remove_label_values(&labels);
        let _ = self.rules.remove_label_values(&labels);
        let _ = self.evaluations.remove_label_values(&labels);
        let _ = self.failures.remove_label_values(&labels);
        let _ = self.iterations.remove_label_values(&labels);
        let _ = self.missed.remove_label_values(&labels);
    }

    pub(crate) fn evaluation(&self, key: &str, failed: bool) {
        self.evaluations.with_label_values(&[key]).inc();
        if failed {
            self.failures.with_label_values(&[key]).inc();
        }
    }

    pub(crate) fn group_evaluated(&self, key: &str, slot_ms: i64, seconds: f64) {
        let labels = [key];
        self.duration.with_label_values(&labels).observe(seconds);
        self.last_duration.with_label_values(&labels).set(seconds);
        self.last_evaluation
            .with_label_values(&labels)
            .set(slot_ms as f64 / 1000.0);
    }

    /// One scheduled iteration that ran, and `missed` that were skipped after it.
    pub(crate) fn iterations(&self, key: &str, missed: i64) {
        let missed = u64::try_from(missed).unwrap_or(0);
        self.iterations.with_label_values(&[key]).inc_by(1 + missed);
        if missed > 0 {
            self.missed.with_label_values(&[key]).inc_by(missed);
        }
    }
}
