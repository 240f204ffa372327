// Public API of the Node adapter: run(handler), runRaw(handler), raw(fn).
//
// Importing this module takes the frame channel (fds 0/1) away from user code
// at once (see src/stdio.mjs), so import it before anything that may log.

import { patchConsole } from "./src/logging.mjs";
import { takeChannel } from "./src/stdio.mjs";
import { RAW, serve } from "./src/worker.mjs";
import { RuntimeError } from "./src/invocation.mjs";
import { HttpResponseStream, installGlobal, streamifyResponse } from "./src/streaming.mjs";

takeChannel();
installGlobal(); // awslambda.streamifyResponse / HttpResponseStream, as AWS's runtime provides
patchConsole(process.env);

export { RuntimeError, HttpResponseStream, streamifyResponse };

/** Mark `fn(Buffer, context)` as a raw handler: the event bytes in, a Buffer/Uint8Array/string out. */
export function raw(fn) {
  if (typeof fn === "function") fn[RAW] = true;
  return fn;
}

/**
 * Serve `handler(event, context)` (it may return a value or a Promise) to the
 * supervisor until shutdown.  `options.init`, if given, is awaited before
 * `ready`; `options.raw` is the same as wrapping the handler with raw().
 */
export function run(handler, options = {}) {
  return serve(async () => {
    if (typeof handler !== "function") {
      throw new RuntimeError("Runtime.HandlerNotFound", `run() needs a handler function, got ${typeof handler}`);
    }
    if (options.init !== undefined) await options.init();
    return { handler, raw: Boolean(options.raw || handler[RAW]) };
  });
}

/** run() for a raw handler. */
export function runRaw(handler, options = {}) {
  return run(handler, { ...options, raw: true });
}
