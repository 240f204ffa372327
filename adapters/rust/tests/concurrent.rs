//! `run_concurrent` over real pipes: the `concurrent` example binary plays the
//! worker, this file the supervisor. With `multiplex` offered and
//! DISPATCHER_CONCURRENCY=N the worker announces `multiplex`, runs up to N
//! invokes on their own threads and replies by id as each finishes.
//!
//! As tests/worker_*.rs: run the whole `cargo test` (it builds the examples).

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{next_message, spawn_worker, worker_command, Frames, InvokeFrame};
use dispatcher_worker::msgpack::Value;
use serde_json::{json, Value as Json};

#[derive(Debug)]
struct Frame {
    kind: String,
    strs: HashMap<String, String>,
    features: Vec<String>,
    payload: Option<Vec<u8>>,
}

impl Frame {
    fn json(&self) -> Json {
        assert_eq!(self.kind, "result", "expected a result, got {self:?}");
        serde_json::from_slice(self.payload.as_deref().unwrap()).unwrap()
    }
    fn id(&self) -> &str {
        &self.strs["id"]
    }
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Frames,
}

impl Worker {
    fn start(env: &[(&str, &str)]) -> Worker {
        let mut cmd = worker_command("concurrent", Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, stdin, frames) = spawn_worker(&mut cmd);
        Worker {
            child,
            stdin,
            frames,
        }
    }

    fn multiplexed(n: &str) -> Worker {
        Worker::start(&[
            ("DISPATCHER_FEATURES", "multiplex"),
            ("DISPATCHER_CONCURRENCY", n),
        ])
    }

    fn read(&mut self) -> Frame {
        let (kind, map) = next_message(&mut self.frames);
        let mut frame = Frame {
            kind: kind.to_string(),
            strs: HashMap::new(),
            features: Vec::new(),
            payload: None,
        };
        for (key, value) in map {
            match value {
                Value::Str(s) => {
                    frame.strs.insert(key.to_string(), s.to_string());
                }
                Value::Bin(b) if key == "payload" => frame.payload = Some(b.to_vec()),
                Value::Array(items) if key == "features" => {
                    frame.features = items.iter().map(|i| format!("{i:?}")).collect()
                }
                _ => {}
            }
        }
        frame
    }

    fn send(&mut self, id: &str, event: Json, trace_id: Option<&str>) {
        let payload = serde_json::to_vec(&event).unwrap();
        let out = InvokeFrame {
            kind: "invoke",
            id,
            payload: &payload,
            deadline_ms: 4_000_000_000_000,
            function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:concurrent",
            trace_id,
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
        }
        .to_wire();
        self.stdin.as_mut().unwrap().write_all(&out).unwrap();
    }

    fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not exit after EOF"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn announces_multiplex_only_when_offered_with_more_than_one_slot() {
    for (env, want) in [
        (
            vec![
                ("DISPATCHER_FEATURES", "multiplex"),
                ("DISPATCHER_CONCURRENCY", "4"),
            ],
            1,
        ),
        (
            vec![
                ("DISPATCHER_FEATURES", "multiplex"),
                ("DISPATCHER_CONCURRENCY", "1"),
            ],
            0,
        ),
        (
            vec![("DISPATCHER_FEATURES", ""), ("DISPATCHER_CONCURRENCY", "4")],
            0,
        ),
    ] {
        let mut w = Worker::start(&env);
        let ready = w.read();
        assert_eq!(ready.kind, "ready");
        assert_eq!(ready.features.len(), want, "{env:?}: {ready:?}");
        if want == 1 {
            assert!(ready.features[0].contains("multiplex"), "{ready:?}");
        }
        assert_eq!(w.finish(), 0);
    }
}

#[test]
fn sent_longest_first_they_finish_shortest_first_on_their_own_threads() {
    let mut w = Worker::multiplexed("4");
    assert_eq!(w.read().kind, "ready");
    for (i, ms) in [400, 300, 200, 100].iter().enumerate() {
        w.send(&format!("r{i}"), json!({"do": "sleep", "ms": ms}), None);
    }
    let replies: Vec<Frame> = (0..4).map(|_| w.read()).collect();
    // One at a time, the replies would come back in the order sent.
    let ids: Vec<&str> = replies.iter().map(Frame::id).collect();
    assert_eq!(ids, ["r3", "r2", "r1", "r0"]);
    let threads: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| r.json()["thread"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(threads.len(), 4, "one thread per slot: {threads:?}");
    assert_eq!(w.finish(), 0);
}

#[test]
fn a_panic_or_error_answers_only_its_own_invoke() {
    let mut w = Worker::multiplexed("3");
    assert_eq!(w.read().kind, "ready");
    w.send("slow", json!({"do": "sleep", "ms": 300}), None);
    w.send("boom", json!({"do": "panic"}), None);
    w.send("bad", json!({"do": "error"}), None);
    let mut got: HashMap<String, Frame> = HashMap::new();
    for _ in 0..3 {
        let f = w.read();
        got.insert(f.id().to_string(), f);
    }
    assert_eq!(got["boom"].kind, "error");
    assert!(
        got["boom"].strs["error_message"].contains("deliberate panic"),
        "{:?}",
        got["boom"]
    );
    assert_eq!(got["bad"].strs["error_type"], "InvalidOrder");
    assert_eq!(got["slow"].json()["slept_ms"], 300);
    // The slot whose handler panicked goes on serving.
    for i in 0..3 {
        w.send(&format!("after{i}"), json!({}), None);
    }
    for _ in 0..3 {
        assert_eq!(w.read().kind, "result");
    }
    assert_eq!(w.finish(), 0);
}

#[test]
fn trace_id_is_on_each_context_not_in_the_environment() {
    let mut w = Worker::multiplexed("2");
    assert_eq!(w.read().kind, "ready");
    w.send("a", json!({"do": "context"}), Some("Root=1-a"));
    w.send("b", json!({"do": "context"}), Some("Root=1-b"));
    let mut got: HashMap<String, Json> = HashMap::new();
    for _ in 0..2 {
        let f = w.read();
        got.insert(f.id().to_string(), f.json());
    }
    assert_eq!(got["a"]["xray_trace_id"], "Root=1-a");
    assert_eq!(got["b"]["xray_trace_id"], "Root=1-b");
    assert_eq!(got["a"]["env_trace_id"], Json::Null);
    assert_eq!(w.finish(), 0);
}

#[test]
fn eof_with_invokes_in_flight_answers_them_then_exits_0() {
    let mut w = Worker::multiplexed("2");
    assert_eq!(w.read().kind, "ready");
    w.send("late", json!({"do": "sleep", "ms": 200}), None);
    drop(w.stdin.take());
    let reply = w.read();
    assert_eq!(reply.id(), "late");
    assert_eq!(reply.json()["slept_ms"], 200);
    assert_eq!(w.finish(), 0);
}

#[test]
fn without_multiplex_it_serves_one_at_a_time_in_order() {
    let mut w = Worker::start(&[("DISPATCHER_CONCURRENCY", "4")]);
    assert_eq!(w.read().kind, "ready");
    w.send("slow", json!({"do": "sleep", "ms": 200}), None);
    w.send("fast", json!({}), None);
    assert_eq!(w.read().id(), "slow");
    assert_eq!(w.read().id(), "fast");
    assert_eq!(w.finish(), 0);
}
