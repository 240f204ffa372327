//! End-to-end tests of the adapter over real pipes, the worker's life: the
//! protected frame stream, init failures, an unusable environment, shutdown.
//! The `behaviours` example binary plays the worker and this file plays the
//! supervisor (harness: tests/common/behaviours.rs).
//!
//! The binary is the one a plain `cargo test` builds next to the tests;
//! `cargo test --test NAME` alone does not rebuild examples, so after
//! changing the library run the whole `cargo test`.

use std::time::{Duration, Instant};

mod common;

use common::behaviours::{frame, Worker};
use serde_json::json;

#[test]
fn printing_and_child_processes_cannot_touch_the_frame_stream() {
    let mut w = Worker::start(&[("BEHAVIOURS_INIT", "print")]);
    assert_eq!(w.read().kind, "ready");
    let reply = w.invoke(json!({"do": "print"})).json();
    assert_eq!(reply, json!({"printed": true, "child_status": 0}));
    assert_eq!(
        w.invoke(json!({"name": "after"})).json()["message"],
        "Hello, after!"
    );
    let (status, stderr) = w.finish();
    assert_eq!(status.code(), Some(0));
    for text in [
        "printed to stdout during init",
        "println from the handler",
        "print without newline",
        "child wrote to its stdout",
    ] {
        assert!(stderr.contains(text), "{text:?} not in the log: {stderr}");
    }
}

#[test]
fn init_failures_become_init_error_frames() {
    for (mode, error_type, message) in [
        (
            "fail",
            "behaviours::InitFailed",
            "init failed on purpose (BEHAVIOURS_INIT=fail)",
        ),
        ("panic", "Panic", "init panicked on purpose"),
    ] {
        let mut w = Worker::start(&[("BEHAVIOURS_INIT", mode)]);
        let reply = w.read();
        assert_eq!(reply.kind, "init_error", "{mode}");
        assert_eq!(
            (reply.get("error_type"), reply.get("error_message")),
            (error_type, message)
        );
        let (status, _) = w.finish();
        assert_ne!(
            status.code(),
            Some(0),
            "{mode}: the worker exits after init_error"
        );
    }
}

#[test]
fn an_unusable_environment_is_an_init_error_naming_the_variable() {
    let mut w = Worker::start(&[("DISPATCHER_MAX_FRAME", "16MB")]);
    let reply = w.read();
    assert_eq!(
        (reply.kind.as_str(), reply.get("error_type")),
        ("init_error", "Runtime.ConfigError")
    );
    assert!(
        reply.get("error_message").contains("DISPATCHER_MAX_FRAME"),
        "{reply:?}"
    );
}

#[test]
fn shutdown_exits_zero() {
    let mut w = Worker::ready();
    w.send_raw(&frame(&[
        0x81, 0xa4, b't', b'y', b'p', b'e', 0xa8, b's', b'h', b'u', b't', b'd', b'o', b'w', b'n',
    ]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after shutdown");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(w.finish().0.code(), Some(0));
}
