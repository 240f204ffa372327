//! A test worker for `run_concurrent` (tests/concurrent.rs, the supervisor tests
//! and the concurrency bench): one handler shared by one thread per slot.
//!
//! Event `{"do": ACTION, ...}`: `sleep` (`ms`), `hash` (`rounds` of FNV-1a
//! over a 4 KiB buffer: CPU-bound work), `context`, `panic`, `error`,
//! anything else says hello.

use std::sync::atomic::{AtomicU64, Ordering};

use dispatcher_worker::{Context, HandlerError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "do", default)]
    action: String,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    rounds: u64,
}

static SERVED: AtomicU64 = AtomicU64::new(0);

fn fnv_rounds(rounds: u64) -> u64 {
    let buf: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for r in 0..rounds {
        h ^= r;
        for &b in &buf {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn handle(event: Event, ctx: Context) -> Result<Value, HandlerError> {
    let n = SERVED.fetch_add(1, Ordering::SeqCst) + 1;
    let thread = format!("{:?}", std::thread::current().id());
    Ok(match event.action.as_str() {
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(event.ms));
            json!({"slept_ms": event.ms, "thread": thread})
        }
        "hash" => json!({"hash": fnv_rounds(event.rounds), "thread": thread}),
        "context" => json!({
            "request_id": ctx.request_id,
            "xray_trace_id": ctx.xray_trace_id,
            "env_trace_id": std::env::var("_X_AMZN_TRACE_ID").ok(),
        }),
        "panic" => panic!("deliberate panic in a slot thread"),
        "error" => return Err(HandlerError::new("InvalidOrder", "order has no items")),
        _ => json!({"hello": n, "thread": thread}),
    })
}

fn main() {
    dispatcher_worker::run_concurrent(handle)
}
