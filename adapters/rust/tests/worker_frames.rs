//! End-to-end tests of the adapter over real pipes, the frame stream itself:
//! malformed and oversized frames, and the system calls an invocation costs.
//! The `behaviours` example binary plays the worker and this file plays the
//! supervisor (harness: tests/common/behaviours.rs).
//!
//! The binary is the one a plain `cargo test` builds next to the tests;
//! `cargo test --test NAME` alone does not rebuild examples, so after
//! changing the library run the whole `cargo test`.

mod common;

use common::behaviours::{frame, now_ms, Worker};
use common::InvokeFrame;
use serde_json::json;

#[test]
fn malformed_frames_exit_70_with_a_diagnostic() {
    let cases: &[(&str, Vec<u8>, &str)] = &[
        ("text", b"Hello\n".to_vec(), "frame_too_large"),
        ("empty", vec![0, 0, 0, 0], "empty_frame"),
        ("not a map", frame(&[0x91, 0x01]), "not_a_map"),
        (
            "unknown type",
            frame(&[
                0x81, 0xa4, b't', b'y', b'p', b'e', 0xa5, b'r', b'e', b'a', b'd', b'y',
            ]),
            "unknown_type",
        ),
        (
            "missing fields",
            frame(&[
                0x81, 0xa4, b't', b'y', b'p', b'e', 0xa6, b'i', b'n', b'v', b'o', b'k', b'e',
            ]),
            "bad_field",
        ),
        ("cut short", vec![0, 0, 0, 9, 0x80], "truncated_frame"),
    ];
    for (what, bytes, code) in cases {
        let mut w = Worker::ready();
        w.send_raw(bytes);
        let (status, stderr) = w.finish();
        assert_eq!(status.code(), Some(70), "{what}: {stderr}");
        assert!(
            stderr.contains("malformed frame from the supervisor") && stderr.contains(code),
            "{what}: {stderr}"
        );
    }
}

#[test]
fn frames_over_the_configured_limit_are_refused() {
    let mut w = Worker::start(&[("DISPATCHER_MAX_FRAME", "1000")]);
    assert_eq!(w.read().kind, "ready");
    let big = json!({"name": "x".repeat(2000)});
    w.send_raw(&frame(
        &rmp_serde::to_vec_named(&InvokeFrame {
            kind: "invoke",
            id: "big",
            payload: &serde_json::to_vec(&big).unwrap(),
            deadline_ms: now_ms(),
            function_arn: "",
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
        })
        .unwrap(),
    ));
    let (status, stderr) = w.finish();
    assert_eq!(status.code(), Some(70));
    assert!(stderr.contains("exceeds max_frame 1000"), "{stderr}");
}

/// The worker's read and write system calls so far (`syscr`, `syscw` in /proc/PID/io).
fn syscalls(pid: u32) -> (u64, u64) {
    let path = format!("/proc/{pid}/io");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path} (needs Linux task I/O accounting): {e}"));
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {path}: {text}"))
    };
    (field("syscr:"), field("syscw:"))
}

#[test]
fn each_invocation_is_one_read_and_one_write() {
    let mut w = Worker::ready();
    let pid = w.child.id();
    w.invoke(json!({"name": "warm"}));
    let (r0, w0) = syscalls(pid);
    for i in 0..50 {
        w.invoke(json!({ "name": i.to_string() }));
    }
    let (r1, w1) = syscalls(pid);
    // A small frame comes with one read (length prefix and body together)
    // and its reply goes with one write.
    assert_eq!(
        (r1 - r0, w1 - w0),
        (50, 50),
        "reads and writes for 50 invocations"
    );
    // A 1 MiB reply goes with one writev, head and payload together, however
    // many reads the 1 MiB event took through a 64 KiB pipe.
    let name = "n".repeat(1 << 20);
    let reply = w.invoke(json!({ "name": name }));
    assert_eq!(
        reply.json()["message"].as_str().unwrap().len(),
        name.len() + 8
    );
    let (r2, w2) = syscalls(pid);
    assert_eq!(w2 - w1, 1, "writes for one 1 MiB reply");
    assert!(
        r2 - r1 <= 1 + (1 << 20) / 4096,
        "{} reads for one 1 MiB event",
        r2 - r1
    );
    let (status, stderr) = w.finish();
    assert_eq!(status.code(), Some(0), "{stderr}");
}
