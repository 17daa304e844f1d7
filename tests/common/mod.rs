//! Helpers shared by the integration tests that follow live inputs.

use std::io::Read;
use std::process::{Child, Command};

/// Send SIGINT to a `--follow` run, collect its stdout and stderr, and check it exited 0
/// (Ctrl-C ends a followed run normally, with its final output).
pub fn interrupt(mut child: Child) -> (String, String) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}: {err}");
    (out, err)
}
