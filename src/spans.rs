//! Request latency from span lines: a service that logs when a request's span starts and when it
//! ends, but no duration (SkillMeat's default runtime JSON and text formats print `Starting span:
//! GET /x` and later `Span completed: GET /x [success]`; only its StructuredFormatter variant
//! prints `duration_ms`), still gets a latency per request.
//!
//! A `[[message]]` rule with `span = "start"` or `span = "end"` (`parsers/*.toml`) marks such
//! lines; the span's name is the rule's `<method>` and `<path>` captures ([`Mark`]). Per stream
//! (the merger's lane: one pod/container/stdout-or-stderr, continued across a rotated set), a
//! start pushes its time; an end takes the oldest open start of the same name that is not later
//! than it, and the difference is the span's duration. That duration then goes to the request
//! the end belongs to ([`Hand`]): to the `Span completed` line itself when it is a request line
//! that passed the filters (the usual case), else to the first of its request's later lines
//! that did (`Request completed`, the access line: [`SpanTimer::line`]), matched as
//! [`crate::request::RequestMerger`] merges them — same stream, method and route, a later kind
//! of the service's request chain, the same status, within [`crate::request::WINDOW_NS`]. Lines
//! that do not pass the filters are followed too, so a request filtered out whole leaves
//! nothing for the next one. A line's own duration always wins (the StructuredFormatter's
//! `extra.duration_ms`): an end with one still closes its start, but hands nothing on.
//!
//! FIFO pairing is exact while spans of one name do not overlap in a stream. FastAPI serves
//! requests concurrently in one process, so two requests of one name can overlap, and one
//! started later can end first: pairing in start order then swaps their durations (the pair's
//! total stays right; a percentile over many requests moves little). The log says nothing that
//! would tell them apart (no span id in these formats).
//!
//! Bounded memory: at most [`MAX_OPEN`] open starts per stream (beyond it the oldest is
//! evicted), a start older than [`MAX_SPAN_NS`] is dropped when an end of its name looks for
//! its start (it never completed: a lost line, a restart), and at most [`MAX_TIMED`] durations
//! wait for their request line, each for at most [`crate::request::WINDOW_NS`]. A stream's
//! spans go when it releases its state ([`crate::streams`]) and at the end of input; starts
//! still open then are counted as `unfinished`. Every drop is counted ([`SpanCounts`], the
//! report's `requests.span_latency`).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use crate::pipeline::StreamMap;
use crate::request::WINDOW_NS;
use crate::time::Nanos;

/// Most open span starts per stream; a further one evicts the oldest (counted).
pub const MAX_OPEN: usize = 256;
/// Most span durations per stream waiting for their request line.
pub const MAX_TIMED: usize = 64;
/// A start this much older than an end of its name is no longer its start: it never completed
/// (counted as `expired`), and pairing it would report a gap between requests as a latency.
pub const MAX_SPAN_NS: Nanos = 600_000_000_000;

/// Which end of a span a line marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// `Starting span: GET /x`.
    Start,
    /// `Span completed: GET /x [success]`.
    End,
}

/// A span line, as a message rule marks it: which end, and a hash of the span's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Start or end.
    pub edge: Edge,
    /// [`name_key`] of the span's method and path.
    pub name: Key,
}

/// A hash of a span's name or of a request's method and route. 32 bits: a mistaken pair needs
/// two names of one stream's few open spans to collide (odds of about one in 2³² per pair of
/// names); 64-bit keys made every line the parse workers hand to the merger 8 bytes larger.
pub type Key = u32;

/// Fixed seed: keys are compared within a run only, but a fixed one keeps runs identical.
const HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5ba4_1a7e);

/// The key of a span's name: its method and path as the span lines print them.
pub fn name_key(method: &str, path: &str) -> Key {
    HASH.hash_one((method, path)) as Key
}

/// The key a request line and a span end share: method and normalized route.
pub fn route_key(method: Option<&str>, route: Option<&str>) -> Key {
    HASH.hash_one((method.unwrap_or(""), route.unwrap_or(""))) as Key
}

