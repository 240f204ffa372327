// Wire protocol v1 codec, sans-IO: bytes in, messages out, and back.
//
// Nothing here touches a file descriptor.  FrameDecoder is fed chunks as they
// arrive and hands back whole frame bodies; parseToWorker() turns one body
// into a validated message or throws a FrameError whose `code` is one of the
// error codes of tests/vectors/README.md.  encodeFrame() builds the bytes of a
// worker-to-supervisor frame.  The spec is docs/protocol.md.

import { Decoder, encode } from "@msgpack/msgpack";

export const PROTOCOL_VERSION = 1;
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
const HEADER_BYTES = 4;
const U32_MAX = 0xffffffff;

/** A frame that breaks protocol v1; `code` is the vectors' error code. */
export class FrameError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

/**
 * Reassembles frames from arbitrary chunks.
 *
 * Each body goes into one Buffer allocated at the announced length, so a
 * 6 MB event arriving in 64 KiB chunks is copied once, not concatenated
 * over and over.  The length is checked on the 4 header bytes alone.
 */
export class FrameDecoder {
  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame;
    this.header = Buffer.alloc(HEADER_BYTES);
    this.headerFill = 0;
    this.body = null; // Buffer of the announced length, once the header is complete
    this.bodyFill = 0;
  }

  /** Feed one chunk; returns the frame bodies it completed (possibly none). */
  push(chunk) {
    const frames = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body === null) {
        const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < HEADER_BYTES) break;
        const length = this.header.readUInt32BE(0);
        if (length === 0) throw new FrameError("empty_frame", "frame length is 0 (frames hold at least one byte)");
        if (length > this.maxFrame) {
          throw new FrameError(
            "frame_too_large",
            `frame length ${length} exceeds DISPATCHER_MAX_FRAME=${this.maxFrame}`,
          );
        }
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      }
      const n = Math.min(this.body.length - this.bodyFill, chunk.length - pos);
      chunk.copy(this.body, this.bodyFill, pos, pos + n);
      this.bodyFill += n;
      pos += n;
      if (this.bodyFill === this.body.length) {
        frames.push(this.body);
        this.body = null;
        this.headerFill = 0;
      }
    }
    return frames;
  }

  /** Bytes of an unfinished frame (non-zero at EOF means a truncated frame). */
  get pending() {
    return this.body === null ? this.headerFill : HEADER_BYTES + this.bodyFill;
  }
}

// Nested maps (inside unknown keys) may have int keys; only top-level keys
// must be str, and those are checked by parseToWorker itself.
const nestedKeys = (key) => {
  if (typeof key === "string" || typeof key === "number") return key;
  throw new FrameError("invalid_msgpack", `nested map key of unsupported type ${describe(key)}`);
};

/** Size of a map header at body[0] and its entry count, or null when body does not start with a map. */
function mapHeader(body) {
  const b = body[0];
  if (b >= 0x80 && b <= 0x8f) return { offset: 1, count: b & 0x0f };
  if (b === 0xde && body.length >= 3) return { offset: 3, count: body.readUInt16BE(1) };
  if (b === 0xdf && body.length >= 5) return { offset: 5, count: body.readUInt32BE(1) };
  if (b === 0xde || b === 0xdf) throw new FrameError("invalid_msgpack", "frame ends inside a map header");
  return null;
}

function describe(value) {
  if (value === null) return "nil";
  if (value instanceof Uint8Array) return "bin";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "object") return "map";
  return typeof value === "string" ? "str" : typeof value;
}

/** Decode the single msgpack value of a body, or throw invalid_msgpack/trailing_data. */
function decodeSingle(body, offset, count) {
  const values = [];
  const decoder = new Decoder({ mapKeyConverter: nestedKeys });
  const items = decoder.decodeMulti(body.subarray(offset));
  try {
    for (let i = 0; i < count; i++) {
      const next = items.next();
      if (next.done) throw new FrameError("invalid_msgpack", `frame ends inside a map (${i} of ${count} items)`);
      values.push(next.value);
    }
  } catch (err) {
    if (err instanceof FrameError) throw err;
    throw new FrameError("invalid_msgpack", `frame body is not valid msgpack: ${err.message}`);
  }
  let trailing;
  try {
    trailing = !items.next().done;
  } catch {
    trailing = true; // bytes that do not even decode are still left-over bytes
  }
  if (trailing) throw new FrameError("trailing_data", "bytes left in the frame after its msgpack value");
  return values;
}

