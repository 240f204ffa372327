//! Streamed responses (protocol feature `stream`, `docs/protocol.md`
//! "Streaming"): a streaming handler gets a [`ResponseStream`], a
//! `std::io::Write` sink whose every write goes to the supervisor at once as
//! `stream_chunk` frames, and on to Lambda as the response streams.
//!
//! ```no_run
//! use std::io::Write;
//! use dispatcher_worker::{Context, Error, HttpPrelude, ResponseStream};
//!
//! fn main() {
//!     dispatcher_worker::run_streaming(|_event: serde_json::Value, _ctx: Context, out: &mut ResponseStream<'_>| -> Result<(), Error> {
//!         out.http_prelude(&HttpPrelude::new(200).header("content-type", "text/plain"))?;
//!         for i in 0..3 {
//!             writeln!(out, "line {i}")?;
//!         }
//!         Ok(())
//!     })
//! }
//! ```

use std::fs::File;
use std::io::{self, Write};

use crate::channel::{write_parts, Channel};
use crate::context::{Context, FunctionEnv};
use crate::incoming::{frame_or_exit, invoke_or_exit};
use crate::error::{Error, MARSHAL_ERROR};
use crate::outgoing::encode_bin_head;
use crate::panic;
use crate::protocol::{self, ToSupervisor};
use crate::worker::{fail, flush_std, set_trace_env, EX_IOERR, EX_OK};

/// The content type of a function-URL response: JSON prelude, 8 NULs, body.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";
/// The largest `stream_chunk` the adapter sends; bigger writes are cut.
pub const CHUNK: usize = 128 * 1024;
const STREAM_MISUSE: &str = "Runtime.InvalidStreamingOperation";

/// Status, headers and cookies of a function-URL response ([`ResponseStream::http_prelude`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPrelude {
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<String>,
}

impl HttpPrelude {
    pub fn new(status_code: u16) -> Self {
        HttpPrelude {
            status_code,
            headers: Vec::new(),
            cookies: Vec::new(),
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookies.push(cookie.into());
        self
    }

    /// The prelude's bytes: its JSON, then the 8 NULs that end it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut doc = serde_json::json!({ "statusCode": self.status_code });
        if !headers.is_empty() {
            doc["headers"] = serde_json::Value::Object(headers);
        }
        if !self.cookies.is_empty() {
            doc["cookies"] = serde_json::json!(self.cookies);
        }
        let mut out = serde_json::to_vec(&doc).expect("a JSON value always serialises");
        out.extend_from_slice(&[0u8; 8]);
        out
    }
}

/// The response of one streaming invocation. Bytes written are sent as they
/// are written; the stream ends when the handler returns (an `Err` or a
/// panic ends it with an error, which the supervisor reports in the error
/// trailers, or as an ordinary error when nothing was written yet).
pub struct ResponseStream<'a> {
    output: &'a mut File,
    id: &'a str,
    content_type: Option<String>,
    opened: bool,
    frame: Vec<u8>,
    written: u64,
}

impl<'a> ResponseStream<'a> {
    pub(crate) fn new(output: &'a mut File, id: &'a str) -> Self {
        ResponseStream {
            output,
            id,
            content_type: None,
            opened: false,
            frame: Vec::new(),
            written: 0,
        }
    }

    /// Sets the response's content type (default `application/octet-stream`);
    /// only before the first byte is written.
    pub fn set_content_type(&mut self, content_type: impl Into<String>) -> Result<(), Error> {
        if self.opened {
            return Err(Error::new(
                STREAM_MISUSE,
                "cannot set the content type after the first byte was written",
            ));
        }
        self.content_type = Some(content_type.into());
        Ok(())
    }

    /// Starts a function-URL response: the content type, then the prelude
    /// (status, headers, cookies) and its 8 NULs; the body follows.
    pub fn http_prelude(&mut self, prelude: &HttpPrelude) -> Result<(), Error> {
        self.set_content_type(HTTP_INTEGRATION_CONTENT_TYPE)?;
        let bytes = prelude.to_bytes();
        if bytes[..bytes.len() - 8].contains(&0) {
            return Err(Error::new(
                STREAM_MISUSE,
                "the HTTP prelude (status, headers, cookies) must not contain NUL",
            ));
        }
        self.write_all(&bytes)
            .map_err(|err| Error::new(STREAM_MISUSE, err.to_string()))
    }

