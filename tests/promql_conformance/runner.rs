//! Runs parsed scripts against the engine over a fresh series store per file and per `clear`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::Duration;

use query::promql::{
    Engine, EngineConfig, InstantSample, PromqlError, QueryOptions, QueryOutput, Value,
};
use storage::{Labels, Sample, SeriesSamples, SeriesStore, SeriesStoreConfig, SeriesWriter};

use crate::compare::{self, fmt_value};
use crate::rewrite;
use crate::script::{Command, Eval, EvalKind, Load, Script, SeqValue};
use crate::skip;

/// The reference's test engine settings that our `EngineConfig` has: the default 5m lookback
/// (`NewTestEngine(t, false, 0, …)` passes 0, which means the default) and its 100 s timeout.
/// Its `MaxSamples` of 10000 is not copied: Prometheus counts the samples of one step at a
/// time, our columnar evaluator those of all steps at once, so the engine default applies.
pub(crate) fn engine_config() -> EngineConfig {
    EngineConfig {
        lookback_delta: Duration::from_secs(300),
        timeout: Duration::from_secs(100),
        ..EngineConfig::default()
    }
}

/// Which evals to run (`PROMQL_TEST_LINE`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Filter {
    pub(crate) line: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) line: usize,
    pub(crate) query: String,
    pub(crate) message: String,
}

#[derive(Debug)]
pub(crate) struct Skip {
    pub(crate) line: usize,
    pub(crate) query: String,
    pub(crate) reason: &'static str,
}

#[derive(Debug, Default)]
pub(crate) struct FileReport {
    pub(crate) evals: usize,
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: BTreeMap<&'static str, usize>,
    pub(crate) failures: Vec<Failure>,
    /// Every skipped eval, for `PROMQL_TEST_VERBOSE`.
    pub(crate) skips: Vec<Skip>,
    /// Load commands the store refused samples of (these fail the run too).
    pub(crate) load_errors: Vec<Failure>,
}

impl FileReport {
    pub(crate) fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// A fresh store in a temporary directory and an engine over it. Fields drop in declaration
/// order: the engine and the store before their directory.
struct Store {
    engine: Engine<Arc<SeriesStore>>,
    store: Arc<SeriesStore>,
    _dir: tempfile::TempDir,
}

impl Store {
    fn open() -> Store {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = SeriesStoreConfig::new(dir.path());
        config.retention = None;
        // Loads may come in any time order; accept them all.
        config.out_of_order_window = Duration::from_secs(1000 * 365 * 24 * 3600);
        config.checkpoint_interval = Duration::from_secs(24 * 3600);
        let store = SeriesStore::open(config, &prometheus::Registry::new()).expect("store opens");
        Store {
            engine: Engine::new(store.clone(), engine_config()),
            store,
            _dir: dir,
        }
    }
}

/// The file's state between commands.
#[derive(Default)]
struct State {
    store: Option<Store>,
    /// Label sets of series loaded with native-histogram points since the last `clear`.
    histograms: Vec<Labels>,
    /// A `load_with_nhcb` ran since the last `clear`.
    nhcb: bool,
    /// The next store, being created in the background: creating one is mostly waiting for
    /// the file system, so it overlaps the evals of the current one.
    next: Option<JoinHandle<Store>>,
    /// Stores of earlier `clear` segments, being closed and deleted in the background.
    closing: Vec<JoinHandle<()>>,
}

impl State {
    fn store(&mut self) -> &Store {
        if self.store.is_none() {
            let store = match self.next.take() {
                Some(h) => h.join().expect("store opener thread"),
                None => Store::open(),
            };
            self.next = Some(std::thread::spawn(Store::open));
            self.store = Some(store);
        }
        self.store.as_ref().expect("just opened")
    }

    fn clear(&mut self) {
        if let Some(old) = self.store.take() {
            self.closing.push(std::thread::spawn(move || drop(old)));
        }
        self.histograms.clear();
        self.nhcb = false;
    }

