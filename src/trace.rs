//! `logsleuth trace ID`: the correlation groups holding one identifier as a timeline — every
//! event across services in time order, with offsets from the first, each group's first
//! error and slowest request (text, or `--format json`).
//!
//! [`TraceSink`] runs its own [`Correlator`] over the input (the same groups `analyze` finds)
//! and holds only the events of open groups and of the groups holding the ID, so memory stays
//! bounded by the open groups, not by the input.

use std::rc::Rc;

use serde::Serialize;

use crate::correlate::{
    Change, CorrelationSettings, Correlator, GroupMap, Ids, Observation, decode, ids_of,
};
use crate::event::Slot;
use crate::parse::Registry;
use crate::time::{Nanos, format_rfc3339_nanos};

/// One event of a timeline.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelineEvent {
    /// Milliseconds after the first event of the timeline.
    pub offset_ms: Option<f64>,
    /// Event time.
    pub ts: Option<String>,
    /// Service.
    pub service: String,
    /// Input name.
    pub source: String,
    /// Line.
    pub line: u64,
    /// Level.
    pub level: Option<String>,
    /// Message (first line of the exception when there is no message).
    pub message: String,
    /// Last line of an attached exception / traceback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// HTTP method (request lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP path as logged (request lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The event's group: its index in [`Timeline::by_group`] (none for an event that carries
    /// the identifier as a label but no linking identifier, so belongs to no group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
}

/// The slowest request of a timeline.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SlowestRequest {
    /// Event time.
    pub ts: Option<String>,
    /// `GET /x → 500 (12 ms)`.
    pub request: String,
    /// Latency.
    pub duration_ms: f64,
    /// Input.
    pub source: String,
    /// Line.
    pub line: u64,
}

/// One correlation group of a timeline: what `analyze` reports of it (`correlation.top[]`),
/// its first error and its slowest request.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelineGroup {
    /// The group's name, as `analyze` names it (the first linking identifier of its earliest
    /// event).
    pub id: String,
    /// Linking identifiers.
    pub identifiers: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Services involved.
    pub services: Vec<String>,
    /// Inputs involved.
    pub sources: Vec<String>,
    /// First event time.
    pub first: Option<String>,
    /// Last event time.
    pub last: Option<String>,
    /// Span, ms.
    pub span_ms: f64,
    /// Its events (those of [`Timeline::events`] whose `group` is this group's index).
    pub events: usize,
    /// Its requests.
    pub requests: u64,
    /// Errors, as `analyze` counts them: its events at level error or worse, or, when it has
    /// none, one for its requests answered 5xx.
    pub errors: u64,
    /// The first of them (a request: its line).
    pub first_error: Option<TimelineEvent>,
    /// The slowest request.
    pub slowest_request: Option<SlowestRequest>,
}

/// `logsleuth trace ID`: every event of the groups containing ID, in time order.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Timeline {
    /// The identifier asked for.
    pub id: String,
    /// Groups that contain it (usually 1; more when it reappears after the window, or for a
    /// label, which labels groups without linking them).
    pub groups: usize,
    /// Linking identifiers of those groups.
    pub identifiers: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Services involved.
    pub services: Vec<String>,
    /// Inputs involved.
    pub sources: Vec<String>,
    /// First event time.
    pub first: Option<String>,
    /// Last event time.
    pub last: Option<String>,
    /// Total span, ms.
    pub span_ms: f64,
    /// Errors: those of the groups ([`TimelineGroup::errors`]) and the events at level error
    /// or worse that belong to no group.
    pub errors: usize,
    /// The first of them.
    pub first_error: Option<TimelineEvent>,
    /// The slowest request.
    pub slowest_request: Option<SlowestRequest>,
    /// Each group on its own, in time order of their first events.
    pub by_group: Vec<TimelineGroup>,
    /// The events of all groups (and those in no group), in time order.
    pub events: Vec<TimelineEvent>,
}

