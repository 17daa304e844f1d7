//! Input discovery and transparent decompression for log files.
//!
//! Role: turn the paths, directories and glob patterns given on the command
//! line into an ordered list of files ([`resolve_inputs`]), derive Kubernetes /
//! Docker provenance from each path ([`path_meta`]), and open files or streams
//! with gzip / zstd decompression detected from magic bytes ([`open_decoded`],
//! [`decode_reader`]).
//!
//! Invariants:
//! - [`resolve_inputs`] stats and opens every file before it returns, so the
//!   caller can fail before printing anything. It reports every problem it
//!   found (not only the first) and returns no file list if there was any
//!   problem. [`rescan`] (while following) expands the same way but skips
//!   problems instead of reporting them.
//! - The returned list has no duplicates: two arguments naming the same file
//!   (for example a `/var/log/containers` symlink and its target) yield one
//!   entry, whose metadata merges what each path revealed.
//! - Order is deterministic. Files of one rotated set (same directory, same base
//!   name once rotation and compression suffixes are removed) are read oldest
//!   first and the live file last; otherwise the order of the arguments is
//!   kept, and directory walks and glob matches are listed in natural path
//!   order (`2.log` before `10.log`).
//! - Directory walks and glob matches skip `*.tmp` files (kubelet temporary
//!   files), dangling symlinks and special files (FIFOs, sockets, devices);
//!   they follow symlinks, visiting each real directory at most once per
//!   argument, so symlink loops terminate.
//! - Compression is detected from content, never from the file name.
//! - Nothing here panics on any input and nothing uses `unsafe`.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::{self, Cursor, Read};
use std::path::{Component, Path, PathBuf};

/// Where an input's events came from, derived from its path.
///
/// Every field is `None` when the path does not carry that information.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathMeta {
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// Kubernetes pod name.
    pub pod: Option<String>,
    /// Container name within the pod.
    pub container: Option<String>,
    /// Full 64-hex-digit container runtime id.
    pub container_id: Option<String>,
    /// Container labels (docker source), sorted by key.
    pub labels: Vec<(String, String)>,
}

impl PathMeta {
    /// Fill every field that is still `None` from `other`.
    fn fill_from(&mut self, other: &PathMeta) {
        fn fill(dst: &mut Option<String>, src: Option<&String>) {
            if dst.is_none() {
                *dst = src.cloned();
            }
        }
        fill(&mut self.namespace, other.namespace.as_ref());
        fill(&mut self.pod, other.pod.as_ref());
        fill(&mut self.container, other.container.as_ref());
        fill(&mut self.container_id, other.container_id.as_ref());
    }
}

/// One input file, in reading order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Path to open, as found from the arguments (not canonicalised).
    pub path: PathBuf,
    /// Provenance derived from the path (and from any other path that named
    /// the same file).
    pub meta: PathMeta,
    /// Size on disk in bytes (the compressed size for compressed files).
    pub size: u64,
}

/// A problem with one command-line input.
///
/// The Display text always names the offending path or pattern and the cause.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The argument names nothing on disk and is not a glob pattern.
    #[error("cannot read '{}': no such file or directory", .path.display())]
    NotFound {
        /// The argument as given.
        path: PathBuf,
    },
    /// A file or directory exists but cannot be inspected, listed or opened.
    #[error("cannot read '{}': {}", .path.display(), describe_io(.source))]
    Unreadable {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The argument looked like a glob pattern but is not a valid one.
    #[error("invalid glob pattern '{pattern}': {msg}")]
    BadGlob {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A valid glob pattern that matched no file or directory.
    #[error("glob pattern '{pattern}' matched no files")]
    GlobMatchedNothing {
        /// The pattern as given.
        pattern: String,
    },
    /// A directory in which a walk found no file to read (empty, or only `.tmp` files,
    /// special files and empty subdirectories).
    #[error("directory '{}' holds no files to read", .path.display())]
    NoFiles {
        /// The directory as given.
        path: PathBuf,
    },
    /// A file in a compression logsleuth recognises but does not read (bzip2, xz, lz4).
    #[error("cannot read '{}': {}", .path.display(), .format.explain(Some(&shell_word(.path))))]
    Compressed {
        /// The file.
        path: PathBuf,
        /// Its compression.
        format: Unsupported,
    },
}

/// Render an I/O error the way the rest of the message reads: lower-case
/// first letter ("permission denied (os error 13)").
fn describe_io(err: &io::Error) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text,
    }
}

/// Expand CLI arguments (files, directories — recursive —, and glob patterns
/// containing `*`, `?` or `[`) into the ordered list of files to read.
///
/// An argument that exists on disk is always taken literally, even if it
/// contains glob characters; only a non-existent argument with glob
/// characters is expanded as a pattern. Every file is opened for reading
/// before this returns (FIFOs are only stat'ed, as opening one has side
/// effects on its writer). On any problem, all problems found are returned
/// in argument order and no file list is returned. No arguments give `Ok`
/// with an empty list; a directory that holds no file to read is an error.
///
/// Walks and glob matches skip the files under `exclude` (directories the run
/// writes to, such as `--export DIR`; they need not exist yet).
///
/// # Errors
///
/// Every [`InputError`] found, in argument order (each reported once).
pub fn resolve_inputs(
    args: &[PathBuf],
    exclude: &[PathBuf],
) -> Result<Vec<InputFile>, Vec<InputError>> {
    let (files, mut errors) = expand_all(args, exclude, true);
    if errors.is_empty() {
        return Ok(files);
    }
    errors.sort_by_key(|(arg_idx, _)| *arg_idx);
    // The same directory may be reached from two arguments; report it once.
    let mut seen = HashSet::new();
    Err(errors
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| seen.insert(e.to_string()))
        .collect())
}

/// Expand `args` again while following: the same walk, filters (`.tmp`, special files),
/// de-duplication, metadata and order as [`resolve_inputs`], for `--follow`'s watch on
/// directories and glob patterns (see `source::follow::NewFiles`). Problems are skipped, not
/// reported: files come and go while a run follows them (a file removed between the listing
/// and the check, a glob matching nothing for now), and the run must go on.
#[must_use]
pub fn rescan(args: &[PathBuf], exclude: &[PathBuf]) -> Vec<InputFile> {
    expand_all(args, exclude, false).0
}

/// Can the files this argument names change while a run follows it? True for a directory and
/// for a glob pattern (an argument that does not exist literally and has glob characters),
/// the arguments [`rescan`] is for; false for a file.
#[must_use]
pub fn grows(arg: &Path) -> bool {
    match fs::metadata(arg) {
        Ok(md) => md.is_dir(),
        Err(_) => has_glob_chars(arg),
    }
}

/// A valid glob pattern that matches no file yet, or a directory that holds none yet: under
/// `--follow` the run waits for its files (as `tail -F` waits for a missing file) instead of
/// failing.
#[must_use]
pub fn matches_nothing_yet(arg: &Path, exclude: &[PathBuf]) -> bool {
    if !grows(arg) {
        return false;
    }
    let (found, errors) = expand_all(&[arg.to_path_buf()], exclude, false);
    found.is_empty()
        && !errors.is_empty()
        && errors.iter().all(|(_, e)| {
            matches!(
                e,
                InputError::GlobMatchedNothing { .. } | InputError::NoFiles { .. }
            )
        })
}

/// The files `args` name, in reading order (every one checked readable), and the problems
/// found, each tagged with the index of the argument it concerns so that a report can follow
/// the command line. With `sniff`, a file in a compression logsleuth does not read is a
/// problem too ([`InputError::Compressed`]; while following, its reader says so instead: a
/// problem found by [`rescan`] is skipped without a word).
fn expand_all(
    args: &[PathBuf],
    exclude: &[PathBuf],
    sniff: bool,
) -> (Vec<InputFile>, Vec<(usize, InputError)>) {
    // Compared with the canonical paths of what the walks meet; one not made yet holds nothing.
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|d| fs::canonicalize(d).ok())
        .collect();
    let mut errors: Vec<(usize, InputError)> = Vec::new();
    let mut found: Vec<(PathBuf, usize)> = Vec::new();
    for (arg_idx, arg) in args.iter().enumerate() {
        let mut paths = Vec::new();
        let mut arg_errors = Vec::new();
        expand_arg(arg, &exclude, &mut paths, &mut arg_errors);
        found.extend(paths.into_iter().map(|p| (p, arg_idx)));
        errors.extend(arg_errors.into_iter().map(|e| (arg_idx, e)));
    }

    let candidates = dedup(found);
    let mut files = Vec::with_capacity(candidates.len());
    let mut arg_of = HashMap::new();
    for cand in candidates {
        match check_readable(&cand.path) {
            Ok(size) => {
                arg_of.insert(cand.path.clone(), cand.arg_idx);
                files.push(InputFile {
                    path: cand.path,
                    meta: cand.meta,
                    size,
                });
            }
            Err(err) => errors.push((cand.arg_idx, err)),
        }
    }
    let mut files = drop_compressed_twins(files);
    if sniff {
        // After the twins go: `app.log.1.xz` beside its `app.log.1` is not read anyway.
        for f in &files {
            if let Some(err) = check_compression(&f.path) {
                errors.push((arg_of.get(&f.path).copied().unwrap_or_default(), err));
            }
        }
    }
    share_set_meta(&mut files);
    (order_files(files), errors)
}

/// Stat and open `path`; return its size.
fn check_readable(path: &Path) -> Result<u64, InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let md = fs::metadata(path).map_err(unreadable)?;
    if !is_fifo(&md) {
        File::open(path).map_err(unreadable)?;
    }
    Ok(md.len())
}

#[cfg(unix)]
fn is_fifo(md: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    md.file_type().is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_md: &Metadata) -> bool {
    false
}

/// Whether an argument should be treated as a glob pattern (once it is known
/// not to exist literally).
fn has_glob_chars(arg: &Path) -> bool {
    arg.as_os_str()
        .as_encoded_bytes()
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'['))
}

fn is_not_found(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Expand one argument, appending files in reading-candidate order.
fn expand_arg(
    arg: &Path,
    exclude: &[PathBuf],
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<InputError>,
) {
    match fs::metadata(arg) {
        Ok(md) if md.is_dir() => {
            let (files_before, errors_before) = (out.len(), errors.len());
            walk_dir(arg, exclude, out, errors);
            // Nothing to read is an error, as for a glob matching nothing (`-f` waits instead).
            if out.len() == files_before && errors.len() == errors_before {
                errors.push(InputError::NoFiles {
                    path: arg.to_path_buf(),
                });
            }
        }
        // Explicit non-directories are taken as given, `.tmp` and FIFOs included.
        Ok(_) => out.push(arg.to_path_buf()),
        Err(_) if has_glob_chars(arg) => expand_glob(arg, exclude, out, errors),
        Err(e) if is_not_found(&e) => errors.push(InputError::NotFound {
            path: arg.to_path_buf(),
        }),
        Err(source) => errors.push(InputError::Unreadable {
            path: arg.to_path_buf(),
            source,
        }),
    }
}

/// What a directory entry or glob match turned out to be.
enum Found {
    Dir(PathBuf),
    File(PathBuf),
}

fn is_tmp(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().ends_with(b".tmp"))
}

