//! HTTP requests, each counted exactly once.
//!
//! A service may report one request on several lines (SkillMeat: `Span completed`, `Request
//! completed`, then the uvicorn access line; Skreaver: `finished processing request`, then
//! `response failed` for a 5xx). Each such line is an observation of a kind; the kinds of a
//! service form its `request_chain`, in print order. Observations from the same stream merge
//! into the oldest pending request that has not yet seen a later-or-equal kind and agrees on
//! method, route and status where both know them. A request is final when its last chain kind
//! arrives, when it is older than [`WINDOW_NS`] in event time, when its stream holds too many
//! pending requests, when its stream releases its state ([`crate::streams`]), or at end of
//! input. Merging keeps the richest data: the first known value
//! of every field, from whichever line had it.
//!
//! A live run (`--follow`) has one more rule, by the wall clock: a request that has waited
//! [`QUIET`] for its next line is final ([`RequestMerger::expire_quiet`]), so the board and
//! the snapshots show it while its service is quiet (a Skreaver request waits for a
//! `response failed` line that only a 5xx has; the event-time rule needs a later request line of
//! the stream, which may never come). See there for what a line arriving after that does.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::event::Slot;
use crate::pipeline::StreamMap;

use crate::time::Nanos;

/// How long (event time) a request may wait for its other lines.
pub const WINDOW_NS: Nanos = 5_000_000_000;
/// Most pending requests per stream before the oldest is final anyway.
pub const MAX_PENDING_PER_STREAM: usize = 256;
/// Live runs: how long (wall clock) a request waits for its stream's next line before it is
/// final. tower-http writes `finished processing request` and `response failed` back to back,
/// and SkillMeat its three lines within microseconds: a second is plenty, and short on a board.
pub const QUIET: Duration = Duration::from_secs(1);

/// When a request's latest line reached the merger (live runs): the wall-clock time, and a mark
/// of the caller's that [`RequestMerger::expire_quiet`] hands back to ask whether everything
/// that had arrived with it has been merged since (the `--follow` reorder buffer may hold
/// the request's next line back).
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// When.
    pub at: Instant,
    /// The caller's mark.
    pub mark: u64,
}

/// Where a request line came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct At {
    /// Source index.
    pub source: u32,
    /// 1-based line number.
    pub line: u64,
    /// Stream key (source + pod + container + stream).
    pub stream: u64,
}

/// The string fields a request keeps, as slots of the event schema.
pub const REQUEST_SLOTS: [Slot; 7] = [
    Slot::Method,
    Slot::Route,
    Slot::Path,
    Slot::TraceId,
    Slot::RequestId,
    Slot::ClientIp,
    Slot::AgentId,
];

/// Position of `slot` in [`REQUEST_SLOTS`] (a `match`, so constant slots cost nothing).
const fn field_index(slot: Slot) -> Option<usize> {
    Some(match slot {
        Slot::Method => 0,
        Slot::Route => 1,
        Slot::Path => 2,
        Slot::TraceId => 3,
        Slot::RequestId => 4,
        Slot::ClientIp => 5,
        Slot::AgentId => 6,
        _ => return None,
    })
}

/// [`field_index`] of a slot a request keeps (evaluated at compile time by the accessors).
const fn slot_index(slot: Slot) -> usize {
    match field_index(slot) {
        Some(i) => i,
        None => panic!("not a request slot"),
    }
}

/// A field's place in [`Strs::text`]; `start == ABSENT`: no value.
const ABSENT: u32 = u32::MAX;

/// The string fields of a request in one buffer: a request costs one allocation for them,
/// however many it has.
#[derive(Clone, Debug)]
pub struct Strs {
    text: String,
    /// Per [`REQUEST_SLOTS`] entry: start and end in `text`.
    spans: Spans,
}

/// Start and end of each [`REQUEST_SLOTS`] field in a buffer.
type Spans = [(u32, u32); REQUEST_SLOTS.len()];

