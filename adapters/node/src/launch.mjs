// The launcher's half of init: parse `[--raw] MODULE[#EXPORT]`, import the
// user's module, find the handler and await its `init`, and give load
// failures the error types AWS's Node.js runtime uses.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { RuntimeError, describeError } from "./invocation.mjs";
import { RAW } from "./worker.mjs";

export const USAGE = "usage: node bin.mjs [--raw] MODULE[#EXPORT]   (e.g. ./app.mjs#handler; EXPORT defaults to handler)";
const IMPORT_ERROR = "Runtime.ImportModuleError";
const SYNTAX_ERROR = "Runtime.UserCodeSyntaxError";
const HANDLER_NOT_FOUND = "Runtime.HandlerNotFound";
const INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint";
const EXTENSIONS = ["", ".mjs", ".js", ".cjs"]; // as AWS resolves `index.handler`

// Load failures raised by Node's module loader itself (not by user code).
const LOADER_CODES = new Set([
  "ERR_MODULE_NOT_FOUND",
  "MODULE_NOT_FOUND",
  "ERR_UNSUPPORTED_DIR_IMPORT",
  "ERR_UNKNOWN_FILE_EXTENSION",
  "ERR_PACKAGE_PATH_NOT_EXPORTED",
  "ERR_INVALID_MODULE_SPECIFIER",
  "ERR_REQUIRE_ESM",
]);

/** Wraps whatever importing the user's module threw (import-time errors get AWS's load error types). */
class ImportFailure extends Error {
  constructor(cause, file) {
    super("importing user code failed", { cause });
    this.file = file;
  }
}

/** {module, exportName, raw} from the launcher's arguments; throws Runtime.InvalidEntrypoint. */
export function parseArgs(argv) {
  let raw = false;
  const rest = [];
  for (const arg of argv) {
    if (arg === "--raw") raw = true;
    else rest.push(arg);
  }
  if (rest.length !== 1 || rest[0].startsWith("-")) {
    throw new RuntimeError(INVALID_ENTRYPOINT, `expected one MODULE[#EXPORT], got ${JSON.stringify(argv)}; ${USAGE}`);
  }
  const hash = rest[0].lastIndexOf("#");
  const module = hash === -1 ? rest[0] : rest[0].slice(0, hash);
  const exportName = hash === -1 ? "handler" : rest[0].slice(hash + 1);
  if (module === "" || exportName === "") {
    throw new RuntimeError(INVALID_ENTRYPOINT, `${JSON.stringify(rest[0])} names no module or no export; ${USAGE}`);
  }
  return { module, exportName, raw };
}

function resolveFile(module, cwd) {
  const base = path.resolve(cwd, module);
  for (const ext of EXTENSIONS) {
    if (fs.statSync(base + ext, { throwIfNoEntry: false })?.isFile()) return base + ext;
  }
  throw new RuntimeError(
    IMPORT_ERROR,
    `Cannot find module ${JSON.stringify(module)}: no file ${base}{${EXTENSIONS.slice(1).join(",")}} (working directory ${cwd})`,
  );
}

/** Import the user's module and return {handler, raw}, after awaiting its `init`. */
export async function importHandler({ module, exportName, raw }, cwd) {
  const file = resolveFile(module, cwd);
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new ImportFailure(err, file);
  }
  // A CommonJS module whose exports Node could not detect statically sits under `default`.
  const pick = (name) => mod[name] ?? (typeof mod.default === "object" ? mod.default?.[name] : undefined);
  const handler = pick(exportName);
  if (typeof handler !== "function") {
    const names = Object.keys(mod).join(", ") || "none";
    throw new RuntimeError(
      HANDLER_NOT_FOUND,
      `${module} does not export a function named ${JSON.stringify(exportName)} ` +
        `(${handler === undefined ? "no such export" : `it is ${typeof handler}`}; exports: ${names})`,
    );
  }
  const init = pick("init");
  if (init !== undefined) {
    if (typeof init !== "function") throw new RuntimeError(HANDLER_NOT_FOUND, `${module} exports \`init\` but it is ${typeof init}, not a function`);
    await init();
  }
  return { handler, raw: raw || Boolean(handler[RAW]) };
}

/** init_error fields for a failure while importing user code or running its init. */
export function importErrorOf(failure) {
  if (!(failure instanceof ImportFailure)) return describeError(failure); // init() threw: its own type
  const err = failure.cause;
  const e = describeError(err);
  if (err?.code !== undefined && LOADER_CODES.has(err.code)) return { ...e, type: IMPORT_ERROR };
  // A parse error has only loader frames; a SyntaxError with frames in user
  // code was thrown at run time (e.g. JSON.parse at top level): keep its type.
  const parseError = err instanceof SyntaxError && e.stack.every((line) => /\(?node:/.test(line));
  if (parseError) {
    const where = syntaxErrorLocation(failure.file);
    return where
      ? { type: SYNTAX_ERROR, message: `${where.at}: ${e.message}`, stack: where.lines }
      : { ...e, type: SYNTAX_ERROR, message: `${e.message} (in a module imported by ${failure.file})` };
  }
  return e; // a top-level throw or rejected top-level await: the thrown error's own type
}

/**
 * Where the parse error in `file` is ({at: "path:line", lines}), or null
 * when `file` itself parses (the error is in a module it imports).  V8 keeps
 * that location out of the SyntaxError object, so ask `node --check`, which
 * prints it; this runs only on the failure path.
 */
function syntaxErrorLocation(file) {
  const r = spawnSync(process.execPath, ["--check", file], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 10_000 });
  if (r.status === 0 || typeof r.stderr !== "string") return null;
  const lines = r.stderr.split("\n");
  if (!/:\d+$/.test(lines[0] ?? "")) return null;
  const end = lines.findIndex((line) => line.startsWith("SyntaxError"));
  return { at: lines[0], lines: lines.slice(0, end === -1 ? 3 : end).filter((line) => line.trim() !== "") };
}
