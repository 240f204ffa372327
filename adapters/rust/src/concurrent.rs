//! The `multiplex` worker loop behind [`crate::run_concurrent`]: one thread
//! per slot, as aws-lambda-rust-runtime's `run_concurrent` runs one task per
//! slot on Lambda Managed Instances.
//!
//! The main thread reads frames and queues each `invoke` (copied out of the
//! read buffer); N handler threads take them from the queue, run the handler
//! and write their reply frame whole under a lock, in whatever order they
//! finish. The supervisor sends at most N invokes at once. On `shutdown` or
//! EOF the queue is closed, the invokes already taken are finished and
//! answered, and the process exits 0. When the supervisor offers one slot
//! (or no `multiplex`), this is the plain one-at-a-time loop.

use std::fs::File;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::context::{Context, FunctionEnv};
use crate::incoming::{frame_or_exit, invoke_or_exit};
use crate::error::Error;
use crate::panic;
use crate::channel::write_parts;
use crate::outgoing::encode_reply;
use crate::worker::{self, exit, fail, flush_std, EX_IOERR, EX_OK, EX_SOFTWARE};

/// One invoke, owned, on its way to a handler thread.
struct Job {
    id: String,
    payload: Vec<u8>,
    ctx: Context,
}

/// Serves with one handler thread per slot; never returns.
pub(crate) fn serve_concurrent<I, H>(init: I) -> !
where
    I: FnOnce() -> Result<H, Error>,
    H: Fn(&[u8], Context) -> Result<Vec<u8>, Error> + Sync,
{
    let (mut worker, handler, slots) = worker::start(init, true, false);
    let function = FunctionEnv::from_vars(|name: &str| std::env::var(name).ok());
    if slots <= 1 {
        exit(worker.serve_invokes(&handler, &function));
    }
    let output = match worker.channel.clone_output() {
        Ok(file) => Arc::new(Mutex::new(file)),
        Err(err) => fail(EX_IOERR, &format!("cannot share the frame output: {err}")),
    };
    let max_frame = worker.channel.max_frame();
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let code = thread::scope(|scope| {
        for _ in 0..slots {
            let rx = Arc::clone(&rx);
            let output = Arc::clone(&output);
            let handler = &handler;
            scope.spawn(move || handler_thread(&rx, &output, handler, max_frame));
        }
        let code = read_loop(&mut worker, &function, &tx);
        drop(tx); // handler threads finish what they took, then see the queue closed
        code
    });
    exit(code)
}

fn read_loop(worker: &mut worker::Worker, function: &FunctionEnv, tx: &mpsc::Sender<Job>) -> i32 {
    loop {
        let body = match frame_or_exit(worker.channel.read_frame()) {
            Some(body) => body,
            None => return EX_OK,
        };
        let job = match invoke_or_exit(body) {
            Some(invoke) => Job {
                id: invoke.id.to_string(),
                payload: invoke.payload.to_vec(),
                ctx: Context::new(&invoke, function),
            },
            None => return EX_OK,
        };
        if tx.send(job).is_err() {
            fail(
                EX_SOFTWARE,
                "every handler thread has ended; exiting with status 70",
            );
        }
    }
}

fn handler_thread<H>(
    rx: &Mutex<mpsc::Receiver<Job>>,
    output: &Mutex<File>,
    handler: &H,
    max_frame: usize,
) where
    H: Fn(&[u8], Context) -> Result<Vec<u8>, Error>,
{
    let mut out = Vec::new();
    loop {
        // The lock is held only while waiting for the next job, never while
        // a handler runs; a poisoned lock cannot happen (nothing panics under it).
        let job = match rx.lock().map(|r| r.recv()) {
            Ok(Ok(job)) => job,
            _ => return,
        };
        // The trace id stays on the context: _X_AMZN_TRACE_ID is one
        // process-wide variable and would name whichever invoke came last.
        let Job { id, payload, ctx } = job;
        let outcome = panic::catch(|| handler(&payload, ctx));
        flush_std();
        let tail = encode_reply(&id, &outcome, max_frame, &mut out);
        let written = match output.lock() {
            Ok(mut file) => write_parts(&mut *file, &out, tail),
            Err(_) => return,
        };
        if let Err(err) = written {
            fail(EX_IOERR, &format!("cannot write a frame: {err}"));
        }
    }
}