/// Field `i` of `text`, whose fields are at `spans`.
fn field_at<'t>(spans: &Spans, i: usize, text: &'t str) -> Option<&'t str> {
    let &(start, end) = spans.get(i)?;
    (start != ABSENT)
        .then(|| text.get(start as usize..end as usize))
        .flatten()
}

impl Default for Strs {
    fn default() -> Self {
        Strs {
            text: String::new(),
            spans: [(ABSENT, 0); REQUEST_SLOTS.len()],
        }
    }
}

impl PartialEq for Strs {
    fn eq(&self, other: &Strs) -> bool {
        (0..REQUEST_SLOTS.len()).all(|i| self.get(i) == other.get(i))
    }
}

impl Strs {
    fn get(&self, i: usize) -> Option<&str> {
        field_at(&self.spans, i, &self.text)
    }

    /// The fields at `spans` of `arena`, copied (they are next to each other there: one copy).
    fn copied(spans: &Spans, arena: &str) -> Strs {
        let present = spans.iter().filter(|s| s.0 != ABSENT);
        let lo = present.clone().map(|s| s.0).min().unwrap_or(0);
        let hi = present.map(|s| s.1).max().unwrap_or(0);
        let mut spans = *spans;
        for span in spans.iter_mut().filter(|s| s.0 != ABSENT) {
            *span = (span.0 - lo, span.1 - lo);
        }
        // Room for what the request's later lines usually add (a client address, a trace id),
        // so absorbing them does not reallocate.
        let fields = arena.get(lo as usize..hi as usize).unwrap_or("");
        let mut text = String::with_capacity(fields.len() + 64);
        text.push_str(fields);
        Strs { text, spans }
    }

    /// Set field `i` (a value set before stays in the buffer, unreferenced).
    fn set(&mut self, i: usize, value: &str) {
        if i < self.spans.len()
            && let Some(span) = append(&mut self.text, value)
        {
            self.spans[i] = span;
        }
    }
}

/// Append `value` to `buf`; its span there (`None` past 4 GiB, where nothing is appended).
fn append(buf: &mut String, value: &str) -> Option<(u32, u32)> {
    let start = u32::try_from(buf.len()).ok()?;
    let end = u32::try_from(buf.len() + value.len()).ok()?;
    buf.push_str(value);
    Some((start, end))
}

/// A request line's string fields on their way from a parse worker to the merger, which makes
/// the observation ([`Observed`]): spans in the worker's per-chunk text arena, or their
/// own copy for a line that waits in the `--follow` reorder buffer after its chunk is merged.
/// Items carried a whole `Request` (160 bytes, of which the time, status and latency repeat the
/// event's) through the channel, the merger reading each from another core's cache.
#[derive(Debug)]
pub enum LineFields {
    /// Spans in the chunk's arena.
    Arena(Spans),
    /// The fields' own copy.
    Owned(Box<Strs>),
}

impl LineFields {
    /// The fields among `values` that requests keep, appended to `arena`.
    pub fn in_arena<'v>(
        arena: &mut String,
        values: impl IntoIterator<Item = (Slot, &'v str)>,
    ) -> LineFields {
        let mut spans = [(ABSENT, 0); REQUEST_SLOTS.len()];
        for (slot, v) in values {
            if let Some(i) = field_index(slot)
                && let Some(span) = append(arena, v)
            {
                spans[i] = span;
            }
        }
        LineFields::Arena(spans)
    }

    /// Copy the fields out of `arena`, which is about to go.
    pub fn own(&mut self, arena: &str) {
        if let LineFields::Arena(spans) = self {
            *self = LineFields::Owned(Box::new(Strs::copied(spans, arena)));
        }
    }
}

