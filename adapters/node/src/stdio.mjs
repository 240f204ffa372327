// Takes the frame channel (fds 0 and 1) away from user code, once, before
// user code is loaded.
//
// Node has no dup()/dup2(), so two strategies:
//
// - "sealed" (Linux, fds 0 and 1 are pipes and fd 2 a pipe or terminal,
//   which is how the supervisor starts workers): reopening /proc/self/fd/N gives a new, private open file
//   description of the same pipe.  The adapter keeps those (close-on-exec)
//   and then re-points fd 0 at /dev/null and fd 1 at stderr with
//   close(fd) + open(), which lands on the lowest free descriptor: dup2 without
//   dup2.  Everything is then as safe as in the Python adapter: fs.writeSync(1),
//   child processes with stdio "inherit", native addons printing to stdout all
//   end up on stderr, and reads of fd 0 see EOF.
// - "shared" (anything else, e.g. the socketpairs Node's own child_process
//   creates, which /proc cannot reopen): the adapter reads fd 0 and writes fd 1
//   itself and only the JavaScript stdio objects are redirected.
//
// In both modes process.stdout and process.stderr are replaced by writers
// that write synchronously to fd 2 (Node's own pipe streams go asynchronous
// when the pipe is full, and a log line must never overtake the reply frame),
// and console is rebound to them.

import fs from "node:fs";
import net from "node:net";
import { Readable, Writable } from "node:stream";

const { O_RDONLY, O_WRONLY, O_APPEND } = fs.constants;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Write all of `buf` to `fd`, blocking; survives a descriptor someone made non-blocking. */
export function writeAllSync(fd, buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
      Atomics.wait(sleepCell, 0, 0, 1); // pipe full and fd non-blocking: wait 1 ms for the reader
    }
  }
}

/** A synchronous Writable on fd 2, standing in for process.stdout / process.stderr. */
class LogWriter extends Writable {
  constructor() {
    super({ decodeStrings: true });
    this.fd = 2; // libraries that write to `process.stdout.fd` directly (sonic-boom, pino) land on stderr too
    this.isTTY = false;
    this._isStdio = true;
  }

  _write(chunk, _encoding, callback) {
    try {
      writeAllSync(2, chunk);
      callback();
    } catch (err) {
      callback(err);
    }
  }
}

function defineStdio(name, stream) {
  Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => stream });
}

function closeAll(fds) {
  for (const fd of fds) {
    try {
      fs.closeSync(fd);
    } catch {
      // already gone: nothing to release
    }
  }
}

/** Private descriptors for the frame channel, with fds 0/1 re-pointed; null when not possible. */
function seal() {
  if (process.platform !== "linux") return null;
  const opened = [];
  try {
    if (!fs.fstatSync(0).isFIFO() || !fs.fstatSync(1).isFIFO()) return null;
    // A regular file on fd 2 would get a second, independent write offset and
    // the two would overwrite each other; sockets cannot be reopened at all.
    const err = fs.fstatSync(2);
    if (!err.isFIFO() && !err.isCharacterDevice()) return null;
    opened.push(fs.openSync("/proc/self/fd/0", O_RDONLY));
    opened.push(fs.openSync("/proc/self/fd/1", O_WRONLY));
    // Probe the two targets before fds 0/1 are closed, so a failure leaves them untouched.
    closeAll([fs.openSync("/dev/null", O_RDONLY), fs.openSync("/proc/self/fd/2", O_WRONLY | O_APPEND)]);
  } catch {
    closeAll(opened);
    return null;
  }
  fs.closeSync(0);
  const nullFd = reopenAt(0, "/dev/null", O_RDONLY);
  fs.closeSync(1);
  const logFd = reopenAt(1, "/proc/self/fd/2", O_WRONLY | O_APPEND);
  if (nullFd !== 0 || logFd !== 1) {
    // Another thread kept a descriptor there; fds 0/1 are no longer what they should be.
    throw new Error(`could not re-point fds 0/1 (got ${nullFd}, ${logFd}); the frame channel is unsafe`);
  }
  return { inFd: opened[0], outFd: opened[1] };
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4)); // Atomics.wait's: a synchronous 1 ms pause

/**
 * Open `path` onto `fd`, just closed: open() takes the lowest free
 * descriptor, but another thread of the process (Node's own, at start) may
 * hold `fd` for a moment (seen: a start where the first open got 19, and
 * fd 0 was free again by the next open).  Node has no dup2, so wait for it
 * to be free again, up to about 100 ms.  Returns the descriptor it got.
 */
function reopenAt(fd, path, flags) {
  let got = fs.openSync(path, flags);
  for (let attempt = 0; got !== fd && attempt < 100; attempt++) {
    fs.closeSync(got);
    Atomics.wait(PAUSE, 0, 0, 1); // 1 ms
    got = fs.openSync(path, flags);
  }
  return got;
}

function readStream(fd) {
  const st = fs.fstatSync(fd);
  if (st.isFIFO() || st.isSocket()) return new net.Socket({ fd, readable: true, writable: false });
  return fs.createReadStream(null, { fd, autoClose: false, highWaterMark: 1 << 20 });
}

let channel = null;

/**
 * Take the frame channel (idempotent).  Returns
 * `{ mode, input, writeFrame(parts) }`: `input` is a Readable of raw frame
 * bytes, `writeFrame` writes [prefix, body] synchronously.
 */
export function takeChannel() {
  if (channel !== null) return channel;
  const sealed = seal();
  const inFd = sealed ? sealed.inFd : 0;
  const outFd = sealed ? sealed.outFd : 1;

  defineStdio("stdout", new LogWriter());
  defineStdio("stderr", new LogWriter());
  if (!sealed) {
    // fd 0 is the frame channel: user code gets a stdin that is already at its end.
    const stdin = new Readable({ read() {} });
    stdin.push(null);
    defineStdio("stdin", stdin);
  } // sealed: fd 0 is /dev/null, Node's own lazy process.stdin reads EOF from it
  // console binds process.stdout/stderr lazily; rebind in case something logged already.
  console._stdout = process.stdout;
  console._stderr = process.stderr;

  channel = {
    mode: sealed ? "sealed" : "shared",
    input: readStream(inFd),
    writeFrame(parts) {
      for (const part of parts) writeAllSync(outFd, part);
    },
  };
  return channel;
}
