//! Correlation: events and requests that share an identifier join one group, across services
//! and sources (union of identifiers).
//!
//! * **Linking** identifiers (per service, declared in `parsers/*.toml` `[correlation] link`;
//!   default `trace_id`, `request_id`, `conn_id`, `agent_id`) merge groups: an event carrying
//!   ids of two open groups unites them.
//! * **Labelling** identifiers (default `client_ip`, `user_id`, `span_id`) are recorded on the
//!   group of an event that also has a linking id, but never create or merge groups — one client
//!   ip behind a NAT must not glue unrelated requests together. `span_id` only labels because
//!   a span id always comes with its trace id, which links; `user_id` because SkillMeat logs
//!   it as `null` in every capture (`fixtures/samples/`).
//!
//! Invariants:
//! * Event time only. Each stream (pod, container, stdout/stderr of an input) keeps its own
//!   clock (the latest event time read from it); a group closes when it has been idle for
//!   longer than the window by the clock of the stream being read, so a stream whose clock is
//!   behind never closes groups that are "in its future": `kubectl logs -l … --prefix` without
//!   `-f` prints pod after pod, each going back in time. A batch run reads its inputs one after
//!   another and each starts its clocks again, so while inputs of another timeline are still
//!   to come no group closes for idleness ([`StreamClocks`]): `skillmeat.log skreaver.log`
//!   correlates the same in either order. Open groups are then bounded by the cap alone.
//!   The price: while a later timeline is still to come, an id reused inside an earlier input
//!   after an idle gap longer than the window (an `agent_id` active at 06:00 and again at
//!   09:00) stays one group, where that file read alone gives two. Per-request ids are not
//!   reused, so their groups are the same either way.
//! * A request is counted in the group of its own events: an event dated more than the window
//!   before its stream's clock (a jump back) counts as active at the clock, so its group stays
//!   open for the rest of its request. A request that waits for its last line (until its
//!   stream's next request line, which may come much later: a quiet pod, a clock jumping
//!   ahead) pins the group of its first correlated line ([`Pin`]): that group does not close
//!   for idleness until the request is delivered, then closes when idle as any other. Idle past
//!   the window, it is parked: an observation more than the window after its last activity
//!   takes its ids to a group of its own, as if it had closed (kept as `left`, shown, out of
//!   `by_id`), so the same agent's next request an hour later does not join it; the waiting
//!   request, delivered, joins it through its pin (followed through merges), not its ids. Only a
//!   request whose group was evicted meanwhile finds it closed: it starts no group of its own
//!   (`late_requests`). So an id names two groups only when it came back after the window or
//!   after an eviction.
//! * Memory is bounded: at most `max_open` groups are open; beyond that the least recently
//!   active group is closed early and counted in `evicted` — a pinned one only when every open
//!   group is pinned. Ids are held only by open groups.
//! * Results depend only on the order of observations, which the merger delivers in input
//!   order, so they do not depend on chunking or thread count.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::LazyLock;

use hashbrown::HashTable;

use serde::Serialize;
use smallvec::SmallVec;

// `trace` is its own module; its types keep their paths here too.
use crate::event::{Event, Slot};
use crate::parse::Registry;
use crate::time::{Nanos, format_rfc3339_nanos};
pub use crate::trace::{
    SlowestRequest, Timeline, TimelineEvent, TimelineGroup, TraceSink, check_target,
};

/// How far event time has got in each stream, for closing idle correlation groups (threshold
/// rules need no clock: they settle at the end).
///
/// Each stream (an input's pod, container and stdout/stderr; `Origin::clock`) keeps its own
/// clock, the latest event time read from it. One input often concatenates streams that go back
/// in time: `kubectl logs -l app=x --prefix` without `-f` prints pod after pod, and a batch run
/// reads its files one after another, each starting its clock again. A window may only close
/// when nothing still to be read can reach back into it, so a stream closes only what is idle
/// by its own clock, and while inputs of another timeline are still to come (an input below
/// [`StreamClocks::hold_below`]) nothing closes for idleness — bounded memory is then the
/// cap's job (open groups). The streams of one rotated set (`app.log.2.gz`, `app.log.1`,
/// `app.log`, oldest first) continue one clock; a followed run merges its inputs in time order,
/// so no input holds the others. A stream that releases its state ([`crate::streams`]) loses
/// its clock ([`StreamClocks::forget`]): should it write again, its clock starts from there.
#[derive(Clone, Debug, Default)]
pub struct StreamClocks {
    /// Per clock (a stream key): the latest event time read from it.
    clocks: crate::pipeline::StreamMap<Nanos>,
    /// Inputs below this index are followed by inputs of another timeline.
    hold_below: u32,
}

impl StreamClocks {
    /// Inputs before `first` are followed by another timeline's inputs (the first input of
    /// the last timeline; 0 when no input holds the others).
    pub fn hold_below(&mut self, first: u32) {
        self.hold_below = first;
    }

    /// Note an event time of stream `clock`; its clock (`Nanos::MIN` before any time).
    pub fn advance(&mut self, clock: u64, ts: Option<Nanos>) -> Nanos {
        let c = self.clocks.entry(clock).or_insert(Nanos::MIN);
        if let Some(t) = ts {
            *c = (*c).max(t);
        }
        *c
    }

    /// Stream `clock` released its state ([`crate::streams`]): should it write again, its
    /// clock starts again from that line's time.
    pub fn forget(&mut self, clock: u64) {
        self.clocks.remove(&clock);
    }

    /// Streams with a clock.
    pub fn len(&self) -> usize {
        self.clocks.len()
    }

    /// No stream has a clock.
    pub fn is_empty(&self) -> bool {
        self.clocks.is_empty()
    }

    /// The clock by which windows may close while stream `clock` of input `source` is read:
    /// `None` while inputs of another timeline are still to come, or before any event time.
    pub fn closing(&self, source: u32, clock: u64) -> Option<Nanos> {
        self.closing_at(source, *self.clocks.get(&clock)?)
    }

    /// [`StreamClocks::closing`] with the stream's clock given (what [`StreamClocks::advance`]
    /// just returned): no second look-up.
    fn closing_at(&self, source: u32, clock: Nanos) -> Option<Nanos> {
        (source >= self.hold_below && clock != Nanos::MIN).then_some(clock)
    }
}

/// Default `--correlation-window`: 10 minutes.
pub const DEFAULT_WINDOW_NS: Nanos = 600 * 1_000_000_000;
/// Default cap on open groups.
pub const DEFAULT_MAX_OPEN: usize = 100_000;
/// Groups listed in the report.
pub const TOP: usize = 10;
/// Identifiers kept per group for display (all linking ids are tracked while open).
const SHOWN_IDS: usize = 8;
/// Labels kept per group.
const MAX_LABELS: usize = 8;
/// Ids and labels a group holds without allocating: a request's group typically has two of
/// each (request and trace ids; span id and client address).
const GROUP_INLINE: usize = 2;
/// Sources kept per group.
const MAX_SOURCES: usize = 16;

/// Correlation settings.
#[derive(Clone, Copy, Debug)]
pub struct CorrelationSettings {
    /// Idle time after which a group closes (event time).
    pub window_ns: Nanos,
    /// Most open groups.
    pub max_open: usize,
}

impl Default for CorrelationSettings {
    fn default() -> Self {
        CorrelationSettings {
            window_ns: DEFAULT_WINDOW_NS,
            max_open: DEFAULT_MAX_OPEN,
        }
    }
}

/// Most identifiers one event or request carries (each identifier slot at most once: the
/// kinds of a service are distinct, [`IdKinds`]). Small, so an [`Ids`] is cheap to move.
const MAX_IDS: usize = Slot::IDS.len();

/// Identifiers of one event or request. The values share one string, so a copy costs one
/// allocation whatever the number of identifiers; a parse worker writes them to its per-chunk
/// arena instead ([`Ids::new_in`]), which the merger reads them from
/// ([`Observation::arena`]), copying them out ([`Ids::resolve`]) only for events that outlive
/// their chunk (the `--follow` reorder buffer): no buffer is allocated by one thread and freed
/// by another.
#[derive(Clone, Debug, PartialEq)]
pub struct Ids {
    text: String,
    /// Per identifier: its slot and whether it links (else it labels).
    kinds: [(Slot, bool); MAX_IDS],
    /// Per identifier: where its value ends in `text` (it starts where the previous one ends).
    ends: [u32; MAX_IDS],
    /// Per linking identifier: its [`id_hash`], computed where the set is made (a parse worker,
    /// in parallel), so the merger's index look-ups hash nothing. 32 bits keep the set small
    /// (it is moved several times on its way to the merger).
    hashes: [u32; MAX_IDS],
    len: u8,
    /// Where the values start in the arena, until [`Ids::resolve`] (no value reads as present
    /// before).
    arena_start: Option<u32>,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            text: String::new(),
            kinds: [(Slot::TraceId, false); MAX_IDS],
            ends: [0; MAX_IDS],
            hashes: [0; MAX_IDS],
            len: 0,
            arena_start: None,
        }
    }
}