impl Timeline {
    /// The timeline of an identifier no event carries: no group, no event (`trace --format
    /// json` prints it, so a script reads a document either way).
    pub fn empty(id: &str) -> Timeline {
        Timeline {
            id: id.trim().to_string(),
            groups: 0,
            identifiers: Vec::new(),
            labels: Vec::new(),
            services: Vec::new(),
            sources: Vec::new(),
            first: None,
            last: None,
            span_ms: 0.0,
            errors: 0,
            first_error: None,
            slowest_request: None,
            by_group: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// A `trace` target's `kind:` prefix must name an identifier kind ([`Slot::IDS`]): `bogus:x`
/// would be looked for as the value `bogus:x` and quietly find nothing. A prefix of anything
/// but lowercase letters and `_` is no kind (`fe80::1`, `10.0.0.7:443`); a value that holds
/// such a prefix itself is named with its kind (`request_id:req:12`).
///
/// # Errors
/// The unknown kind and the known ones.
pub fn check_target(target: &str) -> Result<(), String> {
    let target = target.trim();
    let Some((kind, value)) = target.split_once(':') else {
        return Ok(());
    };
    let kind_like = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !kind_like || Slot::IDS.iter().any(|s| s.name() == kind) {
        return Ok(());
    }
    let known: Vec<&str> = Slot::IDS.iter().map(|s| s.name()).collect();
    Err(format!(
        "unknown identifier kind {kind:?} in {target:?} (known kinds: {}); give the value alone ({value}), or, for a value that holds ':' itself, its kind first (request_id:{target})",
        known.join(", ")
    ))
}

struct Recorded {
    /// Arrival order: ties in time keep it.
    n: u64,
    ts: Option<Nanos>,
    service: u16,
    source: u32,
    line: u64,
    level: Option<crate::event::Level>,
    message: String,
    exception: Option<String>,
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    duration_ms: Option<f64>,
    pod: Option<String>,
    ids: Ids,
}

/// A request with a latency, for the timeline's slowest: `(duration, Reverse(line), n)` orders
/// them, so ties go to the earlier line, then the later arrival (as before groups were held).
struct TimedRequest {
    n: u64,
    ts: Option<Nanos>,
    duration_ms: f64,
    desc: String,
    source: u32,
    line: u64,
}

impl TimedRequest {
    fn slower_than(&self, other: &TimedRequest) -> bool {
        self.duration_ms
            .total_cmp(&other.duration_ms)
            .then(other.line.cmp(&self.line))
            .then(self.n.cmp(&other.n))
            .is_gt()
    }
}

/// Keep the slower of `into` and `r`.
fn keep_slowest(into: &mut Option<TimedRequest>, r: Option<TimedRequest>) {
    if let Some(r) = r
        && into.as_ref().is_none_or(|s| r.slower_than(s))
    {
        *into = Some(r);
    }
}

/// What trace mode holds of one open group until it closes.
#[derive(Default)]
struct Held {
    events: Vec<Recorded>,
    slowest: Option<TimedRequest>,
    /// An event or request of the group carries the target.
    hit: bool,
    /// The group's name, as the correlator last gave it ([`Correlator::observe`]).
    name: Option<Rc<str>>,
    requests: u64,
    /// Events at level error or worse.
    error_events: u64,
    /// The first request answered 5xx (its line, with what the request says of itself for
    /// when that line is not among the events): the group's error when no event is one.
    first_failed: Option<Recorded>,
}

impl Held {
    /// Take in a group merged into this one.
    fn absorb(&mut self, h: Held) {
        self.events.extend(h.events);
        keep_slowest(&mut self.slowest, h.slowest);
        self.hit |= h.hit;
        self.requests += h.requests;
        self.error_events += h.error_events;
        if let Some(f) = h.first_failed {
            self.failed(f);
        }
    }

    /// A request answered 5xx: the first one is kept.
    fn failed(&mut self, r: Recorded) {
        let key = |r: &Recorded| (r.ts.unwrap_or(Nanos::MAX), r.n);
        if self.first_failed.as_ref().is_none_or(|f| key(&r) < key(f)) {
            self.first_failed = Some(r);
        }
    }

    /// Errors as `analyze` counts them ([`Correlator::observe`]): the error events, or, when
    /// there is none, one for the requests answered 5xx (a request is made of events, and its
    /// error event, when it logged one, is already counted). Decided over the whole group
    /// rather than in arrival order: trace mode sees an event held for its traceback after the
    /// request it belongs to, which the analysis sees before.
    fn errors(&self) -> u64 {
        match self.error_events {
            0 => u64::from(self.first_failed.is_some()),
            n => n,
        }
    }
}

/// An [`crate::pipeline::EventSink`] that correlates everything and keeps the events of the
/// groups that contain the target (trace mode). The events of each open group are held, as a
/// later merge may join it to the target's group; a group that closes without the target is
/// dropped (nothing joins a closed group). Memory: the open groups' events (at most
/// `max_open` groups) plus the target's groups.
pub struct TraceSink<'r> {
    reg: &'r Registry,
    target: String,
    correlator: Correlator,
    /// Open groups by id.
    held: GroupMap<Held>,
    /// Closed groups that contained the target.
    kept: Vec<Held>,
    /// Events without a group (labels only) that name the target.
    loose: Vec<Recorded>,
    /// Arrivals so far ([`Recorded::n`]).
    arrivals: u64,
    /// Scratch for [`TraceSink::apply_changes`].
    changes: Vec<Change>,
    sources: Vec<String>,
}

fn id_matches(target: &str, ids: &Ids) -> bool {
    ids.all().any(|(s, _, v)| {
        v == target
            || target
                .strip_prefix(s.name())
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|r| r == v)
    })
}

impl<'r> TraceSink<'r> {
    /// Inputs before `first` are followed by inputs of another timeline
    /// ([`Correlator::hold_below`]; `pipeline::last_timeline_start`).
    pub fn hold_below(&mut self, first: u32) {
        self.correlator.hold_below(first);
    }

