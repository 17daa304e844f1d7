//! Payload parsing: one line of text (envelopes already removed) → one [`Event`].
//!
//! Format definitions are data (`parsers/*.toml`, see [`spec`]); [`Registry::load`] compiles them
//! once (regexes, patterns, split paths) and [`Registry::parse`] applies them per line. JSON lines
//! are scanned lazily ([`crate::jsonscan`]): only the keys a format maps are decoded. Lines no
//! service claims fall back to generic JSON, logfmt, and plain text, all of service `other`.
//!
//! Invariants: `parse` never does I/O, never fails (bad lines are [`Parsed::Unparsed`] with a
//! reason) and never panics on any input.

pub mod pattern;
pub mod spec;
mod tracing_fmt;

use std::borrow::Cow;
use std::path::Path;

use regex::{CaptureLocations, Regex};

use crate::bytes::{self, key_words};
use crate::event::{Event, Extra, Level, Multiline, Slot, Target};
use crate::jsonscan::{self, Kind, Raw};
use crate::route::{self, HexIds, Template};
use crate::time::{self, Nanos};
use pattern::Pattern;
use spec::{FormatKind, FormatSpec, MessageSpec, ServiceSpec};

/// The built-in format definitions, compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "skillmeat.toml",
        include_str!("../../parsers/skillmeat.toml"),
    ),
    ("skreaver.toml", include_str!("../../parsers/skreaver.toml")),
];

/// Name of the catch-all service.
pub const OTHER: &str = "other";

/// Why a format file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Unreadable file.
    #[error("cannot read parser file '{path}': {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Bad TOML or unknown keys.
    #[error("invalid parser file '{path}': {source}")]
    Toml {
        /// File.
        path: String,
        /// Cause (shows line and column).
        source: toml::de::Error,
    },
    /// Valid TOML with an invalid value.
    #[error("invalid parser file '{path}': {msg}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        msg: String,
    },
}

/// Per-line parsing options.
#[derive(Clone, Copy, Debug)]
pub struct ParseOpts {
    /// Offset applied to timestamps that carry no zone (seconds east of UTC).
    pub assume_offset: i32,
    /// Collect non-schema fields into [`Event::extras`] (NDJSON output, `--where fields.x`).
    pub collect_extras: bool,
}

/// Result of parsing one payload.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built and consumed on the stack per line; boxing costs more
pub enum Parsed<'a> {
    /// A recognized event. `weak` events (logfmt, plain text) may turn out to continue the
    /// previous event of their stream (a traceback line, a panic message).
    Event {
        /// The event.
        ev: Event<'a>,
        /// Recognized only by a generic fallback.
        weak: bool,
    },
    /// Empty or whitespace-only.
    Blank,
    /// Not an event.
    Unparsed(Unparsed),
}

/// What [`Registry::parse_into`] found; the event itself is in the caller's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseOutcome {
    /// A recognized event; `weak` as in [`Parsed::Event`].
    Event {
        /// Recognized only by a generic fallback.
        weak: bool,
    },
    /// Empty or whitespace-only.
    Blank,
    /// Not an event.
    Unparsed(Unparsed),
}

/// Why a line is not an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unparsed {
    /// Starts like a JSON object but is not one (truncated or corrupt).
    InvalidJson,
    /// NUL bytes or mostly control characters.
    Binary,
    /// A blank line with no event before it to attach to.
    Blank,
}

impl Unparsed {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Unparsed::InvalidJson => "invalid_json",
            Unparsed::Binary => "binary",
            Unparsed::Blank => "blank",
        }
    }
}

/// JSON keys looked up by exact name. Candidates are bucketed by length, so most keys of a
/// line cost one length check and at most one byte comparison.
#[derive(Debug, Default)]
struct KeyTable {
    /// By key length: the keys of that length.
    by_len: Vec<Vec<KeyEntry>>,
}

/// A known key: its [`key_words`], the whole key, its slot.
type KeyEntry = (u64, u64, Box<[u8]>, u8);

impl KeyTable {
    /// Slot of `name`, adding it with `next` if new.
    fn slot(&mut self, name: &str, next: u8) -> u8 {
        if let Some(i) = self.get(name.as_bytes()) {
            return i;
        }
        let len = name.len();
        if self.by_len.len() <= len {
            self.by_len.resize_with(len + 1, Vec::new);
        }
        let (head, tail) = key_words(name.as_bytes());
        self.by_len[len].push((head, tail, name.as_bytes().into(), next));
        next
    }

    fn get(&self, name: &[u8]) -> Option<u8> {
        let bucket = self.by_len.get(name.len())?;
        if bucket.is_empty() {
            return None;
        }
        let (head, tail) = key_words(name);
        let n = name.len();
        bucket
            .iter()
            .find(|(h, t, k, _)| {
                *h == head && *t == tail && (n <= 16 || k[8..n - 8] == name[8..n - 8])
            })
            .map(|(.., i)| *i)
    }

    /// Slot of a raw JSON key (with its quotes) of `line`.
    fn find(&self, key: Raw<'_>, line: JsonLine<'_>) -> Option<u8> {
        let inner = key.0.get(1..key.0.len().saturating_sub(1))?;
        if let Some(i) = self.get(inner) {
            return Some(i);
        }
        // A key written with escapes (`"\\u0074s"`) is rare; decode it only then.
        if !line.plain && jsonscan::has_backslash(inner) {
            return self.get(key.as_str()?.as_bytes());
        }
        None
    }
}

/// Most keys (top-level and nested) a JSON format may read per line.
const MAX_SLOTS: usize = 64;

#[derive(Debug)]
struct Common {
    id: u16,
    service: u16,
    /// Times without a zone are UTC (`naive_tz = "utc"`): `--assume-tz` does not apply.
    naive_utc: bool,
    multiline: Multiline,
    defaults: Vec<(Target, String)>,
}

/// An object whose members a format reads (`fields`, `span`, `extra`, `extra.attributes`).
#[derive(Debug)]
struct Nested {
    /// Slot holding the object (top-level, or `NESTED +` a member of an earlier `Nested`).
    parent: u8,
    /// Members → nested slot.
    members: KeyTable,
}

#[derive(Debug)]
struct JsonFormat {
    common: Common,
    /// Slots of the top-level keys that must be present.
    detect: Vec<u8>,
    /// Schema field ← slots of the alternatives, first present wins.
    fields: Vec<(Target, Vec<u8>)>,
    nested: Vec<Nested>,
    /// Full dotted paths read by `fields` (not repeated in extras).
    mapped: Vec<String>,
    flatten: Vec<String>,
    skip: Vec<String>,
}

#[derive(Debug)]
struct RegexFormat {
    common: Common,
    re: Regex,
    /// `kind = "tracing-fmt"`: `re` is [`tracing_fmt::REGEX`], matched by
    /// [`tracing_fmt::captures`] instead.
    tracing_fmt: bool,
    /// Bytes a match can start with ([`first_bytes`]); `None`: any.
    first: Option<Box<[bool; 256]>>,
    /// Index of the message group matched as "the rest of the line" (see [`MESSAGE_REST`]).
    rest_group: Option<usize>,
    /// Group index → schema target.
    groups: Vec<(usize, Target)>,
    /// Group index → name, for groups outside the schema (kept as extras).
    other_groups: Vec<(usize, String)>,
    /// Groups holding `key=value` pairs; `true` for the message group.
    kv_groups: Vec<(usize, bool)>,
    /// Schema target ← `kv` key or group name alternatives.
    fields: Vec<(Target, Vec<String>)>,
}

#[derive(Debug)]
struct MessageRule {
    logger: Option<String>,
    format: Option<u16>,
    message: Option<String>,
    field: Option<String>,
    pattern: Option<Pattern>,
    /// Per capture of `pattern`, in order: its schema field, or its name (an extra field).
    targets: Vec<Result<Target, String>>,
    request: Option<u8>,
    /// `span = "start"|"end"`, and the positions of the `<method>` and `<path>` captures among
    /// the pattern's that name the span ([`crate::spans`]).
    span: Option<(crate::spans::Edge, usize, usize)>,
}