impl Ids {
    /// Identifiers from `(slot, links?, value)` triples; past [`MAX_IDS`] they are ignored.
    pub fn new<'v>(values: impl IntoIterator<Item = (Slot, bool, &'v str)> + Clone) -> Ids {
        let total = values.clone().into_iter().map(|(_, _, v)| v.len()).sum();
        let mut ids = Ids {
            text: String::with_capacity(total),
            ..Ids::default()
        };
        for (slot, link, v) in values {
            ids.push(slot, link, v);
        }
        ids
    }

    /// [`Ids::new`], with the values appended to `arena` (a parse worker's per-chunk buffer):
    /// they read as absent until [`Ids::resolve`] with the same arena.
    pub fn new_in<'v>(
        arena: &mut String,
        values: impl IntoIterator<Item = (Slot, bool, &'v str)>,
    ) -> Ids {
        let Ok(start) = u32::try_from(arena.len()) else {
            return Ids::default();
        };
        let mut ids = Ids {
            text: std::mem::take(arena),
            arena_start: Some(start),
            ..Ids::default()
        };
        for (slot, link, v) in values {
            ids.push(slot, link, v);
        }
        // Ends were recorded from the arena's start: make them relative to this set's start.
        for end in &mut ids.ends[..usize::from(ids.len)] {
            *end -= start;
        }
        *arena = std::mem::take(&mut ids.text);
        ids
    }

    /// Copy the values of an [`Ids::new_in`] set out of its arena.
    pub fn resolve(&mut self, arena: &str) {
        let Some(start) = self.arena_start.take() else {
            return;
        };
        let end = match usize::from(self.len).checked_sub(1) {
            Some(last) => start as usize + self.ends[last] as usize,
            None => start as usize,
        };
        self.text = arena.get(start as usize..end).unwrap_or("").to_string();
    }

    fn push(&mut self, slot: Slot, link: bool, value: &str) {
        let (n, end) = (usize::from(self.len), self.text.len() + value.len());
        let Ok(end) = u32::try_from(end) else { return };
        if n == MAX_IDS {
            return;
        }
        self.text.push_str(value);
        self.kinds[n] = (slot, link);
        self.ends[n] = end;
        if link {
            self.hashes[n] = short_hash(id_hash(slot, value));
        }
        self.len += 1;
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = (Slot, bool, &str)> {
        self.all_in(None)
    }

    /// The text the values are in: the arena while they are in one ([`Ids::new_in`]); `None`
    /// when that arena is not given (they read as absent).
    fn text_in<'s>(&'s self, arena: Option<&'s str>) -> Option<&'s str> {
        match (self.arena_start, arena) {
            (None, _) => Some(self.text.as_str()),
            (Some(start), Some(arena)) => Some(arena.get(start as usize..).unwrap_or("")),
            (Some(_), None) => None,
        }
    }

    /// The value of identifier `i` in `text` (from [`Ids::text_in`]).
    fn value_in<'s>(&self, i: usize, text: &'s str) -> &'s str {
        let from = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        text.get(from..self.ends[i] as usize).unwrap_or("")
    }

    /// Every identifier; one still in a chunk's arena ([`Ids::new_in`]) is read from `arena`
    /// when given, else reads as absent.
    fn all_in<'s>(&'s self, arena: Option<&'s str>) -> impl Iterator<Item = (Slot, bool, &'s str)> {
        let text = self.text_in(arena);
        let n = text.map_or(0, |_| usize::from(self.len));
        let text = text.unwrap_or("");
        (0..n).map(move |i| {
            let (slot, link) = self.kinds[i];
            (slot, link, self.value_in(i, text))
        })
    }

    /// Linking identifiers, in order.
    pub fn links(&self) -> impl Iterator<Item = (Slot, &str)> {
        self.all().filter(|p| p.1).map(|(s, _, v)| (s, v))
    }

    /// Labelling identifiers, in order.
    pub fn labels(&self) -> impl Iterator<Item = (Slot, &str)> {
        self.all().filter(|p| !p.1).map(|(s, _, v)| (s, v))
    }

    /// Whether any identifier links (labels alone place nothing in a group).
    pub fn has_links(&self) -> bool {
        self.kinds[..usize::from(self.len)].iter().any(|k| k.1)
    }
}

/// Which identifier kinds link and which label, per service (each kind at most once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdKinds {
    /// Kinds that link groups.
    pub link: Vec<Slot>,
    /// Kinds that only label them.
    pub label: Vec<Slot>,
}

impl IdKinds {
    /// The kinds, each listed once (a kind listed twice counts once: an event's [`Ids`] hold
    /// each slot at most once).
    pub fn distinct(mut link: Vec<Slot>, mut label: Vec<Slot>) -> IdKinds {
        let mut seen = Vec::with_capacity(link.len() + label.len());
        for v in [&mut link, &mut label] {
            v.retain(|s| {
                let new = !seen.contains(s);
                seen.push(*s);
                new
            });
        }
        IdKinds { link, label }
    }
}

impl Default for IdKinds {
    fn default() -> Self {
        IdKinds {
            link: vec![Slot::TraceId, Slot::RequestId, Slot::ConnId, Slot::AgentId],
            label: vec![Slot::ClientIp, Slot::UserId, Slot::SpanId],
        }
    }
}

/// Copy the identifiers of an event, into `arena` when given ([`Ids::new_in`]); `None` when it
/// has no linking identifier (labels alone never place an event in a group).
pub fn ids_of(ev: &Event<'_>, reg: &Registry, arena: Option<&mut String>) -> Option<Ids> {
    let kinds = reg.id_kinds(ev.service);
    let value = |slot: Slot| ev.get(slot).filter(|v| usable_id(v));
    // Gathered by plain loops (this runs for every event): links, then labels if any link.
    let mut found = [(Slot::TraceId, false, ""); MAX_IDS];
    let mut n = 0;
    for (kinds, link) in [(&kinds.link, true), (&kinds.label, false)] {
        if !link && n == 0 {
            return None;
        }
        for &slot in kinds {
            if let Some(v) = value(slot)
                && let Some(cell) = found.get_mut(n)
            {
                *cell = (slot, link, v);
                n += 1;
            }
        }
    }
    let values = found[..n].iter().copied();
    Some(match arena {
        Some(arena) => Ids::new_in(arena, values),
        None => Ids::new(values),
    })
}

/// An identifier value that names something: not blank, `null`, `None` or `-` (what loggers
/// print for a missing id). Ids rarely have surrounding space, so the Unicode-aware trim runs
/// only when an end byte is ASCII whitespace or not ASCII at all.
fn usable_id(v: &str) -> bool {
    let b = v.as_bytes();
    let plain = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii() && !c.is_ascii_whitespace());
    let v = if plain(b.first()) && plain(b.last()) {
        v
    } else {
        v.trim()
    };
    !v.is_empty() && v != "null" && v != "None" && v != "-"
}

/// One observation: an event or a merged request.
pub struct Observation<'o> {
    /// Event time.
    pub ts: Option<Nanos>,
    /// Input index.
    pub source: u32,
    /// The stream's event-time clock ([`crate::pipeline::Origin::clock`]).
    pub clock: u64,
    /// Service index.
    pub service: u16,
    /// Level error or worse (events), 5xx (requests).
    pub error: bool,
    /// Identifiers.
    pub ids: &'o Ids,
    /// The arena of `ids` when they are still in one ([`Ids::new_in`]): the merger reads them
    /// from their chunk's arena instead of copying each set out of it.
    pub arena: Option<&'o str>,
    /// A request: its latency and its short description (`GET /x → 500`), built only when
    /// the request becomes its group's slowest (formatting every request costs more than
    /// the rest of an observation).
    pub request: Option<(Option<f64>, &'o dyn Fn() -> String)>,
    /// A request whose own events already joined a group ([`crate::request::Request::grouped`]):
    /// it joins an open group of its ids but never starts one, so its id cannot name a second
    /// group when theirs closed before the request was complete (counted in `late_requests`).
    pub joins_only: bool,
    /// The pin of a waiting request being delivered ([`Correlator::pin_last`]): it joins the
    /// group it pinned while that is open (followed through merges, not found through its ids,
    /// which may have left it for a newer group; those it does not merge).
    pub pin: Option<Pin>,
}

/// An identifier as stored: one byte for its kind (`a` + slot index), then the value.
type IdKey = Rc<str>;

fn encode(slot: Slot, value: &str, buf: &mut String) {
    buf.clear();
    buf.push(char::from(b'a' + slot as u8));
    buf.push_str(value);
}

/// Whether stored identifier `key` is `value` of kind `slot` (compared as stored: no encoding).
fn names(key: &str, slot: Slot, value: &str) -> bool {
    key.as_bytes().split_first() == Some((&(b'a' + slot as u8), value.as_bytes()))
}

/// The seed of [`id_hash`]: random per process, as identifiers come from the input, and one
/// for all threads, as parse workers hash what the merger looks up.
static ID_HASHER: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

/// The hash of an identifier (its kind and value) in the index of open groups
/// ([`Correlator`]'s `by_id`): computed once, where its [`Ids`] are made.
fn id_hash(slot: Slot, value: &str) -> u64 {
    let mut h = ID_HASHER.build_hasher();
    h.write_u8(slot as u8);
    h.write(value.as_bytes());
    h.finish()
}

/// An [`id_hash`] as [`Ids`] carry it.
fn short_hash(hash: u64) -> u32 {
    // The low half: foldhash's are as good as its high half.
    hash as u32
}

/// A hash for the index from a [`short_hash`]: hashbrown takes the bucket from the low bits
/// and a tag from the top 7, so both halves get the 32 bits.
fn table_hash(short: u32) -> u64 {
    u64::from(short) << 32 | u64::from(short)
}

/// An entry of the identifier index: an id of an open group, its hash there ([`table_hash`],
/// kept for the table's growth) and the group's slot in [`OpenGroups`].
#[derive(Clone, Debug)]
struct IdEntry {
    key: IdKey,
    hash: u64,
    slot: u32,
}

/// An identifier as the report shows it (`request_id:abc`), from its stored form: what a
/// group's representative ([`Correlator::observe`]) is printed as.
pub fn decode(key: &str) -> String {
    let kind = key
        .as_bytes()
        .first()
        .and_then(|b| Slot::ALL.get(usize::from(b.wrapping_sub(b'a'))))
        .map_or("id", |s| s.name());
    format!("{kind}:{}", key.get(1..).unwrap_or(""))
}

/// In declaration order (`repr(C)`): the fields the idle queues check for every entry they
/// look at ([`IdleQueue::oldest`], [`Correlator::oldest_unpinned`]) first, in one cache line.
#[derive(Debug, Clone)]
#[repr(C)]
struct Group {
    /// The group's id: its creation number, never reused (what `observe` returns).
    seq: u64,
    /// Ordering key in `idle` (last activity by the reading clock).
    touched: Nanos,
    /// Waiting requests that hold it open ([`Pin`]).
    pins: u32,
    /// Idle while pinned: its entry moved from `idle` to `parked` ([`Correlator::parked`]).
    parked: bool,
    /// The representative identifier: the first linking id of the group's first observation
    /// (shared with `ids`, so it costs no allocation; [`decode`] prints it).
    rep: Option<IdKey>,
    /// Its linking ids, each with its hash in `by_id` ([`table_hash`]): every one is there,
    /// pointing here (merges re-point and closes remove them without hashing again).
    ids: SmallVec<[(IdKey, u64); GROUP_INLINE]>,
    /// Ids that left it for a newer group while it was parked idle past the window
    /// ([`Correlator::observe`]): shown among its identifiers, no longer in `by_id`.
    left: Vec<IdKey>,
    labels: SmallVec<[IdKey; GROUP_INLINE]>,
    services: u64,
    sources: SourceList,
    events: u64,
    errors: u64,
    requests: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
    slowest: Option<(f64, String)>,
}

