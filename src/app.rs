//! Wires the stages: validates flags into pipeline [`Settings`], resolves inputs, runs the
//! pipeline, and prints the result. No parsing or analysis logic lives here.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use regex::Regex;

use crate::analyze::InputCounts;
use crate::board::{Board, JsonSnapshots};
use crate::cli::{
    AnalyzeArgs, Cli, ColorChoice, Command, Common, CorrelationArgs, EventsArgs, EventsFormat,
    Format, RulesAction, TraceArgs, VerifyArgs,
};
use crate::correlate::{CorrelationSettings, TraceSink};
use crate::export::{self, Bundle, ExportOptions, RunInfo};
use crate::filter::{self, Expr};
use crate::output::{self, Style};
use crate::parse::{ParseOpts, Registry};
use crate::pipeline::{self, Analysis, Filter, Input, InputKind, Mode, Outcome, Settings};
use crate::rules::{RuleSet, Severity, fixtures};
use crate::source::files::{self, PathMeta};
use crate::source::http::Endpoint;
use crate::source::{docker, kubectl, loki};
use crate::time::format_rfc3339_nanos;

/// True when the error chain ends in a closed pipe (`logsleuth … | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            // serde writes the JSON report and timeline: its error wraps the pipe's.
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

/// The error as one line for stderr: the message, then each cause that the text so far does
/// not already say (many of our errors put their cause into their own message, and printing
/// the chain as well would repeat it).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// Run the parsed command line.
///
/// # Errors
/// Usage and input errors (exit code 2 in `main`); output errors.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let follow = match &cli.command {
        // An export installs its own handler (which also stops live sources).
        None => cli.analyze.common.follow && cli.analyze.export.is_none(),
        Some(Command::Analyze(a)) => a.common.follow && a.export.is_none(),
        Some(Command::Events(e)) => e.common.follow,
        Some(Command::Trace(t)) => t.common.follow,
        Some(Command::Rules(_) | Command::Verify(_)) => false,
    };
    if follow {
        // Ctrl-C stops the live sources; the run then ends normally with its final report.
        // A second Ctrl-C exits at once.
        let mut pressed = false;
        ctrlc::set_handler(move || {
            if pressed {
                std::process::exit(130);
            }
            pressed = true;
            crate::source::live::request_stop();
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    match cli.command {
        None => {
            let mut a = cli.analyze;
            a.common.first_may_be_subcommand = true;
            analyze(&a)
        }
        Some(Command::Analyze(a)) => analyze(&a),
        Some(Command::Events(e)) => events(&e),
        Some(Command::Trace(t)) => trace(&t),
        Some(Command::Rules(r)) => rules(r.action),
        Some(Command::Verify(v)) => verify(&v),
    }
}

fn correlation_settings(c: &CorrelationArgs) -> Result<CorrelationSettings> {
    let window_ns = filter::parse_duration(&c.correlation_window)
        .map_err(|e| anyhow!("--correlation-window: {e}"))?;
    if window_ns <= 0 {
        bail!("--correlation-window must be positive");
    }
    if c.correlation_max_groups == 0 {
        bail!("--correlation-max-groups must be at least 1");
    }
    Ok(CorrelationSettings {
        window_ns,
        max_open: c.correlation_max_groups,
    })
}

fn colour(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

fn trace(t: &TraceArgs) -> Result<ExitCode> {
    let reg = Registry::load(t.common.parsers.as_deref())?;
    let correlation = correlation_settings(&t.correlation)?;
    if t.id.trim().is_empty() {
        bail!("trace: ID must not be empty");
    }
    crate::correlate::check_target(&t.id).map_err(|e| anyhow!("trace: {e}"))?;
    let mut settings = settings(&t.common, &reg, Mode::Events)?;
    let (inputs, watch) = inputs(&t.common, None, None, &[])?;
    settings.watch = watch;
    let mut sink = TraceSink::new(
        &reg,
        &t.id,
        correlation,
        inputs.iter().map(|i| i.name.clone()).collect(),
    );
    sink.hold_below(pipeline::last_timeline_start(&inputs, settings.follow));
    let window_ns = correlation.window_ns;
    let mut read_errors = Vec::new();
    if let Outcome::Events(counts) = pipeline::run(&inputs, &reg, &settings, &mut [&mut sink])? {
        warn_if_pods_rewind(&counts, &inputs, window_ns);
        warn_if_local_times(&counts, &reg, settings.parse.assume_offset);
        warn_if_streams_released(&counts);
        say_warnings(&counts.warnings);
        read_errors = counts.read_errors;
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let Some(timeline) = sink.finish() else {
        eprintln!("logsleuth: no event carries the identifier {:?}", t.id);
        // JSON: a document all the same, for the script reading it.
        if t.format == Format::Json {
            serde_json::to_writer_pretty(&mut out, &crate::correlate::Timeline::empty(&t.id))?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        let incomplete = say_read_errors(&read_errors);
        return Ok(ExitCode::from(if incomplete { 2 } else { 1 }));
    };
    match t.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &timeline)?;
            out.write_all(b"\n")?;
        }
        Format::Text => out.write_all(timeline.render_text().as_bytes())?,
    }
    out.flush()?;
    if say_read_errors(&read_errors) {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn rules(action: RulesAction) -> Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match action {
        RulesAction::List { rules, format } => {
            let set = RuleSet::load(rules.as_deref())?;
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &fixtures::listing(&set))?;
                    out.write_all(b"\n")?;
                }
                Format::Text => out.write_all(fixtures::render_listing(&set).as_bytes())?,
            }
            ExitCode::SUCCESS
        }
        RulesAction::Test { dir, fixtures: fx } => {
            let set = RuleSet::load(dir.as_deref())?;
            let fx = fx.or_else(|| dir.as_ref().map(|d| d.join("fixtures")));
            let results = fixtures::test_all(&set, fx.as_deref());
            let mut failed = 0;
            for r in &results {
                if r.problems.is_empty() {
                    writeln!(out, "ok    {} {}", r.rule, r.name)?;
                } else {
                    failed += 1;
                    for p in &r.problems {
                        writeln!(out, "FAIL  {} {}: {p}", r.rule, r.name)?;
                    }
                }
            }
            writeln!(out, "{} rule(s), {failed} failed", results.len())?;
            if failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        RulesAction::Lint {
            dir,
            rules,
            fixtures: fx,
        } => {
            let rules = dir.or(rules);
            let set = RuleSet::load(rules.as_deref())?;
            let fx = fx.or_else(|| rules.as_ref().map(|d| d.join("fixtures")));
            let issues = fixtures::lint(&set, fx.as_deref());
            for i in &issues {
                writeln!(out, "{}: {}: {}", i.file, i.rule, i.message)?;
            }
            writeln!(
                out,
                "{} rule(s), {} issue(s)",
                set.rules().len(),
                issues.len()
            )?;
            if issues.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    };
    out.flush()?;
    Ok(code)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Resolve inputs; stdin when there are none or for `-`. Every problem is reported at once.
/// With `--follow`, also the directory and glob arguments, which the run watches for new files
/// (`Settings::watch`). Walks and glob patterns skip the files under `exclude`.
fn inputs(
    common: &Common,
    since: Option<i64>,
    until: Option<i64>,
    exclude: &[std::path::PathBuf],
) -> Result<(Vec<Input>, Vec<std::path::PathBuf>)> {
    let stdin = || Input {
        name: "stdin".into(),
        kind: InputKind::Stdin,
        meta: PathMeta::default(),
        size: None,
    };
    if common.inputs.is_empty() && common.docker_label.is_empty() {
        if io::stdin().is_terminal() {
            // `logsleuth` typed without a pipe or a file: say why nothing happens.
            eprintln!(
                "logsleuth: reading logs from the terminal (end with Ctrl-D); pipe them in or name files, e.g. `kubectl logs … | logsleuth` or `logsleuth app.log`"
            );
        }
        return Ok((vec![stdin()], Vec::new()));
    }
    let mut watch = Vec::new();
    let mut out = Vec::new();
    let mut docker_ep = None;
    let mut docker_endpoint = || -> Result<Endpoint> {
        if docker_ep.is_none() {
            docker_ep = Some(docker::endpoint()?);
        }
        docker_ep.clone().context("docker endpoint")
    };
    let docker_input = |endpoint: Endpoint, c: docker::Container| Input {
        name: format!("docker://{}", c.name),
        meta: PathMeta {
            container: Some(c.name.clone()),
            container_id: Some(c.id.clone()),
            labels: c.labels.clone(),
            ..PathMeta::default()
        },
        kind: InputKind::Docker {
            endpoint,
            container: c,
        },
        size: None,
    };
    let mut paths = Vec::new();
    let misspelt = common
        .inputs
        .first()
        .filter(|_| common.first_may_be_subcommand)
        .and_then(|p| Some((p, near_subcommand(p.to_str()?)?)));
    let flush = |paths: &mut Vec<std::path::PathBuf>, out: &mut Vec<Input>| -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let found = files::resolve_inputs(paths, exclude).map_err(|errs| {
            anyhow!(
                errs.iter()
                    .map(|e| match (e, &misspelt) {
                        // `logsleuth analyse x.log`: the subcommand was read as an input.
                        (files::InputError::NotFound { path }, Some((first, name)))
                            if path == *first =>
                        {
                            format!("{e}; did you mean `{name}`?")
                        }
                        _ => e.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("\nlogsleuth: error: ")
            )
        })?;
        out.extend(found.into_iter().map(Input::file));
        paths.clear();
        Ok(())
    };
    let mut kubectl_bin = None;
    for p in &common.inputs {
        if let Some(uri) = p.to_str().filter(|s| s.starts_with("k8s://")) {
            flush(&mut paths, &mut out)?;
            let mut input = kubectl::parse_uri(uri)?;
            if kubectl_bin.is_none() {
                kubectl_bin = Some(kubectl::locate().map_err(|e| anyhow!("{uri}: {e}"))?);
            }
            let bin = kubectl_bin.clone().unwrap_or_default();
            // Events carry the namespace: the one kubectl would use when none is given.
            if input.namespace.is_none() {
                input.namespace = kubectl::context_namespace(&bin);
            }
            // Following: one kubectl per container (see source::kubectl), found up front.
            let mut containers = Vec::new();
            if common.follow {
                containers =
                    kubectl::containers(&input, &bin).map_err(|e| anyhow!("{uri}: {e}"))?;
                if containers.len() > common.max_log_requests.max(1) as usize {
                    let e = kubectl::KubectlError::TooManyStreams {
                        streams: containers.len(),
                        max: common.max_log_requests,
                    };
                    return Err(anyhow!("{uri}: {e}"));
                }
            }
            let opts = kubectl::KubectlOpts {
                kubectl: bin,
                follow: common.follow,
                previous: common.previous,
                since,
                max_log_requests: common.max_log_requests,
                containers,
            };
            out.push(Input {
                name: uri.to_string(),
                meta: PathMeta {
                    namespace: input.namespace.clone(),
                    ..PathMeta::default()
                },
                kind: InputKind::Kubectl { input, opts },
                size: None,
            });
        } else if let Some(uri) = p.to_str().filter(|s| s.starts_with("loki+")) {
            flush(&mut paths, &mut out)?;
            out.push(loki_input(common, uri, since, until)?);
        } else if let Some(name) = p.to_str().and_then(|s| s.strip_prefix("docker://")) {
            flush(&mut paths, &mut out)?;
            let ep = docker_endpoint()?;
            let c = docker::inspect(&ep, name).map_err(|e| anyhow!("docker://{name}: {e}"))?;
            out.push(docker_input(ep, c));
        } else if p.as_os_str() == "-" {
            flush(&mut paths, &mut out)?;
            out.push(stdin());
        } else {
            if common.follow && files::grows(p) {
                watch.push(p.clone());
                if files::matches_nothing_yet(p, exclude) {
                    let what = if p.is_dir() { "is in" } else { "matches" };
                    eprintln!(
                        "logsleuth: no file {what} '{}' yet; following it for new files",
                        p.display()
                    );
                    continue;
                }
            }
            paths.push(p.clone());
        }
    }
    flush(&mut paths, &mut out)?;
    if !common.docker_label.is_empty() {
        let ep = docker_endpoint()?;
        let found = docker::by_labels(&ep, &common.docker_label)?;
        if found.is_empty() {
            bail!(
                "--docker-label {}: no container matches",
                common.docker_label.join(" --docker-label ")
            );
        }
        for c in found {
            let dup = out.iter().any(
                |i| matches!(&i.kind, InputKind::Docker { container, .. } if container.id == c.id),
            );
            if !dup {
                out.push(docker_input(ep.clone(), c));
            }
        }
    }
    // `logsleuth app.log - < app.log`: one file, read once (as the named path).
    if let Some(name) = out.iter().find_map(|i| match &i.kind {
        InputKind::File(p) if files::is_stdin(p) => Some(i.name.clone()),
        _ => None,
    }) && out.iter().any(|i| matches!(i.kind, InputKind::Stdin))
    {
        eprintln!("logsleuth: stdin is the file '{name}', which is read once");
        out.retain(|i| !matches!(i.kind, InputKind::Stdin));
    }
    Ok((out, watch))
}

/// The subcommand `word` is a slip of the keyboard from: at most one edit (two for names of
/// 6 letters or more; a swap of neighbours is one), and not the name itself.
fn near_subcommand(word: &str) -> Option<String> {
    use clap::CommandFactory;
    let word = word.to_ascii_lowercase();
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|name| *name != "help")
        .map(|name| (edit_distance(&word, &name), name))
        .filter(|(d, name)| *d > 0 && *d <= if name.len() >= 6 { 2 } else { 1 })
        .min()
        .map(|(_, name)| name)
}

/// Edits (insert, delete, replace, swap neighbours) from `a` to `b` (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A `loki+http(s)://…` input: the range (default the last hour), auth, TLS trust
/// (`--ca-file`), and one check request so an unreachable Loki, an untrusted certificate,
/// refused credentials or a bad query fail before any output.
fn loki_input(common: &Common, uri: &str, since: Option<i64>, until: Option<i64>) -> Result<Input> {
    let target = loki::parse_uri(uri, common.ca_file.as_deref())?;
    let query = common
        .query
        .clone()
        .ok_or_else(|| loki::LokiError::NoQuery(uri.to_string()))?;
    if common.loki_batch == 0 {
        bail!("--loki-batch must be at least 1");
    }
    if common.loki_parallel == 0 || common.loki_parallel > 64 {
        bail!("--loki-parallel must be between 1 and 64");
    }
    let now = now_ns();
    let end = until.unwrap_or(now);
    let start = since.unwrap_or(end - 3_600_000_000_000);
    if start >= end {
        bail!("{uri}: the time range is empty (--since/--from must be before --until/--to)");
    }
    let mut opts = loki::LokiOpts::new(&query, start, end);
    opts.follow = common.follow && until.is_none();
    opts.batch = common.loki_batch;
    opts.parallel = common.loki_parallel;
    opts.auth = loki::Auth::load(&|k| std::env::var(k).ok(), common.loki_auth_file.as_deref())?;
    let input = loki::LokiInput::new(target, opts);
    loki::check(&input)?;
    Ok(Input {
        name: uri.to_string(),
        kind: InputKind::Loki(std::sync::Arc::new(input)),
        meta: PathMeta::default(),
        size: None,
    })
}

/// `--since`/`--until`: a time without a zone is read at the offset the log's own times
/// without one are read at (`--assume-tz`, else UTC), and stderr says so once; a range that
/// holds no time is a usage error.
/// `where_naive`: the `--where` comparisons with such a time ([`Expr::naive_times`]), said on
/// the same line.
fn time_range(
    common: &Common,
    assume_offset: i32,
    where_naive: &[(String, i64)],
) -> Result<(Option<i64>, Option<i64>)> {
    let now = now_ns();
    let bound = |s: &Option<String>, flag: &str| -> Result<Option<filter::TimeBound>> {
        s.as_deref()
            .map(|v| {
                filter::parse_time_bound_in(v, now, assume_offset)
                    .map_err(|e| anyhow!("{flag}: {e}"))
            })
            .transpose()
    };
    let since = bound(&common.since, "--since")?;
    let until = bound(&common.until, "--until")?;
    // The value, and what it is in UTC unless it says so itself.
    let shown = |flag: &str, text: &Option<String>, b: filter::TimeBound| {
        let written = text.as_deref().unwrap_or_default().trim();
        let utc = if b.naive {
            assume_offset == 0
        } else {
            written.ends_with(['Z', 'z'])
        };
        if utc {
            format!("{flag} {written}")
        } else {
            format!("{flag} {written} ({})", short_utc(b.ns))
        }
    };
    let naive: Vec<String> = [
        ("--since", &common.since, since),
        ("--until", &common.until, until),
    ]
    .into_iter()
    .filter_map(|(flag, text, b)| b.filter(|b| b.naive).map(|b| shown(flag, text, b)))
    .chain(where_naive.iter().map(|(cmp, ns)| {
        if assume_offset == 0 {
            format!("--where '{cmp}'")
        } else {
            format!("--where '{cmp}' ({})", short_utc(*ns))
        }
    }))
    .collect();
    if !naive.is_empty() {
        let zone = match &common.assume_tz {
            Some(tz) => format!("{} (--assume-tz)", tz.trim()),
            None => "UTC".to_string(),
        };
        eprintln!(
            "logsleuth: {} read as {zone}; add Z or an offset such as +02:00",
            naive.join(" and ")
        );
    }
    if let (Some(s), Some(u)) = (since, until)
        && s.ns >= u.ns
    {
        bail!(
            "{} is {} {}: no event can be in that range{}",
            shown("--since", &common.since, s),
            if s.ns > u.ns {
                "after"
            } else {
                "the same time as"
            },
            shown("--until", &common.until, u),
            if s.ns > u.ns { " (swapped?)" } else { "" }
        );
    }
    Ok((since.map(|b| b.ns), until.map(|b| b.ns)))
}

/// RFC3339 UTC, without the fraction when it is zero: `2026-11-22T07:08:50Z`.
fn short_utc(ns: i64) -> String {
    let t = format_rfc3339_nanos(ns);
    match t.strip_suffix(".000000000Z") {
        Some(whole) => format!("{whole}Z"),
        None => t,
    }
}

fn settings(common: &Common, reg: &Registry, mode: Mode) -> Result<Settings> {
    let assume_offset =
        pipeline::assume_offset(common.assume_tz.as_deref()).map_err(|e| anyhow!(e))?;
    let expr = common
        .where_
        .as_deref()
        .map(|w| Expr::parse_in(w, assume_offset))
        .transpose()?;
    let type_of = |field: &str| match field {
        "status" | "duration_ms" | "line" => Some(filter::FieldType::Number),
        "level" => Some(filter::FieldType::Level),
        "ts" | "runtime_ts" => Some(filter::FieldType::Time),
        _ => None,
    };
    if let Some(problem) = expr
        .as_ref()
        .and_then(|e| e.mismatches(&type_of).first().cloned())
    {
        bail!("--where: {problem}");
    }
    let where_naive = expr
        .as_ref()
        .map_or_else(Vec::new, |e| e.naive_times(&type_of));
    let (since, until) = time_range(common, assume_offset, &where_naive)?;
    let services = if common.service.is_empty() {
        None
    } else {
        let mut ids = Vec::new();
        for s in &common.service {
            let id = reg.service_id(s).ok_or_else(|| {
                anyhow!(
                    "--service: unknown service {s:?} (known: {})",
                    reg.services().collect::<Vec<_>>().join(", ")
                )
            })?;
            ids.push(id);
        }
        Some(ids)
    };
    // `fields.x` and non-schema names need the extra fields collected.
    let extra_names: Vec<String> = expr.as_ref().map_or_else(Vec::new, |e| {
        e.fields()
            .into_iter()
            .filter(|f| {
                crate::event::Target::from_name(f).is_none()
                    && !matches!(
                        *f,
                        "service"
                            | "format"
                            | "source"
                            | "line"
                            | "namespace"
                            | "pod"
                            | "container"
                            | "stream"
                            | "container_id"
                            | "runtime_ts"
                    )
                    && !f.starts_with("labels.")
            })
            .map(str::to_string)
            .collect()
    });
    let needs_extras = !extra_names.is_empty();
    for f in extra_names.iter().filter(|f| !f.starts_with("fields.")) {
        // Most likely a typo of a schema field, which would quietly match nothing.
        eprintln!(
            "logsleuth: --where: '{f}' is not an event field; read as fields.{f} (an extra field of that name)"
        );
    }
    if matches!(mode, Mode::Analyze { .. }) && expr.as_ref().is_some_and(|e| e.reads("exception")) {
        // The analysis counts an event when it starts; its traceback lines come after.
        eprintln!(
            "logsleuth: --where: in analyze, `exception` is tested on each event's own line, before traceback lines are attached to it (`logsleuth events --where …` tests whole events)"
        );
    }
    if matches!(mode, Mode::Analyze { .. }) && expr.as_ref().is_some_and(|e| e.reads("duration_ms"))
    {
        // A request's latency from its span lines is known only once the lines are merged.
        eprintln!(
            "logsleuth: --where: in analyze, `duration_ms` is what each line prints: SkillMeat's default formats print none, their latency comes from span lines (use --slow-ms; `logsleuth events --where …` sees it on `Span completed` lines)"
        );
    }
    let filter = Filter {
        since,
        until,
        services,
        min_level: common
            .level
            .as_deref()
            .map(pipeline::parse_min_level)
            .transpose()
            .map_err(|e| anyhow!(e))?,
        expr,
        grep: common
            .grep
            .as_deref()
            .map(Regex::new)
            .transpose()
            .context("--grep: invalid regex")?,
    };
    let threads = common
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 256);
    if common.max_line_bytes < 16 {
        bail!("--max-line-bytes must be at least 16");
    }
    let max_delay =
        filter::parse_duration(&common.max_delay).map_err(|e| anyhow!("--max-delay: {e}"))?;
    if max_delay < 0 {
        bail!("--max-delay must not be negative");
    }
    Ok(Settings {
        threads,
        chunk_bytes: 1 << 20,
        max_line_bytes: common.max_line_bytes,
        parse: ParseOpts {
            assume_offset,
            collect_extras: matches!(mode, Mode::Events) || needs_extras,
        },
        filter,
        mode,
        progress: !common.no_progress,
        keep_events: matches!(mode, Mode::Events),
        follow: common.follow,
        snapshot_every: None,
        keep_raw: false,
        keep_unparsed: false,
        keep_groups: false,
        hash_inputs: false,
        cancel: None,
        max_delay: common
            .follow
            .then(|| std::time::Duration::from_nanos(max_delay as u64)),
        watch: Vec::new(),
        exclude: Vec::new(),
        max_endpoints: crate::analyze::MAX_ENDPOINTS,
        max_streams: crate::streams::MAX_STREAMS,
        descriptor_wait: pipeline::DescriptorWait::default(),
    })
}

/// Exit code of an export stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Catch Ctrl-C / SIGTERM / SIGHUP: the first sets the returned flag (the pipeline stops reading
/// and the bundle is closed as usual, marked incomplete); a second one exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!(
            "logsleuth: interrupted: closing the bundle's files (interrupt again to stop at once)"
        );
        crate::source::live::request_stop();
    })
    .context("cannot install the Ctrl-C / SIGTERM handler")?;
    Ok(flag)
}

