//! Compiled match conditions: a closed set of field predicates combined with any/all/not.
//!
//! Invariants: evaluation never allocates for string slots of borrowed events, never panics,
//! and a missing field makes every predicate false except `exists = false` (and `not` of it).

use std::borrow::Cow;

use regex::Regex;

use super::spec::{ConditionSpec, Scalar};
use crate::event::{Event, Extra, Level, Slot};
use crate::jsonscan::{Kind, Raw};
use crate::parse::Registry;
use crate::request::Request;
use crate::time::Nanos;

/// A field of the event schema a predicate reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldRef {
    /// A string slot (`message`, `logger`, `exception`, ids, `route`…).
    Slot(Slot),
    /// HTTP status.
    Status,
    /// Latency in ms.
    DurationMs,
    /// Severity (compared by rank: `ge = "error"`).
    Level,
    /// Service name.
    Service,
    /// Format name.
    Format,
    /// A non-schema field (`fields.NAME`); needs extras collected.
    Extra(String),
}

impl FieldRef {
    /// Resolve a field name.
    pub fn parse(name: &str) -> Result<FieldRef, String> {
        Ok(match name {
            "status" => FieldRef::Status,
            "duration_ms" => FieldRef::DurationMs,
            "level" => FieldRef::Level,
            "service" => FieldRef::Service,
            "format" => FieldRef::Format,
            other => match Slot::from_name(other) {
                Some(s) => FieldRef::Slot(s),
                None => match other.strip_prefix("fields.") {
                    Some(x) if !x.is_empty() => FieldRef::Extra(x.to_string()),
                    _ => {
                        return Err(format!(
                            "unknown field '{other}' (expected status, duration_ms, level, service, format, {}, or fields.NAME)",
                            Slot::ALL.map(|s| s.name()).join(", ")
                        ));
                    }
                },
            },
        })
    }

    /// Name as written in rules.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            FieldRef::Slot(s) => s.name().into(),
            FieldRef::Status => "status".into(),
            FieldRef::DurationMs => "duration_ms".into(),
            FieldRef::Level => "level".into(),
            FieldRef::Service => "service".into(),
            FieldRef::Format => "format".into(),
            FieldRef::Extra(x) => format!("fields.{x}").into(),
        }
    }
}

/// What a condition is evaluated against.
pub trait Subject {
    /// The field as text.
    fn text(&self, f: &FieldRef) -> Option<Cow<'_, str>>;
    /// The field as a number (levels by rank, 0 = trace).
    fn number(&self, f: &FieldRef) -> Option<f64>;
}

/// A borrowed event (in a parse worker) with its registry.
pub struct EventSubject<'e, 'a> {
    /// The event.
    pub ev: &'e Event<'a>,
    /// Service and format names.
    pub reg: &'e Registry,
}

fn level_rank(l: Level) -> f64 {
    f64::from(l as u8)
}

impl EventSubject<'_, '_> {
    /// The fields read rarely, as text (out of line: they format or decode).
    #[inline(never)]
    fn text_other(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
        match f {
            FieldRef::Slot(s) => self.ev.get(*s).map(Cow::Borrowed),
            FieldRef::Status => self.ev.status.map(|s| s.to_string().into()),
            FieldRef::DurationMs => self.ev.duration_ms.map(|d| d.to_string().into()),
            FieldRef::Level => self.ev.level.map(|l| l.as_str().into()),
            FieldRef::Service => Some(self.reg.service_name(self.ev.service).into()),
            FieldRef::Format => Some(self.reg.format_name(self.ev.format).into()),
            FieldRef::Extra(name) => {
                let (_, v) = self.ev.extras.iter().find(|(k, _)| k == name)?;
                match v {
                    Extra::Str(s) => Some(Cow::Borrowed(s.as_ref())),
                    Extra::Json(j) => {
                        let raw = Raw(j);
                        match raw.as_str() {
                            Some(s) => Some(Cow::Owned(s.into_owned())),
                            None => Some(String::from_utf8_lossy(j).into_owned().into()),
                        }
                    }
                }
            }
        }
    }
}

