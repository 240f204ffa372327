//! Serve AWS Lambda invocations from a long-lived Rust process behind the
//! lambda-dispatcher supervisor (wire protocol v1, `docs/protocol.md`).
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use dispatcher_worker::{Context, Error};
//!
//! #[derive(Deserialize)]
//! struct Request { name: Option<String> }
//!
//! #[derive(Serialize)]
//! struct Response { message: String }
//!
//! fn main() {
//!     dispatcher_worker::run(|req: Request, _ctx: Context| -> Result<Response, Error> {
//!         let name = req.name.unwrap_or_else(|| "world".into());
//!         Ok(Response { message: format!("Hello, {name}!") })
//!     })
//! }
//! ```
//!
//! Call [`run`] (or [`run_with_init`] / [`run_raw`]) first thing in `main`:
//! it moves the frame stream off stdin/stdout, so from then on `println!`
//! goes to the log (stderr) and stdin reads nothing.

// Low-level pieces, public for tests and tools; handlers need none of them.
pub mod channel;
pub mod msgpack;
pub mod protocol;

mod bigreply;
mod concurrent;
mod context;
mod error;
mod fastpath;
mod incoming;
mod outgoing;
pub mod logging;
mod panic;
mod stream;
mod trace_env;
mod worker;

pub use context::{Context, FunctionEnv};
pub use error::{from_boxed, Error, HandlerError, MARSHAL_ERROR, OPAQUE, PANIC, UNMARSHAL_ERROR};
pub use stream::{HttpPrelude, ResponseStream, CHUNK, HTTP_INTEGRATION_CONTENT_TYPE};

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Serves `handler` until the supervisor shuts the worker down; never returns.
///
/// The event is the invocation payload parsed as JSON into `E` (failure:
/// `Runtime.UnmarshalError`); the value is answered as `serde_json::to_vec`
/// of `R` (failure: `Runtime.MarshalError`). An `Err` or a panic answers the
/// invocation with an error and the worker goes on.
pub fn run<E, R, Err, H>(handler: H) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    Err: Into<Error>,
    H: Fn(E, Context) -> Result<R, Err>,
{
    run_with_init(
        || Ok::<(), Error>(()),
        move |_: &(), event, ctx| handler(event, ctx),
    )
}

/// Like [`run`], with an `init` that runs once before the first invocation
/// (after the stream is protected) and builds state the handler borrows:
/// clients, configuration, caches. An `Err` or a panic in `init` is reported
/// as `init_error` and the worker exits.
pub fn run_with_init<S, IErr, I, E, R, Err, H>(init: I, handler: H) -> !
where
    I: FnOnce() -> Result<S, IErr>,
    IErr: Into<Error>,
    E: DeserializeOwned,
    R: Serialize,
    Err: Into<Error>,
    H: Fn(&S, E, Context) -> Result<R, Err>,
{
    worker::serve(move || {
        let state = init().map_err(Into::into)?;
        Ok(
            move |payload: &[u8], ctx: Context| -> Result<Vec<u8>, Error> {
                let event: E = serde_json::from_slice(payload).map_err(|err| {
                    Error::new(
                        UNMARSHAL_ERROR,
                        format!("the event is not valid JSON for the handler's input type: {err}"),
                    )
                })?;
                let value = handler(&state, event, ctx).map_err(Into::into)?;
                serde_json::to_vec(&value).map_err(|err| {
                    Error::new(
                        MARSHAL_ERROR,
                        format!("the handler's value cannot be serialised as JSON: {err}"),
                    )
                })
            },
        )
    })
}

/// Serves a handler that takes the event bytes and returns the response
/// bytes, both untouched (no JSON parsing or encoding).
pub fn run_raw<Err, H>(handler: H) -> !
where
    Err: Into<Error>,
    H: Fn(&[u8], Context) -> Result<Vec<u8>, Err>,
{
    worker::serve(move || {
        Ok(move |payload: &[u8], ctx: Context| handler(payload, ctx).map_err(Into::into))
    })
}

