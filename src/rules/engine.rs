//! Windowed rule state and the `findings` section of the report. Lives in the merger thread and
//! is fed in input order, so results never depend on chunking or threads; evidence is picked
//! by event time and threshold windows are settled at the end, so neither depends on the order
//! of the inputs either.
//!
//! * `Each` rules: one finding per rule, every match counted.
//! * `Threshold` rules: per key, matches wait in time order until the end (bounded:
//!   [`MAX_PENDING`]); every match in a window of at least `count` matches is counted (one
//!   finding per key). Inputs read in any order give the same findings.
//! * `Rate` rules over a count (`above_per_second`, no `min_requests`: ERR001, ERR004): more
//!   than `limit × window` errors in a window is a `[threshold]` of that many plus one errors,
//!   decided the same way ([`KeyWindow`], [`counted`]): exact — every window of the rule's
//!   length, wherever it starts, to the nanosecond, both ends included — with the same memory
//!   bound (only the errors wait, at most [`MAX_PENDING`]). With `only_failures_logged`
//!   (ERR004) an error counts only when its stream (pod/container/file,
//!   [`crate::request::At::stream`]) printed no line for a request whatever its outcome (a
//!   success-type line: `finished processing request`) within the rule's window before or
//!   after it, both ends included ([`Successes`]: per stream, the earliest and latest such
//!   line in each window-long cell of a time grid — exact, memory growing with the time span
//!   covered). A pod restarted at `tower_http=debug` after an outage at `info` keeps the
//!   outage's errors; a stream printing successes around its errors is ERR002's. Errors are
//!   judged when settled (at the end; an error settled early by the memory bound is judged by
//!   the lines its stream had printed by then — all within the window after it, for input in
//!   time order).
//! * `Rate` ratios and `Latency` rules: per key, request counts (and a latency sketch) in
//!   sub-buckets of a thirtieth of the window (10 s of a 5-minute window); evaluated at the end
//!   over every window of the rule's length *and of one sub-bucket more* that starts or ends at
//!   a sub-bucket with requests ([`window_ranges`]): every stretch of the window's length,
//!   wherever it starts, lies within one of the longer windows (a burst of 295 s astride
//!   sub-buckets is never split), and no window judged is longer than the window plus a
//!   sub-bucket (5 m 10 s) — the ratio or quantile is that of a window placed to within a
//!   sub-bucket. Windows lie within the time the key's requests cover (no window starts before
//!   its first sub-bucket or ends after its last: a window mostly outside the capture would be
//!   judged on the few requests at its edge); a key whose requests span less than a window is
//!   one window. A ratio counts only requests seen through a line printed whatever the outcome
//!   (Skreaver's `finished processing request`): a failure-only stream's requests, whose
//!   successes are invisible, are in neither its numerator nor its denominator. The volume
//!   guards `min_errors` / `min_above` ask for that many errors (slow requests) in the window,
//!   so a total outage on low traffic fires while a single failure does not; `min_requests` /
//!   `min_samples` (totals) are still read. A latency condition (`pNN > T`) is decided exactly
//!   from counts: the value at rank ⌊q·(n−1)⌋ is above `T` exactly when at least
//!   `n − ⌊q·(n−1)⌋` of the `n` requests are. Memory grows with the time span covered, not
//!   with the number of requests.
//!
//! Request rules run for every request, in the merger thread: they are planned per service on
//! its first request ([`plan_requests`]). A condition's conjuncts that read only the service
//! are decided then, those that read only the status are remembered per status, and only the
//! others are tested per request ([`Gate`]); a `group_by` of the service alone (the default) is
//! encoded once and its buckets found once.
//!
//! Invariants: event time only; bounded evidence (first and last few), bounded keys per rule
//! ([`MAX_KEYS`]; stale keys are swept, overflow is counted in `dropped_keys`).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::rc::Rc;

use serde::Serialize;

use super::condition::{Condition, FieldRef, RequestSubject, Subject};
use super::successes::Successes;
use super::{Hit, RuleSet, Scope, Severity, Trigger};
use crate::correlate::decode;
use crate::parse::Registry;
use crate::request::Request;
use crate::sketch::Sketch;
use crate::time::{Nanos, format_rfc3339_nanos};

/// Evidence kept at each end of a finding.
pub const EVIDENCE_EACH_END: usize = 3;
/// Most keys tracked per windowed rule.
pub const MAX_KEYS: usize = 10_000;
/// Most findings reported per rule (keys with most matches first).
pub const MAX_FINDINGS_PER_RULE: usize = 20;
/// Longest message kept as evidence.
pub const MAX_EVIDENCE_CHARS: usize = 400;
/// Sub-buckets per rate/latency window: a window is placed to within a thirtieth of its length.
const SUB_BUCKETS: i64 = 30;

/// One matching event as evidence.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Evidence {
    /// Event time.
    pub ts: Option<String>,
    /// Input name.
    pub source: String,
    /// Line in the input.
    pub line: u64,
    /// Message (or the continuation line, or a request summary).
    pub message: String,
    /// Why, when the event's attached lines say it: a panic's message, the final
    /// `XError: …` line of a traceback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Kubernetes pod the line came from (kubectl `--prefix`, CRI paths, k8s inputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Correlation group (representative identifier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
}

/// One finding.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// Rule name.
    pub name: String,
    /// Severity.
    pub severity: Severity,
    /// Rule title.
    pub title: String,
    /// Matching events (requests) counted.
    pub count: u64,
    /// First counted match.
    pub first: Option<String>,
    /// Last counted match.
    pub last: Option<String>,
    /// Values of the rule's `group_by` fields (empty when it has none).
    pub group: BTreeMap<String, String>,
    /// Runbook section.
    pub runbook: String,
    /// What was measured (thresholds, rates, quantiles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The first and last few matches.
    pub evidence: Vec<Evidence>,
    /// Correlation groups of the evidence.
    pub correlation_groups: Vec<String>,
}

impl Finding {
    /// The `group_by` values as `key=value` pairs, space-separated (empty without a group).
    pub fn group_text(&self) -> String {
        let pairs: Vec<String> = self.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join(" ")
    }
}

/// A match as the merger sees it.
#[derive(Clone, Debug)]
pub struct Sighting {
    /// Event time.
    pub ts: Option<Nanos>,
    /// Input index.
    pub source: u32,
    /// Line.
    pub line: u64,
    /// Kubernetes pod, when the line's envelope or input names one.
    pub pod: Option<Rc<str>>,
    /// Message or summary (already shortened).
    pub message: Rc<str>,
    /// Correlation group: its id and its representative identifier as stored (printed with
    /// [`decode`]) when the match was seen.
    pub group: Option<GroupRef>,
    /// The event's cause ([`Evidence::cause`]), shared with the merger, which fills it in as
    /// the event's continuation lines arrive — after the match was counted.
    pub cause: Option<Cause>,
}

/// A matched event's cause, filled in by the merger while the event is open.
pub type Cause = Rc<RefCell<Option<Box<str>>>>;

/// How a cause is read from the lines attached to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseKind {
    /// A Rust panic: its message, the first line after `panicked at …:`.
    Panic,
    /// A Python traceback: the last `XError: …` line (the exception raised last, when
    /// exceptions were chained).
    Traceback,
}

/// Take `line`, attached to an event, into its `cause` if it says why.
pub fn note_cause(cause: &Cause, kind: CauseKind, line: &str) {
    let line = line.trim_end();
    let mut c = cause.borrow_mut();
    match kind {
        CauseKind::Panic => {
            let skip = line.trim().is_empty()
                || line.starts_with("note: ")
                || line.starts_with("stack backtrace:");
            if c.is_none() && !skip {
                *c = Some(clip(line).into());
            }
        }
        CauseKind::Traceback => {
            if is_exception_line(line) {
                *c = Some(clip(line).into());
            }
        }
    }
}

/// The cause in a whole attached text (a JSON event's `exception`).
pub fn cause_in(text: &str, kind: CauseKind) -> Option<Box<str>> {
    let cause: Cause = Rc::default();
    for line in text.lines() {
        note_cause(&cause, kind, line);
    }
    cause.take()
}

/// A traceback's exception line: `KeyError: 'x'`, `sqlalchemy.exc.TimeoutError: QueuePool …`,
/// `asyncio.exceptions.CancelledError` — not indented, a dotted name whose last part is a
/// class name (upper-case first), then `: ` or the end.
fn is_exception_line(line: &str) -> bool {
    // The name is what precedes the first `: `, made only of name bytes: so it ends at the
    // first other byte, which must be that `: ` (or the end). Indented frame lines, most of a
    // traceback, stop at their first byte instead of being searched whole.
    let b = line.as_bytes();
    let end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.'))
        .unwrap_or(b.len());
    if end < b.len() && !b[end..].starts_with(b": ") {
        return false;
    }
    let name = &line[..end];
    let class = name.rsplit('.').next().unwrap_or("");
    !name.is_empty()
        && name.split('.').all(|p| !p.is_empty())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && class.starts_with(|c: char| c.is_ascii_uppercase())
        && name != "Traceback"
}

