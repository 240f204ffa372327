//! What the pipe-level tests (worker_*.rs, concurrent.rs) share: where the
//! example binaries are, and the supervisor's invoke frame; `behaviours` is
//! the worker_*.rs harness for `examples/behaviours.rs`.

use std::io::Sink;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use dispatcher_worker::channel::Channel;
use dispatcher_worker::protocol::{decode_map, Entries, DEFAULT_MAX_FRAME};
use serde::Serialize;

pub mod behaviours;

/// An example binary built next to the tests:
/// target/<profile>/deps/TEST-HASH -> target/<profile>/examples/NAME.
pub fn example_exe(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` (it builds the examples)",
        path.display()
    );
    path
}

/// An example started as the supervisor starts a worker: stdin and stdout
/// piped, protocol 1, the default frame limit, no inherited trace id.
pub fn worker_command(name: &str, stderr: Stdio) -> Command {
    let mut cmd = Command::new(example_exe(name));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    cmd.env("DISPATCHER_PROTOCOL", "1")
        .env("DISPATCHER_MAX_FRAME", DEFAULT_MAX_FRAME.to_string())
        .env_remove("_X_AMZN_TRACE_ID");
    cmd
}

/// The worker's stdout, read frame by frame as the supervisor reads it.
pub type Frames = Channel<ChildStdout, Sink>;

/// Starts `cmd` (from [`worker_command`]): the child, its stdin, its frames.
pub fn spawn_worker(cmd: &mut Command) -> (Child, Option<ChildStdin>, Frames) {
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let frames = Channel::new(stdout, std::io::sink(), DEFAULT_MAX_FRAME);
    (child, stdin, frames)
}

/// The next frame the worker wrote: its type and its other fields.
pub fn next_message(frames: &mut Frames) -> (&str, Entries<'_>) {
    let body = frames
        .read_frame()
        .unwrap()
        .expect("the worker closed its stdout");
    decode_map(body).unwrap()
}

/// A frame on the wire: the body's length (4 bytes, big-endian), then the body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The `invoke` frame as the supervisor sends it (docs/protocol.md).
#[derive(Serialize)]
pub struct InvokeFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub id: &'a str,
    #[serde(with = "serde_bytes")]
    pub payload: &'a [u8],
    pub deadline_ms: u64,
    pub function_arn: &'a str,
    pub trace_id: Option<&'a str>,
    pub client_context: Option<&'a str>,
    pub cognito_identity: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
}

impl InvokeFrame<'_> {
    /// This invoke as the supervisor writes it: length prefix and msgpack map.
    pub fn to_wire(&self) -> Vec<u8> {
        frame(&rmp_serde::to_vec_named(self).unwrap())
    }
}