/// Device and inode of this process's stdout when it is a regular file.
fn stdout_file() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    static ID: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        use std::os::fd::AsFd;
        let fd = io::stdout().as_fd().try_clone_to_owned().ok()?;
        let md = fs::File::from(fd).metadata().ok()?;
        md.is_file().then(|| (md.dev(), md.ino()))
    })
}

/// Is `path` the regular file this process's stdin reads (`logsleuth app.log - < app.log`)?
pub fn is_stdin(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    static ID: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    let stdin = *ID.get_or_init(|| {
        use std::os::fd::AsFd;
        let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
        let md = fs::File::from(fd).metadata().ok()?;
        md.is_file().then(|| (md.dev(), md.ino()))
    });
    stdin.is_some() && fs::metadata(path).is_ok_and(|md| stdin == Some((md.dev(), md.ino())))
}

/// Is this file our own output (`logsleuth … > dir/out.ndjson` with `dir` walked)? Reading
/// it would feed the output back in, endlessly when following.
fn is_own_output(md: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    stdout_file() == Some((md.dev(), md.ino()))
}

/// Is `path` under one of the (canonical) `exclude` directories?
fn is_excluded(path: &Path, exclude: &[PathBuf]) -> bool {
    !exclude.is_empty()
        && fs::canonicalize(path).is_ok_and(|real| exclude.iter().any(|d| real.starts_with(d)))
}

/// Classify a path found by a walk or a glob, following symlinks. Returns
/// `None` for things that are skipped: `.tmp` files, this process's own stdout, files under
/// `exclude`, special files, dangling or looping symlinks, and entries that vanished meanwhile.
fn classify(path: PathBuf, exclude: &[PathBuf], errors: &mut Vec<InputError>) -> Option<Found> {
    match fs::metadata(&path) {
        Ok(md) if md.is_dir() => Some(Found::Dir(path)),
        Ok(md)
            if md.is_file()
                && !is_tmp(&path)
                && !is_own_output(&md)
                && !is_excluded(&path, exclude) =>
        {
            Some(Found::File(path))
        }
        Ok(_) => None,
        Err(e) if is_not_found(&e) => None,
        Err(source) => {
            let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && source.kind() != io::ErrorKind::PermissionDenied {
                // Broken symlink (e.g. a loop): nothing to read behind it.
                None
            } else {
                errors.push(InputError::Unreadable { path, source });
                None
            }
        }
    }
}

/// Recursively list the files under `root`, in natural path order, without
/// recursion on the call stack and without revisiting a real directory. Directories under
/// `exclude` are not entered.
fn walk_dir(
    root: &Path,
    exclude: &[PathBuf],
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<InputError>,
) {
    let mut visited: HashSet<PathBuf> = HashSet::new();
    let mut stack = vec![Found::Dir(root.to_path_buf())];
    while let Some(item) = stack.pop() {
        let dir = match item {
            Found::File(path) => {
                out.push(path);
                continue;
            }
            Found::Dir(dir) => dir,
        };
        let real = match fs::canonicalize(&dir) {
            Ok(real) => real,
            Err(source) => {
                errors.push(InputError::Unreadable { path: dir, source });
                continue;
            }
        };
        if exclude.iter().any(|d| real.starts_with(d)) || !visited.insert(real) {
            continue;
        }
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(source) => {
                errors.push(InputError::Unreadable { path: dir, source });
                continue;
            }
        };
        let mut children = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => children.push(entry.path()),
                Err(source) => errors.push(InputError::Unreadable {
                    path: dir.clone(),
                    source,
                }),
            }
        }
        children.sort_by_cached_key(|p| (natural_key(p), p.clone()));
        // Reverse so that the first child is popped first.
        for child in children.into_iter().rev() {
            if let Some(found) = classify(child, exclude, errors) {
                stack.push(found);
            }
        }
    }
}

/// One component of a glob pattern.
enum GlobPart<'p> {
    /// No wildcard: joined as given (any bytes).
    Literal(&'p std::ffi::OsStr),
    /// `**`: this directory and every directory below it.
    AnyDirs,
    /// Matched against the name of each entry of the directory.
    Pattern(glob::Pattern),
}

/// Expand a glob pattern; directories it matches are walked.
fn expand_glob(
    arg: &Path,
    exclude: &[PathBuf],
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<InputError>,
) {
    let pattern = arg.to_string_lossy().into_owned();
    let mut parts = Vec::new();
    for comp in arg.components() {
        let os = comp.as_os_str();
        if !has_glob_chars(Path::new(os)) {
            parts.push(GlobPart::Literal(os));
            continue;
        }
        let part = match os.to_str() {
            Some("**") => Ok(GlobPart::AnyDirs),
            Some(text) => glob::Pattern::new(text)
                .map(GlobPart::Pattern)
                .map_err(|e| e.to_string()),
            None => Err("a component with wildcards is not valid UTF-8".to_owned()),
        };
        match part {
            Ok(part) => parts.push(part),
            Err(msg) => {
                errors.push(InputError::BadGlob { pattern, msg });
                return;
            }
        }
    }
    let errors_before = errors.len();
    let mut matched = glob_paths(&parts, errors);
    matched.sort_by_cached_key(|p| (natural_key(p), p.clone()));
    let files_before = out.len();
    for path in matched {
        match classify(path, exclude, errors) {
            Some(Found::Dir(dir)) => walk_dir(&dir, exclude, out, errors),
            Some(Found::File(file)) => out.push(file),
            None => {}
        }
    }
    // Matching only directories without files to read is matching nothing, too.
    if out.len() == files_before && errors.len() == errors_before {
        errors.push(InputError::GlobMatchedNothing { pattern });
    }
}

/// The paths matching `parts`, component by component, as the glob crate finds them — except
/// that names that are not UTF-8 are matched too (as their lossy text, each invalid sequence
/// one character), where the crate skips them silently. An empty path stands for `.`.
fn glob_paths(parts: &[GlobPart<'_>], errors: &mut Vec<InputError>) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for part in parts {
        let mut next = Vec::new();
        for base in current {
            match part {
                GlobPart::Literal(name) => {
                    let path = base.join(name);
                    // A dangling symlink matches too; `classify` skips it.
                    if fs::symlink_metadata(&path).is_ok() {
                        next.push(path);
                    }
                }
                GlobPart::AnyDirs => dirs_below(base, &mut next, errors),
                GlobPart::Pattern(pattern) => {
                    let dir = dot_if_empty(&base);
                    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
                        continue;
                    }
                    let entries = match fs::read_dir(dir) {
                        Ok(entries) => entries,
                        Err(source) => {
                            errors.push(InputError::Unreadable {
                                path: dir.to_path_buf(),
                                source,
                            });
                            continue;
                        }
                    };
                    for entry in entries {
                        match entry {
                            Ok(entry) => {
                                let name = entry.file_name();
                                let text = name.to_string_lossy();
                                if pattern.matches_with(&text, glob::MatchOptions::new()) {
                                    next.push(base.join(name));
                                }
                            }
                            Err(source) => errors.push(InputError::Unreadable {
                                path: dir.to_path_buf(),
                                source,
                            }),
                        }
                    }
                }
            }
        }
        current = next;
    }
    current
        .into_iter()
        .map(|p| dot_if_empty(&p).to_path_buf())
        .collect()
}

fn dot_if_empty(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

/// `**`: `base` and every directory below it (symlinks followed, each real directory once).
fn dirs_below(base: PathBuf, out: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    let mut visited = HashSet::new();
    let mut stack = vec![base];
    while let Some(dir) = stack.pop() {
        let shown = dot_if_empty(&dir);
        if !fs::metadata(shown).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Ok(real) = fs::canonicalize(shown) else {
            continue;
        };
        if !visited.insert(real) {
            continue;
        }
        match fs::read_dir(shown) {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok(entry) => stack.push(dir.join(entry.file_name())),
                        Err(source) => errors.push(InputError::Unreadable {
                            path: shown.to_path_buf(),
                            source,
                        }),
                    }
                }
            }
            Err(source) => errors.push(InputError::Unreadable {
                path: shown.to_path_buf(),
                source,
            }),
        }
        out.push(dir);
    }
}

/// A file found by expansion, after de-duplication.
struct Candidate {
    path: PathBuf,
    meta: PathMeta,
    /// Index of the first argument that led to this file.
    arg_idx: usize,
}

/// What makes two paths one file: device and inode (a symlink and its target, hard links);
/// the path itself when it cannot be stat'ed (the check reports it).
#[derive(PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(path: &Path) -> FileId {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(path) {
        Ok(md) => FileId::Inode(md.dev(), md.ino()),
        Err(_) => FileId::Path(path.to_path_buf()),
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Remove repeated mentions of the same file (same device and inode). The first mention
/// fixes the position; its path is kept unless it is a symlink and a later mention is not,
/// which is then preferred so that a symlinked live file (`/var/log/containers/…`) is read
/// as its own path, with its rotated siblings. Metadata from every mention is merged.
fn dedup(found: Vec<(PathBuf, usize)>) -> Vec<Candidate> {
    let mut by_id: HashMap<FileId, usize> = HashMap::new();
    let mut out: Vec<Candidate> = Vec::new();
    for (path, arg_idx) in found {
        let id = file_id(&path);
        let meta = path_meta(&path);
        if let Some(cand) = by_id.get(&id).and_then(|&i| out.get_mut(i)) {
            if is_symlink(&cand.path) && !is_symlink(&path) {
                let mut merged = meta;
                merged.fill_from(&cand.meta);
                cand.meta = merged;
                cand.path = path;
            } else {
                cand.meta.fill_from(&meta);
            }
        } else {
            by_id.insert(id, out.len());
            out.push(Candidate {
                path,
                meta,
                arg_idx,
            });
        }
    }
    out
}

/// The uncompressed twin of a compressed rotated member: `0.log.20251027-120000` for
/// `0.log.20251027-120000.gz`, `app.log.1` for `app.log.1.gz`.
fn uncompressed_twin(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = strip_compression(name);
    (stem != name && split_rotation(stem).1 != Rank::Live).then(|| path.with_file_name(stem))
}

/// kubelet (and logrotate) compress a rotated file to `X.gz`, then delete `X`: while both
/// exist they hold the same lines. Read `X`, which is complete by then.
fn drop_compressed_twins(files: Vec<InputFile>) -> Vec<InputFile> {
    let paths: HashSet<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    files
        .into_iter()
        .filter(|f| uncompressed_twin(&f.path).is_none_or(|twin| !paths.contains(&twin)))
        .collect()
}

/// The members of a rotated set are one container's log: what a path tells of one (the
/// container id in a `/var/log/containers` symlink's name) holds for all, so their streams
/// continue each other (`pipeline::Merger::link_rotated` compares them).
fn share_set_meta(files: &mut [InputFile]) {
    let mut by_set: HashMap<(PathBuf, String), PathMeta> = HashMap::new();
    for f in files.iter() {
        by_set
            .entry(rotation_set(&f.path))
            .or_default()
            .fill_from(&f.meta);
    }
    for f in files.iter_mut() {
        if let Some(meta) = by_set.get(&rotation_set(&f.path)) {
            f.meta.fill_from(meta);
        }
    }
}

/// Position of a file within its rotated set: older sorts first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// `name.N`: a higher N is older.
    Numbered(Reverse<u64>),
    /// `name.YYYYMMDD-HHMMSS`, `name-YYYYMMDD[-epoch]`, …: earlier is older.
    /// Compared on the digits alone, then on the raw suffix.
    Dated(String, String),
    /// The live (unrotated) file.
    Live,
}

