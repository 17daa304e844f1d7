//! When streams printed a line for a request whatever its outcome (`only_failures_logged`,
//! ERR004): a failure counts when its stream printed none within the rule's window around it.

use std::collections::BTreeMap;

use crate::time::Nanos;

/// When streams (request [`crate::request::At::stream`]) printed a line for a request whatever
/// its outcome (a success-type line: Skreaver's `finished processing request`): per stream, the
/// earliest and latest such line in each cell of a time grid. Memory grows with the time span
/// each stream covers, not with its requests; [`Successes::near`] is exact to the nanosecond
/// all the same (a cell is no wider than the windows asked about).
#[derive(Debug, Clone)]
pub(super) struct Successes {
    /// Cell width: the shortest `only_failures_logged` window (any width up to twice the
    /// window keeps [`Successes::near`] exact; a stream moves to another cell once per width).
    width: Nanos,
    /// Per stream, its cells (time ÷ `width`): the earliest and latest line in each.
    cells: crate::FastMap<u64, StreamCells>,
}

/// One stream's cells of [`Successes`]: the latest apart (a stream's lines come mostly in time
/// order: most land in it, with no tree operation), the earlier ones in order.
#[derive(Debug, Clone)]
struct StreamCells {
    last: (i64, Nanos, Nanos),
    earlier: BTreeMap<i64, (Nanos, Nanos)>,
}

/// Widen the earliest/latest pair `into` by `lo`..`hi`.
fn widen(into: &mut (Nanos, Nanos), lo: Nanos, hi: Nanos) {
    into.0 = into.0.min(lo);
    into.1 = into.1.max(hi);
}

impl StreamCells {
    /// Note a line at `ts` in `cell`, which is not the latest cell. Every cell in `earlier` is
    /// before the latest.
    #[inline(never)]
    fn move_to(&mut self, cell: i64, ts: Nanos) {
        if cell < self.last.0 {
            widen(self.earlier.entry(cell).or_insert((ts, ts)), ts, ts);
        } else {
            let (pc, plo, phi) = std::mem::replace(&mut self.last, (cell, ts, ts));
            self.earlier.insert(pc, (plo, phi));
        }
    }
}

impl Successes {
    pub(super) fn new(width: Nanos) -> Successes {
        Successes {
            width: width.max(1),
            cells: crate::FastMap::default(),
        }
    }

    /// `stream` printed a success-type line at `ts`.
    pub(super) fn note(&mut self, stream: u64, ts: Nanos) {
        let cell = ts.div_euclid(self.width);
        match self.cells.get_mut(&stream) {
            Some(sc) if sc.last.0 == cell => {
                sc.last.1 = sc.last.1.min(ts);
                sc.last.2 = sc.last.2.max(ts);
            }
            Some(sc) => sc.move_to(cell, ts),
            None => {
                self.cells.insert(
                    stream,
                    StreamCells {
                        last: (cell, ts, ts),
                        earlier: BTreeMap::new(),
                    },
                );
            }
        }
    }

    /// Did `stream` print a success-type line within `window` before or after `ts` (both ends
    /// included)? Exact: a cell with lines at or after `ts − window` and at or before
    /// `ts + window` has one between, as no cell is wider than `2 × window`.
    pub(super) fn near(&self, stream: u64, ts: Nanos, window: Nanos) -> bool {
        let (from, to) = (ts.saturating_sub(window), ts.saturating_add(window));
        let within = |lo: Nanos, hi: Nanos| hi >= from && lo <= to;
        self.cells.get(&stream).is_some_and(|sc| {
            within(sc.last.1, sc.last.2)
                || sc
                    .earlier
                    .range(from.div_euclid(self.width)..=to.div_euclid(self.width))
                    .any(|(_, &(lo, hi))| within(lo, hi))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;

    /// `near` agrees with a search of every line, to the nanosecond, whatever the order in
    /// which the lines were noted, however streams interleave, and for any cell width up to
    /// twice the window.
    #[test]
    fn near_is_exact_in_any_order() {
        let window: Nanos = 300_000_000_000;
        for width in [window / 30, window, 2 * window] {
            // Lines of two streams, mostly 9 s apart, with gaps of more than two windows.
            let mut lines: Vec<(u64, Nanos)> = Vec::new();
            let (mut x, mut t): (u64, Nanos) = (7, 0);
            for i in 0..400i64 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let jitter = (x >> 33) as i64 % 3 - 1;
                t += if (x >> 40).is_multiple_of(7) {
                    2 * window + 3_000_000_001
                } else {
                    9_000_000_001
                };
                lines.push(((x >> 20) % 2, t + (i % 5) * width / 5 + jitter));
            }
            for order in 0..3 {
                let mut v = lines.clone();
                match order {
                    1 => v.reverse(),
                    2 => v.sort_by_key(|&(s, t)| (s, Reverse(t))),
                    _ => {}
                }
                let mut s = Successes::new(width);
                for &(stream, ts) in &v {
                    s.note(stream, ts);
                }
                for &(stream, ts) in &lines {
                    for probe in [ts - window - 1, ts - window, ts + window, ts + window + 1] {
                        for q in [0, 1] {
                            let want = lines
                                .iter()
                                .any(|&(s2, t)| s2 == q && (t - probe).abs() <= window);
                            assert_eq!(
                                s.near(q, probe, window),
                                want,
                                "{stream} {probe} {order} {width}"
                            );
                        }
                    }
                }
            }
        }
    }
}
