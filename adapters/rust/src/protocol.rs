//! Wire protocol v1 messages and their frame codec (sans-IO).
//!
//! `docs/protocol.md` is authoritative. Frames from the supervisor are
//! validated exactly as it says; every violation is a [`ProtocolError`] whose
//! `code` is the one the shared test vectors (`tests/vectors/`) and the
//! supervisor's `dispatcher/frames.py` use. Frames to the supervisor are
//! rmp-serde named maps (never positional arrays) with bin payloads.
//!
//! This file holds the messages, their error type and the length prefix;
//! `protocol/decode.rs` decodes frames from the supervisor and
//! `protocol/encode.rs` encodes frames to it. Every item is used from here
//! (`dispatcher_worker::protocol::...`), whichever file defines it.

use std::fmt;

use serde::Serialize;

mod decode;
mod encode;

#[cfg(test)] // fastpath.rs tests the one-pass decoder against the general one
pub(crate) use decode::decode_general;
pub use decode::{decode_map, decode_to_worker, Entries, Fields};
pub use encode::{encode, encode_into};

/// Protocol version this adapter speaks (`ready.protocol`, `DISPATCHER_PROTOCOL`).
pub const PROTOCOL_VERSION: u32 = 1;
/// `max_frame` when `DISPATCHER_MAX_FRAME` is absent: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Length prefix: unsigned 32-bit big-endian.
pub const HEADER_LEN: usize = 4;

/// A frame from the supervisor that breaks protocol v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// Stable code shared with the test vectors, e.g. `frame_too_large`.
    pub code: &'static str,
    pub detail: String,
}

impl ProtocolError {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        ProtocolError {
            code,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.code)
    }
}

impl std::error::Error for ProtocolError {}

/// One `invoke`, borrowing from the frame buffer it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoke<'a> {
    pub id: &'a str,
    pub payload: &'a [u8],
    pub deadline_ms: i128,
    pub function_arn: &'a str,
    pub trace_id: Option<&'a str>,
    pub client_context: Option<&'a str>,
    pub cognito_identity: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
}

/// A message from the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToWorker<'a> {
    Invoke(Invoke<'a>),
    Shutdown,
}

/// A message to the supervisor. Serialised as a named map with `type` first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToSupervisor<'a> {
    Ready {
        protocol: u32,
        features: &'a [&'a str],
    },
    InitError {
        error_type: &'a str,
        error_message: &'a str,
        stack_trace: &'a [String],
    },
    Result {
        id: &'a str,
        #[serde(with = "serde_bytes")]
        payload: &'a [u8],
    },
    Error {
        id: &'a str,
        error_type: &'a str,
        error_message: &'a str,
        stack_trace: &'a [String],
    },
    /// Feature `stream`: the answer to `id` is a stream (`docs/protocol.md`).
    StreamOpen {
        id: &'a str,
        content_type: Option<&'a str>,
    },
    StreamChunk {
        id: &'a str,
        #[serde(with = "serde_bytes")]
        data: &'a [u8],
    },
    StreamEnd {
        id: &'a str,
    },
}

/// Optional frame kinds this adapter can send (announced in `ready`).
pub const FEATURES: &[&str] = &["stream"];

/// Checks a length prefix against `max_frame`; returns the body length.
pub fn check_length(header: [u8; HEADER_LEN], max_frame: usize) -> Result<usize, ProtocolError> {
    let n = u32::from_be_bytes(header) as usize;
    if n == 0 {
        return Err(ProtocolError::new("empty_frame", "frame length is 0"));
    }
    if n > max_frame {
        return Err(ProtocolError::new(
            "frame_too_large",
            format!("frame length {n} exceeds max_frame {max_frame} (DISPATCHER_MAX_FRAME)"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(
            check_length([0, 0, 0, 0], 10).unwrap_err().code,
            "empty_frame"
        );
        assert_eq!(
            check_length([0, 0, 0, 11], 10).unwrap_err().code,
            "frame_too_large"
        );
        assert_eq!(check_length([0, 0, 0, 10], 10).unwrap(), 10);
        assert_eq!(
            check_length([0xff; 4], DEFAULT_MAX_FRAME).unwrap_err().code,
            "frame_too_large"
        );
    }
}
