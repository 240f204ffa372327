//! Runtime API server for the benchmark: the fastest possible "Lambda" side.
//!
//! Answers GET /next at once with a fixed event and the headers Lambda sends,
//! accepts /response and /error (202), and records each invocation's latency
//! as the server sees it: from the moment it starts writing the /next answer
//! to the moment the /response body is fully read.  It stops after `--count`
//! measured invocations or `--seconds` of measurement, prints one JSON line of
//! stats, and from then on leaves every /next unanswered (an idle Lambda), so
//! the contender stays alive for an RSS reading.  It exits when stdin closes.
//!
//! stdout: line 1 = the port (bound on 127.0.0.1:0), line 2 = the stats,
//! line 3 = `{"drained":...}` once every /next handed out has been answered
//! after the end of the run (or when stdin closes first): how many were
//! never answered and how many answers came twice, so a concurrent contender
//! can be checked for lost and duplicated events.
//! std only, one thread per connection: the runtime's loop uses one
//! keep-alive connection per slot (N with Lambda Managed Instances
//! concurrency); an internal extension may hold another.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: bench-apiserver --event FILE [--count N] [--seconds T] [--warmup N] \
[--capacity N] [--stall-seconds S] [--dump-last FILE] [--content-type TYPE]";
const ARN: &str = "arn:aws:lambda:us-east-1:012345678912:function:bench";
const ID_PREFIX: &str = "8e7c0de0-0000-4000-8000-";
const DEADLINE_MS: u128 = 30_000;

struct Config {
    event: Vec<u8>,
    count: u64,
    seconds: f64,
    warmup: u64,
    capacity: usize,
    stall: f64,
    dump_last: Option<String>,
    content_type: String,
}

#[derive(Default)]
struct State {
    next_seq: u64,
    /// Per sequence number: when its /next answer started, in ns since `base`, +1 (0 = none outstanding).
    sent_at: Vec<u64>,
    latencies: Vec<u64>,
    measuring_since: Option<Instant>,
    last_activity: Option<Instant>,
    last_done: Option<Instant>,
    measured: u64,
    errors: u64,
    bad_requests: u64,
    extensions: u64,
    first_next_unix_ns: Option<u128>,
    first_response_unix_ns: Option<u128>,
    init_error: Option<String>,
    last_body: Vec<u8>,
    stalled: bool,
    finished: bool,
    /// /next answers handed out and not answered yet.
    outstanding: u64,
    /// Answers to an id that had been answered already.
    duplicates: u64,
    drained: bool,
}

struct Server {
    cfg: Config,
    base: Instant,
    state: Mutex<State>,
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn parse_args() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let mut event_path = None;
    let mut cfg = Config {
        event: Vec::new(),
        count: 0,
        seconds: 0.0,
        warmup: 0,
        capacity: 4_000_000,
        stall: 15.0,
        dump_last: None,
        content_type: "application/json".into(),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        let num = |v: String| v.parse::<f64>().map_err(|_| format!("{flag}: not a number: {v:?}"));
        match flag.as_str() {
            "--event" => event_path = Some(value()?),
            "--count" => cfg.count = num(value()?)? as u64,
            "--seconds" => cfg.seconds = num(value()?)?,
            "--warmup" => cfg.warmup = num(value()?)? as u64,
            "--capacity" => cfg.capacity = num(value()?)? as usize,
            "--stall-seconds" => cfg.stall = num(value()?)?,
            "--dump-last" => cfg.dump_last = Some(value()?),
            "--content-type" => cfg.content_type = value()?,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let path = event_path.ok_or_else(|| format!("--event FILE is required\n{USAGE}"))?;
    cfg.event = std::fs::read(&path).map_err(|e| format!("cannot read event file {path}: {e}"))?;
    if cfg.count == 0 && cfg.seconds <= 0.0 {
        return Err(format!("give --count N or --seconds T (or both)\n{USAGE}"));
    }
    Ok(cfg)
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-apiserver: {e}");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    let state = State {
        // calloc'd: pages are only touched when used, so a big capacity is free.
        sent_at: vec![0u64; cfg.capacity + cfg.warmup as usize],
        latencies: Vec::with_capacity(cfg.capacity),
        ..State::default()
    };
    let server = Arc::new(Server { cfg, base: Instant::now(), state: Mutex::new(state) });
    {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{port}");
        let _ = out.flush();
    }
    let s = Arc::clone(&server);
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                let _ = serve(&s, conn);
            });
        }
    });
    let s = Arc::clone(&server);
    thread::spawn(move || watchdog(&s));
    // Exit when the harness closes our stdin (or dies).
    let mut sink = [0u8; 256];
    let mut stdin = io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    if let Ok(mut st) = server.state.lock() {
        if st.finished {
            drained(&mut st);
        }
    }
    std::process::exit(0);
}

/// Ends a run whose contender stopped answering, so the harness still gets stats.
fn watchdog(server: &Server) {
    loop {
        thread::sleep(Duration::from_millis(20));
        let mut st = server.state.lock().unwrap();
        if st.finished {
            return;
        }
        if let Some(last) = st.last_activity {
            if last.elapsed().as_secs_f64() > server.cfg.stall {
                st.stalled = true;
                finish(server, &mut st);
                return;
            }
        }
    }
}

