//! A streaming test worker whose behaviour the event picks, for
//! `tests/test_streaming.py` and the streaming benchmark. Event
//! `{"mode": MODE, ...}`:
//! - `big`: `size` bytes of a fixed pattern (i % 256 over 102400 bytes), in
//!   writes of 100 000 bytes (`piece` to change it);
//! - `slow`: a line, a pause of `pause` seconds, a line; each says when it was written;
//! - `http`: a function-URL response (status 201, headers, cookies) via the prelude helper;
//! - `iter`: chunks from an iterator;
//! - `fail`: writes, then returns an error; `panic`: writes, then panics.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dispatcher_worker::{Context, Error, HandlerError, HttpPrelude, ResponseStream};
use serde::Deserialize;

#[derive(Deserialize)]
struct Event {
    mode: String,
    #[serde(default)]
    size: usize,
    #[serde(default)]
    piece: Option<usize>,
    #[serde(default)]
    pause: f64,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn handler(event: Event, _ctx: Context, out: &mut ResponseStream<'_>) -> Result<(), Error> {
    match event.mode.as_str() {
        "big" => {
            let pattern: Vec<u8> = (0..102_400u32).map(|i| (i % 256) as u8).collect();
            let piece = event.piece.unwrap_or(100_000).min(pattern.len());
            let mut left = event.size;
            while left > 0 {
                let n = left.min(piece);
                out.write_all(&pattern[..n])?;
                left -= n;
            }
        }
        "slow" => {
            writeln!(out, "first {:.6}", now())?;
            std::thread::sleep(Duration::from_secs_f64(event.pause));
            writeln!(out, "second {:.6}", now())?;
        }
        "http" => {
            out.http_prelude(
                &HttpPrelude::new(201)
                    .header("content-type", "text/html")
                    .header("x-custom", "yes")
                    .cookie("a=1; Path=/")
                    .cookie("b=2"),
            )?;
            out.write_all(b"<h1>hello</h1>")?;
            out.write_all(b" streamed")?;
        }
        "iter" => out.send_all(["a;", "b;", "c;"])?,
        "fail" => {
            out.write_all(b"partial;")?;
            return Err(HandlerError::new("StreamBroke", "it broke").into());
        }
        "panic" => {
            out.write_all(b"partial;")?;
            panic!("stream panicked");
        }
        other => {
            return Err(HandlerError::new("UnknownMode", format!("unknown mode {other}")).into())
        }
    }
    Ok(())
}

fn main() {
    dispatcher_worker::run_streaming(handler)
}
