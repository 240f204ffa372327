// What the launcher's handler argument means, before any file is touched.
// Two spellings are accepted:
//
//   the adapter's    ./app.mjs#handler    MODULE[#EXPORT], a path relative to the working directory
//   Lambda's         index.handler        the Handler setting of a Lambda function, as AWS's
//                    src/app.handler      Node.js runtime (aws-lambda-ric, UserFunction.js) reads it:
//                    index.nested.fn      folders up to the last "/", then the module up to the
//                                         first ".", then a dotted property path into its exports
//
// Which one an argument is depends on the files on disk (launch.mjs decides);
// this module only splits strings.  Pure: no IO.

import { RuntimeError } from "./invocation.mjs";

export const MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName";

/** A handler argument that cannot name a handler (AWS's Runtime.MalformedHandlerName). */
export class MalformedHandlerName extends RuntimeError {
  constructor(message) {
    super(MALFORMED_HANDLER_NAME, message);
  }
}

/**
 * {module, exportPath} of the adapter's MODULE[#EXPORT] form; EXPORT defaults
 * to `handler` and may be a dotted path (`#api.handle`), as in Lambda's form.
 */
export function splitAdapterForm(text) {
  const hash = text.lastIndexOf("#");
  const module = hash === -1 ? text : text.slice(0, hash);
  const exportName = hash === -1 ? "handler" : text.slice(hash + 1);
  if (module === "" || exportName === "") {
    throw new MalformedHandlerName(
      `${JSON.stringify(text)} names no module or no export: write MODULE#EXPORT (./app.mjs#handler) or Lambda's MODULE.EXPORT (app.handler)`,
    );
  }
  return { module, exportPath: exportName.split(".") };
}

/**
 * {moduleRoot, module, exportPath} of Lambda's Handler form, split as AWS's
 * Node.js runtime splits it: `src/app.handler` is module `app` in folder
 * `src/`, export `handler`; `index.a.b` is `exports.a.b` of module `index`.
 * Like AWS, a name holding ".." is refused (a root folder must be given as
 * an absolute path), and so is a last path segment without a ".".
 */
export function splitLambdaForm(text) {
  if (text.includes("..")) {
    throw new MalformedHandlerName(
      `'${text}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const slash = text.lastIndexOf("/");
  const moduleRoot = text.slice(0, slash + 1);
  const base = text.slice(slash + 1);
  const dot = base.indexOf(".");
  if (dot === -1) {
    throw new MalformedHandlerName(
      `Bad handler '${text}': expected FILE.EXPORT as in Lambda's Handler setting (index.handler for ` +
        `\`export const handler\` in index.mjs), or the adapter's ./file.mjs#export; no file ${JSON.stringify(text)} exists either`,
    );
  }
  return { moduleRoot, module: base.slice(0, dot), exportPath: base.slice(dot + 1).split(".") };
}

/** Follow `path` (["a", "b"]) into `exports`; undefined where a step is missing, as AWS's runtime does. */
export function followExportPath(exports, path) {
  return path.reduce((nested, key) => (nested == null ? undefined : nested[key]), exports);
}