fn hang() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

struct Request {
    method: String,
    path: String,
    content_length: usize,
    chunked: bool,
    expect_continue: bool,
    close: bool,
}

/// One keep-alive connection: a read buffer shared by request heads and bodies.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl Conn {
    fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.pos..self.end].windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn read_head(&mut self) -> io::Result<Request> {
        let start = self.read_line()?;
        let mut parts = start.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut req = Request { method, path, content_length: 0, chunked: false, expect_continue: false, close: false };
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                return Ok(req);
            }
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                req.content_length = value.parse().map_err(|_| io::Error::other("bad Content-Length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                req.chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("expect") {
                req.expect_continue = value.eq_ignore_ascii_case("100-continue");
            } else if name.eq_ignore_ascii_case("connection") {
                req.close = value.eq_ignore_ascii_case("close");
            }
        }
    }

    /// Reads exactly `n` bytes into `out[off..off+n]`, growing `out` only when needed
    /// (so a large body is zeroed once per run, not once per request).
    fn read_into(&mut self, out: &mut Vec<u8>, off: usize, n: usize) -> io::Result<()> {
        if out.len() < off + n {
            out.resize(off + n, 0);
        }
        let have = (self.end - self.pos).min(n);
        out[off..off + have].copy_from_slice(&self.buf[self.pos..self.pos + have]);
        self.pos += have;
        self.stream.read_exact(&mut out[off + have..off + n])
    }

    /// Reads the body into `out`; returns its length.
    fn read_body(&mut self, req: &Request, out: &mut Vec<u8>) -> io::Result<usize> {
        if req.expect_continue {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if !req.chunked {
            self.read_into(out, 0, req.content_length)?;
            return Ok(req.content_length);
        }
        let mut len = 0;
        loop {
            let line = self.read_line()?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| io::Error::other("bad chunk size"))?;
            if size == 0 {
                while !self.read_line()?.is_empty() {} // trailers
                return Ok(len);
            }
            self.read_into(out, len, size)?;
            len += size;
            self.read_line()?;
        }
    }
}

fn serve(server: &Server, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Conn { stream, buf: vec![0u8; 64 * 1024], pos: 0, end: 0 };
    let mut body: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let req = conn.read_head()?;
        let n = conn.read_body(&req, &mut body)?;
        let done_at = Instant::now();
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("GET", "/2018-06-01/runtime/invocation/next") => answer_next(server, &mut conn.stream, &mut out)?,
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &p["/2018-06-01/runtime/invocation/".len()..];
                let (id, kind) = rest.rsplit_once('/').unwrap_or((rest, ""));
                let ok = complete(server, id, kind, &body[..n], done_at);
                if ok {
                    reply(&mut conn.stream, "202 Accepted", "", b"{\"status\":\"OK\"}")?;
                } else {
                    reply(&mut conn.stream, "400 Bad Request", "",
                        b"{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}")?;
                }
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                {
                    let mut st = server.state.lock().unwrap();
                    let shown = &body[..n.min(4096)];
                    st.init_error = Some(String::from_utf8_lossy(shown).into_owned());
                    finish(server, &mut st);
                }
                reply(&mut conn.stream, "202 Accepted", "", b"{\"status\":\"OK\"}")?;
            }
            ("POST", "/2020-01-01/extension/register") => {
                let id = {
                    let mut st = server.state.lock().unwrap();
                    st.extensions += 1;
                    format!("0e0e0e0e-0000-4000-8000-{:012x}", st.extensions)
                };
                let head = format!("Lambda-Extension-Identifier: {id}\r\n");
                reply(&mut conn.stream, "200 OK", &head,
                    b"{\"functionName\":\"bench\",\"functionVersion\":\"$LATEST\",\"handler\":\"bench.handler\"}")?;
            }
            // No events are ever delivered to extensions: the call blocks, as on Lambda.
            ("GET", "/2020-01-01/extension/event/next") => hang(),
            _ => {
                server.state.lock().unwrap().bad_requests += 1;
                reply(&mut conn.stream, "404 Not Found", "", b"{\"errorMessage\":\"unknown path\",\"errorType\":\"NotFound\"}")?;
            }
        }
        if req.close {
            return Ok(());
        }
    }
}

fn reply(stream: &mut TcpStream, status: &str, extra: &str, body: &[u8]) -> io::Result<()> {
    let mut msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    msg.extend_from_slice(body);
    stream.write_all(&msg)
}

