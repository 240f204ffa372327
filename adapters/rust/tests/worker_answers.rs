//! End-to-end tests of the adapter over real pipes, what each invocation is
//! answered: the `behaviours` example binary plays the worker and this file
//! plays the supervisor (harness: tests/common/behaviours.rs). Values, errors,
//! panics, JSON failures, the context of each invocation.
//!
//! The binary is the one a plain `cargo test` builds next to the tests;
//! `cargo test --test NAME` alone does not rebuild examples, so after
//! changing the library run the whole `cargo test`.

mod common;

use common::behaviours::Worker;
use serde_json::{json, Value as Json};

#[test]
fn invoke_returns_the_handler_value_as_json() {
    let mut w = Worker::ready();
    assert_eq!(
        w.invoke(json!({"name": "Ada"})).json(),
        json!({"message": "Hello, Ada!"})
    );
    assert_eq!(
        w.invoke(json!({})).json(),
        json!({"message": "Hello, world!"})
    );
    let (status, stderr) = w.finish();
    assert_eq!(status.code(), Some(0), "EOF exits 0; stderr: {stderr}");
    assert_eq!(stderr, "", "no log line per invocation");
}

#[test]
fn handler_errors_carry_the_rust_type_name_and_the_worker_goes_on() {
    let mut w = Worker::ready();
    let (pid, _) = w.pid_and_count();
    let err = w.invoke(json!({"do": "error"}));
    assert_eq!(err.kind, "error");
    assert_eq!(err.get("error_type"), "behaviours::BadRequest");
    assert_eq!(err.get("error_message"), "bad request: no order id");
    let err = w.invoke(json!({"do": "handler_error"}));
    assert_eq!(
        (err.get("error_type"), err.get("error_message")),
        ("InvalidOrder", "order has no items")
    );
    assert_eq!(w.pid_and_count(), (pid, 4), "same process, state kept");
}

#[test]
fn a_panic_becomes_an_error_frame_and_the_worker_goes_on() {
    let mut w = Worker::ready();
    let err = w.invoke(json!({"do": "panic"}));
    assert_eq!(
        (err.get("error_type"), err.get("error_message")),
        ("Panic", "deliberate panic")
    );
    assert!(
        err.stack[0].starts_with("at examples/behaviours.rs:"),
        "{:?}",
        err.stack
    );
    assert_eq!(
        w.invoke(json!({"name": "again"})).json()["message"],
        "Hello, again!"
    );
    let (status, stderr) = w.finish();
    assert_eq!(status.code(), Some(0));
    assert!(
        !stderr.contains("panicked"),
        "a caught panic is reported in the frame, not logged: {stderr}"
    );
}

#[test]
fn bad_json_and_unserialisable_values_have_runtime_error_types() {
    let mut w = Worker::ready();
    let err = w.invoke_with(b"{not json", None);
    assert_eq!(err.get("error_type"), "Runtime.UnmarshalError");
    assert!(
        err.get("error_message").contains("not valid JSON"),
        "{err:?}"
    );
    let err = w.invoke(json!({"do": "marshal"}));
    assert_eq!(err.get("error_type"), "Runtime.MarshalError");
    assert_eq!(
        w.invoke(json!({"name": "x"})).json()["message"],
        "Hello, x!"
    );
}

#[test]
fn context_and_trace_id_follow_each_invocation() {
    let mut w = Worker::ready();
    let ctx = w
        .invoke_with(br#"{"do":"context"}"#, Some("Root=1-abc"))
        .json();
    assert_eq!(ctx["xray_trace_id"], "Root=1-abc");
    assert_eq!(ctx["env_trace_id"], "Root=1-abc");
    assert_eq!(ctx["request_id"], "req-1");
    assert_eq!(ctx["identity"], "{\"cognitoIdentityId\":\"c1\"}");
    assert_eq!(ctx["client_context"], Json::Null);
    assert_eq!(
        (
            ctx["function_name"].as_str(),
            ctx["memory_limit_in_mb"].as_u64()
        ),
        (Some("behaviours"), Some(256))
    );
    let remaining = ctx["remaining_ms"].as_u64().unwrap();
    assert!((20_000..=30_000).contains(&remaining), "{remaining}");
    // No trace id on the next invocation: the old one must not linger.
    let ctx = w.invoke(json!({"do": "context"})).json();
    assert_eq!(
        (ctx["xray_trace_id"].clone(), ctx["env_trace_id"].clone()),
        (Json::Null, Json::Null)
    );
}
