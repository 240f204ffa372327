// A function moved from AWS's Node.js runtime, unchanged: its Handler string
// (or _HANDLER), its module layout, and the callback / context.succeed /
// callbackWaitsForEmptyEventLoop styles.  Real worker processes over pipes.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BIN, FIXTURES, resultJson, startWorker } from "./harness.mjs";

const ROOT = path.join(FIXTURES, "lambda_root");
let taskRoot; // a copy of ROOT plus a node_modules package (node_modules/ is not committed)

before(() => {
  taskRoot = fs.mkdtempSync(path.join(os.tmpdir(), "lambda-root-"));
  fs.cpSync(ROOT, taskRoot, { recursive: true });
  const pkg = path.join(taskRoot, "node_modules", "handler-pkg");
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, "package.json"), '{"name": "handler-pkg", "main": "main.js"}');
  fs.writeFileSync(path.join(pkg, "main.js"), 'exports.handler = async () => ({ from: "node_modules/handler-pkg" });\n');
});
after(() => fs.rmSync(taskRoot, { recursive: true, force: true }));

async function serveOne(args, event = {}, env = {}) {
  const w = startWorker([BIN, ...args], { cwd: taskRoot, env: { _HANDLER: "", ...env } });
  const first = await w.next();
  assert.equal(first.type, "ready", JSON.stringify(first));
  const { id, reply } = await w.invoke(event);
  assert.equal((await w.exit()).code, 0);
  return { id, reply };
}

async function initError(args, env = {}) {
  const w = startWorker([BIN, ...args], { cwd: taskRoot, env: { _HANDLER: "", ...env } });
  const f = await w.next();
  const { code } = await w.exit();
  assert.equal(f.type, "init_error", JSON.stringify(f));
  assert.equal(code, 1);
  return f;
}

describe("Lambda Handler strings", () => {
  test("index.handler finds index.mjs; no init hook runs, as on AWS", async () => {
    const { id, reply } = await serveOne(["index.handler"], { name: "Ada" });
    assert.deepEqual(resultJson(reply), { from: "index.mjs", name: "Ada", id });
  });

  test("a dotted export path, a folder, a CommonJS .js, and a package in node_modules", async () => {
    assert.deepEqual(resultJson((await serveOne(["index.nested.deeper.fn"])).reply), { from: "index.mjs nested.deeper.fn" });
    assert.deepEqual(resultJson((await serveOne(["src/app.handler"], { n: 1 })).reply), { from: "src/app.mjs", event: { n: 1 } });
    assert.deepEqual(resultJson((await serveOne(["cjs/index.handler"])).reply), { from: "cjs/index.js" });
    assert.deepEqual(resultJson((await serveOne(["handler-pkg.handler"])).reply), { from: "node_modules/handler-pkg" });
    assert.deepEqual(resultJson((await serveOne([`${taskRoot}/src/app.handler`])).reply).from, "src/app.mjs");
  });

  test("with both.js and both.mjs present, .js wins (AWS's order)", async () => {
    assert.deepEqual(resultJson((await serveOne(["both.handler"])).reply), { from: "both.js" });
  });

  test("no argument: _HANDLER is the handler, as on AWS", async () => {
    const { reply } = await serveOne([], { name: "env" }, { _HANDLER: "index.handler" });
    assert.equal(resultJson(reply).name, "env");
    const none = await initError([]);
    assert.equal(none.error_type, "Runtime.InvalidEntrypoint");
    assert.match(none.error_message, /_HANDLER is not set/);
  });

  test("an argument wins over _HANDLER", async () => {
    const { reply } = await serveOne(["src/app.handler"], {}, { _HANDLER: "index.handler" });
    assert.equal(resultJson(reply).from, "src/app.mjs");
  });

  test("load failures carry AWS's error types and say what is missing", async () => {
    const noModule = await initError(["nowhere.handler"]);
    assert.equal(noModule.error_type, "Runtime.ImportModuleError");
    assert.match(noModule.error_message, /Cannot find module 'nowhere' for handler 'nowhere\.handler'/);
    assert.match(noModule.error_message, /nowhere\{,\.js,\.mjs,\.cjs\}/);
    const noExport = await initError(["index.missing"]);
    assert.equal(noExport.error_type, "Runtime.HandlerNotFound");
    assert.match(noExport.error_message, /"missing" \(no such export; exports: handler, init, nested, notAFunction\)/);
    assert.match((await initError(["index.nested.nope.fn"])).error_type, /^Runtime\.HandlerNotFound$/);
    const notFn = await initError(["index.notAFunction"]);
    assert.deepEqual([notFn.error_type, /it is number/.test(notFn.error_message)], ["Runtime.HandlerNotFound", true]);
    const dots = await initError(["../lambda_root/index.handler"]);
    assert.equal(dots.error_type, "Runtime.MalformedHandlerName");
    assert.match(dots.error_message, /Use absolute paths/);
    const noDot = await initError(["handler"]);
    assert.equal(noDot.error_type, "Runtime.MalformedHandlerName");
    assert.match(noDot.error_message, /expected FILE\.EXPORT/);
    const fromEnv = await initError([], { _HANDLER: "app" }); // no file app{,.js,...}: read as Lambda's form
    assert.equal(fromEnv.error_type, "Runtime.MalformedHandlerName");
  });

  test("the adapter's own forms still work next to Lambda's, and only they run `init`", async () => {
    assert.equal(resultJson((await serveOne(["./src/app.mjs"])).reply).from, "src/app.mjs");
    assert.equal(resultJson((await serveOne(["src/app#handler"])).reply).from, "src/app.mjs");
    const init = await initError(["./index.mjs#nested.deeper.fn"]);
    assert.deepEqual([init.error_type, init.error_message], ["Error", "init must not be called for a Lambda Handler string"]);
  });
});

