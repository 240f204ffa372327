//! A test worker whose behaviour the event picks, for the adapter's own
//! integration tests (`tests/worker_*.rs`) and the supervisor tests
//! (`tests/test_rust_adapter.py`). Not an example to copy: see
//! `examples/rust-hello` at the repository root for that.
//!
//! Event `{"do": ACTION, ...}`; init is chosen by `BEHAVIOURS_INIT`
//! (`fail` returns an error, `panic` panics, `print` prints, anything else
//! succeeds). The `*_once` actions misbehave on their first invocation and
//! answer `stats` afterwards, so `dispatcher invoke --repeat 2` shows whether
//! the same worker (`error_once`, `panic_once`) or a fresh one (`abort_once`,
//! which remembers through the file `marker`) served the second one.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::process::Command;

use dispatcher_worker::{Context, Error, HandlerError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "do", default)]
    action: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    marker: Option<String>,
}

/// One reply type for every action; `Unserialisable` has non-str map keys,
/// which serde_json refuses (the `marshal` action).
#[derive(Serialize)]
#[serde(untagged)]
enum Reply {
    Json(Value),
    Unserialisable(BTreeMap<Vec<u8>, u8>),
}

#[derive(Debug)]
struct BadRequest(String);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad request: {}", self.0)
    }
}

impl std::error::Error for BadRequest {}

#[derive(Debug)]
struct InitFailed;

impl fmt::Display for InitFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("init failed on purpose (BEHAVIOURS_INIT=fail)")
    }
}

impl std::error::Error for InitFailed {}

struct State {
    invocations: Cell<u64>,
}

fn init() -> Result<State, InitFailed> {
    match std::env::var("BEHAVIOURS_INIT").as_deref() {
        Ok("fail") => Err(InitFailed),
        Ok("panic") => panic!("init panicked on purpose"),
        Ok("print") => {
            println!("printed to stdout during init");
            Ok(State {
                invocations: Cell::new(0),
            })
        }
        _ => Ok(State {
            invocations: Cell::new(0),
        }),
    }
}

fn handle(state: &State, event: Event, ctx: Context) -> Result<Reply, Error> {
    state.invocations.set(state.invocations.get() + 1);
    let first = state.invocations.get() == 1;
    let action = match event.action.as_str() {
        "error_once" if first => "error",
        "panic_once" if first => "panic",
        "abort_once" => {
            let marker = event
                .marker
                .as_deref()
                .ok_or_else(|| HandlerError::new("BadEvent", "abort_once needs a marker path"))?;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(marker)
            {
                Ok(_) => "abort",
                Err(_) => "stats",
            }
        }
        "error_once" | "panic_once" => "stats",
        other => other,
    };
    let reply = match action {
        "" | "hello" => {
            json!({"message": format!("Hello, {}!", event.name.as_deref().unwrap_or("world"))})
        }
        "error" => return Err(BadRequest("no order id".into()).into()),
        "handler_error" => {
            return Err(HandlerError::new("InvalidOrder", "order has no items").into())
        }
        "panic" => panic!("deliberate panic"),
        "log" => {
            log::trace!("trace line");
            log::debug!("debug line");
            log::info!("info line {}", 7);
            log::warn!("warn line");
            log::error!("two\nlines");
            eprintln!("eprintln line");
            json!({"logged": true})
        }
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "marshal" => return Ok(Reply::Unserialisable(BTreeMap::from([(vec![1], 1)]))),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(event.ms));
            json!({"slept_ms": event.ms})
        }
        "print" => {
            println!("println from the handler");
            print!("print without newline");
            // A child inherits fds 0/1: its `cat` must see EOF at once (not
            // the supervisor's frames) and its echo must land in the log.
            let status = Command::new("sh")
                .args(["-c", "cat; echo child wrote to its stdout"])
                .status()
                .map_err(|e| Error::new("SpawnError", e.to_string()))?;
            json!({"printed": true, "child_status": status.code()})
        }
        "context" => json!({
            "request_id": ctx.request_id,
            "deadline_ms": ctx.deadline_ms,
            "remaining_ms": ctx.remaining_time().as_millis() as u64,
            "invoked_function_arn": ctx.invoked_function_arn,
            "xray_trace_id": ctx.xray_trace_id,
            "env_trace_id": std::env::var("_X_AMZN_TRACE_ID").ok(),
            "client_context": ctx.client_context,
            "identity": ctx.identity,
            "tenant_id": ctx.tenant_id,
            "function_name": ctx.function_name,
            "memory_limit_in_mb": ctx.memory_limit_in_mb,
        }),
        "stats" => json!({"pid": std::process::id(), "invocations": state.invocations.get()}),
        other => {
            return Err(
                HandlerError::new("UnknownAction", format!("unknown action {other:?}")).into(),
            )
        }
    };
    Ok(Reply::Json(reply))
}

fn main() {
    dispatcher_worker::run_with_init(init, handle)
}
