//! Frames from the supervisor: the usual `invoke` through the one-pass
//! decoder (`fastpath.rs`), everything else through the general decoder here,
//! which checks each frame as `docs/protocol.md` says and names every
//! violation with its [`ProtocolError`] code.

use crate::msgpack::{self, DecodeError, Value};

use super::{Invoke, ProtocolError, ToWorker};

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

#[cfg(test)]
mod tests {
    use super::*;

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