fn answer_next(server: &Server, stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    let seq = {
        let mut st = server.state.lock().unwrap();
        if !st.finished && st.next_seq as usize >= st.sent_at.len() {
            finish(server, &mut st); // capacity reached: end the run rather than lose samples
        }
        if st.finished {
            drop(st);
            hang();
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let now = Instant::now();
        if st.first_next_unix_ns.is_none() {
            st.first_next_unix_ns = Some(unix_ns());
        }
        if seq == server.cfg.warmup {
            st.measuring_since = Some(now);
        }
        st.last_activity = Some(now);
        st.sent_at[seq as usize] = now.duration_since(server.base).as_nanos() as u64 + 1;
        st.outstanding += 1;
        seq
    };
    let deadline = unix_ns() / 1_000_000 + DEADLINE_MS;
    let event = &server.cfg.event;
    out.clear();
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nLambda-Runtime-Aws-Request-Id: {ID_PREFIX}{seq:012x}\r\n\
         Lambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: {ARN}\r\n\
         Content-Length: {}\r\n\r\n",
        server.cfg.content_type,
        event.len()
    )?;
    // One write for small events (one wake-up for the client); two for large ones (no copy).
    if event.len() <= 64 * 1024 {
        out.extend_from_slice(event);
        stream.write_all(out)
    } else {
        stream.write_all(out)?;
        stream.write_all(event)
    }
}

/// Records a /response or /error; false when the id is not an outstanding invocation.
fn complete(server: &Server, id: &str, kind: &str, body: &[u8], done_at: Instant) -> bool {
    let mut st = server.state.lock().unwrap();
    let seq = match id.strip_prefix(ID_PREFIX).and_then(|h| u64::from_str_radix(h, 16).ok()) {
        Some(s) if (s as usize) < st.sent_at.len() && st.sent_at[s as usize] != 0 => s,
        Some(s) if s < st.next_seq => {
            st.duplicates += 1;
            st.bad_requests += 1;
            return false;
        }
        _ => {
            st.bad_requests += 1;
            return false;
        }
    };
    if kind != "response" && kind != "error" {
        st.bad_requests += 1;
        return false;
    }
    let sent = st.sent_at[seq as usize] - 1;
    st.sent_at[seq as usize] = 0;
    st.outstanding -= 1;
    if st.first_response_unix_ns.is_none() {
        st.first_response_unix_ns = Some(unix_ns());
    }
    st.last_activity = Some(done_at);
    st.last_body.clear();
    st.last_body.extend_from_slice(body);
    if st.finished {
        if st.outstanding == 0 {
            drained(&mut st);
        }
        return true;
    }
    if seq < server.cfg.warmup {
        return true;
    }
    let latency = (done_at.duration_since(server.base).as_nanos() as u64).saturating_sub(sent);
    st.latencies.push(latency);
    st.measured += 1;
    if kind == "error" {
        st.errors += 1;
    }
    st.last_done = Some(done_at);
    let by_count = server.cfg.count > 0 && st.measured >= server.cfg.count;
    let by_time = server.cfg.seconds > 0.0
        && st.measuring_since.map_or(false, |t| done_at.duration_since(t).as_secs_f64() >= server.cfg.seconds);
    if by_count || by_time {
        finish(server, &mut st);
        if st.outstanding == 0 {
            drained(&mut st);
        }
    }
    true
}

/// Prints the third line once: what was never answered, what was answered twice.
fn drained(st: &mut State) {
    if st.drained {
        return;
    }
    st.drained = true;
    let line = format!(
        "{{\"drained\":{},\"unanswered\":{},\"duplicates\":{},\"handed_out\":{}}}",
        st.outstanding == 0, st.outstanding, st.duplicates, st.next_seq
    );
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn finish(server: &Server, st: &mut State) {
    if st.finished {
        return;
    }
    st.finished = true;
    let mut lat = std::mem::take(&mut st.latencies);
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * (lat.len() - 1) as f64).round() as usize;
        lat[i] as f64 / 1000.0
    };
    let mean = if lat.is_empty() { 0.0 } else { lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0 };
    let elapsed = match (st.measuring_since, st.last_done) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let throughput = if elapsed > 0.0 { st.measured as f64 / elapsed } else { 0.0 };
    let opt = |v: Option<u128>| v.map_or("null".to_string(), |x| x.to_string());
    let init_error = st.init_error.as_deref().map_or("null".to_string(), json_string);
    let line = format!(
        "{{\"count\":{},\"errors\":{},\"elapsed\":{:.6},\"throughput\":{:.2},\"p50_us\":{:.2},\"p99_us\":{:.2},\
         \"min_us\":{:.2},\"max_us\":{:.2},\"mean_us\":{:.2},\"warmup\":{},\"invocations_started\":{},\
         \"first_next_unix_ns\":{},\"first_response_unix_ns\":{},\"bad_requests\":{},\"extensions\":{},\
         \"stalled\":{},\"init_error\":{},\"last_body_len\":{}}}",
        st.measured, st.errors, elapsed, throughput, pct(50.0), pct(99.0), pct(0.0), pct(100.0), mean,
        server.cfg.warmup, st.next_seq, opt(st.first_next_unix_ns), opt(st.first_response_unix_ns),
        st.bad_requests, st.extensions, st.stalled, init_error, st.last_body.len()
    );
    if let Some(path) = &server.cfg.dump_last {
        let _ = std::fs::write(path, &st.last_body);
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
