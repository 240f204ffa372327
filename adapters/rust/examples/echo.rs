//! An echo worker for the adapter's pipe tests of large answers
//! (`tests/bigreply.rs`): the answer is the event itself, borrowed
//! (`run_raw_borrowed`), or with `ECHO_COPY` set a copy of it (`run_raw`).
//! Not an example to copy: see `examples/rust-echo` at the repository root.

use std::borrow::Cow;

use dispatcher_worker::{Context, Error};

fn main() {
    if std::env::var_os("ECHO_COPY").is_some() {
        dispatcher_worker::run_raw(|event: &[u8], _ctx: Context| Ok::<_, Error>(event.to_vec()))
    } else {
        dispatcher_worker::run_raw_borrowed(|event: &[u8], _ctx: Context| {
            Ok::<_, Error>(Cow::Borrowed(event))
        })
    }
}