/// A correlation group as a match saw it: its id and its name then.
pub type GroupRef = (u64, Rc<str>);

/// Shorten a message for evidence (on a char boundary).
pub fn clip(s: &str) -> &str {
    let s = s.trim_end();
    if s.len() <= MAX_EVIDENCE_CHARS {
        return s;
    }
    let mut end = MAX_EVIDENCE_CHARS;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Where a sighting stands in event time, so that inputs read in any order give the same
/// evidence: the line and message settle ties of time (the same line in two inputs, often);
/// the input's index, which depends on the order, only a tie of all three.
fn time_order(s: &Sighting) -> (Option<Nanos>, u64, &str, u32) {
    (s.ts, s.line, &s.message, s.source)
}

/// The evidence of a finding: the [`EVIDENCE_EACH_END`] earliest sightings and the as many
/// latest of the others, each in time order — whatever order they were offered in.
#[derive(Default, Debug, Clone)]
struct Picks {
    head: Vec<Sighting>,
    tail: Vec<Sighting>,
}

impl Picks {
    fn offer(&mut self, s: Sighting) {
        // The head keeps the earliest; what it gives up (or `s` itself) may be among the
        // latest of the rest. Nothing leaves the tail for the head: the head only gets earlier.
        let insert = |v: &mut Vec<Sighting>, s: Sighting| {
            let at = v.partition_point(|x| time_order(x) <= time_order(&s));
            v.insert(at, s);
        };
        let rest = if self.head.len() < EVIDENCE_EACH_END {
            insert(&mut self.head, s);
            return;
        } else if self
            .head
            .last()
            .is_some_and(|l| time_order(&s) < time_order(l))
        {
            insert(&mut self.head, s);
            self.head.pop()
        } else {
            Some(s)
        };
        let Some(rest) = rest else { return };
        if self.tail.len() < EVIDENCE_EACH_END {
            insert(&mut self.tail, rest);
        } else if self
            .tail
            .first()
            .is_some_and(|f| time_order(&rest) > time_order(f))
        {
            insert(&mut self.tail, rest);
            self.tail.remove(0);
        }
    }

    /// Earliest first.
    fn iter(&self) -> impl Iterator<Item = &Sighting> {
        self.head.iter().chain(&self.tail)
    }
}

#[derive(Default, Debug, Clone)]
struct Tally {
    count: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
    picks: Picks,
}

impl Tally {
    fn add(&mut self, s: Sighting) {
        self.count += 1;
        if let Some(t) = s.ts {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        self.picks.offer(s);
    }
}

/// A match of a threshold rule whose window is not settled yet.
#[derive(Debug, Clone)]
struct Pending {
    ts: Nanos,
    /// Arrival number: orders matches of the same time.
    seq: u64,
    sighting: Sighting,
    /// For `only_failures_logged`: the stream of a request seen through failure-only lines,
    /// dropped when settled if its stream turns out to have printed a line for a success within
    /// the window before or after it ([`Successes::near`]).
    stream: Option<u64>,
}

/// One key of a threshold rule. Matches wait in time order until the end of the run (or until
/// too many wait: [`MAX_PENDING`]), because an input read later may add one to their window —
/// two pods' logs read one after the other, a stream that concatenates them — and a settled
/// match is counted when it lies in a window of at least `count` matches
/// ([`KeyWindow::settle`]).
#[derive(Default, Debug, Clone)]
struct KeyWindow {
    pending: VecDeque<Pending>,
    /// End of the latest window found full: matches up to it are counted.
    counted_until: Option<Nanos>,
    tally: Tally,
    last_seen: Nanos,
    /// Most matches in one window (within `window` after a settled match).
    peak: usize,
}

/// Most unsettled matches per threshold rule; beyond, idle keys and the earlier half of the
/// others are settled (exact for input in time order, which has every later match of their
/// windows by then).
const MAX_PENDING: usize = 1 << 15;

impl KeyWindow {
    fn push(&mut self, p: Pending) {
        self.last_seen = self.last_seen.max(p.ts);
        let key = (p.ts, p.seq);
        // Nearly always an append: inputs are read in time order.
        let at = if self.pending.back().is_none_or(|b| (b.ts, b.seq) <= key) {
            self.pending.len()
        } else {
            self.pending.partition_point(|x| (x.ts, x.seq) <= key)
        };
        self.pending.insert(at, p);
    }

    /// Settle the matches more than `window` before `before`, taken as complete: no match
    /// earlier than `before` is still to come. Each needs only the matches within `window`
    /// after it: a window starting at it with `count` matches makes every match up to its end
    /// counted, and a later match is counted when such a window reaches it.
    /// `always`: the lines streams printed for requests whatever their outcome; a match of a
    /// stream that printed one within `window` of it is dropped (`only_failures_logged`).
    fn settle(&mut self, count: usize, window: Nanos, before: Nanos, always: Option<&Successes>) {
        if let Some(always) = always {
            self.pending
                .retain(|p| p.stream.is_none_or(|s| !always.near(s, p.ts, window)));
        }
        while let Some(front) = self.pending.front() {
            let end = front.ts.saturating_add(window);
            if end >= before {
                break;
            }
            let full = self
                .pending
                .get(count.max(1) - 1)
                .is_some_and(|p| p.ts <= end);
            if full {
                self.peak = self.peak.max(self.pending.partition_point(|p| p.ts <= end));
            }
            if full {
                self.counted_until = Some(self.counted_until.map_or(end, |c| c.max(end)));
            }
            let counted = self.counted_until.is_some_and(|c| front.ts <= c);
            if let Some(p) = self.pending.pop_front()
                && counted
            {
                self.tally.add(p.sighting);
            }
        }
    }
}

/// Settle each key up to `before(key)` ([`KeyWindow::settle`]) and drop the keys that hold
/// nothing any more (no counted match, none waiting); the matches left waiting.
fn settle_keys(
    keys: &mut crate::FastMap<Box<[Box<str>]>, KeyWindow>,
    (count, window): (usize, Nanos),
    always: Option<&Successes>,
    before: impl Fn(&KeyWindow) -> Nanos,
) -> usize {
    let mut left = 0;
    for k in keys.values_mut() {
        let b = before(k);
        k.settle(count, window, b, always);
        left += k.pending.len();
    }
    keys.retain(|_, k| k.tally.count > 0 || !k.pending.is_empty());
    left
}

/// Threshold keys by the time they were last seen, oldest first (see [`free_idle_keys`]).
type IdleKeys = BinaryHeap<Reverse<(Nanos, Box<[Box<str>]>)>>;

/// Settle and drop the keys idle since before `idle_before` that did not fire (a key that
/// fired keeps its slot: its tally is the finding). `idle` is a lazy min-heap: an entry is
/// checked when it comes out — its key may be gone, or seen again since (then it goes back in
/// with its new time) — so each key costs a heap operation per time it is seen, not a sweep.
fn free_idle_keys(
    keys: &mut crate::FastMap<Box<[Box<str>]>, KeyWindow>,
    idle: &mut IdleKeys,
    (count, window): (usize, Nanos),
    always: Option<&Successes>,
    idle_before: Nanos,
    pending: &mut usize,
) {
    while idle.peek().is_some_and(|Reverse((t, _))| *t < idle_before) {
        let Some(Reverse((_, key))) = idle.pop() else {
            break;
        };
        let Some(k) = keys.get_mut(&key) else {
            continue;
        };
        if k.last_seen >= idle_before {
            idle.push(Reverse((k.last_seen, key)));
            continue;
        }
        let waiting = k.pending.len();
        k.settle(count, window, Nanos::MAX, always);
        *pending = pending.saturating_sub(waiting - k.pending.len());
        if k.tally.count == 0 && k.pending.is_empty() {
            keys.remove(&key);
        }
    }
}

#[derive(Default, Debug, Clone)]
struct Bucket {
    requests: u64,
    notable: u64,
    /// Times of the first and last notable request (a finding's `first` and `last`).
    first: Option<Nanos>,
    last: Option<Nanos>,
    sketch: Option<Sketch>,
    picks: Picks,
}

impl Bucket {
    /// Count a request in the bucket.
    fn add(&mut self, ts: Nanos, notable: bool, latency: Option<f64>, s: &impl Fn() -> Sighting) {
        self.requests += 1;
        if let Some(d) = latency {
            self.sketch.get_or_insert_with(Sketch::default).add(d);
        }
        if notable {
            self.notable += 1;
            self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
            self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
            self.picks.offer(s());
        }
    }
}

/// The number of errors a `[rate] above_per_second` rule needs within its window: the fewest
/// `k` with `k / window > limit` (more than 30 in 5 minutes for 0.1/s), at least `min_errors`.
fn errors_needed(per_second: f64, window_ns: Nanos, min_errors: u64) -> usize {
    let secs = window_ns as f64 / 1e9;
    let mut k = (per_second * secs).floor().max(0.0) as u64;
    while k as f64 / secs <= per_second {
        k += 1;
    }
    while k > 1 && (k - 1) as f64 / secs > per_second {
        k -= 1;
    }
    k.max(min_errors).max(1) as usize
}

/// A trigger decided by counting matches in a window that slides match by match
/// ([`KeyWindow`], exact to the nanosecond): `[threshold]`, and a `[rate]` over a count of
/// errors (`above_per_second` without `min_requests`: more than limit × window errors). The
/// count needed and the window.
fn counted(trigger: &Trigger) -> Option<(usize, Nanos)> {
    match trigger {
        Trigger::Threshold {
            count, window_ns, ..
        } => Some((*count as usize, *window_ns)),
        Trigger::Rate {
            per_second: Some(limit),
            ratio: None,
            min_requests,
            min_errors,
            window_ns,
            ..
        } if *min_requests <= 1 => {
            Some((errors_needed(*limit, *window_ns, *min_errors), *window_ns))
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum State {
    Each(Tally),
    Threshold {
        keys: crate::FastMap<Box<[Box<str>]>, KeyWindow>,
        dropped: u64,
        /// Unsettled matches over all keys.
        pending: usize,
        /// Keys by the time they were last seen, oldest first ([`free_idle_keys`]).
        idle: IdleKeys,
        /// The latest match time.
        latest: Nanos,
    },
    Series {
        /// Index in `series` by `group_by` values encoded with [`encode_key`] (looked up
        /// without allocating). Keys are never dropped: an index, once found, stays valid.
        keys: crate::FastMap<Box<str>, usize>,
        series: Vec<Buckets>,
        dropped: u64,
    },
}

/// A key's buckets by start time: the latest apart, where most requests land (they come
/// mostly in time order), and the earlier ones in order.
#[derive(Default, Debug, Clone)]
struct Buckets {
    latest: Option<(Nanos, Bucket)>,
    earlier: BTreeMap<Nanos, Bucket>,
}

impl Buckets {
    /// The bucket starting at `start`, made if new.
    fn at(&mut self, start: Nanos) -> &mut Bucket {
        let latest = self.latest.as_ref().map(|(t, _)| *t);
        if latest.is_some_and(|t| start < t) {
            return self.earlier.entry(start).or_default();
        }
        if latest != Some(start)
            && let Some((t, b)) = self.latest.take()
        {
            self.earlier.insert(t, b);
        }
        &mut self
            .latest
            .get_or_insert_with(|| (start, Bucket::default()))
            .1
    }

    /// All buckets, earliest first.
    fn iter(&self) -> impl Iterator<Item = (Nanos, &Bucket)> {
        let latest = self.latest.iter().map(|(t, b)| (*t, b));
        self.earlier.iter().map(|(&t, b)| (t, b)).chain(latest)
    }
}

/// All rule state of a run.
#[derive(Clone)]
pub struct Findings<'r> {
    rules: &'r RuleSet,
    states: Vec<State>,
    /// Scratch: the encoded key of the request being counted.
    key: String,
    /// Matches seen (orders threshold matches of the same time).
    seq: u64,
    /// When streams printed a line for a request whatever its outcome: a failure of a stream
    /// that printed none within the window around it is what `only_failures_logged` counts.
    always: Successes,
    /// Some rule is `only_failures_logged`: only then are the lines of `always` noted.
    notes_always: bool,
    /// Per rule: what it needs to be decided by an exact count ([`counted`]), worked out once.
    counts: Vec<Option<(usize, Nanos)>>,
    /// Per service index: its request rules as [`Findings::request`] runs them, made on the
    /// service's first request ([`plan_requests`]).
    request_plans: Vec<Option<Vec<RequestStep<'r>>>>,
}

impl<'r> Findings<'r> {
    /// Empty state for these rules.
    pub fn new(rules: &'r RuleSet) -> Findings<'r> {
        let states = rules
            .rules()
            .iter()
            .map(|r| match r.trigger {
                Trigger::Each => State::Each(Tally::default()),
                _ if counted(&r.trigger).is_some() => State::Threshold {
                    keys: crate::FastMap::default(),
                    dropped: 0,
                    pending: 0,
                    idle: BinaryHeap::new(),
                    latest: Nanos::MIN,
                },
                Trigger::Threshold { .. } | Trigger::Rate { .. } | Trigger::Latency { .. } => {
                    State::Series {
                        keys: crate::FastMap::default(),
                        series: Vec::new(),
                        dropped: 0,
                    }
                }
            })
            .collect();
        Findings {
            rules,
            states,
            key: String::new(),
            seq: 0,
            notes_always: rules.rules().iter().any(|r| {
                matches!(
                    r.trigger,
                    Trigger::Rate {
                        failures_only: true,
                        ..
                    }
                )
            }),
            counts: rules.rules().iter().map(|r| counted(&r.trigger)).collect(),
            request_plans: Vec::new(),
            always: Successes::new(
                rules
                    .rules()
                    .iter()
                    .filter_map(|r| match r.trigger {
                        Trigger::Rate {
                            failures_only: true,
                            window_ns,
                            ..
                        } => Some(window_ns),
                        _ => None,
                    })
                    .min()
                    .unwrap_or(300_000_000_000),
            ),
        }
    }

    /// An event (or continuation line) matched a rule.
    pub fn hit(&mut self, hit: &Hit, s: Sighting) {
        let Some(rule) = self.rules.rules().get(usize::from(hit.rule)) else {
            return;
        };
        let Some(state) = self.states.get_mut(usize::from(hit.rule)) else {
            return;
        };
        match (state, &rule.trigger) {
            (State::Each(t), _) => t.add(s),
            (State::Threshold { .. }, trigger) => {
                // An event-scoped count of errors: only the failures count.
                if matches!(trigger, Trigger::Rate { .. }) && !hit.notable {
                    return;
                }
                self.count(hit.rule, hit.key.as_deref().unwrap_or_default(), s, None);
            }
            (State::Series { .. }, Trigger::Rate { window_ns, .. }) => {
                // An event-scoped rate: every match is an attempt, `notable` a failure.
                self.key.clear();
                for v in hit.key.iter().flatten() {
                    push_key_part(&mut self.key, v);
                }
                let state = &mut self.states[usize::from(hit.rule)];
                series(
                    state,
                    (&self.key, &mut None),
                    s.ts,
                    *window_ns,
                    (hit.notable, None),
                    &|| s.clone(),
                );
            }
            _ => {}
        }
    }

    /// A match of a rule decided by an exact count ([`counted`]), under `key`; `stream`: the
    /// failure-only stream of an `only_failures_logged` request.
    fn count(&mut self, rule: u16, key: &[Box<str>], s: Sighting, stream: Option<u64>) {
        let Some(r) = self.rules.rules().get(usize::from(rule)) else {
            return;
        };
        let Some(&Some((count, window))) = self.counts.get(usize::from(rule)) else {
            return;
        };
        let always = matches!(
            r.trigger,
            Trigger::Rate {
                failures_only: true,
                ..
            }
        )
        .then_some(&self.always);
        let Some(State::Threshold {
            keys,
            dropped,
            pending,
            idle,
            latest,
        }) = self.states.get_mut(usize::from(rule))
        else {
            return;
        };
        let Some(ts) = s.ts else { return };
        self.seq += 1;
        let p = Pending {
            ts,
            seq: self.seq,
            sighting: s,
            stream,
        };
        if let Some(kw) = keys.get_mut(key) {
            kw.push(p);
        } else {
            if keys.len() >= MAX_KEYS {
                // Settle the keys idle for longer than the window and drop those that did
                // not fire, before giving up on this one: taken from the idle order, so a
                // flood of new keys (a distributed scan) costs no sweep over every key.
                let idle_before = ts.saturating_sub(window);
                free_idle_keys(keys, idle, (count, window), always, idle_before, pending);
                if keys.len() >= MAX_KEYS {
                    *dropped += 1;
                    return;
                }
            }
            if idle.len() > 2 * MAX_KEYS {
                // Entries of keys settled away meanwhile: start again from the keys.
                *idle = keys
                    .iter()
                    .map(|(k, w)| Reverse((w.last_seen, k.clone())))
                    .collect();
            }
            let key: Box<[Box<str>]> = key.into();
            idle.push(Reverse((ts, key.clone())));
            keys.entry(key).or_default().push(p);
        }
        *pending += 1;
        *latest = (*latest).max(ts);
        if *pending > MAX_PENDING {
            // Exact for input in time order (nothing earlier than the latest match is
            // still to come): a key idle for longer than the window is complete, and in
            // any key the matches a window before its middle one have their windows
            // whole. Should that not be enough, everything is settled. (A failure-only
            // stream's match settled now is judged by what its stream has printed so far.)
            let idle_before = latest.saturating_sub(window);
            *pending = settle_keys(keys, (count, window), always, |k| {
                if k.last_seen < idle_before {
                    Nanos::MAX
                } else {
                    k.pending
                        .get(k.pending.len() / 2)
                        .map_or(Nanos::MIN, |p| p.ts)
                }
            });
            if *pending > MAX_PENDING / 2 {
                *pending = settle_keys(keys, (count, window), always, |_| Nanos::MAX);
            }
        }
    }

    /// A merged request: test the request rules (those of its service only; see
    /// [`RuleSet::request_rules_for`]), as planned for its service on its first request
    /// ([`plan_requests`]). Requests come with one registry per run: a service index names
    /// the same service throughout.
    #[inline(never)]
    pub fn request(&mut self, r: &Request, reg: &Registry, s: impl Fn() -> Sighting) {
        let subject = RequestSubject { r, reg };
        let service = usize::from(r.service);
        if self.request_plans.len() <= service {
            self.request_plans.resize(service + 1, None);
        }
        // Taken out while it runs (its gates remember statuses as they go).
        let mut plan = match self.request_plans[service].take() {
            Some(plan) => plan,
            None => plan_requests(self.rules, &subject),
        };
        self.run_request(&mut plan, &subject, &s);
        self.request_plans[service] = Some(plan);
    }

    /// [`Findings::request`] with the request rules of its service, `plan`.
    fn run_request(
        &mut self,
        plan: &mut [RequestStep<'r>],
        subject: &RequestSubject<'_>,
        s: &impl Fn() -> Sighting,
    ) {
        let (r, rules) = (subject.r, self.rules);
        let stream = r.at.stream;
        // Whether the request's stream prints lines for successes too, read at the first rate
        // rule that holds (decided per stream and around each failure: a pod at `info`
        // beside one at `tower_http=debug`, a pod restarted at `tower_http=debug`).
        let mut logged_always: Option<bool> = None;
        // The `group_by` fields whose values `self.key` holds for this request.
        let mut encoded: Option<&'r [FieldRef]> = None;
        let mut unknown = None;
        for step in plan {
            if !step.holds.holds(subject) {
                continue;
            }
            let i = step.rule;
            match &mut step.does {
                Does::Hit => {
                    let Some(rule) = rules.rules().get(usize::from(i)) else {
                        continue;
                    };
                    let hit = Hit {
                        rule: i,
                        key: rules.key_of(rule, subject),
                        notable: false,
                    };
                    self.hit(&hit, s());
                    encoded = None;
                }
                Does::CountErrors {
                    errors,
                    window,
                    failures_only,
                } => {
                    self.note_always(&mut logged_always, subject);
                    // A count of errors: with `only_failures_logged`, of the errors of
                    // streams that printed no success-type line within the window before or
                    // after them (settled against all the lines at the end).
                    if !errors.holds(subject)
                        || (*failures_only
                            && r.ts.is_some_and(|t| self.always.near(stream, t, *window)))
                    {
                        continue;
                    }
                    let Some(rule) = rules.rules().get(usize::from(i)) else {
                        continue;
                    };
                    let key = rules.key_of(rule, subject).unwrap_or_default();
                    self.count(i, &key, s(), failures_only.then_some(stream));
                }
                Does::Ratio {
                    errors,
                    window,
                    key,
                } => {
                    // A ratio: requests seen only through failure-only lines are left out of
                    // it, numerator and denominator — all of a failure-only stream's, whose
                    // successes are not in the log, and, in a stream that prints successes, a
                    // failure line its request's other line did not join.
                    if !self.note_always(&mut logged_always, subject) {
                        continue;
                    }
                    let bad = errors.holds(subject);
                    let key = key_for(key, subject, (&mut self.key, &mut encoded), &mut unknown);
                    let state = &mut self.states[usize::from(i)];
                    series(state, key, r.ts, *window, (bad, None), s);
                }
                Does::Latency {
                    above_ms,
                    window,
                    key,
                } => {
                    let Some(d) = r.duration_ms else { continue };
                    let key = key_for(key, subject, (&mut self.key, &mut encoded), &mut unknown);
                    let state = &mut self.states[usize::from(i)];
                    series(state, key, r.ts, *window, (d > *above_ms, Some(d)), s);
                }
            }
        }
    }

    /// Whether the request prints lines whatever its outcome, read once per request
    /// (`logged_always`); noted in [`Findings::always`] the first time, for the rules that
    /// read it.
    fn note_always(
        &mut self,
        logged_always: &mut Option<bool>,
        subject: &RequestSubject<'_>,
    ) -> bool {
        if let Some(known) = *logged_always {
            return known;
        }
        let r = subject.r;
        let logged = subject.reg.logged_whatever_its_outcome(r);
        if logged
            && self.notes_always
            && let Some(ts) = r.ts
        {
            self.always.note(r.at.stream, ts);
        }
        *logged_always = Some(logged);
        logged
    }

    /// The findings so far (a live snapshot), leaving the state as it is.
    pub fn snapshot(
        &self,
        sources: &[String],
        group_name: &dyn Fn(&GroupRef) -> Rc<str>,
    ) -> Vec<Finding> {
        self.clone().finish(sources, group_name)
    }

    /// The findings, most severe first, then most matches; `group_name` gives the name that now
    /// stands for a correlation group named as it was when a match was seen (groups merge, and
    /// are renamed after their earliest event).
    pub fn finish(
        self,
        sources: &[String],
        group_name: &dyn Fn(&GroupRef) -> Rc<str>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, state) in self.states.into_iter().enumerate() {
            let Some(rule) = self.rules.rules().get(i) else {
                continue;
            };
            let mut found: Vec<Finding> = Vec::new();
            let finding = |t: Tally, group: BTreeMap<String, String>, detail: Option<String>| {
                let Picks { head, tail } = t.picks;
                let mut evidence: Vec<Sighting> = head.into_iter().chain(tail).collect();
                for e in &mut evidence {
                    e.group = e.group.as_ref().map(|g| (g.0, group_name(g)));
                }
                let mut groups: Vec<String> = Vec::new();
                for g in evidence
                    .iter()
                    .filter_map(|e| e.group.as_ref().map(|g| &*g.1))
                {
                    let name = decode(g);
                    if !groups.contains(&name) {
                        groups.push(name);
                    }
                }
                Finding {
                    rule: rule.id.clone(),
                    name: rule.name.clone(),
                    severity: rule.severity,
                    title: rule.title.clone(),
                    count: t.count,
                    first: t.first.map(format_rfc3339_nanos),
                    last: t.last.map(format_rfc3339_nanos),
                    group,
                    runbook: rule.runbook.clone(),
                    detail,
                    evidence: evidence
                        .into_iter()
                        .map(|e| Evidence {
                            ts: e.ts.map(format_rfc3339_nanos),
                            source: sources.get(e.source as usize).cloned().unwrap_or_default(),
                            line: e.line,
                            message: e.message.to_string(),
                            cause: e
                                .cause
                                .as_ref()
                                .and_then(|c| c.borrow().as_deref().map(str::to_string)),
                            pod: e.pod.as_deref().map(str::to_string),
                            correlation: e.group.as_ref().map(|g| decode(&g.1)),
                        })
                        .collect(),
                    correlation_groups: groups,
                }
            };
            let key_names: Vec<String> = match &rule.trigger {
                Trigger::Each => Vec::new(),
                Trigger::Threshold { group_by, .. }
                | Trigger::Rate { group_by, .. }
                | Trigger::Latency { group_by, .. } => {
                    group_by.iter().map(|f| f.name().into_owned()).collect()
                }
            };
            let group_of = |key: &[&str]| -> BTreeMap<String, String> {
                key_names
                    .iter()
                    .cloned()
                    .zip(key.iter().map(|v| v.to_string()))
                    .collect()
            };
            match state {
                State::Each(t) => {
                    if t.count > 0 {
                        found.push(finding(t, BTreeMap::new(), None));
                    }
                }
                State::Threshold { keys, dropped, .. } => {
                    let Some((count, window_ns)) = counted(&rule.trigger) else {
                        continue;
                    };
                    let always = matches!(
                        rule.trigger,
                        Trigger::Rate {
                            failures_only: true,
                            ..
                        }
                    )
                    .then_some(&self.always);
                    let w = human_duration(window_ns);
                    for (key, mut kw) in keys {
                        kw.settle(count, window_ns, Nanos::MAX, always);
                        if kw.tally.count == 0 {
                            continue;
                        }
                        let mut detail = match &rule.trigger {
                            Trigger::Rate {
                                per_second: Some(limit),
                                ..
                            } => format!(
                                "peak {} errors within {w} ({:.3}/s; limit {limit}/s: more than {})",
                                kw.peak,
                                kw.peak as f64 / (window_ns as f64 / 1e9),
                                count - 1
                            ),
                            _ => format!("at least {count} matches within {w}"),
                        };
                        if dropped > 0 {
                            let what = if matches!(rule.trigger, Trigger::Rate { .. }) {
                                "errors"
                            } else {
                                "matches"
                            };
                            detail.push_str(&format!(" ({dropped} {what} of untracked keys)"));
                        }
                        let parts: Vec<&str> = key.iter().map(|v| &**v).collect();
                        found.push(finding(kw.tally, group_of(&parts), Some(detail)));
                    }
                }
                State::Series {
                    keys,
                    series,
                    dropped,
                } => {
                    for (key, at) in keys {
                        let Some(buckets) = series.get(at) else {
                            continue;
                        };
                        if let Some((t, detail)) =
                            evaluate_series(&rule.trigger, rule.scope, buckets, dropped)
                        {
                            found.push(finding(t, group_of(&decode_key(&key)), Some(detail)));
                        }
                    }
                }
            }
            found.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| a.first.cmp(&b.first))
                    .then_with(|| a.group.cmp(&b.group))
            });
            found.truncate(MAX_FINDINGS_PER_RULE);
            out.extend(found);
        }
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| b.count.cmp(&a.count))
                .then_with(|| a.rule.cmp(&b.rule))
                .then_with(|| a.group.cmp(&b.group))
        });
        out
    }
}

