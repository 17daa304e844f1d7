//! The kubectl source: `k8s://[NS/]pod/NAME`, `k8s://[NS/]deploy/NAME` and
//! `k8s://[NS/]?selector=LABELS` inputs, read by running the user's own `kubectl` (so their
//! kubeconfig, context and auth plugins apply):
//!
//! ```text
//! kubectl logs [-n NS] TARGET --prefix --timestamps --all-containers --tail=-1
//!         [--previous] [--since-time=RFC3339] [-f --max-log-requests=N]
//! ```
//!
//! Its stdout (`[pod/P/C] <9-digit ts> <line>`, the envelope the pipeline already parses) is the
//! input's bytes; its stderr is collected. A non-zero exit is a [`KubectlError::Exit`] carrying
//! kubectl's stderr verbatim; with exit 0, stderr (e.g. `No resources found…`) is echoed.
//!
//! `deploy/NAME` behaves as in kubectl: one pod of the deployment. Use `?selector=` for all.
//!
//! # Following: one kubectl per container
//! `kubectl logs --all-containers -f` runs until its *last* stream ends, so a container that
//! restarts while others go on would never be read again. With `-f` the input is therefore
//! resolved up front (`kubectl get … -o json`, [`containers`]: init, regular and ephemeral
//! containers, as `--all-containers` reads them) and each container gets its own
//! `kubectl logs -f -c C pod/P` (or `deploy/D`) [`Stream`], on its own thread, restarted on its
//! own as below; [`Follow`] passes their lines on as they come. A selector is listed again
//! every [`RELIST`], and containers of pods that newly match are followed from their start.
//! A stream whose restart fails (its pod was deleted) ends with kubectl's message on stderr;
//! for a pod or deployment input, the last one failing ends the run (exit 2).
//!
//! # Resume while following
//! When the followed stream ends (exit 0, e.g. the container stopped or the API server closed
//! the connection), kubectl is started again with `--since-time` = the oldest of the
//! per-stream last timestamps seen. The
//! API resolves `sinceTime` to whole seconds, so lines come back again; per stream
//! (`pod/container`), lines older than that stream's last timestamp are dropped, and lines at
//! exactly that timestamp are dropped as many times as they were already passed on (content
//! hash). **Invariant:** no line is passed twice and none is lost, provided timestamps within a
//! stream do not go backwards. Restarts back off (0.2 s, then up to 5 s while nothing new
//! arrives) and stop at [`super::live::request_stop`].

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::live;

/// kubectl source failures.
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    /// The `k8s://` URI is malformed.
    #[error(
        "{uri}: {why} (expected k8s://[NAMESPACE/]pod/NAME, k8s://[NAMESPACE/]deploy/NAME or k8s://[NAMESPACE/]?selector=KEY%3DVALUE)"
    )]
    BadUri {
        /// The input.
        uri: String,
        /// What is wrong.
        why: String,
    },
    /// No kubectl binary.
    #[error("kubectl not found in PATH (install it, or set LOGSLEUTH_KUBECTL to its path)")]
    NotFound,
    /// `LOGSLEUTH_KUBECTL` names no file.
    #[error(
        "LOGSLEUTH_KUBECTL={path}: {why} (set it to kubectl's path, or unset it to use kubectl from PATH)"
    )]
    BadOverride {
        /// The value.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `kubectl get … -o json` printed something that is not the expected JSON.
    #[error("cannot read the output of `kubectl {args}`: {why}")]
    BadGet {
        /// kubectl's arguments.
        args: String,
        /// What is wrong.
        why: String,
    },
    /// More containers to follow than `--max-log-requests` allows.
    #[error(
        "following {streams} log streams (one per container), but --max-log-requests is {max}: raise it"
    )]
    TooManyStreams {
        /// Containers found.
        streams: usize,
        /// The limit.
        max: u32,
    },
    /// Could not start it.
    #[error("cannot run {path}: {source}")]
    Spawn {
        /// Binary.
        path: String,
        /// Cause.
        source: io::Error,
    },
    /// kubectl failed; `stderr` is its message, verbatim.
    #[error("kubectl exited with {status}:\n{stderr}")]
    Exit {
        /// Exit status text.
        status: String,
        /// kubectl's stderr.
        stderr: String,
    },
}