/// A waiting request's hold on the group of its first correlated line
/// ([`Correlator::pin_last`]): the group does not close for idleness, and is evicted only when
/// every open group is pinned, until the request is delivered ([`Correlator::unpin`]). Without
/// it, a request that waits for its last line until its stream's next request line (Skreaver's
/// `response failed` comes only for a 5xx) found its group closed when that line came more
/// than the window later (a quiet pod), and was counted in `late_requests` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The group's slot and id when pinned; a group merged away since is followed through
    /// [`Correlator::moved`].
    slot: u32,
    seq: u64,
}

/// Where the pins of a group merged away went ([`Correlator::moved`]).
#[derive(Clone, Copy, Debug)]
struct Moved {
    /// The survivor's slot and id.
    slot: u32,
    seq: u64,
    /// Pins still naming the group merged away.
    pins: u32,
}

/// The inputs a group was seen in, in order of first sight (at most [`MAX_SOURCES`]): the
/// first inline, as nearly every group has only one (no allocation per group).
#[derive(Debug, Default, Clone)]
struct SourceList {
    first: Option<u32>,
    more: Vec<u32>,
}

impl SourceList {
    fn add(&mut self, source: u32) {
        match self.first {
            None => self.first = Some(source),
            Some(f) if f == source => {}
            Some(_) => {
                if self.more.len() + 1 < MAX_SOURCES && !self.more.contains(&source) {
                    self.more.push(source);
                }
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }
}

/// A closed group as the report shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupReport {
    /// Representative identifier (`kind:value`, the first linking id seen).
    pub id: String,
    /// Linking identifiers (the first few).
    pub identifiers: Vec<String>,
    /// Number of linking identifiers.
    pub identifier_count: usize,
    /// Labelling identifiers.
    pub labels: Vec<String>,
    /// Services involved.
    pub services: Vec<String>,
    /// Inputs involved.
    pub sources: Vec<String>,
    /// Events.
    pub events: u64,
    /// Events at level error or worse.
    pub errors: u64,
    /// Requests.
    pub requests: u64,
    /// First event time.
    pub first: Option<String>,
    /// Last event time.
    pub last: Option<String>,
    /// `last - first`, ms.
    pub span_ms: f64,
    /// The slowest request (description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slowest_request: Option<String>,
}

/// Why a group closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Idle for longer than the correlation window (event time).
    Idle,
    /// Closed early because the cap on open groups was reached: later events with its ids
    /// start a new group.
    Evicted,
    /// Still open when the input ended.
    EndOfInput,
    /// Still open when an interrupt (Ctrl-C, SIGTERM during an export) stopped the reading:
    /// the unread input may have gone on with it.
    Interrupted,
}

impl CloseReason {
    /// The name in `groups.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle",
            CloseReason::Evicted => "evicted",
            CloseReason::EndOfInput => "end_of_input",
            CloseReason::Interrupted => "interrupted",
        }
    }
}

/// A closed group with every identifier, for evidence (`groups.parquet`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedGroup {
    /// The group; `identifiers` lists all of them.
    pub report: GroupReport,
    /// First event time.
    pub first_ns: Option<Nanos>,
    /// Last event time.
    pub last_ns: Option<Nanos>,
    /// Why it closed.
    pub reason: CloseReason,
}

/// The `correlation` section of the report.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CorrelationReport {
    /// Groups formed (after merging).
    pub groups: u64,
    /// Groups closed early because `max_open_groups` was reached.
    pub evicted: u64,
    /// Times two open groups were united by an event carrying ids of both.
    pub merges: u64,
    /// Requests that found the group of their own events closed when they were complete
    /// (evicted while the request waited for its last line: a waiting request's group does not
    /// close for idleness, [`Pin`]): they start no group of their own.
    #[serde(skip_serializing_if = "is_zero")]
    pub late_requests: u64,
    /// `--correlation-window`, seconds.
    pub window_seconds: f64,
    /// Cap on open groups.
    pub max_open_groups: usize,
    /// Most open groups at any time.
    pub peak_open_groups: usize,
    /// Groups ranked by errors, then span, then events.
    pub top: Vec<GroupReport>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A closed group kept for ranking.
#[derive(Clone, Debug)]
struct Closed {
    errors: u64,
    span: Nanos,
    events: u64,
    report: GroupReport,
}

/// Hasher for group ids: sequential counters assigned here, never input, so one multiply
/// (Fibonacci hashing) spreads them well and no flooding is possible. Identifier strings, which
/// come from the input, use the seeded [`crate::FastMap`].
#[derive(Default)]
pub(crate) struct GroupIdHasher(u64);

impl Hasher for GroupIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type GroupMap<V> = HashMap<u64, V, BuildHasherDefault<GroupIdHasher>>;

/// Open groups by last activity, oldest first: a min-heap of `(touched, group)` entries that
/// are brought up to date only when they reach the top. Touching a group changes nothing here
/// (this runs for every observation); when an entry surfaces whose group was touched since, it
/// goes back in with the group's current time, and an entry of a group that is no longer open
/// is dropped.
///
/// Invariant: every open group of the queue (in `idle`: not parked; in `parked`: parked, where
/// a group parked again may have a second entry) has an entry whose time is at most its
/// `touched` (a group's `touched` only grows, and group ids are never reused); in `idle`,
/// exactly one. So when the top entry's time equals its group's `touched`, no group of the
/// queue was active less recently. Entries of groups merged
/// into others stay until they surface; when they outnumber the open groups, the heap is rebuilt
/// (so it stays below `2 × open + COMPACT_SLACK` entries).
#[derive(Default, Clone)]
struct IdleQueue {
    /// `(touched, group id, slot)`: the id orders groups active at the same time by age and
    /// tells whether the slot still holds the group.
    heap: BinaryHeap<Reverse<(Nanos, u64, u32)>>,
}

/// Entries of merged groups tolerated before a rebuild is considered.
const COMPACT_SLACK: usize = 1024;

impl IdleQueue {
    /// A group was created, or entered this queue.
    fn push(&mut self, touched: Nanos, seq: u64, slot: u32) {
        self.heap.push(Reverse((touched, seq, slot)));
    }

    /// Entries went stale (groups merged away, or left `parked`): drop them if there are too
    /// many. The queue holds the groups whose `parked` is `parked` (`live` of them).
    fn compact(&mut self, open: &OpenGroups, parked: bool, live: usize) {
        if self.heap.len() > 2 * live + COMPACT_SLACK {
            self.heap = open
                .iter()
                .filter(|(_, g)| g.parked == parked)
                .map(|(slot, g)| Reverse((g.touched, g.seq, slot)))
                .collect();
        }
    }

    /// The time of the top entry: a lower bound of every open group's `touched`.
    fn earliest(&self) -> Option<Nanos> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The least recently active open group whose `parked` is `parked` (its time and slot),
    /// updating and dropping entries on the way.
    fn oldest(&mut self, open: &OpenGroups, parked: bool) -> Option<(Nanos, u32)> {
        while let Some(&Reverse((t, seq, slot))) = self.heap.peek() {
            match open
                .get(slot)
                .filter(|g| g.seq == seq && g.parked == parked)
            {
                Some(g) if g.touched == t => return Some((t, slot)),
                Some(g) => {
                    if let Some(mut top) = self.heap.peek_mut() {
                        *top = Reverse((g.touched, seq, slot));
                    }
                }
                None => {
                    self.heap.pop();
                }
            }
        }
        None
    }
}

/// The open groups, each in a slot of a vector that the identifier index points into: one
/// indexed load per look-up where a hash map of 200-byte groups cost a probe and a bucket.
/// Slots of closed groups are reused; [`Group::seq`] tells a group from an earlier one in the
/// same slot.
#[derive(Default, Clone)]
struct OpenGroups {
    slots: Vec<Option<Group>>,
    free: Vec<u32>,
    len: usize,
}

impl OpenGroups {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, slot: u32) -> Option<&Group> {
        self.slots.get(slot as usize)?.as_ref()
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Group> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    fn insert(&mut self, g: Group) -> u32 {
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(g);
                slot
            }
            None => {
                self.slots.push(Some(g));
                // More than u32::MAX open groups cannot fit in memory anyway.
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn remove(&mut self, slot: u32) -> Option<Group> {
        let g = self.slots.get_mut(slot as usize)?.take()?;
        self.len -= 1;
        self.free.push(slot);
        Some(g)
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &Group)> {
        (0u32..)
            .zip(&self.slots)
            .filter_map(|(slot, g)| Some((slot, g.as_ref()?)))
    }
}

/// The correlation state (lives in the merger thread).
#[derive(Clone)]
pub struct Correlator {
    settings: CorrelationSettings,
    open: OpenGroups,
    /// Every identifier of an open group → the group's slot in `open`, found by the hash its
    /// [`Ids`] carry ([`table_hash`]).
    by_id: HashTable<IdEntry>,
    /// Open groups not parked, by last activity.
    idle: IdleQueue,
    /// Pinned groups that were found idle ([`Pin`]), by last activity: out of `idle`, so they
    /// cost idle closing nothing; the eviction takes one only when `idle` is empty.
    parked: IdleQueue,
    /// Groups in `parked`.
    parked_n: usize,
    /// Pinned groups merged away, by id: where their pins went. An entry goes with the last
    /// pin naming it.
    moved: GroupMap<Moved>,
    /// The slot of the group of the last observation (`u32::MAX`: none), for
    /// [`Correlator::pin_last`].
    last: u32,
    clocks: StreamClocks,
    next_id: u64,
    groups: u64,
    evicted: u64,
    merges: u64,
    peak_open: usize,
    top: Vec<Closed>,
    services: Vec<String>,
    sources: Vec<String>,
    /// Requests that found the group of their events closed ([`Observation::joins_only`]).
    late_requests: u64,
    /// Trace mode: merges and closes not yet taken ([`Correlator::drain_changes`]).
    changes: Option<Vec<Change>>,
    buf: String,
    /// Scratch for [`Correlator::observe`]: slots of the groups its linking ids belong to.
    found: Vec<u32>,
    /// Closed groups not yet taken ([`Correlator::keep_closed`]).
    outbox: Option<Vec<ClosedGroup>>,
    /// Groups (by id) merged into another or renamed (an earlier event read later), for
    /// [`Correlator::current_name`]; at most [`MAX_RENAMES`]. `None` unless
    /// [`Correlator::track_renames`].
    renamed: Option<GroupMap<Renamed>>,
}

/// A change to the open groups ([`Correlator::record_changes`]), by group id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Group `from` was merged into group `into` (both open).
    Merged {
        /// The group merged away.
        from: u64,
        /// The survivor.
        into: u64,
    },
    /// The group closed (idle, evicted or at the end): nothing joins it any more.
    Closed(u64),
}

