//! Incident evidence bundles (`analyze --export DIR`): the run's events, requests and
//! aggregates as Parquet that DuckDB, pyarrow and Spark read, a Markdown report, and a
//! `manifest.json` that `logsleuth verify` checks.
//!
//! ```text
//! pipeline ─View─▶ Bundle (EventSink) ─redact─▶ EventBatch ─▶ Dataset ─▶ ParquetFile (.tmp → rename)
//!          ─Request─▶               ─redact─▶ RequestBatch ─▶ Dataset ─▶ …
//!          ─ClosedGroup─▶           ─redact─▶ GroupBatch ─▶ Dataset ─▶ groups.parquet
//! end of run: Report ─▶ endpoints / error_rate / findings .parquet, report.md, manifest.json
//! ```
//!
//! Invariants: only this module knows Arrow and Parquet; rows stream out in batches and row
//! groups as events arrive (bounded memory, see [`dataset`]); every file appears under its final
//! name only when complete, and the manifest is written last; with redaction on (the default)
//! no secret matched by `redact/secrets.toml` reaches any file of the bundle; the bundle is
//! written only into a new or empty directory unless `--force`.

pub mod dataset;
pub mod file;
pub mod manifest;
pub mod markdown;
pub mod redact;
pub mod tables;
pub mod verify;

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::errors::ParquetError;
use sha2::{Digest, Sha256};

use crate::analyze::Report;
use crate::correlate::ClosedGroup;
use crate::event::Slot;
use crate::parse::{self, Registry};
use crate::pipeline::{EventSink, Input, InputKind, InputRead, Origin, View};
use crate::request::Request;
use crate::time;

use dataset::{Dataset, PartitionKey, utc_date, writer_properties};
use file::{ParquetFile, hex, write_small};
use manifest::{InputEntry, Manifest, Output, Redaction, Run, SpecEntry, Tool};
use redact::Redactor;
use tables::{EventBatch, EventText, GroupBatch, GroupRow, RequestBatch, RequestContext};

/// Names a previous bundle may have left, removed by `--force`.
const BUNDLE_NAMES: &[&str] = &[
    "events.parquet",
    "requests.parquet",
    "endpoints.parquet",
    "error_rate.parquet",
    "findings.parquet",
    "groups.parquet",
    "report.md",
    manifest::FILE_NAME,
    "events",
    "requests",
];

/// Why a bundle cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory holds files and `--force` was not given.
    #[error(
        "cannot export to '{}': directory is not empty ({entries} entries); use --force to replace a bundle there",
        path.display()
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// How many entries it holds.
        entries: usize,
    },
    /// The path exists and is no directory.
    #[error("cannot export to '{}': not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("{op} '{}': {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// Encoding or writing Parquet failed.
    #[error("writing '{}': {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: ParquetError,
    },
    /// A batch did not match its schema (a bug).
    #[error("building rows for '{}': {source}", path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: ArrowError,
    },
    /// The redaction patterns do not compile.
    #[error(transparent)]
    Redact(#[from] redact::RedactError),
    /// Writing JSON failed.
    #[error("writing manifest: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    fn io(path: &Path, op: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    fn parquet(path: &Path, source: ParquetError) -> Error {
        Error::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }

    fn arrow(path: PathBuf, source: ArrowError) -> Error {
        Error::Arrow { path, source }
    }
}

/// What `--export` and its flags ask for.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Bundle directory.
    pub dir: PathBuf,
    /// Write into a non-empty directory (replacing a previous bundle's files).
    pub force: bool,
    /// Hive partition columns for events and requests.
    pub partition_by: Vec<PartitionKey>,
    /// Redact secrets (default on).
    pub redact: bool,
}

/// Parse `--partition-by service,date`.
///
/// # Errors
/// An unknown or repeated column, named.
pub fn parse_partition_by(list: &[String]) -> Result<Vec<PartitionKey>, String> {
    let mut keys = Vec::new();
    for s in list.iter().flat_map(|s| s.split(',')) {
        if s.trim().is_empty() {
            continue;
        }
        let k = PartitionKey::parse(s)
            .ok_or_else(|| format!("--partition-by: unknown column {s:?} (service, date)"))?;
        if keys.contains(&k) {
            return Err(format!("--partition-by: {s:?} given twice"));
        }
        keys.push(k);
    }
    Ok(keys)
}

