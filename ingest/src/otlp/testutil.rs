//! In-memory stores for the OTLP and derive tests: they keep what they are given, as a store
//! would receive it, and can be told to fail.
#![cfg(test)]

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use storage::{
    AppendOutcome, LogAppendOutcome, LogRecord, LogWriter, MetricMetadata, SeriesSamples,
    SeriesWriter, Span, SpanAppendOutcome, StorageError, TraceWriter,
};

/// Keeps series and metadata; `fail` makes every append fail with `ShuttingDown`.
#[derive(Default)]
pub(crate) struct MemSeries {
    pub(crate) batches: Mutex<Vec<Vec<SeriesSamples>>>,
    pub(crate) metadata: Mutex<Vec<MetricMetadata>>,
    pub(crate) fail: AtomicBool,
}

impl SeriesWriter for MemSeries {
    fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        let mut outcome = AppendOutcome::default();
        for s in &batch {
            for sample in &s.samples {
                // as the store does: labels must be valid
                match s.labels.validate() {
                    Ok(()) => outcome.samples_appended += 1,
                    Err(e) => {
                        outcome.reject_many(storage::reject::INVALID_LABELS, 1, &e.to_string())
                    }
                }
                let _ = sample;
            }
        }
        self.batches.lock().push(batch);
        Ok(outcome)
    }

    fn record_metadata(&self, metadata: &[MetricMetadata]) -> Result<(), StorageError> {
        self.metadata.lock().extend_from_slice(metadata);
        Ok(())
    }
}

impl MemSeries {
    /// `series value` of the latest sample of every series, sorted.
    pub(crate) fn latest(&self) -> Vec<String> {
        let mut last: std::collections::BTreeMap<String, (i64, f64)> = Default::default();
        for s in self.batches.lock().iter().flatten() {
            for x in &s.samples {
                let e = last.entry(s.labels.to_string()).or_insert((x.t, x.v));
                if x.t >= e.0 {
                    *e = (x.t, x.v);
                }
            }
        }
        last.into_iter()
            .map(|(k, (_, v))| format!("{k} {v}"))
            .collect()
    }

    /// The latest value of the series printed as `series`.
    pub(crate) fn value(&self, series: &str) -> Option<f64> {
        let prefix = format!("{series} ");
        self.latest()
            .iter()
            .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
    }
}

/// Keeps log records; refuses those whose message is `refuse me`.
#[derive(Default)]
pub(crate) struct MemLogs {
    pub(crate) records: Mutex<Vec<LogRecord>>,
    pub(crate) fail: AtomicBool,
}

impl LogWriter for MemLogs {
    fn append_logs(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        let mut outcome = LogAppendOutcome::default();
        for (i, r) in records.into_iter().enumerate() {
            if r.message == "refuse me" {
                outcome
                    .rejected
                    .push((i, "refused by the test store".into()));
            } else {
                outcome.accepted += 1;
                self.records.lock().push(r);
            }
        }
        Ok(outcome)
    }
}

/// Keeps spans; refuses those named `refuse me`.
#[derive(Default)]
pub(crate) struct MemTraces {
    pub(crate) spans: Mutex<Vec<Span>>,
    pub(crate) fail: AtomicBool,
}

impl TraceWriter for MemTraces {
    fn append_spans(&self, spans: Vec<Span>) -> Result<SpanAppendOutcome, StorageError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        let mut outcome = SpanAppendOutcome::default();
        for (i, s) in spans.into_iter().enumerate() {
            if s.name == "refuse me" {
                outcome
                    .rejected
                    .push((i, "refused by the test store".into()));
            } else {
                outcome.accepted += 1;
                self.spans.lock().push(s);
            }
        }
        Ok(outcome)
    }
}
