//! The frame stream's file descriptors: taking them off fds 0/1 before user
//! code runs, reading frames into a reusable buffer, writing whole frames.
//!
//! After [`Channel::take_stdio`], fd 0 reads `/dev/null` and fd 1 is a copy
//! of fd 2, so `println!` lands in the log and neither the handler nor a
//! child process it spawns can read or corrupt frames. The private
//! descriptors are close-on-exec, so children do not inherit them.

use std::fs::File;
use std::io::{self, Read, Write};
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
pub struct Channel<R = File, W = File> {
    input: R,
    output: W,
    buf: Vec<u8>,
    max_frame: usize,
}

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
}

impl<R: Read, W: Write> Channel<R, W> {
    pub fn new(input: R, output: W, max_frame: usize) -> Self {
        Channel {
            input,
            output,
            buf: Vec::new(),
            max_frame,
        }
    }

    /// The next frame's body, or `None` on EOF at a frame boundary.
    pub fn read_frame(&mut self) -> Result<Option<&[u8]>, ReadError> {
        let mut header = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match self.input.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(truncated(got, HEADER_LEN)),
                Ok(n) => got += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ReadError::Io(err)),
            }
        }
        let n = check_length(header, self.max_frame).map_err(ReadError::Protocol)?;
        // The buffer keeps its capacity, so steady traffic reads in place
        // without reallocating; only a larger frame grows it.
        self.buf.clear();
        self.buf.resize(n, 0);
        self.input.read_exact(&mut self.buf).map_err(|err| {
            if err.kind() == io::ErrorKind::UnexpectedEof {
                truncated(HEADER_LEN, HEADER_LEN + n)
            } else {
                ReadError::Io(err)
            }
        })?;
        Ok(Some(&self.buf))
    }

    /// Sends one complete frame with one `write_all`: the worker's output is
    /// an unbuffered descriptor, so nothing lingers in a userspace buffer.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.output.write_all(frame)?;
        self.output.flush()
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

fn truncated(got: usize, want: usize) -> ReadError {
    ReadError::Protocol(ProtocolError {
        code: "truncated_frame",
        detail: format!("the input ended inside a frame (at most {got} of {want} bytes arrived)"),
    })
}
