//! The worker loop: take the stream, run init, announce `ready`, then answer
//! each `invoke` until `shutdown` or EOF. The typed wrappers in `lib.rs`
//! reduce every handler to bytes in, bytes out, so this loop exists once.
//!
//! Exit statuses: 0 on shutdown/EOF; 70 (EX_SOFTWARE) on a malformed frame,
//! as protocol v1 requires; 74 (EX_IOERR) when the stream itself fails;
//! 71 (EX_OSERR) when the descriptors cannot be set up; 64 (EX_USAGE) when
//! started from a terminal; 1 after `init_error`.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::bigreply::Splicer;
use crate::channel::Channel;
use crate::context::{Context, FunctionEnv};
use crate::incoming::{frame_or_exit, invoke_or_exit};
use crate::outgoing::encode_reply;
use crate::error::Error;
use crate::logging;
use crate::panic;
use crate::protocol::{
    self, Invoke, ToSupervisor, DEFAULT_MAX_FRAME, FEATURES, PROTOCOL_VERSION,
};
use crate::stream::ResponseStream;

pub(crate) const EX_OK: i32 = 0;
const EX_INIT_FAILED: i32 = 1;
const EX_USAGE: i32 = 64;
pub(crate) const EX_SOFTWARE: i32 = 70;
const EX_OSERR: i32 = 71;
pub(crate) const EX_IOERR: i32 = 74;

/// `error_type` of a setup problem the supervisor caused (bad environment).
const CONFIG_ERROR: &str = "Runtime.ConfigError";
/// The feature of a worker that takes several invokes at once (docs/protocol.md).
pub(crate) const MULTIPLEX: &str = "multiplex";

/// Settings the supervisor passes in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub max_frame: usize,
    /// Invokes the supervisor may send at once to a worker that announces
    /// `multiplex`: `DISPATCHER_CONCURRENCY` when `DISPATCHER_FEATURES`
    /// offers `multiplex`, otherwise 1.
    pub slots: usize,
}

impl Settings {
    /// Reads `DISPATCHER_PROTOCOL` and `DISPATCHER_MAX_FRAME` through `var`.
    /// Absent variables (a worker started by hand) get the defaults; present
    /// but unusable ones are an error naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        if let Some(version) = var("DISPATCHER_PROTOCOL") {
            if version.trim() != PROTOCOL_VERSION.to_string() {
                return Err(format!(
                    "DISPATCHER_PROTOCOL is {version:?} but this dispatcher-worker crate speaks \
                     protocol {PROTOCOL_VERSION}: upgrade the crate or the supervisor so they match"
                ));
            }
        }
        let max_frame = match var("DISPATCHER_MAX_FRAME") {
            None => DEFAULT_MAX_FRAME,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "DISPATCHER_MAX_FRAME is {text:?}: expected a positive number of bytes"
                    ))
                }
            },
        };
        let offered = var("DISPATCHER_FEATURES")
            .map_or(false, |f| f.split(',').any(|x| x.trim() == MULTIPLEX));
        let slots = match var("DISPATCHER_CONCURRENCY") {
            Some(text) if offered => match text.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "DISPATCHER_CONCURRENCY is {text:?}: expected a positive number of slots"
                    ))
                }
            },
            _ => 1,
        };
        Ok(Settings { max_frame, slots })
    }
}

/// Runs the worker and exits the process. `init` runs after the stream is
/// safe from user code; it returns the invocation handler.
pub fn serve<I, H>(init: I) -> !
where
    I: FnOnce() -> Result<H, Error>,
    H: Fn(&[u8], Context) -> Result<Vec<u8>, Error>,
{
    serve_with(|| init().map(Owned))
}

/// [`serve`] for any [`Handler`] (one whose answer may borrow the event).
pub(crate) fn serve_with<I, H>(init: I) -> !
where
    I: FnOnce() -> Result<H, Error>,
    H: Handler,
{
    let (mut worker, handler, _) = start(init, false, false);
    let function = FunctionEnv::from_vars(|name: &str| std::env::var(name).ok());
    exit(worker.serve_invokes(&handler, &function))
}

/// A handler as the serving loop calls it: the answer may borrow from the
/// event's bytes (an echo), or own its bytes.
pub(crate) trait Handler {
    fn call<'e>(&self, payload: &'e [u8], ctx: Context) -> Result<Cow<'e, [u8]>, Error>;
}

/// A handler that answers owned bytes (`run`, `run_raw`, ...).
pub(crate) struct Owned<H>(pub(crate) H);

impl<H: Fn(&[u8], Context) -> Result<Vec<u8>, Error>> Handler for Owned<H> {
    fn call<'e>(&self, payload: &'e [u8], ctx: Context) -> Result<Cow<'e, [u8]>, Error> {
        (self.0)(payload, ctx).map(Cow::Owned)
    }
}

/// A handler whose answer may borrow from the event (`run_raw_borrowed`).
pub(crate) struct Borrowing<H>(H);

