//! Large answers over real pipes (bigreply.rs): the `echo` example binary
//! plays the worker, in both its modes (the answer borrowed from the event,
//! and a copy of it), and this file plays the supervisor. Every answer must
//! be the event, byte for byte, whatever its size and whatever the worker
//! reads next while an answer's pages are still in the pipe.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{next_message, worker_command, Frames, InvokeFrame};
use dispatcher_worker::channel::Channel;
use dispatcher_worker::msgpack::Value;
use dispatcher_worker::protocol::DEFAULT_MAX_FRAME;

const MODES: [bool; 2] = [false, true]; // ECHO_COPY unset / set

struct Echo {
    child: Child,
    stdin: ChildStdin,
    frames: Frames,
    out_fd: i32,
    copy: bool,
}

impl Echo {
    fn start(copy: bool) -> Echo {
        let mut cmd = worker_command("echo", Stdio::inherit());
        if copy {
            // glibc's malloc then serves every answer's copy from its heap and
            // keeps freed memory: a freed answer's memory is the next one's.
            cmd.env("ECHO_COPY", "1").env(
                "GLIBC_TUNABLES",
                "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824",
            );
        } else {
            cmd.env_remove("ECHO_COPY");
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let out_fd = stdout.as_raw_fd();
        // As the supervisor does (dispatcher/process.py): 1 MiB pipes.
        // SAFETY: fcntl on a pipe descriptor this test owns.
        let size = unsafe { libc::fcntl(out_fd, libc::F_SETPIPE_SZ, 1 << 20) };
        assert!(
            size >= 1 << 20,
            "cannot make the stdout pipe 1 MiB (F_SETPIPE_SZ gave {size})"
        );
        let mut echo = Echo {
            child,
            stdin,
            frames: Channel::new(stdout, std::io::sink(), DEFAULT_MAX_FRAME),
            out_fd,
            copy,
        };
        assert_eq!(next_message(&mut echo.frames).0, "ready");
        echo
    }

    fn send(&mut self, id: &str, payload: &[u8]) -> usize {
        let frame = InvokeFrame {
            kind: "invoke",
            id,
            payload,
            deadline_ms: 4_102_444_800_000,
            function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:echo",
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
        }
        .to_wire();
        self.stdin.write_all(&frame).unwrap();
        frame.len()
    }

    /// The next answer: (id, payload).
    fn answer(&mut self) -> (String, Vec<u8>) {
        let (kind, map) = next_message(&mut self.frames);
        assert_eq!(kind, "result", "{map:?}");
        let id = map.iter().find_map(|(k, v)| match v {
            Value::Str(s) if *k == "id" => Some(s.to_string()),
            _ => None,
        });
        let payload = map.iter().find_map(|(k, v)| match v {
            Value::Bin(b) if *k == "payload" => Some(b.to_vec()),
            _ => None,
        });
        (id.unwrap(), payload.unwrap())
    }

    fn check(&mut self, id: &str, want: &[u8]) {
        let (got_id, got) = self.answer();
        assert_eq!(got_id, id);
        assert!(
            got == want,
            "answer to {id} ({} bytes, copy mode {}) differs from the event ({} bytes) first at byte {:?}",
            got.len(),
            self.copy,
            want.len(),
            got.iter().zip(want).position(|(a, b)| a != b)
        );
    }

    /// Bytes in the stdout pipe not read yet.
    fn unread(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        assert_eq!(
            unsafe { libc::ioctl(self.out_fd, libc::FIONREAD, &mut n) },
            0
        );
        n as usize
    }

    fn finish(mut self) {
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "EOF exits 0");
    }
}

/// `len` bytes that differ from those of any other `seed` at every offset.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
        .collect()
}

/// The answer a frame of this payload gets: the payload plus about 20 bytes.
fn answer_len(payload: usize) -> usize {
    payload + 16
}

#[test]
fn answers_of_every_size_arrive_intact() {
    let sizes = [
        0,
        1,
        4095,
        4096,
        4097,
        65_535,
        65_536,
        65_537,
        262_143,
        262_144,
        262_145,
        1 << 20,
        (1 << 20) + 1,
        6_291_456,
        6_000_001,
        300_000,
    ];
    for copy in MODES {
        let mut w = Echo::start(copy);
        for (i, &size) in sizes.iter().enumerate() {
            let id = format!("r{i}");
            let event = pattern(size, i as u8);
            w.send(&id, &event);
            w.check(&id, &event);
        }
        w.finish();
    }
}

/// The supervisor reads a whole answer before it sends the next invoke, but
/// the worker must not count on it: here both answers are in the pipe, whole
/// and unread, when the worker has read the second event. The first answer's
/// pages (the input buffer, or the copy) must not have changed.
#[test]
fn an_answer_still_in_the_pipe_survives_the_next_event() {
    for copy in MODES {
        let mut w = Echo::start(copy);
        let (a, b, c, d) = (
            pattern(300_000, 1),
            pattern(300_001, 2),
            pattern(299_999, 3),
            pattern(6_000_000, 4),
        );
        w.send("a", &a);
        w.send("b", &b);
        // Both answers fit the 1 MiB pipe: wait until the worker has written them.
        let both = answer_len(a.len()) + answer_len(b.len());
        let deadline = Instant::now() + Duration::from_secs(20);
        while w.unread() < both - 64 {
            assert!(
                Instant::now() < deadline,
                "the worker did not answer both ({} bytes in the pipe)",
                w.unread()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        w.check("a", &a);
        w.check("b", &b);
        // Buffers held meanwhile are reused or freed, never handed out early.
        for (id, event) in [("c", &c), ("d", &d), ("a2", &a), ("c2", &c)] {
            w.send(id, event);
            w.check(id, event);
        }
        w.finish();
    }
}
