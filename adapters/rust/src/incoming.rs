//! Reading what the supervisor sends, for every serving loop (run, run_concurrent,
//! run_streaming): the next frame and the invoke it holds, or the exit the
//! protocol demands when it is malformed.

use crate::channel::ReadError;
use crate::protocol::{self, Invoke, ToWorker};
use crate::worker::{fail, EX_IOERR, EX_SOFTWARE};

/// The next frame, or None at EOF; a malformed frame or a read error ends the
/// process (70 / 74), as every serving loop must.
pub(crate) fn frame_or_exit(read: Result<Option<&[u8]>, ReadError>) -> Option<&[u8]> {
    match read {
        Ok(frame) => frame,
        Err(ReadError::Protocol(err)) => fail(
            EX_SOFTWARE,
            &format!("malformed frame from the supervisor: {err}; exiting with status 70"),
        ),
        Err(ReadError::Io(err)) => fail(EX_IOERR, &format!("cannot read frames: {err}")),
    }
}

/// The invoke a frame holds, or None for `shutdown`; anything else ends the
/// process with status 70.
pub(crate) fn invoke_or_exit(body: &[u8]) -> Option<Invoke<'_>> {
    match protocol::decode_to_worker(body) {
        Ok(ToWorker::Invoke(invoke)) => Some(invoke),
        Ok(ToWorker::Shutdown) => None,
        Err(err) => fail(
            EX_SOFTWARE,
            &format!("malformed frame from the supervisor: {err}; exiting with status 70"),
        ),
    }
}