#[derive(Debug)]
struct Service {
    name: String,
    chain: Vec<String>,
    routes: Vec<Template>,
    /// Which hex segments of paths no template takes are ids.
    hex_ids: HexIds,
    rules: Vec<MessageRule>,
    ids: crate::correlate::IdKinds,
    /// Bit i set: chain kind i is printed only for failed requests (`failure_kinds`).
    failure_kinds: u32,
    /// The service names no request lines of its own (no `[[message]]` rule marks one) and
    /// reports a request on one line (a chain of at most one kind): any event with a status
    /// and a method or path is a request line ([`Registry::finish`]).
    implicit_requests: bool,
    /// Message rules mark span lines ([`crate::spans`]): `Some(true)` when every end they mark
    /// is also a request line.
    spans: Option<bool>,
    /// Which rules can match a message by its first byte ([`RuleGate`]).
    gate: Option<Box<RuleGate>>,
}

/// The message rules that can match an event, by the first byte of its message: a rule whose
/// message must equal a text or start with a pattern's literal prefix cannot match a message
/// that starts otherwise, so each event tests only its candidates, in rule order (an event of a
/// service with 30 rules tests two or three). For services of at most 64 rules.
#[derive(Debug)]
struct RuleGate {
    /// Bit i: rule i may match a message starting with this byte.
    by_byte: [u64; 256],
    /// Bit i: rule i may match whatever the message starts with.
    ungated: u64,
    /// Bit i: rule i may match an event without a message.
    no_message: u64,
}

impl RuleGate {
    fn new(rules: &[MessageRule]) -> Option<Box<RuleGate>> {
        if rules.len() > 64 {
            return None;
        }
        let mut gate = Box::new(RuleGate {
            by_byte: [0; 256],
            ungated: 0,
            no_message: 0,
        });
        for (i, rule) in rules.iter().enumerate() {
            let bit = 1u64 << i;
            // The first byte the message must start with, if the rule says one.
            let first = match (&rule.message, &rule.pattern, &rule.field) {
                (Some(m), ..) => m.as_bytes().first().copied(),
                (None, Some(p), None) => p.prefix().and_then(|l| l.as_bytes().first().copied()),
                _ => None,
            };
            match first {
                Some(b) => gate.by_byte[usize::from(b)] |= bit,
                None => {
                    gate.ungated |= bit;
                    for m in &mut gate.by_byte {
                        *m |= bit;
                    }
                    // Only a rule that reads no message can match an event without one.
                    if rule.message.is_none() && (rule.field.is_some() || rule.pattern.is_none()) {
                        gate.no_message |= bit;
                    }
                }
            }
        }
        Some(gate)
    }
}

/// The message rules an event may match, in order ([`RuleGate`]).
struct Candidates<'r> {
    rules: &'r [MessageRule],
    /// The candidates left (gated), or the next index (ungated).
    mask: Option<u64>,
    next: usize,
}

impl<'r> Iterator for Candidates<'r> {
    type Item = &'r MessageRule;

    fn next(&mut self) -> Option<&'r MessageRule> {
        match &mut self.mask {
            Some(m) => {
                if *m == 0 {
                    return None;
                }
                let i = m.trailing_zeros() as usize;
                *m &= *m - 1;
                self.rules.get(i)
            }
            None => {
                let r = self.rules.get(self.next);
                self.next += 1;
                r
            }
        }
    }
}

impl Service {
    fn new(
        name: String,
        chain: Vec<String>,
        routes: Vec<Template>,
        hex_ids: HexIds,
        rules: Vec<MessageRule>,
        ids: crate::correlate::IdKinds,
        failure_kinds: u32,
    ) -> Service {
        let implicit_requests = chain.len() <= 1 && rules.iter().all(|r| r.request.is_none());
        // Every span end is also a request line (then a duration waits for a later line only
        // behind a filter).
        let mut ends = rules.iter().filter_map(|r| match r.span {
            Some((crate::spans::Edge::End, ..)) => Some(r.request.is_some()),
            _ => None,
        });
        let spans = rules
            .iter()
            .any(|r| r.span.is_some())
            .then(|| ends.all(|request| request));
        let gate = RuleGate::new(&rules);
        Service {
            name,
            chain,
            routes,
            hex_ids,
            rules,
            ids,
            failure_kinds,
            implicit_requests,
            spans,
            gate,
        }
    }
}

/// Name and origin of a compiled format.
#[derive(Clone, Debug)]
pub struct FormatInfo {
    /// Format name.
    pub name: String,
    /// Index of its service.
    pub service: u16,
}

/// A loaded definition file (for reports and manifests).
#[derive(Clone, Debug)]
pub struct SpecFile {
    /// File name or path.
    pub name: String,
    /// Service it defines.
    pub service: String,
}

/// All compiled formats: the parser.
#[derive(Debug)]
pub struct Registry {
    services: Vec<Service>,
    /// Top-level JSON keys any format reads, each with a slot (shared by all JSON formats).
    top_keys: KeyTable,
    top_count: u8,
    formats: Vec<FormatInfo>,
    json: Vec<JsonFormat>,
    text: Vec<RegexFormat>,
    files: Vec<SpecFile>,
    generic_json: u16,
    logfmt: u16,
    plain: u16,
    other: u16,
}

/// Per-thread scratch space reused across lines.
pub struct Scratch {
    locs: Vec<CaptureLocations>,
    kv: Vec<(usize, usize, usize, usize)>,
}