    /// Trace `target` (a raw value or `kind:value`).
    pub fn new(
        reg: &'r Registry,
        target: &str,
        settings: CorrelationSettings,
        sources: Vec<String>,
    ) -> TraceSink<'r> {
        let mut correlator = Correlator::new(
            settings,
            reg.services().map(str::to_string).collect(),
            sources.clone(),
        );
        correlator.record_changes();
        TraceSink {
            reg,
            target: target.trim().to_string(),
            correlator,
            held: GroupMap::default(),
            kept: Vec::new(),
            loose: Vec::new(),
            arrivals: 0,
            changes: Vec::new(),
            sources,
        }
    }

    /// Follow the correlator's merges and closes: a merged group's holdings go to the
    /// survivor; a closed group's are kept if it contained the target, else dropped.
    fn apply_changes(&mut self) {
        let mut changes = std::mem::take(&mut self.changes);
        self.correlator.drain_changes(&mut changes);
        for &change in &changes {
            match change {
                Change::Merged { from, into } => {
                    let Some(h) = self.held.remove(&from) else {
                        continue;
                    };
                    self.held.entry(into).or_default().absorb(h);
                }
                Change::Closed(g) => {
                    if let Some(h) = self.held.remove(&g)
                        && h.hit
                    {
                        self.kept.push(h);
                    }
                }
            }
        }
        changes.clear();
        self.changes = changes;
    }

    /// Streams whose event-time clock is kept (at most the streams with state,
    /// [`crate::streams`]).
    pub fn stream_clocks(&self) -> usize {
        self.correlator.stream_clocks()
    }

    /// Events held now: those of open groups, and those kept for the timeline.
    pub fn events_held(&self) -> usize {
        self.loose.len()
            + self
                .kept
                .iter()
                .chain(self.held.values())
                .map(|h| h.events.len())
                .sum::<usize>()
    }

    fn arrival(&mut self) -> u64 {
        self.arrivals += 1;
        self.arrivals
    }

