//! Large replies written into the output pipe without copying them.
//!
//! A plain `write` copies a reply into pages the pipe allocates (and frees
//! once the supervisor has read them); `vmsplice(2)` puts references to the
//! reply's own pages into the pipe instead, and the supervisor's `read`
//! copies from them. For a 6 MB reply that is one copy of 6 MB fewer, and
//! the dearer one (docs/protocol.md, "Large frames").
//!
//! The price: the spliced bytes must not change until the supervisor has
//! read them. [`Splicer`] therefore holds every buffer it spliced from (a
//! reply the handler returned, or the input buffer an echoed event lies in)
//! until the supervisor has read past its last byte, and knows how far that
//! is without trusting anybody's order of events: the bytes it wrote to the
//! pipe so far minus the bytes still in it (`FIONREAD`). Bytes written to
//! the pipe by other means are not counted, which only ever makes it wait
//! longer. The usual hold is one invocation: the supervisor reads a whole
//! reply before it sends the next invoke.
//!
//! Where the output is not a pipe, or `vmsplice` is refused (a seccomp
//! filter), the reply is written as before and splicing is not tried again.

use std::io::{self, IoSlice, Write};
use std::os::fd::RawFd;

/// Replies from this size on are spliced; smaller ones are copied with the
/// frame's head in one `writev` (cheaper than pinning their pages).
pub(crate) const SPLICE_MIN: usize = 256 * 1024;

/// The writer of spliced replies and the keeper of their buffers.
pub struct Splicer {
    fd: RawFd,
    available: bool,
    /// Bytes written to `fd` through this splicer.
    written: u64,
    /// Buffers spliced from, each with `written` just after its last byte,
    /// and whether it may be handed out again as an input buffer.
    held: Vec<(Vec<u8>, u64, bool)>,
    /// A former input buffer the supervisor has read: the next one to read into.
    spare: Option<Vec<u8>>,
}

impl Splicer {
    /// A splicer for the pipe `fd` (the worker's frame output).
    pub fn new(fd: RawFd) -> Splicer {
        Splicer {
            fd,
            available: true,
            written: 0,
            held: Vec::new(),
            spare: None,
        }
    }

    /// Whether a reply of `len` bytes goes by [`Splicer::send`].
    pub fn wants(&self, len: usize) -> bool {
        self.available && len >= SPLICE_MIN
    }

    /// Bytes written through this splicer so far: the offset just past the
    /// last frame sent, for [`Splicer::hold`].
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes the frame `head` (copied) then `tail` (spliced) to the pipe,
    /// blocking until all of it is in. `Ok(true)`: pages of `tail` are in the
    /// pipe, and its buffer must be given to [`Splicer::hold`] before it can
    /// change or be freed. `Ok(false)`: `tail` was copied (splicing refused).
    pub fn send(&mut self, head: &[u8], tail: &[u8]) -> io::Result<bool> {
        let mut out = RawOut(self.fd);
        out.write_all(head)?;
        self.written += head.len() as u64;
        let mut rest = tail;
        let mut spliced = false;
        while !rest.is_empty() && self.available {
            match vmsplice(self.fd, rest) {
                Ok(n) => {
                    rest = &rest[n..];
                    self.written += n as u64;
                    spliced = true;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => wait_writable(self.fd)?,
                Err(err) if err.raw_os_error() == Some(libc::EPIPE) => return Err(err),
                // EBADF / EINVAL (not a pipe), ENOSYS, EPERM: write as before from here on.
                Err(_) => self.available = false,
            }
        }
        out.write_all(rest)?;
        self.written += rest.len() as u64;
        Ok(spliced)
    }

    /// Writes `head` and `tail` with copies (a reply not worth splicing),
    /// counting the bytes as [`Splicer::send`] does.
    pub fn copy(&mut self, head: &[u8], tail: &[u8]) -> io::Result<()> {
        crate::channel::write_parts(&mut RawOut(self.fd), head, tail)?;
        self.written += (head.len() + tail.len()) as u64;
        Ok(())
    }

    /// Keeps `buf`, spliced from up to output offset `end`, until the
    /// supervisor has read that far. `reusable`: an input buffer, handed out
    /// again by [`Splicer::take_spare`]; anything else is then dropped.
    pub fn hold(&mut self, buf: Vec<u8>, end: u64, reusable: bool) {
        self.held.push((buf, end, reusable));
    }

    /// Whether the supervisor has read everything up to output offset `end`.
    pub fn read_past(&self, end: u64) -> bool {
        self.consumed().map_or(false, |done| done >= end)
    }

    /// Lets go of the held buffers the supervisor has read past: one former
    /// input buffer is kept as the spare, the others are freed.
    pub fn collect(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let Some(done) = self.consumed() else { return };
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].1 > done {
                i += 1;
                continue;
            }
            let (buf, _, reusable) = self.held.swap_remove(i);
            if reusable && self.spare.as_ref().map_or(true, |s| s.len() < buf.len()) {
                self.spare = Some(buf);
            }
        }
    }

    /// An input buffer no pipe refers to (a former one, or a new empty one).
    pub fn take_spare(&mut self) -> Vec<u8> {
        self.collect();
        self.spare.take().unwrap_or_default()
    }

    /// Buffers held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// How far the supervisor has read what this splicer wrote: written
    /// minus what is still in the pipe. None when FIONREAD fails.
    fn consumed(&self) -> Option<u64> {
        let mut unread: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer.
        if unsafe { libc::ioctl(self.fd, libc::FIONREAD, &mut unread) } < 0 || unread < 0 {
            return None;
        }
        Some(self.written.saturating_sub(unread as u64))
    }
}