/// What became of a group ([`Correlator::track_renames`]).
#[derive(Clone, Debug)]
enum Renamed {
    /// Merged into the group of this id.
    Into(u64),
    /// Its name now.
    Name(IdKey),
}

/// Renames remembered for findings' evidence; beyond it, evidence may name an earlier name of
/// its group.
const MAX_RENAMES: usize = 100_000;

impl Correlator {
    /// An empty correlator; `services` and `sources` name indices in the report.
    pub fn new(settings: CorrelationSettings, services: Vec<String>, sources: Vec<String>) -> Self {
        Correlator {
            settings: CorrelationSettings {
                window_ns: settings.window_ns.max(1),
                max_open: settings.max_open.max(1),
            },
            open: OpenGroups::default(),
            by_id: HashTable::new(),
            idle: IdleQueue::default(),
            parked: IdleQueue::default(),
            parked_n: 0,
            moved: GroupMap::default(),
            last: u32::MAX,
            clocks: StreamClocks::default(),
            next_id: 0,
            groups: 0,
            evicted: 0,
            merges: 0,
            peak_open: 0,
            top: Vec::new(),
            services,
            sources,
            late_requests: 0,
            changes: None,
            buf: String::new(),
            found: Vec::new(),
            outbox: None,
            renamed: None,
        }
    }

    /// Remember renamed groups, so that names handed out earlier (findings' evidence) can be
    /// brought up to date ([`Correlator::current_name`]).
    pub fn track_renames(&mut self) {
        self.renamed = Some(GroupMap::default());
    }

    /// The name that now stands for group `id`, handed out as `name` ([`Correlator::observe`]):
    /// through its merges, the survivor's name now. Ids are never reused and a group merged
    /// away is gone, so a chain of merges cannot loop; a group that only closed keeps its name.
    pub fn current_name(&self, id: u64, name: &IdKey) -> IdKey {
        let Some(r) = &self.renamed else {
            return name.clone();
        };
        let mut at = id;
        let mut now = name.clone();
        // Each step is a merge: the bound is only a guard.
        for _ in 0..=r.len() {
            match r.get(&at) {
                Some(Renamed::Into(next)) => at = *next,
                Some(Renamed::Name(n)) => {
                    now = n.clone();
                    break;
                }
                None => break,
            }
        }
        now
    }

    fn note(renamed: &mut Option<GroupMap<Renamed>>, id: u64, what: Renamed) {
        if let Some(r) = renamed.as_mut()
            && (r.len() < MAX_RENAMES || r.contains_key(&id))
        {
            r.insert(id, what);
        }
    }

    /// Keep every closed group for [`Correlator::take_closed`] (the export's `groups.parquet`).
    pub fn keep_closed(&mut self) {
        self.outbox = Some(Vec::new());
    }

