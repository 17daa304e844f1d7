//! Wires the stages: validates flags into pipeline [`Settings`], resolves inputs, runs the
//! pipeline, and prints the result. No parsing or analysis logic lives here.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use regex::Regex;

use crate::cli::{AnalyzeArgs, Cli, ColorChoice, Command, Common, Format, VerifyArgs};
use crate::export::{self, Bundle, ExportOptions, RunInfo};
use crate::filter::{self, Expr};
use crate::output::{self, Style};
use crate::parse::{ParseOpts, Registry};
use crate::pipeline::{self, Filter, Input, InputKind, Mode, Outcome, Settings};
use crate::source::files::{self, PathMeta};

/// True when the error chain ends in a closed pipe (`logsleuth … | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Run the parsed command line.
///
/// # Errors
/// Usage and input errors (exit code 2 in `main`); output errors.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => analyze(&cli.analyze),
        Some(Command::Analyze(a)) => analyze(&a),
        Some(Command::Events(e)) => events(&e.common),
        Some(Command::Verify(v)) => verify(&v),
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Resolve inputs; stdin when there are none or for `-`. Every problem is reported at once.
fn inputs(common: &Common) -> Result<Vec<Input>> {
    let stdin = || Input {
        name: "stdin".into(),
        kind: InputKind::Stdin,
        meta: PathMeta::default(),
        size: None,
    };
    if common.inputs.is_empty() {
        return Ok(vec![stdin()]);
    }
    let mut out = Vec::new();
    let mut paths = Vec::new();
    let flush = |paths: &mut Vec<std::path::PathBuf>, out: &mut Vec<Input>| -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let found = files::resolve_inputs(paths).map_err(|errs| {
            anyhow!(
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\nlogsleuth: error: ")
            )
        })?;
        out.extend(found.into_iter().map(|f| Input {
            name: f.path.display().to_string(),
            kind: InputKind::File(f.path),
            meta: f.meta,
            size: Some(f.size),
        }));
        paths.clear();
        Ok(())
    };
    for p in &common.inputs {
        if p.as_os_str() == "-" {
            flush(&mut paths, &mut out)?;
            out.push(stdin());
        } else {
            paths.push(p.clone());
        }
    }
    flush(&mut paths, &mut out)?;
    Ok(out)
}

fn settings(common: &Common, reg: &Registry, mode: Mode) -> Result<Settings> {
    let now = now_ns();
    let time = |s: &Option<String>, flag: &str| -> Result<Option<i64>> {
        s.as_deref()
            .map(|v| filter::parse_time_bound(v, now).map_err(|e| anyhow!("{flag}: {e}")))
            .transpose()
    };
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
    let expr = common.where_.as_deref().map(Expr::parse).transpose()?;
    // `fields.x` and non-schema names need the extra fields collected.
    let needs_extras = expr.as_ref().is_some_and(|e| {
        e.fields().iter().any(|f| {
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
                )
        })
    });
    let filter = Filter {
        since: time(&common.since, "--since")?,
        until: time(&common.until, "--until")?,
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
    Ok(Settings {
        threads,
        chunk_bytes: 1 << 20,
        max_line_bytes: common.max_line_bytes,
        parse: ParseOpts {
            assume_offset: pipeline::assume_offset(common.assume_tz.as_deref())
                .map_err(|e| anyhow!(e))?,
            collect_extras: matches!(mode, Mode::Events) || needs_extras,
        },
        filter,
        mode,
        progress: !common.no_progress,
        keep_events: matches!(mode, Mode::Events),
        keep_raw: false,
        hash_inputs: false,
        cancel: None,
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
    let export = match &a.export {
        Some(dir) => Some(ExportOptions {
            dir: dir.clone(),
            force: a.force,
            partition_by: export::parse_partition_by(&a.partition_by).map_err(|e| anyhow!(e))?,
            redact: !a.no_redact,
        }),
        None => None,
    };
    let inputs = inputs(&a.common)?;
    let mut bundle = match export {
        Some(opts) => {
            export::prepare_dir(&opts.dir, opts.force)?;
            settings.keep_events = true;
            settings.keep_raw = true;
            settings.hash_inputs = true;
            settings.parse.collect_extras = true;
            settings.cancel.clone_from(&cancel);
            Some(Bundle::create(opts, &reg, &inputs)?)
        }
        None => None,
    };
    let outcome = match bundle.as_mut() {
        Some(b) => pipeline::run(&inputs, &reg, &settings, &mut [b])?,
        None => pipeline::run(&inputs, &reg, &settings, &mut [])?,
    };
    let Outcome::Report(report) = outcome else {
        bail!("internal error: analyze produced no report");
    };
    let interrupted = cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
    if let Some(b) = bundle {
        let dir = a.export.clone().unwrap_or_default();
        let summary = b.finish(
            &report,
            &RunInfo {
                argv: &argv,
                started_ns,
                interrupted,
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
            "logsleuth: bundle {} in '{}': {} files, {} events, {} requests{}",
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
                    ", {} secrets redacted",
                    m.redaction.counts.values().sum::<u64>()
                )
            } else {
                String::new()
            }
        );
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.write_all(b"\n")?;
        }
        Format::Text => {
            let colour = match a.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            out.write_all(output::render_text(&report, Style { colour }).as_bytes())?;
        }
    }
    out.flush()?;
    if interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(v: &VerifyArgs) -> Result<ExitCode> {
    let result = export::verify::verify(&v.dir)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let m = &result.manifest;
    if result.differences.is_empty() {
        writeln!(
            out,
            "ok: {} files match {}{}",
            result.files,
            v.dir.join(export::manifest::FILE_NAME).display(),
            if m.complete {
                ""
            } else {
                " (the bundle is marked incomplete: the export was interrupted or an input was not read to its end)"
            }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{} difference(s) between '{}' and its manifest:",
        result.differences.len(),
        v.dir.display()
    )?;
    for d in &result.differences {
        writeln!(out, "  {d}")?;
    }
    Ok(ExitCode::from(1))
}

fn events(common: &Common) -> Result<ExitCode> {
    let reg = Registry::load(common.parsers.as_deref())?;
    let settings = settings(common, &reg, Mode::Events)?;
    let inputs = inputs(common)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    pipeline::run(
        &inputs,
        &reg,
        &settings,
        &mut [&mut output::NdjsonSink::new(&mut out)],
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
