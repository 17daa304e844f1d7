//! The rule engine for the data in `rules/`: incident findings from known failure patterns.
//!
//! A rule ([`spec::RuleSpec`], one TOML file each) is compiled once into a [`Rule`]: a
//! [`condition::Condition`] over the event schema and what fires it — every match, a threshold
//! (at least N matches within a window per key), an error rate, or a latency quantile over a
//! sliding window of requests. Evaluation is split so the pipeline stays fast:
//!
//! * parse workers test event-scoped conditions on the borrowed event ([`RuleSet::match_event`])
//!   and attach the ids of matching rules (and threshold keys) to the item. Only the rules of
//!   the event's service are tried, and only those whose literals occur in the message or
//!   exception (one Aho-Corasick pass per event, [`prefilter`]);
//! * the merger tests continuation lines (tracebacks, panic messages) and merged requests, and
//!   keeps all windowed state ([`engine::Findings`]), in input order and event time.
//!
//! Invariants: conditions never panic and never do I/O; findings depend only on the order of
//! events, never on chunking or threads; state is bounded per rule (keys, buckets, evidence).

mod builtin;
pub mod condition;
pub mod engine;
pub mod fixtures;
pub mod prefilter;
pub mod spec;
mod successes;

use std::path::Path;

use serde::Serialize;

use crate::filter;
use crate::time::Nanos;
use condition::{Condition, FieldRef, Subject};
use prefilter::{Gate, GatedList, LiteralScan, LiteralsBuilder, Seen};
use spec::RuleSpec;

/// The built-in rule pack, compiled into the binary (`rules/<ID>-<name>.toml`).
pub use builtin::BUILTIN;

/// Why a rule file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Unreadable file or directory.
    #[error("cannot read rule file '{path}': {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Bad TOML or unknown keys.
    #[error("invalid rule file '{path}': {source}")]
    Toml {
        /// File.
        path: String,
        /// Cause (with line and column).
        source: toml::de::Error,
    },
    /// Valid TOML, invalid rule.
    #[error("invalid rule file '{path}': {msg}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        msg: String,
    },
}

/// Finding severity, least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Minor.
    Low,
    /// Degradation.
    Medium,
    /// Major degradation.
    High,
    /// Outage or security incident.
    Critical,
}

impl Severity {
    /// All severities, least severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// What a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every log event (and the continuation lines attached to it).
    Event,
    /// Every merged HTTP request.
    Request,
}

/// What makes a rule fire.
#[derive(Clone, Debug)]
pub enum Trigger {
    /// Every match is reported.
    Each,
    /// At least `count` matches within `window_ns`, per key.
    Threshold {
        /// Minimum matches.
        count: u32,
        /// Window.
        window_ns: Nanos,
        /// Key fields.
        group_by: Vec<FieldRef>,
    },
    /// Errors among the matching requests over a sliding window.
    Rate {
        /// Window.
        window_ns: Nanos,
        /// Which requests are errors.
        errors: Condition,
        /// Fire above this many errors per second.
        per_second: Option<f64>,
        /// Fire above this fraction.
        ratio: Option<f64>,
        /// Minimum requests in a window.
        min_requests: u64,
        /// Minimum errors in a window.
        min_errors: u64,
        /// Counts only the errors of streams that printed no success-type line within the
        /// window before or after them.
        failures_only: bool,
        /// Key fields.
        group_by: Vec<FieldRef>,
    },
    /// A latency quantile of the matching requests over a sliding window.
    Latency {
        /// Window.
        window_ns: Nanos,
        /// Quantile.
        quantile: f64,
        /// Limit.
        above_ms: f64,
        /// Minimum samples in a window.
        min_samples: u64,
        /// Minimum samples above the limit in a window.
        min_above: u64,
        /// Key fields.
        group_by: Vec<FieldRef>,
    },
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable code.
    pub id: String,
    /// Kebab-case name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Why it matters.
    pub description: String,
    /// Runbook section.
    pub runbook: String,
    /// Events or requests.
    pub scope: Scope,
    /// Match condition.
    pub condition: Condition,
    /// What fires it.
    pub trigger: Trigger,
    /// Where it was loaded from (`builtin:…` or a path).
    pub file: String,
    /// SHA-256 of the rule file's text (hex; empty for a rule not read from TOML), for the
    /// export manifest.
    pub sha256: String,
    /// The condition reads `exception` (so continuation lines are tested too).
    pub reads_exception: bool,
    /// The service the condition requires, if any (a cheap pre-check).
    pub service: Option<String>,
}

