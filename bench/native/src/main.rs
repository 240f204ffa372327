//! Native baseline: the smallest Lambda runtime loop this machine can run.
//!
//! One keep-alive TcpStream to AWS_LAMBDA_RUNTIME_API, hand-written HTTP/1.1,
//! an in-process echo handler (the event body is posted back unchanged), and
//! buffers reused across invocations.  Whatever the benchmark's contenders do
//! on top of this (a supervisor, pipes, a worker) is overhead measured
//! against it.  std only.

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
        eprintln!("bench-native: {e}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| io::Error::other("AWS_LAMBDA_RUNTIME_API is not set (host:port of the Runtime API)"))?;
    let stream = TcpStream::connect(&api)?;
    stream.set_nodelay(true)?;
    let mut conn = Conn { stream, buf: vec![0u8; 64 * 1024], pos: 0, end: 0 };
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n").into_bytes();
    let mut body = Vec::new();
    let mut ack = Vec::new();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        conn.stream.write_all(&next)?;
        let head = conn.read_head()?;
        if head.status != 200 {
            return Err(io::Error::other(format!("/next answered {}", head.status)));
        }
        let n = head.content_length;
        conn.read_body(n, &mut body)?;
        let event = &body[..n]; // the handler: echo
        out.clear();
        write!(
            out,
            "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\nHost: {api}\r\n\
             Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n",
            head.request_id
        )?;
        if n <= 64 * 1024 {
            out.extend_from_slice(event);
            conn.stream.write_all(&out)?;
        } else {
            conn.stream.write_all(&out)?;
            conn.stream.write_all(event)?;
        }
        let done = conn.read_head()?;
        conn.read_body(done.content_length, &mut ack)?;
        if done.status != 202 {
            return Err(io::Error::other(format!("/response answered {}", done.status)));
        }
    }
}
