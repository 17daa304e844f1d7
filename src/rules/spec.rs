//! Serde types for `rules/*.toml`: what one rule looks like on disk. They are validated and
//! compiled into [`super::Rule`] once, at start-up (`deny_unknown_fields` everywhere, so a typo
//! in a rule file is an error, not a silently ignored key).

use serde::Deserialize;

/// One `rules/<ID>-<name>.toml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable upper-case code, e.g. `AUTH001`. Never reused or renamed.
    pub id: String,
    /// Kebab-case name, e.g. `jwt-validation-failed`.
    pub name: String,
    /// One-line title shown in reports.
    pub title: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Why it matters and what to look at first.
    pub description: String,
    /// Section of the SkillMeat or Skreaver runbook this belongs to.
    pub runbook: String,
    /// `event` (default): every log event; `request`: every merged HTTP request.
    #[serde(default)]
    pub scope: Option<String>,
    /// Which events (or requests) match.
    #[serde(rename = "match")]
    pub condition: ConditionSpec,
    /// Fire only for at least `count` matches within `window`, per `group_by` key.
    pub threshold: Option<ThresholdSpec>,
    /// Fire when the error rate over a sliding window is above a limit (request scope).
    pub rate: Option<RateSpec>,
    /// Fire when a latency quantile over a sliding window is above a limit (request scope).
    pub latency: Option<LatencySpec>,
}

/// A match condition: a combinator (`any`, `all`, `not`) or a field predicate.
///
/// A predicate names a `field` and one or more operators, all of which must hold. When `regex`
/// is combined with a numeric comparison, the comparison applies to the regex's first capture
/// group (`GitHub API: Token configured \((\d+)/` with `lt = 100`).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// At least one sub-condition holds.
    pub any: Option<Vec<ConditionSpec>>,
    /// Every sub-condition holds.
    pub all: Option<Vec<ConditionSpec>>,
    /// The sub-condition does not hold.
    pub not: Option<Box<ConditionSpec>>,
    /// Event schema field: `message`, `logger`, `exception`, `status`, `level`, `service`,
    /// `route`, `fields.NAME`…
    pub field: Option<String>,
    /// Equal to (string, or number for numeric fields).
    pub equals: Option<Scalar>,
    /// Contains this substring (a list: any of them).
    pub contains: Option<OneOrMany>,
    /// Starts with this prefix (a list: any of them).
    pub starts_with: Option<OneOrMany>,
    /// Matches this regex (Rust `regex` syntax).
    pub regex: Option<String>,
    /// Set membership.
    #[serde(rename = "in")]
    pub in_set: Option<Vec<Scalar>>,
    /// Numeric (or level) comparison: less than.
    pub lt: Option<Scalar>,
    /// Less than or equal.
    pub le: Option<Scalar>,
    /// Greater than.
    pub gt: Option<Scalar>,
    /// Greater than or equal.
    pub ge: Option<Scalar>,
    /// The field is present (`true`) or absent (`false`).
    pub exists: Option<bool>,
}

/// A literal in a rule.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Text (also level names: `ge = "error"`).
    Str(String),
}

/// A string or a list of strings.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several (any of them).
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

/// Sigma-style `event_count`: at least `count` matches within `window`, per `group_by` key.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// Minimum number of matches.
    pub count: u32,
    /// Window length (`30s`, `1m`, `5m`), event time.
    pub window: String,
    /// Fields whose values form the key (empty: one key for everything).
    #[serde(default)]
    pub group_by: Vec<String>,
}

/// Error rate over a sliding window of requests (those the `match` condition selects).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    /// Window length, event time.
    pub window: String,
    /// Which of the selected requests are errors.
    pub errors: ConditionSpec,
    /// Fire above this many errors per second (SkillMeat: 0.1).
    pub above_per_second: Option<f64>,
    /// Fire above this fraction of requests (Skreaver: 0.05).
    pub above_ratio: Option<f64>,
    /// Ignore windows with fewer requests than this.
    #[serde(default)]
    pub min_requests: u64,
    /// Ignore windows with fewer errors than this (a volume guard that lets a total outage
    /// on low traffic fire: ERR002).
    #[serde(default)]
    pub min_errors: u64,
    /// Count only the errors of streams seen through failure-only lines alone (Skreaver at
    /// `info`: `response failed`), where no ratio can be computed: an error whose stream
    /// printed no success-type line within the window before or after it (needs
    /// `above_per_second`).
    #[serde(default)]
    pub only_failures_logged: bool,
    /// Fields whose values form the key (default: `service`).
    #[serde(default)]
    pub group_by: Vec<String>,
}

/// A latency quantile over a sliding window of requests.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// Window length, event time.
    pub window: String,
    /// Quantile, e.g. 0.95.
    pub quantile: f64,
    /// Fire above this latency.
    pub above_ms: f64,
    /// Ignore windows with fewer latency samples than this.
    #[serde(default)]
    pub min_samples: u64,
    /// Ignore windows with fewer requests above `above_ms` than this.
    #[serde(default)]
    pub min_above: u64,
    /// Fields whose values form the key (default: `service`).
    #[serde(default)]
    pub group_by: Vec<String>,
}
