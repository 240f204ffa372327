//! Native streaming baseline: the smallest Lambda runtime loop that streams
//! its response (bench/stream.py).  One keep-alive TcpStream, hand-written
//! HTTP/1.1; each invocation answers with a streamed POST /response of
//! NATIVE_STREAM_BYTES bytes (the same pattern as the Rust adapter's
//! streaming example: i % 256 over 102400 bytes) in HTTP chunks of
//! NATIVE_STREAM_PIECE bytes, written as produced.  std only.

use std::io::{self, Read, Write};
use std::net::TcpStream;

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

struct Head {
    status: u16,
    content_length: usize,
    request_id: String,
}

impl Conn {
    fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.end == self.buf.len() {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Runtime API closed the connection"));
        }
        self.end += n;
        Ok(())
    }

    fn read_head(&mut self) -> io::Result<Head> {
        let mut head = Head { status: 0, content_length: 0, request_id: String::new() };
        let mut first = true;
        loop {
            let i = loop {
                if let Some(i) = self.buf[self.pos..self.end].windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill()?;
            };
            let line = &self.buf[self.pos..self.pos + i];
            if line.is_empty() {
                self.pos += 2;
                return Ok(head);
            }
            let text = std::str::from_utf8(line).map_err(|_| io::Error::other("non-UTF-8 header"))?;
            if first {
                head.status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                first = false;
            } else if let Some((name, value)) = text.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    head.content_length = value.parse().map_err(|_| io::Error::other("bad Content-Length"))?;
                } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                    head.request_id = value.to_string();
                }
            }
            self.pos += i + 2;
        }
    }

    fn read_body(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        if out.len() < n {
            out.resize(n, 0);
        }
        let have = (self.end - self.pos).min(n);
        out[..have].copy_from_slice(&self.buf[self.pos..self.pos + have]);
        self.pos += have;
        self.stream.read_exact(&mut out[have..n])
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-native-stream: {e}");
        std::process::exit(1);
    }
}

fn env_usize(name: &str, default: usize) -> io::Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v.parse().map_err(|_| io::Error::other(format!("{name}={v:?} is not a byte count"))),
    }
}

fn run() -> io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| io::Error::other("AWS_LAMBDA_RUNTIME_API is not set (host:port of the Runtime API)"))?;
    let size = env_usize("NATIVE_STREAM_BYTES", 100_000_000)?;
    let piece = env_usize("NATIVE_STREAM_PIECE", 128 * 1024)?.clamp(1, 102_400);
    let pattern: Vec<u8> = (0..102_400u32).map(|i| (i % 256) as u8).collect();
    let stream = TcpStream::connect(&api)?;
    stream.set_nodelay(true)?;
    let mut conn = Conn { stream, buf: vec![0u8; 64 * 1024], pos: 0, end: 0 };
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n").into_bytes();
    let mut body = Vec::new();
    let mut ack = Vec::new();
    let mut out = Vec::with_capacity(128 * 1024);
    loop {
        conn.stream.write_all(&next)?;
        let head = conn.read_head()?;
        if head.status != 200 {
            return Err(io::Error::other(format!("/next answered {}", head.status)));
        }
        conn.read_body(head.content_length, &mut body)?;
        out.clear();
        write!(
            out,
            "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\nHost: {api}\r\n\
             Lambda-Runtime-Function-Response-Mode: streaming\r\nContent-Type: application/octet-stream\r\n\
             Transfer-Encoding: chunked\r\n\
             Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n",
            head.request_id
        )?;
        conn.stream.write_all(&out)?;
        let mut left = size;
        while left > 0 {
            let n = left.min(piece);
            out.clear();
            write!(out, "{n:x}\r\n")?;
            out.extend_from_slice(&pattern[..n]);
            out.extend_from_slice(b"\r\n");
            conn.stream.write_all(&out)?;
            left -= n;
        }
        conn.stream.write_all(b"0\r\n\r\n")?;
        let done = conn.read_head()?;
        conn.read_body(done.content_length, &mut ack)?;
        if done.status != 202 {
            return Err(io::Error::other(format!("/response answered {}", done.status)));
        }
    }
}
