//! Per-stream state is bounded: at most [`MAX_STREAMS`] streams keep state at once.
//!
//! A stream is one pod/container of a kubectl `--prefix` input, the stdout or stderr of a CRI or
//! docker log, a Loki label set, or an input without any of these. What is kept per stream, and
//! where:
//!
//! * the merger (`pipeline::Merger`): the event that may still get continuation lines (a
//!   traceback, a panic) and how to recognize them, the rule and group context of that event,
//!   the stream's name (`Origin`: pod, container, labels), its link to the same stream in the
//!   older file of a rotated set;
//! * `request::RequestMerger`: the requests still waiting for their other lines;
//! * `spans::SpanTimer` (in the merger): open span starts, and span durations waiting for their
//!   request's line;
//! * `correlate::StreamClocks`: the stream's event-time clock;
//! * `envelope::Joiner`: the CRI `P` / docker json-file pieces of a line not yet complete (per
//!   input, in the reader and in each parse worker).
//!
//! Without a bound, an input with a million distinct pods of one line each kept a million of
//! each (1.7 GB peak; 150 MB with the cap, BENCHMARKS.md).
//!
//! # Policy: a cap on live streams, least recently read released first
//!
//! When a stream that has no state yet starts while [`MAX_STREAMS`] streams have state, the
//! stream that has gone longest without a line — in the order lines are read, across all
//! inputs — releases its state first. Releasing ends what it holds exactly as the end of input
//! would: its open event is complete as it stands (and, for `events`, written in its place in
//! input order), its waiting requests are counted with the lines they have, and nothing it read
//! is lost or counted twice. Should the stream write again, it starts afresh, as a new stream:
//! only then does the release show — a continuation line becomes an event of its own, a
//! request's late line a request of its own, and its correlation clock restarts from the line's
//! time. The joiners hold the same number of open partial runs per input, and end the run whose
//! last piece is oldest as an unfinished line, as at the end of input. Releases are counted in
//! the report (`input.streams_released`).
//!
//! Why this policy:
//! * **A slow writer is not cut because others are busy.** A pod writing a traceback slowly
//!   loses its state only if [`MAX_STREAMS`] other streams each wrote a line since its last
//!   one; how chatty the others are does not matter, only how many there are. Below the cap
//!   nothing is ever released, so results are the same as without it.
//! * **Not by idle event time.** Event time across streams does not say what is still to come:
//!   `kubectl logs -l … --prefix` without `-f` prints pod after pod, each going back in time,
//!   and one line with a bad clock (a year ahead) would make every other stream "idle" at once,
//!   ending in-flight requests and tracebacks everywhere. The cap alone bounds memory, and the
//!   order of reading is the one clock every stream shares.
//! * **Deterministic.** The order is that of the lines as the merger takes them (input order,
//!   whatever the chunking and thread count; the `--follow` reorder buffer's event-time order
//!   when following several inputs), and the joiners count pieces in input order too: a
//!   reader and a parse worker release the same runs at the same lines, so chunk boundaries
//!   change nothing.
//! * **Large enough for real inputs.** A node runs at most a few hundred containers; a
//!   selector over a large deployment, a few thousand streams (pods × containers ×
//!   stdout/stderr). 20 000 streams with state cost about 30 MB (a million one-line pods took
//!   1.7 KB each); the requests each may hold are capped apart
//!   (`request::MAX_PENDING_PER_STREAM`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Most streams with state at once (merger), and most open partial runs per input (joiners).
pub const MAX_STREAMS: usize = 20_000;

/// Entries of released keys tolerated before the queue is rebuilt.
const COMPACT_SLACK: usize = 1024;

/// Keys (streams, runs) by when they were last used — a *stamp* the caller takes from a counter
/// that grows with each use — to find the least recently used one.
///
/// Each live key has one entry, pushed when the key starts. A use only updates the caller's
/// stamp: the entry is brought up to date when it reaches the top (a heap ordered by stale
/// stamps finds the true oldest, since every entry's stamp is at most its key's). Keys the
/// caller drops itself leave entries behind, cleared by [`Recency::compact`].
#[derive(Debug, Default, Clone)]
pub struct Recency {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
}

impl Recency {
    /// Key `key` starts, used at `stamp`.
    pub fn push(&mut self, key: u64, stamp: u64) {
        self.heap.push(Reverse((stamp, key)));
    }

    /// The least recently used live key, its entry removed. `stamp_of(key)` is the key's stamp,
    /// `None` for a key no longer live.
    pub fn pop_oldest(&mut self, stamp_of: impl Fn(u64) -> Option<u64>) -> Option<u64> {
        while let Some(mut top) = self.heap.peek_mut() {
            let Reverse((stamp, key)) = *top;
            match stamp_of(key) {
                Some(now) if now == stamp => {
                    std::collections::binary_heap::PeekMut::pop(top);
                    return Some(key);
                }
                Some(now) => *top = Reverse((now, key)),
                None => {
                    std::collections::binary_heap::PeekMut::pop(top);
                }
            }
        }
        None
    }

    /// After the caller dropped keys itself: rebuild from the `live` keys (key, stamp) once the
    /// entries left behind outnumber them.
    pub fn compact<I: Iterator<Item = (u64, u64)>>(
        &mut self,
        live: usize,
        keys: impl FnOnce() -> I,
    ) {
        if self.heap.len() > 2 * live + COMPACT_SLACK {
            self.heap = keys().map(|(key, stamp)| Reverse((stamp, key))).collect();
        }
    }

    /// Entries held (live keys and those left behind).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No entry.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Whatever the uses, drops and pops, the key popped is the live key with the smallest
        /// stamp.
        #[test]
        fn pops_the_least_recently_used_live_key(
            ops in prop::collection::vec((0u8..3, 0u64..40), 1..300),
        ) {
            let mut r = Recency::default();
            let mut live: HashMap<u64, u64> = HashMap::new();
            for (now, (op, key)) in (0u64..).zip(ops) {
                match op {
                    // Use (start if new).
                    0 => {
                        if live.insert(key, now).is_none() {
                            r.push(key, now);
                        }
                    }
                    // Dropped by the caller.
                    1 => {
                        live.remove(&key);
                        r.compact(live.len(), || live.iter().map(|(k, s)| (*k, *s)));
                    }
                    _ => {
                        let want = live.iter().min_by_key(|(_, s)| **s).map(|(k, _)| *k);
                        let got = r.pop_oldest(|k| live.get(&k).copied());
                        prop_assert_eq!(got, want);
                        if let Some(k) = got {
                            live.remove(&k);
                        }
                    }
                }
            }
        }
    }
}