/// Make sure `dir` exists and may be written: create it, or accept it empty, or with `force`
/// remove what a previous bundle left (its files by name, and stale temporary files).
///
/// # Errors
/// Not a directory, not empty without `force`, or a file system error — naming the path.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<(), Error> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(dir, "cannot create directory", e));
        }
        Err(e) => return Err(Error::io(dir, "cannot access", e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "cannot read directory", e))?
        .filter_map(Result::ok)
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(Error::NotEmpty {
            path: dir.to_path_buf(),
            entries: entries.len(),
        });
    }
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale_tmp = name.starts_with('.') && name.ends_with(".tmp");
        if !(BUNDLE_NAMES.contains(&name.as_str()) || stale_tmp) {
            continue;
        }
        let path = e.path();
        let removed = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|err| Error::io(&path, "cannot remove", err))?;
    }
    Ok(())
}

/// What the manifest says about the run, from the caller.
pub struct RunInfo<'r> {
    /// The exact command line.
    pub argv: &'r [String],
    /// Wall-clock start, UTC ns.
    pub started_ns: i64,
    /// The run was interrupted (Ctrl-C, SIGTERM).
    pub interrupted: bool,
    /// The rules the run checked (`None` with `--no-rules`).
    pub rules: Option<&'r crate::rules::RuleSet>,
}

