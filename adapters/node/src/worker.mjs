// The worker loop: load user code, send `ready` (or `init_error`), then answer
// invokes until `shutdown` or EOF: one at a time, or, when the supervisor has
// N > 1 slots and offers `multiplex` (docs/protocol.md), up to N at once,
// replying by id as each handler settles (as AWS's Node runtime runs async
// handlers concurrently on Lambda Managed Instances).  A malformed frame from
// the supervisor ends the process with status 70 after a diagnostic on stderr.

import { FEATURES, FrameDecoder, FrameError, encodeFrame, maxFrameFromEnv, messages, parseToWorker } from "./codec.mjs";
import {
  RuntimeError,
  buildContext,
  decodeEvent,
  describeError,
  encodeRawResult,
  encodeResult,
} from "./invocation.mjs";
import { callHandler } from "./settle.mjs";
import { logInvokeError, patchConsole, setRequest } from "./logging.mjs";
import { takeChannel, writeAllSync } from "./stdio.mjs";
import { HANDLER_HIGHWATERMARK, ResponseStream, isStreamingHandler } from "./streaming.mjs";
import { finished } from "node:stream/promises";

export const EX_SOFTWARE = 70;
const INIT_FAILED = 1;
const RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge";
const ERROR_MESSAGE_CAP = 64 * 1024; // the supervisor caps at 256 KiB anyway; keep error frames small
const STACK_LINES_CAP = 100;

export const RAW = Symbol.for("lambda-dispatcher.raw");

function logLine(text) {
  writeAllSync(2, Buffer.from(`lambda-dispatcher-node: ${text}\n`, "utf8"));
}

function capError(e) {
  const message = e.message.length > ERROR_MESSAGE_CAP ? `${e.message.slice(0, ERROR_MESSAGE_CAP)}... [cut]` : e.message;
  return { type: e.type, message, stack: e.stack.slice(0, STACK_LINES_CAP) };
}

function asReply(err) {
  // The adapter's own errors (unmarshal, marshal) carry no useful stack.
  if (err instanceof RuntimeError) return { type: err.name, message: err.message, stack: [] };
  try {
    return capError(describeError(err));
  } catch {
    return { type: "Error", message: "the handler threw a value that cannot be described (its getters throw)", stack: [] };
  }
}

/** A queue of validated frames, fed by the input stream, drained one message at a time. */
function frameQueue(input, maxFrame) {
  const decoder = new FrameDecoder(maxFrame);
  const queue = [];
  let wake = null;
  const push = (message) => {
    queue.push(message);
    if (wake) wake();
  };
  const fail = (text) => {
    logLine(`protocol error from the supervisor: ${text}; exiting with status ${EX_SOFTWARE}`);
    process.exit(EX_SOFTWARE);
  };
  input.on("data", (chunk) => {
    try {
      for (const body of decoder.push(chunk)) push(parseToWorker(body));
    } catch (err) {
      fail(err instanceof FrameError ? `${err.code}: ${err.message}` : String(err?.stack ?? err));
    }
  });
  input.on("end", () => {
    if (decoder.pending > 0) fail(`stdin ended inside a frame (${decoder.pending} bytes of it received)`);
    push({ type: "eof" });
  });
  input.on("error", (err) => fail(`reading stdin failed: ${err.message}`));
  return async function next() {
    while (queue.length === 0) await new Promise((resolve) => (wake = resolve));
    wake = null;
    return queue.shift();
  };
}

/**
 * How many invokes may be in flight: DISPATCHER_CONCURRENCY when the supervisor
 * offers `multiplex` in DISPATCHER_FEATURES, else 1.  A bad value is a config error.
 */
