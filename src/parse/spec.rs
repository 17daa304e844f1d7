//! Serde types for `parsers/*.toml`: what a service's format definitions look like on disk.
//! They are validated and compiled into [`super::Registry`] once, at start-up.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One `parsers/<service>.toml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name reported for events of these formats.
    pub service: String,
    /// Kinds of lines that report one HTTP request, in the order the service prints them.
    #[serde(default)]
    pub request_chain: Vec<String>,
    /// Kinds of `request_chain` printed only for failed requests (tower-http's `response
    /// failed`): requests seen only through them say nothing of the share of errors.
    #[serde(default)]
    pub failure_kinds: Vec<String>,
    /// Route templates such as `/agents/{agent_id}/observe`.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Which segments of hex digits alone are ids in this service's other paths.
    #[serde(default)]
    pub hex_ids: crate::route::HexIds,
    /// Line formats, tried in file order.
    #[serde(default, rename = "format")]
    pub formats: Vec<FormatSpec>,
    /// Message rules: extract fields from message text and mark request lines.
    #[serde(default, rename = "message")]
    pub messages: Vec<MessageSpec>,
    /// Which identifier fields correlate events (see `crate::correlate`).
    pub correlation: Option<CorrelationSpec>,
}

/// `[correlation]`: identifier fields of this service's events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationSpec {
    /// Fields whose values link events into one group (`trace_id`, `request_id`, `conn_id`…).
    #[serde(default)]
    pub link: Vec<String>,
    /// Fields recorded on a group but never linking (`client_ip`, `user_id`…).
    #[serde(default)]
    pub label: Vec<String>,
}

/// How a line is recognized.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FormatKind {
    /// One JSON object per line, claimed when all `detect` keys are present.
    Json,
    /// A regex with named groups over the whole line.
    Regex,
    /// tracing-subscriber's `fmt` layout: the regex [`crate::parse`] documents for it, with
    /// groups `ts`, `level`, `span`, `span_fields`, `logger` and `message`.
    #[serde(rename = "tracing-fmt")]
    TracingFmt,
}

/// The zone of a format's timestamps that carry none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NaiveTz {
    /// Local time of the writer, unknown here: UTC unless `--assume-tz` says otherwise.
    #[default]
    Local,
    /// UTC (Python's `datetime.utcnow().isoformat()`).
    Utc,
}

/// One line format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// Unique kebab-case name (reported as the event's `format`).
    pub name: String,
    /// `json` or `regex`.
    pub kind: FormatKind,
    /// JSON: top-level keys that must all be present.
    #[serde(default)]
    pub detect: Vec<String>,
    /// Regex: the pattern, with named groups.
    pub regex: Option<String>,
    /// Regex: groups holding `key=value` pairs (a group named `message` keeps the text before
    /// the first pair as the message).
    #[serde(default)]
    pub kv: Vec<String>,
    /// What a timestamp without a zone means: `local` (the default: `--assume-tz` reads it)
    /// or `utc` (the service writes UTC without saying so: `--assume-tz` leaves it alone).
    #[serde(default)]
    pub naive_tz: NaiveTz,
    /// `python`, `rust-panic` or `none`: which following lines continue an event.
    pub multiline: Option<String>,
    /// Schema field → source path(s), first present wins. JSON: dotted paths; regex: group or
    /// `kv` key names. Regex groups named after schema fields map themselves.
    #[serde(default)]
    pub fields: BTreeMap<String, OneOrMany>,
    /// Schema field → constant used when the line does not provide it.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// JSON: which other keys go to `fields`.
    #[serde(default)]
    pub extras: ExtrasSpec,
}

/// JSON keys for the event's `fields`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtrasSpec {
    /// Objects whose members are lifted into `fields` (`fields`, `extra`).
    #[serde(default)]
    pub flatten: Vec<String>,
    /// Keys left out of `fields` (already in the schema).
    #[serde(default)]
    pub skip: Vec<String>,
}

/// A string or a list of strings.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One path.
    One(String),
    /// Alternatives, first present wins.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A message rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// Only events whose logger equals this.
    pub logger: Option<String>,
    /// Only events of this format.
    pub format: Option<String>,
    /// Only events whose message equals this.
    pub message: Option<String>,
    /// Match the pattern against this field (JSON path or `key=value` key) instead of the message.
    pub field: Option<String>,
    /// A pattern such as `Request completed: <method> <path> - <status>`.
    pub pattern: Option<String>,
    /// Mark matching events as a request line of this kind (one of `request_chain`).
    pub request: Option<String>,
    /// Mark matching events as the start or the end of a timed span named by the pattern's
    /// `<method>` and `<path>` captures ([`crate::spans`]).
    pub span: Option<crate::spans::Edge>,
}