    /// Build the timeline; `None` when no event carries the identifier.
    pub fn finish(mut self) -> Option<Timeline> {
        self.correlator.close_all();
        self.apply_changes();
        if self.kept.is_empty() && self.loose.is_empty() {
            return None;
        }
        // Time order; ties keep the arrival order.
        let order = |e: &Recorded| (e.ts.unwrap_or(Nanos::MAX), e.n);
        for h in &mut self.kept {
            h.events.sort_by_key(order);
        }
        // Groups in time order of their first events.
        self.kept
            .sort_by_key(|h| h.events.first().map_or((Nanos::MAX, u64::MAX), order));
        self.loose.sort_by_key(order);
        let mut chosen: Vec<(Option<usize>, &Recorded)> = self
            .kept
            .iter()
            .enumerate()
            .flat_map(|(i, h)| h.events.iter().map(move |e| (Some(i), e)))
            .chain(self.loose.iter().map(|e| (None, e)))
            .collect();
        chosen.sort_by_key(|(_, e)| order(e));
        let first = chosen.iter().find_map(|(_, e)| e.ts);
        let last = chosen.iter().filter_map(|(_, e)| e.ts).max();
        let span_ms = |first: Option<Nanos>, last: Option<Nanos>| match (first, last) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e6,
            _ => 0.0,
        };
        let source_name = |s: u32| self.sources.get(s as usize).cloned().unwrap_or_default();
        let to_event = |e: &Recorded, group: Option<usize>| TimelineEvent {
            offset_ms: match (e.ts, first) {
                (Some(t), Some(f)) => Some((t - f) as f64 / 1e6),
                _ => None,
            },
            ts: e.ts.map(format_rfc3339_nanos),
            service: self.reg.service_name(e.service).to_string(),
            source: source_name(e.source),
            line: e.line,
            level: e.level.map(|l| l.as_str().to_string()),
            message: e.message.clone(),
            exception: e.exception.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            duration_ms: e.duration_ms,
            pod: e.pod.clone(),
            group,
        };
        let to_slowest = |r: &TimedRequest| SlowestRequest {
            ts: r.ts.map(format_rfc3339_nanos),
            request: r.desc.clone(),
            duration_ms: r.duration_ms,
            source: source_name(r.source),
            line: r.line,
        };
        // Identifiers, labels, services and inputs of some events, in their order.
        let describe = |events: &mut dyn Iterator<Item = &Recorded>| {
            let mut d: [Vec<String>; 4] = Default::default();
            let push = |v: &mut Vec<String>, x: String| {
                if !v.contains(&x) {
                    v.push(x);
                }
            };
            for e in events {
                for (s, v) in e.ids.links() {
                    push(&mut d[0], format!("{}:{v}", s.name()));
                }
                for (s, v) in e.ids.labels() {
                    push(&mut d[1], format!("{}:{v}", s.name()));
                }
                push(&mut d[2], self.reg.service_name(e.service).to_string());
                push(&mut d[3], source_name(e.source));
            }
            d
        };
        let is_error = |e: &&Recorded| e.level >= Some(crate::event::Level::Error);
        // A group's first error: its first error event, or, without one, its first request
        // answered 5xx (the request's line among the events; what the request says of itself
        // when that line is not).
        fn first_error_of(h: &Held) -> Option<&Recorded> {
            let error = h
                .events
                .iter()
                .find(|e| e.level >= Some(crate::event::Level::Error));
            error.or_else(|| {
                let f = h.first_failed.as_ref()?;
                Some(
                    h.events
                        .iter()
                        .find(|e| e.source == f.source && e.line == f.line)
                        .unwrap_or(f),
                )
            })
        }
        let mut by_group = Vec::with_capacity(self.kept.len());
        // Over all: the first error and the slowest request of every group (and the error
        // events in no group).
        let mut first_error: Option<(Option<usize>, &Recorded)> =
            self.loose.iter().find(is_error).map(|e| (None, e));
        let mut slowest: Option<&TimedRequest> = None;
        for (i, h) in self.kept.iter().enumerate() {
            let error = first_error_of(h);
            if let Some(e) = error
                && first_error.is_none_or(|(_, f)| order(e) < order(f))
            {
                first_error = Some((Some(i), e));
            }
            if let Some(r) = &h.slowest
                && slowest.is_none_or(|s| r.slower_than(s))
            {
                slowest = Some(r);
            }
            let [identifiers, labels, services, sources] = describe(&mut h.events.iter());
            let (gfirst, glast) = (
                h.events.iter().find_map(|e| e.ts),
                h.events.iter().filter_map(|e| e.ts).max(),
            );
            by_group.push(TimelineGroup {
                id: h
                    .name
                    .as_deref()
                    .map_or_else(|| identifiers.first().cloned().unwrap_or_default(), decode),
                identifiers,
                labels,
                services,
                sources,
                first: gfirst.map(format_rfc3339_nanos),
                last: glast.map(format_rfc3339_nanos),
                span_ms: span_ms(gfirst, glast),
                events: h.events.len(),
                requests: h.requests,
                errors: h.errors(),
                first_error: error.map(|e| to_event(e, Some(i))),
                slowest_request: h.slowest.as_ref().map(to_slowest),
            });
        }
        let errors = self.kept.iter().map(Held::errors).sum::<u64>() as usize
            + self.loose.iter().filter(is_error).count();
        let [identifiers, labels, services, sources] =
            describe(&mut chosen.iter().map(|(_, e)| *e));
        Some(Timeline {
            id: self.target.clone(),
            groups: self.kept.len(),
            identifiers,
            labels,
            services,
            sources,
            first: first.map(format_rfc3339_nanos),
            last: last.map(format_rfc3339_nanos),
            span_ms: span_ms(first, last),
            errors,
            first_error: first_error.map(|(g, e)| to_event(e, g)),
            slowest_request: slowest.map(to_slowest),
            by_group,
            events: chosen.iter().map(|&(g, e)| to_event(e, g)).collect(),
        })
    }
}