    /// The groups closed since the last call, in closing order.
    pub fn take_closed(&mut self) -> Vec<ClosedGroup> {
        self.outbox.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Name the next source (an input added while following: its id is the next index).
    pub fn add_source(&mut self, name: String) {
        self.sources.push(name);
    }

    /// Record merges and closes for [`Correlator::drain_changes`] (trace: what a sink holds per
    /// group follows them).
    pub fn record_changes(&mut self) {
        self.changes = Some(Vec::new());
    }

    /// Move the merges and closes since the last call, in order, to `into` (both keep their
    /// capacity: this runs for every observation).
    pub fn drain_changes(&mut self, into: &mut Vec<Change>) {
        if let Some(c) = self.changes.as_mut() {
            into.append(c);
        }
    }

    /// Open groups now.
    pub fn open_groups(&self) -> usize {
        self.open.len()
    }

    /// Inputs before `first` are followed by inputs of another timeline: no group closes for
    /// idleness while they are read ([`StreamClocks`]).
    pub fn hold_below(&mut self, first: u32) {
        self.clocks.hold_below(first);
    }

    /// Stream `clock` released its state ([`crate::streams`]): its clock goes.
    pub fn forget_clock(&mut self, clock: u64) {
        self.clocks.forget(clock);
    }

    /// Streams with a clock (bounded by the streams with state).
    pub fn stream_clocks(&self) -> usize {
        self.clocks.len()
    }

    /// Add an observation; returns its group's id and representative identifier.
    pub fn observe(&mut self, o: &Observation<'_>) -> Option<(u64, Rc<str>)> {
        self.last = u32::MAX;
        if !o.ids.has_links() {
            return None;
        }
        let now = self.clocks.advance(o.clock, o.ts);
        // Groups last active before this are idle: closed, or parked when pinned.
        let idle_before = self
            .clocks
            .closing_at(o.source, now)
            .map(|clock| clock.saturating_sub(self.settings.window_ns));
        if let Some(before) = idle_before {
            self.close_idle(before);
        }
        // A waiting request delivered to its pinned group, idle past the window: it joins that
        // group alone (its ids may name a newer group by now), without waking it up.
        let stale = |g: &Group| g.parked && idle_before.is_some_and(|b| g.touched < b);
        // A waiting request being delivered joins the group it pinned while that is open
        // (whatever group its ids name by now), with the other groups of its ids as usual.
        let pinned = o.pin.and_then(|p| self.pinned_slot(p));
        // Delivered to a group idle past the window, it does not wake that group up.
        let pinned_stale = pinned.is_some_and(|p| self.open.get(p).is_some_and(stale));
        // Groups this observation's linking ids already belong to, and which ids are new (bit
        // per link; links past the 64th are looked up again below).
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        if let Some(p) = pinned {
            found.push(p);
        }
        // Where the links and labels are in `o.ids` (positions: no copies of values to set up).
        let text = o.ids.text_in(o.arena);
        let n = text.map_or(0, |_| usize::from(o.ids.len));
        let text = text.unwrap_or("");
        let (mut links, mut labels) = ([0u8; MAX_IDS], [0u8; MAX_IDS]);
        let (mut n_links, mut n_labels) = (0, 0);
        for (i, &(_, link)) in (0u8..).zip(&o.ids.kinds[..n]) {
            let (list, len) = if link {
                (&mut links, &mut n_links)
            } else {
                (&mut labels, &mut n_labels)
            };
            list[*len] = i;
            *len += 1;
        }
        let links = &links[..n_links];
        let labels = &labels[..n_labels];
        // Identifier `i` of `o.ids`: its kind, value and index hash.
        let id = |i: u8| {
            let i = usize::from(i);
            let slot = o.ids.kinds[i].0;
            (slot, o.ids.value_in(i, text), table_hash(o.ids.hashes[i]))
        };
        let mut known: u64 = 0;
        for (i, (slot, v, hash)) in links.iter().map(|&k| id(k)).enumerate() {
            let owner = self
                .by_id
                .find(hash, |e| names(&e.key, slot, v))
                .map(|e| e.slot);
            if let Some(p) = pinned
                && owner != Some(p)
                && self
                    .open
                    .get(p)
                    .is_some_and(|g| g.left.iter().any(|k| names(k, slot, v)))
            {
                // An id that left the pinned group for a newer one: not taken back, not merged.
                known |= 1 << i;
                continue;
            }
            let Some(g) = owner else {
                continue;
            };
            if Some(g) != pinned && self.open.get(g).is_some_and(stale) {
                // A parked group idle past the window: its id leaves it for the group of this
                // observation, as if it had closed (every id of an open group still maps to
                // it). Only a waiting request delivered through its pin joins it now.
                if let Ok(entry) = self.by_id.find_entry(hash, |e| names(&e.key, slot, v)) {
                    let (gone, _) = entry.remove();
                    if let Some(sg) = self.open.get_mut(g)
                        && let Some(at) = sg.ids.iter().position(|(k, _)| Rc::ptr_eq(k, &gone.key))
                    {
                        let (key, _) = sg.ids.remove(at);
                        sg.left.push(key);
                    }
                }
                continue;
            }
            known |= 1 << i;
            if !found.contains(&g) {
                found.push(g);
            }
        }
        if found.is_empty() && o.joins_only {
            self.found = found;
            self.late_requests += 1;
            return None;
        }
        // An observation that would be idle on arrival (dated more than the window before its
        // stream's clock: a clock jump back) counts as activity at the clock, so its group
        // does not close before the rest of its request (its next lines, the merged request)
        // joins it; otherwise at its own time.
        let touched = match o.ts {
            Some(t) if t >= now.saturating_sub(self.settings.window_ns) => t,
            // A request delivered to its idle pinned group is its last part: the group closes
            // when next found idle, as if it had not waited.
            Some(t) if pinned_stale => t,
            None if pinned_stale => Nanos::MIN,
            _ => now,
        };
        // The group's slot in `open`.
        let at = match found.len() {
            0 => self.create(touched),
            1 => found[0],
            _ => self.unite(&found),
        };
        self.found = found;
        self.last = at;
        let g = self.open.get_mut(at)?;
        // Some link is new (`known` has a bit per link; no popcount on the baseline target).
        if known != (1 << links.len()) - 1 {
            for (i, (slot, v, hash)) in links.iter().map(|&k| id(k)).enumerate() {
                // Known ids stay known: `unite` re-points them, nothing here removes them.
                // Not known before this observation (the first loop looked it up), so it is
                // not in the index unless the observation names it twice.
                if known & (1 << i) != 0
                    || links[..i]
                        .iter()
                        .map(|&k| id(k))
                        .any(|(s, w, _)| s == slot && w == v)
                {
                    continue;
                }
                encode(slot, v, &mut self.buf);
                let key: IdKey = Rc::from(self.buf.as_str());
                let entry = IdEntry {
                    key: key.clone(),
                    hash,
                    slot: at,
                };
                self.by_id.insert_unique(hash, entry, |e| e.hash);
                g.ids.push((key, hash));
            }
        }
        for (slot, v, _) in labels.iter().map(|&k| id(k)) {
            if g.labels.len() >= MAX_LABELS {
                break;
            }
            if !g.labels.iter().any(|x| names(x, slot, v)) {
                encode(slot, v, &mut self.buf);
                g.labels.push(Rc::from(self.buf.as_str()));
            }
        }
        if o.service < 64 {
            g.services |= 1 << o.service;
        }
        g.sources.add(o.source);
        match &o.request {
            Some((dur, desc)) => {
                g.requests += 1;
                if let Some(d) = dur
                    && g.slowest.as_ref().is_none_or(|(s, _)| d > s)
                {
                    g.slowest = Some((*d, desc()));
                }
                // A request is made of events already counted; only its 5xx counts as an error
                // when no error event was seen.
                if o.error && g.errors == 0 {
                    g.errors = 1;
                }
            }
            None => {
                g.events += 1;
                g.errors += u64::from(o.error);
            }
        }
        // The group is named by the first link of its earliest event, whatever order the
        // inputs were read in (an earlier event read later renames it).
        if let (Some(t), Some(first)) = (o.ts, g.first)
            && t < first
            && let Some((slot, v, hash)) = links.first().map(|&k| id(k))
        {
            // Its group's id (not one that left the pinned group for a newer one).
            if let Some(e) = self
                .by_id
                .find(hash, |e| names(&e.key, slot, v))
                .filter(|e| e.slot == at)
            {
                g.rep = Some(e.key.clone());
                Self::note(&mut self.renamed, g.seq, Renamed::Name(e.key.clone()));
            }
        }
        if let Some(t) = o.ts {
            g.first = Some(g.first.map_or(t, |f| f.min(t)));
            g.last = Some(g.last.map_or(t, |l| l.max(t)));
        }
        g.touched = g.touched.max(touched);
        if g.rep.is_none() {
            // A new group: its first id is the observation's first link.
            g.rep = g.ids.first().map(|(k, _)| k.clone());
        }
        Some((g.seq, g.rep.clone()?))
    }

    /// A new group last active at `touched` (closing the least recently active one at the cap); its slot.
    fn create(&mut self, touched: Nanos) -> u32 {
        while self.open.len() >= self.settings.max_open {
            // Pinned groups only when every open group is pinned: the cap holds.
            let Some((_, oldest)) = self
                .oldest_unpinned()
                .or_else(|| self.parked.oldest(&self.open, true))
            else {
                break;
            };
            self.evicted += 1;
            self.close(oldest, CloseReason::Evicted);
        }
        let seq = self.next_id;
        self.next_id += 1;
        self.groups += 1;
        let group = Group {
            seq,
            rep: None,
            ids: SmallVec::new(),
            left: Vec::new(),
            labels: SmallVec::new(),
            services: 0,
            sources: SourceList::default(),
            events: 0,
            errors: 0,
            requests: 0,
            first: None,
            last: None,
            touched,
            slowest: None,
            pins: 0,
            parked: false,
        };
        let slot = self.open.insert(group);
        self.idle.push(touched, seq, slot);
        self.peak_open = self.peak_open.max(self.open.len());
        slot
    }

    /// Merge groups (by slot) into the one with most ids (small into large); its slot.
    fn unite(&mut self, slots: &[u32]) -> u32 {
        let survivor = slots
            .iter()
            .copied()
            .max_by_key(|&slot| {
                let g = self.open.get(slot);
                (
                    g.map_or(0, |x| x.ids.len()),
                    std::cmp::Reverse(g.map_or(u64::MAX, |x| x.seq)),
                )
            })
            .unwrap_or(slots[0]);
        let survivor_seq = self.open.get(survivor).map_or(0, |g| g.seq);
        for &other in slots {
            if other == survivor {
                continue;
            }
            let Some(o) = self.open.remove(other) else {
                continue;
            };
            self.parked_n -= usize::from(o.parked);
            if o.pins > 0 {
                // Its pins now hold the survivor (an unparked survivor keeps its `idle` entry).
                self.moved.insert(
                    o.seq,
                    Moved {
                        slot: survivor,
                        seq: survivor_seq,
                        pins: o.pins,
                    },
                );
            }
            self.groups -= 1;
            self.merges += 1;
            if let Some(c) = &mut self.changes {
                c.push(Change::Merged {
                    from: o.seq,
                    into: survivor_seq,
                });
            }
            for (key, hash) in &o.ids {
                if let Some(e) = self.by_id.find_mut(*hash, |e| Rc::ptr_eq(&e.key, key)) {
                    e.slot = survivor;
                }
            }
            let Some(s) = self.open.get_mut(survivor) else {
                continue;
            };
            // The older group's representative stays.
            if o.first.is_some() && (s.first.is_none() || o.first < s.first) {
                s.rep = o.rep.clone();
            }
            Self::note(&mut self.renamed, o.seq, Renamed::Into(survivor_seq));
            if let Some(rep) = &s.rep {
                Self::note(&mut self.renamed, survivor_seq, Renamed::Name(rep.clone()));
            }
            s.ids.extend(o.ids);
            s.left.extend(o.left);
            for l in o.labels {
                if s.labels.len() < MAX_LABELS && !s.labels.contains(&l) {
                    s.labels.push(l);
                }
            }
            s.services |= o.services;
            for src in o.sources.iter() {
                s.sources.add(src);
            }
            s.events += o.events;
            s.errors += o.errors;
            s.requests += o.requests;
            s.first = match (s.first, o.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            s.last = match (s.last, o.last) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if let Some((d, desc)) = o.slowest
                && s.slowest.as_ref().is_none_or(|(x, _)| d > *x)
            {
                s.slowest = Some((d, desc));
            }
            // The survivor's entry stays (its time is at most the new `touched`).
            s.touched = s.touched.max(o.touched);
            s.pins += o.pins;
        }
        self.idle
            .compact(&self.open, false, self.open.len() - self.parked_n);
        survivor
    }

    fn close_idle(&mut self, before: Nanos) {
        // Entry times are at most their groups' `touched`: when the earliest is not before
        // `before`, no group is idle (the common case; no lookup of the group needed).
        while self.idle.earliest().is_some_and(|t| t < before)
            && let Some((t, slot)) = self.oldest_unpinned()
        {
            if t >= before {
                break;
            }
            self.close(slot, CloseReason::Idle);
        }
    }

    /// The least recently active open group that no waiting request pins (its time and
    /// slot), parking the pinned ones found before it.
    fn oldest_unpinned(&mut self) -> Option<(Nanos, u32)> {
        loop {
            let (t, slot) = self.idle.oldest(&self.open, false)?;
            let g = self.open.get_mut(slot)?;
            if g.pins == 0 {
                return Some((t, slot));
            }
            self.idle.heap.pop();
            g.parked = true;
            self.parked_n += 1;
            self.parked.push(t, g.seq, slot);
            self.parked.compact(&self.open, true, self.parked_n);
        }
    }

    /// Pin the group of the last observation for a request that waits for its other lines
    /// ([`Pin`]); `None` when that observation joined no group.
    pub fn pin_last(&mut self) -> Option<Pin> {
        let slot = self.last;
        let g = self.open.get_mut(slot)?;
        g.pins += 1;
        Some(Pin { slot, seq: g.seq })
    }

    /// The open group `pin` holds (its group, or the one it was merged into); `None` when
    /// that group closed (evicted).
    fn pinned_slot(&self, pin: Pin) -> Option<u32> {
        let (mut slot, mut seq) = (pin.slot, pin.seq);
        // Each step follows a merge, which cannot loop: the bound is only a guard.
        for _ in 0..=self.moved.len() {
            if self.open.get(slot).is_some_and(|g| g.seq == seq) {
                return Some(slot);
            }
            let m = self.moved.get(&seq)?;
            (slot, seq) = (m.slot, m.seq);
        }
        None
    }

    /// The request holding `pin` was delivered: its group (or the group it was merged into)
    /// may close again when idle. Nothing when that group closed already (evicted).
    pub fn unpin(&mut self, pin: Pin) {
        let (mut slot, mut seq) = (pin.slot, pin.seq);
        // Each step follows a merge, which cannot loop: the bound is only a guard.
        for _ in 0..=self.moved.len() {
            if let Some(g) = self.open.get_mut(slot).filter(|g| g.seq == seq) {
                g.pins -= 1;
                if g.pins == 0 && g.parked {
                    g.parked = false;
                    self.parked_n -= 1;
                    self.idle.push(g.touched, seq, slot);
                }
                return;
            }
            let Some(m) = self.moved.get_mut(&seq) else {
                return;
            };
            m.pins -= 1;
            let next = (m.slot, m.seq);
            if m.pins == 0 {
                self.moved.remove(&seq);
            }
            (slot, seq) = next;
        }
    }

    fn close(&mut self, slot: u32, reason: CloseReason) {
        let Some(g) = self.open.remove(slot) else {
            return;
        };
        self.parked_n -= usize::from(g.parked);
        for (key, hash) in &g.ids {
            // Every id of an open group maps to it (`observe` adds only ids not yet mapped,
            // `unite` re-points those of the groups it merges).
            let owner = self
                .by_id
                .find_entry(*hash, |e| Rc::ptr_eq(&e.key, key))
                .ok()
                .map(|e| e.remove().0.slot);
            debug_assert_eq!(owner, Some(slot));
        }
        if let Some(c) = &mut self.changes {
            c.push(Change::Closed(g.seq));
        }
        let span = match (g.first, g.last) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        if self.outbox.is_some() {
            let closed = ClosedGroup {
                report: self.report_of(&g, span, usize::MAX),
                first_ns: g.first,
                last_ns: g.last,
                reason,
            };
            if let Some(out) = self.outbox.as_mut() {
                out.push(closed);
            }
        }
        self.rank(&g, span);
    }

    fn rank(&mut self, g: &Group, span: Nanos) {
        let better = |a: &Closed, b: (u64, Nanos, u64)| (a.errors, a.span, a.events) >= b;
        let key = (g.errors, span, g.events);
        // `top` is sorted by that key, descending: its last is the least.
        if self.top.len() >= TOP && self.top.last().is_some_and(|c| better(c, key)) {
            return;
        }
        let report = self.report_of(g, span, SHOWN_IDS);
        self.top.push(Closed {
            errors: g.errors,
            span,
            events: g.events,
            report,
        });
        // Stable order: errors, span, events (descending), then first time and id.
        self.top.sort_by(|a, b| {
            (b.errors, b.span, b.events)
                .cmp(&(a.errors, a.span, a.events))
                .then_with(|| a.report.first.cmp(&b.report.first))
                .then_with(|| a.report.id.cmp(&b.report.id))
        });
        self.top.truncate(TOP);
    }

    /// The report of `g`, listing at most `shown` identifiers.
    fn report_of(&self, g: &Group, span: Nanos, shown: usize) -> GroupReport {
        let name = |k: &IdKey| decode(k);
        GroupReport {
            id: g.rep.as_deref().map(decode).unwrap_or_default(),
            identifiers: (g.ids.iter().map(|(k, _)| k))
                .chain(&g.left)
                .take(shown)
                .map(name)
                .collect(),
            identifier_count: g.ids.len() + g.left.len(),
            labels: g.labels.iter().map(name).collect(),
            services: (0..64u16)
                .filter(|i| g.services & (1 << i) != 0)
                .map(|i| {
                    self.services
                        .get(i as usize)
                        .cloned()
                        .unwrap_or_else(|| i.to_string())
                })
                .collect(),
            sources: {
                // By name: the same whatever order the inputs were read in.
                let mut names: Vec<String> = g
                    .sources
                    .iter()
                    .map(|s| {
                        self.sources
                            .get(s as usize)
                            .cloned()
                            .unwrap_or_else(|| s.to_string())
                    })
                    .collect();
                names.sort_unstable();
                names
            },
            events: g.events,
            errors: g.errors,
            requests: g.requests,
            first: g.first.map(format_rfc3339_nanos),
            last: g.last.map(format_rfc3339_nanos),
            span_ms: span as f64 / 1e6,
            slowest_request: g
                .slowest
                .as_ref()
                .map(|(d, desc)| format!("{desc} ({d} ms)")),
        }
    }

    /// Close every open group (the input ended).
    pub fn close_all(&mut self) {
        // Oldest first.
        let mut rest: Vec<(u64, u32)> = self.open.iter().map(|(slot, g)| (g.seq, slot)).collect();
        rest.sort_unstable();
        for (_, slot) in rest {
            self.close(slot, CloseReason::EndOfInput);
        }
    }

    /// Close every open group as [`Correlator::close_all`] does, as cut by an interrupt that
    /// stopped the reading ([`CloseReason::Interrupted`]).
    pub fn close_interrupted(&mut self) {
        let mut rest: Vec<(u64, u32)> = self.open.iter().map(|(slot, g)| (g.seq, slot)).collect();
        rest.sort_unstable();
        for (_, slot) in rest {
            self.close(slot, CloseReason::Interrupted);
        }
    }

    /// The report section so far (a live snapshot: open groups ranked as if closed now),
    /// leaving the state as it is.
    pub fn snapshot(&self) -> CorrelationReport {
        let mut c = self.clone();
        c.outbox = None;
        c.finish()
    }

    /// Close every open group and produce the report section.
    pub fn finish(mut self) -> CorrelationReport {
        self.close_all();
        CorrelationReport {
            groups: self.groups,
            evicted: self.evicted,
            merges: self.merges,
            late_requests: self.late_requests,
            window_seconds: self.settings.window_ns as f64 / 1e9,
            max_open_groups: self.settings.max_open,
            peak_open_groups: self.peak_open,
            top: self.top.into_iter().map(|c| c.report).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    fn ids(links: &[(Slot, &str)], labels: &[(Slot, &str)]) -> Ids {
        let links = links.iter().map(|(s, v)| (*s, true, *v));
        Ids::new(links.chain(labels.iter().map(|(s, v)| (*s, false, *v))))
    }

    fn obs(c: &mut Correlator, ts: Nanos, source: u32, i: &Ids, error: bool) -> u64 {
        c.observe(&Observation {
            ts: Some(ts),
            source,
            clock: u64::from(source),
            service: 0,
            error,
            ids: i,
            arena: None,
            request: None,
            joins_only: false,
            pin: None,
        })
        .map(|(g, _)| g)
        .unwrap_or(u64::MAX)
    }

    fn corr(window: Nanos, max_open: usize) -> Correlator {
        Correlator::new(
            CorrelationSettings {
                window_ns: window,
                max_open,
            },
            vec!["skillmeat".into(), "skreaver".into()],
            vec!["a.log".into(), "b.log".into()],
        )
    }

    #[test]
    fn renamed_groups_resolve_to_their_name_now() {
        let mut c = corr(10, 10);
        let [a, b, x]: [IdKey; 3] = ["a".into(), "b".into(), "x".into()];
        // Without tracking, names stay as they are.
        Correlator::note(&mut c.renamed, 1, Renamed::Name(b.clone()));
        assert_eq!(c.current_name(1, &a), a);
        c.track_renames();
        // Group 1 was renamed b, then merged into group 2, later named x.
        Correlator::note(&mut c.renamed, 1, Renamed::Name(b.clone()));
        assert_eq!(c.current_name(1, &a), b);
        Correlator::note(&mut c.renamed, 1, Renamed::Into(2));
        Correlator::note(&mut c.renamed, 2, Renamed::Name(x.clone()));
        assert_eq!(c.current_name(1, &a), x);
        // Another group handed out as `a` (the id came back after group 1 closed) is `a`.
        assert_eq!(c.current_name(3, &a), a);
    }

    #[test]
    fn placeholder_and_blank_ids_are_not_ids() {
        for v in ["abc", " abc", "abc\t", "\u{a0}abc", "é", "nullx", "-1"] {
            assert!(usable_id(v), "{v:?}");
        }
        for v in [
            "",
            " ",
            "null",
            " null ",
            "None",
            "-",
            "\u{a0}-\u{2003}",
            "\t\n",
        ] {
            assert!(!usable_id(v), "{v:?}");
        }
    }

    #[test]
    fn ids_in_an_arena_read_only_once_resolved() {
        let values = [
            (Slot::TraceId, true, "t-1"),
            (Slot::ClientIp, false, "10.0.0.1"),
            (Slot::RequestId, true, "r-9"),
        ];
        let mut arena = String::from("another line's ids");
        let mut a = Ids::new_in(&mut arena, values);
        let b = Ids::new_in(&mut arena, [(Slot::ConnId, true, "c-2")]);
        assert!(a.has_links());
        assert_eq!(a.links().count(), 0, "unresolved values read as absent");
        a.resolve(&arena);
        assert_eq!(a, Ids::new(values));
        let mut b2 = b.clone();
        b2.resolve(&arena);
        assert_eq!(b2.links().collect::<Vec<_>>(), [(Slot::ConnId, "c-2")]);
        a.resolve("");
        assert_eq!(a, Ids::new(values), "resolving twice changes nothing");
    }

    #[test]
    fn shared_ids_unite_groups_and_labels_do_not() {
        let mut c = corr(600 * S, 100);
        let a = obs(
            &mut c,
            0,
            0,
            &ids(&[(Slot::ConnId, "c1")], &[(Slot::ClientIp, "10.0.0.1")]),
            false,
        );
        let b = obs(
            &mut c,
            S,
            1,
            &ids(&[(Slot::AgentId, "ag")], &[(Slot::ClientIp, "10.0.0.1")]),
            false,
        );
        assert_ne!(a, b, "a shared client ip alone must not link");
        let joined = obs(
            &mut c,
            2 * S,
            0,
            &ids(&[(Slot::ConnId, "c1"), (Slot::AgentId, "ag")], &[]),
            true,
        );
        assert!(joined == a || joined == b);
        let r = c.finish();
        assert_eq!(r.groups, 1);
        assert_eq!(r.merges, 1);
        assert_eq!(r.top[0].events, 3);
        assert_eq!(r.top[0].errors, 1);
        assert_eq!(r.top[0].sources, vec!["a.log", "b.log"]);
    }

    /// The same value under two kinds is two identifiers; a group's ids and labels keep their
    /// order and text through a merge.
    #[test]
    fn kinds_keep_equal_values_apart_and_merges_keep_the_text() {
        let mut c = corr(600 * S, 100);
        let a = obs(
            &mut c,
            0,
            0,
            &ids(&[(Slot::TraceId, "x1")], &[(Slot::UserId, "u")]),
            false,
        );
        let b = obs(
            &mut c,
            S,
            0,
            &ids(&[(Slot::RequestId, "x1")], &[(Slot::UserId, "v")]),
            false,
        );
        assert_ne!(a, b, "trace_id x1 and request_id x1 are different ids");
        let both = &ids(
            &[(Slot::TraceId, "x1"), (Slot::RequestId, "x1")],
            &[(Slot::UserId, "u")],
        );
        obs(&mut c, 2 * S, 0, both, false);
        let r = c.finish();
        assert_eq!((r.groups, r.merges), (1, 1));
        assert_eq!(r.top[0].identifiers, ["trace_id:x1", "request_id:x1"]);
        assert_eq!(r.top[0].labels, ["user_id:u", "user_id:v"]);
    }

    #[test]
    fn closed_groups_are_handed_out_with_every_id_and_their_reason() {
        let mut c = corr(60 * S, 2);
        c.keep_closed();
        let many: Vec<(Slot, String)> = (0..SHOWN_IDS + 3)
            .map(|i| (Slot::RequestId, format!("r{i}")))
            .collect();
        let many: Vec<(Slot, &str)> = many.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // An observation carries at most `MAX_IDS` ids: the group gathers them from events
        // that share one with the one before.
        let per = MAX_IDS - 1;
        for (n, chunk) in many.chunks(per).enumerate() {
            let mut links = chunk.to_vec();
            if n > 0 {
                links.insert(0, many[n * per - 1]);
            }
            let labels: &[(Slot, &str)] = if n == 0 {
                &[(Slot::ClientIp, "10.0.0.1")]
            } else {
                &[]
            };
            obs(&mut c, 0, 0, &ids(&links, labels), n == 0);
        }
        obs(&mut c, S, 0, &ids(&[(Slot::AgentId, "ag")], &[]), false);
        // The window passes for both; a third id arrives and closes them as idle.
        obs(
            &mut c,
            100 * S,
            0,
            &ids(&[(Slot::ConnId, "c1")], &[]),
            false,
        );
        let idle = c.take_closed();
        assert_eq!(idle.len(), 2);
        assert!(idle.iter().all(|g| g.reason == CloseReason::Idle));
        assert_eq!(idle[0].report.identifiers.len(), SHOWN_IDS + 3);
        assert_eq!(idle[0].report.labels, ["client_ip:10.0.0.1"]);
        assert_eq!((idle[0].first_ns, idle[0].report.errors), (Some(0), 1));
        // Two open groups is the cap: a third evicts the least recently active.
        obs(
            &mut c,
            101 * S,
            0,
            &ids(&[(Slot::ConnId, "c2")], &[]),
            false,
        );
        obs(
            &mut c,
            102 * S,
            0,
            &ids(&[(Slot::ConnId, "c3")], &[]),
            false,
        );
        let evicted = c.take_closed();
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].reason, CloseReason::Evicted);
        assert_eq!(evicted[0].report.identifiers, ["conn_id:c1"]);
        c.close_all();
        let rest = c.take_closed();
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|g| g.reason == CloseReason::EndOfInput));
        assert!(c.take_closed().is_empty());
        // The report counts every group; the ranking shows few ids per group.
        let r = c.finish();
        assert_eq!(r.groups, 5);
        assert!(r.top.iter().all(|g| g.identifiers.len() <= SHOWN_IDS));
    }

