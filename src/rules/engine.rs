//! Windowed rule state and the `findings` section of the report. Lives in the merger thread and
//! is fed in input order, so results never depend on chunking or threads.
//!
//! * `Each` rules: one finding per rule, every match counted.
//! * `Threshold` rules: per key, the matches of the last `window`; once `count` of them fall in
//!   one window every match in a firing window is counted (one finding per key).
//! * `Rate` / `Latency` rules: per key, request counts (and a latency sketch) in sub-buckets of
//!   a fifth of the window; evaluated at the end over every sliding window of five buckets.
//!   Memory grows with the time span covered, not with the number of requests.
//!
//! Invariants: event time only; bounded evidence (first and last few), bounded keys per rule
//! ([`MAX_KEYS`]; stale keys are swept, overflow is counted in `dropped_keys`).

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde::Serialize;

use super::condition::{FieldRef, RequestSubject, Subject};
use super::{Hit, RuleSet, Severity, Trigger};
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
/// Sub-buckets per rate/latency window.
const SUB_BUCKETS: i64 = 5;

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
    /// Message or summary (already shortened).
    pub message: Rc<str>,
    /// Correlation group: its representative identifier as stored (printed with
    /// [`decode`]).
    pub group: Option<Rc<str>>,
}

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

#[derive(Default, Debug, Clone)]
struct Tally {
    count: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
    head: Vec<Sighting>,
    tail: VecDeque<Sighting>,
}

