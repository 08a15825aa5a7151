//! Sliding-window quantiles for summaries, with bounded memory.
//!
//! statsd_exporter's summaries (client_golang) report quantiles over the last `max_age`, kept in
//! `age_buckets` rotating streams. Here the window is a ring of `age_buckets` sub-windows of
//! `max_age / age_buckets` each; every sub-window keeps a uniform reservoir sample (Algorithm R)
//! of at most [`MAX_SAMPLES`] / `age_buckets` observations, so a summary never holds more than
//! [`MAX_SAMPLES`] values however many it receives. A sampled observation (`@rate`) counts once
//! in the reservoir: with a constant rate per metric the quantiles are unaffected.

/// Most values one summary keeps across its sub-windows.
pub(crate) const MAX_SAMPLES: usize = 1024;

#[derive(Debug, Clone)]
pub(crate) struct Window {
    subs: Vec<Sub>,
    sub_ms: i64,
    /// Index of the sub-window receiving observations.
    head: usize,
    head_start_ms: i64,
    cap: usize,
    rng: u64,
}

#[derive(Debug, Clone, Default)]
struct Sub {
    values: Vec<f64>,
    /// Observations offered to this sub-window.
    seen: u64,
}

impl Window {
    pub(crate) fn new(max_age_ms: i64, age_buckets: u32, now_ms: i64, seed: u64) -> Self {
        let n = age_buckets.clamp(1, 64) as usize;
        Window {
            subs: vec![Sub::default(); n],
            sub_ms: (max_age_ms / n as i64).max(1),
            head: 0,
            head_start_ms: now_ms,
            cap: (MAX_SAMPLES / n).max(8),
            rng: seed | 1,
        }
    }

    fn rotate(&mut self, now_ms: i64) {
        let elapsed = now_ms - self.head_start_ms;
        if elapsed < self.sub_ms {
            return;
        }
        let steps = elapsed / self.sub_ms;
        if steps >= self.subs.len() as i64 {
            for s in &mut self.subs {
                s.values.clear();
                s.seen = 0;
            }
        } else {
            for _ in 0..steps {
                self.head = (self.head + 1) % self.subs.len();
                let s = &mut self.subs[self.head];
                s.values.clear();
                s.seen = 0;
            }
        }
        self.head_start_ms += steps * self.sub_ms;
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn observe(&mut self, v: f64, now_ms: i64) {
        self.rotate(now_ms);
        let cap = self.cap;
        let r = self.next_random();
        let s = &mut self.subs[self.head];
        s.seen += 1;
        if s.values.len() < cap {
            s.values.push(v);
        } else {
            let j = r % s.seen;
            if let Some(slot) = usize::try_from(j).ok().and_then(|j| s.values.get_mut(j)) {
                *slot = v;
            }
        }
    }

    /// The values of the current window, each with the number of observations it stands for.
    pub(crate) fn weighted_values(&mut self, now_ms: i64) -> Vec<(f64, f64)> {
        self.rotate(now_ms);
        let mut out = Vec::new();
        for s in &self.subs {
            if s.values.is_empty() {
                continue;
            }
            let w = s.seen as f64 / s.values.len() as f64;
            out.extend(s.values.iter().map(|v| (*v, w)));
        }
        out
    }
}

/// Quantiles of weighted values: for each `q`, the smallest value whose cumulative weight
/// reaches `q` of the total; NaN when there are no values (as client_golang reports).
pub(crate) fn quantiles(mut values: Vec<(f64, f64)>, qs: &[f64]) -> Vec<f64> {
    if values.is_empty() {
        return vec![f64::NAN; qs.len()];
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|(_, w)| w).sum();
    qs.iter()
        .map(|q| {
            let target = q * total;
            let mut cum = 0.0;
            for (v, w) in &values {
                cum += w;
                if cum >= target {
                    return *v;
                }
            }
            values.last().map(|(v, _)| *v).unwrap_or(f64::NAN)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_uniform_stream() {
        let mut w = Window::new(600_000, 5, 0, 42);
        for i in 1..=1000 {
            w.observe(f64::from(i), 1000);
        }
        let q = quantiles(w.weighted_values(1000), &[0.5, 0.9, 0.99]);
        assert!((q[0] - 500.0).abs() < 60.0, "{q:?}");
        assert!((q[1] - 900.0).abs() < 40.0, "{q:?}");
        assert!((q[2] - 990.0).abs() < 15.0, "{q:?}");
        let small = quantiles(
            vec![(1.0, 1.0), (2.0, 1.0), (3.0, 1.0), (4.0, 1.0)],
            &[0.5, 0.99, 0.0],
        );
        assert_eq!(small, vec![2.0, 4.0, 1.0]);
    }

    #[test]
    fn window_slides_and_stays_bounded() {
        let mut w = Window::new(10_000, 5, 0, 7);
        for i in 0..100_000 {
            w.observe(f64::from(i), 0);
        }
        let vals = w.weighted_values(0);
        assert!(vals.len() <= MAX_SAMPLES);
        let total: f64 = vals.iter().map(|(_, w)| w).sum();
        assert!((total - 100_000.0).abs() < 1.0);
        // 6 s later the first sub-windows are gone, 11 s later everything
        w.observe(5.0, 6_000);
        assert!(!w.weighted_values(6_000).is_empty());
        assert!(w.weighted_values(21_000).is_empty());
        assert!(quantiles(w.weighted_values(21_000), &[0.5])[0].is_nan());
    }
}
