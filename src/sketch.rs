//! A mergeable quantile sketch with bounded relative error (the DDSketch idea).
//!
//! Values are counted in logarithmic buckets `(γ^(i-1), γ^i]` with `γ = (1+α)/(1-α)`; reporting a
//! bucket's midpoint `2γ^i/(γ+1)` is within `α` (1%) of every value in it. Zero (and negative)
//! values have their own counter. Two sketches merge by adding bucket counts, so partial results
//! from different threads or chunks combine exactly.

/// Relative accuracy of reported quantiles.
pub const ALPHA: f64 = 0.01;

/// A latency sketch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sketch {
    /// Bucket counts, index `i - offset`.
    counts: Vec<u64>,
    offset: i32,
    zeros: u64,
    total: u64,
    max: f64,
}

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

fn index_of(v: f64) -> i32 {
    (v.ln() / gamma().ln()).ceil() as i32
}

impl Sketch {
    /// Count one value.
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.total += 1;
        if v > self.max {
            self.max = v;
        }
        // Below 1 ns in ms units we call it zero.
        if v <= 1e-6 {
            self.zeros += 1;
            return;
        }
        let i = index_of(v);
        self.bump(i, 1);
    }

    fn bump(&mut self, i: i32, by: u64) {
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0);
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let at = (i - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += by;
    }

    /// Add another sketch's counts.
    pub fn merge(&mut self, other: &Sketch) {
        self.total += other.total;
        self.zeros += other.zeros;
        if other.max > self.max {
            self.max = other.max;
        }
        for (k, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.bump(other.offset + k as i32, c);
            }
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest value seen (exact).
    pub fn max(&self) -> Option<f64> {
        (self.total > 0).then_some(self.max)
    }

    /// The `q` quantile (0..=1), within 1% relative error; exact at the top (`q = 1` is the max).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        if q >= 1.0 {
            // The top is the exact maximum, as documented.
            return Some(self.max);
        }
        let rank = (q.clamp(0.0, 1.0) * (self.total - 1) as f64).floor() as u64;
        if rank + 1 >= self.total {
            // The top rank is the maximum, which is kept exactly.
            return Some(self.max);
        }
        if rank < self.zeros {
            return Some(0.0);
        }
        if rank + 1 >= self.total {
            return Some(self.max);
        }
        let mut seen = self.zeros;
        for (k, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                let g = gamma();
                let i = self.offset + k as i32;
                let v = 2.0 * g.powi(i) / (g + 1.0);
                return Some(v.min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    proptest! {
        #[test]
        fn quantiles_within_one_percent(values in proptest::collection::vec(0.0f64..100_000.0, 1..400), q in 0.0f64..=1.0) {
            let mut s = Sketch::default();
            for v in &values { s.add(*v); }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let want = exact(&sorted, q);
            let got = s.quantile(q).unwrap();
            if want <= 1e-6 { prop_assert_eq!(got, 0.0); } else {
                prop_assert!((got - want).abs() <= want * ALPHA * 1.0001, "q={} want={} got={}", q, want, got);
            }
        }

        #[test]
        fn merge_equals_whole(a in proptest::collection::vec(0.0f64..1e6, 0..200), b in proptest::collection::vec(0.0f64..1e6, 0..200)) {
            let (mut sa, mut sb, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
            for v in &a { sa.add(*v); all.add(*v); }
            for v in &b { sb.add(*v); all.add(*v); }
            sa.merge(&sb);
            for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
                prop_assert_eq!(sa.quantile(q), all.quantile(q));
            }
            prop_assert_eq!(sa.count(), all.count());
        }
    }

    #[test]
    fn zeros_and_max() {
        let mut s = Sketch::default();
        for _ in 0..10 {
            s.add(0.0);
        }
        s.add(20.0);
        assert_eq!(s.quantile(0.5), Some(0.0));
        assert_eq!(s.quantile(1.0), Some(20.0));
        assert_eq!(s.max(), Some(20.0));
        assert_eq!(Sketch::default().quantile(0.5), None);
    }
}