/// What became of span lines, for the report (`requests.span_latency`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SpanCounts {
    /// Ends paired with their start: a duration each.
    pub paired: u64,
    /// Request lines without a duration of their own that took a span's: the requests whose
    /// latency comes from span lines.
    pub timed: u64,
    /// Ends with no open start of their name (it came before the input, or was dropped).
    pub without_start: u64,
    /// Starts dropped as older than [`MAX_SPAN_NS`] when an end of their name came.
    pub expired: u64,
    /// Starts evicted because [`MAX_OPEN`] were open in their stream.
    pub evicted: u64,
    /// Starts still open when their stream released its state or the input ended.
    pub unfinished: u64,
}

impl SpanCounts {
    /// Nothing was counted (the report leaves the key out).
    pub fn is_empty(&self) -> bool {
        *self == SpanCounts::default()
    }

    /// Something worth a line for people: latencies taken from spans, or span lines dropped
    /// (a log that prints its own durations pairs its spans to no effect).
    pub fn worth_saying(&self) -> bool {
        self.timed + self.without_start + self.unfinished + self.expired + self.evicted > 0
    }

    /// One line for people (terminal report, `report.md`). `filtered`: filters dropped events;
    /// `timed` counts kept requests only, but spans pair over every span line read (a kept
    /// request takes the latency of span lines a filter drops), so the other counts are said
    /// to be of all span lines, before filters.
    pub fn describe(&self, filtered: bool) -> String {
        let mut s = match self.timed {
            0 => "no request latency from span start/end lines".to_string(),
            n => format!(
                "latency of {n} requests from span start/end lines (paired in start order where \
                 requests of one route overlap)"
            ),
        };
        if filtered {
            s += &format!(
                "; of all span lines read, before filters: {} paired",
                self.paired
            );
        }
        for (n, what) in [
            (self.without_start, "ends without their start"),
            (self.unfinished, "starts never ended"),
            (self.expired, "starts dropped as 10 minutes old"),
            (self.evicted, "starts dropped beyond 256 open in a stream"),
        ] {
            if n > 0 {
                s += &format!("; {n} {what}");
            }
        }
        s
    }
}

/// A span's duration waiting for its request line.
#[derive(Clone, Copy, Debug)]
struct Timed {
    route: Key,
    ts: Nanos,
    ms: f64,
    /// Chain kind of the latest request line of this request seen (filtered out); `None`:
    /// none yet.
    kind: Option<u8>,
    /// Status of that request, once one of its lines told it.
    status: Option<u16>,
}

/// What becomes of a span's duration when its end is read ([`SpanTimer::end`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hand {
    /// Nothing: the end has a duration of its own, or is its request's last line and was
    /// filtered out.
    Nothing,
    /// The end is a request line that passed the filters: its request takes the duration now.
    Take,
    /// The duration waits for its request's next line of `route` that passes ([`SpanTimer::line`]):
    /// one of a later chain kind than `after` (the end's own kind, when it is a request line).
    Wait {
        /// The request's [`route_key`].
        route: Key,
        /// The end's kind in the request chain, if it is a request line.
        after: Option<u8>,
    },
}

/// A request line as [`SpanTimer::line`] sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLine {
    /// Its kind: index in the service's request chain.
    pub kind: u8,
    /// The last kind of the chain: the request is complete.
    pub last: bool,
    /// Its status.
    pub status: Option<u16>,
    /// It passed the filters (its request is counted).
    pub pass: bool,
    /// It has a duration of its own.
    pub own: bool,
}

/// The span state of one stream.
#[derive(Debug, Default)]
struct Stream {
    /// Open starts, in the order read: name key and time.
    open: VecDeque<(Key, Nanos)>,
    /// Durations not yet taken by a request line, oldest first.
    timed: VecDeque<Timed>,
}

/// Pairs span starts and ends per stream ([module docs](self)).
#[derive(Debug, Default)]
pub struct SpanTimer {
    streams: StreamMap<Stream>,
    counts: SpanCounts,
    /// Open starts and waiting durations over all streams: while there are none (a log
    /// without span starts, or between requests) a line costs no look-up.
    held: usize,
}

