// Test harness: a real worker process (node bin.mjs ...) driven over its
// stdin/stdout the way the supervisor drives it.  Frames the worker sends are
// decoded with the adapter's own FrameDecoder plus a plain msgpack decode.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decode, encode } from "@msgpack/msgpack";
import { FrameDecoder } from "../src/codec.mjs";

export const ADAPTER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURES = path.join(ADAPTER, "test", "fixtures");
export const BIN = path.join(ADAPTER, "bin.mjs");
const WAIT_MS = 10_000;
export const VECTORS = path.resolve(ADAPTER, "..", "..", "tests", "vectors");

/** Every to_worker vector: {name, bin, spec}. */
export function toWorkerVectors() {
  if (!fs.existsSync(VECTORS)) return [];
  return fs
    .readdirSync(VECTORS)
    .filter((f) => f.startsWith("to_worker_") && f.endsWith(".json"))
    .sort()
    .map((f) => ({
      name: f.slice(0, -5),
      spec: JSON.parse(fs.readFileSync(path.join(VECTORS, f), "utf8")),
      bin: fs.readFileSync(path.join(VECTORS, f.replace(/\.json$/, ".bin"))),
    }));
}


export function frame(message) {
  const body = encode(message);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

let nextId = 0;

export function invokeMessage(event, extra = {}) {
  const payload = Buffer.isBuffer(event) ? event : Buffer.from(JSON.stringify(event));
  return {
    type: "invoke",
    id: `req-${++nextId}`,
    payload,
    deadline_ms: Date.now() + 30_000,
    function_arn: "arn:aws:lambda:us-east-1:123456789012:function:test",
    trace_id: null,
    client_context: null,
    cognito_identity: null,
    tenant_id: null,
    ...extra,
  };
}

/**
 * Start a worker.  `argv` follows `node`; `options.shell` wraps the command in
 * `cat` processes so that fds 0, 1 and 2 are real pipes (Node's own spawn
 * gives socketpairs, which put the adapter in "shared" mode), which is how the Python supervisor starts it.
 */
export function startWorker(argv, { env = {}, shell = false, cwd = FIXTURES } = {}) {
  const fullEnv = { ...process.env, DISPATCHER_PROTOCOL: "1", DISPATCHER_FEATURES: "", DISPATCHER_WORKER: "test", ...env };
  const quoted = [process.execPath, ...argv].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = shell
    ? spawn("sh", ["-c", `{ cat | ${quoted} 2>&1 >&3 3>&- | cat >&2 3>&-; } 3>&1 | cat`], { cwd, env: fullEnv })
    : spawn(process.execPath, argv, { cwd, env: fullEnv });
  // Junk on stdout (a broken adapter) shows up as an absurd length: fail fast.
  const decoder = new FrameDecoder(64 * 1024 * 1024);
  let broken = null;
  const frames = [];
  const waiters = [];
  let stdoutBytes = 0;
  let stderr = "";
  const flush = () => {
    while (waiters.length && frames.length) waiters.shift().resolve(frames.shift());
    while (broken && waiters.length) waiters.shift().reject(broken);
  };
  child.stdout.on("data", (chunk) => {
    stdoutBytes += chunk.length;
    try {
      if (!broken) for (const body of decoder.push(chunk)) frames.push(decode(body));
    } catch (err) {
      broken = new Error(`the worker wrote bytes that are not frames: ${err.message}; stderr:\n${stderr}`);
      child.kill("SIGKILL");
    }
    flush();
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text) => (stderr += text));
  const exited = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  child.stdin.on("error", () => {}); // EPIPE after the worker exits is expected in some tests

  return {
    child,
    get stderr() {
      return stderr;
    },
    get stdoutBytes() {
      return stdoutBytes;
    },
    /** The next frame from the worker (rejects after WAIT_MS, with the worker's stderr). */
    next() {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frame within ${WAIT_MS} ms; stderr:\n${stderr}`)), WAIT_MS);
        waiters.push({ resolve: (f) => (clearTimeout(timer), resolve(f)), reject: (e) => (clearTimeout(timer), reject(e)) });
        flush();
      });
    },
    send(message) {
      child.stdin.write(frame(message));
    },
    sendBytes(bytes) {
      child.stdin.write(bytes);
    },
    async invoke(event, extra) {
      const message = invokeMessage(event, extra);
      this.send(message);
      const reply = await this.next();
      return { id: message.id, reply };
    },
    closeStdin() {
      child.stdin.end();
    },
    /** Exit status, after closing stdin unless told not to. */
    async exit({ close = true } = {}) {
      if (close) child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_MS);
      const result = await exited;
      clearTimeout(timer);
      if (broken) throw broken;
      return { ...result, stderr, pendingFrames: frames.length, partialBytes: decoder.pending };
    },
  };
}

/** JSON value of a result frame's bin payload. */
export function resultJson(reply) {
  return JSON.parse(Buffer.from(reply.payload).toString("utf8"));
}
