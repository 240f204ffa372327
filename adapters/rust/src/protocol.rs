//! Wire protocol v1 messages and their frame codec (sans-IO).
//!
//! `docs/protocol.md` is authoritative. Frames from the supervisor are
//! validated exactly as it says; every violation is a [`ProtocolError`] whose
//! `code` is the one the shared test vectors (`tests/vectors/`) and the
//! supervisor's `dispatcher/frames.py` use. Frames to the supervisor are
//! rmp-serde named maps (never positional arrays) with bin payloads.

use std::fmt;

use serde::Serialize;

use crate::msgpack::{self, DecodeError, Value};

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

/// Decodes a frame body (the bytes after the length prefix) from the supervisor.
pub fn decode_to_worker(body: &[u8]) -> Result<ToWorker<'_>, ProtocolError> {
    // The usual invoke takes the one-pass decoder; anything else, this one.
    match crate::fastpath::invoke(body) {
        Some(invoke) => Ok(ToWorker::Invoke(invoke)),
        None => decode_general(body),
    }
}

/// [`decode_to_worker`] through the general decoder only: every message,
/// every error named.
pub(crate) fn decode_general(body: &[u8]) -> Result<ToWorker<'_>, ProtocolError> {
    let (kind, map) = decode_map(body)?;
    match kind {
        "invoke" => {
            let fields = Fields { kind, map: &map };
            Ok(ToWorker::Invoke(Invoke {
                id: fields.str("id")?,
                payload: fields.bin("payload")?,
                deadline_ms: fields.int("deadline_ms")?,
                function_arn: fields.str("function_arn")?,
                trace_id: fields.opt_str("trace_id")?,
                client_context: fields.opt_str("client_context")?,
                cognito_identity: fields.opt_str("cognito_identity")?,
                tenant_id: fields.opt_str("tenant_id")?,
            }))
        }
        "shutdown" => Ok(ToWorker::Shutdown),
        other => Err(ProtocolError::new(
            "unknown_type",
            format!("unknown message type {other:?} from the supervisor"),
        )),
    }
}

/// A message's top-level entries, str keys in wire order.
pub type Entries<'a> = Vec<(&'a str, Value<'a>)>;

/// The generic frame checks shared by both directions: one msgpack value, a
/// map, str keys only, a str `type`. Returns the type and the pairs.
pub fn decode_map(body: &[u8]) -> Result<(&str, Entries<'_>), ProtocolError> {
    let value = msgpack::decode_one(body).map_err(|err| match err {
        DecodeError::TrailingBytes { .. } => ProtocolError::new(
            "trailing_data",
            "bytes follow the msgpack value inside the frame",
        ),
        other => ProtocolError::new(
            "invalid_msgpack",
            format!("the frame does not hold one msgpack value ({other})"),
        ),
    })?;
    let pairs = match value {
        Value::Map(pairs) => pairs,
        other => {
            return Err(ProtocolError::new(
                "not_a_map",
                format!("the frame holds a msgpack {}, not a map", other.kind()),
            ))
        }
    };
    let mut map = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match key {
            Value::Str(key) => map.push((key, value)),
            other => {
                return Err(ProtocolError::new(
                    "non_str_key",
                    format!("map key {other:?} is not a str"),
                ))
            }
        }
    }
    // The last occurrence of a duplicated key wins, as in every msgpack
    // library that builds a dictionary.
    let kind = match map.iter().rev().find(|(key, _)| *key == "type") {
        Some((_, Value::Str(kind))) => *kind,
        _ => {
            return Err(ProtocolError::new(
                "missing_type",
                "the map has no str `type` key",
            ))
        }
    };
    Ok((kind, map))
}

/// Typed access to the fields of one message, for `bad_field` diagnostics.
pub struct Fields<'m, 'a> {
    pub kind: &'a str,
    pub map: &'m [(&'a str, Value<'a>)],
}