impl SpanTimer {
    /// A span named `name` started at `ts` in `stream`.
    pub fn start(&mut self, stream: u64, name: Key, ts: Nanos) {
        let s = self.streams.entry(stream).or_default();
        if s.open.len() >= MAX_OPEN {
            s.open.pop_front();
            self.counts.evicted += 1;
            self.held -= 1;
        }
        s.open.push_back((name, ts));
        self.held += 1;
    }

    /// A span named `name` ended at `ts` in `stream`: its duration in ms, from the oldest open
    /// start of that name (`None` without one), handed on as `hand` says.
    pub fn end(&mut self, stream: u64, name: Key, ts: Nanos, hand: Hand) -> Option<f64> {
        let Some(s) = (self.held > 0)
            .then(|| self.streams.get_mut(&stream))
            .flatten()
        else {
            self.counts.without_start += 1;
            return None;
        };
        // FIFO: the oldest open start of this name. Requests of one route served concurrently
        // (FastAPI is async) can overlap and finish out of order: paired in start order they
        // swap durations, an approximation the log cannot resolve (it names no span id).
        let mut i = 0;
        let started = loop {
            let Some(&(n, t)) = s.open.get(i) else {
                break None;
            };
            if n != name || t > ts {
                i += 1;
            } else if ts.saturating_sub(t) > MAX_SPAN_NS {
                s.open.remove(i);
                self.counts.expired += 1;
                self.held -= 1;
            } else {
                s.open.remove(i);
                self.held -= 1;
                break Some(t);
            }
        };
        let Some(t) = started else {
            self.counts.without_start += 1;
            return None;
        };
        self.counts.paired += 1;
        let ms = ts.saturating_sub(t) as f64 / 1e6;
        if hand == Hand::Take {
            self.counts.timed += 1;
        }
        if let Hand::Wait { route, after } = hand {
            let oldest = ts.saturating_sub(WINDOW_NS);
            while s
                .timed
                .front()
                .is_some_and(|d| d.ts < oldest || s.timed.len() >= MAX_TIMED)
            {
                s.timed.pop_front();
                self.held -= 1;
            }
            s.timed.push_back(Timed {
                route,
                ts,
                ms,
                kind: after,
                status: None,
            });
            self.held += 1;
        }
        Some(ms)
    }

    /// A request line of `route` at `ts` in `stream`, whether it passed the filters or not:
    /// the duration of the oldest span that ended before it and whose request it continues,
    /// when the line takes it (it passed and has no duration of its own). A line that does not
    /// take the duration moves its request on (or ends it, at the chain's last kind or with a
    /// duration of its own), so that the next request's line does not take it.
    pub fn line(
        &mut self,
        stream: u64,
        route: Key,
        ts: Option<Nanos>,
        line: RequestLine,
    ) -> Option<f64> {
        if self.held == 0 {
            return None;
        }
        let s = self.streams.get_mut(&stream)?;
        if s.timed.is_empty() {
            return None;
        }
        if let Some(ts) = ts {
            let oldest = ts.saturating_sub(WINDOW_NS);
            while s.timed.front().is_some_and(|d| d.ts < oldest) {
                s.timed.pop_front();
                self.held -= 1;
            }
        }
        let i = s.timed.iter().position(|d| {
            d.route == route
                && d.kind.is_none_or(|k| line.kind > k)
                && (d.status.is_none() || line.status.is_none() || d.status == line.status)
        })?;
        if line.pass || line.own || line.last {
            let taken = s.timed.remove(i);
            self.held -= usize::from(taken.is_some());
            if line.pass && !line.own {
                self.counts.timed += 1;
                return taken.map(|d| d.ms);
            }
        } else if let Some(d) = s.timed.get_mut(i) {
            d.kind = Some(line.kind);
            d.status = d.status.or(line.status);
        }
        None
    }

    /// `stream` released its state ([`crate::streams`]): its open starts are unfinished.
    pub fn release(&mut self, stream: u64) {
        if let Some(s) = self.streams.remove(&stream) {
            self.counts.unfinished += s.open.len() as u64;
            self.held -= s.open.len() + s.timed.len();
        }
    }

