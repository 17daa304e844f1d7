//! Stopping live sources: Ctrl-C (or any caller) calls [`request_stop`], which sets a flag the
//! readers poll, kills the child processes the sources started and shuts the sockets they
//! opened (only those: they are registered here by the code that made them), so blocked reads end and the pipeline can
//! finish normally and print its final report.

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

static STOP: AtomicBool = AtomicBool::new(false);
static CHILDREN: Mutex<Vec<Arc<Mutex<Child>>>> = Mutex::new(Vec::new());
static SOCKETS: Mutex<Vec<Socket>> = Mutex::new(Vec::new());

/// A clone of a live stream's socket, shut down on stop so a blocked read returns.
pub(crate) enum Socket {
    /// Unix socket.
    Unix(std::os::unix::net::UnixStream),
    /// TCP.
    Tcp(std::net::TcpStream),
}

/// Register a socket to shut down on stop.
pub(crate) fn register_socket(s: Socket) {
    if let Ok(mut list) = SOCKETS.lock() {
        list.push(s);
    }
    if stopping() {
        shutdown_sockets();
    }
}

fn shutdown_sockets() {
    if let Ok(mut list) = SOCKETS.lock() {
        for s in list.drain(..) {
            let _ = match s {
                Socket::Unix(s) => s.shutdown(std::net::Shutdown::Both),
                Socket::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            };
        }
    }
}

/// Ask every live source to stop.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
    if let Ok(list) = CHILDREN.lock() {
        for c in list.iter() {
            if let Ok(mut c) = c.lock() {
                let _ = c.kill();
            }
        }
    }
    shutdown_sockets();
}

/// Has a stop been requested?
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Register a child process to be killed on stop (it is killed at once if a stop is pending).
pub(crate) fn register(child: &Arc<Mutex<Child>>) {
    if let Ok(mut list) = CHILDREN.lock() {
        list.retain(|c| Arc::strong_count(c) > 1);
        list.push(Arc::clone(child));
    }
    if stopping()
        && let Ok(mut c) = child.lock()
    {
        let _ = c.kill();
    }
}