impl Subject for EventSubject<'_, '_> {
    // Inlined: the literal scan and the rule guards read string slots, service and format of
    // every event, and the calls cost more than the lookups.
    #[inline]
    fn text(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
        match f {
            FieldRef::Slot(s) => self.ev.get(*s).map(Cow::Borrowed),
            FieldRef::Service => Some(Cow::Borrowed(self.reg.service_name(self.ev.service))),
            FieldRef::Format => Some(Cow::Borrowed(self.reg.format_name(self.ev.format))),
            other => self.text_other(other),
        }
    }

    fn number(&self, f: &FieldRef) -> Option<f64> {
        match f {
            FieldRef::Status => self.ev.status.map(f64::from),
            FieldRef::DurationMs => self.ev.duration_ms,
            FieldRef::Level => self.ev.level.map(level_rank),
            FieldRef::Extra(name) => {
                let (_, v) = self.ev.extras.iter().find(|(k, _)| k == name)?;
                match v {
                    Extra::Str(s) => s.trim().parse().ok(),
                    Extra::Json(j) => {
                        let raw = Raw(j);
                        if raw.kind() == Kind::Number {
                            raw.as_f64()
                        } else {
                            raw.as_str()?.trim().parse().ok()
                        }
                    }
                }
            }
            other => self.text(other)?.trim().parse().ok(),
        }
    }
}

/// A merged request (in the merger).
pub struct RequestSubject<'r> {
    /// The request.
    pub r: &'r Request,
    /// Service names.
    pub reg: &'r Registry,
}

impl Subject for RequestSubject<'_> {
    fn text(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
        let r: &Request = self.r;
        match f {
            FieldRef::Slot(slot) => r.field(*slot).map(Cow::Borrowed),
            FieldRef::Status => r.status.map(|v| v.to_string().into()),
            FieldRef::DurationMs => r.duration_ms.map(|v| v.to_string().into()),
            FieldRef::Service => Some(self.reg.service_name(r.service).into()),
            _ => None,
        }
    }

    fn number(&self, f: &FieldRef) -> Option<f64> {
        match f {
            FieldRef::Status => self.r.status.map(f64::from),
            FieldRef::DurationMs => self.r.duration_ms,
            other => self.text(other)?.trim().parse().ok(),
        }
    }
}

/// A continuation line (traceback frame, panic message) seen with what is known of the event it
/// continues: service, level, format and status of that event, and the line as `exception`.
pub struct ContinuationSubject<'a> {
    /// The event being continued.
    pub parent: &'a Parent,
    /// The continuation line.
    pub line: &'a str,
    /// Names.
    pub reg: &'a Registry,
}

/// What continuation rules may read of the event a continuation line belongs to (its strings
/// are gone by then: only the exception text, which is the line itself, is matched).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Parent {
    /// Event time.
    pub ts: Option<Nanos>,
    /// Severity.
    pub level: Option<Level>,
    /// Service index.
    pub service: u16,
    /// Format index.
    pub format: u16,
    /// HTTP status.
    pub status: Option<u16>,
    /// Latency in ms.
    pub duration_ms: Option<f64>,
}

impl Subject for ContinuationSubject<'_> {
    fn text(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
        match f {
            FieldRef::Slot(Slot::Exception) => Some(Cow::Borrowed(self.line)),
            FieldRef::Slot(_) | FieldRef::Extra(_) => None,
            FieldRef::Service => Some(Cow::Borrowed(self.reg.service_name(self.parent.service))),
            FieldRef::Format => Some(Cow::Borrowed(self.reg.format_name(self.parent.format))),
            FieldRef::Level => self.parent.level.map(|l| Cow::Borrowed(l.as_str())),
            FieldRef::Status => self.parent.status.map(|v| Cow::Owned(v.to_string())),
            FieldRef::DurationMs => self.parent.duration_ms.map(|v| Cow::Owned(v.to_string())),
        }
    }

    fn number(&self, f: &FieldRef) -> Option<f64> {
        match f {
            FieldRef::Status => self.parent.status.map(f64::from),
            FieldRef::DurationMs => self.parent.duration_ms,
            FieldRef::Level => self.parent.level.map(level_rank),
            _ => None,
        }
    }
}

