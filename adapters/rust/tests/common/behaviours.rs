//! The supervisor's side of the pipe-level tests of `examples/behaviours.rs`
//! (tests/worker_*.rs): start the example binary as the supervisor would,
//! send it frames, read its replies back as simple values.

// Each test file uses part of this harness (and tests/concurrent.rs none of it).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dispatcher_worker::msgpack::Value;
use serde_json::{json, Value as Json};

#[allow(unused_imports)] // worker_frames.rs and worker_lifecycle.rs use it
pub use super::frame;
use super::{next_message, spawn_worker, worker_command, Frames, InvokeFrame};

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A reply frame, simplified for assertions: strs, bins and str lists.
#[derive(Debug, Default)]
pub struct Reply {
    pub kind: String,
    pub strs: HashMap<String, String>,
    pub payload: Option<Vec<u8>>,
    pub stack: Vec<String>,
}

impl Reply {
    pub fn json(&self) -> Json {
        assert_eq!(self.kind, "result", "expected a result, got {self:?}");
        serde_json::from_slice(self.payload.as_deref().unwrap()).unwrap()
    }
    pub fn get(&self, key: &str) -> &str {
        self.strs
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
    }
}

pub struct Worker {
    pub child: Child,
    stdin: Option<ChildStdin>,
    frames: Frames,
    next_id: u32,
}

impl Worker {
    pub fn start(env: &[(&str, &str)]) -> Worker {
        let mut cmd = worker_command("behaviours", Stdio::piped());
        cmd.env("AWS_LAMBDA_FUNCTION_NAME", "behaviours")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env_remove("RUST_BACKTRACE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, stdin, frames) = spawn_worker(&mut cmd);
        Worker {
            child,
            stdin,
            frames,
            next_id: 0,
        }
    }

    pub fn ready() -> Worker {
        let mut w = Worker::start(&[]);
        assert_eq!(w.read().kind, "ready");
        w
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    }

    pub fn read(&mut self) -> Reply {
        let (kind, map) = next_message(&mut self.frames);
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

    pub fn invoke_with(&mut self, payload: &[u8], trace_id: Option<&str>) -> Reply {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        let wire = InvokeFrame {
            kind: "invoke",
            id: &id,
            payload,
            deadline_ms: now_ms() + 30_000,
            function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:behaviours",
            trace_id,
            client_context: None,
            cognito_identity: Some("{\"cognitoIdentityId\":\"c1\"}"),
            tenant_id: None,
        }
        .to_wire();
        self.send_raw(&wire);
        let reply = self.read();
        assert_eq!(reply.get("id"), id, "reply to the invocation in flight");
        reply
    }

    pub fn invoke(&mut self, event: Json) -> Reply {
        self.invoke_with(&serde_json::to_vec(&event).unwrap(), None)
    }

    pub fn pid_and_count(&mut self) -> (u64, u64) {
        let stats = self.invoke(json!({"do": "stats"})).json();
        (
            stats["pid"].as_u64().unwrap(),
            stats["invocations"].as_u64().unwrap(),
        )
    }

    /// Closes stdin (unless `keep_stdin`) and waits; returns status and stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
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