/// A rule match found by a parse worker: the rule's index and, for threshold rules, the values
/// of its `group_by` fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Index into [`RuleSet::rules`].
    pub rule: u16,
    /// `group_by` values (missing fields are empty strings).
    pub key: Option<Box<[Box<str>]>>,
    /// An event-scoped `[rate]` rule's `errors` condition holds too (the match is counted
    /// among the failures of its window, not only among the attempts).
    pub notable: bool,
}

/// The event-scoped rules to try for one service, in rule order.
#[derive(Clone, Debug, Default)]
struct Plan {
    /// Rules tested on events.
    event: GatedList,
    /// Rules tested on continuation lines (they read `exception`).
    continuation: GatedList,
    /// Rules tested on merged requests.
    request: Vec<u16>,
}

/// The compiled rules in use.
///
/// Invariant: `by_service` has one plan per service named by a rule's guard
/// ([`Rule::service`]) holding that service's guarded rules and all unguarded ones (of every
/// scope);
/// `unguarded` holds the unguarded rules only (for every other service). `gates` has one entry
/// per rule, `Some` only for event rules whose condition requires literals of `scan` (each
/// folded list scans only its rules' literals, with the same ids).
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    event_rules: Vec<u16>,
    request_rules: Vec<u16>,
    continuation_rules: Vec<u16>,
    needs_extras: bool,
    by_service: Vec<(Box<str>, Plan)>,
    unguarded: Plan,
    gates: Vec<Option<Gate>>,
    scan: LiteralScan,
    /// Per rule: the condition is only its service guard ([`Condition::is_service_test_only`]).
    guard_only: Vec<bool>,
}

fn is_rule_id(s: &str) -> bool {
    let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
    let digits = &s[letters..];
    (2..=6).contains(&letters) && digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit())
}

fn window(s: &str, what: &str) -> Result<Nanos, String> {
    let ns = filter::parse_duration(s).map_err(|e| format!("{what}: {e}"))?;
    if ns <= 0 {
        return Err(format!("{what}: must be positive"));
    }
    Ok(ns)
}

fn group_by(fields: &[String]) -> Result<Vec<FieldRef>, String> {
    fields.iter().map(|f| FieldRef::parse(f)).collect()
}