/// The encoded key of a series rule for a request and where it is: fixed for its service
/// (and where it is, once found), or its fields' values, encoded into `buf` unless it holds them
/// already (`encoded`: the fields whose values `buf` holds for this request).
fn key_for<'k, 'r>(
    key: &'k mut Key<'r>,
    subject: &RequestSubject<'_>,
    (buf, encoded): (&'k mut String, &mut Option<&'r [FieldRef]>),
    unknown: &'k mut Option<usize>,
) -> (&'k str, &'k mut Option<usize>) {
    match key {
        Key::Fixed { key, at } => (key, at),
        Key::Fields(fields) => {
            if *encoded != Some(*fields) {
                encode_key(fields, subject, buf);
                *encoded = Some(*fields);
            }
            *unknown = None;
            (buf, unknown)
        }
    }
}

/// Count a request (or event) in the buckets of a series rule's `state`, under `key`, with
/// whether it is notable (an error, above the latency limit) and its latency. `known`: where
/// the key is, once found (`None` to look it up).
fn series(
    state: &mut State,
    (key, known): (&str, &mut Option<usize>),
    ts: Option<Nanos>,
    window_ns: Nanos,
    (notable, latency): (bool, Option<f64>),
    s: &impl Fn() -> Sighting,
) {
    let Some(ts) = ts else { return };
    let State::Series {
        keys,
        series,
        dropped,
    } = state
    else {
        return;
    };
    let at = match *known {
        Some(at) => at,
        None => match keys.get(key) {
            Some(&at) => at,
            None if series.len() >= MAX_KEYS => {
                *dropped += 1;
                return;
            }
            None => {
                keys.insert(key.into(), series.len());
                series.push(Buckets::default());
                series.len() - 1
            }
        },
    };
    *known = Some(at);
    let Some(buckets) = series.get_mut(at) else {
        return;
    };
    let width = (window_ns / SUB_BUCKETS).max(1);
    let start = ts.div_euclid(width) * width;
    buckets.at(start).add(ts, notable, latency, s);
}