impl Tally {
    fn add(&mut self, s: Sighting) {
        self.count += 1;
        if let Some(t) = s.ts {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if self.head.len() < EVIDENCE_EACH_END {
            self.head.push(s);
        } else {
            self.tail.push_back(s);
            if self.tail.len() > EVIDENCE_EACH_END {
                self.tail.pop_front();
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Pending {
    sighting: Sighting,
    counted: bool,
}

#[derive(Default, Debug, Clone)]
struct KeyWindow {
    recent: VecDeque<Pending>,
    tally: Tally,
    last_seen: Nanos,
}

#[derive(Default, Debug, Clone)]
struct Bucket {
    requests: u64,
    notable: u64,
    sketch: Option<Sketch>,
    head: Vec<Sighting>,
    tail: VecDeque<Sighting>,
}

#[derive(Debug, Clone)]
enum State {
    Each(Tally),
    Threshold {
        keys: crate::FastMap<Box<[Box<str>]>, KeyWindow>,
        dropped: u64,
    },
    Series {
        /// By `group_by` values encoded with [`encode_key`] (looked up without allocating).
        keys: crate::FastMap<Box<str>, BTreeMap<Nanos, Bucket>>,
        dropped: u64,
    },
}

/// All rule state of a run.
#[derive(Clone)]
pub struct Findings<'r> {
    rules: &'r RuleSet,
    states: Vec<State>,
    /// Scratch: the encoded key of the request being counted.
    key: String,
}

impl<'r> Findings<'r> {
    /// Empty state for these rules.
    pub fn new(rules: &'r RuleSet) -> Findings<'r> {
        let states = rules
            .rules()
            .iter()
            .map(|r| match r.trigger {
                Trigger::Each => State::Each(Tally::default()),
                Trigger::Threshold { .. } => State::Threshold {
                    keys: crate::FastMap::default(),
                    dropped: 0,
                },
                Trigger::Rate { .. } | Trigger::Latency { .. } => State::Series {
                    keys: crate::FastMap::default(),
                    dropped: 0,
                },
            })
            .collect();
        Findings {
            rules,
            states,
            key: String::new(),
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
            (
                State::Threshold { keys, dropped },
                Trigger::Threshold {
                    count, window_ns, ..
                },
            ) => {
                let Some(ts) = s.ts else { return };
                let key = hit.key.clone().unwrap_or_default();
                if !keys.contains_key(&key) && keys.len() >= MAX_KEYS {
                    // Sweep keys idle for longer than the window before giving up on this one.
                    keys.retain(|_, k| k.tally.count > 0 || k.last_seen >= ts - window_ns);
                    if keys.len() >= MAX_KEYS {
                        *dropped += 1;
                        return;
                    }
                }
                let kw = keys.entry(key).or_default();
                kw.last_seen = kw.last_seen.max(ts);
                kw.recent.push_back(Pending {
                    sighting: s,
                    counted: false,
                });
                while kw
                    .recent
                    .front()
                    .is_some_and(|p| p.sighting.ts.unwrap_or(ts) < ts - window_ns)
                {
                    kw.recent.pop_front();
                }
                if kw.recent.len() >= *count as usize {
                    for p in kw.recent.iter_mut().filter(|p| !p.counted) {
                        p.counted = true;
                        kw.tally.add(p.sighting.clone());
                    }
                }
                while kw.recent.len() > (*count as usize).max(1) {
                    kw.recent.pop_front();
                }
            }
            _ => {}
        }
    }

    /// A merged request: test the request rules (those of its service only; see
    /// [`RuleSet::request_rules_for`]).
    pub fn request(&mut self, r: &Request, reg: &Registry, s: impl Fn() -> Sighting) {
        let subject = RequestSubject { r, reg };
        let rules = self.rules;
        for &i in rules.request_rules_for(&subject) {
            let Some(rule) = rules.rules().get(usize::from(i)) else {
                continue;
            };
            if !rules.holds(i, rule, &subject) {
                continue;
            }
            match &rule.trigger {
                Trigger::Each | Trigger::Threshold { .. } => {
                    let hit = Hit {
                        rule: i,
                        key: rules.key_of(rule, &subject),
                    };
                    self.hit(&hit, s());
                }
                Trigger::Rate {
                    window_ns,
                    errors,
                    group_by,
                    ..
                } => {
                    let bad = errors.matches(&subject);
                    encode_key(group_by, &subject, &mut self.key);
                    self.series(i, r.ts, *window_ns, bad, None, &s);
                }
                Trigger::Latency {
                    window_ns,
                    above_ms,
                    group_by,
                    ..
                } => {
                    let Some(d) = r.duration_ms else { continue };
                    encode_key(group_by, &subject, &mut self.key);
                    self.series(i, r.ts, *window_ns, d > *above_ms, Some(d), &s);
                }
            }
        }
    }

    /// Count a request in the bucket of rule `rule`, key `self.key`.
    fn series(
        &mut self,
        rule: u16,
        ts: Option<Nanos>,
        window_ns: Nanos,
        notable: bool,
        latency: Option<f64>,
        s: &impl Fn() -> Sighting,
    ) {
        let Some(ts) = ts else { return };
        let Some(State::Series { keys, dropped }) = self.states.get_mut(usize::from(rule)) else {
            return;
        };
        let key = self.key.as_str();
        let full = keys.len() >= MAX_KEYS;
        let buckets = match keys.get_mut(key) {
            Some(b) => b,
            None if full => {
                *dropped += 1;
                return;
            }
            None => keys.entry(key.into()).or_default(),
        };
        let width = (window_ns / SUB_BUCKETS).max(1);
        let start = ts.div_euclid(width) * width;
        let b = buckets.entry(start).or_default();
        b.requests += 1;
        if let Some(d) = latency {
            b.sketch.get_or_insert_with(Sketch::default).add(d);
        }
        if notable {
            b.notable += 1;
            let sighting = s();
            if b.head.len() < EVIDENCE_EACH_END {
                b.head.push(sighting);
            } else {
                b.tail.push_back(sighting);
                if b.tail.len() > EVIDENCE_EACH_END {
                    b.tail.pop_front();
                }
            }
        }
    }

    /// The findings so far (a live snapshot), leaving the state as it is.
    pub fn snapshot(&self, sources: &[String]) -> Vec<Finding> {
        self.clone().finish(sources)
    }

    /// The findings, most severe first, then most matches.
    pub fn finish(self, sources: &[String]) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, state) in self.states.into_iter().enumerate() {
            let Some(rule) = self.rules.rules().get(i) else {
                continue;
            };
            let mut found: Vec<Finding> = Vec::new();
            let finding = |t: Tally, group: BTreeMap<String, String>, detail: Option<String>| {
                let mut evidence: Vec<Sighting> = t.head;
                evidence.extend(t.tail);
                let mut groups: Vec<String> = Vec::new();
                for g in evidence.iter().filter_map(|e| e.group.as_deref()) {
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
                            correlation: e.group.as_deref().map(decode),
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
                State::Threshold { keys, dropped } => {
                    let Trigger::Threshold {
                        count, window_ns, ..
                    } = &rule.trigger
                    else {
                        continue;
                    };
                    for (key, kw) in keys {
                        if kw.tally.count == 0 {
                            continue;
                        }
                        let mut detail = format!(
                            "at least {count} matches within {}",
                            human_duration(*window_ns)
                        );
                        if dropped > 0 {
                            detail.push_str(&format!(" ({dropped} matches of untracked keys)"));
                        }
                        let parts: Vec<&str> = key.iter().map(|v| &**v).collect();
                        found.push(finding(kw.tally, group_of(&parts), Some(detail)));
                    }
                }
                State::Series { keys, dropped } => {
                    for (key, buckets) in keys {
                        if let Some((t, detail)) = evaluate_series(&rule.trigger, &buckets, dropped)
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

/// Slide a window of five sub-buckets over the series; count the notable requests of every
/// bucket that lies in a firing window.
/// Encode the `group_by` values of a subject into `buf`: each value (empty when missing) as
/// `<byte length>:<value>`, so any value decodes back unambiguously ([`decode_key`]).
fn encode_key<S: Subject + ?Sized>(fields: &[FieldRef], s: &S, buf: &mut String) {
    buf.clear();
    for f in fields {
        let v = s.text(f);
        let v = v.as_deref().unwrap_or("");
        crate::push_decimal(buf, v.len());
        buf.push(':');
        buf.push_str(v);
    }
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

fn evaluate_series(
    trigger: &Trigger,
    buckets: &BTreeMap<Nanos, Bucket>,
    dropped: u64,
) -> Option<(Tally, String)> {
    let window_ns = match trigger {
        Trigger::Rate { window_ns, .. } | Trigger::Latency { window_ns, .. } => *window_ns,
        _ => return None,
    };
    let width = (window_ns / SUB_BUCKETS).max(1);
    // A ratio needs successes in the log: a service that logs only its failures (Skreaver at
    // `info`) says nothing about the share of errors.
    if let Trigger::Rate { ratio: Some(_), .. } = trigger
        && buckets.values().all(|b| b.requests == b.notable)
    {
        return None;
    }
    let mut firing: Vec<Nanos> = Vec::new();
    let mut peak = f64::MIN;
    let mut windows = 0u64;
    for &end in buckets.keys() {
        let from = end - (SUB_BUCKETS - 1) * width;
        let mut requests = 0u64;
        let mut notable = 0u64;
        let mut sketch: Option<Sketch> = None;
        for (_, b) in buckets.range(from..=end) {
            requests += b.requests;
            notable += b.notable;
            if let Some(s) = &b.sketch {
                sketch.get_or_insert_with(Sketch::default).merge(s);
            }
        }
        let (fires, value) = match trigger {
            Trigger::Rate {
                per_second,
                ratio,
                min_requests,
                ..
            } => {
                if requests < *min_requests.max(&1) {
                    continue;
                }
                match (per_second, ratio) {
                    (Some(limit), _) => {
                        let v = notable as f64 / (window_ns as f64 / 1e9);
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
                above_ms,
                min_samples,
                ..
            } => {
                let Some(s) = &sketch else { continue };
                if s.count() < (*min_samples).max(1) {
                    continue;
                }
                let v = s.quantile(*quantile).unwrap_or(0.0);
                (v > *above_ms, v)
            }
            _ => continue,
        };
        if fires {
            windows += 1;
            peak = peak.max(value);
            for (&start, _) in buckets.range(from..=end) {
                if !firing.contains(&start) {
                    firing.push(start);
                }
            }
        }
    }
    if windows == 0 {
        return None;
    }
    firing.sort_unstable();
    let mut t = Tally::default();
    let mut all: Vec<&Sighting> = Vec::new();
    for start in &firing {
        if let Some(b) = buckets.get(start) {
            t.count += b.notable;
            all.extend(b.head.iter());
            all.extend(b.tail.iter());
        }
        let end = start + width;
        t.first = Some(t.first.map_or(*start, |f| f.min(*start)));
        t.last = Some(t.last.map_or(end, |l| l.max(end)));
    }
    let n = all.len();
    for (i, s) in all.into_iter().enumerate() {
        if i < EVIDENCE_EACH_END || i + EVIDENCE_EACH_END >= n {
            if t.head.len() < EVIDENCE_EACH_END {
                t.head.push(s.clone());
            } else {
                t.tail.push_back(s.clone());
            }
        }
    }
    let w = human_duration(window_ns);
    let mut detail = match trigger {
        Trigger::Rate {
            per_second: Some(limit),
            ..
        } => {
            format!("peak error rate {peak:.3}/s over {w} (limit {limit}/s) in {windows} window(s)")
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
        } => format!(
            "peak p{} {peak:.0} ms over {w} (limit {above_ms} ms) in {windows} window(s)",
            (quantile * 100.0).round()
        ),
        _ => String::new(),
    };
    if dropped > 0 {
        detail.push_str(&format!(" ({dropped} requests of untracked keys)"));
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

    proptest! {
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