    /// Waits for the background threads, so that every temporary directory is gone.
    fn finish(mut self) {
        self.clear();
        if let Some(h) = self.next.take() {
            drop(h.join().expect("store opener thread"));
        }
        for h in self.closing {
            h.join().expect("store closer thread");
        }
    }
}

pub(crate) fn run_script(script: &Script, filter: Filter) -> FileReport {
    let mut report = FileReport::default();
    let mut state = State::default();
    // With a line filter only the loads between the last `clear` before that eval and the
    // eval matter.
    let (first, last) = match filter.line {
        None => (0, script.commands.len()),
        Some(l) => {
            let target = script
                .commands
                .iter()
                .position(|c| matches!(c, Command::Eval(e) if e.line == l));
            match target {
                None => (0, 0),
                Some(t) => {
                    let clear = script.commands[..t]
                        .iter()
                        .rposition(|c| matches!(c, Command::Clear));
                    (clear.map_or(0, |c| c + 1), t + 1)
                }
            }
        }
    };
    for cmd in &script.commands[first..last] {
        match cmd {
            Command::Clear => state.clear(),
            Command::Load(load) => {
                if let Err(message) = run_load(&mut state, load) {
                    report.load_errors.push(Failure {
                        line: load.line,
                        query: "load".into(),
                        message,
                    });
                }
            }
            Command::Eval(eval) => {
                if filter.line.is_some_and(|l| eval.line != l) {
                    continue;
                }
                report.evals += 1;
                if let Some(reason) = skip_reason(&state, eval) {
                    *report.skipped.entry(reason).or_default() += 1;
                    report.skips.push(Skip {
                        line: eval.line,
                        query: eval.expr.clone(),
                        reason,
                    });
                    continue;
                }
                let engine = &state.store().engine;
                match run_eval(engine, eval) {
                    Ok(()) => report.passed += 1,
                    Err(message) => {
                        report.failed += 1;
                        report.failures.push(Failure {
                            line: eval.line,
                            query: eval.expr.clone(),
                            message,
                        });
                    }
                }
            }
        }
    }
    state.finish();
    report
}

fn skip_reason(state: &State, eval: &Eval) -> Option<&'static str> {
    if let Some(reason) = skip::unsupported_feature(&eval.expr) {
        return Some(reason);
    }
    if state.nhcb {
        return Some(skip::NHCB);
    }
    if eval.expects_histogram {
        return Some(skip::HISTOGRAM_EXPECTED);
    }
    if skip::selects_histogram(&eval.expr, &state.histograms) {
        return Some(skip::HISTOGRAM_SELECTED);
    }
    None
}

fn run_load(state: &mut State, load: &Load) -> Result<(), String> {
    if load.with_nhcb {
        state.nhcb = true;
    }
    let mut batch = Vec::new();
    for (labels, series) in &load.series {
        if series.histogram {
            state.histograms.push(labels.clone());
            continue;
        }
        let samples: Vec<Sample> = series
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                SeqValue::Value(v) => Some(Sample {
                    t: i as i64 * load.gap_ms,
                    v: *v,
                }),
                SeqValue::Omitted => None,
            })
            .collect();
        if !samples.is_empty() {
            batch.push(SeriesSamples {
                labels: labels.clone(),
                samples,
            });
        }
    }
    let store = &state.store().store;
    let outcome = store
        .append(batch)
        .map_err(|e| format!("append failed: {e}"))?;
    if outcome.rejected_total() > 0 {
        return Err(format!(
            "the store rejected {} sample(s) {:?}: {}",
            outcome.rejected_total(),
            outcome.rejected,
            outcome.first_rejection.unwrap_or_default()
        ));
    }
    // Write the heads out as chunks, so that queries read the chunk path too.
    store
        .checkpoint()
        .map_err(|e| format!("checkpoint failed: {e}"))
}

thread_local! {
    static IN_QUERY: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Engine panics are reported as failures of the eval that caused them, not of the whole run.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_QUERY.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic)".into());
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{payload}{location}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs one query, turning a panic into an error.
fn guarded(
    f: impl FnOnce() -> Result<QueryOutput, PromqlError>,
) -> Result<Result<QueryOutput, PromqlError>, String> {
    install_panic_hook();
    IN_QUERY.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    IN_QUERY.with(|q| q.set(false));
    r.map_err(|_| {
        let msg = PANIC_MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "unknown panic".into());
        format!("engine panicked: {msg}")
    })
}

fn instant(
    engine: &Engine<Arc<SeriesStore>>,
    q: &str,
    t: i64,
) -> Result<Result<QueryOutput, PromqlError>, String> {
    guarded(|| engine.instant_query(q, t, &QueryOptions::default()))
}

