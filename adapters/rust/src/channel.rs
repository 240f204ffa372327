//! The frame stream's file descriptors: taking them off fds 0/1 before user
//! code runs, reading frames into a reusable buffer, writing whole frames.
//!
//! After [`Channel::take_stdio`], fd 0 reads `/dev/null` and fd 1 is a copy
//! of fd 2, so `println!` lands in the log and neither the handler nor a
//! child process it spawns can read or corrupt frames. The private
//! descriptors are close-on-exec, so children do not inherit them.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use crate::protocol::{check_length, ProtocolError, HEADER_LEN};

/// Why no frame could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The bytes break the protocol, including EOF inside a frame (the
    /// adapter exits 70).
    Protocol(ProtocolError),
    /// The descriptor itself failed.
    Io(io::Error),
}

/// The supervisor's end of the stream: frames in, frames out. Generic so
/// tests can feed bytes in pieces; the worker uses the two private fds.
///
/// Reading: `buf[start..end]` holds bytes read but not yet handed out. A
/// frame usually arrives with one `read` (length prefix and body together);
/// a frame larger than the buffer grows it to exactly the frame's size, read
/// from the length prefix, and the rest is read straight into place. The
/// buffer keeps its size, so steady traffic neither allocates nor clears it.
pub struct Channel<R = File, W = File> {
    input: R,
    output: W,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_frame: usize,
}

/// What one `read` may take in at least: a pipe's default capacity, so a
/// small frame (and any frame right behind it) comes in one system call.
const READ_AHEAD: usize = 64 * 1024;

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a private copy of `fd` at 3 or above.
fn dup_private(fd: RawFd) -> io::Result<File> {
    // SAFETY: fcntl on a descriptor we are given; the result is owned by
    // nobody else, so File may close it.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { File::from_raw_fd(new) })
}

fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only rebinds descriptor numbers.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Channel {
    /// Moves the stream off fds 0/1 (see the module comment).
    pub fn take_stdio(max_frame: usize) -> io::Result<Channel> {
        // No stdout flush first: text a `print!` left in std's buffer
        // before `run` is flushed after the swap, into the log, instead of
        // into the frame stream.
        let input = dup_private(0)?;
        let output = dup_private(1)?;
        let null = File::open("/dev/null")?;
        dup2(null.as_raw_fd(), 0)?;
        dup2(2, 1)?;
        Ok(Channel::new(input, output, max_frame))
    }
}

impl Channel {
    /// A second handle on the output descriptor, for threads that write
    /// whole frames under their own lock (`run_concurrent`).
    pub fn clone_output(&self) -> io::Result<File> {
        self.output.try_clone()
    }

    /// The output descriptor, for writing replies by `vmsplice` (bigreply.rs).
    pub(crate) fn output_fd(&self) -> RawFd {
        self.output.as_raw_fd()
    }
}

impl<R: Read, W: Write> Channel<R, W> {
    pub fn new(input: R, output: W, max_frame: usize) -> Self {
        Channel {
            input,
            output,
            buf: Vec::new(),
            start: 0,
            end: 0,
            max_frame,
        }
    }

    /// The next frame's body, or `None` on EOF at a frame boundary.
    pub fn read_frame(&mut self) -> Result<Option<&[u8]>, ReadError> {
        let range = self.next_frame()?;
        Ok(range.map(|r| &self.buf[r]))
    }

    /// [`Channel::read_frame`], and the output for writing while the frame
    /// is still borrowed (a streaming handler answers as it reads its event).
    pub(crate) fn read_frame_and_output(&mut self) -> (Result<Option<&[u8]>, ReadError>, &mut W) {
        let read = match self.next_frame() {
            Ok(range) => Ok(range.map(|r| &self.buf[r])),
            Err(err) => Err(err),
        };
        (read, &mut self.output)
    }

    /// Reads from now on into `spare` (bytes read past the last frame move
    /// along) and returns the buffer read into so far, whose pages a spliced
    /// reply may still be in (bigreply.rs). `spare`'s contents do not matter.
    pub(crate) fn swap_buffer(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        let pending = self.end - self.start;
        if spare.len() < pending.max(READ_AHEAD) {
            spare.resize(pending.max(READ_AHEAD), 0);
        }
        spare[..pending].copy_from_slice(&self.buf[self.start..self.end]);
        self.start = 0;
        self.end = pending;
        std::mem::replace(&mut self.buf, spare)
    }