/// What to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `pod/NAME`.
    Pod(String),
    /// `deploy/NAME`.
    Deploy(String),
    /// `-l SELECTOR`.
    Selector(String),
}

/// A parsed `k8s://` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sInput {
    /// `-n`, when given.
    pub namespace: Option<String>,
    /// The target.
    pub target: Target,
}

/// Options from the command line.
#[derive(Clone, Debug, Default)]
pub struct KubectlOpts {
    /// The binary.
    pub kubectl: PathBuf,
    /// `-f`.
    pub follow: bool,
    /// `--previous`.
    pub previous: bool,
    /// `--since-time` (UTC ns).
    pub since: Option<i64>,
    /// `--max-log-requests`: with `-f`, the most containers followed at once.
    pub max_log_requests: u32,
    /// With `-f`: the containers to follow, resolved up front by [`containers`].
    pub containers: Vec<Container>,
}

/// One container to follow: kubectl's `TARGET -c NAME`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Container {
    /// `pod/NAME` or `deploy/NAME`.
    pub target: String,
    /// The container.
    pub name: String,
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// Parse `k8s://[NS/]pod/NAME`, `k8s://[NS/]deploy/NAME`, `k8s://[NS/]?selector=…`.
///
/// # Errors
/// [`KubectlError::BadUri`].
pub fn parse_uri(uri: &str) -> Result<K8sInput, KubectlError> {
    let bad = |why: &str| KubectlError::BadUri {
        uri: uri.to_string(),
        why: why.to_string(),
    };
    let rest = uri
        .strip_prefix("k8s://")
        .ok_or_else(|| bad("not a k8s:// input"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(q) = query {
        let ns = match parts.as_slice() {
            [] => None,
            [ns] => Some(*ns),
            _ => return Err(bad("a selector input takes only a namespace before '?'")),
        };
        let mut selector = None;
        for kv in q.split('&') {
            match kv.split_once('=') {
                Some(("selector" | "l", v)) => selector = Some(pct_decode(v)),
                _ => return Err(bad(&format!("unknown query parameter {kv:?}"))),
            }
        }
        let selector = selector
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("empty selector"))?;
        if let Some(ns) = ns
            && !is_name(ns)
        {
            return Err(bad("bad namespace"));
        }
        return Ok(K8sInput {
            namespace: ns.map(str::to_string),
            target: Target::Selector(selector),
        });
    }
    let (ns, kind, name) = match parts.as_slice() {
        [kind, name] => (None, *kind, *name),
        [ns, kind, name] => (Some(*ns), *kind, *name),
        _ => return Err(bad("expected [NAMESPACE/]KIND/NAME")),
    };
    if ns.is_some_and(|n| !is_name(n)) || !is_name(name) {
        return Err(bad("bad namespace or name"));
    }
    let target = match kind {
        "pod" | "pods" | "po" => Target::Pod(name.to_string()),
        "deploy" | "deployment" | "deployments" => Target::Deploy(name.to_string()),
        other => return Err(bad(&format!("unsupported kind {other:?}"))),
    };
    Ok(K8sInput {
        namespace: ns.map(str::to_string),
        target,
    })
}

/// The kubectl binary: `LOGSLEUTH_KUBECTL`, else `kubectl` on `PATH`.
///
/// # Errors
/// [`KubectlError::NotFound`], [`KubectlError::BadOverride`].
pub fn locate() -> Result<PathBuf, KubectlError> {
    if let Some(p) = std::env::var_os("LOGSLEUTH_KUBECTL").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let why = match std::fs::metadata(&p) {
            Ok(md) if md.is_file() => return Ok(p),
            Ok(_) => "not a file",
            Err(_) => "no such file",
        };
        return Err(KubectlError::BadOverride {
            path: p.display().to_string(),
            why,
        });
    }
    let path = std::env::var_os("PATH").ok_or(KubectlError::NotFound)?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .ok_or(KubectlError::NotFound)
}

fn rfc3339(ns: i64) -> String {
    crate::time::format_rfc3339_nanos(ns)
}

/// `-n NS` when the input has a namespace.
fn ns_args(input: &K8sInput) -> Vec<String> {
    match &input.namespace {
        Some(ns) => vec!["-n".into(), ns.clone()],
        None => Vec::new(),
    }
}

