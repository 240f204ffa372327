//! Raw mode: the response is the event, byte for byte (no JSON parsing, so
//! whitespace, key order, `2.50` and non-ASCII text survive untouched).

use dispatcher_worker::{Context, Error};

fn main() {
    dispatcher_worker::run_raw(|event: &[u8], _ctx: Context| Ok::<_, Error>(event.to_vec()))
}