/// Strip one trailing compression extension (`.gz`, `.zst`; also `.bz2`, `.xz`, `.lz4`, which
/// are not read but belong to their set: its order, its uncompressed twin).
fn strip_compression(name: &str) -> &str {
    for ext in [".gz", ".zst", ".bz2", ".xz", ".lz4"] {
        if let Some(stem) = name.strip_suffix(ext)
            && !stem.is_empty()
        {
            return stem;
        }
    }
    name
}

/// Whether a rotation suffix looks like a date: digits with `-`/`_`
/// separators, starting with a digit, at least 8 digits in all.
fn dated_rank(suffix: &str) -> Option<Rank> {
    let starts_with_digit = suffix.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let well_formed = suffix
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'_');
    let digits: String = suffix.chars().filter(char::is_ascii_digit).collect();
    (starts_with_digit && well_formed && digits.len() >= 8)
        .then(|| Rank::Dated(digits, suffix.to_owned()))
}

/// Split a file name into the base name of its rotated set and its rank.
///
/// `app.log.3.gz` → (`app.log`, Numbered 3); `0.log.20251027-120000` →
/// (`0.log`, Dated); `app.log-20261122.gz` → (`app.log`, Dated);
/// `app.log` → (`app.log`, Live).
fn split_rotation(name: &str) -> (&str, Rank) {
    let stem = strip_compression(name);
    let bytes = stem.as_bytes();
    let mut start = bytes.len();
    while start > 0 && matches!(bytes[start - 1], b'0'..=b'9' | b'-' | b'_') {
        start -= 1;
    }
    if start == bytes.len() || start == 0 {
        return (stem, Rank::Live);
    }
    // `start` follows a non-ASCII-digit byte and points at an ASCII byte, so it
    // is a char boundary; `get` keeps this panic-free regardless.
    let (Some(head), Some(run)) = (stem.get(..start), stem.get(start..)) else {
        return (stem, Rank::Live);
    };
    if let Some(base) = head.strip_suffix('.') {
        // `name.N` (logrotate, savelog, docker) or `name.<date>` (kubelet).
        if base.is_empty() {
            return (stem, Rank::Live);
        }
        if run.len() < 8
            && run.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = run.parse::<u64>()
        {
            return (base, Rank::Numbered(Reverse(n)));
        }
        if let Some(rank) = dated_rank(run) {
            return (base, rank);
        }
        return (stem, Rank::Live);
    }
    // `name-<date>` (logrotate dateext): the run starts with its separator.
    let date = run.trim_start_matches(['-', '_']);
    if date.len() < run.len()
        && let Some(rank) = dated_rank(date)
    {
        return (head, rank);
    }
    (stem, Rank::Live)
}

/// The rotated set a file belongs to: its directory and base name (`app.log` for `app.log`,
/// `app.log.1` and `app.log.2.gz`). Members of one set share it.
pub fn rotation_set(path: &Path) -> (PathBuf, String) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = split_rotation(&name).0.to_owned();
    (dir, base)
}

/// True for the live member of a rotated set: no rotation suffix and not compressed.
pub fn is_live_name(name: &str) -> bool {
    strip_compression(name) == name && matches!(split_rotation(name).1, Rank::Live)
}

/// Order files: rotated sets are kept together at the position of their first
/// member, and sorted oldest first within the set.
fn order_files(files: Vec<InputFile>) -> Vec<InputFile> {
    let mut set_pos: HashMap<(PathBuf, String), usize> = HashMap::new();
    let mut keyed: Vec<(usize, Rank, usize, InputFile)> = Vec::with_capacity(files.len());
    for (idx, file) in files.into_iter().enumerate() {
        let dir = file
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (base, rank) = split_rotation(&name);
        let pos = *set_pos.entry((dir, base.to_owned())).or_insert(idx);
        keyed.push((pos, rank, idx, file));
    }
    keyed.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    keyed.into_iter().map(|(_, _, _, file)| file).collect()
}

/// One token of a natural-order key: a byte, or a run of digits compared by
/// value (it sorts where its first digit would).
type NaturalToken = (u8, usize, Vec<u8>);

/// Key for natural path order: component by component, runs of digits
/// compared numerically. Callers pair it with the raw path as a tie-break so
/// that the order is total.
fn natural_key(path: &Path) -> Vec<Vec<NaturalToken>> {
    path.components()
        .map(|c| {
            let bytes = c.as_os_str().as_encoded_bytes();
            let mut tokens = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i].is_ascii_digit() {
                    let start = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    let run = &bytes[start..i];
                    let first_nonzero = run.iter().position(|&b| b != b'0').unwrap_or(run.len());
                    let value = &run[first_nonzero..];
                    tokens.push((b'0', value.len(), value.to_vec()));
                } else {
                    tokens.push((bytes[i], 0, Vec::new()));
                    i += 1;
                }
            }
            tokens
        })
        .collect()
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const LZ4_MAGIC: &[u8] = &[0x04, 0x22, 0x4d, 0x18];
const LZ4_LEGACY_MAGIC: &[u8] = &[0x02, 0x21, 0x4c, 0x18];
/// After `BZh` and the level digit: the magic of a block (π) or of the end of the stream (√π).
const BZIP2_BLOCK: &[u8] = &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const BZIP2_END: &[u8] = &[0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
const UTF8_BOM: &[u8] = &[0xef, 0xbb, 0xbf];
const UTF16LE_BOM: &[u8] = &[0xff, 0xfe];
const UTF16BE_BOM: &[u8] = &[0xfe, 0xff];

/// The first bytes of a file [`unsupported`] looks at (bzip2's magic is the longest).
pub const SNIFF_BYTES: usize = 10;

/// How a stream's first 4 bytes say it is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `1f 8b`.
    Gzip,
    /// A zstd frame (`28 b5 2f fd`) or a skippable frame (`5? 2a 4d 18`: magic
    /// 0x184D2A50–0x184D2A5F little-endian, which `pzstd` writes first); the decoder skips
    /// skippable frames, they are part of the format.
    Zstd,
}

/// The compression the first bytes of a stream announce, if any.
#[must_use]
pub fn compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(GZIP_MAGIC) {
        Some(Compression::Gzip)
    } else if head.starts_with(ZSTD_MAGIC) {
        Some(Compression::Zstd)
    } else if let [b0, 0x2a, 0x4d, 0x18, ..] = head
        && b0 & 0xf0 == 0x50
    {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// A compression logsleuth recognises but does not decompress: reading it as text would give
/// garbage events and a report about logs never read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// `BZh`, a level digit, then a block's or the stream end's magic.
    Bzip2,
    /// `fd 37 7a 58 5a 00`.
    Xz,
    /// An lz4 frame (`04 22 4d 18`) or the legacy format (`02 21 4c 18`).
    Lz4,
}

impl Unsupported {
    /// The format's name, which is also the name of the command that decompresses it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Unsupported::Bzip2 => "bzip2",
            Unsupported::Xz => "xz",
            Unsupported::Lz4 => "lz4",
        }
    }

    /// What is wrong and how to read it anyway, for the file `shown` (a shell word), or for a
    /// stream (stdin).
    fn explain(self, shown: Option<&str>) -> String {
        let tool = self.name();
        let what = format!(
            "{tool}-compressed, which logsleuth does not decompress (it reads gzip and zstd): \
             decompress it first"
        );
        match shown {
            Some(file) => format!(
                "{what}, e.g. `{tool} -dc {file} | logsleuth …`, or `{tool} -dk {file}` beside it \
                 (a rotated set then reads the copy in its place)"
            ),
            None => format!("{what} (`{tool} -dc`)"),
        }
    }
}

/// The compression logsleuth does not read that the first bytes of a stream announce (see
/// [`Unsupported`]; [`SNIFF_BYTES`] are enough to tell).
#[must_use]
pub fn unsupported(head: &[u8]) -> Option<Unsupported> {
    if head.starts_with(XZ_MAGIC) {
        Some(Unsupported::Xz)
    } else if head.starts_with(LZ4_MAGIC) || head.starts_with(LZ4_LEGACY_MAGIC) {
        Some(Unsupported::Lz4)
    } else if let [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..] = head
        && (rest.starts_with(BZIP2_BLOCK) || rest.starts_with(BZIP2_END))
    {
        Some(Unsupported::Bzip2)
    } else {
        None
    }
}

/// The error a reader gives for a stream in a compression logsleuth does not read.
#[derive(Debug)]
pub struct UnsupportedData(pub Unsupported);

impl std::fmt::Display for UnsupportedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.explain(None))
    }
}

impl std::error::Error for UnsupportedData {}

/// `path` as one shell word: as is when it holds only characters no shell treats specially,
/// else in single quotes.
fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./+,:@%=".contains(&b));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The first [`SNIFF_BYTES`] of `path` tell a compression logsleuth does not read: the
/// input error that says so. Unreadable files and FIFOs are not looked at (the reader
/// reports the first; opening the second has side effects on its writer).
fn check_compression(path: &Path) -> Option<InputError> {
    let md = fs::metadata(path).ok()?;
    if is_fifo(&md) {
        return None;
    }
    let mut head = [0u8; SNIFF_BYTES];
    let n = read_up_to(&mut File::open(path).ok()?, &mut head).ok()?;
    let format = unsupported(head.get(..n)?)?;
    Some(InputError::Compressed {
        path: path.to_path_buf(),
        format,
    })
}

/// Open a file and transparently decompress it.
///
/// gzip (`1f 8b`, every member of a multi-member file, zero bytes after the last ignored as
/// `gzip -d` does) and zstd (`28 b5 2f fd`, or a leading skippable frame; every frame) are
/// detected by magic bytes, never by name; anything else is returned as is, except bzip2, xz
/// and lz4, which fail ([`UnsupportedData`]). The (decompressed) text then goes through
/// [`decode_text`]: a UTF-8 byte order mark is dropped, UTF-16 with a byte order mark is
/// transcoded to UTF-8. Corrupt compressed data surfaces as an error from `read`. The
/// returned reader is unbuffered for plain files: wrap it in a `BufReader` for line reading.
///
/// # Errors
///
/// Opening the file, reading its first bytes, or setting up the zstd decoder failed; the
/// file is in a compression logsleuth does not read.
pub fn open_decoded(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    decode_reader(Box::new(file))
}

/// Same detection as [`open_decoded`] for an arbitrary reader (used for
/// stdin): the first bytes are peeked and replayed, so nothing is lost.
///
/// Blocks until 4 bytes or end of input have been read (up to [`SNIFF_BYTES`] when the
/// first 4 may be bzip2's or xz's magic).
///
/// # Errors
///
/// Reading the first bytes, or setting up the zstd decoder, failed; the data is in a
/// compression logsleuth does not read ([`UnsupportedData`], kind `InvalidData`).
pub fn decode_reader(mut r: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut head = [0u8; SNIFF_BYTES];
    let mut n = read_up_to(&mut r, head.get_mut(..4).unwrap_or_default())?;
    if n == 4 && (head.starts_with(b"BZh") || head.starts_with(&XZ_MAGIC[..4])) {
        n += read_up_to(&mut r, head.get_mut(4..).unwrap_or_default())?;
    }
    let head = head.get(..n).unwrap_or_default().to_vec();
    if let Some(format) = unsupported(&head) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            UnsupportedData(format),
        ));
    }
    let kind = compression(&head);
    let replayed = Cursor::new(head).chain(r);
    Ok(match kind {
        Some(Compression::Gzip) => decode_text(Box::new(GzMembers::new(replayed))),
        Some(Compression::Zstd) => {
            decode_text(Box::new(zstd::stream::read::Decoder::new(replayed)?))
        }
        None => decode_text(Box::new(replayed)),
    })
}