    /// Where the next frame's body lies in `buf`, once it is all there.
    fn next_frame(&mut self) -> Result<Option<Range<usize>>, ReadError> {
        // The previous frame is done with: keep only the bytes behind it.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < READ_AHEAD {
            self.buf.resize(READ_AHEAD, 0);
        }
        while self.end < HEADER_LEN {
            if self.fill()? == 0 {
                return match self.end {
                    0 => Ok(None),
                    got => Err(truncated(got, HEADER_LEN)),
                };
            }
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[..HEADER_LEN]);
        let n = check_length(header, self.max_frame).map_err(ReadError::Protocol)?;
        let total = HEADER_LEN + n;
        if self.buf.len() < total {
            // Grown to the frame's size, so the rest of a large frame is
            // read in place and nothing past it is read.
            self.buf.resize(total, 0);
        }
        while self.end < total {
            if self.fill()? == 0 {
                return Err(truncated(self.end, total));
            }
        }
        self.start = total;
        Ok(Some(HEADER_LEN..total))
    }

    /// One `read` into the free end of the buffer; 0 at EOF.
    fn fill(&mut self) -> Result<usize, ReadError> {
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ReadError::Io(err)),
            }
        }
    }

    /// Sends one complete frame with one `write_all`: the worker's output is
    /// an unbuffered descriptor, so nothing lingers in a userspace buffer.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.output.write_all(frame)
    }

    /// Sends a frame given as its head (length prefix included) and the
    /// bytes that end it (a payload), without joining them first.
    pub fn write_frame_parts(&mut self, head: &[u8], tail: &[u8]) -> io::Result<()> {
        write_parts(&mut self.output, head, tail)
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

/// Writes `head` then `tail` to `out` with one `writev` (looping on short
/// writes), so a payload goes out from where it is, not copied behind its head.
pub fn write_parts<W: Write>(out: &mut W, head: &[u8], tail: &[u8]) -> io::Result<()> {
    if tail.is_empty() {
        return out.write_all(head);
    }
    let (mut head, mut tail) = (head, tail);
    while !head.is_empty() {
        match out.write_vectored(&[IoSlice::new(head), IoSlice::new(tail)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) if n < head.len() => head = &head[n..],
            Ok(n) => {
                tail = &tail[n - head.len()..];
                head = &[];
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    out.write_all(tail)
}

fn truncated(got: usize, want: usize) -> ReadError {
    ReadError::Protocol(ProtocolError {
        code: "truncated_frame",
        detail: format!("the input ended inside a frame (at most {got} of {want} bytes arrived)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over `data` that counts its calls and hands out at most
    /// `chunk` bytes per call (a pipe hands out what is there).
    struct Counting {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
        calls: usize,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        [&(body.len() as u32).to_be_bytes()[..], body].concat()
    }

    fn channel(data: Vec<u8>, chunk: usize) -> Channel<Counting, Vec<u8>> {
        let input = Counting {
            data,
            pos: 0,
            chunk,
            calls: 0,
        };
        Channel::new(input, Vec::new(), 1 << 24)
    }

    #[test]
    fn a_small_frame_is_one_read_and_bytes_behind_it_are_kept() {
        let big = vec![b'b'; 3 * READ_AHEAD + 5];
        let data = [frame(b"one"), frame(b"two"), frame(&big), frame(b"four")].concat();
        let mut ch = channel(data, usize::MAX);
        assert_eq!(ch.read_frame().unwrap(), Some(&b"one"[..]));
        assert_eq!(
            ch.input.calls, 1,
            "length prefix and body come with one read"
        );
        assert_eq!(ch.read_frame().unwrap(), Some(&b"two"[..]));
        assert_eq!(ch.input.calls, 1, "the second frame was already read");
        assert_eq!(ch.read_frame().unwrap(), Some(&big[..]));
        assert_eq!(
            ch.input.calls, 2,
            "the rest of a large frame is one read into place"
        );
        assert_eq!(
            ch.buf.len(),
            4 + big.len(),
            "the buffer is sized from the length prefix"
        );
        assert_eq!(ch.read_frame().unwrap(), Some(&b"four"[..]));
        assert_eq!(ch.read_frame().unwrap(), None);
    }

    #[test]
    fn frames_split_anywhere_and_eof_inside_a_frame() {
        let data = [frame(b"abc"), frame(b"defgh")].concat();
        for chunk in 1..data.len() {
            let mut ch = channel(data.clone(), chunk);
            assert_eq!(ch.read_frame().unwrap(), Some(&b"abc"[..]));
            assert_eq!(ch.read_frame().unwrap(), Some(&b"defgh"[..]));
            assert_eq!(ch.read_frame().unwrap(), None);
        }
        for cut in 1..data.len() - 1 {
            if cut == 7 {
                continue; // a frame boundary
            }
            let mut ch = channel(data[..cut].to_vec(), 2);
            let err = (0..2)
                .find_map(|_| ch.read_frame().err())
                .expect("a cut frame is an error");
            assert!(
                matches!(&err, ReadError::Protocol(e) if e.code == "truncated_frame"),
                "cut at {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn a_swapped_buffer_keeps_the_bytes_read_past_the_frame() {
        let big = vec![b'b'; 3 * READ_AHEAD];
        let data = [frame(&big), frame(b"two"), frame(b"three")].concat();
        let mut ch = channel(data, usize::MAX);
        assert_eq!(ch.read_frame().unwrap(), Some(&big[..]));
        assert_eq!(ch.read_frame().unwrap(), Some(&b"two"[..]));
        // "three" was read with "two": it moves to the new buffer.
        let old = ch.swap_buffer(vec![0xee; 10]);
        assert_eq!(old.len(), 4 + big.len(), "the buffer read into so far");
        assert!(ch.buf.len() >= READ_AHEAD, "a small spare grows to the read-ahead");
        assert_eq!(ch.read_frame().unwrap(), Some(&b"three"[..]));
        assert_eq!(ch.read_frame().unwrap(), None);
        // A large spare is used as it is, its old contents overwritten.
        let mut ch = channel([frame(b"x"), frame(b"yz")].concat(), 5);
        assert_eq!(ch.read_frame().unwrap(), Some(&b"x"[..]));
        ch.swap_buffer(vec![0xee; 4 * READ_AHEAD]);
        assert_eq!(ch.buf.len(), 4 * READ_AHEAD);
        assert_eq!(ch.read_frame().unwrap(), Some(&b"yz"[..]));
    }

    /// A writer that takes at most 3 bytes per call, vectored or not.
    struct Stingy(Vec<u8>);

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn parts_survive_short_writes() {
        let mut out = Stingy(Vec::new());
        write_parts(&mut out, b"headx", b"payload").unwrap();
        assert_eq!(out.0, b"headxpayload");
        let mut out = Vec::new();
        write_parts(&mut out, b"head", b"").unwrap();
        assert_eq!(out, b"head");
    }
}