/// Compile one rule spec.
///
/// # Errors
/// The first problem found, as text.
pub fn compile(spec: &RuleSpec, file: &str) -> Result<Rule, String> {
    if !is_rule_id(&spec.id) {
        return Err(format!(
            "id '{}' must be 2-6 upper-case letters and 3 digits (AUTH001)",
            spec.id
        ));
    }
    if !crate::is_kebab(&spec.name) {
        return Err(format!("name '{}' must be kebab-case", spec.name));
    }
    for (what, v) in [
        ("title", &spec.title),
        ("description", &spec.description),
        ("runbook", &spec.runbook),
    ] {
        if v.trim().is_empty() {
            return Err(format!("`{what}` must not be empty"));
        }
    }
    let severity = Severity::parse(&spec.severity).ok_or_else(|| {
        format!(
            "severity '{}' must be one of info, low, medium, high, critical",
            spec.severity
        )
    })?;
    let windowed = usize::from(spec.threshold.is_some())
        + usize::from(spec.rate.is_some())
        + usize::from(spec.latency.is_some());
    if windowed > 1 {
        return Err("a rule has at most one of [threshold], [rate], [latency]".into());
    }
    let mut scope = match spec.scope.as_deref() {
        None | Some("event") => Scope::Event,
        Some("request") => Scope::Request,
        Some(other) => return Err(format!("scope '{other}' must be event or request")),
    };
    let condition = Condition::compile(&spec.condition).map_err(|e| format!("[match]: {e}"))?;
    let default_key = |g: &[String]| {
        if g.is_empty() {
            Ok(vec![FieldRef::Service])
        } else {
            group_by(g)
        }
    };
    let trigger = if let Some(t) = &spec.threshold {
        if t.count == 0 {
            return Err("[threshold] count must be at least 1".into());
        }
        Trigger::Threshold {
            count: t.count,
            window_ns: window(&t.window, "[threshold] window")?,
            group_by: group_by(&t.group_by)?,
        }
    } else if let Some(r) = &spec.rate {
        // A rate is over requests unless the rule asks for events (a share of log lines,
        // e.g. WebSocket connections refused among connection attempts).
        scope = if spec.scope.as_deref() == Some("event") {
            if r.only_failures_logged {
                return Err("[rate] only_failures_logged needs scope = \"request\"".into());
            }
            Scope::Event
        } else {
            Scope::Request
        };
        if r.above_per_second.is_some() == r.above_ratio.is_some() {
            return Err("[rate] needs exactly one of above_per_second, above_ratio".into());
        }
        if r.only_failures_logged && (r.above_per_second.is_none() || r.min_requests > 1) {
            // Failure-only streams give a count of failures, decided exactly; not a ratio.
            return Err(
                "[rate] only_failures_logged needs above_per_second (and no min_requests)".into(),
            );
        }
        Trigger::Rate {
            window_ns: window(&r.window, "[rate] window")?,
            errors: Condition::compile(&r.errors).map_err(|e| format!("[rate] errors: {e}"))?,
            per_second: r.above_per_second,
            ratio: r.above_ratio,
            min_requests: r.min_requests,
            min_errors: r.min_errors,
            failures_only: r.only_failures_logged,
            group_by: default_key(&r.group_by)?,
        }
    } else if let Some(l) = &spec.latency {
        if spec.scope.as_deref() == Some("event") {
            return Err("[latency] needs scope = \"request\"".into());
        }
        scope = Scope::Request;
        if !(l.quantile > 0.0 && l.quantile <= 1.0) {
            return Err("[latency] quantile must be in (0, 1]".into());
        }
        Trigger::Latency {
            window_ns: window(&l.window, "[latency] window")?,
            quantile: l.quantile,
            above_ms: l.above_ms,
            min_samples: l.min_samples,
            min_above: l.min_above,
            group_by: default_key(&l.group_by)?,
        }
    } else {
        Trigger::Each
    };
    let mut fields = Vec::new();
    condition.fields(&mut fields);
    // What a request rule reads beyond [match]: its errors condition and its keys.
    let mut request_fields = fields.clone();
    match &trigger {
        Trigger::Rate {
            errors, group_by, ..
        } => {
            errors.fields(&mut request_fields);
            request_fields.extend(group_by.iter().cloned());
        }
        Trigger::Threshold { group_by, .. } | Trigger::Latency { group_by, .. } => {
            request_fields.extend(group_by.iter().cloned());
        }
        Trigger::Each => {}
    }
    if scope == Scope::Request
        && let Some(f) = request_fields.iter().find(|f| {
            !matches!(
                f,
                FieldRef::Status | FieldRef::DurationMs | FieldRef::Service
            ) && !matches!(
                f,
                FieldRef::Slot(s) if matches!(
                    s,
                    crate::event::Slot::Method
                        | crate::event::Slot::Route
                        | crate::event::Slot::Path
                        | crate::event::Slot::TraceId
                        | crate::event::Slot::RequestId
                        | crate::event::Slot::ClientIp
                        | crate::event::Slot::AgentId
                )
            )
        })
    {
        return Err(format!(
            "request rules can read service, method, route, path, status, duration_ms, trace_id, request_id, client_ip, agent_id — not '{}'",
            f.name()
        ));
    }
    let reads_exception = fields.contains(&FieldRef::Slot(crate::event::Slot::Exception));
    if scope == Scope::Event
        && matches!(trigger, Trigger::Rate { .. })
        && request_fields.contains(&FieldRef::Slot(crate::event::Slot::Exception))
    {
        // Continuation lines are tested on their own: each would count as one more attempt.
        return Err("an event [rate] cannot read exception".into());
    }
    Ok(Rule {
        id: spec.id.clone(),
        name: spec.name.clone(),
        title: spec.title.trim().to_string(),
        severity,
        description: spec.description.trim().to_string(),
        runbook: spec.runbook.trim().to_string(),
        scope,
        trigger,
        file: file.to_string(),
        sha256: String::new(),
        reads_exception,
        service: condition.required_service().map(str::to_string),
        condition,
    })
}