/// The members of a gzip stream, one after another, as `gzip -d` reads them: zero bytes after
/// the last member (a file preallocated, or padded by a crash or a copy) are ignored; anything
/// else after a member must be another member (else: `invalid gzip header`, as before).
struct GzMembers<R: Read> {
    state: GzState<R>,
}

enum GzState<R: Read> {
    /// Inside a member.
    Member(flate2::bufread::GzDecoder<io::BufReader<R>>),
    /// After a member (its checksum matched), and after this many zero bytes.
    Between(io::BufReader<R>, u64),
    /// The stream ended or failed.
    Done,
}

impl<R: Read> GzMembers<R> {
    fn new(r: R) -> GzMembers<R> {
        let buffered = io::BufReader::with_capacity(64 << 10, r);
        GzMembers {
            state: GzState::Member(flate2::bufread::GzDecoder::new(buffered)),
        }
    }
}

/// What follows a gzip member, after `zeros` zero bytes: the end (`false`), or another member.
/// Zero bytes up to the end are the end; zero bytes followed by anything else are an error.
fn after_member(r: &mut impl io::BufRead, zeros: &mut u64) -> io::Result<bool> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let run = buf.iter().take_while(|&&b| b == 0).count();
        if run == 0 {
            if *zeros == 0 {
                return Ok(true);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected data after the {zeros} zero bytes that follow gzip data"),
            ));
        }
        *zeros += run as u64;
        r.consume(run);
    }
}

impl<R: Read> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let step = match &mut self.state {
                GzState::Member(member) => match member.read(buf) {
                    Ok(0) => Ok(None),
                    Ok(n) => return Ok(n),
                    Err(e) => Err(e),
                },
                GzState::Between(rest, zeros) => after_member(rest, zeros).map(Some),
                GzState::Done => return Ok(0),
            };
            self.state = match (step, std::mem::replace(&mut self.state, GzState::Done)) {
                // Interrupted: try again where it was.
                (Err(e), state) if e.kind() == io::ErrorKind::Interrupted => {
                    self.state = state;
                    return Err(e);
                }
                (Err(e), _) => return Err(e),
                (Ok(None), GzState::Member(member)) => GzState::Between(member.into_inner(), 0),
                (Ok(Some(true)), GzState::Between(rest, _)) => {
                    GzState::Member(flate2::bufread::GzDecoder::new(rest))
                }
                _ => GzState::Done,
            };
        }
    }
}

/// Byte order of UTF-16 text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf16 {
    /// Little-endian (`ff fe`; Windows).
    Le,
    /// Big-endian (`fe ff`).
    Be,
}

/// The UTF-16 byte order mark `head` starts with, if any.
#[must_use]
pub fn utf16_bom(head: &[u8]) -> Option<Utf16> {
    if head.starts_with(UTF16LE_BOM) {
        Some(Utf16::Le)
    } else if head.starts_with(UTF16BE_BOM) {
        Some(Utf16::Be)
    } else {
        None
    }
}

/// Does `head` (a stream's first bytes) look like UTF-16 text without a byte order mark:
/// ASCII characters each with a zero byte beside it? Needs 8 bytes at least.
#[must_use]
pub fn looks_like_utf16(head: &[u8]) -> Option<Utf16> {
    let units = head.get(..head.len().min(64) & !1)?;
    if units.len() < 8 {
        return None;
    }
    let text = |b: u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let pairs = || {
        units
            .chunks_exact(2)
            .filter_map(|p| p.first().zip(p.get(1)))
    };
    if pairs().all(|(&a, &b)| text(a) && b == 0) {
        Some(Utf16::Le)
    } else if pairs().all(|(&a, &b)| a == 0 && text(b)) {
        Some(Utf16::Be)
    } else {
        None
    }
}

/// `r` as UTF-8 text: a UTF-8 byte order mark at its start is dropped (Windows editors and
/// some loggers write one; it would spoil the first line's parse); UTF-16 with a byte order
/// mark (Windows PowerShell 5's `kubectl logs > x.log`) is transcoded to UTF-8
/// ([`utf16_reader`]); anything else is passed on as is. Errors while looking (a followed
/// file that has no bytes yet) are passed on and the look goes on at the next read.
pub fn decode_text(r: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    Box::new(TextStart {
        inner: Some(r),
        head: [0; 3],
        have: 0,
        decided: None,
    })
}

struct TextStart {
    /// The stream, until its first bytes are seen.
    inner: Option<Box<dyn Read + Send>>,
    head: [u8; 3],
    have: usize,
    /// Once decided: what is read.
    decided: Option<Box<dyn Read + Send>>,
}

impl TextStart {
    /// Could the bytes seen so far begin a byte order mark that more bytes would complete?
    fn may_grow(&self) -> bool {
        let seen = self.head.get(..self.have).unwrap_or_default();
        (self.have < UTF8_BOM.len() && UTF8_BOM.starts_with(seen))
            || (self.have < 2 && (UTF16LE_BOM.starts_with(seen) || UTF16BE_BOM.starts_with(seen)))
    }
}

impl Read for TextStart {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(r) = self.decided.as_mut() {
            return r.read(buf);
        }
        let Some(mut inner) = self.inner.take() else {
            return Ok(0);
        };
        while self.may_grow() {
            let n = match inner.read(self.head.get_mut(self.have..).unwrap_or_default()) {
                Ok(n) => n,
                Err(e) => {
                    self.inner = Some(inner);
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            self.have += n;
        }
        let seen = self.head.get(..self.have).unwrap_or_default();
        let decided: Box<dyn Read + Send> = if seen.starts_with(UTF8_BOM) {
            inner
        } else if let Some(order) = utf16_bom(seen) {
            // The transcoder drops the mark (U+FEFF) itself.
            utf16_reader(Box::new(Cursor::new(seen.to_vec()).chain(inner)), order)
        } else {
            Box::new(Cursor::new(seen.to_vec()).chain(inner))
        };
        self.decided.insert(decided).read(buf)
    }
}

/// UTF-16 text in byte order `order` as UTF-8 (with `char::decode_utf16`): an unpaired
/// surrogate or a last odd byte becomes [`NOT_UTF16`] (invalid UTF-8, so it is counted and
/// shown as U+FFFD downstream, not silently replaced); U+FEFF (the byte order mark, also at the start
/// of each file a followed path becomes) is dropped wherever it is. Errors of `r` are passed on
/// and reading goes on after them.
pub fn utf16_reader(r: Box<dyn Read + Send>, order: Utf16) -> Box<dyn Read + Send> {
    Box::new(Utf16Reader {
        inner: r,
        order,
        raw: Vec::new(),
        kept: 0,
        out: Vec::new(),
        at: 0,
        ended: false,
    })
}

struct Utf16Reader {
    inner: Box<dyn Read + Send>,
    order: Utf16,
    /// Bytes read from `inner`; the first `kept` are left from the last read (an odd byte, a
    /// high surrogate waiting for its pair).
    raw: Vec<u8>,
    kept: usize,
    /// UTF-8 not handed out yet: `out[at..]`.
    out: Vec<u8>,
    at: usize,
    ended: bool,
}

/// What [`Utf16Reader`] puts in place of what is not UTF-16 text (an unpaired surrogate, the
/// lone last byte of a file cut at an odd length): a byte never valid in UTF-8, so its line
/// counts in `input.invalid_utf8` and reads with U+FFFD there, as any invalid text does.
const NOT_UTF16: u8 = 0xff;

/// Bytes of UTF-16 read at a time.
const UTF16_READ: usize = 64 << 10;

/// The `i`th UTF-16 code unit of `raw`.
fn utf16_unit(raw: &[u8], order: Utf16, i: usize) -> u16 {
    let pair = [
        raw.get(2 * i).copied().unwrap_or(0),
        raw.get(2 * i + 1).copied().unwrap_or(0),
    ];
    match order {
        Utf16::Le => u16::from_le_bytes(pair),
        Utf16::Be => u16::from_be_bytes(pair),
    }
}

impl Utf16Reader {
    /// Read once from `inner` and transcode what can be (at the end: everything).
    fn fill(&mut self) -> io::Result<()> {
        self.raw.resize(self.kept + UTF16_READ, 0);
        let n = self
            .inner
            .read(self.raw.get_mut(self.kept..).unwrap_or_default())?;
        let end = self.kept + n;
        self.ended = n == 0;
        let mut units = end / 2;
        // A high surrogate at the end waits for its pair, unless nothing more comes.
        if !self.ended
            && units > 0
            && (0xD800..0xDC00).contains(&utf16_unit(&self.raw, self.order, units - 1))
        {
            units -= 1;
        }
        let used = if self.ended { end } else { units * 2 };
        self.out.clear();
        self.at = 0;
        let mut utf8 = [0u8; 4];
        let (raw, order) = (&self.raw, self.order);
        for c in char::decode_utf16((0..units).map(|i| utf16_unit(raw, order, i))) {
            match c {
                Ok('\u{feff}') => {}
                Ok(c) => self
                    .out
                    .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
                Err(_) => self.out.push(NOT_UTF16),
            }
        }
        if self.ended && end % 2 == 1 {
            self.out.push(NOT_UTF16);
        }
        self.raw.copy_within(used..end, 0);
        self.kept = end - used;
        Ok(())
    }
}

impl Read for Utf16Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let rest = self.out.get(self.at..).unwrap_or_default();
            if !rest.is_empty() {
                let n = rest.len().min(buf.len());
                buf.get_mut(..n)
                    .unwrap_or_default()
                    .copy_from_slice(rest.get(..n).unwrap_or_default());
                self.at += n;
                return Ok(n);
            }
            if self.ended {
                // A followed file may grow again: look once more next time.
                self.ended = false;
                return Ok(0);
            }
            self.fill()?;
        }
    }
}

