//! The built-in rule files (generated list; `tests/incident.rs` checks it names every file in
//! `rules/`).

/// `(file name, contents)` of every built-in rule.
pub const BUILTIN: &[(&str, &str)] = &[];