    #[test]
    fn idle_groups_close_in_event_time() {
        let mut c = corr(60 * S, 100);
        let a = obs(&mut c, 0, 0, &ids(&[(Slot::RequestId, "r1")], &[]), false);
        let b = obs(
            &mut c,
            61 * S,
            0,
            &ids(&[(Slot::RequestId, "r1")], &[]),
            false,
        );
        assert_ne!(a, b, "same id after the window starts a new group");
        assert_eq!(c.finish().groups, 2);
    }

    #[test]
    fn a_later_input_does_not_close_groups_by_an_earlier_clock() {
        // Input 0 covers 0..50 s; input 1 starts again at 1 s and its clock is behind.
        let mut c = corr(60 * S, 100);
        let a = obs(
            &mut c,
            0,
            0,
            &ids(&[(Slot::RequestId, "early")], &[]),
            false,
        );
        let late = obs(
            &mut c,
            50 * S,
            0,
            &ids(&[(Slot::RequestId, "late")], &[]),
            false,
        );
        let b = obs(
            &mut c,
            S,
            1,
            &ids(&[(Slot::RequestId, "early")], &[]),
            false,
        );
        assert_eq!(a, b);
        // "late" (50 s) is ahead of input 1's clock, so it stays open too.
        let l = obs(
            &mut c,
            2 * S,
            1,
            &ids(&[(Slot::RequestId, "late")], &[]),
            false,
        );
        assert_eq!(late, l);
    }