fn range(
    engine: &Engine<Arc<SeriesStore>>,
    q: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Result<QueryOutput, PromqlError>, String> {
    guarded(|| engine.range_query(q, start, end, step, &QueryOptions::default()))
}

/// One eval with the reference's checks (`execRangeEval` / `execInstantEval`).
pub(crate) fn run_eval(engine: &Engine<Arc<SeriesStore>>, eval: &Eval) -> Result<(), String> {
    match eval.kind {
        EvalKind::Range => {
            let res = range(engine, &eval.expr, eval.start, eval.end, eval.step)?;
            check_outcome(eval, res, &eval.expr).map(|_| ())
        }
        EvalKind::Instant => {
            let mut queries = vec![(eval.expr.clone(), eval.eval_time)];
            if let Some((rewritten, times)) =
                rewrite::at_modifier_cases(&eval.expr, eval.eval_time)?
            {
                queries.extend(times.into_iter().map(|t| (rewritten.clone(), t)));
            }
            for (q, t) in &queries {
                run_instant(engine, eval, q, *t)?;
            }
            Ok(())
        }
    }
}

/// The error / annotation / value checks shared by every query of an eval: `Ok(Some(out))`
/// when the query succeeded and matched, `Ok(None)` when it failed as expected.
fn check_outcome(
    eval: &Eval,
    res: Result<QueryOutput, PromqlError>,
    q: &str,
) -> Result<Option<QueryOutput>, String> {
    let out = match res {
        Err(e) => {
            let msg = e.to_string();
            if eval.is_fail() {
                compare::check_expected_failure(eval, &msg).map_err(|m| with_query(q, eval, m))?;
                return Ok(None);
            }
            return Err(with_query(
                q,
                eval,
                format!(
                    "expected {} but got error: {msg}",
                    compare::describe_expected(eval)
                ),
            ));
        }
        Ok(out) => out,
    };
    if eval.is_fail() {
        return Err(with_query(
            q,
            eval,
            format!("expected an error but got {}", fmt_value(&out.value)),
        ));
    }
    compare::check_annotations(eval, &out).map_err(|m| with_query(q, eval, m))?;
    compare::compare_result(eval, &out.value).map_err(|m| with_query(q, eval, m))?;
    Ok(Some(out))
}

/// Names the query actually run when it is a rewrite of the eval's.
fn with_query(q: &str, eval: &Eval, message: String) -> String {
    if q == eval.expr {
        message
    } else {
        format!("[as {q}] {message}")
    }
}

fn run_instant(
    engine: &Engine<Arc<SeriesStore>>,
    eval: &Eval,
    q: &str,
    t: i64,
) -> Result<(), String> {
    let res = instant(engine, q, t)?;
    let Some(out) = check_outcome(eval, res, q)? else {
        return Ok(());
    };
    if eval.exclude_from_range_query || rewrite::uses_query_context_funcs(q) {
        return Ok(());
    }
    // The same query in range mode must give the same value at the middle step.
    let tag = |m: String| format!("[range mode, {q} at {t}] {m}");
    let res = range(engine, q, t - 60_000, t + 60_000, 60_000)?
        .map_err(|e| tag(format!("error evaluating in range mode: {e}")))?;
    if eval.is_ordered() {
        return Ok(());
    }
    let Value::Matrix(matrix) = &res.value else {
        return Err(tag(format!(
            "range query returned {} instead of a matrix",
            fmt_value(&res.value)
        )));
    };
    compare::assert_matrix_sorted(matrix).map_err(tag)?;
    let vector: Vec<InstantSample> = matrix
        .iter()
        .filter_map(|s| {
            s.samples.iter().find(|p| p.t == t).map(|p| InstantSample {
                labels: s.labels.clone(),
                t: p.t,
                v: p.v,
            })
        })
        .collect();
    if matches!(out.value, Value::Scalar { .. }) {
        let Some(first) = vector.first() else {
            return Err(tag(
                "expected a scalar but range mode returned no point".into()
            ));
        };
        compare::compare_scalar(eval, first.v).map_err(tag)
    } else {
        compare::compare_vector(eval, &vector).map_err(tag)
    }
}