/// Parse and compile one rule file's text.
///
/// # Errors
/// TOML or validation errors naming the file.
pub fn parse_rule(file: &str, text: &str) -> Result<Rule, RuleError> {
    let spec: RuleSpec = toml::from_str(text).map_err(|e| RuleError::Toml {
        path: file.to_string(),
        source: e,
    })?;
    let mut rule = compile(&spec, file).map_err(|msg| RuleError::Invalid {
        path: file.to_string(),
        msg,
    })?;
    rule.sha256 = crate::export::sha256_hex(text.as_bytes());
    Ok(rule)
}

/// The `*.toml` files of a directory, sorted.
///
/// # Errors
/// An unreadable directory.
pub fn rule_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, RuleError> {
    let io = |e| RuleError::Io {
        path: dir.display().to_string(),
        source: e,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

impl RuleSet {
    /// The built-in pack, then the rules in `dir` (a rule with the id of a built-in one
    /// replaces it; others are added).
    ///
    /// # Errors
    /// Unreadable or invalid files; duplicate ids or names.
    pub fn load(dir: Option<&Path>) -> Result<RuleSet, RuleError> {
        let mut rules = Vec::new();
        for b in BUILTIN {
            rules.push(parse_rule(&format!("builtin:rules/{}", b.file), b.text)?);
        }
        if let Some(dir) = dir {
            for p in rule_files(dir)? {
                let file = p.display().to_string();
                let text = std::fs::read_to_string(&p).map_err(|e| RuleError::Io {
                    path: file.clone(),
                    source: e,
                })?;
                let rule = parse_rule(&file, &text)?;
                match rules.iter_mut().find(|r: &&mut Rule| r.id == rule.id) {
                    // Overriding a built-in is the point; two files of one directory with
                    // one id would leave which one counts to the file order.
                    Some(slot) if !slot.file.starts_with("builtin:") => {
                        return Err(RuleError::Invalid {
                            path: file,
                            msg: format!("rule id {} is also used by {}", rule.id, slot.file),
                        });
                    }
                    Some(slot) => *slot = rule,
                    None => rules.push(rule),
                }
            }
        }
        RuleSet::new(rules)
    }

    /// A set of compiled rules.
    ///
    /// # Errors
    /// Duplicate names, or more rules than fit an index.
    pub fn new(rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        if rules.len() > usize::from(u16::MAX) {
            return Err(RuleError::Invalid {
                path: "rules".into(),
                msg: "too many rules".into(),
            });
        }
        for (i, r) in rules.iter().enumerate() {
            if let Some(o) = rules[..i].iter().find(|o| o.name == r.name || o.id == r.id) {
                return Err(RuleError::Invalid {
                    path: r.file.clone(),
                    msg: format!(
                        "rule {} '{}' clashes with {} '{}' in {}",
                        r.id, r.name, o.id, o.name, o.file
                    ),
                });
            }
        }
        let mut set = RuleSet {
            rules,
            ..RuleSet::default()
        };
        let mut literals = LiteralsBuilder::default();
        for r in &set.rules {
            if let Some(service) = &r.service
                && !set.by_service.iter().any(|(s, _)| **s == **service)
            {
                set.by_service
                    .push((service.as_str().into(), Plan::default()));
            }
        }
        for (i, r) in set.rules.iter().enumerate() {
            let i = i as u16;
            set.guard_only.push(r.condition.is_service_test_only());
            set.gates.push(match r.scope {
                Scope::Event => literals.gate(&r.condition),
                Scope::Request => None,
            });
            match r.scope {
                Scope::Event => {
                    set.event_rules.push(i);
                    if r.reads_exception {
                        set.continuation_rules.push(i);
                    }
                }
                Scope::Request => set.request_rules.push(i),
            }
            let plans = set.by_service.iter_mut().filter_map(|(s, p)| {
                r.service
                    .as_deref()
                    .is_none_or(|want| want == &**s)
                    .then_some(p)
            });
            let unguarded = r.service.is_none().then_some(&mut set.unguarded);
            for plan in plans.chain(unguarded) {
                match r.scope {
                    Scope::Event => {
                        plan.event.push(i);
                        if r.reads_exception {
                            plan.continuation.push(i);
                        }
                    }
                    Scope::Request => plan.request.push(i),
                }
            }
            let mut fields = Vec::new();
            r.condition.fields(&mut fields);
            match &r.trigger {
                Trigger::Threshold { group_by, .. } => fields.extend(group_by.iter().cloned()),
                Trigger::Rate {
                    errors, group_by, ..
                } => {
                    errors.fields(&mut fields);
                    fields.extend(group_by.iter().cloned());
                }
                _ => {}
            }
            set.needs_extras |= fields.iter().any(|f| matches!(f, FieldRef::Extra(_)));
        }
        set.scan = literals.build();
        let gates = &set.gates;
        for plan in set
            .by_service
            .iter_mut()
            .map(|(_, p)| p)
            .chain([&mut set.unguarded])
        {
            plan.event.fold(gates, &literals, &set.scan);
            plan.continuation.fold(gates, &literals, &set.scan);
        }
        Ok(set)
    }

    /// Keep only rules whose id or name is listed.
    pub fn only(self, keep: &[&str]) -> Result<RuleSet, RuleError> {
        let rules = self
            .rules
            .into_iter()
            .filter(|r| keep.contains(&r.id.as_str()) || keep.contains(&r.name.as_str()))
            .collect();
        RuleSet::new(rules)
    }

    /// All rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Indices of rules tested on continuation lines.
    pub fn continuation_rules(&self) -> &[u16] {
        &self.continuation_rules
    }

    /// Indices of request rules.
    pub fn request_rules(&self) -> &[u16] {
        &self.request_rules
    }

    /// Indices of the request rules that can match this request (those guarded by another
    /// service are left out), in rule order.
    pub fn request_rules_for<S: Subject + ?Sized>(&self, s: &S) -> &[u16] {
        &self.plan(s).request
    }

    /// Some rule reads `fields.NAME` (the parser must collect extra fields).
    pub fn needs_extras(&self) -> bool {
        self.needs_extras
    }

    /// Test the event-scoped rules against one event; matches are appended to `out` in rule
    /// order.
    pub fn match_event<S: Subject + ?Sized>(&self, s: &S, out: &mut Vec<Hit>) {
        self.run_gated(&self.plan(s).event, s, out);
    }

    /// Test the rules that read `exception` against one continuation line.
    pub fn match_continuation<S: Subject + ?Sized>(&self, s: &S, out: &mut Vec<Hit>) {
        self.run_gated(&self.plan(s).continuation, s, out);
    }

    /// Test the rules of `list` whose literal gate the subject opens, in rule order.
    fn run_gated<S: Subject + ?Sized>(&self, list: &GatedList, s: &S, out: &mut Vec<Hit>) {
        let folded = list.for_each_open(s, |i| self.test_condition(i, s, out));
        if folded.is_none() {
            self.run_gated_one_by_one(list.rules(), s, out);
        }
    }

    /// The rules for the subject's service. A rule guarded by another service cannot match
    /// (its `service = X` conjunct is false), nor can a guarded rule when the service is
    /// unknown, so leaving them out changes nothing.
    fn plan<S: Subject + ?Sized>(&self, s: &S) -> &Plan {
        let Some(have) = s.text(&FieldRef::Service) else {
            return &self.unguarded;
        };
        self.by_service
            .iter()
            .find(|(name, _)| crate::bytes::eq(&**name, &*have))
            .map_or(&self.unguarded, |(_, plan)| plan)
    }

    /// Test `candidates`, skipping those whose literal gate stays closed (for lists too long to
    /// fold into masks). The literal scan runs at most once, and only when a gated rule is
    /// reached.
    fn run_gated_one_by_one<S: Subject + ?Sized>(
        &self,
        candidates: &[u16],
        s: &S,
        out: &mut Vec<Hit>,
    ) {
        let mut seen: Option<Seen> = None;
        for &i in candidates {
            if let Some(Some(gate)) = self.gates.get(usize::from(i)) {
                let seen = seen.get_or_insert_with(|| self.scan.scan(s));
                if !gate.opens(seen) {
                    continue;
                }
            }
            self.test_condition(i, s, out);
        }
    }

    /// Test one rule (with its service guard); on a match push a hit with its key.
    pub fn test<S: Subject + ?Sized>(&self, i: u16, s: &S, out: &mut Vec<Hit>) {
        let Some(rule) = self.rules.get(usize::from(i)) else {
            return;
        };
        if let Some(want) = &rule.service
            && s.text(&FieldRef::Service)
                .is_some_and(|have| *have != **want)
        {
            return;
        }
        self.test_condition(i, s, out);
    }

    /// Test one rule's condition (the guard is already checked); on a match push a hit.
    fn test_condition<S: Subject + ?Sized>(&self, i: u16, s: &S, out: &mut Vec<Hit>) {
        let Some(rule) = self.rules.get(usize::from(i)) else {
            return;
        };
        if !self.holds(i, rule, s) {
            return;
        }
        let notable = match (&rule.scope, &rule.trigger) {
            (Scope::Event, Trigger::Rate { errors, .. }) => errors.matches(s),
            _ => false,
        };
        out.push(Hit {
            rule: i,
            key: self.key_of(rule, s),
            notable,
        });
    }

    /// Does rule `i`'s condition hold for a subject that passed the rule's service guard (is
    /// in the rule's plan)? Skips evaluating a condition that is only that guard.
    pub fn holds<S: Subject + ?Sized>(&self, i: u16, rule: &Rule, s: &S) -> bool {
        self.guard_only.get(usize::from(i)).is_some_and(|&g| g) || rule.condition.matches(s)
    }

    /// The `group_by` values of a windowed rule's match (missing fields are empty).
    pub fn key_of<S: Subject + ?Sized>(&self, rule: &Rule, s: &S) -> Option<Box<[Box<str>]>> {
        match &rule.trigger {
            Trigger::Each => None,
            Trigger::Threshold { group_by, .. }
            | Trigger::Rate { group_by, .. }
            | Trigger::Latency { group_by, .. } => Some(
                group_by
                    .iter()
                    .map(|f| s.text(f).map_or_else(Box::default, |v| Box::from(&*v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        assert!(is_rule_id("AUTH001"));
        assert!(is_rule_id("DB012"));
        assert!(!is_rule_id("auth001"));
        assert!(!is_rule_id("A001"));
        assert!(!is_rule_id("AUTH01"));
        assert!(crate::is_kebab("jwt-validation-failed"));
        assert!(!crate::is_kebab("Jwt_failed"));
        assert!(!crate::is_kebab("a--b"));
    }

    /// A request has no message or logger: a request rule reading one, in its errors
    /// condition or its keys as in [match], is refused rather than never counting.
    #[test]
    fn request_rules_read_request_fields_everywhere() {
        let head = "id = \"TEST950\"\nname = \"t\"\ntitle = \"t\"\nseverity = \"low\"\nrunbook = \"r\"\ndescription = \"d\"\n";
        for (body, field) in [
            (
                "[rate]\nwindow = \"5m\"\nerrors = { field = \"message\", exists = true }\nabove_per_second = 0.1\n[match]\nfield = \"service\"\nequals = \"skreaver\"\n",
                "message",
            ),
            (
                "scope = \"request\"\n[threshold]\ncount = 3\nwindow = \"1m\"\ngroup_by = [\"logger\"]\n[match]\nfield = \"status\"\nge = 500\n",
                "logger",
            ),
        ] {
            let err = parse_rule("TEST950-t.toml", &format!("{head}{body}")).unwrap_err();
            assert!(err.to_string().contains(&format!("not '{field}'")), "{err}");
        }
    }

    /// An event-scoped `[rate]` counts matching events: a continuation line read through
    /// `exception` would be one more attempt, and "failures only" is a property of requests.
    #[test]
    fn event_rates_refuse_exception_and_failures_only() {
        let head = "id = \"TEST951\"\nname = \"t\"\ntitle = \"t\"\nseverity = \"low\"\nrunbook = \"r\"\ndescription = \"d\"\nscope = \"event\"\n";
        for (body, want) in [
            (
                "[rate]\nwindow = \"5m\"\nerrors = { field = \"exception\", contains = \"x\" }\nabove_ratio = 0.1\n[match]\nfield = \"message\"\ncontains = \"y\"\n",
                "cannot read exception",
            ),
            (
                "[rate]\nwindow = \"5m\"\nerrors = { field = \"level\", ge = \"error\" }\nabove_ratio = 0.1\nonly_failures_logged = true\n[match]\nfield = \"message\"\ncontains = \"y\"\n",
                "only_failures_logged needs scope",
            ),
        ] {
            let err = parse_rule("TEST951-t.toml", &format!("{head}{body}")).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        let ok = "[rate]\nwindow = \"5m\"\nerrors = { field = \"level\", ge = \"error\" }\nabove_ratio = 0.1\n[match]\nfield = \"message\"\ncontains = \"y\"\n";
        let rule = parse_rule("TEST951-t.toml", &format!("{head}{ok}")).expect("event rate");
        assert_eq!(rule.scope, Scope::Event);
    }

    /// `only_failures_logged` counts failure-only streams' errors exactly: a ratio (which such
    /// streams cannot give) or a minimum of requests is refused.
    #[test]
    fn failures_only_needs_a_count() {
        let head = "id = \"TEST952\"\nname = \"t\"\ntitle = \"t\"\nseverity = \"low\"\nrunbook = \"r\"\ndescription = \"d\"\n[match]\nfield = \"service\"\nequals = \"skreaver\"\n[rate]\nwindow = \"5m\"\nerrors = { field = \"status\", ge = 500 }\nonly_failures_logged = true\n";
        for body in [
            "above_ratio = 0.05\n",
            "above_per_second = 0.1\nmin_requests = 20\n",
        ] {
            let err = parse_rule("TEST952-t.toml", &format!("{head}{body}")).unwrap_err();
            assert!(err.to_string().contains("needs above_per_second"), "{err}");
        }
        assert!(parse_rule("TEST952-t.toml", &format!("{head}above_per_second = 0.1\n")).is_ok());
    }

    #[test]
    fn builtin_pack_compiles() {
        let set = RuleSet::load(None).expect("built-in rules compile");
        assert!(!set.rules().is_empty());
        assert!(
            !set.needs_extras(),
            "built-in rules must not slow parsing with extras"
        );
    }
}
