//! Frames to the supervisor: a [`ToSupervisor`] message as one rmp-serde
//! named map behind its length prefix. (The per-invocation replies are packed
//! by hand in `outgoing.rs`; its tests hold the two together.)

use super::{ToSupervisor, HEADER_LEN};

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
    use crate::msgpack::Value;
    use crate::protocol::{check_length, decode_map, Fields, DEFAULT_MAX_FRAME};

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
}
