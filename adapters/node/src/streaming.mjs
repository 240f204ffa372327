// Response streaming with the API of AWS's Node.js runtime, so that handlers
// written for Lambda run unmodified:
//
//   export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
//     responseStream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: {...} });
//     await pipeline(source, responseStream);
//   });
//
// `responseStream` is a Node Writable: every write becomes `stream_chunk`
// frames (protocol feature `stream`, docs/protocol.md) as it happens, end()
// sends `stream_end`, and a handler that throws (or destroys the stream with
// an error) ends it with an `error` frame, which the supervisor turns into
// the error trailers (or an ordinary error when nothing was written yet).

import { Writable } from "node:stream";

/** The marker AWS's runtime puts on streaming handlers (same symbol, same value). */
export const HANDLER_STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
export const HANDLER_HIGHWATERMARK = Symbol.for("aws.lambda.runtime.handler.streaming.highWaterMark");
export const STREAM_RESPONSE = "response";
export const HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response";
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
export const CHUNK = 128 * 1024; // the largest stream_chunk the adapter sends
const DELIMITER_LEN = 8;

/** Errors AWS's runtime raises for misuse of a stream (same names). */
export class InvalidStreamingOperation extends Error {
  constructor(message) {
    super(message);
    this.name = "Runtime.InvalidStreamingOperation";
  }
}

export function streamifyResponse(handler, options) {
  if (typeof handler !== "function") {
    throw new TypeError(`awslambda.streamifyResponse() needs the handler function, got ${typeof handler}`);
  }
  handler[HANDLER_STREAMING] = STREAM_RESPONSE;
  if (typeof options?.highWaterMark === "number") handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
  return handler;
}

export function isStreamingHandler(handler) {
  const mark = handler?.[HANDLER_STREAMING];
  if (mark === undefined || mark === null || mark === false) return false;
  if (mark !== STREAM_RESPONSE) {
    const err = new Error("Only response streaming is supported.");
    err.name = "Runtime.MalformedStreamingHandler";
    throw err;
  }
  return true;
}

/** awslambda.HttpResponseStream: the function-URL prelude before the body. */
export class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadata = JSON.stringify(prelude);
    if (metadata.includes("\u0000")) {
      throw new InvalidStreamingOperation("the HTTP response prelude (statusCode, headers, cookies) must not contain NUL characters");
    }
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(new Uint8Array(DELIMITER_LEN));
    };
    return underlyingStream;
  }
}

/** Put `awslambda` on the global object, as AWS's runtime does before loading user code. */
export function installGlobal() {
  if (globalThis.awslambda === undefined) {
    globalThis.awslambda = { streamifyResponse, HttpResponseStream };
  }
}

/**
 * The responseStream handed to a streaming handler.  `sendFrame(message)`
 * writes one frame synchronously (a full pipe blocks: that is the
 * back-pressure the supervisor applies).
 */
export class ResponseStream extends Writable {
  constructor(id, sendFrame, options = {}) {
    super({ highWaterMark: options.highWaterMark });
    this.id = id;
    this.sendFrame = sendFrame;
    this.contentType = DEFAULT_CONTENT_TYPE;
    this.opened = false; // stream_open sent
    this.closedByError = false; // an error frame ended it
    this._onBeforeFirstWrite = undefined;
    this.bytes = 0;
  }

  setContentType(contentType) {
    if (this.opened) throw new InvalidStreamingOperation("Cannot set content-type, too late.");
    this.contentType = String(contentType);
  }

  write(chunk, encoding, callback) {
    // As AWS's runtime: anything but a string or bytes is written as JSON.
    if (typeof chunk !== "string" && !(chunk instanceof Uint8Array)) chunk = JSON.stringify(chunk);
    return super.write(chunk, encoding, callback);
  }

  _open() {
    if (this.opened) return;
    this.opened = true;
    this.sendFrame({ type: "stream_open", id: this.id, content_type: this.contentType });
    const hook = this._onBeforeFirstWrite;
    if (typeof hook === "function") {
      hook((piece) => this._send(typeof piece === "string" ? Buffer.from(piece, "utf8") : piece));
    }
  }

  _send(bytes) {
    for (let at = 0; at < bytes.length; at += CHUNK) {
      const data = bytes.subarray(at, Math.min(bytes.length, at + CHUNK));
      this.sendFrame({ type: "stream_chunk", id: this.id, data });
      this.bytes += data.length;
    }
  }

  _write(chunk, _encoding, callback) {
    try {
      this._open();
      this._send(chunk);
      callback();
    } catch (err) {
      callback(err);
    }
  }

  _final(callback) {
    try {
      this._open();
      this.sendFrame({ type: "stream_end", id: this.id });
      callback();
    } catch (err) {
      callback(err);
    }
  }
}