/// Statuses below this are remembered by a [`StatusMemo`] (HTTP's are below 600); a request
/// with another is tested each time.
const MEMO_STATUSES: usize = 1000;

/// The conjuncts of a condition that read only the status, remembered per status: the same
/// answer as testing them, since they read nothing else.
#[derive(Clone, Debug)]
struct StatusMemo<'r> {
    conjuncts: Vec<&'r Condition>,
    /// At 0 for no status, at 1 + s for status s: 0 not tested yet, 1 false, 2 true.
    known: Vec<u8>,
}

impl StatusMemo<'_> {
    #[inline]
    fn holds(&mut self, s: &RequestSubject<'_>) -> bool {
        let at = s.r.status.map_or(0, |v| 1 + usize::from(v));
        match self.known.get(at) {
            Some(1) => false,
            Some(2) => true,
            _ => self.test(s, at),
        }
    }

    /// Test the conjuncts, and remember the answer for a status below [`MEMO_STATUSES`].
    #[inline(never)]
    fn test(&mut self, s: &RequestSubject<'_>, at: usize) -> bool {
        let v = self.conjuncts.iter().all(|c| c.matches(s));
        if let Some(known) = self.known.get_mut(at) {
            *known = 1 + u8::from(v);
        }
        v
    }
}

/// A condition as it is tested on the requests of one service: the conjuncts that read only
/// the service are decided once (on the service's first request), those that read only the
/// status are remembered per status, only the others are tested per request. The same answer
/// as [`Condition::matches`]: a conjunction of tests without side effects, in any order.
#[derive(Clone, Debug)]
struct Gate<'r> {
    /// A conjunct reading only the service failed: it holds for none of its requests.
    never: bool,
    by_status: Option<StatusMemo<'r>>,
    rest: Vec<&'r Condition>,
}