    #[test]
    fn inputs_still_to_come_hold_groups_open() {
        // A batch run of two files: input 0 covers an hour, input 1 (read after it) starts
        // again at 1 s and carries the id input 0 had at 0 s.
        let run = |hold: bool| {
            let mut c = corr(60 * S, 100);
            if hold {
                c.hold_below(1);
            }
            let a = obs(&mut c, 0, 0, &ids(&[(Slot::TraceId, "t")], &[]), false);
            obs(
                &mut c,
                3600 * S,
                0,
                &ids(&[(Slot::TraceId, "u")], &[]),
                false,
            );
            let b = obs(&mut c, S, 1, &ids(&[(Slot::TraceId, "t")], &[]), false);
            // Input 1's own clock closes what is idle by it: "t" stays open at 30 s.
            let later = obs(&mut c, 30 * S, 1, &ids(&[(Slot::TraceId, "t")], &[]), false);
            (a == b, b == later, c.finish().groups)
        };
        assert_eq!(run(true), (true, true, 2));
        // Without the hold, input 0's clock (an hour on) had closed "t" before input 1 came.
        assert_eq!(run(false), (false, true, 3));
    }

    #[test]
    fn entries_of_merged_groups_do_not_pile_up_behind_an_idle_one() {
        let mut c = corr(3600 * S, 100_000);
        // An idle group whose entry stays at the top of the queue for the whole run.
        obs(&mut c, 0, 0, &ids(&[(Slot::RequestId, "idle")], &[]), false);
        obs(&mut c, S, 0, &ids(&[(Slot::TraceId, "t")], &[]), false);
        for i in 0..5000 {
            let id = format!("r{i}");
            let ts = S + i * 1_000_000;
            obs(&mut c, ts, 0, &ids(&[(Slot::RequestId, &id)], &[]), false);
            // Links the new group to the trace's group, which absorbs it.
            let both = ids(&[(Slot::TraceId, "t"), (Slot::RequestId, &id)], &[]);
            obs(&mut c, ts, 0, &both, false);
        }
        assert_eq!(c.open_groups(), 2);
        assert!(c.idle.heap.len() <= 2 * c.open_groups() + COMPACT_SLACK);
        c.close_all();
        let report = c.finish();
        assert_eq!((report.groups, report.merges), (2, 5000));
    }

    #[test]
    fn cap_evicts_the_least_recently_active() {
        let mut c = corr(3600 * S, 2);
        let a = obs(&mut c, 0, 0, &ids(&[(Slot::RequestId, "a")], &[]), false);
        obs(&mut c, S, 0, &ids(&[(Slot::RequestId, "b")], &[]), false);
        obs(
            &mut c,
            2 * S,
            0,
            &ids(&[(Slot::RequestId, "c")], &[]),
            false,
        );
        assert_eq!(c.open_groups(), 2);
        let again = obs(
            &mut c,
            3 * S,
            0,
            &ids(&[(Slot::RequestId, "a")], &[]),
            false,
        );
        assert_ne!(a, again);
        let r = c.finish();
        assert_eq!(r.evicted, 2);
        assert_eq!(r.groups, 4);
    }

    #[test]
    fn trace_mode_records_merges_and_closes_in_order() {
        let mut c = corr(60 * S, 100);
        c.record_changes();
        let a = obs(&mut c, 0, 0, &ids(&[(Slot::ConnId, "x")], &[]), false);
        let b = obs(&mut c, S, 0, &ids(&[(Slot::ConnId, "y")], &[]), false);
        let j = obs(
            &mut c,
            2 * S,
            0,
            &ids(&[(Slot::ConnId, "x"), (Slot::ConnId, "y")], &[]),
            false,
        );
        let from = if j == a { b } else { a };
        let take = |c: &mut Correlator| {
            let mut changes = Vec::new();
            c.drain_changes(&mut changes);
            changes
        };
        assert_eq!(take(&mut c), [Change::Merged { from, into: j }]);
        // The window passes: the group closes before the new one starts.
        let n = obs(&mut c, 100 * S, 0, &ids(&[(Slot::ConnId, "z")], &[]), false);
        assert_eq!(take(&mut c), [Change::Closed(j)]);
        c.close_all();
        assert_eq!(take(&mut c), [Change::Closed(n)]);
    }

    /// An event dated before its stream's clock (a jump back in time) keeps its group open
    /// for the window by the stream's clock, so the rest of its request still joins it.
    #[test]
    fn an_event_behind_its_streams_clock_is_not_idle_at_once() {
        let year = 365 * 86_400 * S;
        let mut c = corr(600 * S, 100);
        let t0 = obs(
            &mut c,
            2 * year,
            0,
            &ids(&[(Slot::TraceId, "t0")], &[]),
            false,
        );
        let t1 = obs(&mut c, S, 0, &ids(&[(Slot::TraceId, "t1")], &[]), false);
        // Its next line (same time) and another request's.
        assert_eq!(
            obs(&mut c, S, 0, &ids(&[(Slot::TraceId, "t1")], &[]), false),
            t1
        );
        assert_eq!(
            obs(
                &mut c,
                2 * year + S,
                0,
                &ids(&[(Slot::TraceId, "t0")], &[]),
                false
            ),
            t0
        );
        assert_eq!(c.finish().groups, 2);
    }

    /// A request whose events were observed never starts a group: when theirs closed while it
    /// waited for its last line, it is counted as late, and its id names one group.
    #[test]
    fn a_late_request_starts_no_second_group() {
        let mut c = corr(60 * S, 100);
        let ev = ids(&[(Slot::TraceId, "t1")], &[]);
        let g = obs(&mut c, 0, 0, &ev, false);
        // Other events move the clock past the window: t1's group closes.
        obs(
            &mut c,
            100 * S,
            0,
            &ids(&[(Slot::TraceId, "t2")], &[]),
            false,
        );
        let request = |c: &mut Correlator, joins_only| {
            c.observe(&Observation {
                ts: Some(0),
                source: 0,
                clock: 0,
                service: 0,
                error: true,
                ids: &ev,
                arena: None,
                request: Some((Some(5.0), &|| "GET /x → 500".to_string())),
                joins_only,
                pin: None,
            })
        };
        assert!(request(&mut c, true).is_none());
        let mut open = c.clone();
        let r = c.finish();
        assert_eq!((r.groups, r.late_requests), (2, 1));
        let t1: Vec<_> = r.top.iter().filter(|g| g.id == "trace_id:t1").collect();
        assert_eq!((t1.len(), t1[0].events, t1[0].requests), (1, 1, 0));
        // A request none of whose events was observed (filtered out) still starts one.
        assert!(request(&mut open, false).is_some_and(|(n, _)| n != g));
        assert_eq!(open.finish().groups, 3);
    }

    /// A request of `ev` (joins only: its events were observed), as the merger delivers it.
    fn deliver(c: &mut Correlator, ts: Nanos, ev: &Ids, pin: Option<Pin>) -> Option<u64> {
        let seen = c
            .observe(&Observation {
                ts: Some(ts),
                source: 0,
                clock: 0,
                service: 0,
                error: true,
                ids: ev,
                arena: None,
                request: Some((Some(5.0), &|| "GET /x → 500".to_string())),
                joins_only: true,
                pin,
            })
            .map(|(g, _)| g);
        if let Some(p) = pin {
            c.unpin(p);
        }
        seen
    }

    /// A request waiting for its last line pins its events' group: the clock jumping past the
    /// window closes other groups, not that one; the request joins it (no `late_requests`),
    /// and once delivered the group closes when idle again.
    #[test]
    fn a_pinned_group_waits_for_its_request() {
        let mut c = corr(60 * S, 100);
        let ev = ids(&[(Slot::TraceId, "t1")], &[]);
        let g = obs(&mut c, 0, 0, &ev, false);
        let pin = c.pin_last().expect("observed");
        obs(&mut c, S, 0, &ids(&[(Slot::TraceId, "t0")], &[]), false);
        // The clock jumps 100 s: t0's group closes, t1's stays.
        obs(
            &mut c,
            100 * S,
            0,
            &ids(&[(Slot::TraceId, "t2")], &[]),
            false,
        );
        assert_eq!(c.open_groups(), 2);
        assert_eq!(deliver(&mut c, 0, &ev, Some(pin)), Some(g));
        assert_eq!((c.parked_n, c.moved.len()), (0, 0));
        // Delivered, it is idle already: it closes at the next observation.
        obs(
            &mut c,
            161 * S,
            0,
            &ids(&[(Slot::TraceId, "t3")], &[]),
            false,
        );
        assert_eq!(c.open_groups(), 1);
        let r = c.finish();
        assert_eq!((r.groups, r.late_requests), (4, 0));
        let t1 = r.top.iter().find(|g| g.id == "trace_id:t1").expect("t1");
        assert_eq!((t1.events, t1.requests, t1.errors), (1, 1, 1));
        assert_eq!(t1.slowest_request.as_deref(), Some("GET /x → 500 (5 ms)"));
    }