impl Registry {
    /// Compile the built-in definitions, then those in `dir` (a file defining an existing
    /// service replaces it; new services are added before `other`).
    ///
    /// # Errors
    /// Unreadable or invalid files, naming the file and the problem.
    pub fn load(dir: Option<&Path>) -> Result<Registry, SpecError> {
        let mut specs: Vec<(String, ServiceSpec)> = Vec::new();
        for (name, text) in BUILTIN {
            specs.push((name.to_string(), parse_spec(name, text)?));
        }
        if let Some(dir) = dir {
            let io = |e| SpecError::Io {
                path: dir.display().to_string(),
                source: e,
            };
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(&p).map_err(|e| SpecError::Io {
                    path: name.clone(),
                    source: e,
                })?;
                let spec = parse_spec(&name, &text)?;
                match specs.iter_mut().find(|(_, s)| s.service == spec.service) {
                    // Replacing a built-in service is the point; two files of one directory
                    // for one service would leave which one counts to the file order.
                    Some((other, _)) if !BUILTIN.iter().any(|(b, _)| b == other) => {
                        return Err(SpecError::Invalid {
                            msg: format!("service '{}' is also defined by {other}", spec.service),
                            path: name,
                        });
                    }
                    Some(slot) => *slot = (name, spec),
                    None => specs.push((name, spec)),
                }
            }
        }
        Registry::compile(specs)
    }

    fn compile(specs: Vec<(String, ServiceSpec)>) -> Result<Registry, SpecError> {
        let mut reg = Registry {
            services: Vec::new(),
            top_keys: KeyTable::default(),
            top_count: 0,
            formats: Vec::new(),
            json: Vec::new(),
            text: Vec::new(),
            files: Vec::new(),
            generic_json: 0,
            logfmt: 0,
            plain: 0,
            other: 0,
        };
        for (file, spec) in specs {
            let invalid = |msg: String| SpecError::Invalid {
                path: file.clone(),
                msg,
            };
            if spec.service == OTHER {
                return Err(invalid(format!("service name '{OTHER}' is reserved")));
            }
            let service = reg.services.len() as u16;
            for f in &spec.formats {
                if !crate::is_kebab(&f.name) {
                    return Err(invalid(format!(
                        "format name '{}' must be kebab-case",
                        f.name
                    )));
                }
                if reg.formats.iter().any(|x| x.name == f.name) {
                    return Err(invalid(format!("format '{}' is defined twice", f.name)));
                }
                let id = reg.formats.len() as u16;
                reg.formats.push(FormatInfo {
                    name: f.name.clone(),
                    service,
                });
                let common = Common {
                    id,
                    service,
                    naive_utc: f.naive_tz == spec::NaiveTz::Utc,
                    multiline: parse_multiline(f.multiline.as_deref()).map_err(&invalid)?,
                    defaults: f
                        .defaults
                        .iter()
                        .map(|(k, v)| Ok((target(k).map_err(&invalid)?, v.clone())))
                        .collect::<Result<_, SpecError>>()?,
                };
                match f.kind {
                    FormatKind::Json => {
                        let json = compile_json(f, common, &mut reg.top_keys, &mut reg.top_count)
                            .map_err(&invalid)?;
                        reg.json.push(json);
                    }
                    FormatKind::Regex | FormatKind::TracingFmt => {
                        reg.text.push(compile_regex(f, common).map_err(&invalid)?);
                    }
                }
            }
            let mut rules = Vec::new();
            for m in &spec.messages {
                rules.push(compile_rule(m, &spec, &reg.formats).map_err(&invalid)?);
            }
            let ids = compile_id_kinds(spec.correlation.as_ref()).map_err(&invalid)?;
            let mut failure_kinds = 0u32;
            for kind in &spec.failure_kinds {
                let i = request_kind(&spec, kind).map_err(&invalid)?;
                failure_kinds |= 1 << i;
            }
            reg.services.push(Service::new(
                spec.service.clone(),
                spec.request_chain.clone(),
                spec.routes.iter().map(|r| Template::new(r)).collect(),
                spec.hex_ids,
                rules,
                ids,
                failure_kinds,
            ));
            reg.files.push(SpecFile {
                name: file.clone(),
                service: spec.service.clone(),
            });
        }
        reg.other = reg.services.len() as u16;
        reg.services.push(Service::new(
            OTHER.to_string(),
            vec!["access".into()],
            Vec::new(),
            HexIds::default(),
            Vec::new(),
            crate::correlate::IdKinds::default(),
            0,
        ));
        for (slot, name) in [
            (&mut reg.generic_json, "json"),
            (&mut reg.logfmt, "logfmt"),
            (&mut reg.plain, "text"),
        ] {
            *slot = reg.formats.len() as u16;
            reg.formats.push(FormatInfo {
                name: name.to_string(),
                service: reg.other,
            });
        }
        Ok(reg)
    }

    /// Service names, `other` last.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|s| s.name.as_str())
    }

    /// Name of a service index.
    pub fn service_name(&self, id: u16) -> &str {
        self.services.get(id as usize).map_or(OTHER, |s| &s.name)
    }

    /// Index of a service name.
    pub fn service_id(&self, name: &str) -> Option<u16> {
        self.services
            .iter()
            .position(|s| s.name == name)
            .map(|i| i as u16)
    }

    /// Name of a format index.
    pub fn format_name(&self, id: u16) -> &str {
        self.formats.get(id as usize).map_or("text", |f| &f.name)
    }

    /// The request chain of a service (kinds of request lines, in print order).
    pub fn request_chain(&self, service: u16) -> &[String] {
        self.services
            .get(service as usize)
            .map_or(&[], |s| &s.chain)
    }

    /// Does the service mark span lines ([`crate::spans`]), so that its request lines may take
    /// a span's duration? `Some(true)` when every span end is also a request line.
    pub fn times_spans(&self, service: u16) -> Option<bool> {
        self.services.get(service as usize).and_then(|s| s.spans)
    }

    /// Was the request seen through a line its service prints for every request (not only
    /// through failure-only lines such as tower-http's `response failed`)?
    pub fn logged_whatever_its_outcome(&self, r: &crate::request::Request) -> bool {
        let failure_only = self
            .services
            .get(usize::from(r.service))
            .map_or(0, |s| s.failure_kinds);
        r.kinds == 0 || r.kinds & !failure_only != 0
    }

    /// Identifier kinds that link and label correlation groups for a service.
    pub fn id_kinds(&self, service: u16) -> &crate::correlate::IdKinds {
        static DEFAULT: std::sync::OnceLock<crate::correlate::IdKinds> = std::sync::OnceLock::new();
        match self.services.get(service as usize) {
            Some(s) => &s.ids,
            None => DEFAULT.get_or_init(crate::correlate::IdKinds::default),
        }
    }

    /// The definition files in use.
    pub fn files(&self) -> &[SpecFile] {
        &self.files
    }

    /// A fresh scratch space for [`Registry::parse`].
    pub fn scratch(&self) -> Scratch {
        Scratch {
            locs: self.text.iter().map(|f| f.re.capture_locations()).collect(),
            kv: Vec::new(),
        }
    }

    /// Parse one payload.
    pub fn parse<'a>(
        &self,
        content: &'a str,
        opts: &ParseOpts,
        scratch: &mut Scratch,
    ) -> Parsed<'a> {
        let mut ev = Event::default();
        match self.parse_into(content, opts, scratch, &mut ev) {
            ParseOutcome::Event { weak } => Parsed::Event { ev, weak },
            ParseOutcome::Blank => Parsed::Blank,
            ParseOutcome::Unparsed(r) => Parsed::Unparsed(r),
        }
    }

    /// [`Registry::parse`], writing the event (when the payload is one) into `ev`, which must be
    /// empty (`Event::default()`). The pipeline parses a batch of lines into events made empty
    /// in place: returned by value, each ~400-byte event was copied two or three times on its
    /// way into the batch.
    pub fn parse_into<'a>(
        &self,
        content: &'a str,
        opts: &ParseOpts,
        scratch: &mut Scratch,
        ev: &mut Event<'a>,
    ) -> ParseOutcome {
        self.parse_line(content, opts, scratch, ev, false)
    }

    /// [`Registry::parse_into`] for a line cut at `--max-line-bytes` (JSON closed where it was
    /// cut): keys a format detects by may have been cut off with the rest (Skreaver prints
    /// `target` after `fields`), so a JSON format also claims the object when only some of
    /// its `detect` keys are left.
    pub fn parse_cut_into<'a>(
        &self,
        content: &'a str,
        opts: &ParseOpts,
        scratch: &mut Scratch,
        ev: &mut Event<'a>,
    ) -> ParseOutcome {
        self.parse_line(content, opts, scratch, ev, true)
    }

    fn parse_line<'a>(
        &self,
        content: &'a str,
        opts: &ParseOpts,
        scratch: &mut Scratch,
        ev: &mut Event<'a>,
        cut: bool,
    ) -> ParseOutcome {
        let trimmed = content.trim_start();
        if trimmed.is_empty() {
            return ParseOutcome::Blank;
        }
        if trimmed.starts_with('{') {
            // One pass over the top level picks up every key any format reads and checks the
            // object is complete.
            let mut top: [Option<Raw<'a>>; MAX_SLOTS] = [None; MAX_SLOTS];
            // The quote index of the line also tells whether it holds a backslash.
            let quotes = jsonscan::Quotes::of(content.as_bytes());
            let line = match &quotes {
                Some(q) => JsonLine {
                    text: content,
                    plain: !q.has_backslash(),
                },
                None => JsonLine::new(content),
            };
            let visited = jsonscan::visit_object(content.as_bytes(), quotes.as_ref(), |k, v| {
                if let Some(i) = self.top_keys.find(k, line) {
                    top[usize::from(i)].get_or_insert(v);
                }
            });
            match visited {
                Ok(obj) => {
                    self.parse_json(line, obj, &top, opts, ev, cut);
                    return ParseOutcome::Event { weak: false };
                }
                Err(_) if trimmed.starts_with("{\"") => {
                    return ParseOutcome::Unparsed(Unparsed::InvalidJson);
                }
                Err(_) => {}
            }
        }
        let first = content.as_bytes().first().map_or(0, |&b| usize::from(b));
        for (i, f) in self.text.iter().enumerate() {
            if f.first.as_ref().is_some_and(|set| !set[first]) {
                continue;
            }
            if f.tracing_fmt {
                if let Some(groups) = tracing_fmt::captures(content) {
                    let span = |i: usize| groups.get(i).copied().flatten();
                    self.parse_regex(f, content, span, &mut scratch.kv, opts, ev);
                    return ParseOutcome::Event { weak: false };
                }
                continue;
            }
            let locs = &mut scratch.locs[i];
            if f.re.captures_read(locs, content).is_some() {
                let locs = &*locs;
                self.parse_regex(f, content, |i| locs.get(i), &mut scratch.kv, opts, ev);
                return ParseOutcome::Event { weak: false };
            }
        }
        if looks_binary(content.as_bytes()) {
            return ParseOutcome::Unparsed(Unparsed::Binary);
        }
        if let Some(found) = self.parse_logfmt(content, opts, &mut scratch.kv) {
            *ev = found;
            return ParseOutcome::Event { weak: true };
        }
        (ev.service, ev.format, ev.multiline) = (self.other, self.plain, Multiline::Python);
        ev.level = leading_level(trimmed);
        ev.strs[Slot::Message as usize] = Some(Cow::Borrowed(content));
        ParseOutcome::Event { weak: true }
    }

    // Out of line: inlined into `parse` (LLVM's choice flips with unrelated edits) it cost ~1 %
    // more instructions on the benchmark corpus (callgrind).
    #[inline(never)]
    fn parse_json<'a>(
        &self,
        line: JsonLine<'a>,
        obj: Raw<'a>,
        top: &[Option<Raw<'a>>; MAX_SLOTS],
        opts: &ParseOpts,
        ev: &mut Event<'a>,
        cut: bool,
    ) {
        let present = |d: &u8| top[usize::from(*d)].is_some();
        let format = self
            .json
            .iter()
            .find(|f| f.detect.iter().all(present))
            .or_else(|| {
                // A cut line: some detect keys, and the key the format reads its time from
                // (Skreaver's `target` comes after `fields`; generic JSON with a `logger` or
                // a `fields` key but its own time key stays generic).
                let claims = |f: &&JsonFormat| {
                    f.detect.iter().any(present)
                        && f.fields
                            .iter()
                            .filter(|(t, _)| *t == Target::Ts)
                            .any(|(_, slots)| slots.iter().any(|&s| s < NESTED && present(&s)))
                };
                cut.then(|| self.json.iter().find(claims)).flatten()
            });
        let Some(f) = format else {
            *ev = self.parse_generic_json(line, obj, opts);
            return;
        };
        let utc = f.common.naive_utc.then_some(ParseOpts {
            assume_offset: 0,
            ..*opts
        });
        let opts = utc.as_ref().unwrap_or(opts);
        // One pass over each nested object the format reads from (parents come first).
        let mut inner: [Option<Raw<'a>>; MAX_SLOTS] = [None; MAX_SLOTS];
        for n in &f.nested {
            let parent = if n.parent >= NESTED {
                inner[usize::from(n.parent - NESTED)]
            } else {
                top[usize::from(n.parent)]
            };
            let Some(o) = parent.filter(|o| o.kind() == Kind::Object) else {
                continue;
            };
            for (k, v) in o.entries() {
                if let Some(i) = n.members.find(k, line) {
                    inner[usize::from(i)].get_or_insert(v);
                }
            }
        }
        (ev.service, ev.format) = (f.common.service, f.common.id);
        ev.multiline = f.common.multiline;
        for (target, slots) in &f.fields {
            for &slot in slots {
                let v = if slot >= NESTED {
                    inner[usize::from(slot - NESTED)]
                } else {
                    top[usize::from(slot)]
                };
                if let Some(v) = v
                    && apply_json(ev, *target, v, line, opts)
                {
                    break;
                }
            }
        }
        apply_defaults(ev, &f.common.defaults, opts);
        if opts.collect_extras {
            collect_json_extras(ev, f, obj);
        }
        let lookup = |name: &str| -> Option<Raw<'a>> {
            obj.get(name)
                .or_else(|| f.flatten.iter().find_map(|p| obj.get(p)?.get_path(name)))
        };
        self.apply_rules(ev, opts, |name| {
            lookup(name).and_then(|r| raw_text(line, r))
        });
        // UTC without a zone is no local time: nothing for the zone-skew hint.
        ev.naive_ts &= !f.common.naive_utc;
        self.finish(ev);
    }

    fn parse_generic_json<'a>(
        &self,
        line: JsonLine<'a>,
        obj: Raw<'a>,
        opts: &ParseOpts,
    ) -> Event<'a> {
        let top: Vec<(Raw<'a>, Raw<'a>)> = obj.entries().collect();
        let mut ev = Event {
            service: self.other,
            format: self.generic_json,
            ..Event::default()
        };
        const ALIASES: &[(Target, &[&str])] = &[
            (
                Target::Ts,
                &[
                    "timestamp",
                    "time",
                    "ts",
                    "@timestamp",
                    "datetime",
                    "date",
                    "t",
                ],
            ),
            (
                Target::Level,
                &[
                    "level",
                    "lvl",
                    "severity",
                    "loglevel",
                    "log.level",
                    "levelname",
                    "severity_text",
                ],
            ),
            (
                Target::Str(Slot::Message),
                &["message", "msg", "@message", "log", "text", "event"],
            ),
            (
                Target::Str(Slot::Logger),
                &["logger", "logger_name", "target", "name", "component"],
            ),
            (
                Target::Str(Slot::TraceId),
                &["trace_id", "traceId", "trace.id", "traceid"],
            ),
            (Target::Str(Slot::SpanId), &["span_id", "spanId", "span.id"]),
            (
                Target::Str(Slot::RequestId),
                &["request_id", "requestId", "req_id", "x_request_id"],
            ),
            (Target::Str(Slot::UserId), &["user_id", "userId"]),
            (Target::Str(Slot::AgentId), &["agent_id", "agentId"]),
            (
                Target::Str(Slot::ClientIp),
                &["client_ip", "remote_addr", "remote_ip", "client"],
            ),
            (
                Target::Str(Slot::Method),
                &["method", "http_method", "http.method"],
            ),
            (
                Target::Str(Slot::Path),
                &["path", "uri", "url", "http.path", "request_uri"],
            ),
            (
                Target::Status,
                &["status", "status_code", "http.status_code", "statusCode"],
            ),
            (
                Target::DurationMs,
                &[
                    "duration_ms",
                    "latency_ms",
                    "elapsed_ms",
                    "latency",
                    "duration",
                    "response_time",
                ],
            ),
            (
                Target::Str(Slot::Exception),
                &["exception", "error.stack", "stack", "stacktrace"],
            ),
        ];
        for (target, keys) in ALIASES {
            for k in *keys {
                // `top` holds every top-level member, so only a dotted alias can be found by
                // walking the object again.
                let v = top
                    .iter()
                    .find(|(key, _)| key.str_eq(k))
                    .map(|(_, v)| *v)
                    .or_else(|| k.contains('.').then(|| obj.get_path(k)).flatten());
                if let Some(v) = v
                    && apply_json(&mut ev, *target, v, line, opts)
                {
                    break;
                }
            }
        }
        if opts.collect_extras {
            for (k, v) in top {
                let Some(key) = k.as_str() else { continue };
                if ALIASES.iter().any(|(_, ks)| ks.contains(&key.as_ref())) {
                    continue;
                }
                ev.extras.push((key, Extra::Json(Cow::Borrowed(v.0))));
            }
        }
        self.finish(&mut ev);
        ev
    }

    fn parse_regex<'a>(
        &self,
        f: &RegexFormat,
        content: &'a str,
        locs: impl Fn(usize) -> Option<(usize, usize)>,
        kv: &mut Vec<(usize, usize, usize, usize)>,
        opts: &ParseOpts,
        ev: &mut Event<'a>,
    ) {
        (ev.service, ev.format) = (f.common.service, f.common.id);
        ev.multiline = f.common.multiline;
        let utc = f.common.naive_utc.then_some(ParseOpts {
            assume_offset: 0,
            ..*opts
        });
        let opts = utc.as_ref().unwrap_or(opts);
        let span = |i: usize| -> Option<(usize, usize)> {
            if Some(i) == f.rest_group {
                locs(0).map(|(_, end)| (end, content.len()))
            } else {
                locs(i)
            }
        };
        let group = |i: usize| span(i).map(|(s, e)| &content[s..e]);
        // Pairs: (key_start, key_end, value_start, value_end) into `content`.
        kv.clear();
        let mut message_cut: Option<(usize, usize)> = None;
        for &(gi, is_message) in &f.kv_groups {
            let Some((s, e)) = span(gi) else { continue };
            let before = kv.len();
            let first = split_kv(content, s, e, is_message, kv);
            if is_message && kv.len() > before {
                message_cut = Some((s, first));
            }
        }
        for &(gi, target) in &f.groups {
            let Some(text) = group(gi) else { continue };
            if text.is_empty() {
                continue;
            }
            let text = match (target, message_cut) {
                (Target::Str(Slot::Message), Some((s, cut))) => content[s..cut].trim_end(),
                _ => text,
            };
            apply_text(ev, target, Cow::Borrowed(text), opts);
        }
        let kv_get = |name: &str| -> Option<&'a str> {
            kv.iter()
                .find(|(ks, ke, _, _)| &content[*ks..*ke] == name)
                .map(|(_, _, vs, ve)| unquote(&content[*vs..*ve]))
        };
        for (target, names) in &f.fields {
            for name in names {
                let v = kv_get(name).or_else(|| {
                    f.re.capture_names()
                        .position(|n| n == Some(name))
                        .and_then(group)
                });
                if let Some(v) = v
                    && apply_text(ev, *target, Cow::Borrowed(v), opts)
                {
                    break;
                }
            }
        }
        apply_defaults(ev, &f.common.defaults, opts);
        if opts.collect_extras {
            for (gi, name) in &f.other_groups {
                if let Some(v) = group(*gi) {
                    ev.extras
                        .push((Cow::Owned(name.clone()), Extra::Str(Cow::Borrowed(v))));
                }
            }
            for &(ks, ke, vs, ve) in kv.iter() {
                let key = &content[ks..ke];
                if f.fields
                    .iter()
                    .any(|(_, names)| names.iter().any(|n| n == key))
                {
                    continue;
                }
                ev.extras.push((
                    Cow::Borrowed(key),
                    Extra::Str(Cow::Borrowed(unquote(&content[vs..ve]))),
                ));
            }
        }
        self.apply_rules(ev, opts, |name| kv_get(name).map(Cow::Borrowed));
        ev.naive_ts &= !f.common.naive_utc;
        self.finish(ev);
    }

    fn parse_logfmt<'a>(
        &self,
        content: &'a str,
        opts: &ParseOpts,
        kv: &mut Vec<(usize, usize, usize, usize)>,
    ) -> Option<Event<'a>> {
        // logfmt lines start with `key=`; demand two pairs so prose with one `=` stays text.
        let b = content.as_bytes();
        let key_len = b
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
            .count();
        if key_len == 0 || b.get(key_len) != Some(&b'=') {
            return None;
        }
        kv.clear();
        split_logfmt(content, kv);
        if kv.len() < 2 {
            return None;
        }
        let mut ev = Event {
            service: self.other,
            format: self.logfmt,
            ..Event::default()
        };
        for &(ks, ke, vs, ve) in kv.iter() {
            let key = &content[ks..ke];
            let val = unquote(&content[vs..ve]);
            let target = match key {
                "ts" | "time" | "timestamp" | "t" => Some(Target::Ts),
                "level" | "lvl" | "severity" => Some(Target::Level),
                "msg" | "message" => Some(Target::Str(Slot::Message)),
                "logger" | "caller" | "module" => Some(Target::Str(Slot::Logger)),
                "latency" | "duration" | "elapsed" => Some(Target::DurationMs),
                k => Target::from_name(k),
            };
            let used = target.is_some_and(|t| apply_text(&mut ev, t, Cow::Borrowed(val), opts));
            if !used && opts.collect_extras {
                ev.extras
                    .push((Cow::Borrowed(key), Extra::Str(Cow::Borrowed(val))));
            }
        }
        self.finish(&mut ev);
        Some(ev)
    }

    /// Message rules of the event's service: field extraction and request marking.
    fn apply_rules<'a>(
        &self,
        ev: &mut Event<'a>,
        opts: &ParseOpts,
        field: impl Fn(&str) -> Option<Cow<'a, str>>,
    ) {
        let Some(service) = self.services.get(ev.service as usize) else {
            return;
        };
        let mut caps = pattern::Captures::default();
        let first = ev.strs[Slot::Message as usize]
            .as_deref()
            .map(|t| t.as_bytes().first().copied());
        let candidates = Candidates {
            rules: &service.rules,
            mask: service.gate.as_deref().map(|g| match first {
                Some(Some(b)) => g.by_byte[usize::from(b)],
                // An empty message starts with no byte: only rules that say none can match.
                Some(None) => g.ungated,
                None => g.no_message,
            }),
            next: 0,
        };
        for rule in candidates {
            if rule.format.is_some_and(|f| f != ev.format)
                || rule
                    .logger
                    .as_deref()
                    .is_some_and(|l| !ev.get(Slot::Logger).is_some_and(|v| bytes::eq(v, l)))
                || rule
                    .message
                    .as_deref()
                    .is_some_and(|m| !ev.get(Slot::Message).is_some_and(|v| bytes::eq(v, m)))
            {
                continue;
            }
            if let Some(p) = &rule.pattern {
                let ok = |t: &str| p.prefix().is_none_or(|pre| bytes::starts_with(t, pre));
                // Match without copying the text: captures borrow from the line when the text
                // does; an unescaped (owned) text is copied once, and only when it matched.
                let text: Cow<'a, str> = match &rule.field {
                    Some(name) => {
                        let Some(t) = field(name) else { continue };
                        if !(ok(&t) && p.captures_into(&t, &mut caps)) {
                            continue;
                        }
                        t
                    }
                    None => {
                        let Some(t) = &ev.strs[Slot::Message as usize] else {
                            continue;
                        };
                        if !(ok(t) && p.captures_into(t, &mut caps)) {
                            continue;
                        }
                        t.clone()
                    }
                };
                if let Some((edge, method, path)) = rule.span {
                    let cap = |at: usize| {
                        caps.iter()
                            .find(|&(i, ..)| i == at)
                            .and_then(|(_, a, b)| text.get(a..b))
                    };
                    if let (Some(m), Some(p)) = (cap(method), cap(path)) {
                        ev.span.get_or_insert(crate::spans::Mark {
                            edge,
                            name: crate::spans::name_key(m, p),
                        });
                    }
                    // A span's start is no request: its captures only name the span.
                    if edge == crate::spans::Edge::Start {
                        continue;
                    }
                }
                // Captures named after schema fields set them; others are extra fields.
                for (i, start, end) in caps.iter() {
                    let v = match &text {
                        Cow::Borrowed(t) => {
                            let t: &'a str = t;
                            t.get(start..end).map(Cow::Borrowed)
                        }
                        Cow::Owned(t) => t.get(start..end).map(|v| Cow::Owned(v.to_string())),
                    };
                    let Some(v) = v else { continue };
                    match rule.targets.get(i) {
                        Some(Ok(t)) => {
                            apply_text(ev, *t, v, opts);
                        }
                        Some(Err(name)) if opts.collect_extras => {
                            ev.extras.push((Cow::Owned(name.clone()), Extra::Str(v)));
                        }
                        _ => {}
                    }
                }
            }
            if ev.request.is_none() {
                ev.request = rule.request;
            }
        }
    }

    /// Derived fields: the route (and template ids) from the path; and, for a service that
    /// names no request lines of its own (`Service::implicit_requests`: generic JSON and logfmt
    /// lines, a `--parsers` service without request rules), the request line that an event
    /// with a status and a method or path is.
    fn finish<'a>(&self, ev: &mut Event<'a>) {
        if ev.request.is_none()
            && ev.status.is_some()
            && (ev.strs[Slot::Method as usize].is_some() || ev.strs[Slot::Path as usize].is_some())
            && self
                .services
                .get(ev.service as usize)
                .is_some_and(|s| s.implicit_requests)
        {
            ev.request = Some(0);
        }
        let Some(path) = ev.strs[Slot::Path as usize].clone() else {
            return;
        };
        let (routes, hex) = self
            .services
            .get(ev.service as usize)
            .map_or((&[][..], HexIds::default()), |s| (&s.routes[..], s.hex_ids));
        // Template ids by slot, on the stack; the first value of a slot wins.
        let mut ids: [Option<Cow<'a, str>>; Slot::COUNT] = Default::default();
        let mut put = |name: &str, v: Cow<'a, str>| {
            if let Some(cell) = Slot::from_name(name).and_then(|s| ids.get_mut(s as usize)) {
                cell.get_or_insert(v);
            }
        };
        let route = match &path {
            Cow::Borrowed(p) => route::normalize(p, routes, hex, &mut put),
            Cow::Owned(p) => Cow::Owned(
                route::normalize(p, routes, hex, |n, v| put(n, Cow::Owned(v.into_owned())))
                    .into_owned(),
            ),
        };
        ev.strs[Slot::Route as usize] = Some(route);
        for (s, v) in Slot::ALL.into_iter().zip(ids) {
            if let Some(v) = v {
                ev.set_if_absent(s, v);
            }
        }
    }
}

