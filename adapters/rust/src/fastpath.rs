//! The `invoke` frame as the supervisor packs it, decoded in one pass: no
//! value tree, no allocation, key names compared as bytes. It accepts only
//! what the general decoder (`protocol::decode_to_worker`) accepts and
//! returns the same `Invoke`; anything it is not sure of (another message
//! type, a container or ext value, a missing or mistyped field, bad UTF-8,
//! trailing bytes) gives `None`, and the general decoder then decides and
//! names the error. The tests below hold the two together.

use crate::protocol::Invoke;

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

/// A str's bytes as `&str`: ASCII (the usual request id, ARN, trace header)
/// is checked a word at a time, anything else by `from_utf8`.
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.b.len())?;
        let bytes = &self.b[self.pos..end];
        self.pos = end;
        Some(bytes)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    }

    /// The bytes of a str value, or None for any other type.
    fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let marker = *self.b.get(self.pos)?;
        let len = match marker {
            0xa0..=0xbf => {
                self.pos += 1;
                usize::from(marker & 0x1f)
            }
            0xd9..=0xdb => {
                self.pos += 1;
                self.be(1 << (marker - 0xd9))? as usize
            }
            _ => return None,
        };
        self.take(len)
    }

    fn str(&mut self) -> Option<&'a str> {
        text(self.str_bytes()?)
    }

    /// A str or nil: `Some(None)` for nil.
    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        if self.b.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            return Some(None);
        }
        self.str().map(Some)
    }

    fn bin(&mut self) -> Option<&'a [u8]> {
        let marker = *self.b.get(self.pos)?;
        if !(0xc4..=0xc6).contains(&marker) {
            return None;
        }
        self.pos += 1;
        let len = self.be(1 << (marker - 0xc4))? as usize;
        self.take(len)
    }

    fn int(&mut self) -> Option<i128> {
        let marker = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(match marker {
            0x00..=0x7f => i128::from(marker),
            0xe0..=0xff => i128::from(marker as i8),
            0xcc..=0xcf => i128::from(self.be(1 << (marker - 0xcc))?),
            0xd0 => i128::from(self.be(1)? as u8 as i8),
            0xd1 => i128::from(self.be(2)? as u16 as i16),
            0xd2 => i128::from(self.be(4)? as u32 as i32),
            0xd3 => i128::from(self.be(8)? as i64),
            _ => return None,
        })
    }

    /// Skips a scalar value (an unknown key's); None for containers, ext,
    /// 0xc1 and bad UTF-8, which the general decoder judges.
    fn skip_scalar(&mut self) -> Option<()> {
        let marker = *self.b.get(self.pos)?;
        match marker {
            0xc0 | 0xc2 | 0xc3 => self.pos += 1,
            0xa0..=0xbf | 0xd9..=0xdb => {
                self.str()?;
            }
            0xc4..=0xc6 => {
                self.bin()?;
            }
            0xca | 0xcb => {
                self.pos += 1;
                self.take(if marker == 0xca { 4 } else { 8 })?;
            }
            0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => {
                self.int()?;
            }
            _ => return None,
        }
        Some(())
    }
}