impl<'r> Gate<'r> {
    /// The gate of `c` for the requests of the service of `s`.
    fn new(c: &'r Condition, s: &RequestSubject<'_>) -> Gate<'r> {
        let mut conjuncts = Vec::new();
        all_of(c, &mut conjuncts);
        let (mut never, mut status, mut rest) = (false, Vec::new(), Vec::new());
        let mut fields = Vec::new();
        for c in conjuncts {
            fields.clear();
            c.fields(&mut fields);
            match fields.as_slice() {
                [FieldRef::Service] => never |= !c.matches(s),
                [FieldRef::Status] => status.push(c),
                _ => rest.push(c),
            }
        }
        Gate {
            never,
            by_status: (!status.is_empty()).then(|| StatusMemo {
                conjuncts: status,
                known: vec![0; MEMO_STATUSES + 1],
            }),
            rest,
        }
    }

    #[inline]
    fn holds(&mut self, s: &RequestSubject<'_>) -> bool {
        !self.never
            && self.by_status.as_mut().is_none_or(|m| m.holds(s))
            && (self.rest.is_empty() || self.rest_holds(s))
    }

    #[inline(never)]
    fn rest_holds(&self, s: &RequestSubject<'_>) -> bool {
        self.rest.iter().all(|c| c.matches(s))
    }
}

/// The conjuncts of `c`: the members of its top-level `all`s, or `c` itself.
fn all_of<'c>(c: &'c Condition, out: &mut Vec<&'c Condition>) {
    match c {
        Condition::All(v) => v.iter().for_each(|c| all_of(c, out)),
        other => out.push(other),
    }
}

/// A request rule as [`Findings::request`] runs it for the requests of one service.
#[derive(Clone, Debug)]
struct RequestStep<'r> {
    rule: u16,
    /// Its `[match]`.
    holds: Gate<'r>,
    does: Does<'r>,
}

/// What a request rule does with a request that matches it.
#[derive(Clone, Debug)]
enum Does<'r> {
    /// Every match, or a `[threshold]`: a hit.
    Hit,
    /// A `[rate]` over a count of errors ([`counted`]).
    CountErrors {
        errors: Gate<'r>,
        window: Nanos,
        failures_only: bool,
    },
    /// A `[rate]` ratio.
    Ratio {
        errors: Gate<'r>,
        window: Nanos,
        key: Key<'r>,
    },
    /// A `[latency]` rule.
    Latency {
        above_ms: f64,
        window: Nanos,
        key: Key<'r>,
    },
}

/// A series rule's `group_by` for the requests of one service.
#[derive(Clone, Debug)]
enum Key<'r> {
    /// Fields that read only the service (the default, `service`): encoded once, and where its
    /// buckets are once found.
    Fixed { key: Box<str>, at: Option<usize> },
    /// Encoded per request ([`encode_key`]).
    Fields(&'r [FieldRef]),
}

/// The request rules for the requests of the service of `s` (a request of it), in rule order:
/// those of [`RuleSet::request_rules_for`] that can hold for it.
fn plan_requests<'r>(rules: &'r RuleSet, s: &RequestSubject<'_>) -> Vec<RequestStep<'r>> {
    let key = |group_by: &'r [FieldRef]| {
        if group_by.iter().all(|f| *f == FieldRef::Service) {
            let mut k = String::new();
            encode_key(group_by, s, &mut k);
            Key::Fixed {
                key: k.into(),
                at: None,
            }
        } else {
            Key::Fields(group_by)
        }
    };
    let mut plan = Vec::new();
    for &i in rules.request_rules_for(s) {
        let Some(rule) = rules.rules().get(usize::from(i)) else {
            continue;
        };
        let holds = Gate::new(&rule.condition, s);
        if holds.never {
            continue;
        }
        let does = match &rule.trigger {
            Trigger::Each | Trigger::Threshold { .. } => Does::Hit,
            Trigger::Rate {
                window_ns,
                errors,
                failures_only,
                group_by,
                ..
            } => {
                let errors = Gate::new(errors, s);
                if counted(&rule.trigger).is_some() {
                    Does::CountErrors {
                        errors,
                        window: *window_ns,
                        failures_only: *failures_only,
                    }
                } else {
                    Does::Ratio {
                        errors,
                        window: *window_ns,
                        key: key(group_by),
                    }
                }
            }
            Trigger::Latency {
                window_ns,
                above_ms,
                group_by,
                ..
            } => Does::Latency {
                above_ms: *above_ms,
                window: *window_ns,
                key: key(group_by),
            },
        };
        plan.push(RequestStep {
            rule: i,
            holds,
            does,
        });
    }
    plan
}