/// `[correlation]` → slots; absent means the defaults of [`crate::correlate::IdKinds`].
fn compile_id_kinds(
    spec: Option<&spec::CorrelationSpec>,
) -> Result<crate::correlate::IdKinds, String> {
    let Some(spec) = spec else {
        return Ok(crate::correlate::IdKinds::default());
    };
    let slots = |names: &[String]| -> Result<Vec<Slot>, String> {
        names
            .iter()
            .map(|n| match Slot::from_name(n) {
                Some(s) if !matches!(s, Slot::Message | Slot::Logger | Slot::Exception | Slot::Method | Slot::Path | Slot::Route) => Ok(s),
                _ => Err(format!("[correlation]: '{n}' is not an identifier field (trace_id, request_id, span_id, agent_id, user_id, conn_id, client_ip)")),
            })
            .collect()
    };
    let link = slots(&spec.link)?;
    let label = slots(&spec.label)?;
    if let Some(s) = link.iter().find(|s| label.contains(s)) {
        return Err(format!(
            "[correlation]: '{}' cannot both link and label",
            s.name()
        ));
    }
    Ok(crate::correlate::IdKinds::distinct(link, label))
}

fn parse_spec(name: &str, text: &str) -> Result<ServiceSpec, SpecError> {
    toml::from_str(text).map_err(|e| SpecError::Toml {
        path: name.to_string(),
        source: e,
    })
}

