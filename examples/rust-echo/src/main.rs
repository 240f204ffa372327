//! Raw mode: the response is the event, byte for byte (no JSON parsing, so
//! whitespace, key order, `2.50` and non-ASCII text survive untouched).
//! The answer borrows the event (`run_raw_borrowed`), so it is not copied
//! into a new buffer, and a large one reaches the supervisor by `vmsplice`.

use std::borrow::Cow;

use dispatcher_worker::{Context, Error};

fn main() {
    dispatcher_worker::run_raw_borrowed(|event: &[u8], _ctx: Context| Ok::<_, Error>(Cow::Borrowed(event)))
}