/// `300s` → `5m`.
pub fn human_duration(ns: Nanos) -> String {
    let s = ns / 1_000_000_000;
    if ns % 1_000_000_000 != 0 {
        format!("{}ms", ns / 1_000_000)
    } else if s % 3600 == 0 && s > 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Encode the `group_by` values of a subject into `buf`: each value (empty when missing) as
/// `<byte length>:<value>`, so any value decodes back unambiguously ([`decode_key`]).
fn encode_key<S: Subject + ?Sized>(fields: &[FieldRef], s: &S, buf: &mut String) {
    buf.clear();
    for f in fields {
        push_key_part(buf, s.text(f).as_deref().unwrap_or(""));
    }
}

/// Append one value of a key: `<byte length>:<value>`.
fn push_key_part(buf: &mut String, v: &str) {
    crate::push_decimal(buf, v.len());
    buf.push(':');
    buf.push_str(v);
}

/// The values of a key made by [`encode_key`].
fn decode_key(mut key: &str) -> Vec<&str> {
    let mut out = Vec::new();
    while let Some((len, rest)) = key.split_once(':') {
        let Some((v, tail)) = len
            .parse::<usize>()
            .ok()
            .and_then(|n| Some((rest.get(..n)?, rest.get(n..)?)))
        else {
            break;
        };
        out.push(v);
        key = tail;
    }
    out
}

/// The windows to evaluate over buckets `v` (start times, ascending, each `width` long), as
/// index ranges `[i, j)` with the window's length: every placement of a window of `window_ns`, and of `window_ns` plus one
/// bucket, that starts at or ends with a bucket with requests — every distinct window content —
/// moved inside the span the buckets cover, so that no window starts before the first bucket or
/// ends after the last one. A span shorter than a window is one window, all of it.
///
/// The longer windows are what makes "any window": every stretch of `window_ns` of the data,
/// wherever it starts, lies within one of them (a burst of 295 s astride sub-buckets is never
/// split), and no window judged is longer than `window_ns` plus one bucket.
fn window_ranges<T>(
    v: &[(Nanos, T)],
    width: Nanos,
    window_ns: Nanos,
) -> Vec<(usize, usize, Nanos)> {
    let (Some(&(first, _)), Some(&(last, _))) = (v.first(), v.last()) else {
        return Vec::new();
    };
    let end = last.saturating_add(width);
    let mut ranges: Vec<(usize, usize, Nanos)> = Vec::with_capacity(4 * v.len());
    for len in [window_ns, window_ns.saturating_add(width)] {
        let latest_start = end.saturating_sub(len);
        if latest_start <= first {
            ranges.push((0, v.len(), len));
            continue;
        }
        // The buckets of the window starting at `start`.
        let range = |start: Nanos| {
            let i = v.partition_point(|(t, _)| *t < start);
            let j =
                v.partition_point(|(t, _)| t.saturating_add(width) <= start.saturating_add(len));
            (i, j.max(i), len)
        };
        for &(t, _) in v {
            // Starting at this bucket, and ending with it.
            ranges.push(range(t.min(latest_start)));
            let from = t.saturating_add(width).saturating_sub(len);
            ranges.push(range(from.clamp(first, latest_start)));
        }
    }
    ranges.retain(|&(i, j, _)| j > i);
    // The same requests in a window of either length: judged once, as the shorter.
    ranges.sort_unstable();
    ranges.dedup_by_key(|r| (r.0, r.1));
    ranges
}

fn evaluate_series(
    trigger: &Trigger,
    scope: Scope,
    buckets: &Buckets,
    dropped: u64,
) -> Option<(Tally, String)> {
    let window_ns = match trigger {
        Trigger::Rate { window_ns, .. } | Trigger::Latency { window_ns, .. } => *window_ns,
        _ => return None,
    };
    let width = (window_ns / SUB_BUCKETS).max(1);
    let v: Vec<(Nanos, &Bucket)> = buckets.iter().collect();
    // Prefix sums of requests and notable requests.
    let mut sums = vec![(0u64, 0u64); v.len() + 1];
    for (k, (_, b)) in v.iter().enumerate() {
        sums[k + 1] = (sums[k].0 + b.requests, sums[k].1 + b.notable);
    }
    // Windows lie within the time the data covers (its first to its last sub-bucket with
    // requests): a 5-minute window mostly before the first or after the last request would be
    // judged on the few requests it holds. Data shorter than a window is one window.
    let ranges = window_ranges(&v, width, window_ns);
    let mut firing: Vec<(usize, usize)> = Vec::new();
    // The firing window with the highest value, and that value.
    let mut peak: Option<((usize, usize, Nanos), f64)> = None;
    for &(i, j, len) in &ranges {
        let requests = sums[j].0 - sums[i].0;
        let notable = sums[j].1 - sums[i].1;
        let (fires, value) = match trigger {
            Trigger::Rate {
                per_second,
                ratio,
                min_requests,
                min_errors,
                ..
            } => {
                if requests < *min_requests.max(&1) || notable < *min_errors {
                    continue;
                }
                match (per_second, ratio) {
                    (Some(limit), _) => {
                        let v = notable as f64 / (len as f64 / 1e9);
                        (v > *limit, v)
                    }
                    (None, Some(limit)) => {
                        let v = notable as f64 / requests as f64;
                        (v > *limit, v)
                    }
                    _ => continue,
                }
            }
            Trigger::Latency {
                quantile,
                min_samples,
                min_above,
                ..
            } => {
                if requests < (*min_samples).max(1) || notable < *min_above {
                    continue;
                }
                // The value at rank k = ⌊q·(n−1)⌋ is above the limit exactly when at most k
                // values are not, i.e. at least n − k are.
                let rank = (quantile.clamp(0.0, 1.0) * (requests - 1) as f64).floor() as u64;
                (notable >= requests - rank, notable as f64 / requests as f64)
            }
            _ => continue,
        };
        if fires {
            firing.push((i, j));
            if peak.is_none_or(|(_, p)| value > p) {
                peak = Some(((i, j, len), value));
            }
        }
    }
    let ((peak_i, peak_j, peak_len), peak_value) = peak?;
    let windows = firing.len();
    // The buckets of firing windows: the notable requests counted, and their times.
    let mut cover = vec![0i64; v.len() + 1];
    for &(i, j) in &firing {
        cover[i] += 1;
        cover[j] -= 1;
    }
    let mut t = Tally::default();
    let mut all: Vec<&Sighting> = Vec::new();
    let mut depth = 0;
    for (k, (_, b)) in v.iter().enumerate() {
        depth += cover[k];
        if depth <= 0 {
            continue;
        }
        t.count += b.notable;
        all.extend(b.picks.iter());
        if let Some(f) = b.first {
            t.first = Some(t.first.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = b.last {
            t.last = Some(t.last.map_or(l, |x| x.max(l)));
        }
    }
    let n = all.len();
    for (i, s) in all.into_iter().enumerate() {
        if i < EVIDENCE_EACH_END || i + EVIDENCE_EACH_END >= n {
            t.picks.offer(s.clone());
        }
    }
    let peak = peak_value;
    let peak_window = &v[peak_i..peak_j];
    // The peak window's length: the rule's, or one sub-bucket more.
    let w = human_duration(peak_len);
    let mut detail = match trigger {
        Trigger::Rate {
            per_second: Some(limit),
            ..
        } => {
            format!("peak error rate {peak:.3}/s over {w} (limit {limit}/s) in {windows} window(s)")
        }
        Trigger::Rate {
            ratio: Some(limit), ..
        } if scope == Scope::Event => {
            let (n, k) = peak_window
                .iter()
                .fold((0, 0), |(n, k), (_, b)| (n + b.requests, k + b.notable));
            format!(
                "peak {:.1}% over {w}: {k} of {n} matching events (limit {:.1}%) in {windows} window(s)",
                peak * 100.0,
                limit * 100.0
            )
        }
        Trigger::Rate {
            ratio: Some(limit), ..
        } => format!(
            "peak error ratio {:.1}% over {w} (limit {:.1}%) in {windows} window(s)",
            peak * 100.0,
            limit * 100.0
        ),
        Trigger::Latency {
            quantile, above_ms, ..
        } => {
            // The quantile's value (within the sketch's 1 %) in the window with the largest
            // share above the limit; the decision itself was exact.
            let mut sketch = Sketch::default();
            let (mut requests, mut above) = (0, 0);
            for (_, b) in peak_window {
                requests += b.requests;
                above += b.notable;
                if let Some(s) = &b.sketch {
                    sketch.merge(s);
                }
            }
            // The estimate can fall on the other side of the limit (5010 ms reads 4965): the
            // decision, exact, is what the detail says then.
            let value = sketch.quantile(*quantile).unwrap_or(0.0);
            let value = if value > *above_ms {
                format!("≈ {value:.0} ms")
            } else {
                format!("> {above_ms} ms")
            };
            format!(
                "peak p{} {value} over {w} ({above} of {requests} requests above the limit of {above_ms} ms) in {windows} window(s)",
                (quantile * 100.0).round(),
            )
        }
        _ => String::new(),
    };
    if dropped > 0 {
        let what = match scope {
            Scope::Event => "events",
            Scope::Request => "requests",
        };
        detail.push_str(&format!(" ({dropped} {what} of untracked keys)"));
    }
    Some((t, detail))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;

    struct Values(Vec<Option<String>>);

    impl Subject for Values {
        fn text(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
            let FieldRef::Extra(i) = f else { return None };
            let i: usize = i.parse().ok()?;
            self.0.get(i)?.as_deref().map(Cow::Borrowed)
        }

        fn number(&self, _: &FieldRef) -> Option<f64> {
            None
        }
    }

    fn sighting(ts: Nanos, line: u64) -> Sighting {
        Sighting {
            ts: Some(ts),
            source: 0,
            line,
            pod: None,
            message: Rc::from(""),
            group: None,
            cause: None,
        }
    }

    /// Matches counted by the definition: those in a run of `count` consecutive matches (in
    /// time order) that spans at most `window`.
    fn counted_by_definition(times: &[Nanos], count: usize, window: Nanos) -> Vec<u64> {
        let mut order: Vec<usize> = (0..times.len()).collect();
        order.sort_by_key(|&i| (times[i], i));
        let mut counted = vec![false; times.len()];
        for start in 0..order.len() {
            let end = start + count.max(1) - 1;
            if end < order.len() && times[order[end]] - times[order[start]] <= window {
                for &i in &order[start..=end] {
                    counted[i] = true;
                }
            }
        }
        let mut lines: Vec<u64> = (0..times.len())
            .filter(|&i| counted[i])
            .map(|i| i as u64)
            .collect();
        lines.sort_unstable();
        lines
    }

    /// A request rule firing on `count` 401s from one client within a minute.
    fn burst_rule(count: u32) -> RuleSet {
        let rule = crate::rules::parse_rule(
            "TEST901-burst.toml",
            &format!(
                r#"id = "TEST901"
name = "burst"
title = "t"
severity = "low"
runbook = "r"
description = "d"
scope = "request"
[threshold]
count = {count}
window = "1m"
group_by = ["client_ip"]
[match]
field = "status"
in = [401]
"#
            ),
        )
        .expect("rule");
        RuleSet::new(vec![rule]).expect("rule set")
    }

    /// A match of [`burst_rule`] from `client`.
    fn hit(client: &str) -> Hit {
        Hit {
            rule: 0,
            key: Some(vec![Box::<str>::from(client)].into_boxed_slice()),
            notable: false,
        }
    }

    /// A flood of new keys (a distributed scan) fills the key map: the overflow is counted, and
    /// once the flood's keys have been idle for a window, a new key is tracked and fires.
    #[test]
    fn a_full_key_map_admits_keys_again_once_others_went_idle() {
        let rules = burst_rule(3);
        let mut findings = Findings::new(&rules);
        let flood = MAX_KEYS as u64 + 500;
        for i in 0..flood {
            findings.hit(&hit(&format!("10.{i}")), sighting(i as Nanos * 1000, i));
        }
        // A burst from one more client, 61 s later: the flood's keys are idle by then.
        for n in 0..3 {
            findings.hit(
                &hit("192.0.2.1"),
                sighting(61_000_000_000 + n, flood + n as u64),
            );
        }
        let got = findings.finish(&[], &|g| g.1.clone());
        let fired: Vec<_> = got.iter().map(|f| f.group["client_ip"].as_str()).collect();
        assert_eq!(fired, ["192.0.2.1"]);
        let detail = got[0].detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("(500 matches of untracked keys)"),
            "{detail}"
        );
    }

    /// While a flood of new keys keeps the key map full, a slot frees as soon as a key has been
    /// idle for a window, so a burst in the middle of the flood is still tracked and fires.
    #[test]
    fn a_burst_during_a_flood_of_new_keys_fires() {
        let rules = burst_rule(3);
        let mut findings = Findings::new(&rules);
        // One new client every 5 ms: the map is full from 50 s on, one key goes idle every
        // 5 ms from 60 s on. The burst comes at 62 s, between two of the flood's keys.
        let mut seq = 0;
        for i in 0..(MAX_KEYS as u64 + 4000) {
            let ts = i as Nanos * 5_000_000;
            if (62_000_000_000..62_000_000_000 + 3_000_000).contains(&ts) {
                for n in 0..3 {
                    seq += 1;
                    findings.hit(&hit("192.0.2.1"), sighting(ts + n, seq));
                }
            }
            seq += 1;
            findings.hit(&hit(&format!("10.{i}")), sighting(ts, seq));
        }
        let got = findings.finish(&[], &|g| g.1.clone());
        let fired: Vec<_> = got.iter().map(|f| f.group["client_ip"].as_str()).collect();
        assert_eq!(fired, ["192.0.2.1"]);
    }

    /// More matches than wait at once ([`MAX_PENDING`]), in time order, over many keys: what is
    /// settled early to bound memory is settled exactly — every key counts what its definition
    /// counts.
    #[test]
    fn threshold_memory_bound_keeps_counts_exact_for_input_in_time_order() {
        let rules = burst_rule(5);
        let mut findings = Findings::new(&rules);
        let mut by_key: BTreeMap<String, Vec<Nanos>> = BTreeMap::new();
        // A cheap deterministic mix: 3 000 clients, one match every 15 ms, some in bursts.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let (mut ts, mut burst): (Nanos, Option<(String, u32)>) = (0, None);
        for i in 0..3 * MAX_PENDING as u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ts += 15_000_000;
            let key = match burst.take() {
                Some((k, n)) if n > 0 => {
                    burst = Some((k.clone(), n - 1));
                    k
                }
                _ => {
                    let k = format!("10.0.{}.{}", (x >> 8) % 12, x % 250);
                    if x.is_multiple_of(97) {
                        burst = Some((k.clone(), 6));
                    }
                    k
                }
            };
            by_key.entry(key.clone()).or_default().push(ts);
            let hit = Hit {
                rule: 0,
                key: Some(vec![Box::<str>::from(key.as_str())].into_boxed_slice()),
                notable: false,
            };
            findings.hit(&hit, sighting(ts, i));
        }
        let got = findings.finish(&[], &|g| g.1.clone());
        assert!(!got.is_empty());
        for f in &got {
            let key = &f.group["client_ip"];
            let want = counted_by_definition(&by_key[key], 5, 60_000_000_000).len();
            assert_eq!(f.count as usize, want, "{key}");
        }
    }

    /// `is_exception_line` as its doc defines it, the way it was first written: what the fast
    /// version must agree with.
    fn exception_line_by_definition(line: &str) -> bool {
        let name = line.split_once(": ").map_or(line, |(n, _)| n);
        let class = name.rsplit('.').next().unwrap_or("");
        !name.is_empty()
            && name
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && class.starts_with(|c: char| c.is_ascii_uppercase())
            && name != "Traceback"
    }

    #[test]
    fn exception_lines_are_told_from_frames() {
        for (line, want) in [
            ("KeyError: 'x'", true),
            (
                "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 reached",
                true,
            ),
            ("asyncio.exceptions.CancelledError", true),
            ("  File \"/app/x.py\", line 3, in f", false),
            ("Traceback (most recent call last):", false),
            ("Traceback: x", false),
            ("ValueError:x", false),
            ("2fast.Error: x", false),
            ("a..B: x", false),
            ("module.error: lower-case class", false),
        ] {
            assert_eq!(is_exception_line(line), want, "{line}");
            assert_eq!(exception_line_by_definition(line), want, "{line}");
        }
    }

    proptest! {
        #[test]
        fn exception_line_test_agrees_with_its_definition(
            line in r"[ A-Za-z0-9_.:é'\-]{0,24}",
        ) {
            prop_assert_eq!(is_exception_line(&line), exception_line_by_definition(&line));
        }
    }

    /// A `[rate] above_per_second` needs more than limit × window errors: 31 for 0.1/s over
    /// 5 minutes, 4 for 0.05/s over a minute (3 is exactly the limit), or `min_errors`.
    #[test]
    fn errors_needed_is_above_the_limit() {
        assert_eq!(errors_needed(0.1, 300_000_000_000, 0), 31);
        assert_eq!(errors_needed(0.05, 60_000_000_000, 0), 4);
        assert_eq!(errors_needed(0.1, 300_000_000_000, 40), 40);
        assert_eq!(errors_needed(0.0, 300_000_000_000, 0), 1);
    }

    /// Conditions of request rules: a service guard alone, status tests, status and another
    /// field, tests of the service inside `not` and `any`, nested `all`s, a status beyond
    /// those remembered.
    const CONDITIONS: &[&str] = &[
        "field = \"service\"\nequals = \"skreaver\"",
        "field = \"status\"\nge = 500",
        "all = [{ field = \"status\", in = [401, 403] }, { field = \"client_ip\", exists = true }]",
        "all = [{ field = \"service\", equals = \"skillmeat\" }, { field = \"status\", equals = 429 }, { field = \"route\", starts_with = \"/api\" }]",
        "any = [{ field = \"status\", lt = 300 }, { field = \"service\", equals = \"skreaver\" }]",
        "not = { field = \"service\", equals = \"skreaver\" }",
        "all = [{ not = { field = \"status\", ge = 400 } }, { all = [{ field = \"service\", equals = \"other\" }, { field = \"client_ip\", exists = false }] }]",
        "field = \"status\"\nexists = true",
        "all = [{ field = \"status\", in = [200, 1000] }, { field = \"status\", ge = 100 }]",
    ];

    const STATUSES: &[Option<u16>] = &[
        None,
        Some(0),
        Some(200),
        Some(401),
        Some(403),
        Some(429),
        Some(500),
        Some(503),
        Some(999),
        Some(1000),
        Some(65535),
    ];

    fn condition(text: &str) -> Condition {
        let spec: crate::rules::spec::ConditionSpec = toml::from_str(text).expect("spec");
        Condition::compile(&spec).expect("condition")
    }

    proptest! {
        /// A gate made on a service's first request answers as its condition does for every
        /// request of that service (conjuncts reading only the service decided once, those
        /// reading only the status remembered per status).
        #[test]
        fn gates_answer_as_their_conditions(
            which in 0..CONDITIONS.len(),
            requests in prop::collection::vec(
                (0usize..3, prop::sample::select(STATUSES), any::<bool>(), any::<bool>()),
                1..40,
            ),
        ) {
            static REG: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
            let reg = REG.get_or_init(|| Registry::load(None).expect("registry"));
            let services = [
                reg.service_id("skillmeat").expect("skillmeat"),
                reg.service_id("skreaver").expect("skreaver"),
                999,
            ];
            let c = condition(CONDITIONS[which]);
            let mut gates: Vec<Option<Gate>> = vec![None, None, None];
            for (service, status, ip, route) in requests {
                let mut r = Request {
                    service: services[service],
                    status,
                    ..Request::default()
                };
                if ip {
                    r.set_field(crate::event::Slot::ClientIp, "10.0.0.1");
                }
                if route {
                    r.set_field(crate::event::Slot::Route, "/api/x");
                }
                let s = RequestSubject { r: &r, reg };
                let gate = gates[service].get_or_insert_with(|| Gate::new(&c, &s));
                prop_assert_eq!(gate.holds(&s), c.matches(&s), "{:?}", status);
            }
        }

        /// A key's buckets, the latest kept apart, hold what one ordered map would, in order.
        #[test]
        fn buckets_keep_every_start_in_order(starts in prop::collection::vec(0i64..50, 0..60)) {
            let mut buckets = Buckets::default();
            let mut want: BTreeMap<Nanos, u64> = BTreeMap::new();
            for &t in &starts {
                buckets.at(t).requests += 1;
                *want.entry(t).or_default() += 1;
            }
            let got: Vec<(Nanos, u64)> = buckets.iter().map(|(t, b)| (t, b.requests)).collect();
            prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        }
    }

    proptest! {
        /// Whatever order the matches arrive in, and wherever the earlier part is settled
        /// while they arrive in time order, a threshold counts what its definition counts.
        #[test]
        fn threshold_windows_count_by_definition(
            times in prop::collection::vec(0i64..200, 0..60),
            count in 1usize..6,
            window in 0i64..40,
            arrival in prop::collection::vec(any::<prop::sample::Index>(), 60),
            settle_at in prop::collection::vec(0usize..60, 0..4),
        ) {
            let want = counted_by_definition(&times, count, window);
            // Any arrival order, settled at the end.
            let mut order: Vec<usize> = (0..times.len()).collect();
            for (i, ix) in arrival.iter().enumerate().take(order.len()) {
                let j = ix.index(order.len());
                order.swap(i, j);
            }
            let mut kw = KeyWindow::default();
            for (seq, &i) in order.iter().enumerate() {
                kw.push(Pending { ts: times[i], seq: seq as u64, sighting: sighting(times[i], i as u64), stream: None });
            }
            kw.settle(count, window, Nanos::MAX, None);
            // Every counted match is in the tally, and only those are picked as evidence.
            prop_assert_eq!(kw.tally.count as usize, want.len());
            prop_assert!(kw.tally.picks.iter().all(|p| want.contains(&p.line)));
            // In time order, with the earlier half settled now and then (the memory bound).
            let mut sorted: Vec<usize> = (0..times.len()).collect();
            sorted.sort_by_key(|&i| (times[i], i));
            let mut kw = KeyWindow::default();
            for (seq, &i) in sorted.iter().enumerate() {
                kw.push(Pending { ts: times[i], seq: seq as u64, sighting: sighting(times[i], i as u64), stream: None });
                if settle_at.contains(&seq) {
                    let middle = kw.pending.get(kw.pending.len() / 2).map_or(Nanos::MIN, |p| p.ts);
                    kw.settle(count, window, middle, None);
                }
            }
            kw.settle(count, window, Nanos::MAX, None);
            prop_assert_eq!(kw.tally.count as usize, want.len());
        }

        /// Ratio and latency windows: every stretch of the window's length within the data,
        /// wherever it starts, lies in one window judged, and none judged is longer than the
        /// window plus one sub-bucket.
        #[test]
        fn rate_windows_cover_any_window_of_their_length(
            buckets in prop::collection::btree_set(0i64..200, 1..40),
            starts in prop::collection::vec(0i64..2000, 1..20),
        ) {
            let (width, window) = (10, 300);
            let v: Vec<(Nanos, ())> = buckets.iter().map(|&b| (b * width, ())).collect();
            let ranges = window_ranges(&v, width, window);
            let (first, end) = (v[0].0, v[v.len() - 1].0 + width);
            for &(i, j, len) in &ranges {
                prop_assert!(len == window || len == window + width);
                prop_assert!(v[j - 1].0 + width - v[i].0 <= window + width);
            }
            for &t in &starts {
                let t = first + t % (end - first).max(1);
                if t + window > end {
                    continue;
                }
                // The buckets the window [t, t + window) touches.
                let i = v.partition_point(|(b, _)| b + width <= t);
                let j = v.partition_point(|(b, _)| *b < t + window);
                if j <= i {
                    continue;
                }
                prop_assert!(
                    ranges.iter().any(|&(a, b, _)| a <= i && j <= b),
                    "[{t}, {}) in no window of {ranges:?}", t + window
                );
            }
        }

        /// Evidence: the three earliest and the three latest of the rest, in time order,
        /// whatever order the sightings were offered in.
        #[test]
        fn picks_are_the_earliest_and_latest(
            times in prop::collection::vec(0i64..50, 0..20),
            arrival in prop::collection::vec(any::<prop::sample::Index>(), 20),
        ) {
            let mut all: Vec<(Nanos, u64)> =
                times.iter().enumerate().map(|(i, &t)| (t, i as u64)).collect();
            let mut offered = all.clone();
            for (i, ix) in arrival.iter().enumerate().take(offered.len()) {
                let j = ix.index(offered.len());
                offered.swap(i, j);
            }
            let mut picks = Picks::default();
            for &(t, line) in &offered {
                picks.offer(sighting(t, line));
            }
            all.sort_unstable();
            let want: Vec<(Nanos, u64)> = if all.len() <= 2 * EVIDENCE_EACH_END {
                all
            } else {
                let mut w = all[..EVIDENCE_EACH_END].to_vec();
                w.extend_from_slice(&all[all.len() - EVIDENCE_EACH_END..]);
                w
            };
            let got: Vec<(Nanos, u64)> =
                picks.iter().map(|s| (s.ts.unwrap_or_default(), s.line)).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn keys_decode_to_their_values(values in prop::collection::vec(prop::option::of(".*"), 0..4)) {
            let fields: Vec<FieldRef> =
                (0..values.len()).map(|i| FieldRef::Extra(i.to_string())).collect();
            let mut buf = String::new();
            encode_key(&fields, &Values(values.clone()), &mut buf);
            let want: Vec<&str> = values.iter().map(|v| v.as_deref().unwrap_or("")).collect();
            prop_assert_eq!(decode_key(&buf), want);
        }
    }
}