fn target(name: &str) -> Result<Target, String> {
    Target::from_name(name).ok_or_else(|| {
        format!(
            "unknown event field '{name}' (expected ts, level, status, duration_ms, or one of {})",
            crate::event::Slot::ALL.map(|s| s.name()).join(", ")
        )
    })
}

fn parse_multiline(m: Option<&str>) -> Result<Multiline, String> {
    Ok(match m {
        None | Some("none") => Multiline::None,
        Some("python") => Multiline::Python,
        Some("rust-panic") => Multiline::RustPanic,
        Some(other) => {
            return Err(format!(
                "unknown multiline mode '{other}' (expected python, rust-panic or none)"
            ));
        }
    })
}

/// A regex ending like this captures the rest of the line as the message.
const MESSAGE_REST: &str = "(?P<message>.*)$";

/// Slots at or above this refer to nested members (`slot - NESTED`), below to top-level keys.
const NESTED: u8 = 0x80;

fn compile_json(
    f: &FormatSpec,
    common: Common,
    top_keys: &mut KeyTable,
    top_count: &mut u8,
) -> Result<JsonFormat, String> {
    if f.detect.is_empty() {
        return Err(format!(
            "format '{}': a json format needs `detect` keys",
            f.name
        ));
    }
    let too_many = || {
        format!(
            "format '{}': too many mapped keys (at most {MAX_SLOTS})",
            f.name
        )
    };
    let mut top_slot = |name: &str| -> Result<u8, String> {
        let s = top_keys.slot(name, *top_count);
        if s == *top_count {
            if usize::from(*top_count) + 1 >= MAX_SLOTS {
                return Err(too_many());
            }
            *top_count += 1;
        }
        Ok(s)
    };
    let detect = f
        .detect
        .iter()
        .map(|d| top_slot(d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nested: Vec<Nested> = Vec::new();
    let mut nested_count = 0u8;
    let mut fields = Vec::new();
    let mut mapped = Vec::new();
    for (k, paths) in &f.fields {
        let mut slots = Vec::new();
        for p in paths.to_vec() {
            mapped.push(p.clone());
            // Dots separate levels: `extra.attributes.method`.
            let mut segments = p.split('.');
            let mut slot = top_slot(segments.next().unwrap_or_default())?;
            for seg in segments {
                let n = match nested.iter().position(|n| n.parent == slot) {
                    Some(i) => i,
                    None => {
                        nested.push(Nested {
                            parent: slot,
                            members: KeyTable::default(),
                        });
                        nested.len() - 1
                    }
                };
                let member = match nested[n].members.get(seg.as_bytes()) {
                    Some(m) => m,
                    None => {
                        if usize::from(nested_count) + 1 >= MAX_SLOTS {
                            return Err(too_many());
                        }
                        nested_count += 1;
                        nested[n].members.slot(seg, nested_count - 1)
                    }
                };
                slot = NESTED + member;
            }
            slots.push(slot);
        }
        fields.push((target(k)?, slots));
    }
    // Ts and level first: cheap and always present; order otherwise follows the file.
    fields.sort_by_key(|(t, _)| !matches!(t, Target::Ts | Target::Level));
    Ok(JsonFormat {
        common,
        detect,
        fields,
        nested,
        mapped,
        flatten: f.extras.flatten.clone(),
        skip: f.extras.skip.clone(),
    })
}

/// Most prefix literals taken from one regex (more would bloat the prefilter for little gain).
const MAX_REGEX_PREFIXES: usize = 32;

/// The literals every match of `pattern` starts with (`regex_syntax`'s prefix extraction, which
/// is sound: when the set is finite, every match begins with one of them), if that set is finite,
/// and whether every match begins at the start of the text (`^`).
fn prefix_literals(pattern: &str) -> Option<(Vec<Vec<u8>>, bool)> {
    use regex_syntax::hir::Look;
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    // Parsed with the defaults `Regex::new` uses, so this is the same language.
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits = seq.literals()?;
    let at_start = hir.properties().look_set_prefix().contains(Look::Start);
    Some((
        lits.iter().map(|l| l.as_bytes().to_vec()).collect(),
        at_start,
    ))
}

/// [`prefix_literals`] when there are few of them (more would bloat a prefilter for little gain).
pub(crate) fn regex_prefixes(pattern: &str) -> Option<(Vec<Vec<u8>>, bool)> {
    prefix_literals(pattern).filter(|(lits, _)| lits.len() <= MAX_REGEX_PREFIXES)
}

/// The bytes a match of an anchored (`^…`) `pattern` can start with, when they are known: a
/// line starting with any other byte is skipped without running the regex.
fn first_bytes(pattern: &str) -> Option<Box<[bool; 256]>> {
    let (lits, at_start) = prefix_literals(pattern)?;
    if !at_start || lits.is_empty() || lits.iter().any(Vec::is_empty) {
        return None;
    }
    let mut set = Box::new([false; 256]);
    for l in &lits {
        set[usize::from(l[0])] = true;
    }
    Some(set)
}

fn compile_regex(f: &FormatSpec, common: Common) -> Result<RegexFormat, String> {
    let tracing_fmt = f.kind == FormatKind::TracingFmt;
    let src = match (f.kind, f.regex.as_deref()) {
        (FormatKind::TracingFmt, None) => tracing_fmt::REGEX,
        (FormatKind::TracingFmt, Some(_)) => {
            return Err(format!(
                "format '{}': a tracing-fmt format has its own layout; drop `regex` or use kind = \"regex\"",
                f.name
            ));
        }
        (_, Some(src)) => src,
        (_, None) => return Err(format!("format '{}': a regex format needs `regex`", f.name)),
    };
    Regex::new(src).map_err(|e| format!("format '{}': bad regex: {e}", f.name))?;
    // A trailing "rest of the line is the message" group costs a capture engine a step per byte;
    // match only the prefix and take the message from where the match ends.
    let (re, rest_group) = match src.strip_suffix(MESSAGE_REST).map(Regex::new) {
        Some(Ok(prefix)) => {
            let i = prefix.captures_len();
            (prefix, Some(i))
        }
        _ => (
            Regex::new(src).map_err(|e| format!("format '{}': bad regex: {e}", f.name))?,
            None,
        ),
    };
    let names: Vec<Option<&str>> = re
        .capture_names()
        .chain(rest_group.map(|_| Some("message")))
        .collect();
    let fields = f
        .fields
        .iter()
        .map(|(k, v)| Ok((target(k)?, v.to_vec())))
        .collect::<Result<Vec<_>, String>>()?;
    let mut groups = Vec::new();
    let mut other_groups = Vec::new();
    let mut kv_groups = Vec::new();
    for (i, name) in names.iter().copied().enumerate() {
        let Some(name) = name else { continue };
        if f.kv.iter().any(|k| k == name) {
            kv_groups.push((i, name == "message"));
            if name != "message" {
                continue;
            }
        }
        match Target::from_name(name) {
            Some(t) => groups.push((i, t)),
            // A group that `[format.fields]` reads is that field's source, not an extra.
            None if fields
                .iter()
                .any(|(_, names)| names.iter().any(|n| n == name)) => {}
            None => other_groups.push((i, name.to_string())),
        }
    }
    for k in &f.kv {
        if names.iter().all(|n| *n != Some(k.as_str())) {
            return Err(format!(
                "format '{}': kv group '{k}' is not a group of the regex",
                f.name
            ));
        }
    }
    // The hand matcher reports the groups before the message; the message group must follow.
    if tracing_fmt && rest_group != Some(tracing_fmt::GROUPS) {
        return Err(format!(
            "format '{}': tracing-fmt layout out of step with its regex",
            f.name
        ));
    }
    Ok(RegexFormat {
        common,
        first: first_bytes(src),
        re,
        tracing_fmt,
        rest_group,
        groups,
        other_groups,
        kv_groups,
        fields,
    })
}

/// The index of a request kind in the service's `request_chain`.
fn request_kind(spec: &ServiceSpec, kind: &str) -> Result<u8, String> {
    spec.request_chain
        .iter()
        .position(|c| c == kind)
        .and_then(|i| u8::try_from(i).ok())
        .filter(|&i| i < 32)
        .ok_or_else(|| {
            format!(
                "request kind '{kind}' is not in request_chain {:?}",
                spec.request_chain
            )
        })
}

fn compile_rule(
    m: &MessageSpec,
    spec: &ServiceSpec,
    formats: &[FormatInfo],
) -> Result<MessageRule, String> {
    let pattern = m
        .pattern
        .as_deref()
        .map(Pattern::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let request = m
        .request
        .as_deref()
        .map(|r| request_kind(spec, r))
        .transpose()?;
    let format = match &m.format {
        None => None,
        Some(name) => Some(
            formats
                .iter()
                .position(|f| &f.name == name)
                .ok_or_else(|| format!("message rule names unknown format '{name}'"))?
                as u16,
        ),
    };
    if pattern.is_none() && request.is_none() {
        return Err("a [[message]] rule needs a pattern or a request kind".into());
    }
    let span = match m.span {
        None => None,
        Some(edge) => {
            let at = |name: &str| {
                pattern
                    .as_ref()
                    .and_then(|p| p.names().position(|n| n == name))
            };
            let (Some(method), Some(path)) = (at("method"), at("path")) else {
                return Err(
                    "a span rule needs a pattern with <method> and <path>: they name the span"
                        .into(),
                );
            };
            if edge == crate::spans::Edge::Start && request.is_some() {
                return Err(
                    "a span's start is no request line (span = \"start\" with request)".into(),
                );
            }
            Some((edge, method, path))
        }
    };
    let targets = pattern.as_ref().map_or_else(Vec::new, |p| {
        p.names()
            .map(|n| Target::from_name(n).ok_or_else(|| n.to_string()))
            .collect()
    });
    Ok(MessageRule {
        span,
        targets,
        logger: m.logger.clone(),
        format,
        message: m.message.clone(),
        field: m.field.clone(),
        pattern,
        request,
    })
}

fn collect_json_extras<'a>(ev: &mut Event<'a>, f: &JsonFormat, obj: Raw<'a>) {
    let mapped = |full: &str| f.mapped.iter().any(|p| p == full);
    for (k, v) in obj.entries() {
        let Some(key) = k.as_str() else { continue };
        if f.skip.iter().any(|s| *s == key) || mapped(&key) {
            continue;
        }
        if f.flatten.iter().any(|p| *p == key) && v.kind() == Kind::Object {
            for (nk, nv) in v.entries() {
                let Some(nkey) = nk.as_str() else { continue };
                if f.mapped.iter().any(|p| is_dotted(p, &key, &nkey)) {
                    continue;
                }
                ev.extras.push((nkey, Extra::Json(Cow::Borrowed(nv.0))));
            }
            continue;
        }
        ev.extras.push((key, Extra::Json(Cow::Borrowed(v.0))));
    }
}

/// `path == "{outer}.{inner}"`, without building the string.
fn is_dotted(path: &str, outer: &str, inner: &str) -> bool {
    path.len() == outer.len() + 1 + inner.len()
        && path.starts_with(outer)
        && path.ends_with(inner)
        && path.as_bytes()[outer.len()] == b'.'
}

/// The text of a JSON scalar in `line`: strings decoded, numbers and booleans as written.
/// `v` is a slice of `line`, which is already valid UTF-8, so text without escapes is re-sliced
/// from it instead of being validated again. `line.plain`: the line has no backslash at all, so
/// no string in it needs the per-value escape check (most lines; one `memchr` per line).
fn raw_text<'a>(line: JsonLine<'a>, v: Raw<'a>) -> Option<Cow<'a, str>> {
    let start = (v.0.as_ptr() as usize).checked_sub(line.text.as_ptr() as usize)?;
    let text = line.text.get(start..start + v.0.len())?;
    match v.kind() {
        Kind::String => {
            let inner = text.get(1..text.len().saturating_sub(1))?;
            if !line.plain && jsonscan::has_backslash(inner.as_bytes()) {
                v.as_str()
            } else {
                Some(Cow::Borrowed(inner))
            }
        }
        Kind::Number | Kind::Bool => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

/// A JSON line and whether it holds any backslash (see [`raw_text`]).
#[derive(Clone, Copy)]
struct JsonLine<'a> {
    text: &'a str,
    plain: bool,
}

impl<'a> JsonLine<'a> {
    fn new(text: &'a str) -> Self {
        JsonLine {
            text,
            plain: memchr::memchr(b'\\', text.as_bytes()).is_none(),
        }
    }
}

fn apply_json<'a>(
    ev: &mut Event<'a>,
    target: Target,
    v: Raw<'a>,
    line: JsonLine<'a>,
    opts: &ParseOpts,
) -> bool {
    if v.is_null() {
        return false;
    }
    match target {
        Target::Ts if v.kind() == Kind::Number => match epoch_text_to_nanos(v.as_bytes())
            .or_else(|| v.as_f64().and_then(epoch_to_nanos))
        {
            Some(ts) => {
                ev.ts.get_or_insert(ts);
                true
            }
            None => false,
        },
        Target::Level if v.kind() == Kind::Number => match v.as_i64().and_then(numeric_level) {
            Some(l) => {
                ev.level.get_or_insert(l);
                true
            }
            None => false,
        },
        Target::Status if v.kind() == Kind::Number => match v.as_i64().and_then(valid_status) {
            Some(s) => {
                ev.status.get_or_insert(s);
                true
            }
            None => false,
        },
        Target::DurationMs if v.kind() == Kind::Number => match v.as_f64() {
            Some(d) if d >= 0.0 => {
                ev.duration_ms.get_or_insert(d);
                true
            }
            _ => false,
        },
        _ => match raw_text(line, v) {
            Some(text) => apply_text(ev, target, text, opts),
            None => false,
        },
    }
}

/// Store a textual value into a schema field, converting it. Returns whether it was usable.
fn apply_text<'a>(
    ev: &mut Event<'a>,
    target: Target,
    text: Cow<'a, str>,
    opts: &ParseOpts,
) -> bool {
    match target {
        Target::Ts => match time::parse_timestamp(text.as_bytes(), opts.assume_offset) {
            Some(ts) => {
                if ev.ts.is_none() {
                    ev.ts = Some(ts);
                    ev.naive_ts = !time::has_zone(text.as_bytes());
                }
                true
            }
            None => false,
        },
        Target::Level => match Level::parse(&text) {
            Some(l) => {
                ev.level.get_or_insert(l);
                true
            }
            None => false,
        },
        Target::Status => {
            let digits: &str = &text[..text.bytes().take_while(u8::is_ascii_digit).count()];
            match digits.parse().ok().and_then(valid_status) {
                Some(s) => {
                    ev.status.get_or_insert(s);
                    true
                }
                None => false,
            }
        }
        Target::DurationMs => match parse_duration_ms(&text) {
            Some(d) => {
                ev.duration_ms.get_or_insert(d);
                true
            }
            None => false,
        },
        Target::Str(slot) => {
            if text.is_empty() {
                return false;
            }
            ev.set_if_absent(slot, text);
            true
        }
        Target::ClientAddr => {
            let ip = match text {
                Cow::Borrowed(t) => Cow::Borrowed(without_port(t)),
                Cow::Owned(t) => Cow::Owned(without_port(&t).to_string()),
            };
            apply_text(ev, Target::Str(Slot::ClientIp), ip, opts)
        }
    }
}

/// The host of `host:port`: `10.0.0.5:50000` → `10.0.0.5`, `[::1]:60902` → `::1`, and an
/// IPv6 address printed without brackets before its port (uvicorn's `2001:db8::7:48001`) →
/// `2001:db8::7` (the port is after the last colon).
pub fn without_port(addr: &str) -> &str {
    if let Some(inner) = addr.strip_prefix('[') {
        return inner.split_once(']').map_or(addr, |(ip, _)| ip);
    }
    match addr.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => addr,
    }
}

