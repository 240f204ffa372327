//! End-to-end tests of the adapter over real pipes: the `behaviours` example
//! binary plays the worker and this file plays the supervisor, frame by frame.
//!
//! The binary is the one a plain `cargo test` builds next to the tests;
//! `cargo test --test worker` alone does not rebuild examples, so after
//! changing the library run the whole `cargo test`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{example_exe, InvokeFrame};
use dispatcher_worker::channel::Channel;
use dispatcher_worker::msgpack::Value;
use dispatcher_worker::protocol::{decode_map, DEFAULT_MAX_FRAME};
use serde_json::{json, Value as Json};



fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A reply frame, simplified for assertions: strs, bins and str lists.
#[derive(Debug, Default)]
struct Reply {
    kind: String,
    strs: HashMap<String, String>,
    payload: Option<Vec<u8>>,
    stack: Vec<String>,
}

impl Reply {
    fn json(&self) -> Json {
        assert_eq!(self.kind, "result", "expected a result, got {self:?}");
        serde_json::from_slice(self.payload.as_deref().unwrap()).unwrap()
    }
    fn get(&self, key: &str) -> &str {
        self.strs
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
    }
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Channel<ChildStdout, std::io::Sink>,
    next_id: u32,
}

impl Worker {
    fn start(env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(example_exe("behaviours"));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env("DISPATCHER_PROTOCOL", "1")
            .env("DISPATCHER_MAX_FRAME", DEFAULT_MAX_FRAME.to_string());
        cmd.env("AWS_LAMBDA_FUNCTION_NAME", "behaviours")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256");
        cmd.env_remove("_X_AMZN_TRACE_ID")
            .env_remove("RUST_BACKTRACE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        Worker {
            child,
            stdin,
            frames: Channel::new(stdout, std::io::sink(), DEFAULT_MAX_FRAME),
            next_id: 0,
        }
    }

    fn ready() -> Worker {
        let mut w = Worker::start(&[]);
        assert_eq!(w.read().kind, "ready");
        w
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    }

    fn read(&mut self) -> Reply {
        let body = self
            .frames
            .read_frame()
            .unwrap()
            .expect("the worker closed its stdout");
        let (kind, map) = decode_map(body).unwrap();
        let mut reply = Reply {
            kind: kind.to_string(),
            ..Reply::default()
        };
        for (key, value) in map {
            match value {
                Value::Str(s) => {
                    reply.strs.insert(key.to_string(), s.to_string());
                }
                Value::Bin(b) if key == "payload" => reply.payload = Some(b.to_vec()),
                Value::Array(items) if key == "stack_trace" => {
                    reply.stack = items
                        .iter()
                        .map(|i| match i {
                            Value::Str(s) => s.to_string(),
                            other => format!("{other:?}"),
                        })
                        .collect()
                }
                _ => {}
            }
        }
        reply
    }

    fn invoke_with(&mut self, payload: &[u8], trace_id: Option<&str>) -> Reply {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        let body = rmp_serde::to_vec_named(&InvokeFrame {
            kind: "invoke",
            id: &id,
            payload,
            deadline_ms: now_ms() + 30_000,
            function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:behaviours",
            trace_id,
            client_context: None,
            cognito_identity: Some("{\"cognitoIdentityId\":\"c1\"}"),
            tenant_id: None,
        })
        .unwrap();
        self.send_raw(&frame(&body));
        let reply = self.read();
        assert_eq!(reply.get("id"), id, "reply to the invocation in flight");
        reply
    }

    fn invoke(&mut self, event: Json) -> Reply {
        self.invoke_with(&serde_json::to_vec(&event).unwrap(), None)
    }

    fn pid_and_count(&mut self) -> (u64, u64) {
        let stats = self.invoke(json!({"do": "stats"})).json();
        (
            stats["pid"].as_u64().unwrap(),
            stats["invocations"].as_u64().unwrap(),
        )
    }

    /// Closes stdin (unless `keep_stdin`) and waits; returns status and stderr.
    fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the worker did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr)
    }
}

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
