//! Packing what the worker answers, for every serving loop (run,
//! run_concurrent, run_streaming): the `result` or `error` frame of an
//! outcome, and the head of a frame that ends with a bin (`result.payload`,
//! `stream_chunk.data`) packed by hand, so that the bin is written from where
//! the handler left it instead of being copied into a frame buffer.
//!
//! The hand-packed head is byte for byte what rmp-serde writes for the same
//! message (`protocol::encode_into`); the tests below hold them together.

use crate::error::Error;
use crate::protocol::{self, ToSupervisor, HEADER_LEN};
use crate::worker::{fail, EX_SOFTWARE};

/// `error_type` of a response larger than a frame may be.
pub(crate) const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";

/// Payloads up to this size are copied behind their head, so the frame goes
/// out with one plain `write`; larger ones go out in place with one `writev`.
pub(crate) const COPY_LIMIT: usize = 16 * 1024;

fn put_str(out: &mut Vec<u8>, text: &str) {
    let n = text.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65_536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(text.as_bytes());
}

fn put_bin_len(out: &mut Vec<u8>, n: usize) {
    if n < 256 {
        out.extend_from_slice(&[0xc4, n as u8]);
    } else if n < 65_536 {
        out.push(0xc5);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Packs into `out` (replacing its contents) the head of the frame
/// `{type: kind, id, key: <bin of len bytes>}`: length prefix, map, and the
/// bin's header; the frame is complete once the `len` bytes follow. Returns
/// the frame body's length, or None when it would not fit a u32 prefix
/// (more than 4 GiB, which no `max_frame` allows).
pub(crate) fn encode_bin_head(
    kind: &str,
    id: &str,
    key: &str,
    len: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.extend_from_slice(b"\x83\xa4type");
    put_str(out, kind);
    out.extend_from_slice(b"\xa2id");
    put_str(out, id);
    put_str(out, key);
    if u32::try_from(len).is_err() {
        return None;
    }
    put_bin_len(out, len);
    let body = (out.len() - HEADER_LEN).checked_add(len)?;
    let prefix = u32::try_from(body).ok()?;
    out[..HEADER_LEN].copy_from_slice(&prefix.to_be_bytes());
    Some(body)
}

/// Packs the `result` or `error` frame answering `id` with `outcome`: `out`
/// gets the frame, or its head when the returned slice (the payload, left
/// where it is) is not empty and must be written right behind it. A result
/// that would exceed `max_frame` is answered with an error instead: the
/// supervisor would otherwise have to reject the frame and replace us.
pub(crate) fn encode_reply<'p, P: AsRef<[u8]>>(
    id: &str,
    outcome: &'p Result<P, Error>,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> &'p [u8] {
    let too_large;
    let err = match outcome {
        Ok(payload) => match encode_bin_head("result", id, "payload", payload.as_ref().len(), out) {
            Some(body) if body <= max_frame => {
                let payload = payload.as_ref();
                if payload.len() <= COPY_LIMIT {
                    out.extend_from_slice(payload);
                    return &[];
                }
                return payload;
            }
            _ => {
                too_large = Error::new(
                    RESPONSE_TOO_LARGE,
                    format!(
                        "the response is {} bytes; a frame may hold at most {max_frame} \
                         (dispatcher.yaml max_frame)",
                        payload.as_ref().len()
                    ),
                );
                &too_large
            }
        },
        Err(err) => err,
    };
    encode_error(id, err, max_frame, out);
    &[]
}

/// The `error` frame answering `id`; a message too large for a frame is cut.
pub(crate) fn encode_error(id: &str, err: &Error, max_frame: usize, out: &mut Vec<u8>) {
    let msg = ToSupervisor::Error {
        id,
        error_type: &err.error_type,
        error_message: &err.message,
        stack_trace: &err.stack_trace,
    };
    if let Err(e) = protocol::encode_into(&msg, out) {
        fail(EX_SOFTWARE, &format!("cannot encode an error frame: {e}"));
    }
    if out.len() - HEADER_LEN > max_frame {
        // A huge message or stack: keep the type and a readable cut.
        let cut = truncate_chars(&err.message, (max_frame / 2).min(64 * 1024));
        let msg = ToSupervisor::Error {
            id,
            error_type: &err.error_type,
            error_message: &cut,
            stack_trace: &[],
        };
        if let Err(e) = protocol::encode_into(&msg, out) {
            fail(EX_SOFTWARE, &format!("cannot encode an error frame: {e}"));
        }
    }
}

fn truncate_chars(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... [truncated]", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(frame: &[u8]) -> (String, Vec<(String, String)>) {
        let (kind, map) = protocol::decode_map(&frame[4..]).unwrap();
        let strs = map
            .iter()
            .filter_map(|(k, v)| match v {
                crate::msgpack::Value::Str(s) => Some((k.to_string(), s.to_string())),
                _ => None,
            })
            .collect();
        (kind.to_string(), strs)
    }

    /// The frame as written: `out` then the returned tail.
    fn reply(outcome: Result<Vec<u8>, Error>, max_frame: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let tail = encode_reply("r", &outcome, max_frame, &mut out);
        [&out[..], tail].concat()
    }

    #[test]
    fn heads_match_the_serde_encoder_at_every_length_boundary() {
        let ids: Vec<String> = [0, 1, 31, 32, 255, 256, 65_535, 65_536]
            .iter()
            .map(|&n| "i".repeat(n))
            .collect();
        let lens = [
            0,
            1,
            255,
            256,
            COPY_LIMIT,
            COPY_LIMIT + 1,
            65_535,
            65_536,
            70_000,
        ];
        let mut head = Vec::new();
        for id in &ids {
            for &len in &lens {
                let payload = vec![7u8; len];
                let want = protocol::encode(&ToSupervisor::Result {
                    id,
                    payload: &payload,
                });
                let body = encode_bin_head("result", id, "payload", len, &mut head).unwrap();
                assert_eq!(body, want.len() - HEADER_LEN);
                assert_eq!(
                    [&head[..], &payload].concat(),
                    want,
                    "id {} bytes, payload {len}",
                    id.len()
                );
                let want = protocol::encode(&ToSupervisor::StreamChunk { id, data: &payload });
                encode_bin_head("stream_chunk", id, "data", len, &mut head).unwrap();
                assert_eq!(
                    [&head[..], &payload].concat(),
                    want,
                    "stream_chunk, id {}",
                    id.len()
                );
            }
        }
    }

    #[test]
    fn small_payloads_are_copied_large_ones_left_in_place() {
        let mut out = Vec::new();
        let small = Ok(vec![b'x'; COPY_LIMIT]);
        assert!(encode_reply("r", &small, 1 << 20, &mut out).is_empty());
        let payload = vec![b'x'; COPY_LIMIT];
        assert_eq!(
            out,
            protocol::encode(&ToSupervisor::Result {
                id: "r",
                payload: &payload
            })
        );
        let large = Ok(vec![b'x'; COPY_LIMIT + 1]);
        let tail = encode_reply("r", &large, 1 << 20, &mut out);
        assert_eq!(
            tail.as_ptr(),
            large.as_ref().unwrap().as_ptr(),
            "the payload is not copied"
        );
        assert_eq!(decoded(&[&out[..], tail].concat()).0, "result");
    }

    #[test]
    fn oversized_result_becomes_an_error_frame() {
        assert_eq!(decoded(&reply(Ok(vec![b'x'; 100]), 200)).0, "result");
        let (kind, strs) = decoded(&reply(Ok(vec![b'x'; 300]), 200));
        assert_eq!(kind, "error");
        assert!(
            strs.contains(&("error_type".into(), RESPONSE_TOO_LARGE.into())),
            "{strs:?}"
        );
    }

    #[test]
    fn oversized_error_message_is_cut() {
        let err = Error::new("Big", "é".repeat(100_000));
        let frame = reply(Err(err), 100_000);
        assert!(frame.len() <= 100_004);
        let (_, strs) = decoded(&frame);
        let message = &strs.iter().find(|(k, _)| k == "error_message").unwrap().1;
        assert!(message.ends_with("... [truncated]"));
    }
}