fn apply_defaults(ev: &mut Event<'_>, defaults: &[(Target, String)], opts: &ParseOpts) {
    for (t, v) in defaults {
        apply_text(ev, *t, Cow::Owned(v.clone()), opts);
    }
}

fn valid_status(n: i64) -> Option<u16> {
    (100..=999).contains(&n).then_some(n as u16)
}

fn numeric_level(n: i64) -> Option<Level> {
    // bunyan / pino numeric levels.
    Some(match n {
        10 => Level::Trace,
        20 => Level::Debug,
        30 => Level::Info,
        40 => Level::Warn,
        50 => Level::Error,
        60 => Level::Fatal,
        _ => return None,
    })
}

/// An epoch number as written (`1795000000.123`, `1795000000123`): exact, where going through
/// `f64` would turn `.123` s into `.122999808`. The unit is guessed from the integer part's
/// magnitude, as in [`epoch_to_nanos`]; digits past the nanosecond are dropped. `None` for
/// anything but plain digits with an optional fraction (signs and exponents go through `f64`).
fn epoch_text_to_nanos(text: &[u8]) -> Option<Nanos> {
    let (int, frac) = match memchr::memchr(b'.', text) {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &[][..]),
    };
    if int.is_empty() || int.len() > 19 || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let whole = int.iter().fold(0i64, |n, &d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    if whole == 0 {
        return None;
    }
    // Nanoseconds per unit, and how many fraction digits reach the nanosecond.
    let (per_unit, frac_digits) = if whole < 100_000_000_000 {
        (1_000_000_000, 9)
    } else if whole < 100_000_000_000_000 {
        (1_000_000, 6)
    } else if whole < 100_000_000_000_000_000 {
        (1_000, 3)
    } else {
        (1, 0)
    };
    let mut part: i64 = 0;
    for i in 0..frac_digits {
        part = part * 10 + frac.get(i).map_or(0, |&d| i64::from(d - b'0'));
    }
    whole.checked_mul(per_unit)?.checked_add(part)
}