describe("callback-style and legacy handlers", () => {
  const call = async (name, event = {}) => (await serveOne([`legacy.${name}`], event)).reply;

  test("callback(null, v) waits for the work the invocation started, unless callbackWaitsForEmptyEventLoop is false", async () => {
    assert.deepEqual(resultJson(await call("callbackWaits")), { waits: true, background: true });
    assert.deepEqual(resultJson(await call("callbackNoWait")), { waits: false, background: false });
  });

  test("context.succeed / done / fail, also called later or detached", async () => {
    assert.deepEqual(resultJson(await call("succeedLater")), { via: "succeed" });
    assert.deepEqual(resultJson(await call("doneLater")), { via: "done" });
    assert.deepEqual(resultJson(await call("detached")), { via: "detached succeed" });
    const failed = await call("failLater");
    assert.deepEqual([failed.type, failed.error_type, failed.error_message], ["error", "TypeError", "failed through context.fail"]);
    const bare = await call("failWithoutError");
    assert.deepEqual([bare.error_type, bare.error_message], ["string", "handled"]); // AWS's value for fail()
  });

  test("the first of callback / succeed / fail / a returned Promise decides", async () => {
    assert.equal(resultJson(await call("firstWins")), "first");
    assert.equal(resultJson(await call("asyncThenSucceed")), "succeed before the promise");
  });

  test("a handler that returns nothing is answered null when its work is over; a plain value is the result", async () => {
    assert.equal(Buffer.from((await call("returnsNothing")).payload).toString(), "null");
    assert.deepEqual(resultJson(await call("returnsValue")), { plain: "value" });
    assert.equal((await call("callbackError")).error_type, "RangeError");
  });

  test("one worker serves many callback invocations in a row (no waits left behind)", async () => {
    const w = startWorker([BIN, "legacy.callbackWaits"], { cwd: taskRoot });
    assert.equal((await w.next()).type, "ready");
    for (let i = 0; i < 20; i++) assert.deepEqual(resultJson((await w.invoke({})).reply), { waits: true, background: true });
    assert.equal((await w.exit()).code, 0);
  });
});

describe("Lambda Handler strings: edge cases", () => {
  test("a built-in module name or no module name is Runtime.ImportModuleError; _HANDLER's errors say where the name came from", async () => {
    const builtin = await initError(["fs.readFile"]);
    assert.equal(builtin.error_type, "Runtime.ImportModuleError");
    assert.match(builtin.error_message, /'fs' is a Node\.js built-in module/);
    assert.equal((await initError([".handler"])).error_type, "Runtime.ImportModuleError");
    const fromEnv = await initError([], { _HANDLER: "nowhere.handler" });
    assert.match(fromEnv.error_message, /\(the handler came from _HANDLER\)$/);
    const noExport = await initError([], { _HANDLER: "index.missing" });
    assert.match(noExport.error_message, /\[handler "index\.missing" from _HANDLER\]$/);
  });
});
