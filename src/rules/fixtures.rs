//! Rule fixtures (`fixtures/rules/<ID>/fire.log` and `miss.log`), the `rules test` harness,
//! `rules lint` and `rules list`.
//!
//! A fixture pair holds real lines (FORMATS.md, `fixtures/samples/`): `fire.log` must fire the
//! rule — for a rule that fires on every match, *every* event (request) of the file must match,
//! so a fixture cannot hide a non-matching line — and `miss.log` holds near misses that must
//! not fire it. Built-in rules carry their fixtures in the binary, so `rules test` works
//! anywhere. Invariant: a rule without fixtures fails.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Rule, RuleSet, Scope, Trigger};
use crate::analyze::Report;
use crate::correlate::CorrelationSettings;
use crate::parse::Registry;
use crate::pipeline::{self, Analysis, Input, InputKind, Mode, Outcome, Settings};
use crate::source::files::PathMeta;

/// The fixtures of one rule.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Lines that must fire the rule.
    pub fire: String,
    /// Near misses that must not.
    pub miss: String,
}

/// Outcome of one rule's fixtures.
#[derive(Clone, Debug, Serialize)]
pub struct FixtureResult {
    /// Rule id.
    pub rule: String,
    /// Rule name.
    pub name: String,
    /// What went wrong (empty: passed).
    pub problems: Vec<String>,
}

/// A lint finding.
#[derive(Clone, Debug, Serialize)]
pub struct LintIssue {
    /// Rule file.
    pub file: String,
    /// Rule id.
    pub rule: String,
    /// The problem.
    pub message: String,
}

/// Fixtures for a rule: `dir/<ID>/{fire,miss}.log` first, else the built-in ones.
pub fn fixture_for(rule: &Rule, dir: Option<&Path>) -> Option<Fixture> {
    if let Some(dir) = dir {
        let base: PathBuf = dir.join(&rule.id);
        let fire = std::fs::read_to_string(base.join("fire.log"));
        let miss = std::fs::read_to_string(base.join("miss.log"));
        if let (Ok(fire), Ok(miss)) = (fire, miss) {
            return Some(Fixture { fire, miss });
        }
    }
    let file = rule.file.strip_prefix("builtin:rules/")?;
    super::BUILTIN
        .iter()
        .find(|b| b.file == file)
        .map(|b| Fixture {
            fire: b.fire.to_string(),
            miss: b.miss.to_string(),
        })
}

/// Run one rule over a text with the analyze defaults (one thread, correlation on).
///
/// # Errors
/// Temporary-file or output errors, as text.
pub fn run_rule_on(rule: &Rule, text: &str) -> Result<Report, String> {
    let set = RuleSet::new(vec![rule.clone()]).map_err(|e| e.to_string())?;
    let reg = Registry::load(None).map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!(
        "logsleuth-fixture-{}-{}.log",
        std::process::id(),
        rule.id
    ));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let input = Input {
        name: format!("{}.log", rule.id),
        kind: InputKind::File(path.clone()),
        meta: PathMeta::default(),
        size: None,
    };
    let mut settings = Settings::new(Mode::Analyze {
        bucket_ns: 60_000_000_000,
        slow_ms: 5000.0,
    });
    settings.parse.collect_extras = set.needs_extras();
    let analysis = Analysis {
        rules: Some(&set),
        correlation: Some(CorrelationSettings::default()),
    };
    let outcome = pipeline::run_with(&[input], &reg, &settings, analysis, &mut []);
    let _ = std::fs::remove_file(&path);
    match outcome.map_err(|e| e.to_string())? {
        Outcome::Report(r) => Ok(*r),
        Outcome::Events(_) => Err("no report".into()),
    }
}