/// The invoke in `body`, when it is one in the usual shape; see the module comment.
pub(crate) fn invoke(body: &[u8]) -> Option<Invoke<'_>> {
    let mut c = Cursor { b: body, pos: 0 };
    let marker = c.take(1)?[0];
    let pairs = match marker {
        0x80..=0x8f => usize::from(marker & 0x0f),
        0xde => c.be(2)? as usize,
        _ => return None,
    };
    let mut kind = None;
    let (mut id, mut payload, mut deadline_ms, mut function_arn) = (None, None, None, None);
    let (mut trace_id, mut client_context, mut cognito_identity, mut tenant_id) =
        (None, None, None, None);
    // Sequential assignment: the last occurrence of a duplicated key wins,
    // as in the general decoder.
    for _ in 0..pairs {
        match c.str_bytes()? {
            b"type" => kind = Some(c.str_bytes()?),
            b"id" => id = Some(c.str()?),
            b"payload" => payload = Some(c.bin()?),
            b"deadline_ms" => deadline_ms = Some(c.int()?),
            b"function_arn" => function_arn = Some(c.str()?),
            b"trace_id" => trace_id = Some(c.opt_str()?),
            b"client_context" => client_context = Some(c.opt_str()?),
            b"cognito_identity" => cognito_identity = Some(c.opt_str()?),
            b"tenant_id" => tenant_id = Some(c.opt_str()?),
            other => {
                text(other)?;
                c.skip_scalar()?;
            }
        }
    }
    if c.pos != body.len() || kind? != b"invoke" {
        return None;
    }
    Some(Invoke {
        id: id?,
        payload: payload?,
        deadline_ms: deadline_ms?,
        function_arn: function_arn?,
        trace_id: trace_id?,
        client_context: client_context?,
        cognito_identity: cognito_identity?,
        tenant_id: tenant_id?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode_general, ToWorker};

    fn put_str(b: &mut Vec<u8>, s: &str) {
        assert!(s.len() < 256);
        if s.len() < 32 {
            b.push(0xa0 | s.len() as u8);
        } else {
            b.extend_from_slice(&[0xd9, s.len() as u8]);
        }
        b.extend_from_slice(s.as_bytes());
    }

    /// An invoke as `dispatcher/frames.py` packs it (key order included).
    fn packed(trace: Option<&str>, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x89];
        put_str(&mut b, "type");
        put_str(&mut b, "invoke");
        put_str(&mut b, "id");
        put_str(&mut b, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        put_str(&mut b, "deadline_ms");
        b.extend_from_slice(&[0xcf, 0, 0, 1, 0x8f, 0x12, 0x34, 0x56, 0x78]);
        put_str(&mut b, "function_arn");
        put_str(&mut b, "arn:aws:lambda:us-east-1:123456789012:function:f");
        for (key, value) in [
            ("trace_id", trace),
            ("client_context", None),
            ("cognito_identity", Some("{\"cognitoIdentityId\":\"é\"}")),
            ("tenant_id", None),
        ] {
            put_str(&mut b, key);
            match value {
                Some(v) => put_str(&mut b, v),
                None => b.push(0xc0),
            }
        }
        put_str(&mut b, "payload");
        b.extend_from_slice(&[0xc5, 0, payload.len() as u8]);
        b.extend_from_slice(payload);
        b
    }

    /// The fast path either declines or agrees with the general decoder.
    fn agree(body: &[u8]) -> bool {
        match invoke(body) {
            None => false,
            Some(fast) => {
                assert_eq!(
                    decode_general(body),
                    Ok(ToWorker::Invoke(fast)),
                    "{body:02x?}"
                );
                true
            }
        }
    }

    #[test]
    fn the_supervisors_invoke_takes_the_fast_path() {
        for trace in [
            None,
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
        ] {
            let body = packed(trace, b"{\"a\":1}");
            assert!(agree(&body), "declined {body:02x?}");
        }
    }

    #[test]
    fn every_damaged_frame_is_declined_or_decoded_alike() {
        let body = packed(Some("Root=1-x"), b"{\"k\":\"v\"}");
        let mut taken = 0;
        for cut in 0..body.len() {
            assert!(
                !agree(&body[..cut]),
                "a prefix of {cut} bytes is not a whole invoke"
            );
        }
        for at in 0..body.len() {
            for byte in [
                0x00, 0x01, 0x7f, 0x80, 0x8a, 0xa0, 0xa3, 0xc0, 0xc1, 0xc2, 0xc4, 0xca, 0xcc, 0xd0,
                0xd9, 0xdc, 0xde, 0xe0, 0xff,
            ] {
                let mut damaged = body.clone();
                damaged[at] = byte;
                taken += usize::from(agree(&damaged));
            }
        }
        assert!(taken > 0, "some damage (e.g. in the payload) still decodes");
    }

    #[test]
    fn unusual_shapes_fall_back_to_the_general_decoder() {
        // Unknown keys with scalar values stay on the fast path.
        let mut extra = packed(None, b"{}");
        extra[0] = 0x8b;
        for (key, value) in [
            ("x", &[0xcb, 0, 0, 0, 0, 0, 0, 0, 0][..]),
            ("y", &[0xc3][..]),
        ] {
            put_str(&mut extra, key);
            extra.extend_from_slice(value);
        }
        assert!(agree(&extra));
        // A container value, a duplicated key, a missing field: declined or alike.
        let mut nested = packed(None, b"{}");
        nested[0] = 0x8a;
        put_str(&mut nested, "z");
        nested.extend_from_slice(&[0x91, 0x01]);
        assert!(invoke(&nested).is_none());
        assert!(decode_general(&nested).is_ok());
        let mut dup = packed(None, b"{}");
        dup[0] = 0x8a;
        put_str(&mut dup, "id");
        put_str(&mut dup, "second");
        assert!(agree(&dup));
        assert_eq!(invoke(&dup).unwrap().id, "second");
        let mut missing = packed(None, b"{}");
        missing[0] = 0x88;
        assert!(invoke(&missing).is_none());
        let mut bad = packed(None, b"{}");
        let at = bad.windows(2).position(|w| w == [0x22, 0xc3]).unwrap();
        bad[at + 2] = 0x28; // é's second byte broken: invalid UTF-8
        assert!(invoke(&bad).is_none());
        assert_eq!(decode_general(&bad).unwrap_err().code, "invalid_msgpack");
    }
}
