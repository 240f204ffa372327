// What one invocation looks like to user code, and how its outcome becomes a
// reply: the context object, event decoding, result encoding and the mapping
// of thrown values to {type, message, stack}.  Pure functions, no IO.

export const UNMARSHAL_ERROR = "Runtime.UnmarshalError";
export const MARSHAL_ERROR = "Runtime.MarshalError";

/** An invocation failure whose error type the adapter chooses (not the handler). */
export class RuntimeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseJsonHeader(text, what) {
  // RAPID in Managed-Instances mode sends absent headers with an empty value.
  if (text === null || text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RuntimeError(UNMARSHAL_ERROR, `cannot parse ${what} as JSON: ${err.message}`);
  }
}

/**
 * The context handed to the handler, shaped like the one of AWS's Node.js
 * runtime (same property names, same string-typed memoryLimitInMB, the
 * legacy done/succeed/fail).  A class: an accessor in an object literal
 * makes each context cost about 1 µs more to build.
 */
class LambdaContext {
  #control;

  constructor(invoke, env, control) {
    const deadline = invoke.deadline_ms;
    this.#control = control;
    this.awsRequestId = invoke.id;
    this.invokedFunctionArn = invoke.function_arn;
    this.functionName = env.AWS_LAMBDA_FUNCTION_NAME;
    this.functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION;
    this.memoryLimitInMB = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
    this.logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME;
    this.logStreamName = env.AWS_LAMBDA_LOG_STREAM_NAME;
    this.clientContext = parseJsonHeader(invoke.client_context, "client_context");
    this.identity = parseJsonHeader(invoke.cognito_identity, "cognito_identity");
    this.tenantId = invoke.tenant_id ?? undefined;
    this.xrayTraceId = invoke.trace_id ?? undefined;
    this.getRemainingTimeInMillis = () => Math.max(0, deadline - Date.now());
  }

  // AWS's legacy ways to end an invocation.  Getters that hand out closures,
  // so that detached use works (`.then(context.succeed)`) and an invocation
  // that never reads them builds none.
  get done() {
    const control = this.#control;
    return (err, value) => control.done(err, value);
  }

  get succeed() {
    const control = this.#control;
    return (value) => control.succeed(value);
  }

  get fail() {
    const control = this.#control;
    return (err) => control.fail(err);
  }

  /** How a callback-style handler ends (settle.mjs owns the control). */
  get callbackWaitsForEmptyEventLoop() {
    return this.#control.waitsForEmptyLoop;
  }

  set callbackWaitsForEmptyEventLoop(value) {
    this.#control.waitsForEmptyLoop = Boolean(value);
  }
}

/**
 * The context of one invocation.  `control` (settle.mjs's Call) has
 * `waitsForEmptyLoop` and the methods done/succeed/fail.
 */
export function buildContext(invoke, env, control = detachedControl()) {
  return new LambdaContext(invoke, env, control);
}

/** The control of a context built outside an invocation (tests): its done/succeed/fail refuse. */
function detachedControl() {
  const refuse = () => {
    throw new Error("this context belongs to no running invocation");
  };
  return { waitsForEmptyLoop: true, done: refuse, succeed: refuse, fail: refuse };
}

/** The event as a JS value; throws Runtime.UnmarshalError for bytes that are not UTF-8 JSON. */
export function decodeEvent(bytes) {
  let text;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new RuntimeError(UNMARSHAL_ERROR, "the event is not valid UTF-8, so it cannot be JSON");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RuntimeError(UNMARSHAL_ERROR, `the event is not JSON: ${err.message}`);
  }
}

/** The handler's value as the response body (JSON, UTF-8); undefined answers `null`. */
export function encodeResult(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new RuntimeError(MARSHAL_ERROR, `the handler's result cannot be converted to JSON: ${err.message}`);
  }
  return Buffer.from(text === undefined ? "null" : text, "utf8"); // undefined: a function, a symbol, or nothing returned
}

/** A raw handler's value as the response body, untouched. */
export function encodeRawResult(value) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value === undefined || value === null) return Buffer.alloc(0);
  throw new RuntimeError(
    MARSHAL_ERROR,
    `a raw handler must return a Buffer, Uint8Array or string, not ${value?.constructor?.name ?? typeof value}`,
  );
}

function errorType(err) {
  // `class MyError extends Error {}` keeps name "Error"; its constructor name is the useful one.
  if (typeof err.name === "string" && err.name !== "" && err.name !== "Error") return err.name;
  const ctor = err.constructor?.name;
  return typeof ctor === "string" && ctor !== "" && ctor !== "Object" ? ctor : "Error";
}

/** Stack lines without the leading "Name: message" lines V8 puts first. */
function stackLines(err) {
  if (typeof err.stack !== "string") return [];
  let stack = err.stack;
  const head = `${err.name}: ${err.message}`;
  if (stack.startsWith(head)) stack = stack.slice(head.length);
  else if (stack.startsWith(String(err.name))) stack = stack.slice(stack.indexOf("\n") + 1);
  return stack
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/** {type, message, stack} for anything thrown (or rejected with). */
export function describeError(err) {
  const isErrorLike =
    err instanceof Error || (err !== null && typeof err === "object" && typeof err.message === "string");
  if (isErrorLike) {
    return { type: errorType(err), message: String(err.message), stack: stackLines(err) };
  }
  // `throw "boom"`: AWS's Node.js runtime reports the typeof as the type; do the same.
  let message;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { type: typeof err, message, stack: [] };
}