/// Check one rule against its fixture.
pub fn test_rule(rule: &Rule, fixture: &Fixture) -> Vec<String> {
    let mut problems = Vec::new();
    match run_rule_on(rule, &fixture.fire) {
        Err(e) => problems.push(format!("fire.log: {e}")),
        Ok(report) => {
            let count: u64 = report
                .findings
                .iter()
                .flatten()
                .filter(|f| f.rule == rule.id)
                .map(|f| f.count)
                .sum();
            if count == 0 {
                problems.push("fire.log: the rule did not fire".into());
            } else if matches!(rule.trigger, Trigger::Each) {
                let expected = match rule.scope {
                    Scope::Event => report.input.events,
                    Scope::Request => report.requests.total,
                };
                if count != expected {
                    problems.push(format!(
                        "fire.log: {count} of {expected} {} matched; every one must",
                        if rule.scope == Scope::Event {
                            "events"
                        } else {
                            "requests"
                        }
                    ));
                }
            }
        }
    }
    if fixture.miss.trim().is_empty() {
        problems.push("miss.log: empty (near misses are required)".into());
    }
    match run_rule_on(rule, &fixture.miss) {
        Err(e) => problems.push(format!("miss.log: {e}")),
        Ok(report) => {
            for f in report
                .findings
                .iter()
                .flatten()
                .filter(|f| f.rule == rule.id)
            {
                let first = f.evidence.first().map_or("", |e| e.message.as_str());
                problems.push(format!(
                    "miss.log: fired {}× (line {}: {first})",
                    f.count,
                    f.evidence.first().map_or(0, |e| e.line)
                ));
            }
        }
    }
    problems
}

/// Run every rule of the set against its fixtures.
pub fn test_all(set: &RuleSet, dir: Option<&Path>) -> Vec<FixtureResult> {
    set.rules()
        .iter()
        .map(|r| FixtureResult {
            rule: r.id.clone(),
            name: r.name.clone(),
            problems: match fixture_for(r, dir) {
                Some(f) => test_rule(r, &f),
                None => vec![format!(
                    "no fixtures: add <fixtures>/{}/fire.log and miss.log",
                    r.id
                )],
            },
        })
        .collect()
}

/// Lint: naming, documentation, fixtures.
pub fn lint(set: &RuleSet, dir: Option<&Path>) -> Vec<LintIssue> {
    let mut out = Vec::new();
    for r in set.rules() {
        let mut issue = |m: String| {
            out.push(LintIssue {
                file: r.file.clone(),
                rule: r.id.clone(),
                message: m,
            })
        };
        let expected = format!("{}-{}.toml", r.id, r.name);
        let file_name = Path::new(r.file.trim_start_matches("builtin:"))
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name != expected {
            issue(format!("file should be named {expected}"));
        }
        if r.title.chars().count() > 90 {
            issue("title longer than 90 characters".into());
        }
        if r.title.ends_with('.') {
            issue("title should not end with a period".into());
        }
        if r.description.chars().count() < 40 {
            issue("description too short: say why it matters and what to check".into());
        }
        if !(r.runbook.contains("SkillMeat") || r.runbook.contains("Skreaver")) {
            issue("runbook should name the SkillMeat or Skreaver runbook section".into());
        }
        match fixture_for(r, dir) {
            None => issue("no fixtures (fire.log and miss.log)".into()),
            Some(f) if f.fire.trim().is_empty() || f.miss.trim().is_empty() => {
                issue("a fixture file is empty".into());
            }
            Some(_) => {}
        }
    }
    out
}

/// One row of `rules list --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct RuleInfo {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Severity.
    pub severity: super::Severity,
    /// Title.
    pub title: String,
    /// `event` or `request`.
    pub scope: &'static str,
    /// `each`, `threshold`, `rate` or `latency`.
    pub trigger: &'static str,
    /// Runbook section.
    pub runbook: String,
    /// Description.
    pub description: String,
    /// Where it came from.
    pub file: String,
}

/// The rules as a list.
pub fn listing(set: &RuleSet) -> Vec<RuleInfo> {
    set.rules()
        .iter()
        .map(|r| RuleInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            severity: r.severity,
            title: r.title.clone(),
            scope: match r.scope {
                Scope::Event => "event",
                Scope::Request => "request",
            },
            trigger: match r.trigger {
                Trigger::Each => "each",
                Trigger::Threshold { .. } => "threshold",
                Trigger::Rate { .. } => "rate",
                Trigger::Latency { .. } => "latency",
            },
            runbook: r.runbook.clone(),
            description: r.description.clone(),
            file: r.file.clone(),
        })
        .collect()
}

/// `rules list` for a terminal.
pub fn render_listing(set: &RuleSet) -> String {
    let mut o = String::new();
    for r in listing(set) {
        o.push_str(&format!(
            "{:<8} {:<9} {:<9} {:<38} {}\n",
            r.id,
            r.severity.as_str(),
            r.trigger,
            r.name,
            r.title
        ));
    }
    o
}