/// What was written.
#[derive(Debug)]
pub struct Summary {
    /// The manifest (also on disk).
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.json` as written, to be recorded out of band.
    pub manifest_sha256: String,
}

/// The bundle being written: an [`EventSink`] during the run, then [`Bundle::finish`].
pub struct Bundle<'r> {
    opts: ExportOptions,
    reg: &'r Registry,
    /// The run's inputs, then those added while following ([`EventSink::input_added`]).
    inputs: Vec<Input>,
    events: Dataset<EventBatch>,
    requests: Dataset<RequestBatch>,
    groups: Dataset<GroupBatch>,
    redactor: Option<Redactor>,
    pseudonyms: Pseudonyms,
    /// Streams (`Origin::clock`) whose last event opened a private key block it did not close
    /// ([`redact::PemLine`]); almost always empty.
    open_keys: Vec<u64>,
    inputs_read: Vec<InputRead>,
    fields: String,
    /// The UTC day of the last row and its date string (partition values cache).
    last_day: Option<(i64, String)>,
}

impl<'r> Bundle<'r> {
    /// Start a bundle in `opts.dir`, which [`prepare_dir`] has accepted.
    ///
    /// # Errors
    /// Files cannot be created; the redaction patterns do not compile.
    pub fn create(
        opts: ExportOptions,
        reg: &'r Registry,
        inputs: &[Input],
    ) -> Result<Bundle<'r>, Error> {
        let redactor = if opts.redact {
            Some(Redactor::builtin()?)
        } else {
            None
        };
        let events = Dataset::create(
            &opts.dir,
            "events",
            &opts.partition_by,
            tables::events_schema,
            EventBatch::new,
        )?;
        let requests = Dataset::create(
            &opts.dir,
            "requests",
            &opts.partition_by,
            tables::requests_schema,
            RequestBatch::new,
        )?;
        // Groups span services and days: never partitioned.
        let groups = Dataset::create(
            &opts.dir,
            "groups",
            &[],
            |_| tables::groups_schema(),
            GroupBatch::new,
        )?;
        Ok(Bundle {
            opts,
            reg,
            inputs: inputs.to_vec(),
            events,
            requests,
            groups,
            redactor,
            pseudonyms: Pseudonyms::default(),
            open_keys: Vec::new(),
            inputs_read: Vec::new(),
            fields: String::new(),
            last_day: None,
        })
    }

    fn partition(&mut self, service: &str, ts: Option<i64>) -> Vec<String> {
        let keys = self.events.keys();
        let mut values = Vec::with_capacity(keys.len());
        for k in keys {
            values.push(match k {
                PartitionKey::Service => service.to_string(),
                PartitionKey::Date => match ts {
                    None => String::new(),
                    Some(t) => {
                        let day = t.div_euclid(86_400_000_000_000);
                        match &self.last_day {
                            Some((d, s)) if *d == day => s.clone(),
                            _ => {
                                let s = utc_date(t);
                                self.last_day = Some((day, s.clone()));
                                s
                            }
                        }
                    }
                },
            });
        }
        values
    }

    /// The replacement of an event that is a line of a private key's body its stream opened
    /// before (and the block's state: closed at its END line or at a line that is no body).
    fn key_body(&mut self, v: &View<'_, '_>) -> Option<String> {
        if self.open_keys.is_empty() {
            return None;
        }
        let at = self.open_keys.iter().position(|&k| k == v.origin.clock)?;
        let line = v.raw.or(v.ev.get(Slot::Message)).unwrap_or("");
        match redact::PemLine::of(line) {
            redact::PemLine::Body => self
                .redactor
                .as_mut()
                .and_then(|r| r.replace_whole("private_key")),
            redact::PemLine::End | redact::PemLine::Other => {
                self.open_keys.swap_remove(at);
                None
            }
        }
    }

    /// Close the event and request files, write the aggregates, `report.md` and the manifest.
    ///
    /// # Errors
    /// Any file that cannot be written, named.
    pub fn finish(self, report: &Report, run: &RunInfo<'_>) -> Result<Summary, Error> {
        let input_entries = self.input_entries();
        let Bundle {
            opts,
            reg,
            inputs,
            events,
            requests,
            groups,
            mut redactor,
            mut pseudonyms,
            inputs_read,
            ..
        } = self;
        let root = opts.dir.clone();
        let mut outputs: Vec<Output> = Vec::new();
        outputs.extend(events.close()?);
        outputs.extend(requests.close()?);
        outputs.extend(groups.close()?);
        let aggregates: [(&'static str, SchemaRef, RecordBatch); 3] = [
            (
                "endpoints",
                tables::endpoints_schema(),
                tables::endpoints_batch(report).map_err(|e| Error::arrow(root.clone(), e))?,
            ),
            (
                "error_rate",
                tables::error_rate_schema(),
                tables::error_rate_batch(report).map_err(|e| Error::arrow(root.clone(), e))?,
            ),
            (
                "findings",
                tables::findings_schema(),
                tables::findings_batch(
                    report,
                    &mut Redacting {
                        redactor: &mut redactor,
                        pseudonyms: &mut pseudonyms,
                    },
                )
                .map_err(|e| Error::arrow(root.clone(), e))?,
            ),
        ];
        for (name, schema, batch) in aggregates {
            let props = writer_properties(name, &schema);
            let mut f = ParquetFile::create(
                &root,
                &format!("{name}.parquet"),
                name,
                Vec::new(),
                schema,
                props,
            )?;
            f.write(&batch)?;
            outputs.push(f.close()?);
        }

        let mut reasons = Vec::new();
        if run.interrupted {
            reasons.push("interrupted by a signal (Ctrl-C or SIGTERM)".to_string());
        }
        for (i, input) in inputs.iter().enumerate() {
            if !inputs_read.get(i).is_some_and(|r| r.complete) && !run.interrupted {
                reasons.push(format!("input '{}' was not read to its end", input.name));
            }
        }
        let complete = reasons.is_empty();
        let argv: Vec<String> = run
            .argv
            .iter()
            .map(|a| redact_str(&mut redactor, a).into_owned())
            .collect();
        let started = time::format_rfc3339_nanos(run.started_ns);

        let header = markdown::Header {
            argv: &argv,
            started: &started,
            complete,
            incomplete_reasons: &reasons,
            redacted: redactor.is_some(),
        };
        let md = markdown::render(
            report,
            &header,
            &mut Redacting {
                redactor: &mut redactor,
                pseudonyms: &mut pseudonyms,
            },
        );
        outputs.push(write_small(&root, "report.md", md.as_bytes())?);

        let finished_ns = now_ns();
        let manifest = Manifest {
            schema: manifest::SCHEMA.to_string(),
            complete,
            incomplete_reasons: reasons,
            tool: Tool {
                name: env!("CARGO_PKG_NAME").to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            argv,
            run: Run {
                started,
                finished: time::format_rfc3339_nanos(finished_ns),
                seconds: (finished_ns - run.started_ns) as f64 / 1e9,
            },
            inputs: input_entries,
            parsers: parser_entries(reg),
            rules: run.rules.map(rule_entries).unwrap_or_default(),
            redaction: Redaction {
                enabled: redactor.is_some(),
                patterns: SpecEntry {
                    name: redact::BUILTIN_NAME.to_string(),
                    origin: "builtin".to_string(),
                    defines: "secret patterns".to_string(),
                    sha256: Some(sha256_hex(redact::BUILTIN.as_bytes())),
                },
                counts: redactor.as_ref().map(Redactor::counts).unwrap_or_default(),
            },
            input_accounting: serde_json::to_value(&report.input)?,
            time_range: serde_json::to_value(&report.time_range)?,
            partition_by: opts
                .partition_by
                .iter()
                .map(|k| k.name().to_string())
                .collect(),
            outputs,
        };
        let mut text = serde_json::to_vec_pretty(&manifest)?;
        text.push(b'\n');
        let written = write_small(&root, manifest::FILE_NAME, &text)?;
        Ok(Summary {
            manifest,
            manifest_sha256: written.sha256,
        })
    }

    fn input_entries(&self) -> Vec<InputEntry> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let read = self.inputs_read.get(i).cloned().unwrap_or_default();
                InputEntry {
                    name: input.name.clone(),
                    kind: match input.kind {
                        InputKind::Stdin => "stdin",
                        InputKind::File(_) => "file",
                        InputKind::Memory(_) => "memory",
                        InputKind::Kubectl { .. } => "kubectl",
                        InputKind::Docker { .. } => "docker",
                        InputKind::Loki(_) => "loki",
                    }
                    .to_string(),
                    size: input.size,
                    bytes_read: read.bytes,
                    lines: read.lines,
                    sha256: read.sha256.filter(|_| read.read).map(|h| hex(&h)),
                    read_complete: read.complete,
                    read: read.read,
                    cut_line_bytes: read.cut_line,
                }
            })
            .collect()
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The rule files of a rule set with the SHA-256 of their text.
fn rule_entries(rules: &crate::rules::RuleSet) -> Vec<SpecEntry> {
    rules
        .rules()
        .iter()
        .map(|r| {
            let builtin = r.file.strip_prefix("builtin:");
            SpecEntry {
                name: builtin.unwrap_or(&r.file).to_string(),
                origin: if builtin.is_some() { "builtin" } else { "file" }.to_string(),
                defines: format!("{} {}", r.id, r.name),
                sha256: (!r.sha256.is_empty()).then(|| r.sha256.clone()),
            }
        })
        .collect()
}

/// The parser files of a registry with the SHA-256 of their text.
fn parser_entries(reg: &Registry) -> Vec<SpecEntry> {
    reg.files()
        .iter()
        .map(|f| {
            let builtin = parse::BUILTIN.iter().find(|(n, _)| *n == f.name);
            let sha256 = match builtin {
                Some((_, text)) => Some(sha256_hex(text.as_bytes())),
                None => std::fs::read(&f.name).ok().map(|b| sha256_hex(&b)),
            };
            SpecEntry {
                name: f.name.clone(),
                origin: if builtin.is_some() { "builtin" } else { "file" }.to_string(),
                defines: f.service.clone(),
                sha256,
            }
        })
        .collect()
}

fn redact_str<'t>(r: &mut Option<Redactor>, s: &'t str) -> Cow<'t, str> {
    match r.as_mut() {
        Some(r) => r.redact(s),
        None => Cow::Borrowed(s),
    }
}

fn redact_opt<'t>(r: &mut Option<Redactor>, s: Option<&'t str>) -> Option<Cow<'t, str>> {
    s.map(|s| redact_str(r, s))
}

/// Identifiers that held a secret, numbered in the order they are written: redacted, an identifier
/// still tells one agent (trace, request…) from another within the bundle, the same number in
/// every file (`agent_id` `[REDACTED:github_token]#2`), and nothing of the secret is kept.
#[derive(Default)]
struct Pseudonyms {
    numbers: crate::FastMap<Box<str>, u32>,
}

impl Pseudonyms {
    /// Distinct redacted identifiers numbered apart (memory stays bounded); any further one
    /// is written with `#?`.
    const MAX: usize = 100_000;

