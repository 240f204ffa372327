// The sans-IO codec against the shared vectors (tests/vectors) and against
// inputs split at every byte.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decode } from "@msgpack/msgpack";
import {
  DEFAULT_MAX_FRAME,
  FEATURES,
  FrameDecoder,
  FrameError,
  encodeFrame,
  maxFrameFromEnv,
  messages,
  parseToWorker,
} from "../src/codec.mjs";
import { VECTORS, toWorkerVectors } from "./harness.mjs";

/** A decoded message in the vectors' JSON notation (bin as {"$bin": base64}). */
function asJson(value) {
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(asJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asJson(v)]));
  }
  return value;
}

function decodeAll(bytes, maxFrame, chunkSize = bytes.length) {
  const decoder = new FrameDecoder(maxFrame);
  const out = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    for (const body of decoder.push(bytes.subarray(i, i + chunkSize))) out.push(parseToWorker(body));
  }
  return { messages: out, pending: decoder.pending };
}

const vectors = toWorkerVectors();

test("the shared vectors are present", () => {
  assert.ok(vectors.length >= 20, `expected the to_worker vectors in ${VECTORS}; found ${vectors.length}`);
  assert.ok(vectors.some((v) => v.spec.valid) && vectors.some((v) => !v.spec.valid));
});

for (const { name, spec, bin } of vectors.filter((v) => v.spec.valid)) {
  test(`vector ${name}: decodes to the described message, whole and split at every byte`, () => {
    const maxFrame = spec.max_frame ?? DEFAULT_MAX_FRAME;
    const whole = decodeAll(bin, maxFrame);
    assert.equal(whole.messages.length, 1);
    assert.equal(whole.pending, 0);
    assert.deepEqual(asJson(whole.messages[0]), spec.message);
    assert.deepEqual(Object.keys(whole.messages[0]), Object.keys(spec.message), "keys in wire order");
    const step = bin.length > 4096 ? 997 : 1; // the 70 KiB vector: a prime stride keeps it fast
    const split = decodeAll(bin, maxFrame, step);
    assert.deepEqual(asJson(split.messages[0]), spec.message);
  });
}

for (const { name, spec, bin } of vectors.filter((v) => !v.spec.valid)) {
  test(`vector ${name}: rejected with ${spec.error}`, () => {
    const maxFrame = spec.max_frame ?? DEFAULT_MAX_FRAME;
    assert.throws(
      () => decodeAll(bin, maxFrame),
      (err) => err instanceof FrameError && err.code === spec.error && err.message.length > 0,
    );
    if (spec.error === "frame_too_large" || spec.error === "empty_frame") {
      // decided on the 4 header bytes alone, before any body arrives
      assert.throws(() => new FrameDecoder(maxFrame).push(bin.subarray(0, 4)), { code: spec.error });
    }
  });
}

test("several frames in one chunk, and a frame cut in the middle stays pending", () => {
  const valid = vectors.filter((v) => v.spec.valid);
  const all = Buffer.concat(valid.map((v) => v.bin));
  const { messages: got, pending } = decodeAll(Buffer.concat([all, valid[0].bin.subarray(0, 7)]));
  assert.equal(got.length, valid.length);
  assert.equal(pending, 7);
});

test("a 6 MB frame body is assembled into one buffer of the announced length", () => {
  const payload = Buffer.alloc(6 * 1024 * 1024, 0x61);
  const [prefix, body] = encodeFrame({ type: "invoke", id: "x", payload, deadline_ms: 1, function_arn: "a" });
  const bytes = Buffer.concat([prefix, body]);
  const decoder = new FrameDecoder();
  let bodies = [];
  for (let i = 0; i < bytes.length; i += 65536) bodies = bodies.concat(decoder.push(bytes.subarray(i, i + 65536)));
  assert.equal(bodies.length, 1);
  assert.equal(bodies[0].length, body.length);
  assert.ok(Buffer.from(parseToWorker(bodies[0]).payload).equals(payload));
});

test("encodeFrame writes a big-endian length and one msgpack map; bin stays bin", () => {
  const [prefix, body] = encodeFrame(messages.result("id-1", Buffer.from("{}")));
  assert.equal(prefix.readUInt32BE(0), body.length);
  const decoded = decode(body);
  assert.equal(decoded.type, "result");
  assert.ok(decoded.payload instanceof Uint8Array);
  const bytes = Buffer.from(body);
  assert.equal(bytes[bytes.indexOf("payload") + 7], 0xc4, "payload uses the bin family");
  assert.deepEqual(decode(encodeFrame(messages.ready())[1]), { type: "ready", protocol: 1, features: [] });
  assert.deepEqual(
    decode(encodeFrame(messages.error("i", { type: "T", message: "m", stack: ["a"] }))[1]),
    { type: "error", id: "i", error_type: "T", error_message: "m", stack_trace: ["a"] },
  );
});

test("DISPATCHER_MAX_FRAME: default, valid, and rejected values", () => {
  assert.equal(maxFrameFromEnv({}), DEFAULT_MAX_FRAME);
  assert.equal(maxFrameFromEnv({ DISPATCHER_MAX_FRAME: "1024" }), 1024);
  for (const bad of ["0", "-1", "1.5", "16MB", "99999999999"]) {
    assert.throws(() => maxFrameFromEnv({ DISPATCHER_MAX_FRAME: bad }), /DISPATCHER_MAX_FRAME/);
  }
});

test("a __proto__ key is an ordinary (ignored) key, not a prototype", () => {
  const body = Buffer.from([0x82, 0xa4, ...Buffer.from("type"), 0xa8, ...Buffer.from("shutdown"), 0xa9, ...Buffer.from("__proto__"), 0x80]);
  const message = parseToWorker(body);
  assert.equal(message.type, "shutdown");
  assert.equal(Object.getPrototypeOf(message), null);
});

// Feature `stream`: the frames this adapter sends are byte for byte the shared
// canonical vectors (to_supervisor_ready_stream, _stream_open*, _stream_chunk*, _stream_end).
import fs from "node:fs";
import path from "node:path";

function supervisorVector(name) {
  const base = path.join(VECTORS, `to_supervisor_${name}`);
  return { bin: fs.readFileSync(`${base}.bin`), spec: JSON.parse(fs.readFileSync(`${base}.json`, "utf8")) };
}

const fromBin = (v) => Buffer.from(v.$bin, "base64");

for (const [name, build] of [
  ["ready_stream", () => messages.ready(FEATURES)],
  ["stream_open", (m) => messages.streamOpen(m.id, m.content_type)],
  ["stream_open_http_integration", (m) => messages.streamOpen(m.id, m.content_type)],
  ["stream_open_nil_content_type", (m) => messages.streamOpen(m.id, undefined)],
  ["stream_chunk", (m) => messages.streamChunk(m.id, fromBin(m.data))],
  ["stream_chunk_binary", (m) => messages.streamChunk(m.id, fromBin(m.data))],
  ["stream_chunk_empty", (m) => messages.streamChunk(m.id, fromBin(m.data))],
  ["stream_end", (m) => messages.streamEnd(m.id)],
]) {
  test(`vector to_supervisor_${name}: encoded byte for byte`, () => {
    const { bin, spec } = supervisorVector(name);
    assert.ok(spec.valid && spec.canonical);
    const [prefix, body] = encodeFrame(build(spec.message));
    assert.ok(Buffer.concat([prefix, Buffer.from(body)]).equals(bin));
  });
}
