//! What the pipe-level tests (worker_*.rs, concurrent.rs) share: where the
//! example binaries are, and the supervisor's invoke frame; `behaviours` is
//! the worker_*.rs harness for `examples/behaviours.rs`.

use std::path::PathBuf;

use serde::Serialize;

pub mod behaviours;

/// An example binary built next to the tests:
/// target/<profile>/deps/TEST-HASH -> target/<profile>/examples/NAME.
pub fn example_exe(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` (it builds the examples)",
        path.display()
    );
    path
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