/// Like [`run_raw`], for a handler that may answer with bytes borrowed from
/// the event (`Cow::Borrowed`: all of it, as an echo does, or a slice of
/// it): those are written from where they are, not copied into a `Vec`
/// first, and a large answer goes to the supervisor by `vmsplice`, without
/// the copy a `write` makes. `Cow::Owned` answers as `run_raw` does.
///
/// ```no_run
/// use std::borrow::Cow;
/// use dispatcher_worker::{Context, Error};
///
/// fn main() {
///     dispatcher_worker::run_raw_borrowed(|event: &[u8], _ctx: Context| {
///         Ok::<_, Error>(Cow::Borrowed(event))
///     })
/// }
/// ```
pub fn run_raw_borrowed<Err, H>(handler: H) -> !
where
    Err: Into<Error>,
    H: for<'e> Fn(&'e [u8], Context) -> Result<Cow<'e, [u8]>, Err>,
{
    worker::serve_with(move || {
        Ok(worker::borrowing(move |payload: &[u8], ctx: Context| {
            handler(payload, ctx).map_err(Into::into)
        }))
    })
}

/// Serves a streaming handler: it gets the event (JSON into `E`) and a
/// [`ResponseStream`], a `std::io::Write` sink whose writes reach the caller as
/// they happen (protocol feature `stream`). `Ok(())` ends the response; an
/// `Err` or a panic ends it with that error (after the first byte: in the
/// error trailers; before it: as an ordinary error). For a function URL, start
/// with [`ResponseStream::http_prelude`].
pub fn run_streaming<E, Err, H>(handler: H) -> !
where
    E: DeserializeOwned,
    Err: Into<Error>,
    H: Fn(E, Context, &mut ResponseStream<'_>) -> Result<(), Err>,
{
    worker::serve_streaming(move || {
        Ok(
            move |payload: &[u8],
                  ctx: Context,
                  out: &mut ResponseStream<'_>|
                  -> Result<(), Error> {
                let event: E = serde_json::from_slice(payload).map_err(|err| {
                    Error::new(
                        UNMARSHAL_ERROR,
                        format!("the event is not valid JSON for the handler's input type: {err}"),
                    )
                })?;
                handler(event, ctx, out).map_err(Into::into)
            },
        )
    })
}

/// Like [`run`], for Lambda Managed Instances: when the supervisor has N > 1
/// slots (it offers `multiplex` and says N in `DISPATCHER_CONCURRENCY`), the
/// worker announces `multiplex` and runs the handler on N threads, one
/// invocation each, answering in whatever order they finish. The name and
/// the model follow aws-lambda-rust-runtime's `run_concurrent`. The handler
/// is shared by the threads, hence `Sync`; with one slot this is [`run`].
///
/// The trace id is on `Context::xray_trace_id` only: `_X_AMZN_TRACE_ID` is
/// not set, as one process-wide variable cannot name N invocations.
pub fn run_concurrent<E, R, Err, H>(handler: H) -> !
where
    E: DeserializeOwned,
    R: Serialize,
    Err: Into<Error>,
    H: Fn(E, Context) -> Result<R, Err> + Sync,
{
    concurrent::serve_concurrent(move || {
        Ok(
            move |payload: &[u8], ctx: Context| -> Result<Vec<u8>, Error> {
                let event: E = serde_json::from_slice(payload).map_err(|err| {
                    Error::new(
                        UNMARSHAL_ERROR,
                        format!("the event is not valid JSON for the handler's input type: {err}"),
                    )
                })?;
                let value = handler(event, ctx).map_err(Into::into)?;
                serde_json::to_vec(&value).map_err(|err| {
                    Error::new(
                        MARSHAL_ERROR,
                        format!("the handler's value cannot be serialised as JSON: {err}"),
                    )
                })
            },
        )
    })
}

/// [`run_concurrent`] for a raw handler: event bytes in, response bytes out.
pub fn run_concurrent_raw<Err, H>(handler: H) -> !
where
    Err: Into<Error>,
    H: Fn(&[u8], Context) -> Result<Vec<u8>, Err> + Sync,
{
    concurrent::serve_concurrent(move || {
        Ok(move |payload: &[u8], ctx: Context| handler(payload, ctx).map_err(Into::into))
    })
}

/// Compiles the README's code blocks as doc tests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