fn epoch_to_nanos(x: f64) -> Option<Nanos> {
    if !(x.is_finite() && x > 0.0) {
        return None;
    }
    // Guess the unit from the magnitude (seconds, ms, µs or ns since the epoch).
    let ns = if x < 1e11 {
        x * 1e9
    } else if x < 1e14 {
        x * 1e6
    } else if x < 1e17 {
        x * 1e3
    } else {
        x
    };
    (ns < i64::MAX as f64).then_some(ns as i64)
}

/// `"20 ms"`, `"1.5s"`, `"250µs"`, `"3"` (ms) → milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let num_len = s
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.')
        .count();
    let value: f64 = s.get(..num_len)?.parse().ok()?;
    let factor = match s[num_len..].trim() {
        "" | "ms" => 1.0,
        "s" | "sec" => 1000.0,
        "us" | "µs" | "μs" => 1e-3,
        "ns" => 1e-6,
        "m" | "min" => 60_000.0,
        _ => return None,
    };
    Some(value * factor)
}

fn looks_binary(b: &[u8]) -> bool {
    if memchr::memchr(0, b).is_some() {
        return true;
    }
    let control = b
        .iter()
        .filter(|&&c| c < 0x20 && c != b'\t' && c != 0x1b)
        .count();
    control * 8 > b.len()
}