fn analyze(a: &AnalyzeArgs) -> Result<ExitCode> {
    let started_ns = now_ns();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cancel = a.export.as_ref().map(|_| interrupt_flag()).transpose()?;
    let reg = Registry::load(a.common.parsers.as_deref())?;
    let bucket_ns = filter::parse_duration(&a.bucket).map_err(|e| anyhow!("--bucket: {e}"))?;
    if !(a.slow_ms.is_finite() && a.slow_ms >= 0.0) {
        bail!("--slow-ms must be a non-negative number of milliseconds");
    }
    let mut settings = settings(
        &a.common,
        &reg,
        Mode::Analyze {
            bucket_ns,
            slow_ms: a.slow_ms,
        },
    )?;
    let fail_on = a
        .fail_on
        .as_deref()
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                anyhow!("--fail-on: unknown severity {s:?} (info, low, medium, high, critical)")
            })
        })
        .transpose()?;
    if a.no_rules
        && let Some(s) = &a.fail_on
    {
        bail!(
            "--fail-on {s} with --no-rules can never fail: findings come from the rules (drop --no-rules, or --fail-on)"
        );
    }
    let correlation = correlation_settings(&a.correlation)?;
    let rule_set = if a.no_rules {
        None
    } else {
        Some(RuleSet::load(a.rules.as_deref())?)
    };
    if rule_set.as_ref().is_some_and(RuleSet::needs_extras) {
        settings.parse.collect_extras = true;
    }
    let export = match &a.export {
        Some(dir) => Some(ExportOptions {
            dir: dir.clone(),
            force: a.force,
            partition_by: export::parse_partition_by(&a.partition_by).map_err(|e| anyhow!(e))?,
            redact: !a.no_redact,
        }),
        None => None,
    };
    // The bundle is never an input, even inside a directory that is (`--force` reruns).
    settings.exclude = a.export.iter().cloned().collect();
    let (inputs, watch) = inputs(
        &a.common,
        settings.filter.since,
        settings.filter.until,
        &settings.exclude,
    )?;
    settings.watch = watch;
    let mut bundle = match export {
        Some(opts) => {
            export::prepare_dir(&opts.dir, opts.force)?;
            settings.keep_events = true;
            settings.keep_raw = true;
            settings.keep_groups = true;
            settings.hash_inputs = true;
            settings.parse.collect_extras = true;
            settings.cancel.clone_from(&cancel);
            Some(Bundle::create(opts, &reg, &inputs)?)
        }
        None => None,
    };
    let analysis = Analysis {
        rules: rule_set.as_ref(),
        correlation: (!a.no_correlation).then_some(correlation),
    };
    let tty = io::stdout().is_terminal();
    let colour = colour(a.color);
    let outcome = if a.common.follow {
        let every = filter::parse_duration(&a.snapshot_every)
            .map_err(|e| anyhow!("--snapshot-every: {e}"))?;
        if every <= 0 {
            bail!("--snapshot-every must be positive");
        }
        settings.snapshot_every = Some(if tty {
            std::time::Duration::from_secs(1)
        } else {
            std::time::Duration::from_nanos(every as u64)
        });
        let mut board;
        let mut snaps;
        let live: &mut dyn pipeline::EventSink = if tty {
            board = Board::new(io::stdout(), colour);
            &mut board
        } else {
            snaps = JsonSnapshots::new(io::stdout());
            &mut snaps
        };
        match bundle.as_mut() {
            Some(b) => pipeline::run_with(&inputs, &reg, &settings, analysis, &mut [live, b])?,
            None => pipeline::run_with(&inputs, &reg, &settings, analysis, &mut [live])?,
        }
    } else {
        match bundle.as_mut() {
            Some(b) => pipeline::run_with(&inputs, &reg, &settings, analysis, &mut [b])?,
            None => pipeline::run_with(&inputs, &reg, &settings, analysis, &mut [])?,
        }
    };
    let Outcome::Report(report) = outcome else {
        bail!("internal error: analyze produced no report");
    };
    warn_if_all_filtered(&report.input, &settings.filter);
    warn_if_local_times(&report.input, &reg, settings.parse.assume_offset);
    if !a.no_correlation {
        warn_if_pods_rewind(&report.input, &inputs, correlation.window_ns);
    }
    let interrupted = cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
    if let Some(b) = bundle {
        let dir = a.export.clone().unwrap_or_default();
        let summary = b.finish(
            &report,
            &RunInfo {
                argv: &argv,
                started_ns,
                interrupted,
                rules: rule_set.as_ref(),
            },
        )?;
        let m = &summary.manifest;
        let rows = |table: &str| -> u64 {
            m.outputs
                .iter()
                .filter(|o| o.table.as_deref() == Some(table))
                .filter_map(|o| o.rows)
                .sum()
        };
        eprintln!(
            "logsleuth: bundle {} in '{}': {} files, {} events, {} requests{}; manifest.json SHA-256 {}",
            if m.complete {
                "written"
            } else {
                "written (INCOMPLETE)"
            },
            dir.display(),
            m.outputs.len() + 1,
            rows("events"),
            rows("requests"),
            if m.redaction.enabled {
                format!(
                    ", {} redactions (secrets replaced, each copy in every file)",
                    m.redaction.counts.values().sum::<u64>()
                )
            } else {
                String::new()
            },
            summary.manifest_sha256
        );
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match a.format {
        // Following into a pipe, the snapshots are JSON lines: the final report is one more
        // (a text report after them would break `| jq`).
        Format::Text if a.common.follow && !tty => {
            serde_json::to_writer(&mut out, &report)?;
            out.write_all(b"\n")?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.write_all(b"\n")?;
        }
        Format::Text => {
            out.write_all(output::render_text(&report, Style { colour }).as_bytes())?;
        }
    }
    out.flush()?;
    say_warnings(&report.input.warnings);
    if interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if say_read_errors(&report.input.read_errors) {
        return Ok(ExitCode::from(2));
    }
    let failing = fail_on.is_some_and(|min| {
        report
            .findings
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x.severity >= min))
    });
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `verify`: the bundle matches its manifest but is marked incomplete (an interrupted export,
/// an input not read to its end).
const EXIT_INCOMPLETE: u8 = 3;

fn verify(v: &VerifyArgs) -> Result<ExitCode> {
    let result = export::verify::verify(&v.dir)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let m = &result.manifest;
    let manifest = v.dir.join(export::manifest::FILE_NAME);
    let incomplete = if m.complete {
        String::new()
    } else if m.incomplete_reasons.is_empty() {
        "the bundle is marked incomplete".to_string()
    } else {
        format!(
            "the bundle is marked incomplete: {}",
            m.incomplete_reasons.join("; ")
        )
    };
    let code = if !result.intact() {
        writeln!(
            out,
            "{} difference(s) between '{}' and its manifest:",
            result.differences.len(),
            v.dir.display()
        )?;
        for d in &result.differences {
            writeln!(out, "  {d}")?;
        }
        if !m.complete {
            writeln!(out, "also, {incomplete}")?;
        }
        1
    } else if m.complete {
        writeln!(
            out,
            "ok: {} files match {}",
            result.files,
            manifest.display()
        )?;
        0
    } else {
        writeln!(
            out,
            "incomplete: {} files match {}, but {} (exit code {EXIT_INCOMPLETE})",
            result.files,
            manifest.display(),
            incomplete
        )?;
        EXIT_INCOMPLETE
    };
    writeln!(
        out,
        "{} SHA-256: {} (compare with the one recorded when the bundle was written)",
        manifest.display(),
        result.manifest_sha256
    )?;
    Ok(ExitCode::from(code))
}

fn events(args: &EventsArgs) -> Result<ExitCode> {
    let common = &args.common;
    let reg = Registry::load(common.parsers.as_deref())?;
    let mut settings = settings(common, &reg, Mode::Events)?;
    let (inputs, watch) = inputs(common, settings.filter.since, settings.filter.until, &[])?;
    settings.watch = watch;
    let stdout = io::stdout();
    let text = args
        .format
        .map_or_else(|| io::stdout().is_terminal(), |f| f == EventsFormat::Text);
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if args.unparsed {
        settings.keep_unparsed = true;
        settings.keep_events = false;
        let style = Style {
            colour: text && colour(args.color),
        };
        let mut sink = output::UnparsedSink::new(&mut out, text, style);
        let outcome = pipeline::run(&inputs, &reg, &settings, &mut [&mut sink])?;
        let shown = sink.shown();
        out.flush()?;
        if let Outcome::Events(counts) = &outcome {
            if shown == 0 {
                say_no_unparsed(counts, &settings.filter);
            }
            warn_if_streams_released(counts);
            if say_read_errors(&counts.read_errors) {
                return Ok(ExitCode::from(2));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = if text {
        let style = Style {
            colour: colour(args.color),
        };
        pipeline::run(
            &inputs,
            &reg,
            &settings,
            &mut [&mut output::TextSink::new(&mut out, style)],
        )?
    } else {
        pipeline::run(
            &inputs,
            &reg,
            &settings,
            &mut [&mut output::NdjsonSink::new(&mut out)],
        )?
    };
    out.flush()?;
    if let Outcome::Events(counts) = &outcome {
        warn_if_all_filtered(counts, &settings.filter);
        warn_if_local_times(counts, &reg, settings.parse.assume_offset);
        warn_if_streams_released(counts);
        say_warnings(&counts.warnings);
        if say_read_errors(&counts.read_errors) {
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `events --unparsed` printed nothing: say why (every line is an event or part of one, the
/// unparsed ones are blank, or the filters kept none).
fn say_no_unparsed(counts: &InputCounts, filter: &Filter) {
    let blank = counts
        .unparsed_reasons
        .get(crate::parse::Unparsed::Blank.as_str())
        .copied()
        .unwrap_or(0);
    let why = if counts.unparsed_lines == 0 {
        format!(
            "every one of the {} lines is an event or part of one",
            counts.lines
        )
    } else if counts.unparsed_lines == blank {
        format!("the {blank} unparsed lines are blank (counted, not printed)")
    } else {
        format!(
            "the filters keep none of the {} unparsed lines ({})",
            counts.unparsed_lines - blank,
            filter.describe().join(", ")
        )
    };
    eprintln!("logsleuth: no unparsed line to print: {why}");
}

/// An input that failed while it was read (a cut gzip, stdin that is a directory): what was
/// read before is in the output, but the output is not all the input holds — say so on
/// stderr (exit code 2). Followed files the run stopped before it could open for want of file
/// descriptors ([`pipeline::NEVER_OPENED`]) had nothing read: one line counts them. Whether
/// there were any.
fn say_read_errors(errors: &[String]) -> bool {
    let prefix = format!("{} '", pipeline::NEVER_OPENED);
    let mut never = Vec::new();
    let mut why = "";
    for e in errors {
        if let Some((name, error)) = e
            .strip_prefix(&prefix)
            .and_then(|rest| rest.rsplit_once("': "))
        {
            never.push(name);
            why = error;
            continue;
        }
        let mut e = e.clone();
        output::one_line(&mut e);
        eprintln!("logsleuth: {e}; the output covers what was read before");
    }
    if !never.is_empty() {
        const SHOWN: usize = 3;
        let mut names = never
            .iter()
            .take(SHOWN)
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        if never.len() > SHOWN {
            names.insert_str(0, "e.g. ");
        }
        let mut line = format!(
            "logsleuth: never opened: {} {}, {names} ({why}; `ulimit -n` allows more open \
             files): nothing of {} is in the output",
            never.len(),
            if never.len() == 1 { "file" } else { "files" },
            if never.len() == 1 { "it" } else { "them" },
        );
        output::one_line(&mut line);
        eprintln!("{line}");
    }
    !errors.is_empty()
}

/// What was read but may not be all the input holds (a file that shrank while it was read):
/// said on stderr too, where a report's reader looks; the exit code stays.
fn say_warnings(warnings: &[String]) {
    for w in warnings {
        let mut w = w.clone();
        output::one_line(&mut w);
        eprintln!("logsleuth: warning: {w}");
    }
}

/// One input that prints pod after pod (`kubectl logs -l … --prefix` without `-f` into stdin)
/// cannot say another pod is still to come, so a correlation group shared across pods is
/// split when the earlier pod ran on past the window: say so, and what to do instead. Inputs
/// whose groups are held open anyway (files before the last, `k8s://`) are not mentioned.
fn warn_if_pods_rewind(counts: &InputCounts, inputs: &[Input], window_ns: i64) {
    let held = pipeline::last_timeline_start(inputs, false);
    for r in &counts.rewinds {
        if r.behind_ns <= window_ns || r.source < held {
            continue;
        }
        let name = inputs
            .get(r.source as usize)
            .map_or("input", |i| i.name.as_str());
        let name = if name == "-" { "stdin" } else { name };
        eprintln!(
            "logsleuth: {name}: {} starts {} before events already read from it (`kubectl logs -l` without -f prints pod after pod); correlation groups shared across pods may be split — read the pods with k8s://NS/?selector=… or one file per pod",
            r.stream,
            rough_duration(r.behind_ns)
        );
    }
}

/// More streams than the cap had state at once ([`crate::streams`]): `events` and `trace` have
/// no report to say it in.
fn warn_if_streams_released(counts: &InputCounts) {
    if let Some(r) = &counts.streams_released {
        eprintln!("logsleuth: {}", r.describe());
    }
}

/// A service that logs local time without a zone (SkillMeat's text mode in a container whose
/// TZ is not UTC) lands hours away from the other service and from `--since`; the container
/// runtime's own times (kubectl `--timestamps`, CRI, docker) show by how much: say so, with
/// the `--assume-tz` that reads them right.
fn warn_if_local_times(counts: &InputCounts, reg: &Registry, assume_offset_secs: i32) {
    for (service, minutes, events) in counts.zone_skew.steady_offsets() {
        let fix = i64::from(assume_offset_secs) / 60 + i64::from(minutes);
        let sign = if fix < 0 { '-' } else { '+' };
        let (h, m) = (fix.abs() / 60, fix.abs() % 60);
        let (h_off, m_off) = (minutes.abs() / 60, minutes.abs() % 60);
        // With --assume-tz given, the offset is the flag's as much as the service's.
        let (read, verdict) = match (assume_offset_secs, fix) {
            (0, _) => ("", "it logs local time".to_string()),
            (_, 0) => (
                ", read with --assume-tz,",
                "it logs UTC — drop --assume-tz or".to_string(),
            ),
            _ => (
                ", read with --assume-tz,",
                "--assume-tz is not its zone —".to_string(),
            ),
        };
        eprintln!(
            "logsleuth: {}: its times without a zone{read} run {h_off}h{m_off:02}m {} the container runtime's on the same lines ({events} events sampled): {verdict} read it with --assume-tz {sign}{h:02}:{m:02}",
            reg.service_name(service),
            if minutes > 0 { "ahead of" } else { "behind" },
        );
    }
}

/// `3 725 s` → `1h02m`, `125 s` → `2m`.
fn rough_duration(ns: i64) -> String {
    let m = ns / 60_000_000_000;
    if m >= 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

/// Filters that keep nothing of a non-empty input are most often a time window that misses the
/// logs (`--since 2h` on yesterday's capture): say so, and when the input's events were.
fn warn_if_all_filtered(counts: &InputCounts, filter: &Filter) {
    if counts.events == 0 || counts.filtered_out < counts.events {
        return;
    }
    let span = counts.unfiltered_range.map_or_else(String::new, |(a, b)| {
        format!(
            "; the input's events run from {} to {}",
            format_rfc3339_nanos(a),
            format_rfc3339_nanos(b)
        )
    });
    // Traceback lines are attached to their event, and --grep never sees them.
    let traceback = filter.grep.as_ref().map_or_else(String::new, |g| {
        let re = g.as_str();
        let re = if re.contains(['"', '\\', '\'']) {
            "…"
        } else {
            re
        };
        format!(
            "; --grep reads each event's own line, not the traceback lines attached to it: `logsleuth events --where 'exception ~ \"{re}\"'` finds an exception's text"
        )
    });
    eprintln!(
        "logsleuth: all {} events were filtered out ({}){span}{traceback}",
        counts.events,
        filter.describe().join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_subcommands() {
        for (word, want) in [
            ("analyse", Some("analyze")),
            ("Analyse", Some("analyze")),
            ("anlayze", Some("analyze")),
            ("evnets", Some("events")),
            ("event", Some("events")),
            ("trcae", Some("trace")),
            ("rule", Some("rules")),
            ("verfy", Some("verify")),
            ("analyze", None),
            ("app.log", None),
            ("tree", None),
            ("x", None),
        ] {
            assert_eq!(near_subcommand(word).as_deref(), want, "{word}");
        }
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