/// Wraps `handler`; the bound gives a closure its signature.
pub(crate) fn borrowing<H>(handler: H) -> Borrowing<H>
where
    H: for<'e> Fn(&'e [u8], Context) -> Result<Cow<'e, [u8]>, Error>,
{
    Borrowing(handler)
}

impl<H> Handler for Borrowing<H>
where
    H: for<'e> Fn(&'e [u8], Context) -> Result<Cow<'e, [u8]>, Error>,
{
    fn call<'e>(&self, payload: &'e [u8], ctx: Context) -> Result<Cow<'e, [u8]>, Error> {
        (self.0)(payload, ctx)
    }
}

/// [`serve`] for a streaming handler: it writes its response to a
/// [`ResponseStream`] instead of returning it.
pub fn serve_streaming<I, H>(init: I) -> !
where
    I: FnOnce() -> Result<H, Error>,
    H: Fn(&[u8], Context, &mut ResponseStream<'_>) -> Result<(), Error>,
{
    let (mut worker, handler, _) = start(init, false, true);
    let function = FunctionEnv::from_vars(|name: &str| std::env::var(name).ok());
    let can_stream = std::env::var("DISPATCHER_FEATURES")
        .map(|v| v.split(',').any(|f| f.trim() == "stream"))
        .unwrap_or(false);
    exit(crate::stream::serve_invokes(
        &mut worker.channel,
        &handler,
        &function,
        can_stream,
    ))
}

/// Sets the worker up: checks stdin, reads the settings, takes the stream,
/// runs `init` and announces `ready` (with `multiplex` when `concurrent` and
/// the supervisor offered more than one slot, `stream` for a streaming worker)
/// or `init_error` and exits.
/// Returns the worker, the handler and the number of slots to serve.
pub(crate) fn start<I, H>(init: I, concurrent: bool, streaming: bool) -> (Worker, H, usize)
where
    I: FnOnce() -> Result<H, Error>,
{
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        fail(
            EX_USAGE,
            "stdin is a terminal, but this program is a lambda-dispatcher worker that reads \
             msgpack frames there: run it through the supervisor, e.g. \
             `python -m dispatcher invoke --config dispatcher.yaml '{}'`",
        );
    }
    let env = |name: &str| std::env::var(name).ok();
    let settings = Settings::from_vars(env);
    let max_frame = settings.as_ref().map_or(DEFAULT_MAX_FRAME, |s| s.max_frame);
    let worker_slots = settings.as_ref().map_or(1, |s| s.slots);
    let channel = match Channel::take_stdio(max_frame) {
        Ok(channel) => channel,
        Err(err) => fail(
            EX_OSERR,
            &format!("cannot move the frame stream off fds 0/1: {err}"),
        ),
    };
    logging::install();
    let mut worker = Worker {
        channel,
        out: Vec::new(),
    };
    let handler = match settings
        .map_err(|msg| Error::new(CONFIG_ERROR, msg))
        .and_then(|_| panic::catch(init))
    {
        Ok(handler) => handler,
        Err(err) => {
            flush_std();
            worker.send(&ToSupervisor::InitError {
                error_type: &err.error_type,
                error_message: &err.message,
                stack_trace: &err.stack_trace,
            });
            exit(EX_INIT_FAILED);
        }
    };
    let slots = if concurrent { worker_slots } else { 1 };
    // `multiplex` with more than one slot; `stream` for a streaming worker (served with one).
    let features: &[&str] = if slots > 1 {
        &[MULTIPLEX]
    } else if streaming {
        FEATURES
    } else {
        &[]
    };
    worker.send(&ToSupervisor::Ready {
        protocol: PROTOCOL_VERSION,
        features,
    });
    (worker, handler, slots)
}

pub(crate) struct Worker {
    pub(crate) channel: Channel,
    /// The reply being built; reused so steady traffic does not allocate.
    out: Vec<u8>,
}

