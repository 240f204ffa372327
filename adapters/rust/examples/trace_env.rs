//! A test worker for `_X_AMZN_TRACE_ID` (tests/test_trace_env.py): the event
//! `"look"` answers what the handler, C's getenv, another thread and a child
//! process see of the variable (null when unset); any other event answers
//! `{}` at once, for the long runs that watch the worker's memory.

use std::ffi::CStr;
use std::process::Command;

use dispatcher_worker::{Context, Error};
use serde_json::json;

const NAME: &str = "_X_AMZN_TRACE_ID";

fn c_getenv() -> Option<String> {
    // SAFETY: a NUL-terminated name; the value is copied at once.
    let p = unsafe { libc::getenv(b"_X_AMZN_TRACE_ID\0".as_ptr().cast()) };
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn look() -> Result<Vec<u8>, Error> {
    let thread = std::thread::spawn(|| std::env::var(NAME).ok())
        .join()
        .map_err(|_| Error::new("ThreadError", "the reading thread panicked"))?;
    let child = Command::new("sh")
        .args(["-c", "printf %s \"${_X_AMZN_TRACE_ID-<unset>}\""])
        .output()
        .map_err(|e| Error::new("SpawnError", e.to_string()))?;
    let child = String::from_utf8_lossy(&child.stdout).into_owned();
    let reply = json!({
        "env": std::env::var(NAME).ok(),
        "c": c_getenv(),
        "thread": thread,
        "child": (child != "<unset>").then_some(child),
    });
    Ok(serde_json::to_vec(&reply).expect("a JSON value serialises"))
}

fn handle(event: &[u8], _ctx: Context) -> Result<Vec<u8>, Error> {
    if event == b"\"look\"" {
        return look();
    }
    Ok(b"{}".to_vec())
}

fn main() {
    dispatcher_worker::run_raw(handle)
}