    /// End of input: every open start is unfinished.
    pub fn finish(&mut self) {
        let open: usize = self.streams.values().map(|s| s.open.len()).sum();
        self.counts.unfinished += open as u64;
        self.streams.clear();
        self.held = 0;
    }

    /// What became of the span lines so far.
    pub fn counts(&self) -> &SpanCounts {
        &self.counts
    }

    /// The counts for the report: `None` when no span line was seen.
    pub fn report(&self) -> Option<SpanCounts> {
        (!self.counts.is_empty()).then(|| self.counts.clone())
    }

    /// Streams with span state (bounded by the streams with state, [`crate::streams`]).
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// Open starts and waiting durations, over all streams.
    pub fn held(&self) -> usize {
        debug_assert_eq!(
            self.held,
            (self.streams.values())
                .map(|s| s.open.len() + s.timed.len())
                .sum::<usize>()
        );
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    fn key(path: &str) -> Key {
        name_key("GET", path)
    }

    fn route(path: &str) -> Key {
        route_key(Some("GET"), Some(path))
    }

    /// An end whose duration waits for a request line.
    fn wait(path: &str) -> Hand {
        Hand::Wait {
            route: route(path),
            after: None,
        }
    }

    /// A request line that passed, the middle kind of a three-kind chain (`Request completed`).
    fn take(t: &mut SpanTimer, stream: u64, path: &str, ts: Nanos) -> Option<f64> {
        let completed = RequestLine {
            kind: 1,
            pass: true,
            ..RequestLine::default()
        };
        t.line(stream, route(path), Some(ts), completed)
    }

    /// Two requests of one route overlap: ends pair with starts in start order.
    #[test]
    fn overlapping_spans_of_one_name_pair_in_start_order() {
        let mut t = SpanTimer::default();
        t.start(1, key("/h"), 0);
        t.start(1, key("/h"), 10 * MS);
        assert_eq!(t.end(1, key("/h"), 30 * MS, wait("/h")), Some(30.0));
        assert_eq!(t.end(1, key("/h"), 35 * MS, wait("/h")), Some(25.0));
        // Each request takes one duration, oldest first.
        assert_eq!(take(&mut t, 1, "/h", 36 * MS), Some(30.0));
        assert_eq!(take(&mut t, 1, "/h", 36 * MS), Some(25.0));
        assert_eq!(take(&mut t, 1, "/h", 36 * MS), None);
        assert_eq!((t.counts().paired, t.counts().timed), (2, 2));
        assert_eq!(t.held(), 0);
    }

    /// Spans of other names in between do not disturb the pairing.
    #[test]
    fn names_pair_apart() {
        let mut t = SpanTimer::default();
        t.start(1, key("/a"), 0);
        t.start(1, key("/b"), 5 * MS);
        assert_eq!(t.end(1, key("/b"), 7 * MS, wait("/b")), Some(2.0));
        assert_eq!(take(&mut t, 1, "/a", 8 * MS), None);
        assert_eq!(t.end(1, key("/a"), 9 * MS, wait("/a")), Some(9.0));
        assert_eq!(take(&mut t, 1, "/a", 9 * MS), Some(9.0));
        assert_eq!(take(&mut t, 1, "/b", 9 * MS), Some(2.0));
    }

    #[test]
    fn an_end_without_a_start_gives_nothing_and_is_counted() {
        let mut t = SpanTimer::default();
        assert_eq!(t.end(1, key("/h"), 5 * MS, wait("/h")), None);
        t.start(1, key("/other"), 0);
        assert_eq!(t.end(1, key("/h"), 6 * MS, wait("/h")), None);
        // A start after the end is not its start.
        t.start(1, key("/h"), 10 * MS);
        assert_eq!(t.end(1, key("/h"), 9 * MS, wait("/h")), None);
        assert_eq!(t.counts().without_start, 3);
        assert_eq!(t.counts().paired, 0);
        assert_eq!(take(&mut t, 1, "/h", 9 * MS), None);
    }

    /// Starts that never complete are bounded per stream, dropped when stale, and counted when
    /// their stream goes: nothing grows with the input.
    #[test]
    fn starts_never_completed_do_not_leak() {
        let mut t = SpanTimer::default();
        for i in 0..10_000 {
            t.start(1, key(&format!("/p{i}")), i * MS);
        }
        assert_eq!(t.held(), MAX_OPEN);
        assert_eq!(t.counts().evicted, 10_000 - MAX_OPEN as u64);
        t.release(1);
        assert_eq!((t.held(), t.streams()), (0, 0));
        assert_eq!(t.counts().unfinished, MAX_OPEN as u64);

        // A start that never completed is not paired with a request of its name ten minutes on.
        t.start(2, key("/h"), 0);
        t.start(2, key("/h"), MAX_SPAN_NS + 100 * MS);
        assert_eq!(
            t.end(2, key("/h"), MAX_SPAN_NS + 150 * MS, wait("/h")),
            Some(50.0)
        );
        assert_eq!(t.counts().expired, 1);
        t.start(2, key("/x"), 0);
        t.finish();
        assert_eq!((t.held(), t.streams()), (0, 0));
        assert_eq!(t.counts().unfinished, MAX_OPEN as u64 + 1);
    }

    /// Two pods in one input (kubectl `--prefix`) are two streams: each pairs its own spans.
    #[test]
    fn streams_keep_their_own_spans() {
        let mut t = SpanTimer::default();
        t.start(1, key("/h"), 0);
        t.start(2, key("/h"), 10 * MS);
        assert_eq!(t.end(2, key("/h"), 12 * MS, wait("/h")), Some(2.0));
        assert_eq!(take(&mut t, 1, "/h", 12 * MS), None);
        assert_eq!(t.end(1, key("/h"), 40 * MS, wait("/h")), Some(40.0));
        assert_eq!(take(&mut t, 2, "/h", 40 * MS), Some(2.0));
        assert_eq!(take(&mut t, 1, "/h", 40 * MS), Some(40.0));
        t.release(2);
        assert_eq!(t.end(2, key("/h"), 41 * MS, wait("/h")), None);
    }

    /// A line with a duration of its own closes its start but hands nothing on; a duration no
    /// request line takes within the request window is gone.
    #[test]
    fn own_durations_win_and_waiting_ones_expire() {
        let mut t = SpanTimer::default();
        t.start(1, key("/h"), 0);
        assert_eq!(t.end(1, key("/h"), 20 * MS, Hand::Nothing), Some(20.0));
        assert_eq!(take(&mut t, 1, "/h", 21 * MS), None);
        t.start(1, key("/h"), 30 * MS);
        t.end(1, key("/h"), 40 * MS, wait("/h"));
        assert_eq!(take(&mut t, 1, "/h", 40 * MS + WINDOW_NS + 1), None);
        for i in 0..(MAX_TIMED as i64 + 10) {
            t.start(1, key("/h"), 100 * MS + i);
            t.end(1, key("/h"), 100 * MS + i, wait("/h"));
        }
        assert!(t.held() <= MAX_TIMED);
    }

    #[test]
    fn counts_under_filters_say_they_are_of_all_span_lines() {
        let c = SpanCounts {
            paired: 14,
            timed: 1,
            without_start: 2,
            ..SpanCounts::default()
        };
        assert_eq!(
            c.describe(true),
            "latency of 1 requests from span start/end lines (paired in start order where \
             requests of one route overlap); of all span lines read, before filters: 14 \
             paired; 2 ends without their start"
        );
    }

    #[test]
    fn counts_say_what_became_of_span_lines() {
        let mut c = SpanCounts {
            paired: 3,
            timed: 3,
            ..SpanCounts::default()
        };
        assert!(c.worth_saying());
        assert_eq!(
            c.describe(false),
            "latency of 3 requests from span start/end lines (paired in start order where \
             requests of one route overlap)"
        );
        // A log at WARNING prints `Span completed: … [error]` lines only.
        c = SpanCounts {
            without_start: 4,
            ..SpanCounts::default()
        };
        assert_eq!(
            c.describe(false),
            "no request latency from span start/end lines; 4 ends without their start"
        );
        // Structured lines print their own durations: their spans pair to no effect.
        let own = SpanCounts {
            paired: 5,
            ..SpanCounts::default()
        };
        assert!(!own.worth_saying() && !own.is_empty());
    }

    proptest::proptest! {
        /// Any sequence of span and request lines over a few streams, names and times (out of
        /// order, extreme): no panic, state within its bounds, every end counted once.
        #[test]
        fn any_lines_stay_bounded_and_counted(
            ops in proptest::collection::vec(
                (0u8..5, 0u64..3, 0u8..4, proptest::prop_oneof![0i64..2_000_000_000, proptest::prelude::any::<i64>()], 0u8..3, proptest::prelude::any::<bool>()),
                0..600,
            )
        ) {
            let mut t = SpanTimer::default();
            let mut ends = 0;
            for (op, stream, name, ts, kind, pass) in ops {
                let (k, r) = (key(&format!("/{name}")), route(&format!("/{name}")));
                match op {
                    0 | 1 => t.start(stream, k, ts),
                    2 => {
                        ends += 1;
                        let hand = match kind {
                            0 if pass => Hand::Take,
                            0 => Hand::Nothing,
                            _ => Hand::Wait { route: r, after: (kind == 2).then_some(0) },
                        };
                        let ms = t.end(stream, k, ts, hand);
                        proptest::prop_assert!(ms.is_none_or(|ms| ms >= 0.0));
                    }
                    3 => {
                        let line = RequestLine { kind, last: kind == 2, status: None, pass, own: false };
                        t.line(stream, r, Some(ts), line);
                    }
                    _ => t.release(stream),
                }
                for s in t.streams.values() {
                    proptest::prop_assert!(s.open.len() <= MAX_OPEN && s.timed.len() <= MAX_TIMED);
                }
                t.held();
            }
            let c = t.counts();
            proptest::prop_assert_eq!(c.paired + c.without_start, ends);
            t.finish();
            proptest::prop_assert_eq!(t.held(), 0);
        }
    }

    /// Filters dropped the lines of one request whole (span, `Request completed - 401`,
    /// access line) and kept only the `Request completed - 500` of the next: that one takes its
    /// own span's duration, not the earlier request's.
    #[test]
    fn a_request_filtered_out_whole_leaves_nothing_for_the_next() {
        let mut t = SpanTimer::default();
        let line = |kind, status, pass| RequestLine {
            kind,
            last: kind == 2,
            status: Some(status),
            pass,
            own: false,
        };
        let (r, k) = (route("/u"), key("/u"));
        // The span's end is itself a request line (kind 0), filtered out.
        let after_span = Hand::Wait {
            route: r,
            after: Some(0),
        };
        t.start(1, k, 0);
        assert_eq!(t.end(1, k, 436 * MS, after_span), Some(436.0));
        assert_eq!(t.line(1, r, Some(437 * MS), line(1, 401, false)), None);
        t.start(1, k, 440 * MS);
        // The access line of the first request comes after the second request started.
        assert_eq!(t.line(1, r, Some(441 * MS), line(2, 401, false)), None);
        t.end(1, k, 461 * MS, after_span);
        assert_eq!(t.line(1, r, Some(470 * MS), line(1, 500, true)), Some(21.0));
        assert_eq!(t.line(1, r, Some(471 * MS), line(2, 500, true)), None);
        assert_eq!(t.held(), 0);
        // A line of another status is another request's (a rate-limited 429 access line).
        t.start(1, k, 500 * MS);
        t.end(1, k, 510 * MS, after_span);
        assert_eq!(t.line(1, r, Some(511 * MS), line(1, 200, false)), None);
        assert_eq!(t.line(1, r, Some(512 * MS), line(2, 429, true)), None);
        assert_eq!(t.line(1, r, Some(513 * MS), line(2, 200, true)), Some(10.0));
        // An end counted as a request line takes its duration at once.
        t.start(1, k, 600 * MS);
        assert_eq!(t.end(1, k, 601 * MS, Hand::Take), Some(1.0));
        assert_eq!((t.held(), t.counts().timed), (0, 3));
    }
}