/// The kubectl arguments for one run: every container of the input (`--all-containers`), or
/// only `container` (following).
pub fn args(
    input: &K8sInput,
    container: Option<&Container>,
    opts: &KubectlOpts,
    since: Option<i64>,
) -> Vec<String> {
    let mut a = vec!["logs".to_string()];
    a.extend(ns_args(input));
    match (container, &input.target) {
        (Some(c), _) => a.extend([c.target.clone(), "-c".into(), c.name.clone()]),
        (None, Target::Pod(n)) => a.push(format!("pod/{n}")),
        (None, Target::Deploy(n)) => a.push(format!("deploy/{n}")),
        (None, Target::Selector(s)) => a.extend(["-l".into(), s.clone()]),
    }
    a.extend(["--prefix".into(), "--timestamps".into()]);
    if container.is_none() {
        a.push("--all-containers".into());
    }
    a.push("--tail=-1".into());
    if opts.previous {
        a.push("--previous".into());
    }
    if let Some(s) = since {
        a.push(format!("--since-time={}", rfc3339(s)));
    }
    if opts.follow {
        a.push("-f".into());
        if container.is_none() {
            a.push(format!(
                "--max-log-requests={}",
                opts.max_log_requests.max(1)
            ));
        }
    }
    a
}

/// The namespace kubectl uses when the input names none: the current context's, else
/// `default`. None when kubectl cannot tell (no kubeconfig): `kubectl logs` then says why.
pub fn context_namespace(kubectl: &Path) -> Option<String> {
    let out = Command::new(kubectl)
        .args([
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.contexts[0].context.namespace}",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let ns = String::from_utf8(out.stdout).ok()?;
    let ns = ns.trim();
    Some(if ns.is_empty() { "default" } else { ns }.to_string())
}

/// Has container `name` of pod `pod` (JSON) run, so that it has a log to read? Not when it
/// is waiting with no earlier run, or when its pod is pending with no status for it yet.
fn has_run(pod: &serde_json::Value, name: &str) -> bool {
    let status = &pod["status"];
    let mut all = [
        "initContainerStatuses",
        "containerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .flat_map(|k| status[*k].as_array().into_iter().flatten());
    match all.find(|c| c["name"] == name) {
        Some(c) => {
            c["state"].get("waiting").is_none() || c["lastState"].get("terminated").is_some()
        }
        None => status["phase"] != "Pending",
    }
}

/// The containers `kubectl logs --all-containers` would read for `input`, from
/// `kubectl get … -o json`: per pod its init, regular and ephemeral containers; for a
/// deployment those of its pod template (kubectl picks the pod at each start). For a
/// selector, only containers that have run: one still waiting to start (a new pod) would make
/// `kubectl logs` fail; a later listing finds it.
///
/// # Errors
/// kubectl missing or failing (e.g. the pod does not exist), or output that is not a pod,
/// deployment or list of pods.
pub fn containers(input: &K8sInput, kubectl: &Path) -> Result<Vec<Container>, KubectlError> {
    let selector = matches!(input.target, Target::Selector(_));
    let mut a = vec!["get".to_string()];
    a.extend(ns_args(input));
    match &input.target {
        Target::Pod(n) => a.push(format!("pod/{n}")),
        Target::Deploy(n) => a.push(format!("deploy/{n}")),
        Target::Selector(s) => a.extend(["pods".into(), "-l".into(), s.clone()]),
    }
    a.extend(["-o".into(), "json".into()]);
    let out = Command::new(kubectl)
        .args(&a)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| KubectlError::Spawn {
            path: kubectl.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(KubectlError::Exit {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        });
    }
    let bad = |why: String| KubectlError::BadGet {
        args: a.join(" "),
        why,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| bad(e.to_string()))?;
    let objects = match doc["items"].as_array() {
        Some(items) => items.iter().collect(),
        None => vec![&doc],
    };
    let mut found = Vec::new();
    for o in objects {
        let name = o["metadata"]["name"]
            .as_str()
            .ok_or_else(|| bad("an object without metadata.name".into()))?;
        let (target, spec) = match o["kind"].as_str() {
            Some("Pod") => (format!("pod/{name}"), &o["spec"]),
            Some("Deployment") => (format!("deploy/{name}"), &o["spec"]["template"]["spec"]),
            other => return Err(bad(format!("unexpected kind {other:?}"))),
        };
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec[list].as_array().into_iter().flatten() {
                let c = c["name"]
                    .as_str()
                    .ok_or_else(|| bad(format!("a container without a name in {target}")))?;
                if selector && !has_run(o, c) {
                    continue;
                }
                found.push(Container {
                    target: target.clone(),
                    name: c.to_string(),
                });
            }
        }
    }
    Ok(found)
}

struct Run {
    child: Arc<Mutex<Child>>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn spawn(path: &Path, args: &[String]) -> Result<Run, KubectlError> {
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| KubectlError::Spawn {
            path: path.display().to_string(),
            source,
        })?;
    let stdout = child.stdout.take().ok_or_else(|| KubectlError::Spawn {
        path: path.display().to_string(),
        source: io::Error::other("no stdout pipe"),
    })?;
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut e).take(256 * 1024).read_to_end(&mut buf);
            // Drain the rest so kubectl never blocks on a full pipe.
            let _ = io::copy(&mut e, &mut io::sink());
            buf
        })
    });
    let child = Arc::new(Mutex::new(child));
    live::register(&child);
    Ok(Run {
        child,
        stdout: BufReader::with_capacity(256 * 1024, stdout),
        stderr,
    })
}