/// A literal compiled for comparison.
#[derive(Clone, Debug)]
struct Lit {
    text: String,
    num: Option<f64>,
}

impl Lit {
    fn new(s: &Scalar, field: &FieldRef) -> Result<Lit, String> {
        Ok(match s {
            Scalar::Int(i) => Lit {
                text: i.to_string(),
                num: Some(*i as f64),
            },
            Scalar::Float(x) => Lit {
                text: x.to_string(),
                num: Some(*x),
            },
            Scalar::Str(t) => {
                let num = if *field == FieldRef::Level {
                    Some(level_rank(Level::parse(t).ok_or_else(|| {
                        format!("'{t}' is not a level (trace, debug, info, warn, error, fatal)")
                    })?))
                } else {
                    t.trim().parse().ok()
                };
                Lit {
                    text: t.clone(),
                    num,
                }
            }
        })
    }

    fn numeric(&self, op: &str) -> Result<f64, String> {
        self.num.ok_or_else(|| {
            format!(
                "`{op}` needs a number (or a level name), got '{}'",
                self.text
            )
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn test(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// One compiled test of a predicate (opaque; built by [`Condition::compile`]).
#[derive(Clone, Debug)]
pub struct Test(TestKind);

#[derive(Clone, Debug)]
enum TestKind {
    Equals(Lit),
    Contains(Vec<memchr::memmem::Finder<'static>>),
    StartsWith(Vec<String>),
    /// Regex, with optional numeric comparisons on its first capture group.
    Regex(Regex, Vec<(Cmp, f64)>),
    In(Vec<Lit>),
    Compare(Cmp, f64),
    Exists(bool),
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub enum Condition {
    /// Any holds.
    Any(Vec<Condition>),
    /// All hold.
    All(Vec<Condition>),
    /// Negation.
    Not(Box<Condition>),
    /// Tests on one field, all of which must hold.
    Field(FieldRef, Vec<Test>),
}

/// Deepest nesting accepted in a rule file.
const MAX_DEPTH: usize = 32;

impl Condition {
    /// Compile and validate a condition.
    ///
    /// # Errors
    /// Unknown fields, bad regexes, mixed or missing operators, with a message naming them.
    pub fn compile(spec: &ConditionSpec) -> Result<Condition, String> {
        Condition::compile_at(spec, 0)
    }

    fn compile_at(spec: &ConditionSpec, depth: usize) -> Result<Condition, String> {
        if depth > MAX_DEPTH {
            return Err(format!("conditions nested deeper than {MAX_DEPTH}"));
        }
        let combinators = usize::from(spec.any.is_some())
            + usize::from(spec.all.is_some())
            + usize::from(spec.not.is_some());
        let list = |v: &Vec<ConditionSpec>, what: &str| -> Result<Vec<Condition>, String> {
            if v.is_empty() {
                return Err(format!("`{what}` needs at least one condition"));
            }
            v.iter()
                .map(|c| Condition::compile_at(c, depth + 1))
                .collect()
        };
        if combinators > 0 {
            if combinators > 1 || spec.field.is_some() || has_operator(spec) {
                return Err(
                    "a condition is either one of any/all/not or a field predicate, not several"
                        .into(),
                );
            }
            if let Some(v) = &spec.any {
                return Ok(Condition::Any(list(v, "any")?));
            }
            if let Some(v) = &spec.all {
                return Ok(Condition::All(list(v, "all")?));
            }
            if let Some(c) = &spec.not {
                return Ok(Condition::Not(Box::new(Condition::compile_at(
                    c,
                    depth + 1,
                )?)));
            }
        }
        let Some(name) = &spec.field else {
            return Err("a predicate needs `field` (or use any/all/not)".into());
        };
        let field = FieldRef::parse(name)?;
        let mut tests = Vec::new();
        let mut cmps = Vec::new();
        for (op, v, c) in [
            ("lt", &spec.lt, Cmp::Lt),
            ("le", &spec.le, Cmp::Le),
            ("gt", &spec.gt, Cmp::Gt),
            ("ge", &spec.ge, Cmp::Ge),
        ] {
            if let Some(v) = v {
                let n = Lit::new(v, &field)?.numeric(op)?;
                cmps.push((c, n));
            }
        }
        if let Some(v) = &spec.equals {
            tests.push(Test(TestKind::Equals(Lit::new(v, &field)?)));
        }
        if let Some(v) = &spec.contains {
            let v = v.to_vec();
            if v.iter().any(String::is_empty) {
                return Err("`contains` with an empty string matches everything".into());
            }
            tests.push(Test(TestKind::Contains(
                v.iter()
                    .map(|n| memchr::memmem::Finder::new(n.as_bytes()).into_owned())
                    .collect(),
            )));
        }
        if let Some(v) = &spec.starts_with {
            tests.push(Test(TestKind::StartsWith(v.to_vec())));
        }
        if let Some(r) = &spec.regex {
            let re = Regex::new(r).map_err(|e| format!("bad regex for '{name}': {e}"))?;
            if !cmps.is_empty() && re.captures_len() < 2 {
                return Err(format!(
                    "regex for '{name}' is combined with a numeric comparison but has no capture group to compare"
                ));
            }
            tests.push(Test(TestKind::Regex(re, std::mem::take(&mut cmps))));
        }
        if let Some(v) = &spec.in_set {
            if v.is_empty() {
                return Err("`in` needs at least one value".into());
            }
            tests.push(Test(TestKind::In(
                v.iter()
                    .map(|s| Lit::new(s, &field))
                    .collect::<Result<_, _>>()?,
            )));
        }
        for (c, n) in cmps {
            tests.push(Test(TestKind::Compare(c, n)));
        }
        if let Some(e) = spec.exists {
            tests.push(Test(TestKind::Exists(e)));
        }
        if tests.is_empty() {
            return Err(format!(
                "predicate on '{name}' has no operator (equals, contains, starts_with, regex, in, lt, le, gt, ge, exists)"
            ));
        }
        Ok(Condition::Field(field, tests))
    }

    /// Does the subject match? (Generic, not `dyn`: this runs for every event and rule.)
    pub fn matches<S: Subject + ?Sized>(&self, s: &S) -> bool {
        match self {
            Condition::Any(v) => v.iter().any(|c| c.matches(s)),
            Condition::All(v) => v.iter().all(|c| c.matches(s)),
            Condition::Not(c) => !c.matches(s),
            Condition::Field(f, tests) => tests.iter().all(|t| test(f, t, s)),
        }
    }

    /// The service the condition requires (`service = X` at the top, or inside a top-level
    /// `all`), used to skip rules cheaply.
    pub fn required_service(&self) -> Option<&str> {
        fn equals_service(c: &Condition) -> Option<&str> {
            match c {
                Condition::Field(FieldRef::Service, tests) => {
                    tests.iter().find_map(|t| match &t.0 {
                        TestKind::Equals(l) => Some(l.text.as_str()),
                        _ => None,
                    })
                }
                _ => None,
            }
        }
        match self {
            Condition::All(v) => v.iter().find_map(equals_service),
            other => equals_service(other),
        }
    }

    /// Sets of literals of which at least one each must occur in a text field for the
    /// condition to hold (a conjunction of disjunctions): each set as the ids that
    /// `intern(field, at_start, literal)` numbered (`at_start`: the literal must begin the text,
    /// not merely occur in it). Empty when the condition can hold without any (a `not`, a
    /// numeric test, an `any` with an unconstrained branch); a set with a literal `intern` has
    /// no id for is left out. Only `message`, `exception` and `format` are considered (the fields
    /// a prefilter scans); this is a necessary condition, never a sufficient one.
    pub fn required_literals(
        &self,
        intern: &mut impl FnMut(&FieldRef, bool, &[u8]) -> Option<u16>,
    ) -> Vec<Vec<u16>> {
        match self {
            // Every conjunct's sets must hold.
            Condition::All(v) => v.iter().flat_map(|c| c.required_literals(intern)).collect(),
            // Every branch must be constrained; then one of their first sets' literals must
            // occur, and one of their second sets' (a branch's first again if it has one).
            Condition::Any(v) => {
                let mut first = Vec::new();
                let mut second = Vec::new();
                let mut tighter = false;
                for c in v {
                    let sets = c.required_literals(intern);
                    let Some(one) = sets.first() else {
                        return Vec::new();
                    };
                    tighter |= sets.len() > 1;
                    union(&mut first, one);
                    union(&mut second, sets.get(1).unwrap_or(one));
                }
                if tighter {
                    vec![first, second]
                } else {
                    vec![first]
                }
            }
            Condition::Not(_) => Vec::new(),
            Condition::Field(
                field @ (FieldRef::Slot(Slot::Message | Slot::Exception) | FieldRef::Format),
                tests,
            ) => tests
                .iter()
                .flat_map(|t| t.literal_sets())
                .filter_map(|(literals, at_start)| {
                    literals
                        .iter()
                        .map(|l| intern(field, at_start, l))
                        .collect::<Option<Vec<u16>>>()
                })
                .collect(),
            Condition::Field(..) => Vec::new(),
        }
    }

    /// Is the condition nothing but its [`Condition::required_service`] test? Then a subject
    /// known to be of that service matches without evaluating it.
    pub fn is_service_test_only(&self) -> bool {
        match self {
            Condition::All(v) => matches!(v.as_slice(), [only] if only.is_service_test_only()),
            Condition::Field(FieldRef::Service, tests) => {
                matches!(tests.as_slice(), [Test(TestKind::Equals(_))])
            }
            _ => false,
        }
    }

    /// Every field the condition reads.
    pub fn fields(&self, out: &mut Vec<FieldRef>) {
        match self {
            Condition::Any(v) | Condition::All(v) => v.iter().for_each(|c| c.fields(out)),
            Condition::Not(c) => c.fields(out),
            Condition::Field(f, _) => {
                if !out.contains(f) {
                    out.push(f.clone());
                }
            }
        }
    }
}

/// Add to `set` the ids of `more` it lacks.
fn union(set: &mut Vec<u16>, more: &[u16]) {
    for &id in more {
        if !set.contains(&id) {
            set.push(id);
        }
    }
}

impl Test {
    /// Sets of byte strings of which one each must occur in the field's text for this test to
    /// hold on a text slot, and whether it must occur at the start of the text: the test's
    /// literals, or a regex's literal prefixes and then its literal suffixes (a match ends with
    /// one, so it occurs in the text). None for a numeric test.
    fn literal_sets(&self) -> Vec<(Vec<Vec<u8>>, bool)> {
        let mut sets: Vec<_> = self.literals().into_iter().collect();
        if let TestKind::Regex(re, _) = &self.0
            && let Some(suffixes) = regex_suffixes(re.as_str())
            && sets
                .first()
                .is_none_or(|(prefixes, _)| *prefixes != suffixes)
        {
            sets.push((suffixes, false));
        }
        sets
    }

    /// Byte strings of which one must occur in the field's text for this test to hold on a
    /// text slot, and whether it must occur at the start of the text (`None`: no such set, e.g.
    /// a numeric test or a regex without a literal prefix).
    fn literals(&self) -> Option<(Vec<Vec<u8>>, bool)> {
        let (out, at_start): (Vec<Vec<u8>>, bool) = match &self.0 {
            TestKind::Equals(l) => (vec![l.text.as_bytes().to_vec()], true),
            TestKind::In(lits) => (
                lits.iter().map(|l| l.text.as_bytes().to_vec()).collect(),
                true,
            ),
            TestKind::Contains(finders) => {
                (finders.iter().map(|f| f.needle().to_vec()).collect(), false)
            }
            TestKind::StartsWith(p) => (p.iter().map(|p| p.as_bytes().to_vec()).collect(), true),
            TestKind::Regex(re, _) => crate::parse::regex_prefixes(re.as_str())?,
            TestKind::Compare(..) | TestKind::Exists(_) => return None,
        };
        // An empty literal occurs everywhere: no constraint.
        (!out.is_empty() && out.iter().all(|l| !l.is_empty())).then_some((out, at_start))
    }
}

/// The literals every match of `pattern` ends with, when they are known and few (all
/// non-empty).
fn regex_suffixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    // Parsed with the defaults `Regex::new` uses, so this is the same language.
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let seq = Extractor::new().kind(ExtractKind::Suffix).extract(&hir);
    let literals: Vec<Vec<u8>> = seq
        .literals()?
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    (!literals.is_empty() && literals.len() <= 32 && literals.iter().all(|l| !l.is_empty()))
        .then_some(literals)
}

fn has_operator(s: &ConditionSpec) -> bool {
    s.equals.is_some()
        || s.contains.is_some()
        || s.starts_with.is_some()
        || s.regex.is_some()
        || s.in_set.is_some()
        || s.lt.is_some()
        || s.le.is_some()
        || s.gt.is_some()
        || s.ge.is_some()
        || s.exists.is_some()
}

fn is_numeric_field(f: &FieldRef) -> bool {
    matches!(f, FieldRef::Status | FieldRef::DurationMs | FieldRef::Level)
}

fn lit_equals<S: Subject + ?Sized>(f: &FieldRef, lit: &Lit, s: &S) -> bool {
    if is_numeric_field(f)
        && let Some(n) = lit.num
    {
        return s.number(f) == Some(n);
    }
    s.text(f).is_some_and(|v| v == lit.text.as_str())
}

fn test<S: Subject + ?Sized>(f: &FieldRef, t: &Test, s: &S) -> bool {
    match &t.0 {
        TestKind::Equals(lit) => lit_equals(f, lit, s),
        // A numeric field is read once for the whole set, not once per literal.
        TestKind::In(lits) if is_numeric_field(f) && lits.iter().all(|l| l.num.is_some()) => s
            .number(f)
            .is_some_and(|n| lits.iter().any(|l| l.num == Some(n))),
        TestKind::In(lits) => lits.iter().any(|l| lit_equals(f, l, s)),
        TestKind::Contains(needles) => s
            .text(f)
            .is_some_and(|v| needles.iter().any(|n| n.find(v.as_bytes()).is_some())),
        TestKind::StartsWith(prefixes) => s
            .text(f)
            .is_some_and(|v| prefixes.iter().any(|p| v.starts_with(p.as_str()))),
        TestKind::Regex(re, cmps) => {
            let Some(v) = s.text(f) else { return false };
            if !re.is_match(&v) {
                return false;
            }
            if cmps.is_empty() {
                return true;
            }
            let Some(n) = re
                .captures(&v)
                .and_then(|c| c.get(1))
                .and_then(|m| m.as_str().trim().parse::<f64>().ok())
            else {
                return false;
            };
            cmps.iter().all(|(c, b)| c.test(n, *b))
        }
        TestKind::Compare(c, b) => s.number(f).is_some_and(|a| c.test(a, *b)),
        TestKind::Exists(want) => {
            let present = if is_numeric_field(f) {
                s.number(f).is_some()
            } else {
                s.text(f).is_some()
            };
            present == *want
        }
    }
}