impl crate::pipeline::EventSink for TraceSink<'_> {
    fn input_added(&mut self, _source: u32, input: &crate::pipeline::Input) -> std::io::Result<()> {
        self.sources.push(input.name.clone());
        self.correlator.add_source(input.name.clone());
        Ok(())
    }

    fn event(&mut self, v: &crate::pipeline::View<'_, '_>, pass: bool) -> std::io::Result<()> {
        if !pass {
            return Ok(());
        }
        let ev = v.ev;
        let (ids, linked) = match ids_of(ev, self.reg, None) {
            Some(ids) => (ids, true),
            None => {
                // Labels alone form no group, but an event labelled with the target is shown.
                let kinds = self.reg.id_kinds(ev.service);
                let labels = kinds
                    .label
                    .iter()
                    .filter_map(|s| ev.get(*s).map(|x| (*s, false, x)));
                (Ids::new(labels), false)
            }
        };
        let matched = id_matches(&self.target, &ids);
        if !linked && !matched {
            return Ok(());
        }
        let error = ev.level >= Some(crate::event::Level::Error);
        let gid = if linked {
            self.correlator.observe(&Observation {
                ts: ev.ts,
                source: v.origin.source,
                clock: v.origin.clock,
                service: ev.service,
                error,
                ids: &ids,
                arena: None,
                request: None,
                joins_only: false,
                pin: None,
            })
        } else {
            None
        };
        self.apply_changes();
        let exception = ev.get(Slot::Exception).map(|x| {
            x.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        });
        let message = ev
            .get(Slot::Message)
            .map(|m| m.trim_end().to_string())
            .unwrap_or_default();
        let recorded = Recorded {
            n: self.arrival(),
            ts: ev.ts,
            service: ev.service,
            source: v.origin.source,
            line: v.line,
            level: ev.level,
            message,
            exception,
            method: ev.get(Slot::Method).map(str::to_string),
            path: ev.get(Slot::Path).map(str::to_string),
            status: ev.status,
            duration_ms: ev.duration_ms,
            pod: v.origin.pod.clone(),
            ids,
        };
        match gid {
            Some((g, name)) => {
                let h = self.held.entry(g).or_default();
                h.hit |= matched;
                h.name = Some(name);
                h.error_events += u64::from(error);
                h.events.push(recorded);
            }
            // Labels only: no group, shown because it names the target.
            None if matched => self.loose.push(recorded),
            None => {}
        }
        Ok(())
    }

    fn stream_released(&mut self, clock: u64) {
        self.correlator.forget_clock(clock);
    }

    fn request(
        &mut self,
        r: &crate::request::Request,
        origin: &crate::pipeline::Origin,
    ) -> std::io::Result<()> {
        let ids = crate::pipeline::request_ids(r, self.reg);
        if !ids.has_links() {
            return Ok(());
        }
        let observed = self.correlator.observe(&Observation {
            ts: r.ts,
            source: r.at.source,
            clock: origin.clock,
            service: r.service,
            error: r.status.is_some_and(|s| s >= 500),
            ids: &ids,
            arena: None,
            request: Some((r.duration_ms, &|| crate::pipeline::request_label(r))),
            // Trace mode does not know whether the request's events were observed: the
            // pipeline sets `grouped` only when it correlates (analyze).
            joins_only: r.grouped,
            pin: None,
        });
        self.apply_changes();
        if let Some((g, name)) = observed {
            let n = self.arrival();
            let h = self.held.entry(g).or_default();
            h.hit |= id_matches(&self.target, &ids);
            h.name = Some(name);
            h.requests += 1;
            if r.status.is_some_and(|s| s >= 500) {
                h.failed(Recorded {
                    n,
                    ts: r.ts,
                    service: r.service,
                    source: r.at.source,
                    line: r.at.line,
                    level: None,
                    message: String::new(),
                    exception: None,
                    method: r.method().map(str::to_string),
                    path: r.path().or(r.route()).map(str::to_string),
                    status: r.status,
                    duration_ms: r.duration_ms,
                    pod: origin.pod.clone(),
                    ids: Ids::new(std::iter::empty()),
                });
            }
            let timed = r.duration_ms.map(|d| TimedRequest {
                n,
                ts: r.ts,
                duration_ms: d,
                desc: crate::pipeline::request_summary(r),
                source: r.at.source,
                line: r.at.line,
            });
            keep_slowest(&mut h.slowest, timed);
        }
        Ok(())
    }
}

