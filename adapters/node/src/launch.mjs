// The launcher's half of init: parse `[--raw] [HANDLER]`, find and import the
// user's module, pick the handler and await the adapter form's `init`, and
// give load failures the error types AWS's Node.js runtime uses.
// HANDLER is the adapter's MODULE[#EXPORT] or Lambda's Handler string
// (handler_name.mjs); without it, `_HANDLER` is used, as AWS's runtime does.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { followExportPath, splitAdapterForm, splitLambdaForm } from "./handler_name.mjs";
import { RuntimeError, describeError } from "./invocation.mjs";
import { RAW } from "./worker.mjs";

export const USAGE =
  "usage: node bin.mjs [--raw] [HANDLER]   HANDLER: ./app.mjs#handler (EXPORT defaults to handler) " +
  "or Lambda's index.handler; default: $_HANDLER";
const IMPORT_ERROR = "Runtime.ImportModuleError";
const SYNTAX_ERROR = "Runtime.UserCodeSyntaxError";
const HANDLER_NOT_FOUND = "Runtime.HandlerNotFound";
const INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint";
// AWS's order for `index.handler` (aws-lambda-ric's UserFunction.js): the
// name as is, .js (ES module or CommonJS by package.json "type"), .mjs, .cjs.
const EXTENSIONS = ["", ".js", ".mjs", ".cjs"];
const SCRIPT_SUFFIX = /\.(mjs|cjs|js)$/; // `app.mjs` names a file, never export "mjs" of module "app"

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

/** {handler, raw, source} from the launcher's arguments (or `_HANDLER`); throws Runtime.InvalidEntrypoint. */
export function parseArgs(argv, env = {}) {
  let raw = false;
  const rest = [];
  for (const arg of argv) {
    if (arg === "--raw") raw = true;
    else rest.push(arg);
  }
  if (rest.length > 1 || rest[0]?.startsWith("-")) {
    throw new RuntimeError(INVALID_ENTRYPOINT, `expected one HANDLER, got ${JSON.stringify(argv)}; ${USAGE}`);
  }
  if (rest.length === 1 && rest[0] !== "") return { handler: rest[0], raw, source: "argument" };
  if (env._HANDLER) return { handler: env._HANDLER, raw, source: "_HANDLER" };
  throw new RuntimeError(INVALID_ENTRYPOINT, `no HANDLER argument and _HANDLER is not set; ${USAGE}`);
}

function findFile(base) {
  for (const ext of EXTENSIONS) {
    if (fs.statSync(base + ext, { throwIfNoEntry: false })?.isFile()) return base + ext;
  }
  return null;
}

function notFound(what, base, cwd, extra = "") {
  return new RuntimeError(
    IMPORT_ERROR,
    `Cannot find module ${what}: no file ${base}{${EXTENSIONS.join(",")}}${extra} (working directory ${cwd})`,
  );
}

/**
 * Which file and export `handler` names: {file, exportPath, lambdaForm}.
 * MODULE#EXPORT, a name ending in .mjs/.js/.cjs, or a name that is an
 * existing file (extensions tried) is the adapter's form; anything else is
 * Lambda's Handler string, resolved as AWS's runtime resolves it, including
 * its last resort, a package under node_modules.
 */
export function locateHandler(handler, cwd) {
  if (handler.includes("#") || SCRIPT_SUFFIX.test(handler) || findFile(path.resolve(cwd, handler))) {
    const { module, exportPath } = splitAdapterForm(handler);
    const base = path.resolve(cwd, module);
    const file = findFile(base);
    if (file === null) throw notFound(JSON.stringify(module), base, cwd);
    return { file, exportPath, lambdaForm: false };
  }
  const { moduleRoot, module, exportPath } = splitLambdaForm(handler);
  const base = path.resolve(cwd, moduleRoot, module);
  const what = `'${module}' for handler '${handler}'`;
  if (module === "") throw notFound(what, path.join(base, "/"), cwd); // ".handler": no module name at all
  let file = findFile(base);
  if (file === null) {
    try {
      const require = createRequire(path.join(cwd, "noop.js"));
      file = require.resolve(module, { paths: [cwd, path.resolve(cwd, moduleRoot)] });
    } catch {
      throw notFound(what, base, cwd, ` and no package '${module}' in node_modules`);
    }
    if (!path.isAbsolute(file)) throw notFound(what, base, cwd, `; '${module}' is a Node.js built-in module`);
  }
  return { file, exportPath, lambdaForm: true };
}

/**
 * Import the user's module and return {handler, raw}; in the adapter's form
 * an exported `init` is awaited first.  Lambda's form behaves as on AWS,
 * where no `init` is called (top-level await is AWS's way).
 */
export async function importHandler({ handler: name, raw, source }, cwd) {
  let located;
  try {
    located = locateHandler(name, cwd);
  } catch (err) {
    if (source === "_HANDLER" && err instanceof RuntimeError) err.message += " (the handler came from _HANDLER)";
    throw err;
  }
  const { file, exportPath, lambdaForm } = located;
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new ImportFailure(err, file);
  }
  // A CommonJS module whose exports Node could not detect statically sits under `default`.
  const fallback = mod.default !== null && ["object", "function"].includes(typeof mod.default) ? mod.default : undefined;
  const pick = (name) => mod[name] ?? fallback?.[name];
  const handler = followExportPath(pick(exportPath[0]), exportPath.slice(1));
  if (typeof handler !== "function") {
    const names = Object.keys(mod).join(", ") || "none";
    throw new RuntimeError(
      HANDLER_NOT_FOUND,
      `${path.relative(cwd, file) || file} does not export a function named ${JSON.stringify(exportPath.join("."))} ` +
        `(${handler === undefined ? "no such export" : `it is ${handler === null ? "null" : typeof handler}`}; exports: ${names})` +
        (name !== exportPath.join(".") ? ` [handler ${JSON.stringify(name)}${source === "_HANDLER" ? " from _HANDLER" : ""}]` : ""),
    );
  }
  const init = lambdaForm ? undefined : pick("init");
  if (init !== undefined) {
    if (typeof init !== "function") throw new RuntimeError(HANDLER_NOT_FOUND, `${file} exports \`init\` but it is ${typeof init}, not a function`);
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
