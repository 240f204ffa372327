//! Stand-in Rust echo worker (wire protocol v1, docs/protocol.md) for the
//! benchmark, used while examples/rust-echo is not there.
//!
//! Reads frames (4-byte big-endian length + one msgpack map) from stdin,
//! sends `ready` first, and answers each `invoke` with a `result` whose bin
//! payload is the event unchanged.  Exits 0 on `shutdown` or EOF, 70 on a
//! malformed frame.  The few msgpack shapes needed are hand-decoded, so it is
//! std only; the payload is answered straight from the read buffer (no copy).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::FromRawFd;

const EX_SOFTWARE: i32 = 70;

fn main() {
    // Raw fds, no line buffering: frames are binary and written in one piece.
    let stdin = unsafe { File::from_raw_fd(0) };
    let mut stdout = unsafe { File::from_raw_fd(1) };
    let mut input = BufReader::with_capacity(64 * 1024, stdin);
    let ready: &[u8] = b"\x83\xa4type\xa5ready\xa8protocol\x01\xa8features\x90";
    let mut first = (ready.len() as u32).to_be_bytes().to_vec();
    first.extend_from_slice(ready);
    if let Err(e) = stdout.write_all(&first) {
        eprintln!("bench-echo-worker: cannot write ready: {e}");
        std::process::exit(1);
    }
    let mut frame = Vec::new();
    let mut head = Vec::with_capacity(256);
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => fail(&format!("read error: {e}")),
        }
        let n = u32::from_be_bytes(len) as usize;
        if n == 0 {
            fail("frame of length 0");
        }
        if frame.len() < n {
            frame.resize(n, 0);
        }
        if let Err(e) = input.read_exact(&mut frame[..n]) {
            fail(&format!("truncated frame: {e}"));
        }
        let msg = match decode(&frame[..n]) {
            Ok(m) => m,
            Err(e) => fail(&format!("malformed frame: {e}")),
        };
        match msg.kind {
            b"invoke" => {
                let (Some(id), Some(payload)) = (msg.id, msg.payload) else { fail("invoke without id or payload") };
                head.clear();
                head.extend_from_slice(&[0, 0, 0, 0, 0x83, 0xa4]);
                head.extend_from_slice(b"type\xa6result\xa2id");
                put_str(&mut head, id);
                head.extend_from_slice(b"\xa7payload");
                put_bin_header(&mut head, payload.len());
                let total = (head.len() - 4 + payload.len()) as u32;
                head[..4].copy_from_slice(&total.to_be_bytes());
                let res = if payload.len() <= 16 * 1024 {
                    head.extend_from_slice(payload);
                    stdout.write_all(&head)
                } else {
                    stdout.write_all(&head).and_then(|_| stdout.write_all(payload))
                };
                if res.is_err() {
                    return; // supervisor gone
                }
            }
            b"shutdown" => return,
            other => fail(&format!("unknown frame type {:?}", String::from_utf8_lossy(other))),
        }
    }
}

fn fail(why: &str) -> ! {
    eprintln!("bench-echo-worker: {why}");
    std::process::exit(EX_SOFTWARE);
}

struct Msg<'a> {
    kind: &'a [u8],
    id: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn put_bin_header(out: &mut Vec<u8>, n: usize) {
    if n < 256 {
        out.extend_from_slice(&[0xc4, n as u8]);
    } else if n < 65536 {
        out.push(0xc5);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.i.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("value runs past the frame")?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }
    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn uint(&mut self, width: usize) -> Result<usize, String> {
        Ok(self.take(width)?.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize))
    }
    /// A str or bin value's bytes; None (value skipped) for any other type.
    fn bytes_or_skip(&mut self) -> Result<Option<&'a [u8]>, String> {
        let t = self.byte()?;
        let n = match t {
            0xa0..=0xbf => (t & 0x1f) as usize,
            0xc4 | 0xd9 => self.uint(1)?,
            0xc5 | 0xda => self.uint(2)?,
            0xc6 | 0xdb => self.uint(4)?,
            _ => {
                self.i -= 1;
                self.skip()?;
                return Ok(None);
            }
        };
        Ok(Some(self.take(n)?))
    }
    fn skip(&mut self) -> Result<(), String> {
        let t = self.byte()?;
        let (fixed, items): (usize, usize) = match t {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * (t & 0x0f) as usize),
            0x90..=0x9f => (0, (t & 0x0f) as usize),
            0xa0..=0xbf => ((t & 0x1f) as usize, 0),
            0xc4 | 0xd9 => (self.uint(1)?, 0),
            0xc5 | 0xda => (self.uint(2)?, 0),
            0xc6 | 0xdb => (self.uint(4)?, 0),
            0xc7 => (self.uint(1)? + 1, 0),
            0xc8 => (self.uint(2)? + 1, 0),
            0xc9 => (self.uint(4)? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.uint(2)?),
            0xdd => (0, self.uint(4)?),
            0xde => (0, 2 * self.uint(2)?),
            0xdf => (0, 2 * self.uint(4)?),
            _ => return Err(format!("invalid msgpack type byte 0x{t:02x}")),
        };
        self.take(fixed)?;
        for _ in 0..items {
            self.skip()?;
        }
        Ok(())
    }
}

fn decode(frame: &[u8]) -> Result<Msg<'_>, String> {
    let mut c = Cursor { b: frame, i: 0 };
    let t = c.byte()?;
    let pairs = match t {
        0x80..=0x8f => (t & 0x0f) as usize,
        0xde => c.uint(2)?,
        0xdf => c.uint(4)?,
        _ => return Err("frame is not a msgpack map".into()),
    };
    let mut msg = Msg { kind: b"", id: None, payload: None };
    let mut has_type = false;
    for _ in 0..pairs {
        let key = c.bytes_or_skip()?.ok_or("map key is not a str")?;
        match key {
            b"type" => {
                msg.kind = c.bytes_or_skip()?.ok_or("`type` is not a str")?;
                has_type = true;
            }
            b"id" => msg.id = c.bytes_or_skip()?,
            b"payload" => msg.payload = c.bytes_or_skip()?,
            _ => c.skip()?,
        }
    }
    if c.i != frame.len() {
        return Err("trailing bytes after the map".into());
    }
    if !has_type {
        return Err("map without `type`".into());
    }
    Ok(msg)
}