/// Fill `buf` as far as the reader allows; returns the number of bytes read
/// (less than `buf.len()` only at end of input, or when a live stdin's writer paused).
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A live stdin whose writer paused after a line shorter than `buf`.
            Err(e) if super::stdin::pause(&e).is_some() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Derive Kubernetes / Docker provenance from a path, lexically (the file
/// system is not consulted).
///
/// Recognised layouts (several may contribute to one result):
/// - `…/<namespace>_<pod>_<uid>/<container>/<n>.log[…]` — the kubelet
///   `/var/log/pods` tree; `<uid>` is hex with optional dashes (a UUID, or a
///   config hash for static pods);
/// - `…/<pod>_<namespace>_<container>-<64 hex id>.log` — the flat
///   `/var/log/containers` symlinks, which also give the container id;
/// - `…/containers/<64 hex id>/…` and `<64 hex id>-json.log[…]` — Docker's
///   json-file layout, giving the container id.
#[must_use]
pub fn path_meta(path: &Path) -> PathMeta {
    let comps: Vec<String> = path
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_string_lossy().into_owned(),
            _ => String::new(),
        })
        .collect();
    let mut meta = PathMeta::default();
    let Some(file) = comps.last() else {
        return meta;
    };

    // kubelet pods tree: <ns>_<pod>_<uid>/<container>/<n>.log…
    if comps.len() >= 3 && is_kubelet_log_name(file) {
        let pod_dir = &comps[comps.len() - 3];
        let container = &comps[comps.len() - 2];
        let parts: Vec<&str> = pod_dir.split('_').collect();
        if let [ns, pod, uid] = parts[..]
            && is_k8s_name(ns)
            && is_k8s_name(pod)
            && is_uid(uid)
            && is_k8s_name(container)
        {
            meta.namespace = Some(ns.to_owned());
            meta.pod = Some(pod.to_owned());
            meta.container = Some(container.clone());
        }
    }

    // flat /var/log/containers: <pod>_<ns>_<container>-<id>.log
    if let Some(stem) = file.strip_suffix(".log") {
        let parts: Vec<&str> = stem.split('_').collect();
        if let [pod, ns, rest] = parts[..]
            && let Some((container, id)) = rest.rsplit_once('-')
            && is_k8s_name(pod)
            && is_k8s_name(ns)
            && is_k8s_name(container)
            && is_container_id(id)
        {
            let flat = PathMeta {
                namespace: Some(ns.to_owned()),
                pod: Some(pod.to_owned()),
                container: Some(container.to_owned()),
                container_id: Some(id.to_owned()),
                labels: Vec::new(),
            };
            meta.fill_from(&flat);
        }
    }

    // docker json-file: …/containers/<id>/… or <id>-json.log…
    if meta.container_id.is_none() {
        let from_dir = comps
            .windows(3)
            .find(|w| w[0] == "containers" && is_container_id(&w[1]))
            .map(|w| w[1].clone());
        let from_name = file
            .split_once("-json.log")
            .filter(|(id, _)| is_container_id(id))
            .map(|(id, _)| id.to_owned());
        meta.container_id = from_dir.or(from_name);
    }
    meta
}

