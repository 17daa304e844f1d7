//! Command-line flags (clap derive). Mirrors the flags one to one and does no I/O; `app`
//! validates and compiles them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
With no subcommand and no INPUT, logsleuth analyzes stdin:
  kubectl logs -n prod -l app=skreaver --prefix --timestamps --all-containers | logsleuth

Exit codes:
  0  success (also when stdout is closed early, e.g. `| head`)
  1  verify: the bundle differs from its manifest
  2  usage error, or an input that is missing or unreadable (reported before any output)
  130  analyze --export interrupted (Ctrl-C, SIGTERM): the bundle is closed, marked incomplete";

/// Log-analysis stream processor for SREs: unwraps kubectl / CRI / docker envelopes, parses
/// SkillMeat and Skreaver logs (and generic JSON, logfmt, text), and reports errors and latency
/// per endpoint.
#[derive(Debug, Parser)]
#[command(name = "logsleuth", version, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: analyze).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the default `analyze` command.
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report events by level, requests, per-endpoint latency, error rate and slow requests.
    #[command(after_help = AFTER_HELP)]
    Analyze(AnalyzeArgs),
    /// Print matching normalized events as NDJSON.
    #[command(after_help = AFTER_HELP)]
    Events(EventsArgs),
    /// Check an evidence bundle (analyze --export) against its manifest: hashes, row counts,
    /// schemas; exit 0 when it matches, 1 with the list of differences.
    #[command(after_help = AFTER_HELP)]
    Verify(VerifyArgs),
}

/// `verify` options.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// The bundle directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables for a terminal.
    Text,
    /// One JSON document (`"schema": "logsleuth.report/1"`).
    Json,
}

/// When to colour terminal output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a TTY unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Inputs, filters and parsing options shared by all commands.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Files, directories (recursive), globs; `-` or nothing for stdin. gzip/zstd detected by content.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Keep events at or after this time: RFC3339, or relative like 15m, 2h, 1d.
    #[arg(long)]
    pub since: Option<String>,
    /// Keep events before this time: RFC3339, or relative like 15m.
    #[arg(long)]
    pub until: Option<String>,
    /// Keep only these services (skillmeat, skreaver, other, or one from --parsers); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub service: Vec<String>,
    /// Minimum level: trace, debug, info, warn, error, fatal.
    #[arg(long)]
    pub level: Option<String>,
    /// Filter expression, e.g. 'status >= 500 and route ~ "/agents"'.
    #[arg(long = "where", value_name = "EXPR")]
    pub where_: Option<String>,
    /// Keep events whose line matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// Directory of extra or overriding format definitions (*.toml).
    #[arg(long, value_name = "DIR")]
    pub parsers: Option<PathBuf>,
    /// Zone of timestamps that carry none (SkillMeat's naive times): UTC or an offset like +02:00.
    #[arg(long, value_name = "TZ")]
    pub assume_tz: Option<String>,
    /// Cap on one line or joined record; longer ones are truncated (and counted).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_line_bytes: usize,
    /// Parse threads (default: number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `analyze` options.
#[derive(Debug, Args, Clone)]
pub struct AnalyzeArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Error-rate bucket width (e.g. 30s, 1m, 5m).
    #[arg(long, default_value = "1m")]
    pub bucket: String,
    /// Requests slower than this (ms) are listed as slow (the SkillMeat runbook's alert: 5000).
    #[arg(long, default_value_t = 5000.0)]
    pub slow_ms: f64,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Also write an evidence bundle into DIR (new or empty): events, requests and aggregates
    /// as Parquet, report.md, manifest.json.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// With --export: write into a non-empty DIR, replacing a previous bundle's files.
    #[arg(long, requires = "export")]
    pub force: bool,
    /// With --export: Hive-partition events and requests by these columns (service, date),
    /// e.g. events/service=skreaver/date=2026-11-22/part-0.parquet.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "COLUMNS",
        requires = "export"
    )]
    pub partition_by: Vec<String>,
    /// With --export: keep secrets (tokens, API keys, passwords) instead of `[REDACTED:<kind>]`.
    #[arg(long, requires = "export")]
    pub no_redact: bool,
}

/// `events` options.
#[derive(Debug, Args, Clone)]
pub struct EventsArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}