    /// Group `a` (pinned by a waiting request) merged into `b`: b and b2 unite (b survives),
    /// then a, with fewer ids, merges into b. The pin, and b's return value.
    fn pinned_a_merged_into_b(c: &mut Correlator, a: &Ids) -> (Pin, u64) {
        obs(c, 0, 0, a, false);
        let pin = c.pin_last().expect("observed");
        obs(c, S, 0, &ids(&[(Slot::TraceId, "b")], &[]), false);
        obs(c, S, 0, &ids(&[(Slot::TraceId, "b2")], &[]), false);
        let b = obs(
            c,
            2 * S,
            0,
            &ids(&[(Slot::TraceId, "b"), (Slot::TraceId, "b2")], &[]),
            false,
        );
        let survivor = obs(
            c,
            3 * S,
            0,
            &ids(&[(Slot::TraceId, "a"), (Slot::TraceId, "b")], &[]),
            false,
        );
        assert_eq!(survivor, b);
        (pin, b)
    }

    /// A pinned group merged into another: its pin holds the survivor, which the request
    /// joins; unpinned, the survivor closes when idle.
    #[test]
    fn a_pin_follows_its_group_through_merges() {
        let mut c = corr(60 * S, 100);
        let a = ids(&[(Slot::TraceId, "a")], &[]);
        let (pin, b) = pinned_a_merged_into_b(&mut c, &a);
        assert_eq!(c.moved.len(), 1);
        obs(
            &mut c,
            200 * S,
            0,
            &ids(&[(Slot::TraceId, "z")], &[]),
            false,
        );
        assert_eq!(c.open_groups(), 2, "the survivor is pinned");
        assert_eq!(deliver(&mut c, 0, &a, Some(pin)), Some(b));
        assert!(c.moved.is_empty());
        obs(
            &mut c,
            300 * S,
            0,
            &ids(&[(Slot::TraceId, "y")], &[]),
            false,
        );
        assert_eq!(c.open_groups(), 1);
        assert_eq!(c.finish().late_requests, 0);
    }

    /// A pinned group parked idle past the window, merged into another meanwhile: later events
    /// with its ids start a new group (as if it had closed) instead of joining it, while the
    /// waiting request, delivered, still joins it through its pin; then it closes when idle.
    #[test]
    fn events_after_the_window_leave_a_parked_group_to_its_request() {
        let mut c = corr(60 * S, 100);
        let a = ids(&[(Slot::TraceId, "a")], &[]);
        let (pin, b) = pinned_a_merged_into_b(&mut c, &a);
        // An hour later, its ids: a new group, not the parked one.
        let later = obs(&mut c, 3600 * S, 0, &a, false);
        assert_ne!(later, b);
        assert_eq!(c.parked_n, 1);
        assert_eq!(
            obs(
                &mut c,
                3600 * S,
                0,
                &ids(&[(Slot::TraceId, "a"), (Slot::TraceId, "b")], &[]),
                false
            ),
            later
        );
        // The waiting request joins the group it pinned, not the one its ids name now.
        assert_eq!(deliver(&mut c, 0, &a, Some(pin)), Some(b));
        assert_eq!((c.parked_n, c.moved.len()), (0, 0));
        // Released, it is idle already: it closes at the next observation, the new one stays.
        obs(&mut c, 3601 * S, 0, &a, false);
        assert_eq!(c.open_groups(), 1);
        let r = c.finish();
        assert_eq!((r.groups, r.late_requests), (2, 0));
        let old = r.top.iter().find(|g| g.requests == 1).expect("old");
        assert_eq!((old.events, old.errors, old.span_ms), (5, 1, 3000.0));
        assert_eq!(old.identifier_count, 3, "{:?}", old.identifiers);
        let new = r.top.iter().find(|g| g.requests == 0).expect("new");
        assert_eq!((new.events, new.span_ms), (3, 1000.0));
    }

    /// More waiting requests than the cap on open groups: pinned groups are evicted only when
    /// every open group is pinned, oldest first, so open groups never exceed the cap; a request
    /// whose group was evicted is late, and its pin releases nothing.
    #[test]
    fn the_cap_bounds_pinned_groups() {
        let cap = 3;
        let mut c = corr(60 * S, cap);
        let mut pins = Vec::new();
        let waiting: Vec<Ids> = (0..10)
            .map(|i| ids(&[(Slot::TraceId, &format!("w{i}"))], &[]))
            .collect();
        for (i, w) in (0..).zip(&waiting) {
            obs(&mut c, i * S, 0, w, false);
            pins.push(c.pin_last().expect("observed"));
            // An unpinned group between: evicted before any pinned one.
            obs(
                &mut c,
                i * S,
                0,
                &ids(&[(Slot::RequestId, &format!("u{i}"))], &[]),
                false,
            );
            assert!(c.open_groups() <= cap);
        }
        // The clock jumps: nothing pinned closes for idleness.
        obs(
            &mut c,
            1000 * S,
            0,
            &ids(&[(Slot::TraceId, "late")], &[]),
            false,
        );
        assert!(c.open_groups() <= cap);
        assert!(c.peak_open <= cap);
        let delivered: Vec<Option<u64>> = waiting
            .iter()
            .zip(&pins)
            .map(|(w, p)| deliver(&mut c, 1000 * S, w, Some(*p)))
            .collect();
        // The two most recent pinned groups were still open (the third slot went to `late`).
        let joined = delivered.iter().filter(|d| d.is_some()).count();
        assert_eq!(joined, 2, "{delivered:?}");
        assert!(delivered[8].is_some() && delivered[9].is_some());
        assert_eq!((c.parked_n, c.moved.len()), (0, 0));
        let r = c.finish();
        assert_eq!((r.late_requests, r.peak_open_groups), (8, cap));
        // 10 pinned, 10 unpinned, `late`: w0..w7 and u0..u8 were evicted, u9 closed idle.
        assert_eq!((r.groups, r.evicted), (21, 17));
    }

    /// The hash an [`Ids`] carries for each link is [`id_hash`] of its kind and value, however
    /// the set was made (owned, in an arena, copied out of it): the merger's index trusts it.
    #[test]
    fn ids_carry_the_hash_of_each_link_however_they_are_made() {
        let values = [
            (Slot::TraceId, true, "4bf92f3577b34da6a3ce929d0e0e4736"),
            (Slot::ClientIp, false, "10.0.0.1"),
            (Slot::RequestId, true, "r-1"),
        ];
        let owned = Ids::new(values);
        let mut arena = String::from("earlier values");
        let mut in_arena = Ids::new_in(&mut arena, values);
        assert_eq!(in_arena.all_in(Some(&arena)).collect::<Vec<_>>(), values);
        in_arena.resolve(&arena);
        for ids in [&owned, &in_arena] {
            assert_eq!(ids.all().collect::<Vec<_>>(), values);
            for (i, &(slot, link, v)) in values.iter().enumerate() {
                let want = if link {
                    short_hash(id_hash(slot, v))
                } else {
                    0
                };
                assert_eq!(ids.hashes[i], want, "{slot:?} {v}");
            }
        }
        // The kind is part of the hash (and of the key): same value, another kind.
        assert_ne!(id_hash(Slot::TraceId, "x"), id_hash(Slot::RequestId, "x"));
    }

    /// Ids read from a chunk's arena find the group of the same ids observed owned; the same
    /// value of another kind does not.
    #[test]
    fn arena_ids_find_the_group_of_the_same_owned_ids() {
        let mut c = corr(60 * S, 100);
        let g = obs(&mut c, 0, 0, &ids(&[(Slot::TraceId, "t1")], &[]), false);
        let mut arena = String::from("xyz");
        let in_arena = Ids::new_in(&mut arena, [(Slot::TraceId, true, "t1")]);
        let other_kind = Ids::new_in(&mut arena, [(Slot::RequestId, true, "t1")]);
        let at = |c: &mut Correlator, ids: &Ids| {
            c.observe(&Observation {
                ts: Some(S),
                source: 0,
                clock: 0,
                service: 0,
                error: false,
                ids,
                arena: Some(&arena),
                request: None,
                joins_only: false,
                pin: None,
            })
            .map(|(g, _)| g)
        };
        assert_eq!(at(&mut c, &in_arena), Some(g));
        assert_ne!(at(&mut c, &other_kind), Some(g));
        assert_eq!(c.finish().groups, 2);
    }

    proptest::proptest! {
        /// With no closing (a long window, a large cap), groups are the connected components
        /// of shared links, and merges are what joining them took: the index (hashes carried
        /// by the ids, entries re-pointed on merges by key identity) answers as a plain union
        /// of identifiers does. Closing at the end removes every id (checked by `close`'s
        /// debug assertion).
        #[test]
        fn groups_are_the_components_of_shared_links(
            seen in proptest::collection::vec(
                proptest::collection::btree_map(0usize..3, 0u8..8, 1..4),
                1..80,
            )
        ) {
            const KINDS: [Slot; 3] = [Slot::TraceId, Slot::RequestId, Slot::AgentId];
            let mut c = corr(3600 * S, 100_000);
            // Plain union-find over (kind, value).
            let mut parent: HashMap<(usize, u8), (usize, u8)> = HashMap::new();
            fn root(p: &HashMap<(usize, u8), (usize, u8)>, k: (usize, u8)) -> (usize, u8) {
                let mut r = k;
                while let Some(&up) = p.get(&r).filter(|&&up| up != r) {
                    r = up;
                }
                r
            }
            let mut merges = 0u64;
            for (t, links) in (0i64..).zip(&seen) {
                let names: Vec<(Slot, String)> =
                    links.iter().map(|(&k, &v)| (KINDS[k], format!("v{v}"))).collect();
                let list: Vec<(Slot, &str)> = names.iter().map(|(s, v)| (*s, v.as_str())).collect();
                obs(&mut c, t * S, 0, &ids(&list, &[]), false);
                let keys: Vec<(usize, u8)> = links.iter().map(|(&k, &v)| (k, v)).collect();
                let mut found: Vec<(usize, u8)> = keys
                    .iter()
                    .filter(|k| parent.contains_key(k))
                    .map(|&k| root(&parent, k))
                    .collect();
                found.sort_unstable();
                found.dedup();
                merges += found.len().saturating_sub(1) as u64;
                let top = found.first().copied().unwrap_or(keys[0]);
                parent.insert(top, top);
                for r in &found {
                    parent.insert(*r, top);
                }
                for k in &keys {
                    parent.entry(*k).or_insert(top);
                }
            }
            let mut roots: Vec<(usize, u8)> = parent.keys().map(|&k| root(&parent, k)).collect();
            roots.sort_unstable();
            roots.dedup();
            let r = c.finish();
            proptest::prop_assert_eq!(r.merges, merges);
            proptest::prop_assert_eq!(r.groups, roots.len() as u64);
        }
    }
}