    /// Sends every chunk of `chunks` in turn (a handler that has an iterator).
    pub fn send_all<I, B>(&mut self, chunks: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for chunk in chunks {
            self.write_all(chunk.as_ref())?;
        }
        Ok(())
    }

    /// Body bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn send(&mut self, msg: &ToSupervisor<'_>) -> io::Result<()> {
        protocol::encode_into(msg, &mut self.frame)
            .map_err(|e| io::Error::new(io::ErrorKind::Other, e.to_string()))?;
        self.output.write_all(&self.frame)
    }

    fn open(&mut self) -> io::Result<()> {
        if !self.opened {
            self.opened = true;
            let content_type = self.content_type.take();
            self.send(&ToSupervisor::StreamOpen {
                id: self.id,
                content_type: content_type.as_deref(),
            })?;
        }
        Ok(())
    }

    /// Ends the stream after the handler returned `Ok`.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.open()?;
        let id = self.id;
        self.send(&ToSupervisor::StreamEnd { id })
    }
}

impl Write for ResponseStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.open()?;
        let id = self.id;
        for data in buf.chunks(CHUNK) {
            // The head is packed here and `data` written behind it from the
            // caller's buffer: one writev, no copy into a frame.
            encode_bin_head("stream_chunk", id, "data", data.len(), &mut self.frame)
                .expect("a chunk is at most CHUNK bytes");
            write_parts(self.output, &self.frame, data)?;
            self.written += data.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // every write is sent at once
    }
}

/// The invoke loop of a streaming worker (`run_streaming`): the handler's
/// ResponseStream writes the frames; a failure is one `error` frame.
pub(crate) fn serve_invokes<H>(
    channel: &mut Channel,
    handler: &H,
    function: &FunctionEnv,
    can_stream: bool,
) -> i32
where
    H: Fn(&[u8], Context, &mut ResponseStream<'_>) -> Result<(), Error>,
{
    loop {
        // The response stream writes while the invoke still borrows the
        // read buffer: the output comes along, the invoke is not copied.
        let (read, output) = channel.read_frame_and_output();
        let body = match frame_or_exit(read) {
            Some(body) => body,
            None => return EX_OK,
        };
        let invoke = match invoke_or_exit(body) {
            Some(invoke) => invoke,
            None => return EX_OK,
        };
        let mut io_error = None;
        let outcome = if can_stream {
            set_trace_env(invoke.trace_id);
            let ctx = Context::new(&invoke, function);
            let mut out = ResponseStream::new(output, invoke.id);
            let outcome = panic::catch(|| handler(invoke.payload, ctx, &mut out));
            flush_std();
            match outcome {
                Ok(()) => {
                    if let Err(err) = out.finish() {
                        io_error = Some(err);
                    }
                    Ok(())
                }
                Err(err) => Err(err),
            }
        } else {
            Err(Error::new(
                MARSHAL_ERROR,
                "this worker streams (run_streaming), but the supervisor did not announce feature \
                 `stream` in DISPATCHER_FEATURES; run it under a supervisor that streams",
            ))
        };
        if let Some(err) = io_error {
            fail(EX_IOERR, &format!("cannot write a frame: {err}"));
        }
        if let Err(err) = outcome {
            // Ends an open stream with the error, or answers the invoke.
            let msg = ToSupervisor::Error {
                id: invoke.id,
                error_type: &err.error_type,
                error_message: &err.message,
                stack_trace: &err.stack_trace,
            };
            let frame = protocol::encode(&msg);
            if let Err(err) = output.write_all(&frame) {
                fail(EX_IOERR, &format!("cannot write a frame: {err}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_bytes() {
        let p = HttpPrelude::new(201)
            .header("content-type", "text/html")
            .cookie("a=1");
        assert_eq!(
            p.to_bytes(),
            [
                &br#"{"cookies":["a=1"],"headers":{"content-type":"text/html"},"statusCode":201}"#
                    [..],
                &[0u8; 8]
            ]
            .concat()
        );
        assert_eq!(
            HttpPrelude::new(200).to_bytes(),
            [&br#"{"statusCode":200}"#[..], &[0u8; 8]].concat()
        );
    }
}