/// One request (or one observation of it, before merging).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// Service index.
    pub service: u16,
    /// Event time of the first line.
    pub ts: Option<Nanos>,
    /// Method, route, path as printed, trace id, request id, client address, agent id
    /// ([`REQUEST_SLOTS`]); read with [`Request::field`] or the named accessors.
    pub strs: Strs,
    /// Status.
    pub status: Option<u16>,
    /// Latency in ms.
    pub duration_ms: Option<f64>,
    /// Where the first line came from.
    pub at: At,
    /// Bit i set: a line of chain kind i was seen.
    pub kinds: u32,
    /// Highest chain kind seen.
    pub last_kind: u8,
    /// Number of lines merged into this request.
    pub lines: u32,
    /// A line of it passed the filters and was correlated with a linking id: the request joins
    /// that group and starts none ([`crate::correlate::Observation::joins_only`]).
    pub grouped: bool,
    /// While it waits for its other lines: its hold on the group of its first correlated line,
    /// which therefore stays open until the request is delivered ([`crate::correlate::Pin`]).
    pub pin: Option<crate::correlate::Pin>,
}

fn agree<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn fill<T>(into: &mut Option<T>, from: Option<T>) {
    if into.is_none() {
        *into = from;
    }
}

impl Request {
    /// A request (observation) with the given string fields, in one allocation.
    pub fn with_fields<'v>(values: impl IntoIterator<Item = (Slot, &'v str)> + Clone) -> Request {
        let total = values.clone().into_iter().map(|(_, v)| v.len()).sum();
        let mut r = Request {
            strs: Strs {
                text: String::with_capacity(total),
                ..Strs::default()
            },
            ..Request::default()
        };
        for (slot, v) in values {
            r.set_field(slot, v);
        }
        r
    }

    /// A string field (`None` for slots a request does not keep).
    pub fn field(&self, slot: Slot) -> Option<&str> {
        self.strs.get(field_index(slot)?)
    }

    /// Set a string field (ignored for slots a request does not keep).
    pub fn set_field(&mut self, slot: Slot, value: &str) {
        if let Some(i) = field_index(slot) {
            self.strs.set(i, value);
        }
    }

    /// HTTP method.
    pub fn method(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::Method) })
    }

    /// Normalized route.
    pub fn route(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::Route) })
    }

    /// Path as printed.
    pub fn path(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::Path) })
    }

    /// Trace id.
    pub fn trace_id(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::TraceId) })
    }

    /// Request id.
    pub fn request_id(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::RequestId) })
    }

    /// Client address.
    pub fn client_ip(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::ClientIp) })
    }

    /// Agent id.
    pub fn agent_id(&self) -> Option<&str> {
        self.strs.get(const { slot_index(Slot::AgentId) })
    }

    fn accepts(&self, obs: &Observed<'_>) -> bool {
        obs.head.last_kind > self.last_kind
            && agree(self.method(), obs.field(const { slot_index(Slot::Method) }))
            && agree(self.route(), obs.field(const { slot_index(Slot::Route) }))
            && agree(self.status, obs.head.status)
    }

    fn absorb(&mut self, obs: Observed<'_>) {
        for (i, slot) in REQUEST_SLOTS.iter().enumerate() {
            let Some(v) = obs.field(i) else { continue };
            let replace = match self.strs.get(i) {
                None => true,
                // A printed path beats the templated one of a span name (`/x/{id}`).
                Some(p) => *slot == Slot::Path && p.contains('{'),
            };
            if replace {
                self.strs.set(i, v);
            }
        }
        let obs = obs.head;
        fill(&mut self.ts, obs.ts);
        fill(&mut self.status, obs.status);
        // Lines come in chain order, innermost measurement first: SkillMeat's span (the route)
        // before its middleware's `Request completed` (the whole request, as its latency
        // histogram records it — 71 ms against the span's 37 when an exception handler ran).
        if obs.duration_ms.is_some() {
            self.duration_ms = obs.duration_ms;
        }
        self.kinds |= obs.kinds;
        self.last_kind = obs.last_kind;
        self.lines += obs.lines;
        self.grouped |= obs.grouped;
    }
}

/// A request line's observation as the merger sees it: the event's data in `head` (its string
/// fields empty) and the fields where the parse worker left them. Copied into a request of its
/// own only when no pending request absorbs it: the later lines of a request cost no
/// allocation. (The merger allocates and frees request buffers on its own thread: a block
/// freed by another thread costs a cache miss in each of the two.)
pub struct Observed<'a> {
    /// Everything but the string fields.
    pub head: Request,
    /// The string fields.
    pub fields: LineFields,
    /// The chunk arena that [`LineFields::Arena`] spans point into.
    pub arena: &'a str,
}

