//! Where bytes come from: stdin and files ([`files`]: discovery, rotation order,
//! decompression by magic bytes, metadata from kubelet and docker paths), and live sources:
//! [`stdin`] (a pipe or terminal read as its lines arrive), [`docker`] (the Docker Engine API), [`kubectl`] (the user's `kubectl logs`) and [`follow`]
//! (`tail -F` for files, new files in followed directories), [`loki`] (Grafana Loki `query_range` paging and the `tail`
//! WebSocket). [`http`] is the small HTTP/1.1 client they share (plain TCP, unix socket, or TLS
//! with the trust roots of [`tls`]), [`ws`] the WebSocket client on top of it; [`live`] stops
//! them on Ctrl-C.
//!
//! **Invariant:** only this module spawns processes or opens sockets, and it ends only the
//! processes it started.

pub mod docker;
pub mod files;
pub mod follow;
pub mod http;
pub mod kubectl;
pub mod live;
pub mod loki;
pub mod stdin;
pub mod tls;
pub mod ws;

/// An input failure that must end the run (exit code 2), e.g. kubectl exiting non-zero.
/// Carried inside an [`std::io::Error`] from a source's reader.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// The [`Fatal`] inside an I/O error, if any.
pub fn fatal(e: &std::io::Error) -> Option<&Fatal> {
    e.get_ref().and_then(|i| i.downcast_ref::<Fatal>())
}

/// Is `e` the lack of a file descriptor (the process's limit, `EMFILE`, or the system's,
/// `ENFILE`)? It goes away when files are closed or the limit is raised: a followed input
/// tries again rather than giving up.
pub fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