    /// `value` redacted; when redaction changed it, with its number appended.
    fn id<'t>(&mut self, r: &mut Option<Redactor>, value: &'t str) -> Cow<'t, str> {
        let out = redact_str(r, value);
        if *out == *value {
            return Cow::Borrowed(value);
        }
        let number = match self.numbers.get(value) {
            Some(&n) => Some(n),
            None if self.numbers.len() < Self::MAX => {
                let n = u32::try_from(self.numbers.len() + 1).unwrap_or(u32::MAX);
                self.numbers.insert(value.into(), n);
                Some(n)
            }
            None => None,
        };
        Cow::Owned(match number {
            Some(n) => format!("{out}#{n}"),
            None => format!("{out}#?"),
        })
    }

    fn id_opt<'t>(&mut self, r: &mut Option<Redactor>, v: Option<&'t str>) -> Option<Cow<'t, str>> {
        v.map(|v| self.id(r, v))
    }
}

/// What the bundle's tables and `report.md` redact with: free text, and identifiers (a group
/// name `kind:value` is an identifier) through [`Pseudonyms`].
pub struct Redacting<'a> {
    redactor: &'a mut Option<Redactor>,
    pseudonyms: &'a mut Pseudonyms,
}

impl Redacting<'_> {
    /// Free text, its secrets replaced.
    pub fn text(&mut self, s: &str) -> String {
        redact_str(self.redactor, s).into_owned()
    }

    /// An identifier's value.
    pub fn id(&mut self, value: &str) -> String {
        self.pseudonyms.id(self.redactor, value).into_owned()
    }

    /// A group name, `kind:value`: the value as an identifier.
    pub fn group(&mut self, name: &str) -> String {
        match name.split_once(':') {
            Some((kind, value)) => format!("{kind}:{}", self.id(value)),
            None => self.id(name),
        }
    }
}

fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

impl EventSink for Bundle<'_> {
    fn event(&mut self, v: &View<'_, '_>, pass: bool) -> io::Result<()> {
        if !pass {
            return Ok(());
        }
        let ev = v.ev;
        let mut fields = std::mem::take(&mut self.fields);
        match self.redactor.as_mut() {
            Some(r) => tables::fields_json(&ev.extras, &mut fields, |k| r.redact_field(k)),
            None => tables::fields_json(&ev.extras, &mut fields, |_| None),
        }
        let texts = [
            ev.get(Slot::Message),
            ev.get(Slot::Path),
            ev.get(Slot::Exception),
            v.raw,
            (!fields.is_empty()).then_some(fields.as_str()),
        ];
        let ids = tables::ID_SLOTS.map(|slot| ev.get(slot));
        // A line of a private key's body, after a line of its stream that opened the block:
        // replaced whole, message and raw line.
        let key_body = self.key_body(v);
        // Most events hold no hint at all: one scan over all their texts settles it.
        let clean = self
            .redactor
            .as_mut()
            .is_none_or(|r| r.all_clean(texts.iter().chain(&ids).flatten().copied()));
        if !clean
            && texts[0]
                .into_iter()
                .chain(v.raw)
                .any(redact::opens_private_key)
            && !self.open_keys.contains(&v.origin.clock)
        {
            self.open_keys.push(v.origin.clock);
        }
        let r = if clean { &mut None } else { &mut self.redactor };
        let [mut message, path, exception, mut raw, fields_out] = texts.map(|t| redact_opt(r, t));
        if let Some(body) = &key_body {
            message = message.map(|_| Cow::Borrowed(body.as_str()));
            raw = raw.map(|_| Cow::Borrowed(body.as_str()));
        }
        let pseudonyms = &mut self.pseudonyms;
        let ids = ids.map(|t| pseudonyms.id_opt(r, t));
        let text = EventText {
            message: message.as_deref(),
            path: path.as_deref(),
            exception: exception.as_deref(),
            raw: raw.as_deref(),
            fields: fields_out.as_deref(),
            ids: std::array::from_fn(|i| ids[i].as_deref()),
        };
        let values = self.partition(v.reg.service_name(ev.service), ev.ts);
        let result = self.events.push(&values, |b| b.append(v, &text));
        self.fields = fields;
        result.map_err(to_io)
    }

    fn request(&mut self, r: &Request, origin: &Origin) -> io::Result<()> {
        let path = redact_opt(&mut self.redactor, r.path());
        let ids = [r.trace_id(), r.request_id(), r.client_ip(), r.agent_id()]
            .map(|id| self.pseudonyms.id_opt(&mut self.redactor, id));
        let service = self.reg.service_name(r.service);
        let values = self.partition(service, r.ts);
        let source = self
            .inputs
            .get(r.at.source as usize)
            .map_or("", |i| i.name.as_str());
        let ctx = RequestContext {
            service,
            source,
            origin,
            chain: self.reg.request_chain(r.service),
            path: path.as_deref(),
            ids: std::array::from_fn(|i| ids[i].as_deref()),
        };
        self.requests
            .push(&values, |b| b.append(r, &ctx))
            .map_err(to_io)
    }

    fn group(&mut self, g: &ClosedGroup) -> io::Result<()> {
        let mut redact = Redacting {
            redactor: &mut self.redactor,
            pseudonyms: &mut self.pseudonyms,
        };
        self.groups
            .push(&[], |b| {
                b.append(GroupRow {
                    group: g,
                    redact: &mut redact,
                });
            })
            .map_err(to_io)
    }

    fn input_added(&mut self, _source: u32, input: &Input) -> io::Result<()> {
        self.inputs.push(input.clone());
        Ok(())
    }

    fn inputs_read(&mut self, inputs: &[InputRead]) -> io::Result<()> {
        self.inputs_read = inputs.to_vec();
        Ok(())
    }
}