impl Timeline {
    /// The terminal rendering: one timeline for one group; for an identifier in several groups
    /// (or in one group and in events of no group), a line for the whole, then each group under
    /// its own heading with its own timeline, then the events in no group.
    pub fn render_text(&self) -> String {
        self.for_people().render_lines()
    }

    /// The timeline with every text from the log made [`crate::output::one_line`].
    fn for_people(&self) -> Timeline {
        use crate::output::{one_line, one_line_opt as opt};
        let mut t = self.clone();
        one_line(&mut t.id);
        let described = std::iter::once((
            &mut t.identifiers,
            &mut t.labels,
            &mut t.services,
            &mut t.sources,
            &mut t.slowest_request,
            &mut t.first_error,
        ))
        .chain(t.by_group.iter_mut().map(|g| {
            one_line(&mut g.id);
            (
                &mut g.identifiers,
                &mut g.labels,
                &mut g.services,
                &mut g.sources,
                &mut g.slowest_request,
                &mut g.first_error,
            )
        }));
        let mut events = Vec::new();
        for (identifiers, labels, services, sources, slowest, first_error) in described {
            for v in [identifiers, labels, services, sources] {
                v.iter_mut().for_each(one_line);
            }
            if let Some(s) = slowest {
                one_line(&mut s.request);
                one_line(&mut s.source);
            }
            events.extend(first_error.as_mut());
        }
        for e in events.into_iter().chain(&mut t.events) {
            for s in [&mut e.service, &mut e.source, &mut e.message] {
                one_line(s);
            }
            for s in [
                &mut e.level,
                &mut e.exception,
                &mut e.method,
                &mut e.path,
                &mut e.pod,
            ] {
                opt(s);
            }
        }
        t
    }