export function concurrencyFromEnv(env) {
  const features = (env.DISPATCHER_FEATURES ?? "").split(",").map((f) => f.trim());
  if (!features.includes("multiplex")) return 1;
  const text = env.DISPATCHER_CONCURRENCY ?? "1";
  if (!/^[1-9][0-9]{0,4}$/.test(text)) {
    throw new Error(`DISPATCHER_CONCURRENCY must be a whole number of slots from 1 to 99999, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function setTraceId(traceId) {
  if (traceId === null) delete process.env._X_AMZN_TRACE_ID;
  else process.env._X_AMZN_TRACE_ID = traceId;
}

async function answer(invoke, handler, raw, maxFrame, shared) {
  // Concurrent handlers share one process environment: _X_AMZN_TRACE_ID would
  // name whichever invoke came last, so in multiplex mode the trace id is only
  // on the context (context.xrayTraceId), as on Lambda Managed Instances.  The
  // log records' request id is process-wide too: set only when not shared.
  if (!shared) {
    setTraceId(invoke.trace_id);
    setRequest(invoke.id, invoke.tenant_id);
  }
  let reply;
  try {
    const p = invoke.payload;
    const event = raw ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : decodeEvent(p);
    const value = await callHandler(handler, event, (control) => buildContext(invoke, process.env, control));
    reply = messages.result(invoke.id, raw ? encodeRawResult(value) : encodeResult(value));
  } catch (err) {
    if (!(err instanceof RuntimeError)) logInvokeError(err);
    reply = messages.error(invoke.id, asReply(err));
  }
  let frame = encodeFrame(reply);
  if (frame[1].length > maxFrame) {
    const size = reply.payload?.length ?? frame[1].length;
    frame = encodeFrame(
      messages.error(invoke.id, {
        type: RESPONSE_SIZE_TOO_LARGE,
        message: `response of ${size} bytes does not fit DISPATCHER_MAX_FRAME=${maxFrame}`,
        stack: [],
      }),
    );
  }
  return frame;
}

/**
 * One invocation of an awslambda.streamifyResponse() handler: its
 * responseStream writes the frames itself; what is left is to report a
 * failure (an `error` frame ends the stream, or answers the invoke when
 * nothing was written).
 */
// A streaming handler's context has no done/succeed/fail (neither has AWS's):
// the response stream is how it ends.
const STREAMING_CONTROL = {
  waitsForEmptyLoop: false,
  done: noCallbacks,
  succeed: noCallbacks,
  fail: noCallbacks,
};

function noCallbacks() {
  throw new RuntimeError(
    "Runtime.InvalidStreamingOperation",
    "context.done/succeed/fail are not available to a streaming handler: write to the responseStream and end() it",
  );
}

async function answerStreaming(invoke, handler, raw, writeFrame, canStream) {
  setTraceId(invoke.trace_id);
  setRequest(invoke.id, invoke.tenant_id);
  const hwm = handler[HANDLER_HIGHWATERMARK];
  const stream = new ResponseStream(invoke.id, (m) => writeFrame(encodeFrame(m)), { highWaterMark: hwm });
  stream.on("error", () => {}); // reported through the handler's rejection or finished() below
  try {
    if (!canStream) {
      throw new RuntimeError(
        "Runtime.MarshalError",
        "the handler streams (awslambda.streamifyResponse), but the supervisor did not announce feature `stream` " +
          "in DISPATCHER_FEATURES; run it under a supervisor that streams",
      );
    }
    const context = buildContext(invoke, process.env, STREAMING_CONTROL);
    const p = invoke.payload;
    const event = raw ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : decodeEvent(p);
    const returned = handler(event, stream, context);
    if (typeof returned?.then !== "function") {
      throw new RuntimeError(
        "Runtime.MalformedStreamingHandler",
        "Streaming does not support non-async handlers: make the handler async (or return a Promise) and end the responseStream",
      );
    }
    const value = await returned;
    if (value !== undefined) logLine("streaming handlers ignore return values (as AWS's Node.js runtime)");
    // As AWS's runtime: the invocation ends when the stream does.
    if (!stream.writableFinished) await finished(stream);
  } catch (err) {
    if (stream.writableFinished) {
      logLine(`the handler failed after its response stream ended: ${asReply(err).type}: ${asReply(err).message}`);
      return;
    }
    if (!(err instanceof RuntimeError)) logInvokeError(err);
    stream.destroy();
    writeFrame(encodeFrame(messages.error(invoke.id, asReply(err))));
  }
}

/**
 * Serve until shutdown.  `load` is an async function returning
 * `{ handler, raw }` (it imports user code and runs its init); whatever it
 * throws becomes `init_error`.  `initErrorOf(err)` may map a load failure to
 * {type, message, stack}; by default the error's own name is the type.
 */
export async function serve(load, initErrorOf = describeError) {
  const channel = takeChannel();
  patchConsole(process.env);
  const send = (message) => channel.writeFrame(encodeFrame(message));

  let maxFrame;
  let slots;
  let loaded;
  try {
    try {
      maxFrame = maxFrameFromEnv(process.env);
      slots = concurrencyFromEnv(process.env);
    } catch (err) {
      throw new RuntimeError("Runtime.ConfigError", err.message);
    }
    const protocol = process.env.DISPATCHER_PROTOCOL;
    if (protocol !== undefined && protocol !== "1") {
      throw new RuntimeError("Runtime.ProtocolError", `this adapter speaks protocol 1; DISPATCHER_PROTOCOL=${protocol}`);
    }
    loaded = await load();
  } catch (err) {
    const e = err instanceof RuntimeError ? { type: err.name, message: err.message, stack: [] } : initErrorOf(err);
    send(messages.initError(capError(e)));
    logLine(`init failed: ${e.type}: ${e.message}`);
    process.exit(INIT_FAILED);
  }

  let streaming;
  try {
    streaming = isStreamingHandler(loaded.handler);
  } catch (err) {
    send(messages.initError(capError(describeError(err))));
    process.exit(INIT_FAILED);
  }
  const canStream = (process.env.DISPATCHER_FEATURES ?? "").split(",").includes("stream");
  const next = frameQueue(channel.input, maxFrame);
  if (slots > 1 && !streaming) {
    send(messages.ready(["multiplex"]));
    await serveConcurrently(next, loaded, maxFrame, (frame) => channel.writeFrame(frame));
    process.exit(0);
  }
  // A streaming handler is served one invocation at a time (`stream` is
  // offered with one slot; with more, each invocation says why it cannot stream).
  send(messages.ready(streaming ? FEATURES : []));
  const writeFrame = (frame) => channel.writeFrame(frame);
  for (;;) {
    const message = await next();
    if (message.type !== "invoke") break; // shutdown or EOF
    if (streaming) await answerStreaming(message, loaded.handler, loaded.raw, writeFrame, canStream);
    else channel.writeFrame(await answer(message, loaded.handler, loaded.raw, maxFrame, false));
    setRequest(undefined, undefined);
  }
  process.exit(0);
}

/**
 * Multiplex mode: every invoke starts at once and its reply is written when
 * its handler settles, in whatever order that is (a frame is written whole,
 * synchronously, so replies never interleave).  The supervisor sends at most
 * N at a time.  On shutdown or EOF the invokes still running are finished and
 * answered first.
 */
async function serveConcurrently(next, loaded, maxFrame, writeFrame) {
  const running = new Set();
  for (;;) {
    const message = await next();
    if (message.type !== "invoke") break;
    const task = answer(message, loaded.handler, loaded.raw, maxFrame, true).then((frame) => {
      running.delete(task);
      writeFrame(frame);
    });
    running.add(task);
  }
  await Promise.all(running);
}