impl<'m, 'a> Fields<'m, 'a> {
    pub fn get(&self, key: &str) -> Result<&'m Value<'a>, ProtocolError> {
        self.map
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                ProtocolError::new(
                    "bad_field",
                    format!("`{}` message without `{key}`", self.kind),
                )
            })
    }

    fn wrong(&self, key: &str, value: &Value<'_>, expected: &str) -> ProtocolError {
        ProtocolError::new(
            "bad_field",
            format!(
                "`{}.{key}` is a {}, not {expected}",
                self.kind,
                value.kind()
            ),
        )
    }

    pub fn str(&self, key: &str) -> Result<&'a str, ProtocolError> {
        match self.get(key)? {
            Value::Str(s) => Ok(s),
            other => Err(self.wrong(key, other, "str")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ProtocolError> {
        match self.get(key)? {
            Value::Str(s) => Ok(Some(s)),
            Value::Nil => Ok(None),
            other => Err(self.wrong(key, other, "str or nil")),
        }
    }

    pub fn bin(&self, key: &str) -> Result<&'a [u8], ProtocolError> {
        match self.get(key)? {
            Value::Bin(b) => Ok(b),
            other => Err(self.wrong(key, other, "bin")),
        }
    }

    pub fn int(&self, key: &str) -> Result<i128, ProtocolError> {
        match self.get(key)? {
            Value::Int(i) => Ok(*i),
            other => Err(self.wrong(key, other, "int")),
        }
    }
}

/// Encodes `msg` as one complete frame (length prefix included) into `out`,
/// replacing its contents, so the caller can send it with a single write and
/// reuse the allocation.
pub fn encode_into(
    msg: &ToSupervisor<'_>,
    out: &mut Vec<u8>,
) -> Result<(), rmp_serde::encode::Error> {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    rmp_serde::encode::write_named(out, msg)?;
    let n = u32::try_from(out.len() - HEADER_LEN)
        .map_err(|_| rmp_serde::encode::Error::Syntax("frame body exceeds 4 GiB".to_string()))?;
    out[..HEADER_LEN].copy_from_slice(&n.to_be_bytes());
    Ok(())
}