impl Run {
    /// Wait for the exit; `Ok(stderr)` on success.
    fn finish(mut self) -> Result<String, KubectlError> {
        let status = loop {
            let polled = self.child.lock().map(|mut c| c.try_wait());
            match polled {
                Ok(Ok(Some(s))) => break Some(s),
                Ok(Ok(None)) => std::thread::sleep(Duration::from_millis(10)),
                _ => break None,
            }
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        match status {
            Some(s) if s.success() => Ok(stderr),
            // Killed by our own stop request (or the terminal's Ctrl-C): not a failure.
            _ if live::stopping() => Ok(String::new()),
            Some(s) => Err(KubectlError::Exit {
                status: s.to_string(),
                stderr: stderr.trim_end().to_string(),
            }),
            None => Err(KubectlError::Exit {
                status: "unknown status".into(),
                stderr: stderr.trim_end().to_string(),
            }),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// Per-stream resume state: last timestamp passed on and the lines passed at it.
#[derive(Default)]
struct Seen {
    last: i64,
    at_last: HashMap<u64, u32>,
}

/// One `kubectl logs` run after another over the same streams: all containers of the input
/// (without `-f`), or one container (`-f`), with the resume state (see the module docs).
pub struct Stream {
    input: K8sInput,
    /// Following: the one container this stream reads.
    container: Option<Container>,
    opts: KubectlOpts,
    run: Option<Run>,
    seen: HashMap<String, Seen>,
    /// While resuming: lines at the last timestamp still to be skipped, per stream.
    skip: HashMap<String, HashMap<u64, u32>>,
    resuming: bool,
    new_in_run: bool,
    idle_restarts: u32,
    line: Vec<u8>,
    pos: usize,
}

impl Stream {
    /// Start kubectl for `input` (only `container` of it, when given).
    ///
    /// # Errors
    /// kubectl not startable.
    pub fn start(
        input: &K8sInput,
        container: Option<&Container>,
        opts: &KubectlOpts,
    ) -> Result<Stream, KubectlError> {
        let run = spawn(&opts.kubectl, &args(input, container, opts, opts.since))?;
        Ok(Stream {
            input: input.clone(),
            container: container.cloned(),
            opts: opts.clone(),
            run: Some(run),
            seen: HashMap::new(),
            skip: HashMap::new(),
            resuming: false,
            new_in_run: false,
            idle_restarts: 0,
            line: Vec::new(),
            pos: 0,
        })
    }
}

/// How often a followed selector is listed again for pods that newly match.
pub const RELIST: Duration = Duration::from_secs(5);

/// From a stream's thread to [`Follow`].
enum Msg {
    Line(Vec<u8>),
    /// The stream ended: at a stop, or with this error (a failed restart).
    Ended(Container, Option<String>),
}

/// `-f`: one [`Stream`] per container, each on its own thread (see the module docs).
pub struct Follow {
    input: K8sInput,
    opts: KubectlOpts,
    tx: SyncSender<Msg>,
    rx: Receiver<Msg>,
    /// Every container ever started: a container is followed by one stream only.
    started: HashSet<Container>,
    running: usize,
    listed: Instant,
    line: Vec<u8>,
    pos: usize,
}

impl Follow {
    fn new(input: &K8sInput, opts: &KubectlOpts) -> Follow {
        // Bounded: a fast kubectl waits for the pipeline instead of filling memory.
        let (tx, rx) = std::sync::mpsc::sync_channel(4096);
        let mut f = Follow {
            input: input.clone(),
            opts: opts.clone(),
            tx,
            rx,
            started: HashSet::new(),
            running: 0,
            listed: Instant::now(),
            line: Vec::new(),
            pos: 0,
        };
        for c in &opts.containers {
            f.start(c);
        }
        f
    }

    fn uri(&self, c: &Container) -> String {
        let ns = self.input.namespace.as_deref().unwrap_or("");
        format!("k8s://{ns}/{} container {}", c.target, c.name)
    }

    /// Follow `c` on a thread of its own, unless it already is (or was).
    fn start(&mut self, c: &Container) {
        if !self.started.insert(c.clone()) {
            return;
        }
        if self.running >= self.opts.max_log_requests.max(1) as usize {
            eprintln!(
                "logsleuth: {}: not followed: --max-log-requests {} streams already followed",
                self.uri(c),
                self.opts.max_log_requests
            );
            return;
        }
        self.running += 1;
        let (input, opts, c, tx) = (
            self.input.clone(),
            self.opts.clone(),
            c.clone(),
            self.tx.clone(),
        );
        std::thread::spawn(move || {
            let mut s = match Stream::start(&input, Some(&c), &opts) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Msg::Ended(c, Some(e.to_string())));
                    return;
                }
            };
            let error = loop {
                match s.next_line() {
                    Ok(true) => {
                        if tx.send(Msg::Line(std::mem::take(&mut s.line))).is_err() {
                            return;
                        }
                    }
                    Ok(false) => break None,
                    Err(e) => break Some(e.to_string()),
                }
            };
            let _ = tx.send(Msg::Ended(c, error));
        });
    }

    /// A selector: list its pods again and follow the containers not followed yet.
    fn relist(&mut self) {
        self.listed = Instant::now();
        match containers(&self.input, &self.opts.kubectl) {
            Ok(found) => {
                for c in &found {
                    self.start(c);
                }
            }
            // Transient (API server unreachable, …): say so, try again at the next listing.
            Err(e) => eprintln!("logsleuth: cannot list the pods to follow: {e}"),
        }
    }

    /// Next line into `self.line`; false once every stream ended (a selector: at a stop).
    fn next_line(&mut self) -> io::Result<bool> {
        let selector = matches!(self.input.target, Target::Selector(_));
        loop {
            if self.running == 0 && (!selector || live::stopping()) {
                return Ok(false);
            }
            if selector && !live::stopping() && self.listed.elapsed() >= RELIST {
                self.relist();
            }
            // Wake up to list again, and to see a stop while no stream is running.
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Msg::Line(l)) => {
                    self.line = l;
                    self.pos = 0;
                    return Ok(true);
                }
                Ok(Msg::Ended(c, error)) => {
                    self.running -= 1;
                    let Some(e) = error else { continue };
                    let what = self.uri(&c);
                    if self.running == 0 && !selector {
                        return Err(io::Error::other(super::Fatal(format!("{what}: {e}"))));
                    }
                    eprintln!("logsleuth: {what}: no longer followed: {e}");
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Never: `self.tx` keeps the channel open.
                Err(RecvTimeoutError::Disconnected) => return Ok(false),
            }
        }
    }
}

