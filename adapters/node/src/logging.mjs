// console.* the way AWS's Node.js runtime (aws-lambda-ric) patches it.
//
// - console.trace/debug/info/log/warn/error/fatal write one record each, at
//   TRACE/DEBUG/INFO/INFO/WARN/ERROR/FATAL, to stderr (fd 2: the supervisor
//   forwards it).  Text: `<ISO time>\t<request id>\t<LEVEL>\t<util.format(...)>`;
//   JSON: {"timestamp","level","requestId",["tenantId"],"message"[,"errorType",
//   "errorMessage","stackTrace"]}, with an Error message serialised as the RIC does.
// - AWS_LAMBDA_LOG_LEVEL turns the calls below it into no-ops (FATAL always logs).
// - Newlines inside a record become `\r`, as the RIC writes to stdout: the
//   supervisor keeps the record whole and restores them in a telemetry frame.
// - logInvokeError(err): a handler error, logged as the RIC logs it
//   ("Invoke Error" + the error as JSON in Text; the Error as the message in JSON).

import util from "node:util";
import { writeAllSync } from "./stdio.mjs";

const LEVELS = Object.freeze({
  TRACE: { name: "TRACE", priority: 1 },
  DEBUG: { name: "DEBUG", priority: 2 },
  INFO: { name: "INFO", priority: 3 },
  WARN: { name: "WARN", priority: 4 },
  ERROR: { name: "ERROR", priority: 5 },
  FATAL: { name: "FATAL", priority: 6 },
});

let requestId;
let tenantId;
let json = false;
let patched = false;

/** The invocation whose records follow (undefined between invocations). */
export function setRequest(id, tenant) {
  requestId = id;
  tenantId = tenant ?? undefined;
}

function errorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? "UnknownError",
        errorMessage: value.message,
        stackTrace: typeof value.stack === "string" ? value.stack.split("\n") : value.stack,
      },
      value,
    );
  }
  return value;
}

function jsonRecord(level, params) {
  const result = { timestamp: new Date().toISOString(), level: level.name, requestId };
  if (tenantId !== undefined && tenantId !== null) result.tenantId = tenantId;
  if (params.length === 1) {
    result.message = params[0];
    try {
      return JSON.stringify(result, errorReplacer);
    } catch {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...params);
  for (const param of params) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? "UnknownError";
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === "string" ? param.stack.split("\n") : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function textRecord(level, params) {
  return `${new Date().toISOString()}\t${requestId}\t${level.name}\t${util.format(...params)}`;
}

function emit(level, params) {
  const line = (json ? jsonRecord(level, params) : textRecord(level, params)).replace(/\n/g, "\r");
  writeAllSync(2, Buffer.from(line + "\n", "utf8"));
}

/** Patch console once, from AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL. */
export function patchConsole(env) {
  if (patched) return;
  patched = true;
  json = String(env.AWS_LAMBDA_LOG_FORMAT ?? "").toUpperCase() === "JSON";
  const min = LEVELS[String(env.AWS_LAMBDA_LOG_LEVEL ?? "").toUpperCase()] ?? LEVELS.TRACE;
  const nop = () => {};
  const at = (level) => (level.priority >= min.priority ? (...params) => emit(level, params) : nop);
  console.trace = at(LEVELS.TRACE);
  console.debug = at(LEVELS.DEBUG);
  console.info = at(LEVELS.INFO);
  console.log = console.info;
  console.warn = at(LEVELS.WARN);
  console.error = at(LEVELS.ERROR);
  console.fatal = (...params) => emit(LEVELS.FATAL, params);
}

function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const ret = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
    if (typeof value.stack === "string") ret.stack = value.stack.split("\n");
    return ret;
  }
  return value;
}

/** A handler error (anything thrown), logged as the RIC logs "Invoke Error". */
export function logInvokeError(thrown) {
  const err = thrown instanceof Error ? thrown : new Error(thrown);
  if (json) {
    console.error(err);
    return;
  }
  let formatted;
  try {
    formatted = "\t" + JSON.stringify(err, (_k, v) => withEnumerableProperties(v));
  } catch {
    formatted = "\t" + JSON.stringify({ errorType: err.name, errorMessage: String(err.message), trace: [] });
  }
  console.error("Invoke Error", formatted);
}
