//! A strict, sans-IO MessagePack reader for frame payloads.
//!
//! Frames are *written* with rmp-serde (named maps, `serde_bytes` for bin).
//! They are *read* here instead because wire protocol v1 needs distinctions
//! that serde's data model hides: rmp-serde hands a str with invalid UTF-8 to
//! the visitor as bytes (indistinguishable from bin), and it does not say
//! whether bytes trail the value. This reader borrows from the input, so an
//! invoke payload reaches a raw handler without a copy.

use std::fmt;

/// Nesting deeper than this is refused rather than risking the stack.
/// Protocol v1 frames are two levels deep; forward-compatible additions get
/// plenty of room.
pub const MAX_DEPTH: usize = 64;

/// One decoded MessagePack value, borrowing strings and bins from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    /// Every msgpack integer (uint 64 and int 64 both fit).
    Int(i128),
    Float(f64),
    Str(&'a str),
    Bin(&'a [u8]),
    Array(Vec<Value<'a>>),
    /// Pairs in wire order; duplicates are kept for the caller to judge.
    Map(Vec<(Value<'a>, Value<'a>)>),
    Ext(i8, &'a [u8]),
}

impl Value<'_> {
    /// The msgpack family name, for diagnostics ("expected bin, got str").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bin(_) => "bin",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Ext(..) => "ext",
        }
    }
}