/// Encodes `msg` as one complete frame (convenience for tests and tools).
pub fn encode(msg: &ToSupervisor<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(msg, &mut out).expect("protocol messages always serialise");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        let n = check_length(frame[..4].try_into().unwrap(), DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(n, frame.len() - 4, "length prefix");
        &frame[4..]
    }

    #[test]
    fn ready_is_a_named_map_with_type_first() {
        let frame = encode(&ToSupervisor::Ready {
            protocol: 1,
            features: &[],
        });
        let mut expected = vec![0x83, 0xa4];
        expected.extend_from_slice(b"type");
        expected.push(0xa5);
        expected.extend_from_slice(b"ready");
        expected.push(0xa8);
        expected.extend_from_slice(b"protocol");
        expected.push(0x01);
        expected.push(0xa8);
        expected.extend_from_slice(b"features");
        expected.push(0x90);
        assert_eq!(body(&frame), &expected[..]);
    }

    #[test]
    fn result_payload_is_bin() {
        let frame = encode(&ToSupervisor::Result {
            id: "r1",
            payload: b"{\"a\":1}",
        });
        let (kind, map) = decode_map(body(&frame)).unwrap();
        assert_eq!(kind, "result");
        let fields = Fields { kind, map: &map };
        assert_eq!(fields.str("id").unwrap(), "r1");
        assert_eq!(fields.bin("payload").unwrap(), b"{\"a\":1}");
    }

    #[test]
    fn error_frames_carry_every_key() {
        let trace = vec!["at src/main.rs:3:5".to_string()];
        for msg in [
            ToSupervisor::Error {
                id: "x",
                error_type: "Panic",
                error_message: "boom",
                stack_trace: &trace,
            },
            ToSupervisor::InitError {
                error_type: "Panic",
                error_message: "boom",
                stack_trace: &trace,
            },
        ] {
            let frame = encode(&msg);
            let (_, map) = decode_map(body(&frame)).unwrap();
            let keys: Vec<&str> = map.iter().map(|(k, _)| *k).collect();
            assert!(
                keys.contains(&"error_type") && keys.contains(&"stack_trace"),
                "{keys:?}"
            );
            let fields = Fields {
                kind: "error",
                map: &map,
            };
            assert_eq!(fields.str("error_message").unwrap(), "boom");
            assert_eq!(
                fields.get("stack_trace").unwrap(),
                &Value::Array(vec![Value::Str("at src/main.rs:3:5")])
            );
        }
    }

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

    /// fixstr; every test string is under 32 bytes.
    fn fixstr(out: &mut Vec<u8>, text: &str) {
        out.push(0xa0 | text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }

    /// An invoke map, hand-encoded (independent of the rmp-serde encoder),
    /// with `payload` given as raw msgpack bytes.
    fn invoke_body(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x89];
        for text in ["type", "invoke", "id", "req-1", "deadline_ms"] {
            fixstr(&mut b, text);
        }
        b.extend_from_slice(&[0xcf, 0, 0, 1, 0x8f, 0, 0, 0, 0]); // uint64
        for (key, value) in [
            ("function_arn", Some("arn:x")),
            ("trace_id", None),
            ("client_context", None),
            ("cognito_identity", None),
            ("tenant_id", Some("t")),
        ] {
            fixstr(&mut b, key);
            match value {
                Some(v) => fixstr(&mut b, v),
                None => b.push(0xc0),
            }
        }
        fixstr(&mut b, "payload");
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn invoke_decodes_every_field() {
        let b = invoke_body(&[0xc4, 0x02, b'{', b'}']);
        let msg = decode_to_worker(&b).unwrap();
        assert_eq!(
            msg,
            ToWorker::Invoke(Invoke {
                id: "req-1",
                payload: b"{}",
                deadline_ms: 0x0000_018f_0000_0000,
                function_arn: "arn:x",
                trace_id: None,
                client_context: None,
                cognito_identity: None,
                tenant_id: Some("t"),
            })
        );
    }

    #[test]
    fn invoke_payload_as_str_is_a_bad_field() {
        let b = invoke_body(&[0xa2, b'{', b'}']);
        let err = decode_to_worker(&b).unwrap_err();
        assert_eq!(err.code, "bad_field");
        assert!(
            err.detail.contains("invoke.payload` is a str, not bin"),
            "{err}"
        );
    }

    #[test]
    fn generic_violations() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x91, 0x01], "not_a_map"),
            (&[0x81, 0x01, 0x01], "non_str_key"),
            (&[0x80], "missing_type"),
            (&[0x81, 0xa4, b't', b'y', b'p', b'e', 0x01], "missing_type"),
            (
                &[0x81, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'x'],
                "unknown_type",
            ),
            (&[0x80, 0xc0], "trailing_data"),
            (&[0x82, 0xa1], "invalid_msgpack"),
            (
                &[0x81, 0xa4, b't', b'y', b'p', b'e', 0xa7],
                "invalid_msgpack",
            ),
            (
                &[
                    0x81, 0xa4, b't', b'y', b'p', b'e', 0xa6, b'i', b'n', b'v', b'o', b'k', b'e',
                ],
                "bad_field",
            ),
        ];
        for (bytes, code) in cases {
            assert_eq!(
                decode_to_worker(bytes).unwrap_err().code,
                *code,
                "{bytes:02x?}"
            );
        }
        let shutdown = [
            0x81, 0xa4, b't', b'y', b'p', b'e', 0xa8, b's', b'h', b'u', b't', b'd', b'o', b'w',
            b'n',
        ];
        assert_eq!(decode_to_worker(&shutdown).unwrap(), ToWorker::Shutdown);
    }
}
