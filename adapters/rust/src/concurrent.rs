//! The `multiplex` worker loop behind [`crate::run_concurrent`]: one thread
//! per slot, as aws-lambda-rust-runtime's `run_concurrent` runs one task per
//! slot on Lambda Managed Instances.
//!
//! The slot threads take turns at the input (leader/follower): the thread
//! holding the input lock reads the next frame, copies the invoke out of the
//! read buffer, lets the lock go and runs the handler itself, while the next
//! free thread takes the lock and waits for the frame after it. An invoke
//! therefore wakes exactly the thread that runs it (no reader thread handing
//! it over: one wake-up less per invocation). Each thread writes its reply
//! frame whole under the output lock, in whatever order they finish. The
//! supervisor sends at most N invokes at once. On `shutdown` or EOF the input
//! is marked closed, the invokes already taken are finished and answered,
//! and the process exits 0. When the supervisor offers one slot (or no
//! `multiplex`), this is the plain one-at-a-time loop.

use std::fs::File;
use std::sync::Mutex;
use std::thread;

use crate::context::{Context, FunctionEnv};
use crate::incoming::{frame_or_exit, invoke_or_exit};
use crate::error::Error;
use crate::panic;
use crate::channel::write_parts;
use crate::outgoing::encode_reply;
use crate::worker::{self, exit, fail, flush_std, EX_IOERR, EX_OK};

/// One invoke, owned: the read buffer is free for the next thread once it is copied out.
struct Job {
    id: String,
    payload: Vec<u8>,
    ctx: Context,
}

/// The input side, shared by the slot threads: the frame stream and whether
/// it has ended (`shutdown` or EOF).
struct Input {
    worker: worker::Worker,
    closed: bool,
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
        exit(worker.serve_invokes(&worker::Owned(&handler), &function));
    }
    let output = match worker.channel.clone_output() {
        Ok(file) => Mutex::new(file),
        Err(err) => fail(EX_IOERR, &format!("cannot share the frame output: {err}")),
    };
    let max_frame = worker.channel.max_frame();
    let input = Mutex::new(Input {
        worker,
        closed: false,
    });
    thread::scope(|scope| {
        for _ in 0..slots {
            let (input, output, handler, function) = (&input, &output, &handler, &function);
            scope.spawn(move || slot_thread(input, output, handler, function, max_frame));
        }
    });
    // Every thread has seen the input closed and answered what it took.
    exit(EX_OK)
}

/// The next invoke, owned, or None once the input is closed. Called with
/// no lock held; the input lock is held only while a frame is read.
fn next_job(input: &Mutex<Input>, function: &FunctionEnv) -> Option<Job> {
    // A poisoned lock cannot happen: nothing panics under it (a bad frame
    // ends the process from frame_or_exit / invoke_or_exit).
    let mut guard = input.lock().ok()?;
    let state = &mut *guard;
    if state.closed {
        return None;
    }
    let job = frame_or_exit(state.worker.channel.read_frame())
        .and_then(invoke_or_exit)
        .map(|invoke| Job {
            id: invoke.id.to_string(),
            payload: invoke.payload.to_vec(),
            ctx: Context::new(&invoke, function),
        });
    if job.is_none() {
        state.closed = true; // the others finish what they took, then stop here
    }
    job
}

fn slot_thread<H>(
    input: &Mutex<Input>,
    output: &Mutex<File>,
    handler: &H,
    function: &FunctionEnv,
    max_frame: usize,
) where
    H: Fn(&[u8], Context) -> Result<Vec<u8>, Error>,
{
    let mut out = Vec::new();
    while let Some(job) = next_job(input, function) {
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