    fn render_lines(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let loose = self.events.iter().filter(|e| e.group.is_none()).count();
        if self.by_group.len() + usize::from(loose > 0) <= 1 {
            let _ = writeln!(
                o,
                "TRACE {}  —  {} event(s), {} error(s), {} group(s), span {}",
                self.id,
                self.events.len(),
                self.errors,
                self.groups,
                secs(self.span_ms)
            );
            let summary = Summary {
                first: self.first.as_deref(),
                last: self.last.as_deref(),
                services: &self.services,
                sources: &self.sources,
                identifiers: Some(&self.identifiers),
                labels: &self.labels,
                first_error: Some(&self.first_error),
                slowest_request: Some(&self.slowest_request),
            };
            summary.render(&mut o, 0.0);
            render_events(&mut o, self.events.iter(), 0.0);
        } else {
            // One line for the whole; each group has its own heading below.
            let _ = write!(
                o,
                "TRACE {}  —  in {} group(s), shown one by one: {} event(s)",
                self.id,
                self.groups,
                self.events.len(),
            );
            if loose > 0 {
                let _ = write!(o, " ({loose} in no group)");
            }
            let _ = writeln!(o, ", {} error(s), span {}", self.errors, secs(self.span_ms));
            for (i, g) in self.by_group.iter().enumerate() {
                let events = || self.events.iter().filter(move |e| e.group == Some(i));
                let _ = writeln!(
                    o,
                    "\nGROUP {}/{} {}  —  {} event(s), {} error(s), span {}",
                    i + 1,
                    self.by_group.len(),
                    g.id,
                    g.events,
                    g.errors,
                    secs(g.span_ms)
                );
                // Offsets from the group's first event.
                let base = events().find_map(|e| e.offset_ms).unwrap_or(0.0);
                let summary = Summary {
                    first: g.first.as_deref(),
                    last: g.last.as_deref(),
                    services: &g.services,
                    sources: &g.sources,
                    identifiers: Some(&g.identifiers),
                    labels: &g.labels,
                    first_error: Some(&g.first_error),
                    slowest_request: Some(&g.slowest_request),
                };
                summary.render(&mut o, base);
                render_events(&mut o, events(), base);
            }
            if loose > 0 {
                let events = || self.events.iter().filter(|e| e.group.is_none());
                let errors = events()
                    .filter(|e| matches!(e.level.as_deref(), Some("error" | "fatal")))
                    .count();
                let _ = writeln!(
                    o,
                    "\nIN NO GROUP  —  {loose} event(s) carrying {} but no linking identifier, {errors} error(s)",
                    self.id
                );
                let base = events().find_map(|e| e.offset_ms).unwrap_or(0.0);
                let (services, sources) = events().fold(
                    (Vec::new(), Vec::new()),
                    |(mut services, mut sources), e| {
                        if !services.contains(&e.service) {
                            services.push(e.service.clone());
                        }
                        if !sources.contains(&e.source) {
                            sources.push(e.source.clone());
                        }
                        (services, sources)
                    },
                );
                let summary = Summary {
                    first: events().find_map(|e| e.ts.as_deref()),
                    last: events().filter_map(|e| e.ts.as_deref()).max(),
                    services: &services,
                    sources: &sources,
                    identifiers: None,
                    labels: &[],
                    first_error: None,
                    slowest_request: None,
                };
                summary.render(&mut o, base);
                render_events(&mut o, events(), base);
            }
        }
        // Messages and paths are the log's own text: no control character reaches the terminal.
        crate::output::escape_controls(&o, false).into_owned()
    }
}

fn secs(ms: f64) -> String {
    format!("{:.3}s", ms / 1000.0)
}