impl Observed<'_> {
    fn field(&self, i: usize) -> Option<&str> {
        match &self.fields {
            LineFields::Arena(spans) => field_at(spans, i, self.arena),
            LineFields::Owned(strs) => strs.get(i),
        }
    }

    /// The observation as a request of its own.
    pub fn into_request(self) -> Request {
        let strs = match self.fields {
            LineFields::Arena(spans) => Strs::copied(&spans, self.arena),
            LineFields::Owned(strs) => *strs,
        };
        Request { strs, ..self.head }
    }
}

/// A whole request as an observation (tests build observations this way).
#[cfg(test)]
impl From<Request> for Observed<'static> {
    fn from(mut r: Request) -> Self {
        let strs = std::mem::take(&mut r.strs);
        Observed {
            head: r,
            fields: LineFields::Owned(Box::new(strs)),
            arena: "",
        }
    }
}

/// A request waiting for its other lines.
#[derive(Debug)]
struct Waiting {
    r: Request,
    /// Live runs: when its latest line arrived.
    arrived: Option<Arrival>,
}

/// The requests of one stream.
#[derive(Debug, Default)]
struct StreamRequests {
    /// Waiting for their other lines, oldest first.
    waiting: VecDeque<Waiting>,
    /// Live runs: requests made final by [`RequestMerger::expire_quiet`] that a batch run would
    /// still be holding, oldest first. They come before `waiting` (they are older) and go by
    /// the same rules (window, cap, completion): a further line that one of them accepts is
    /// taken by it, not counted as a request of its own.
    reported: VecDeque<Request>,
}

/// Merges request observations per stream.
#[derive(Debug, Default)]
pub struct RequestMerger {
    pending: StreamMap<StreamRequests>,
    /// Chain length per service.
    chain_len: Vec<u8>,
}

impl RequestMerger {
    /// A merger for services whose chains have these lengths.
    pub fn new(chain_len: Vec<u8>) -> RequestMerger {
        RequestMerger {
            pending: StreamMap::default(),
            chain_len,
        }
    }

    /// Add one observation (`kind` = its index in the service's chain), which `arrived` now
    /// (live runs; `None`: no wall-clock rule); completed requests go to `done`. Returns the
    /// request that took the observation when it still waits for other lines.
    pub fn observe(
        &mut self,
        mut obs: Observed<'_>,
        kind: u8,
        arrived: Option<Arrival>,
        done: &mut impl FnMut(Request),
    ) -> Option<&mut Request> {
        obs.head.kinds = 1 << kind.min(31);
        obs.head.last_kind = kind;
        obs.head.lines = 1;
        let complete_len = self
            .chain_len
            .get(obs.head.service as usize)
            .copied()
            .unwrap_or(1);
        let stream = self.pending.entry(obs.head.at.stream).or_default();
        // Expire by event time, oldest first: the reported requests, then the waiting ones
        // (one queue in a batch run).
        if let Some(now) = obs.head.ts {
            let old = |r: &Request| r.ts.is_some_and(|t| now - t > WINDOW_NS);
            while stream.reported.front().is_some_and(old) {
                stream.reported.pop_front();
            }
            while stream.reported.is_empty() && stream.waiting.front().is_some_and(|w| old(&w.r)) {
                if let Some(w) = stream.waiting.pop_front() {
                    done(w.r);
                }
            }
        }
        let accepts = |r: &Request| r.service == obs.head.service && r.accepts(&obs);
        if let Some(i) = stream.reported.iter().position(accepts) {
            // A further line of a request already final and counted (see `expire_quiet`).
            stream.reported[i].absorb(obs);
            if stream.reported[i].last_kind + 1 >= complete_len {
                stream.reported.remove(i);
            }
        } else if let Some(i) = stream.waiting.iter().position(|w| accepts(&w.r)) {
            let w = &mut stream.waiting[i];
            w.r.absorb(obs);
            w.arrived = arrived;
            if w.r.last_kind + 1 >= complete_len {
                // Requests before it in the queue stay; only this one is final.
                if let Some(w) = stream.waiting.remove(i) {
                    done(w.r);
                }
            } else {
                return stream.waiting.get_mut(i).map(|w| &mut w.r);
            }
        } else if kind + 1 >= complete_len {
            done(obs.into_request());
        } else {
            stream.waiting.push_back(Waiting {
                r: obs.into_request(),
                arrived,
            });
            if stream.reported.len() + stream.waiting.len() > MAX_PENDING_PER_STREAM
                && stream.reported.pop_front().is_none()
                && let Some(w) = stream.waiting.pop_front()
            {
                done(w.r);
            }
            // The cap ends the oldest: the new one, at the back, still waits.
            return stream.waiting.back_mut().map(|w| &mut w.r);
        }
        None
    }

