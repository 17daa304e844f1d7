//! Command-line flags (clap derive). Mirrors the flags one to one and does no I/O; `app`
//! validates and compiles them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, ending every command's help (a macro: `concat!` takes literals only).
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  success (also when stdout is closed early, e.g. `| head`)
  1  `--fail-on SEVERITY`: a finding at or above it; `rules test`/`rules lint`: a failure;
     `verify`: the bundle differs from its manifest; `trace`: nothing carries the ID
  2  usage error, an input that is missing or unreadable, or a rule / parser file that
     cannot be loaded (reported before any output); `verify`: no readable manifest
  3  `verify`: every file matches, but the bundle is marked incomplete (interrupted export)
  130  analyze --export interrupted (Ctrl-C, SIGTERM): the bundle is closed, marked incomplete"
    };
}

const AFTER_HELP: &str = concat!(
    "\
With no subcommand and no INPUT, logsleuth analyzes stdin:
  kubectl logs -n prod -l app=skreaver --prefix --timestamps --all-containers | logsleuth

",
    exit_codes!()
);

// Each subcommand's help ends with examples of it (from the README).

const ANALYZE_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  logsleuth analyze /var/log/pods/prod_*/ skillmeat.log.2.gz --since 2h --slow-ms 1000
  logsleuth analyze incident/*.log --format json | jq '.endpoints[] | select(.p95_ms > 500)'
  logsleuth analyze incident/ --fail-on high --export incident-4711/"
);

const EVENTS_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  logsleuth events --level error --where 'status >= 500 and route ~ \"/agents\"' app.log
  logsleuth events --where 'exception ~ \"ValueError\"' skillmeat.log | jq -r .exception
  logsleuth events --unparsed --format text /var/log/pods/   # lines that are no event, file:line"
);

const TRACE_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  logsleuth trace 27d74fa3-a403-43ee-8d7e-95fee56edb92 skreaver.log
  logsleuth trace trace_id:c1aa0d75-… --format json logs/ | jq '.events[].message'"
);

const RULES_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  logsleuth rules list
  logsleuth rules test ./my-rules/       # fixtures in ./my-rules/fixtures/<ID>/{fire,miss}.log
  logsleuth rules lint ./my-rules/"
);

const VERIFY_HELP: &str = concat!(
    exit_codes!(),
    "

Examples:
  logsleuth analyze --export incident-4711/ app.log && logsleuth verify incident-4711/
  logsleuth verify incident-4711/   # 0: all match; 3: all match, incomplete; 1: differences
  logsleuth verify incident-4711/ | tail -1   # manifest SHA-256: compare with the one recorded"
);

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
    #[command(after_help = ANALYZE_HELP)]
    Analyze(AnalyzeArgs),
    /// Print matching normalized events: NDJSON, or one line each for people on a terminal.
    #[command(after_help = EVENTS_HELP)]
    Events(EventsArgs),
    /// Print the correlation group containing ID (trace_id, request_id, conn_id, agent_id…) as a
    /// timeline across services and inputs.
    #[command(after_help = TRACE_HELP)]
    Trace(TraceArgs),
    /// List, test and lint the incident rules.
    #[command(after_help = RULES_HELP)]
    Rules(RulesArgs),
    /// Check an evidence bundle (analyze --export) against its manifest — hashes, row counts,
    /// schemas, partitions — and the manifest against itself; exit 0 when it matches and is
    /// complete, 3 when it matches but is marked incomplete, 1 with the list of differences.
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
}

/// `verify` options.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// The bundle directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Correlation options.
#[derive(Debug, Args, Clone)]
pub struct CorrelationArgs {
    /// A correlation group closes after this much idle event time (e.g. 30s, 10m, 1h); with
    /// several files, not while a file still to be read could add to it.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub correlation_window: String,
    /// Most open correlation groups; beyond it the least recently active is closed (counted as evicted).
    #[arg(long, default_value_t = crate::correlate::DEFAULT_MAX_OPEN, value_name = "N")]
    pub correlation_max_groups: usize,
}

/// `trace` options.
#[derive(Debug, Args, Clone)]
pub struct TraceArgs {
    /// The identifier: a value (`req-123`) or `kind:value` (`conn_id:27d7…`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Correlation options.
    #[command(flatten)]
    pub correlation: CorrelationArgs,
}

/// `rules` options.
#[derive(Debug, Args, Clone)]
pub struct RulesArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: RulesAction,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum RulesAction {
    /// List the rules in use (built-in plus --rules DIR).
    #[command(after_help = RULES_HELP)]
    List {
        /// Directory of extra or overriding rules (*.toml).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run every rule against its fixtures (DIR: extra rules; fixtures in DIR/fixtures/<ID>/ or --fixtures).
    #[command(after_help = RULES_HELP)]
    Test {
        /// Directory of extra or overriding rules to test with the built-in ones.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Directory holding <ID>/fire.log and <ID>/miss.log (built-in rules carry their own).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Check rule files for mistakes beyond syntax (naming, docs, fixtures).
    #[command(after_help = RULES_HELP)]
    Lint {
        /// Directory of extra or overriding rules (as for `rules test`; `--rules DIR` works too).
        #[arg(value_name = "DIR", conflicts_with = "rules")]
        dir: Option<PathBuf>,
        /// Directory of extra or overriding rules.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Directory holding <ID>/fire.log and <ID>/miss.log.
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables for a terminal.
    Text,
    /// One JSON document (`analyze`: schema `logsleuth.report/1`; `trace`: the timeline;
    /// `rules list`: an array of rules).
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
    /// Live sources: `docker://NAME_OR_ID`, `k8s://[NS/]pod/NAME`, `k8s://[NS/]deploy/NAME`,
    /// `k8s://[NS/]?selector=app%3Dweb` (runs your kubectl), `loki+http://HOST:PORT` or
    /// `loki+https://HOST:PORT` (with --query).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Keep reading live inputs (docker containers until they stop); directories and glob
    /// patterns are watched for new files.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Read every docker container with this label (KEY=VALUE); repeatable, all must match.
    #[arg(long, value_name = "KEY=VALUE")]
    pub docker_label: Vec<String>,
    /// k8s inputs: logs of the previous container instance (kubectl --previous).
    #[arg(long)]
    pub previous: bool,
    /// k8s inputs with -f: the most containers followed at once (one kubectl each).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_log_requests: u32,
    /// Keep events at or after this time: 2026-11-22T07:00:00Z or …+02:00, or relative like
    /// 15m, 2h, 1d. Without a zone (2026-11-22 09:00, 2026-11-22) in --assume-tz, else UTC.
    /// An event without a time is judged by the last timed event before it in its stream.
    /// Loki inputs: the query range's start (default 1h ago).
    #[arg(long, visible_alias = "from")]
    pub since: Option<String>,
    /// Keep events before this time: as --since. Loki inputs: the query range's end (default
    /// now; with it, --follow does not tail).
    #[arg(long, visible_alias = "to")]
    pub until: Option<String>,
    /// Loki inputs (`loki+http(s)://HOST:PORT`): the LogQL log query, e.g. '{app="web"} |= "error"'.
    /// Credentials: LOKI_ORG_ID, LOKI_USERNAME + LOKI_PASSWORD or LOKI_BEARER_TOKEN.
    #[arg(long, value_name = "LOGQL")]
    pub query: Option<String>,
    /// Loki inputs: read credentials from this file (KEY=VALUE lines with the LOKI_* names).
    #[arg(long, value_name = "FILE")]
    pub loki_auth_file: Option<PathBuf>,
    /// https inputs (`loki+https://`): also trust the CA certificates in this PEM file (e.g. a
    /// company CA). Otherwise trusted: the system store, or SSL_CERT_FILE / SSL_CERT_DIR if set.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Loki inputs: entries per query_range request (the server caps it: 5000 by default).
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub loki_batch: u32,
    /// Loki inputs: query this many consecutive slices of the time range at once, each paged
    /// on its own (the output stays in time order); 1 = one request at a time.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub loki_parallel: u32,
    /// With --follow and several inputs (or a directory): hold events this long (event time) to merge the inputs
    /// in time order; later events are still counted (input.late_events).
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub max_delay: String,
    /// Keep only these services (skillmeat, skreaver, other, or one from --parsers); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub service: Vec<String>,
    /// Minimum level: trace, debug, info, warn, error, fatal.
    #[arg(long)]
    pub level: Option<String>,
    /// Filter expression, e.g. 'status >= 500 and route ~ "/agents"' or 'status in (401, 403)'.
    #[arg(long = "where", value_name = "EXPR")]
    pub where_: Option<String>,
    /// Keep events whose line matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// Directory of extra or overriding format definitions (*.toml).
    #[arg(long, value_name = "DIR")]
    pub parsers: Option<PathBuf>,
    /// Zone of local timestamps that carry none (SkillMeat's text `asctime`; not its JSON, UTC),
    /// and of --since/--until values and --where times without one: UTC or an offset like +02:00.
    #[arg(long, value_name = "TZ")]
    pub assume_tz: Option<String>,
    /// Cap on one line or joined record; longer ones are truncated (and counted).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_line_bytes: usize,
    /// Parse threads (default: number of CPUs); on Linux at nice +4 below the thread that
    /// merges their results (the one serial stage).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// No subcommand was given, so the first INPUT may be a misspelt one (set by `app`).
    #[arg(skip)]
    pub first_may_be_subcommand: bool,
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
    /// Directory of extra or overriding rules (*.toml, one rule per file).
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Run no rules (no findings section; not with --fail-on).
    #[arg(long)]
    pub no_rules: bool,
    /// Do not correlate events into groups (no correlation section).
    #[arg(long)]
    pub no_correlation: bool,
    /// Exit with code 1 when a finding is at or above this severity (info, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Correlation options.
    #[command(flatten)]
    pub correlation: CorrelationArgs,
    /// With --follow and stdout not a terminal: print the report as one JSON line this often
    /// (on a terminal a live board is refreshed every second instead).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub snapshot_every: String,
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
    /// Output format (default: text on a terminal, NDJSON otherwise).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<EventsFormat>,
    /// Colour of the text format.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print the lines that are no event instead (invalid JSON, binary; blank ones are only
    /// counted): file:line, the reason and the text. --grep matches their text; --since/--until
    /// judge them by the last timed event before them in their stream.
    #[arg(long, conflicts_with_all = ["where_", "level", "service"])]
    pub unparsed: bool,
}

/// `events` output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    /// One line per event for people: time, service, level, file:line, pod, message, request,
    /// key=value fields; tracebacks on indented lines.
    Text,
    /// One JSON object per line (NDJSON), every field of the event schema.
    Json,
}