/// Why bytes are not exactly one well-formed MessagePack value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends inside a value (`needed` more bytes at `offset`).
    Truncated {
        offset: usize,
    },
    /// 0xc1, the one byte msgpack never uses.
    ReservedByte {
        offset: usize,
    },
    InvalidUtf8 {
        offset: usize,
    },
    TooDeep,
    /// A complete value was read but `extra` bytes follow it.
    TrailingBytes {
        extra: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { offset } => {
                write!(
                    f,
                    "msgpack value is truncated (input ends at byte {offset})"
                )
            }
            DecodeError::ReservedByte { offset } => {
                write!(f, "byte 0xc1 at offset {offset} is not valid msgpack")
            }
            DecodeError::InvalidUtf8 { offset } => {
                write!(f, "msgpack str at offset {offset} is not valid UTF-8")
            }
            DecodeError::TooDeep => write!(f, "msgpack value nests deeper than {MAX_DEPTH} levels"),
            DecodeError::TrailingBytes { extra } => {
                write!(
                    f,
                    "{extra} byte(s) follow the msgpack value (a frame holds exactly one)"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `input` as exactly one msgpack value (trailing bytes are an error).
pub fn decode_one(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != input.len() {
        return Err(DecodeError::TrailingBytes {
            extra: input.len() - reader.pos,
        });
    }
    Ok(value)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.input.len());
        match end {
            Some(end) => {
                let bytes = &self.input[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => Err(DecodeError::Truncated {
                offset: self.input.len(),
            }),
        }
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, DecodeError> {
        // u32 lengths always fit usize on the 64-bit targets Lambda runs.
        Ok(self.be(n)? as usize)
    }

    fn str(&mut self, len: usize) -> Result<Value<'a>, DecodeError> {
        let offset = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(Value::Str)
            .map_err(|_| DecodeError::InvalidUtf8 { offset })
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value<'a>, DecodeError> {
        // Capacity is bounded by what the input could hold (one byte per
        // element at least), so a lying length cannot force a huge allocation.
        let mut items = Vec::with_capacity(len.min(self.input.len() - self.pos));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value<'a>, DecodeError> {
        let mut pairs = Vec::with_capacity(len.min((self.input.len() - self.pos) / 2));
        for _ in 0..len {
            let key = self.value(depth + 1)?;
            let value = self.value(depth + 1)?;
            pairs.push((key, value));
        }
        Ok(Value::Map(pairs))
    }

    fn ext(&mut self, len: usize) -> Result<Value<'a>, DecodeError> {
        let tag = self.take(1)?[0] as i8;
        Ok(Value::Ext(tag, self.take(len)?))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let offset = self.pos;
        let marker = self.take(1)?[0];
        Ok(match marker {
            0x00..=0x7f => Value::Int(i128::from(marker)),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f => return self.array(usize::from(marker & 0x0f), depth),
            0xa0..=0xbf => return self.str(usize::from(marker & 0x1f)),
            0xc0 => Value::Nil,
            0xc1 => return Err(DecodeError::ReservedByte { offset }),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let len = self.len(1 << (marker - 0xc4))?;
                Value::Bin(self.take(len)?)
            }
            0xc7..=0xc9 => {
                let len = self.len(1 << (marker - 0xc7))?;
                return self.ext(len);
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Value::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Value::Int(i128::from(self.be(1 << (marker - 0xcc))?)),
            0xd0 => Value::Int(i128::from(self.be(1)? as u8 as i8)),
            0xd1 => Value::Int(i128::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::Int(i128::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::Int(i128::from(self.be(8)? as i64)),
            0xd4..=0xd8 => return self.ext(1 << (marker - 0xd4)),
            0xd9..=0xdb => {
                let len = self.len(1 << (marker - 0xd9))?;
                return self.str(len);
            }
            0xdc | 0xdd => {
                let len = self.len(2 << (marker - 0xdc))?;
                return self.array(len, depth);
            }
            0xde | 0xdf => {
                let len = self.len(2 << (marker - 0xde))?;
                return self.map(len, depth);
            }
            0xe0..=0xff => Value::Int(i128::from(marker as i8)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_of_every_width() {
        let cases: &[(&[u8], Value<'_>)] = &[
            (&[0x05], Value::Int(5)),
            (&[0xff], Value::Int(-1)),
            (&[0xcc, 0xff], Value::Int(255)),
            (&[0xcd, 0x01, 0x00], Value::Int(256)),
            (
                &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                Value::Int(u64::MAX as i128),
            ),
            (&[0xd0, 0x80], Value::Int(-128)),
            (
                &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
                Value::Int(i64::MIN as i128),
            ),
            (&[0xc0], Value::Nil),
            (&[0xc3], Value::Bool(true)),
            (&[0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0], Value::Float(2.5)),
            (&[0xca, 0x40, 0x20, 0, 0], Value::Float(2.5)),
            (&[0xa2, b'h', b'i'], Value::Str("hi")),
            (&[0xd9, 0x02, b'h', b'i'], Value::Str("hi")),
            (&[0xc4, 0x02, 1, 2], Value::Bin(&[1, 2])),
            (&[0xc5, 0x00, 0x01, 9], Value::Bin(&[9])),
            (&[0xd4, 0x07, 0xaa], Value::Ext(7, &[0xaa])),
            (&[0xc7, 0x01, 0xfe, 0xaa], Value::Ext(-2, &[0xaa])),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                &decode_one(bytes).unwrap(),
                expected,
                "decoding {bytes:02x?}"
            );
        }
    }

    #[test]
    fn containers() {
        let bytes = [0x82, 0xa1, b'a', 0x91, 0x01, 0xa1, b'b', 0x80];
        let expected = Value::Map(vec![
            (Value::Str("a"), Value::Array(vec![Value::Int(1)])),
            (Value::Str("b"), Value::Map(vec![])),
        ]);
        assert_eq!(decode_one(&bytes).unwrap(), expected);
        assert_eq!(
            decode_one(&[0xdc, 0x00, 0x01, 0xc0]).unwrap(),
            Value::Array(vec![Value::Nil])
        );
        assert_eq!(decode_one(&[0xde, 0x00, 0x00]).unwrap(), Value::Map(vec![]));
    }

    #[test]
    fn every_strict_prefix_is_truncated() {
        let bytes = [
            0x82, 0xa1, b'a', 0xc4, 0x02, 1, 2, 0xa1, b'b', 0xcd, 0x01, 0x00,
        ];
        decode_one(&bytes).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode_one(&bytes[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn malformed_inputs() {
        assert_eq!(
            decode_one(&[0xc0, 0xc0]),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
        assert_eq!(
            decode_one(&[0xc1]),
            Err(DecodeError::ReservedByte { offset: 0 })
        );
        assert_eq!(
            decode_one(&[0xa1, 0xff]),
            Err(DecodeError::InvalidUtf8 { offset: 1 })
        );
        // A length claiming 4 GiB must fail fast, not allocate.
        assert!(matches!(
            decode_one(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated { .. })
        ));
        let deep = vec![0x91; MAX_DEPTH + 2];
        assert_eq!(decode_one(&deep), Err(DecodeError::TooDeep));
    }
}