/// The lines under a timeline's (or a group's) heading.
struct Summary<'t> {
    first: Option<&'t str>,
    last: Option<&'t str>,
    services: &'t [String],
    sources: &'t [String],
    identifiers: Option<&'t [String]>,
    labels: &'t [String],
    first_error: Option<&'t Option<TimelineEvent>>,
    slowest_request: Option<&'t Option<SlowestRequest>>,
}

impl Summary<'_> {
    /// Offsets are from `base` (ms after the timeline's first event).
    fn render(&self, o: &mut String, base: f64) {
        use std::fmt::Write;
        let _ = writeln!(
            o,
            "  from {} to {}",
            self.first.unwrap_or("?"),
            self.last.unwrap_or("?")
        );
        let _ = writeln!(o, "  services:    {}", self.services.join(", "));
        let _ = writeln!(o, "  sources:     {}", self.sources.join(", "));
        if let Some(ids) = self.identifiers {
            let _ = writeln!(o, "  identifiers: {}", ids.join(", "));
        }
        if !self.labels.is_empty() {
            let _ = writeln!(o, "  labels:      {}", self.labels.join(", "));
        }
        match self.first_error {
            Some(Some(e)) => {
                // An event without a time has no offset (`?`, as in the timeline below).
                let offset = e
                    .offset_ms
                    .map_or_else(|| "?".to_string(), |m| format!("+{}", secs(m - base)));
                let _ = writeln!(
                    o,
                    "  first error: {offset} {} {}:{} {}{}",
                    e.service,
                    e.source,
                    e.line,
                    e.message,
                    request_of(e)
                );
            }
            Some(None) => {
                let _ = writeln!(o, "  first error: none");
            }
            None => {}
        }
        match self.slowest_request {
            Some(Some(r)) => {
                let _ = writeln!(
                    o,
                    "  slowest request: {} at {} ({}:{})",
                    r.request,
                    r.ts.as_deref().unwrap_or("?"),
                    r.source,
                    r.line
                );
            }
            Some(None) => {
                let _ = writeln!(o, "  slowest request: none with a latency");
            }
            None => {}
        }
        let _ = writeln!(o);
    }
}

/// What an event's line says of its request: `  GET /x → 500 (12 ms)`; the method and path
/// only when the message does not already name the path (SkillMeat's lines do).
fn request_of(e: &TimelineEvent) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let named = e.path.as_deref().is_some_and(|p| e.message.contains(p));
    let request = [e.method.as_deref(), e.path.as_deref()]
        .into_iter()
        .flatten()
        .filter(|_| !named)
        .collect::<Vec<_>>()
        .join(" ");
    match (request.is_empty(), e.status) {
        (false, Some(s)) => {
            let _ = write!(o, "  {request} → {s}");
        }
        (false, None) => {
            let _ = write!(o, "  {request}");
        }
        (true, Some(s)) => {
            let _ = write!(o, "  → {s}");
        }
        (true, None) => {}
    }
    if let Some(d) = e.duration_ms {
        let _ = write!(o, " ({d} ms)");
    }
    o
}

/// The timeline's lines, offsets from `base`.
fn render_events<'e>(o: &mut String, events: impl Iterator<Item = &'e TimelineEvent>, base: f64) {
    use std::fmt::Write;
    for e in events {
        let offset = e.offset_ms.map_or_else(
            || "       ?".to_string(),
            |m| format!("+{}", secs(m - base)),
        );
        let _ = write!(
            o,
            "{offset:>10}  {:<27}  {:<9} {:<5}  {}:{}  {}{}",
            e.ts.as_deref().unwrap_or("-"),
            e.service,
            e.level.as_deref().unwrap_or("-"),
            e.source.rsplit('/').next().unwrap_or(&e.source),
            e.line,
            e.message,
            request_of(e)
        );
        if let Some(x) = &e.exception {
            let _ = write!(o, "\n{:>12}└ {x}", "");
        }
        let _ = writeln!(o);
    }
}