/// `<digits>.log` optionally followed by a rotation suffix (`.…`).
fn is_kubelet_log_name(name: &str) -> bool {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && name
            .get(digits..)
            .and_then(|rest| rest.strip_prefix(".log"))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// A plausible Kubernetes object name (DNS label / subdomain characters).
fn is_k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A pod uid: hex digits with optional dashes, at least 8 hex digits.
fn is_uid(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && s.bytes().filter(u8::is_ascii_hexdigit).count() >= 8
}

/// A full container id: exactly 64 hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn touch(dir: &Path, rel: &str, content: &[u8]) -> io::Result<PathBuf> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, content)?;
        Ok(path)
    }

    fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data)?;
        enc.finish()
    }

    fn read_all(mut r: Box<dyn Read + Send>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    /// File names of the resolved inputs, relative to `base`.
    fn names(files: &[InputFile], base: &Path) -> Vec<String> {
        files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(base)
                    .unwrap_or(&f.path)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    fn resolve(args: &[PathBuf]) -> Result<Vec<InputFile>, String> {
        resolve_inputs(args, &[]).map_err(|errs| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Create `names` (in a scrambled order) in a fresh dir, walk it, and
    /// return the resolved order.
    fn walk_order(create: &[&str]) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for name in create.iter().rev() {
            touch(dir.path(), name, b"x\n")?;
        }
        let files = resolve(&[dir.path().to_path_buf()])?;
        Ok(names(&files, dir.path()))
    }

    #[test]
    fn logrotate_numbered_oldest_first() -> TestResult {
        let order = walk_order(&["app.log", "app.log.1", "app.log.2.gz", "app.log.3.gz"])?;
        assert_eq!(
            order,
            ["app.log.3.gz", "app.log.2.gz", "app.log.1", "app.log"]
        );
        Ok(())
    }

    #[test]
    fn numbered_past_nine_sorts_numerically() -> TestResult {
        let order = walk_order(&["a.log", "a.log.1", "a.log.2", "a.log.10"])?;
        assert_eq!(order, ["a.log.10", "a.log.2", "a.log.1", "a.log"]);
        Ok(())
    }

    #[test]
    fn savelog_zero_is_newest_rotation() -> TestResult {
        let order = walk_order(&["s.log", "s.log.0", "s.log.1.gz", "s.log.2.gz"])?;
        assert_eq!(order, ["s.log.2.gz", "s.log.1.gz", "s.log.0", "s.log"]);
        Ok(())
    }

    #[test]
    fn logrotate_dateext_oldest_first() -> TestResult {
        let order = walk_order(&[
            "app.log",
            "app.log-20261122-1795330799.gz",
            "app.log-20261120.gz",
            "app.log-20261123-1795417199",
        ])?;
        assert_eq!(
            order,
            [
                "app.log-20261120.gz",
                "app.log-20261122-1795330799.gz",
                "app.log-20261123-1795417199",
                "app.log",
            ]
        );
        Ok(())
    }

    #[test]
    fn kubelet_rotation_and_tmp_ignored() -> TestResult {
        let order = walk_order(&[
            "0.log",
            "0.log.20251027-120000",
            "0.log.20251027-110000.gz",
            "0.log.20251027-100000.gz",
            "0.log.20251027-130000.tmp",
        ])?;
        assert_eq!(
            order,
            [
                "0.log.20251027-100000.gz",
                "0.log.20251027-110000.gz",
                "0.log.20251027-120000",
                "0.log",
            ]
        );
        Ok(())
    }

    #[test]
    fn kubelet_restarts_in_numeric_order() -> TestResult {
        let order = walk_order(&["10.log", "2.log", "2.log.20251027-110000.gz", "1.log"])?;
        assert_eq!(
            order,
            ["1.log", "2.log.20251027-110000.gz", "2.log", "10.log"]
        );
        Ok(())
    }

    #[test]
    fn docker_json_file_rotation() -> TestResult {
        let live = format!("{ID}-json.log");
        let r1 = format!("{ID}-json.log.1");
        let r2 = format!("{ID}-json.log.2.gz");
        let order = walk_order(&[&live, &r1, &r2])?;
        assert_eq!(order, [r2, r1, live]);
        Ok(())
    }

    #[test]
    fn mixed_sets_in_one_dir() -> TestResult {
        let order = walk_order(&[
            "app.log",
            "app.log.1",
            "app.log.2.gz",
            "b.log",
            "b.log-20261122.gz",
            "c.txt",
            "s.log",
            "s.log.0",
        ])?;
        assert_eq!(
            order,
            [
                "app.log.2.gz",
                "app.log.1",
                "app.log",
                "b.log-20261122.gz",
                "b.log",
                "c.txt",
                "s.log.0",
                "s.log",
            ]
        );
        Ok(())
    }

    #[test]
    fn split_rotation_cases() {
        assert_eq!(split_rotation("app.log"), ("app.log", Rank::Live));
        assert_eq!(split_rotation("app.log.gz"), ("app.log", Rank::Live));
        assert_eq!(
            split_rotation("app.log.3.gz"),
            ("app.log", Rank::Numbered(Reverse(3)))
        );
        assert_eq!(
            split_rotation("app.log.1.zst"),
            ("app.log", Rank::Numbered(Reverse(1)))
        );
        assert!(matches!(
            split_rotation("0.log.20251027-120000"),
            ("0.log", Rank::Dated(..))
        ));
        assert!(matches!(
            split_rotation("app.log-20261122.gz"),
            ("app.log", Rank::Dated(..))
        ));
        assert!(matches!(
            split_rotation("app.log.20261122"),
            ("app.log", Rank::Dated(..))
        ));
        // Not rotations.
        assert_eq!(split_rotation("web-1"), ("web-1", Rank::Live));
        assert_eq!(split_rotation("20251027"), ("20251027", Rank::Live));
        assert_eq!(split_rotation(".1"), (".1", Rank::Live));
        assert_eq!(split_rotation(".gz"), (".gz", Rank::Live));
        assert_eq!(split_rotation(""), ("", Rank::Live));
    }

    #[test]
    fn explicit_args_keep_cli_order_but_sets_rotate() -> TestResult {
        let dir = tempfile::tempdir()?;
        let a = touch(dir.path(), "a.log", b"a\n")?;
        let b = touch(dir.path(), "b.log", b"b\n")?;
        let a1 = touch(dir.path(), "a.log.1", b"a1\n")?;
        let files = resolve(&[b.clone(), a.clone(), a1.clone()])?;
        assert_eq!(names(&files, dir.path()), ["b.log", "a.log.1", "a.log"]);
        Ok(())
    }

    #[test]
    #[cfg(unix)]
    fn duplicates_are_removed_and_symlink_meta_merged() -> TestResult {
        let dir = tempfile::tempdir()?;
        let real = touch(
            dir.path(),
            "pods/default_web-7d9f.x_0f1e2d3c-aaaa-bbbb-cccc-0123456789ab/nginx/0.log",
            b"x\n",
        )?;
        touch(
            dir.path(),
            "pods/default_web-7d9f.x_0f1e2d3c-aaaa-bbbb-cccc-0123456789ab/nginx/0.log.20251027-110000",
            b"y\n",
        )?;
        let link_dir = dir.path().join("containers");
        fs::create_dir_all(&link_dir)?;
        let link = link_dir.join(format!("web-7d9f.x_default_nginx-{ID}.log"));
        std::os::unix::fs::symlink(&real, &link)?;

        // Walking the parent finds the symlink (containers/) before the target (pods/).
        let files = resolve(&[dir.path().to_path_buf(), real.clone()])?;
        assert_eq!(files.len(), 2, "{files:?}");
        let live = &files[1];
        // The real path is preferred so the live file sorts with its rotations.
        assert_eq!(fs::canonicalize(&live.path)?, fs::canonicalize(&real)?);
        assert!(!live.path.starts_with(&link_dir));
        assert_eq!(live.meta.namespace.as_deref(), Some("default"));
        assert_eq!(live.meta.pod.as_deref(), Some("web-7d9f.x"));
        assert_eq!(live.meta.container.as_deref(), Some("nginx"));
        assert_eq!(live.meta.container_id.as_deref(), Some(ID));
        assert!(
            files[0]
                .path
                .to_string_lossy()
                .ends_with("0.log.20251027-110000")
        );
        // The rotated member is the same container's: it gets the id too, so its streams
        // and the live file's continue each other.
        assert_eq!(files[0].meta.container_id.as_deref(), Some(ID));

        // The same through a relative directory argument (the real path is then relative,
        // the symlink's target absolute), and with the directory alone.
        let cwd = std::env::current_dir()?;
        let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        let relative = up.join(dir.path().strip_prefix("/")?);
        for args in [vec![relative.clone()], vec![dir.path().to_path_buf()]] {
            let files = resolve(&args)?;
            let names: Vec<_> = files.iter().map(|f| f.path.file_name()).collect();
            assert_eq!(
                names,
                [
                    Some("0.log.20251027-110000".as_ref()),
                    Some("0.log".as_ref())
                ],
                "{args:?}"
            );
            assert!(
                files.iter().all(|f| !f.path.starts_with(&link_dir)
                    && f.meta.container_id.as_deref() == Some(ID))
            );
        }
        Ok(())
    }

    #[test]
    fn same_file_twice_listed_once() -> TestResult {
        let dir = tempfile::tempdir()?;
        let a = touch(dir.path(), "a.log", b"a\n")?;
        let dotted = dir.path().join(".").join("a.log");
        let files = resolve(&[a.clone(), dotted, a.clone()])?;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, a);
        Ok(())
    }

    #[test]
    fn tmp_ignored_in_walk_and_glob_but_not_explicitly() -> TestResult {
        let dir = tempfile::tempdir()?;
        touch(dir.path(), "a.log", b"a\n")?;
        let tmp = touch(dir.path(), "a.log.tmp", b"t\n")?;
        let walked = resolve(&[dir.path().to_path_buf()])?;
        assert_eq!(names(&walked, dir.path()), ["a.log"]);
        let globbed = resolve(&[dir.path().join("a.log*")])?;
        assert_eq!(names(&globbed, dir.path()), ["a.log"]);
        let explicit = resolve(&[tmp])?;
        assert_eq!(names(&explicit, dir.path()), ["a.log.tmp"]);
        // A glob matching only .tmp files matched nothing.
        let errs = resolve_inputs(&[dir.path().join("*.tmp")], &[])
            .err()
            .unwrap_or_default();
        assert!(
            matches!(errs[..], [InputError::GlobMatchedNothing { .. }]),
            "{errs:?}"
        );
        Ok(())
    }

    #[test]
    fn pods_tree_meta() {
        let meta = path_meta(Path::new(
            "/var/log/pods/kube-system_coredns-5d78c9869d-abcde_8f2e4a6c-1b3d-4e5f-9a7b-0c1d2e3f4a5b/coredns/3.log.20251027-120000.gz",
        ));
        assert_eq!(
            meta,
            PathMeta {
                namespace: Some("kube-system".into()),
                pod: Some("coredns-5d78c9869d-abcde".into()),
                container: Some("coredns".into()),
                container_id: None,
                labels: Vec::new(),
            }
        );
        // Static pod: uid is a config hash without dashes.
        let meta = path_meta(Path::new(
            "pods/kube-system_kube-apiserver-node1_3f1c6c9e8a9b4c8d9e0f1a2b3c4d5e6f/kube-apiserver/0.log",
        ));
        assert_eq!(meta.pod.as_deref(), Some("kube-apiserver-node1"));
        // Wrong shapes give nothing.
        for p in [
            "/var/log/pods/a_b/c/0.log",
            "/var/log/pods/a_b_c_0f1e2d3c-aaaa/c/0.log",
            "/var/log/pods/a_b_nothex/c/0.log",
            "/var/log/pods/a_b_0f1e2d3c-aaaa-bbbb/c/app.log",
            "/var/log/pods/a_b_0f1e2d3c-aaaa-bbbb/c/0.logx",
        ] {
            assert_eq!(path_meta(Path::new(p)), PathMeta::default(), "{p}");
        }
    }

    #[test]
    fn docker_and_flat_container_meta() {
        let meta = path_meta(Path::new(&format!(
            "/var/lib/docker/containers/{ID}/{ID}-json.log.1"
        )));
        assert_eq!(meta.container_id.as_deref(), Some(ID));
        assert_eq!(meta.pod, None);

        let meta = path_meta(Path::new(&format!("/backup/{ID}-json.log")));
        assert_eq!(meta.container_id.as_deref(), Some(ID));

        let meta = path_meta(Path::new(&format!(
            "/var/log/containers/web-0_prod_app-sidecar-{ID}.log"
        )));
        assert_eq!(
            meta,
            PathMeta {
                namespace: Some("prod".into()),
                pod: Some("web-0".into()),
                container: Some("app-sidecar".into()),
                container_id: Some(ID.into()),
                labels: Vec::new(),
            }
        );
        // Short id: not a container id.
        assert_eq!(
            path_meta(Path::new("/var/lib/docker/containers/abc/abc-json.log")),
            PathMeta::default()
        );
        assert_eq!(path_meta(Path::new("")), PathMeta::default());
        assert_eq!(path_meta(Path::new("/")), PathMeta::default());
    }

    #[test]
    fn decoding_is_by_magic_not_name() -> TestResult {
        let dir = tempfile::tempdir()?;
        let gz = touch(dir.path(), "x.log", &gzip(b"hello gzip\n")?)?;
        let plain = touch(dir.path(), "y.gz", b"plain text\n")?;
        let zst = touch(
            dir.path(),
            "z.txt",
            &zstd::encode_all(&b"hello zstd\n"[..], 3)?,
        )?;
        assert_eq!(read_all(open_decoded(&gz)?)?, b"hello gzip\n");
        assert_eq!(read_all(open_decoded(&plain)?)?, b"plain text\n");
        assert_eq!(read_all(open_decoded(&zst)?)?, b"hello zstd\n");
        Ok(())
    }

    #[test]
    fn multi_member_gzip_and_multi_frame_zstd() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut two = gzip(b"first\n")?;
        two.extend(gzip(b"second\n")?);
        let gz = touch(dir.path(), "two.gz", &two)?;
        assert_eq!(read_all(open_decoded(&gz)?)?, b"first\nsecond\n");

        let mut frames = zstd::encode_all(&b"one\n"[..], 1)?;
        frames.extend(zstd::encode_all(&b"two\n"[..], 1)?);
        let zst = touch(dir.path(), "two.zst", &frames)?;
        assert_eq!(read_all(open_decoded(&zst)?)?, b"one\ntwo\n");
        Ok(())
    }

    #[test]
    fn zero_bytes_after_the_last_gzip_member_are_ignored() -> TestResult {
        /// Hands out `data` 100 bytes at a time, failing with `Interrupted` before each read.
        struct Jumpy(Vec<u8>, usize, bool);
        impl Read for Jumpy {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.2 = !self.2;
                if self.2 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let rest = self.0.get(self.1..).unwrap_or_default();
                let n = rest.len().min(buf.len()).min(100);
                buf[..n].copy_from_slice(&rest[..n]);
                self.1 += n;
                Ok(n)
            }
        }
        let mut two = gzip(b"first\n")?;
        two.extend(gzip(b"second\n")?);
        let padded = [two.clone(), vec![0; 4096]].concat();
        assert_eq!(
            read_all(decode_reader(Box::new(Cursor::new(padded.clone())))?)?,
            b"first\nsecond\n"
        );
        let mut out = Vec::new();
        let mut r = decode_reader(Box::new(Jumpy(padded, 0, false)))?;
        let mut buf = [0u8; 3];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        assert_eq!(out, b"first\nsecond\n");
        // Anything else after a member is an error, after what was read.
        for tail in [&b"garbage"[..], b"\0\0\0x", b"\0\x1f\x8b"] {
            let data = [two.clone(), tail.to_vec()].concat();
            let mut r = decode_reader(Box::new(Cursor::new(data)))?;
            let mut out = Vec::new();
            assert!(r.read_to_end(&mut out).is_err(), "{tail:?}");
            assert_eq!(out, b"first\nsecond\n", "{tail:?}");
        }
        Ok(())
    }

    #[test]
    fn decode_reader_short_and_empty_inputs() -> TestResult {
        // Reader that hands out one byte at a time: the peek must not lose data.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match (self.0.get(self.1), buf.first_mut()) {
                    (Some(&b), Some(slot)) => {
                        *slot = b;
                        self.1 += 1;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        for input in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            b"abcde",
            b"\x1f",
            b"\x28\xb5\x2f",
            // A byte order mark's first bytes alone are data.
            b"\xef",
            b"\xef\xbb",
            b"\xef\xbbX",
            b"\x50\x2a\x4d",
        ] {
            let out = read_all(decode_reader(Box::new(Cursor::new(input.to_vec())))?)?;
            assert_eq!(out, input);
        }
        let out = read_all(decode_reader(Box::new(Trickle(gzip(b"trickle\n")?, 0)))?)?;
        assert_eq!(out, b"trickle\n");
        let out = read_all(decode_reader(Box::new(Trickle(
            b"\xef\xbb\xbfa\n".to_vec(),
            0,
        )))?)?;
        assert_eq!(out, b"a\n");
        Ok(())
    }

    #[test]
    fn byte_order_mark_is_dropped_at_the_start_only() -> TestResult {
        let bom = |s: &[u8]| [UTF8_BOM, s].concat();
        for (stored, want) in [
            (bom(b"x\n"), &b"x\n"[..]),
            (bom(b""), b""),
            (gzip(&bom(b"gz\n"))?, b"gz\n"),
            (zstd::encode_all(&bom(b"zst\n")[..], 1)?, b"zst\n"),
            // Only the first one: a second is data.
            (bom(&bom(b"y\n")), &bom(b"y\n")[..]),
            (b"a\xef\xbb\xbf\n".to_vec(), b"a\xef\xbb\xbf\n"),
        ] {
            let out = read_all(decode_reader(Box::new(Cursor::new(stored)))?)?;
            assert_eq!(out, want);
        }
        Ok(())
    }

    /// A reader that hands out `step` bytes at a time.
    struct Trickle(Vec<u8>, usize, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let rest = self.0.get(self.1..).unwrap_or_default();
            let n = rest.len().min(buf.len()).min(self.2);
            buf[..n].copy_from_slice(&rest[..n]);
            self.1 += n;
            Ok(n)
        }
    }

    fn utf16(text: &str, order: Utf16, bom: bool) -> Vec<u8> {
        let units = bom.then_some(0xfeff).into_iter().chain(text.encode_utf16());
        units
            .flat_map(|u| match order {
                Utf16::Le => u.to_le_bytes(),
                Utf16::Be => u.to_be_bytes(),
            })
            .collect()
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_read_as_utf8() -> TestResult {
        // A surrogate pair (the emoji) and non-ASCII text, CRLF as PowerShell writes it.
        let text = "{\"msg\":\"caf\u{e9} \u{1f525}\"}\r\nzwei \u{fc}\r\n";
        for order in [Utf16::Le, Utf16::Be] {
            let stored = utf16(text, order, true);
            for step in [1, 2, 3, 7, 4096] {
                let r = decode_reader(Box::new(Trickle(stored.clone(), 0, step)))?;
                assert_eq!(String::from_utf8(read_all(r)?)?, text, "{order:?} {step}");
            }
            let gz = gzip(&stored)?;
            let out = read_all(decode_reader(Box::new(Cursor::new(gz)))?)?;
            assert_eq!(String::from_utf8(out)?, text, "{order:?} gzip");
            // Without the mark it is data as it is (the reader warns).
            let bare = utf16(text, order, false);
            let out = read_all(decode_reader(Box::new(Cursor::new(bare.clone())))?)?;
            assert_eq!(out, bare);
            assert_eq!(looks_like_utf16(&bare[..20]), Some(order));
        }
        Ok(())
    }

    #[test]
    fn broken_utf16_gives_replacement_characters() -> TestResult {
        let lone_high = [0xff, 0xfe, b'a', 0, 0x3d, 0xd8, b'b', 0];
        let lone_low = [0xff, 0xfe, 0x25, 0xdd, b'c', 0];
        let odd_end = [0xff, 0xfe, b'd', 0, b'e'];
        let high_at_end = [0xff, 0xfe, b'f', 0, 0x3d, 0xd8];
        for (stored, want) in [
            (&lone_high[..], "a\u{fffd}b"),
            (&lone_low[..], "\u{fffd}c"),
            (&odd_end[..], "d\u{fffd}"),
            (&high_at_end[..], "f\u{fffd}"),
            (&[0xff, 0xfe][..], ""),
            (&[0xff][..], "\u{fffd}"),
        ] {
            for step in [1, 64] {
                let r = decode_reader(Box::new(Trickle(stored.to_vec(), 0, step)))?;
                let out = read_all(r)?;
                if stored == [0xff] {
                    // One byte is no mark: data as it is.
                    assert_eq!(out, stored);
                } else {
                    // What is not UTF-16 is invalid UTF-8 (counted downstream), shown as U+FFFD.
                    assert_eq!(
                        out.iter().filter(|&&b| b == NOT_UTF16).count(),
                        want.matches('\u{fffd}').count(),
                        "{stored:?} {step}"
                    );
                    assert_eq!(String::from_utf8_lossy(&out), want, "{stored:?} {step}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn utf16_without_a_mark_is_told_from_text_and_binary() {
        assert_eq!(looks_like_utf16(b"{\0\"\0t\0i\0m\0e\0"), Some(Utf16::Le));
        assert_eq!(looks_like_utf16(b"\0{\0\"\0t\0i\0m\0e"), Some(Utf16::Be));
        assert_eq!(looks_like_utf16(b"{\0\"\0"), None, "too short to tell");
        assert_eq!(looks_like_utf16(b"{\"time\":\"2026\"}"), None);
        assert_eq!(looks_like_utf16(&[0; 16]), None);
        assert_eq!(looks_like_utf16(b"a\0b\0c\0\x01\0"), None);
    }

    #[test]
    fn bzip2_xz_and_lz4_are_recognised_and_refused() -> TestResult {
        let cases: [(&[u8], Unsupported); 5] = [
            (b"BZh91AY&SY\x00\x01", Unsupported::Bzip2),
            (b"BZh9\x17\x72\x45\x38\x50\x90", Unsupported::Bzip2),
            (b"\xfd7zXZ\x00\x00\x04", Unsupported::Xz),
            (b"\x04\x22\x4d\x18\x64", Unsupported::Lz4),
            (b"\x02\x21\x4c\x18\x00", Unsupported::Lz4),
        ];
        let dir = tempfile::tempdir()?;
        for (i, (head, format)) in cases.iter().enumerate() {
            assert_eq!(unsupported(head), Some(*format));
            let err = decode_reader(Box::new(Trickle(head.to_vec(), 0, 1))).err();
            let err = err.ok_or("decoded")?;
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(
                err.to_string()
                    .contains(&format!("`{} -dc`", format.name())),
                "{err}"
            );
            let path = touch(dir.path(), &format!("f{i} x.log"), head)?;
            let errs = resolve_inputs(std::slice::from_ref(&path), &[])
                .err()
                .unwrap_or_default();
            assert!(
                matches!(errs[..], [InputError::Compressed { .. }]),
                "{errs:?}"
            );
            let quoted = format!("'{}'", path.display());
            assert!(
                errs[0]
                    .to_string()
                    .contains(&format!("{} -dc {quoted} |", format.name())),
                "{}",
                errs[0]
            );
        }
        // Text that starts like them is text.
        for text in [
            &b"BZh is a word\n"[..],
            b"BZh9 then text\n",
            b"\xfd7zX",
            b"BZh",
        ] {
            assert_eq!(unsupported(text), None);
            let out = read_all(decode_reader(Box::new(Cursor::new(text.to_vec())))?)?;
            assert_eq!(out, text);
        }
        Ok(())
    }

    #[test]
    fn an_xz_member_sorts_into_its_set_and_its_copy_is_read_instead() -> TestResult {
        let dir = tempfile::tempdir()?;
        touch(dir.path(), "app.log", b"live\n")?;
        touch(dir.path(), "app.log.1", b"one\n")?;
        touch(dir.path(), "app.log.2.xz", b"\xfd7zXZ\x00rest")?;
        let errs = resolve(&[dir.path().to_path_buf()])
            .err()
            .unwrap_or_default();
        assert!(
            errs.contains("app.log.2.xz") && errs.contains("xz -dk"),
            "{errs}"
        );
        // `xz -dk app.log.2.xz`: the copy is read in its place, in the set's order.
        touch(dir.path(), "app.log.2", b"two\n")?;
        let files = resolve(&[dir.path().to_path_buf()])?;
        assert_eq!(
            names(&files, dir.path()),
            ["app.log.2", "app.log.1", "app.log"]
        );
        // While following, a file found later is not refused here: its reader says why.
        touch(dir.path(), "other.xz", b"\xfd7zXZ\x00rest")?;
        assert_eq!(rescan(&[dir.path().to_path_buf()], &[]).len(), 4);
        Ok(())
    }

    #[test]
    fn zstd_after_a_skippable_frame_is_zstd() -> TestResult {
        // What `pzstd` writes: a skippable frame (magic 0x184D2A50..5F, LE size, payload).
        for magic in [0x184D_2A50u32, 0x184D_2A5F] {
            let mut data = magic.to_le_bytes().to_vec();
            data.extend(4u32.to_le_bytes());
            data.extend(b"\x00\x01\x02\x03");
            data.extend(zstd::encode_all(&b"after skip\n"[..], 1)?);
            assert_eq!(compression(&data), Some(Compression::Zstd));
            assert_eq!(
                read_all(decode_reader(Box::new(Cursor::new(data)))?)?,
                b"after skip\n"
            );
        }
        assert_eq!(compression(b"\x60\x2a\x4d\x18"), None);
        assert_eq!(compression(b"\x50\x2a\x4d"), None);
        Ok(())
    }

    #[test]
    fn corrupt_compressed_data_is_an_error_not_a_panic() -> TestResult {
        let truncated = gzip(b"some data that will be cut off\n")?;
        let cut = truncated
            .get(..truncated.len() / 2)
            .unwrap_or_default()
            .to_vec();
        assert!(read_all(decode_reader(Box::new(Cursor::new(cut)))?).is_err());
        let bad_zstd = vec![0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff];
        let result = decode_reader(Box::new(Cursor::new(bad_zstd))).and_then(read_all);
        assert!(result.is_err());
        Ok(())
    }

    #[test]
    fn size_is_on_disk_size() -> TestResult {
        let dir = tempfile::tempdir()?;
        let data = gzip(&b"repetitive line\n".repeat(1000))?;
        let gz = touch(dir.path(), "a.log.1.gz", &data)?;
        let files = resolve(&[gz])?;
        assert_eq!(files[0].size, data.len() as u64);
        Ok(())
    }

    #[test]
    fn empty_file_and_empty_dir() -> TestResult {
        let dir = tempfile::tempdir()?;
        let empty = touch(dir.path(), "empty.log", b"")?;
        let files = resolve(std::slice::from_ref(&empty))?;
        assert_eq!(files[0].size, 0);
        assert!(read_all(open_decoded(&empty)?)?.is_empty());

        assert!(resolve(&[])?.is_empty());

        // A directory with nothing to read is an error, as a glob matching nothing is; so is
        // a glob matching only such a directory.
        let sub = dir.path().join("nothing");
        fs::create_dir_all(sub.join("deeper"))?;
        touch(&sub, "0.log.20251027-130000.tmp", b"t\n")?;
        let errs = resolve_inputs(std::slice::from_ref(&sub), &[])
            .err()
            .unwrap_or_default();
        assert!(matches!(errs[..], [InputError::NoFiles { .. }]), "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            format!("directory '{}' holds no files to read", sub.display())
        );
        let errs = resolve_inputs(&[dir.path().join("noth*")], &[])
            .err()
            .unwrap_or_default();
        assert!(
            matches!(errs[..], [InputError::GlobMatchedNothing { .. }]),
            "{errs:?}"
        );
        // With `--follow` both wait for files.
        assert!(matches_nothing_yet(&sub, &[]));
        assert!(matches_nothing_yet(&dir.path().join("noth*"), &[]));
        assert!(!matches_nothing_yet(dir.path(), &[]));
        Ok(())
    }

    #[test]
    fn hard_links_are_one_file() -> TestResult {
        let dir = tempfile::tempdir()?;
        let a = touch(dir.path(), "app.log", b"a\n")?;
        fs::hard_link(&a, dir.path().join("app-copy.log"))?;
        let files = resolve(&[dir.path().to_path_buf()])?;
        assert_eq!(names(&files, dir.path()), ["app-copy.log"]);
        Ok(())
    }

    #[test]
    fn compressed_twin_of_a_rotated_file_is_not_read() -> TestResult {
        // kubelet gzips `X` to `X.gz`, then deletes `X`: in between, both are there.
        let order = walk_order(&[
            "0.log",
            "0.log.20251027-110000.gz",
            "0.log.20251027-120000",
            "0.log.20251027-120000.gz",
            "app.log.1",
            "app.log.1.zst",
            // Not a rotated member: both are read.
            "b.log",
            "b.log.gz",
        ])?;
        assert_eq!(
            order,
            [
                "0.log.20251027-110000.gz",
                "0.log.20251027-120000",
                "0.log",
                "app.log.1",
                "b.log",
                "b.log.gz",
            ]
        );
        Ok(())
    }

    #[test]
    fn excluded_directories_are_not_walked_or_globbed() -> TestResult {
        let dir = tempfile::tempdir()?;
        touch(dir.path(), "app.log", b"a\n")?;
        touch(dir.path(), "bundle/report.md", b"r\n")?;
        touch(dir.path(), "bundle/events/service=x/part-0.parquet", b"p\n")?;
        let bundle = dir.path().join("bundle");
        let exclude = std::slice::from_ref(&bundle);
        let walked = resolve_inputs(&[dir.path().to_path_buf()], exclude).unwrap_or_default();
        assert_eq!(names(&walked, dir.path()), ["app.log"]);
        let globbed = resolve_inputs(&[dir.path().join("*/*")], exclude).err();
        assert!(globbed.is_some(), "{globbed:?}");
        assert_eq!(rescan(&[dir.path().to_path_buf()], exclude).len(), 1);
        // Not there yet (the first export): nothing is excluded.
        let later = [dir.path().join("later")];
        assert_eq!(resolve(&[dir.path().to_path_buf()])?.len(), 3);
        assert_eq!(
            resolve_inputs(&[dir.path().to_path_buf()], &later)
                .unwrap_or_default()
                .len(),
            3
        );
        Ok(())
    }

    #[test]
    #[cfg(unix)]
    fn glob_matches_names_that_are_not_utf8() -> TestResult {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir()?;
        let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.log");
        fs::write(dir.path().join(latin1), b"x\n")?;
        touch(dir.path(), "ascii.log", b"y\n")?;
        touch(dir.path(), "sub/deep.log", b"z\n")?;
        let files = resolve(&[dir.path().join("*.log")])?;
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files.iter().any(|f| f.path.file_name() == Some(latin1)));
        let files = resolve(&[dir.path().join("caf?.log")])?;
        assert_eq!(files.len(), 1, "{files:?}");
        // `**` and a literal non-UTF-8 directory name.
        let odd_dir = dir.path().join(std::ffi::OsStr::from_bytes(b"d\xff"));
        touch(&odd_dir, "x/in.log", b"w\n")?;
        let files = resolve(&[odd_dir.join("**/*.log")])?;
        assert_eq!(names(&files, &odd_dir), ["x/in.log"]);
        let files = resolve(&[dir.path().join("**/deep.log")])?;
        assert_eq!(names(&files, dir.path()), ["sub/deep.log"]);
        Ok(())
    }

    #[test]
    fn missing_file_error_names_path() {
        let errs = resolve_inputs(&[PathBuf::from("/nonexistent/dir/x.log")], &[])
            .err()
            .unwrap_or_default();
        assert!(
            matches!(errs[..], [InputError::NotFound { .. }]),
            "{errs:?}"
        );
        assert_eq!(
            errs[0].to_string(),
            "cannot read '/nonexistent/dir/x.log': no such file or directory"
        );
    }

    #[test]
    #[cfg(unix)]
    fn dangling_explicit_symlink_is_not_found() -> TestResult {
        let dir = tempfile::tempdir()?;
        let link = dir.path().join("gone.log");
        std::os::unix::fs::symlink(dir.path().join("missing"), &link)?;
        let errs = resolve_inputs(&[link], &[]).err().unwrap_or_default();
        assert!(
            matches!(errs[..], [InputError::NotFound { .. }]),
            "{errs:?}"
        );
        // But inside a directory walk a dangling link is skipped.
        touch(dir.path(), "ok.log", b"x\n")?;
        assert_eq!(
            names(&resolve(&[dir.path().to_path_buf()])?, dir.path()),
            ["ok.log"]
        );
        Ok(())
    }

    #[test]
    #[cfg(unix)]
    fn unreadable_file_and_dir() -> TestResult {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let file = touch(dir.path(), "secret.log", b"x\n")?;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o000))?;
        let sub = dir.path().join("locked");
        fs::create_dir(&sub)?;
        touch(&sub, "inner.log", b"x\n")?;
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o000))?;

        // Running as root (common in containers/CI), permission bits do not
        // block reads, so the errors cannot occur: skip only these assertions.
        let privileged = File::open(&file).is_ok();
        let result = resolve_inputs(&[file.clone(), sub.clone()], &[]);
        if !privileged {
            let errs = result.err().unwrap_or_default();
            assert_eq!(errs.len(), 2, "{errs:?}");
            assert!(matches!(errs[0], InputError::Unreadable { .. }));
            assert_eq!(
                errs[0].to_string(),
                format!(
                    "cannot read '{}': permission denied (os error 13)",
                    file.display()
                )
            );
            assert!(errs[1].to_string().contains("locked"), "{}", errs[1]);
        }
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    #[test]
    fn unreadable_display_format() {
        let err = InputError::Unreadable {
            path: PathBuf::from("x.log"),
            source: io::Error::from_raw_os_error(13),
        };
        assert_eq!(
            err.to_string(),
            "cannot read 'x.log': permission denied (os error 13)"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn glob_expansion() -> TestResult {
        let dir = tempfile::tempdir()?;
        touch(dir.path(), "a/x.log", b"x\n")?;
        touch(dir.path(), "b/y.log", b"y\n")?;
        touch(dir.path(), "b/y.log.1", b"y1\n")?;
        touch(dir.path(), "b/z.txt", b"z\n")?;
        touch(dir.path(), "c/deep/w.log", b"w\n")?;
        let files = resolve(&[dir.path().join("*/*.log*")])?;
        assert_eq!(
            names(&files, dir.path()),
            ["a/x.log", "b/y.log.1", "b/y.log"]
        );
        // Recursive `**` and globs matching directories (which are walked).
        let files = resolve(&[dir.path().join("**/w.log")])?;
        assert_eq!(names(&files, dir.path()), ["c/deep/w.log"]);
        let files = resolve(&[dir.path().join("[c]")])?;
        assert_eq!(names(&files, dir.path()), ["c/deep/w.log"]);
        Ok(())
    }

    #[test]
    fn glob_errors() -> TestResult {
        let dir = tempfile::tempdir()?;
        let nothing = dir.path().join("*.nope");
        let errs = resolve_inputs(std::slice::from_ref(&nothing), &[])
            .err()
            .unwrap_or_default();
        assert!(
            matches!(errs[..], [InputError::GlobMatchedNothing { .. }]),
            "{errs:?}"
        );
        assert!(errs[0].to_string().contains(&*nothing.to_string_lossy()));

        let bad = dir.path().join("a[");
        let errs = resolve_inputs(std::slice::from_ref(&bad), &[])
            .err()
            .unwrap_or_default();
        assert!(matches!(errs[..], [InputError::BadGlob { .. }]), "{errs:?}");
        assert!(errs[0].to_string().contains("a["), "{}", errs[0]);
        Ok(())
    }

    #[test]
    fn literal_path_with_glob_chars_is_not_expanded() -> TestResult {
        let dir = tempfile::tempdir()?;
        let odd = touch(dir.path(), "we*rd[1].log", b"odd\n")?;
        touch(dir.path(), "weXrd1.log", b"other\n")?;
        let files = resolve(&[odd])?;
        assert_eq!(names(&files, dir.path()), ["we*rd[1].log"]);
        Ok(())
    }

    #[test]
    fn recursion_through_nested_dirs() -> TestResult {
        let order = walk_order(&[
            "a/1/x.log",
            "a/2/x.log",
            "a/10/x.log",
            "a/z.log",
            "b.log",
            "b/c/d/e/f.log",
        ])?;
        assert_eq!(
            order,
            // Component-wise path order: directory `b` sorts before file `b.log`.
            [
                "a/1/x.log",
                "a/2/x.log",
                "a/10/x.log",
                "a/z.log",
                "b/c/d/e/f.log",
                "b.log"
            ]
        );
        Ok(())
    }

    #[test]
    #[cfg(unix)]
    fn symlink_loops_terminate_and_file_links_followed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("root");
        let target = touch(dir.path(), "elsewhere/real.log", b"r\n")?;
        touch(&root, "sub/a.log", b"a\n")?;
        std::os::unix::fs::symlink(&root, root.join("sub/loop"))?;
        std::os::unix::fs::symlink(&target, root.join("link.log"))?;
        // A symlink that points at itself.
        std::os::unix::fs::symlink(root.join("self"), root.join("self"))?;
        let files = resolve(std::slice::from_ref(&root))?;
        assert_eq!(names(&files, &root), ["link.log", "sub/a.log"]);
        Ok(())
    }

    #[test]
    fn errors_are_aggregated() -> TestResult {
        let dir = tempfile::tempdir()?;
        let ok = touch(dir.path(), "ok.log", b"x\n")?;
        let errs = resolve_inputs(
            &[
                dir.path().join("missing1.log"),
                ok,
                dir.path().join("*.none"),
                dir.path().join("missing2.log"),
            ],
            &[],
        )
        .err()
        .unwrap_or_default();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(matches!(errs[0], InputError::NotFound { .. }));
        assert!(matches!(errs[1], InputError::GlobMatchedNothing { .. }));
        assert!(matches!(errs[2], InputError::NotFound { .. }));
        assert!(errs[0].to_string().contains("missing1.log"));
        assert!(errs[2].to_string().contains("missing2.log"));
        Ok(())
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn path_meta_never_panics(s in "\\PC{0,80}") {
                let _ = path_meta(Path::new(&s));
            }

            #[test]
            fn path_meta_pods_roundtrip(
                ns in "[a-z][a-z0-9-]{0,20}",
                pod in "[a-z][a-z0-9.-]{0,30}",
                uid in "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}",
                container in "[a-z][a-z0-9-]{0,20}",
                n in 0u32..100,
            ) {
                let p = format!("/var/log/pods/{ns}_{pod}_{uid}/{container}/{n}.log");
                let meta = path_meta(Path::new(&p));
                prop_assert_eq!(meta.namespace, Some(ns));
                prop_assert_eq!(meta.pod, Some(pod));
                prop_assert_eq!(meta.container, Some(container));
            }

            #[test]
            fn split_rotation_never_panics(s in "\\PC{0,40}") {
                let (base, _) = split_rotation(&s);
                prop_assert!(s.starts_with(base));
            }

            #[test]
            fn numbered_rotation_parses(base in "[a-z]{1,8}\\.log", n in 0u64..1_000_000) {
                let name = format!("{base}.{n}.gz");
                prop_assert_eq!(split_rotation(&name), (base.as_str(), Rank::Numbered(Reverse(n))));
            }

            #[test]
            fn decode_roundtrips(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
                // Plain data that happens to start with a magic (or a BOM) is not plain; skip it.
                let plain = compression(&data).is_none()
                    && unsupported(&data).is_none()
                    && utf16_bom(&data).is_none();
                if plain && !data.starts_with(UTF8_BOM) {
                    let out = read_all(decode_reader(Box::new(Cursor::new(data.clone())))?)?;
                    prop_assert_eq!(&out, &data);
                }
                let gz = gzip(&data)?;
                let out = read_all(decode_reader(Box::new(Cursor::new(gz)))?)?;
                prop_assert_eq!(&out, &data);
                let zs = zstd::encode_all(&data[..], 1)?;
                let out = read_all(decode_reader(Box::new(Cursor::new(zs)))?)?;
                prop_assert_eq!(&out, &data);
            }

            #[test]
            fn decode_garbage_never_panics(
                magic in prop_oneof![
                    Just(GZIP_MAGIC.to_vec()),
                    Just(ZSTD_MAGIC.to_vec()),
                    Just(UTF16LE_BOM.to_vec()),
                    Just(UTF16BE_BOM.to_vec()),
                ],
                tail in proptest::collection::vec(any::<u8>(), 0..256),
            ) {
                let mut data = magic;
                data.extend(tail);
                if let Ok(r) = decode_reader(Box::new(Cursor::new(data))) {
                    let _ = read_all(r);
                }
            }

            #[test]
            fn ordering_is_a_permutation(names in proptest::collection::vec("[ab]\\.log(\\.[0-9]{1,2})?(-2026112[0-9])?(\\.gz)?", 0..12)) {
                let files: Vec<InputFile> = names
                    .iter()
                    .map(|n| InputFile { path: PathBuf::from("d").join(n), meta: PathMeta::default(), size: 0 })
                    .collect();
                let ordered = order_files(files.clone());
                let mut a: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
                let mut b: Vec<_> = ordered.iter().map(|f| f.path.clone()).collect();
                a.sort();
                b.sort();
                prop_assert_eq!(a, b);
                // Live files come after every rotation of their own set.
                for (i, f) in ordered.iter().enumerate() {
                    let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let (base, rank) = split_rotation(&name);
                    if rank == Rank::Live {
                        for later in &ordered[i + 1..] {
                            let later_name = later.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                            let (lb, lr) = split_rotation(&later_name);
                            prop_assert!(!(lb == base && lr != Rank::Live), "{:?}", ordered);
                        }
                    }
                }
            }

            #[test]
            fn natural_sort_is_total(mut names in proptest::collection::vec("[a0-9.]{0,6}", 0..20)) {
                names.sort_by_cached_key(|n| (natural_key(Path::new(n)), PathBuf::from(n)));
                for w in names.windows(2) {
                    let a = (natural_key(Path::new(&w[0])), PathBuf::from(&w[0]));
                    let b = (natural_key(Path::new(&w[1])), PathBuf::from(&w[1]));
                    prop_assert!(a <= b);
                }
            }
        }
    }
}