impl Worker {
    /// Answers invokes one at a time until `shutdown` or EOF. A large
    /// answer goes into the pipe by `vmsplice` (bigreply.rs): an owned one is
    /// then held until the supervisor has read it; one that lies in the
    /// input buffer (an echo) makes the next frame go into another buffer
    /// unless the supervisor has read it already.
    pub(crate) fn serve_invokes<H: Handler>(&mut self, handler: &H, function: &FunctionEnv) -> i32 {
        let max_frame = self.channel.max_frame();
        let mut splicer = Splicer::new(self.channel.output_fd());
        // The output offset just past an answer spliced from the input buffer.
        let mut input_spliced: Option<u64> = None;
        loop {
            if let Some(end) = input_spliced.take() {
                if !splicer.read_past(end) {
                    let old = self.channel.swap_buffer(splicer.take_spare());
                    splicer.hold(old, end, true);
                }
            }
            let (read, _) = self.channel.read_frame_and_output();
            let body = match frame_or_exit(read) {
                Some(body) => body,
                None => return EX_OK,
            };
            // A frame came: the supervisor has (usually) read the last answer.
            splicer.collect();
            let invoke = match invoke_or_exit(body) {
                Some(invoke) => invoke,
                None => return EX_OK,
            };
            logging::set_request(Some(invoke.id));
            let outcome = answer(&invoke, handler, function);
            if let Err(err) = &outcome {
                logging::log_error(err);
            }
            logging::set_request(None);
            flush_std();
            let tail = encode_reply(invoke.id, &outcome, max_frame, &mut self.out);
            // Spliced: owned bytes (held here) or the input buffer's own; a
            // borrowed answer from anywhere else is copied (its owner might change it).
            let in_input = body.as_ptr_range().start <= tail.as_ptr()
                && tail.as_ptr_range().end <= body.as_ptr_range().end;
            let owned = matches!(outcome, Ok(Cow::Owned(_)));
            let sent = if splicer.wants(tail.len()) && (owned || in_input) {
                splicer.send(&self.out, tail)
            } else {
                splicer.copy(&self.out, tail).map(|()| false)
            };
            match sent {
                Ok(false) => {}
                Ok(true) => match outcome {
                    Ok(Cow::Owned(bytes)) => splicer.hold(bytes, splicer.written(), false),
                    _ => input_spliced = Some(splicer.written()),
                },
                Err(err) => fail(EX_IOERR, &format!("cannot write a frame: {err}")),
            }
        }
    }

    fn send(&mut self, msg: &ToSupervisor<'_>) {
        if let Err(err) = protocol::encode_into(msg, &mut self.out) {
            fail(EX_SOFTWARE, &format!("cannot encode a frame: {err}"));
        }
        if let Err(err) = self.channel.write_frame(&self.out) {
            fail(EX_IOERR, &format!("cannot write a frame: {err}"));
        }
    }
}

/// Runs the handler for one invocation, panics included.
pub(crate) fn answer<'e, H: Handler>(
    invoke: &Invoke<'e>,
    handler: &H,
    function: &FunctionEnv,
) -> Result<Cow<'e, [u8]>, Error> {
    // The worker runs one invocation at a time on this one thread, so the
    // process-wide variable is exactly the current invocation's.
    set_trace_env(invoke.trace_id);
    let ctx = Context::new(invoke, function);
    panic::catch(|| handler.call(invoke.payload, ctx))
}

/// Sets `_X_AMZN_TRACE_ID` to an invocation's trace header, or unsets it
/// for an invocation without one (without glibc setenv's leak: trace_env.rs).
pub(crate) fn set_trace_env(trace: Option<&str>) {
    crate::trace_env::set(trace)
}

/// User output written with print! (no newline) sits in std's buffer; it
/// belongs in the log before the reply, not after the next invocation.
pub(crate) fn flush_std() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}

pub(crate) fn exit(code: i32) -> ! {
    flush_std();
    std::process::exit(code)
}

pub(crate) fn fail(code: i32, message: &str) -> ! {
    flush_std();
    eprintln!("dispatcher-worker: {message}");
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn settings_defaults_and_overrides() {
        assert_eq!(
            Settings::from_vars(vars(&[])).unwrap().max_frame,
            DEFAULT_MAX_FRAME
        );
        let s = Settings::from_vars(vars(&[
            ("DISPATCHER_PROTOCOL", "1"),
            ("DISPATCHER_MAX_FRAME", "1024"),
        ]));
        assert_eq!(s.unwrap().max_frame, 1024);
    }

    #[test]
    fn slots_only_when_multiplex_is_offered() {
        let slots = |pairs: &[(&str, &str)]| Settings::from_vars(vars(pairs)).map(|s| s.slots);
        assert_eq!(slots(&[]), Ok(1));
        assert_eq!(slots(&[("DISPATCHER_CONCURRENCY", "4")]), Ok(1));
        let offered = [
            ("DISPATCHER_FEATURES", "x,multiplex"),
            ("DISPATCHER_CONCURRENCY", "4"),
        ];
        assert_eq!(slots(&offered), Ok(4));
        let err = slots(&[
            ("DISPATCHER_FEATURES", "multiplex"),
            ("DISPATCHER_CONCURRENCY", "0"),
        ])
        .unwrap_err();
        assert!(err.contains("DISPATCHER_CONCURRENCY is \"0\""), "{err}");
    }

    #[test]
    fn settings_errors_name_the_variable() {
        let err = Settings::from_vars(vars(&[("DISPATCHER_MAX_FRAME", "16MB")])).unwrap_err();
        assert!(err.contains("DISPATCHER_MAX_FRAME is \"16MB\""), "{err}");
        let err = Settings::from_vars(vars(&[("DISPATCHER_PROTOCOL", "2")])).unwrap_err();
        assert!(err.contains("speaks protocol 1"), "{err}");
    }
}