    /// Live runs: the waiting requests whose latest line arrived [`QUIET`] or longer before
    /// `now`, and everything that arrived with it is merged (`settled(stream, mark)`), are
    /// final, oldest first per stream (streams in key order): the board and the snapshots
    /// count them while their service is quiet.
    ///
    /// The trade-off: a batch run would still hold such a request for a line that may come
    /// (Skreaver's `response failed`, SkillMeat's access line), and such a line can still come
    /// after [`QUIET`] (a writer that stalled, a stream the reorder buffer held longer). The
    /// request was counted and delivered already, so it is kept as *reported*, under the rules
    /// a waiting request goes by (the event-time window, the cap per stream, its chain): a
    /// later line that it accepts joins it, as in a batch run, and is not counted as a request
    /// of its own. The request count is the batch run's; only what that late line would have
    /// added to the request (a field the first line lacked, its line count) is missing.
    pub fn expire_quiet(
        &mut self,
        now: Instant,
        mut settled: impl FnMut(u64, u64) -> bool,
        done: &mut impl FnMut(Request),
    ) {
        let due = |w: &Waiting| {
            w.arrived
                .is_some_and(|a| now.saturating_duration_since(a.at) >= QUIET)
        };
        let mut keys: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, s)| s.waiting.front().is_some_and(due))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        for k in keys {
            let Some(stream) = self.pending.get_mut(&k) else {
                continue;
            };
            // A prefix only: `reported` stays older than `waiting`, as one batch queue.
            while let Some(w) = stream.waiting.front() {
                if !(due(w) && w.arrived.is_some_and(|a| settled(k, a.mark))) {
                    break;
                }
                if let Some(w) = stream.waiting.pop_front() {
                    stream.reported.push_back(w.r.clone());
                    done(w.r);
                }
            }
        }
    }

    /// End of input: every pending request is final, oldest first per stream, streams in key order.
    pub fn finish(&mut self, done: &mut impl FnMut(Request)) {
        let mut keys: Vec<u64> = self.pending.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(s) = self.pending.remove(&k) {
                s.waiting.into_iter().map(|w| w.r).for_each(&mut *done);
            }
        }
    }

    /// `stream` released its state ([`crate::streams`]): its pending requests are final, oldest
    /// first, as at the end of input.
    pub fn release(&mut self, stream: u64, done: &mut impl FnMut(Request)) {
        if let Some(s) = self.pending.remove(&stream) {
            s.waiting.into_iter().map(|w| w.r).for_each(done);
        }
    }

    /// Number of requests waiting for more lines.
    pub fn pending(&self) -> usize {
        self.pending.values().map(|s| s.waiting.len()).sum()
    }

    /// Streams with an entry (bounded by the streams with state, [`crate::streams`]).
    pub fn streams(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(
        stream: u64,
        ts: i64,
        method: &str,
        route: &str,
        status: Option<u16>,
        dur: Option<f64>,
    ) -> Request {
        Request {
            service: 0,
            ts: Some(ts),
            status,
            duration_ms: dur,
            at: At {
                source: 0,
                line: ts as u64,
                stream,
            },
            ..Request::with_fields([(Slot::Method, method), (Slot::Route, route)])
        }
    }

    fn run(events: Vec<(Request, u8)>) -> Vec<Request> {
        run_live(events, &[])
    }

    /// [`run`] as a live run: before the observations at the indexes in `quiet`, every waiting
    /// request has waited [`QUIET`].
    fn run_live(events: Vec<(Request, u8)>, quiet: &[usize]) -> Vec<Request> {
        let mut m = RequestMerger::new(vec![3]);
        let mut out = Vec::new();
        let start = Instant::now();
        let arrived = Some(Arrival { at: start, mark: 0 });
        for (i, (o, k)) in events.into_iter().enumerate() {
            if quiet.contains(&i) {
                m.expire_quiet(start + QUIET, |_, _| true, &mut |r| out.push(r));
            }
            m.observe(o.into(), k, arrived, &mut |r| out.push(r));
        }
        m.finish(&mut |r| out.push(r));
        out
    }

    proptest::proptest! {
        /// Requests made final by the wall clock while their other lines may still come are
        /// the requests of a batch run, each counted once, however late those lines are.
        #[test]
        fn quiet_expiry_counts_the_requests_of_a_batch_run(
            lines in proptest::collection::vec(
                (0u64..3, 0i64..3_000, 0usize..2, 0usize..3, 0u8..3), 0..60),
            quiet in proptest::collection::vec(0usize..60, 0..10),
        ) {
            let mut ts = 0;
            let events: Vec<(Request, u8)> = lines
                .iter()
                .enumerate()
                .map(|(line, &(stream, step_ms, route, status, kind))| {
                    ts += step_ms * 1_000_000;
                    let status = [None, Some(200), Some(500)][status];
                    let mut r = obs(stream, ts, "GET", ["/a", "/b"][route], status, None);
                    r.at.line = line as u64;
                    (r, kind)
                })
                .collect();
            let firsts = |out: Vec<Request>| {
                let mut v: Vec<u64> = out.iter().map(|r| r.at.line).collect();
                v.sort_unstable();
                v
            };
            let batch = firsts(run(events.clone()));
            proptest::prop_assert_eq!(firsts(run_live(events, &quiet)), batch);
        }
    }

    #[test]
    fn a_quiet_request_is_final_and_its_late_line_joins_it() {
        let finished = obs(1, 1, "POST", "/x", Some(500), Some(12.0));
        let failed = obs(1, 2, "POST", "/x", Some(500), None);
        let mut m = RequestMerger::new(vec![3]);
        let mut out = Vec::new();
        let start = Instant::now();
        let arrived = Some(Arrival { at: start, mark: 7 });
        m.observe(finished.clone().into(), 0, arrived, &mut |r| out.push(r));
        // Not yet: too soon, or what came with it is not merged yet.
        m.expire_quiet(start, |_, _| true, &mut |r| out.push(r));
        m.expire_quiet(start + QUIET, |_, mark| mark != 7, &mut |r| out.push(r));
        assert!(out.is_empty());
        m.expire_quiet(start + QUIET, |_, _| true, &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        m.observe(failed.into(), 1, arrived, &mut |r| out.push(r));
        m.finish(&mut |r| out.push(r));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(m.pending(), 0);
        // Batch: the same request, with both lines.
        let batch = run(vec![
            (finished, 0),
            (obs(1, 2, "POST", "/x", Some(500), None), 1),
        ]);
        assert_eq!((batch.len(), batch[0].lines), (1, 2));
    }

    #[test]
    fn skillmeat_triplet_is_one_request_with_richest_data() {
        let out = run(vec![
            (obs(1, 1, "GET", "/health", Some(200), Some(17.6)), 0),
            (obs(1, 2, "GET", "/health", Some(200), Some(18.0)), 1),
            (obs(1, 3, "GET", "/health", Some(200), None), 2),
        ]);
        assert_eq!(out.len(), 1);
        // The middleware's measurement (the second line), not the span's.
        assert_eq!(out[0].duration_ms, Some(18.0));
        assert_eq!(out[0].lines, 3);
    }

    #[test]
    fn rate_limited_access_line_alone_counts_once() {
        let out = run(vec![
            (obs(1, 1, "GET", "/x", None, None), 0),
            (obs(1, 2, "GET", "/x", Some(429), None), 2),
            (obs(1, 3, "GET", "/x", Some(200), None), 1),
            (obs(1, 4, "GET", "/x", Some(200), None), 2),
        ]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out.iter().filter(|r| r.status == Some(429)).count(), 1);
    }

    #[test]
    fn concurrent_same_route_requests_pair_in_order() {
        let out = run(vec![
            (obs(1, 1, "GET", "/h", None, Some(1.0)), 0),
            (obs(1, 2, "GET", "/h", None, Some(2.0)), 0),
            (obs(1, 3, "GET", "/h", Some(200), None), 1),
            (obs(1, 4, "GET", "/h", Some(200), None), 1),
            (obs(1, 5, "GET", "/h", Some(200), None), 2),
            (obs(1, 6, "GET", "/h", Some(200), None), 2),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].duration_ms, Some(1.0));
        assert_eq!(out[1].duration_ms, Some(2.0));
    }

    #[test]
    fn streams_do_not_merge_and_window_expires() {
        let out = run(vec![
            (obs(1, 1, "GET", "/h", None, None), 0),
            (obs(2, 2, "GET", "/h", Some(200), None), 1),
            (obs(1, 10_000_000_000, "GET", "/h", Some(200), None), 1),
        ]);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn line_fields_in_an_arena_or_owned_make_the_same_request() {
        let mut arena = String::from("earlier fields of the chunk;");
        let fields = [
            (Slot::Method, "GET"),
            (Slot::Path, "/x/1"),
            (Slot::Message, "no"),
        ];
        let in_arena = LineFields::in_arena(&mut arena, fields);
        assert!(
            !arena.ends_with("no"),
            "a slot requests do not keep takes no room"
        );
        let mut owned = LineFields::in_arena(&mut arena, fields);
        owned.own(&arena);
        let own = Request::with_fields([(Slot::Method, "GET"), (Slot::Path, "/x/1")]);
        fn observed(fields: LineFields, arena: &str) -> Request {
            Observed {
                head: Request::default(),
                fields,
                arena,
            }
            .into_request()
        }
        for fields in [in_arena, owned] {
            let r = observed(fields, &arena);
            assert_eq!(r, own);
            assert_eq!(
                (r.method(), r.path(), r.route()),
                (Some("GET"), Some("/x/1"), None)
            );
        }
        let mut twice = LineFields::in_arena(&mut arena, fields);
        twice.own(&arena);
        twice.own("");
        assert_eq!(
            observed(twice, "").path(),
            Some("/x/1"),
            "owning twice changes nothing"
        );
    }

    #[test]
    fn field_index_matches_request_slots() {
        for slot in Slot::ALL {
            let at = REQUEST_SLOTS.iter().position(|s| *s == slot);
            assert_eq!(field_index(slot), at, "{slot:?}");
        }
    }

    #[test]
    fn merged_fields_come_from_every_line_and_printed_path_wins() {
        let mut span = obs(1, 1, "GET", "/x/{id}", None, Some(3.0));
        span.set_field(Slot::Path, "/x/{id}");
        span.set_field(Slot::TraceId, "t-1");
        let mut access = obs(1, 2, "GET", "/x/{id}", Some(200), None);
        access.set_field(Slot::Path, "/x/42?q=1");
        access.set_field(Slot::ClientIp, "10.0.0.1");
        access.set_field(Slot::TraceId, "ignored: first value wins");
        let out = run(vec![(span, 0), (access, 2)]);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.path(), Some("/x/42?q=1"));
        assert_eq!(r.trace_id(), Some("t-1"));
        assert_eq!(r.client_ip(), Some("10.0.0.1"));
        assert_eq!((r.method(), r.route()), (Some("GET"), Some("/x/{id}")));
        assert_eq!((r.request_id(), r.agent_id()), (None, None));
        assert_eq!(r.field(Slot::Message), None);
    }
}