/// One `vmsplice` of (a prefix of) `bytes` into the pipe `fd`: the count taken.
fn vmsplice(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: the iovec describes `bytes`, which the kernel only reads (no
    // SPLICE_F_GIFT); the caller keeps them unchanged until read (see above).
    let n = unsafe { libc::vmsplice(fd, &iov, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn wait_writable(fd: RawFd) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, owned here.
    if unsafe { libc::poll(&mut p, 1, -1) } < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

/// `Write` on a descriptor owned elsewhere (the channel's output).
struct RawOut(RawFd);

impl Write for RawOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: writes from `buf`, valid for its length.
        let n = unsafe { libc::write(self.0, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: IoSlice is ABI-compatible with iovec on Unix.
        let n = unsafe { libc::writev(self.0, bufs.as_ptr().cast(), bufs.len() as libc::c_int) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::{Read, Seek};
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::thread;

    /// A pipe (read end, write end) of `size` bytes.
    fn pipe(size: libc::c_int) -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors, owned by the Files below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a descriptor owned here.
        assert!(unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size) } >= size);
        (r, w)
    }

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed) ^ (i >> 12) as u8)
            .collect()
    }

    #[test]
    fn spliced_frames_arrive_intact_at_page_and_pipe_boundaries() {
        let (mut r, w) = pipe(65_536);
        let sizes = [1usize, 4095, 4096, 4097, 65_535, 65_536, 65_537, 6_291_456];
        // Each tail at a page-aligned offset and at an odd one.
        let sent: Vec<(Vec<u8>, usize)> = sizes
            .iter()
            .flat_map(|&n| [(bytes(n + 4096, n as u8), 0), (bytes(n + 4096, 3), 4093)])
            .collect();
        let want: Vec<u8> = sent
            .iter()
            .enumerate()
            .flat_map(|(i, (buf, at))| {
                let head = format!("head{i}");
                let n = buf.len() - 4096;
                [head.as_bytes(), &buf[*at..*at + n]].concat()
            })
            .collect();
        let total = want.len();
        let reader = thread::spawn(move || {
            let mut got = vec![0u8; total];
            r.read_exact(&mut got).unwrap();
            got
        });
        let mut s = Splicer::new(w.as_raw_fd());
        for (i, (buf, at)) in sent.iter().enumerate() {
            let n = buf.len() - 4096;
            assert!(
                s.send(format!("head{i}").as_bytes(), &buf[*at..*at + n])
                    .unwrap(),
                "spliced"
            );
        }
        // `sent` outlives the reader's reads: nothing changes the spliced pages.
        let got = reader.join().unwrap();
        assert_eq!(s.written(), total as u64);
        assert!(
            got == want,
            "first difference at {:?}",
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
        // An empty tail is the head alone.
        let (mut r, w) = pipe(65_536);
        let mut s = Splicer::new(w.as_raw_fd());
        assert!(!s.send(b"only", b"").unwrap());
        let mut got = [0u8; 4];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"only");
    }

    #[test]
    fn held_buffers_wait_until_the_reader_has_read_past_them() {
        let (mut r, w) = pipe(1 << 20);
        let mut s = Splicer::new(w.as_raw_fd());
        let input = bytes(300_000, 1);
        let reply = bytes(300_000, 2);
        assert!(s.send(b"h1", &input).unwrap());
        let end1 = s.written();
        s.hold(input, end1, true);
        assert!(s.send(b"h2", &reply).unwrap());
        let end2 = s.written();
        s.hold(reply, end2, false);
        s.collect();
        assert_eq!(s.held(), 2, "nothing was read");
        assert!(!s.read_past(end1));
        assert!(
            s.take_spare().is_empty(),
            "no spare while the input buffer is in the pipe"
        );
        let mut got = vec![0u8; 2 + 300_000 + 1];
        r.read_exact(&mut got).unwrap();
        assert!(s.read_past(end1) && !s.read_past(end2));
        let spare = s.take_spare();
        assert_eq!(
            spare,
            bytes(300_000, 1),
            "the input buffer, read past, is the spare"
        );
        assert_eq!(s.held(), 1, "the reply is still held");
        let mut rest = vec![0u8; 2 + 300_000 - 1];
        r.read_exact(&mut rest).unwrap();
        s.collect();
        assert_eq!(s.held(), 0, "an owned reply read past is freed");
        assert!(s.take_spare().is_empty(), "and not kept as a spare");
    }

    #[test]
    fn a_descriptor_that_is_no_pipe_gets_copies() {
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(std::env::temp_dir().join(format!("bigreply-{}", std::process::id())))
            .unwrap();
        let mut s = Splicer::new(file.as_raw_fd());
        let tail = bytes(SPLICE_MIN, 5);
        assert!(s.wants(tail.len()));
        assert!(
            !s.send(b"head", &tail).unwrap(),
            "vmsplice is refused on a file"
        );
        assert!(!s.wants(tail.len()), "and not tried again");
        assert!(!s.send(b"again", &tail).unwrap());
        file.rewind().unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert_eq!(got, [&b"head"[..], &tail, b"again", &tail].concat());
        drop(file);
        std::fs::remove_file(std::env::temp_dir().join(format!("bigreply-{}", std::process::id())))
            .unwrap();
    }
}