/// A level word at the start of free text: `ERROR something`, `[warn] x`, `E1122 …` is not one.
fn leading_level(s: &str) -> Option<Level> {
    let s = s.strip_prefix('[').unwrap_or(s);
    let word: &str = &s[..s.bytes().take_while(|c| c.is_ascii_alphabetic()).count()];
    if word.len() < 4 {
        return None;
    }
    Level::parse(word)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// Find ` key=` starting at `i` (just after a space), returning the key end.
fn key_at(b: &[u8], i: usize) -> Option<usize> {
    if !b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return None;
    }
    let mut j = i;
    while j < b.len() && is_key_byte(b[j]) {
        j += 1;
    }
    (b.get(j) == Some(&b'=')).then_some(j)
}

/// tracing-fmt style `key=value` pairs in `content[s..e]`. Values run to the next ` key=` (they
/// may contain spaces: `latency=0 ms`). With `leading_text`, text before the first pair is the
/// message and is skipped. Returns where the pairs start. A value ending in `,` means the text
/// was prose (`max=10000, per_ip=100`): then no pairs are recorded.
fn split_kv(
    content: &str,
    s: usize,
    e: usize,
    leading_text: bool,
    out: &mut Vec<(usize, usize, usize, usize)>,
) -> usize {
    let b = &content.as_bytes()[..e];
    let mut starts: Vec<(usize, usize)> = Vec::new();
    let mut i = s;
    if !leading_text && let Some(ke) = key_at(b, i) {
        starts.push((i, ke));
        i = ke;
    }
    while let Some(off) = memchr::memchr(b' ', &b[i..]) {
        let at = i + off + 1;
        if let Some(ke) = key_at(b, at) {
            starts.push((at, ke));
            i = ke;
        } else {
            i = at;
        }
        if i >= b.len() {
            break;
        }
    }
    let before = out.len();
    for (n, &(ks, ke)) in starts.iter().enumerate() {
        let vs = ke + 1;
        let ve = match starts.get(n + 1) {
            Some(&(next, _)) => next - 1,
            None => e,
        };
        let v = &content[vs..ve.max(vs)];
        if v.ends_with(',') {
            out.truncate(before);
            return e;
        }
        out.push((ks, ke, vs, ve.max(vs)));
    }
    starts
        .first()
        .map_or(e, |&(ks, _)| ks.saturating_sub(1).max(s))
}

/// logfmt pairs: `key=value` or `key="quoted value"`, separated by spaces.
fn split_logfmt(content: &str, out: &mut Vec<(usize, usize, usize, usize)>) {
    let b = content.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' || i == ks {
            // A bare word: skip it.
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            continue;
        }
        let ke = i;
        i += 1;
        let vs = i;
        if b.get(i) == Some(&b'"') {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
        }
        out.push((ks, ke, vs, i));
    }
}

#[cfg(test)]
mod tests;