/// Copy what fits of `line[*pos..]` into `buf`, moving `pos` on.
fn copy_on(line: &[u8], pos: &mut usize, buf: &mut [u8]) -> usize {
    let rest = line.get(*pos..).unwrap_or_default();
    let n = buf.len().min(rest.len());
    buf[..n].copy_from_slice(&rest[..n]);
    *pos += n;
    n
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.line.len() && !self.next_line()? {
            return Ok(0);
        }
        Ok(copy_on(&self.line, &mut self.pos, buf))
    }
}

/// Reads `kubectl logs` output as an input (see the module docs).
pub enum KubectlReader {
    /// Without `-f`: one kubectl for every container.
    Once(Stream),
    /// `-f`: one kubectl per container.
    Follow(Follow),
}

/// Start kubectl for `input`: with `-f`, one per container of `opts.containers`.
///
/// # Errors
/// kubectl missing or not startable.
pub fn open(input: &K8sInput, opts: &KubectlOpts) -> Result<KubectlReader, KubectlError> {
    Ok(if opts.follow {
        KubectlReader::Follow(Follow::new(input, opts))
    } else {
        KubectlReader::Once(Stream::start(input, None, opts)?)
    })
}

impl Read for KubectlReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            KubectlReader::Once(s) => s.read(buf),
            KubectlReader::Follow(f) => f.read(buf),
        }
    }
}