const NULLABLE_STR = ["trace_id", "client_context", "cognito_identity", "tenant_id"];

function checkInvoke(m) {
  const bad = (key, want) =>
    new FrameError("bad_field", `invoke: ${key} must be ${want}, got ${key in m ? describe(m[key]) : "nothing"}`);
  if (typeof m.id !== "string") throw bad("id", "str");
  if (!(m.payload instanceof Uint8Array)) throw bad("payload", "bin");
  if (!Number.isInteger(m.deadline_ms)) throw bad("deadline_ms", "int");
  if (typeof m.function_arn !== "string") throw bad("function_arn", "str");
  for (const key of NULLABLE_STR) {
    if (m[key] === undefined) m[key] = null; // not pinned by the spec; the supervisor always sends them
    else if (m[key] !== null && typeof m[key] !== "string") throw bad(key, "str or nil");
  }
}

const TO_WORKER = { invoke: checkInvoke, shutdown: () => {} };

/**
 * Validate one supervisor-to-worker frame body (length prefix stripped).
 * Returns a null-prototype object with every key of the map (unknown keys
 * included, so `__proto__` is just a key); throws FrameError.
 */
export function parseToWorker(body) {
  const header = body.length > 0 ? mapHeader(body) : null;
  if (header === null) {
    decodeSingle(body, 0, 1); // reports invalid_msgpack / trailing_data before not_a_map
    throw new FrameError("not_a_map", "frame body is not a msgpack map");
  }
  const values = decodeSingle(body, header.offset, 2 * header.count);
  const message = Object.create(null);
  for (let i = 0; i < values.length; i += 2) {
    const key = values[i];
    if (typeof key !== "string") throw new FrameError("non_str_key", `map key of type ${describe(key)}; keys must be str`);
    message[key] = values[i + 1];
  }
  if (typeof message.type !== "string") {
    throw new FrameError("missing_type", `frame has no str "type" (got ${"type" in message ? describe(message.type) : "nothing"})`);
  }
  const check = TO_WORKER[message.type];
  if (check === undefined) {
    throw new FrameError("unknown_type", `unknown frame type ${JSON.stringify(message.type)} (a worker accepts invoke, shutdown)`);
  }
  check(message);
  return message;
}

/**
 * The bytes of one worker-to-supervisor frame, as [prefix, body] so that a
 * large result is written without copying it into a second buffer.
 */
export function encodeFrame(message) {
  const body = encode(message);
  if (body.length > U32_MAX) throw new RangeError(`frame of ${body.length} bytes does not fit a 32-bit length`);
  const prefix = Buffer.allocUnsafe(HEADER_BYTES);
  prefix.writeUInt32BE(body.length, 0);
  return [prefix, body];
}

/** The max_frame setting from the environment; throws a plain Error on a bad value. */
export function maxFrameFromEnv(env) {
  const raw = env.DISPATCHER_MAX_FRAME;
  if (raw === undefined || raw === "") return DEFAULT_MAX_FRAME;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > U32_MAX) {
    throw new Error(`DISPATCHER_MAX_FRAME=${JSON.stringify(raw)} is not a byte count between 1 and ${U32_MAX}`);
  }
  return Number(raw);
}

/** Optional frame kinds this adapter can send (docs/protocol.md). */
export const FEATURES = ["stream"];

export const messages = {
  ready: (features = []) => ({ type: "ready", protocol: PROTOCOL_VERSION, features }),
  streamOpen: (id, contentType) => ({ type: "stream_open", id, content_type: contentType ?? null }),
  streamChunk: (id, data) => ({ type: "stream_chunk", id, data }),
  streamEnd: (id) => ({ type: "stream_end", id }),
  initError: (e) => ({ type: "init_error", error_type: e.type, error_message: e.message, stack_trace: e.stack }),
  result: (id, payload) => ({ type: "result", id, payload }),
  error: (id, e) => ({ type: "error", id, error_type: e.type, error_message: e.message, stack_trace: e.stack }),
};