/// `[pod/P/C] ` prefix (as key) and the 9-digit timestamp after it.
fn key_and_ts(line: &[u8]) -> Option<(String, i64)> {
    let end = line.iter().position(|&b| b == b']')?;
    if !line.starts_with(b"[") {
        return None;
    }
    let key = std::str::from_utf8(&line[1..end]).ok()?.to_string();
    let rest = line.get(end + 2..)?;
    let sp = rest
        .iter()
        .take(40)
        .position(|&b| b == b' ')
        .unwrap_or(rest.len().min(40));
    let ts = crate::time::parse_timestamp(rest.get(..sp)?, 0)?;
    Some((key, ts))
}

fn hash(line: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

impl Stream {
    /// Decide whether a line is new, updating the resume state.
    fn admit(&mut self, line: &[u8]) -> bool {
        let Some((key, ts)) = key_and_ts(line) else {
            return true;
        };
        let h = hash(line);
        if self.resuming
            && let Some(seen) = self.seen.get(&key)
        {
            if ts < seen.last {
                return false;
            }
            if ts == seen.last
                && let Some(n) = self.skip.get_mut(&key).and_then(|s| s.get_mut(&h))
                && *n > 0
            {
                *n -= 1;
                return false;
            }
        }
        let seen = self.seen.entry(key).or_default();
        if ts > seen.last || seen.at_last.is_empty() {
            seen.last = ts;
            seen.at_last.clear();
        }
        if ts == seen.last {
            *seen.at_last.entry(h).or_default() += 1;
        }
        true
    }

    /// The current run ended cleanly while following: start the next one.
    fn restart(&mut self) -> io::Result<bool> {
        if self.new_in_run {
            self.idle_restarts = 0;
        } else {
            self.idle_restarts = self.idle_restarts.saturating_add(1);
        }
        let wait = if self.idle_restarts == 0 {
            Duration::from_millis(200)
        } else {
            Duration::from_millis((500u64 << self.idle_restarts.min(4)).min(5000))
        };
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while waited < wait {
            if live::stopping() {
                return Ok(false);
            }
            std::thread::sleep(step);
            waited += step;
        }
        let since = self.seen.values().map(|s| s.last).min().or(self.opts.since);
        self.skip = self
            .seen
            .iter()
            .map(|(k, s)| (k.clone(), s.at_last.clone()))
            .collect();
        self.resuming = true;
        self.new_in_run = false;
        let run = spawn(
            &self.opts.kubectl,
            &args(&self.input, self.container.as_ref(), &self.opts, since),
        )
        .map_err(io::Error::other)?;
        self.run = Some(run);
        Ok(true)
    }

    /// Next admitted line into `self.line`; false at the end.
    fn next_line(&mut self) -> io::Result<bool> {
        loop {
            let Some(run) = self.run.as_mut() else {
                return Ok(false);
            };
            self.line.clear();
            self.pos = 0;
            let n = (&mut run.stdout)
                .take(64 << 20)
                .read_until(b'\n', &mut self.line)?;
            if n > 0 {
                let line = std::mem::take(&mut self.line);
                let body = line.strip_suffix(b"\n").unwrap_or(&line);
                let ok = self.admit(body);
                self.line = line;
                if ok {
                    self.new_in_run = true;
                    if !self.line.ends_with(b"\n") {
                        self.line.push(b'\n');
                    }
                    return Ok(true);
                }
                continue;
            }
            let Some(run) = self.run.take() else {
                return Ok(false);
            };
            match run.finish() {
                Ok(stderr) => {
                    if !stderr.trim().is_empty() {
                        eprint!("{stderr}");
                    }
                }
                Err(e) => return Err(io::Error::other(super::Fatal(e.to_string()))),
            }
            if !self.opts.follow || live::stopping() || !self.restart()? {
                return Ok(false);
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.line.len() && !self.next_line()? {
            return Ok(0);
        }
        Ok(copy_on(&self.line, &mut self.pos, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            parse_uri("k8s://prod/pod/api-0").unwrap(),
            K8sInput {
                namespace: Some("prod".into()),
                target: Target::Pod("api-0".into())
            }
        );
        assert_eq!(
            parse_uri("k8s://deploy/api").unwrap().target,
            Target::Deploy("api".into())
        );
        let s = parse_uri("k8s://prod/?selector=app%3Dskreaver").unwrap();
        assert_eq!(s.namespace.as_deref(), Some("prod"));
        assert_eq!(s.target, Target::Selector("app=skreaver".into()));
        assert_eq!(
            parse_uri("k8s://?selector=app%3Dweb,tier%3D1")
                .unwrap()
                .target,
            Target::Selector("app=web,tier=1".into())
        );
        for bad in [
            "k8s://",
            "k8s://x/y/z/w",
            "k8s://svc/x",
            "k8s://?foo=1",
            "k8s://?selector=",
            "k8s://a/b/?selector=x",
            "k8s://pod/x%",
            "k8s://ns/pod/bad name",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kubectl_args() {
        let i = parse_uri("k8s://prod/?selector=app%3Dweb").unwrap();
        let o = KubectlOpts {
            follow: true,
            previous: true,
            max_log_requests: 20,
            ..KubectlOpts::default()
        };
        assert_eq!(
            args(&i, None, &o, Some(1_761_566_400_500_000_000)).join(" "),
            "logs -n prod -l app=web --prefix --timestamps --all-containers --tail=-1 --previous \
             --since-time=2025-10-27T12:00:00.500000000Z -f --max-log-requests=20"
        );
        let c = Container {
            target: "pod/web-1".into(),
            name: "sidecar".into(),
        };
        assert_eq!(
            args(&i, Some(&c), &o, None).join(" "),
            "logs -n prod pod/web-1 -c sidecar --prefix --timestamps --tail=-1 --previous -f"
        );
    }

    #[test]
    fn has_run_from_pod_status() {
        let pod = serde_json::json!({"status": {"phase": "Running",
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 0}}}],
            "containerStatuses": [
                {"name": "app", "state": {"running": {}}},
                {"name": "new", "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "crashing", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1}}}]}});
        assert!(has_run(&pod, "init"));
        assert!(has_run(&pod, "app"));
        assert!(!has_run(&pod, "new"), "no log yet: kubectl logs would fail");
        assert!(has_run(&pod, "crashing"), "its last run has a log");
        assert!(has_run(&pod, "unlisted"));
        let pending = serde_json::json!({"status": {"phase": "Pending"}});
        assert!(!has_run(&pending, "app"));
    }

    #[test]
    fn resume_dedup() {
        let mut r = Stream {
            input: parse_uri("k8s://pod/x").unwrap(),
            container: None,
            opts: KubectlOpts::default(),
            run: None,
            seen: HashMap::new(),
            skip: HashMap::new(),
            resuming: false,
            new_in_run: false,
            idle_restarts: 0,
            line: Vec::new(),
            pos: 0,
        };
        let l = |t: &str, m: &str| format!("[pod/x/c] 2025-10-27T12:00:0{t}Z {m}").into_bytes();
        assert!(r.admit(&l("0.000000000", "a")));
        assert!(r.admit(&l("1.000000000", "b")));
        assert!(r.admit(&l("1.000000000", "b")));
        r.skip = r
            .seen
            .iter()
            .map(|(k, s)| (k.clone(), s.at_last.clone()))
            .collect();
        r.resuming = true;
        assert!(!r.admit(&l("0.000000000", "a")));
        assert!(!r.admit(&l("1.000000000", "b")));
        assert!(!r.admit(&l("1.000000000", "b")));
        assert!(
            r.admit(&l("1.000000000", "b")),
            "a third identical line is new"
        );
        assert!(r.admit(&l("1.000000000", "c")));
        assert!(r.admit(&l("2.000000000", "d")));
        assert!(r.admit(b"no prefix"));
        assert!(key_and_ts(b"[pod/x/c]").is_none());
        assert!(key_and_ts(b"[\xff] x").is_none());
    }
}
