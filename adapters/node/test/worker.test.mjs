// Real worker processes (node bin.mjs ...) driven over pipes as the supervisor
// drives them: frames in, frames out, exit statuses.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BIN, frame, invokeMessage, resultJson, startWorker, toWorkerVectors } from "./harness.mjs";

async function ready(w) {
  assert.deepEqual(await w.next(), { type: "ready", protocol: 1, features: [] });
  return w;
}

async function initError(argv, env) {
  const w = startWorker(argv, { env });
  const f = await w.next();
  const { code } = await w.exit();
  assert.equal(f.type, "init_error", JSON.stringify(f));
  assert.notEqual(code, 0);
  assert.equal(typeof f.error_message, "string");
  assert.ok(Array.isArray(f.stack_trace) && f.stack_trace.every((l) => typeof l === "string"));
  return f;
}

// "shared": Node's spawn gives socketpairs; "sealed": real pipes, fds 0/1 re-pointed.
for (const shell of [false, true]) {
  const mode = shell ? "sealed" : "shared";
  describe(`worker (${mode} stdio)`, () => {
    test("ready, then invokes answered with bin JSON payloads; exit 0 on stdin EOF", async () => {
      const w = await ready(startWorker([BIN, "./behaviours.mjs"], { shell }));
      const { id, reply } = await w.invoke({ name: "Ada" });
      assert.equal(reply.type, "result");
      assert.equal(reply.id, id);
      assert.ok(reply.payload instanceof Uint8Array, "payload is msgpack bin");
      assert.equal(Buffer.from(reply.payload).toString(), '{"message":"Hello, Ada!"}');
      assert.deepEqual(resultJson((await w.invoke({ action: "async", value: 7 })).reply), { async: true, value: 7 });
      const { code, pendingFrames, partialBytes } = await w.exit();
      assert.deepEqual({ code, pendingFrames, partialBytes }, { code: 0, pendingFrames: 0, partialBytes: 0 });
    });

    test("a throw becomes an error frame with the JS error name, and the worker goes on", async () => {
      const w = await ready(startWorker([BIN, "./behaviours.mjs"], { shell }));
      const { id, reply } = await w.invoke({ action: "throw", id: 42 });
      assert.equal(reply.type, "error");
      assert.equal(reply.id, id);
      assert.equal(reply.error_type, "OrderNotFound");
      assert.equal(reply.error_message, "order 42 not found");
      assert.ok(reply.stack_trace.some((l) => l.includes("behaviours.mjs")), reply.stack_trace.join("\n"));
      assert.equal((await w.invoke({ action: "reject" })).reply.error_type, "TypeError");
      assert.equal((await w.invoke({ action: "throw_named" })).reply.error_type, "Custom.NamedError");
      assert.equal(resultJson((await w.invoke({ action: "count" })).reply), 1, "same process, state kept");
      assert.equal((await w.exit()).code, 0);
    });

    test("console.log, process.stdout.write and a 1 MB log line go to stderr, frames stay intact", async () => {
      const w = await ready(startWorker([BIN, "./behaviours.mjs"], { shell }));
      const { reply } = await w.invoke({ action: "log", tag: "T1", big: 1 << 20 });
      assert.deepEqual(resultJson(reply), { logged: true });
      assert.equal(resultJson((await w.invoke({ name: "after" })).reply).message, "Hello, after!");
      const { code, stderr } = await w.exit();
      assert.equal(code, 0);
      for (const line of ["console.log line T1", "console.info line", "console.error line", "process.stdout.write line"]) {
        assert.ok(stderr.includes(`${line}\n`), `missing ${line}`);
      }
      assert.ok(stderr.includes("x".repeat(1 << 20)));
    });

    test("a 6 MB event with multi-byte text is echoed byte for byte by a raw handler", async () => {
      const w = await ready(startWorker([BIN, "--raw", "./raw_echo.mjs#echo"], { shell }));
      const unit = Buffer.from('{\n  "text": "Zoë ☃ 🚀",\n  "price": 2.50\n}\n');
      const event = Buffer.concat([Buffer.from("["), ...Array(Math.ceil((6 << 20) / unit.length)).fill(unit), Buffer.from("]")]);
      const { reply } = await w.invoke(event);
      assert.equal(reply.type, "result");
      assert.ok(Buffer.from(reply.payload).equals(event));
      assert.equal((await w.exit()).code, 0);
    });
  });
}

describe("worker (sealed stdio only)", () => {
  test("fs.writeSync(1), a child with stdio 'inherit' and reads of stdin cannot touch the frame channel", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"], { shell: true }));
    assert.deepEqual(resultJson((await w.invoke({ action: "fd1" })).reply), { fd1: true });
    // the child runs `cat` on the inherited stdin: it must see EOF at once, not eat frames
    assert.deepEqual(resultJson((await w.invoke({ action: "spawn_inherit" })).reply), { status: 0 });
    assert.deepEqual(resultJson((await w.invoke({ action: "stdin" })).reply), { stdin: "" });
    assert.equal(resultJson((await w.invoke({ name: "still" })).reply).message, "Hello, still!");
    const { code, stderr } = await w.exit();
    assert.equal(code, 0);
    assert.match(stderr, /written to fd 1 by user code\n/);
    assert.match(stderr, /child says hi\n/);
  });
});

describe("worker", () => {
  test("process.stdin is at its end for user code (shared mode)", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    assert.deepEqual(resultJson((await w.invoke({ action: "stdin" })).reply), { stdin: "" });
    assert.equal(resultJson((await w.invoke({ name: "x" })).reply).message, "Hello, x!");
    assert.equal((await w.exit()).code, 0);
  });

  test("marshal and unmarshal failures are Runtime.* errors and the worker goes on", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    const bigint = (await w.invoke({ action: "bigint" })).reply;
    assert.deepEqual([bigint.type, bigint.error_type], ["error", "Runtime.MarshalError"]);
    assert.match(bigint.error_message, /BigInt/);
    assert.equal((await w.invoke({ action: "cycle" })).reply.error_type, "Runtime.MarshalError");
    const notJson = (await w.invoke(Buffer.from("{not json"))).reply;
    assert.equal(notJson.error_type, "Runtime.UnmarshalError");
    assert.equal((await w.invoke(Buffer.from([0x22, 0xc3, 0x22]))).reply.error_type, "Runtime.UnmarshalError");
    assert.equal(Buffer.from((await w.invoke({ action: "undefined" })).reply.payload).toString(), "null");
    assert.equal((await w.invoke({ action: "throw_string" })).reply.error_type, "string");
    assert.equal(resultJson((await w.invoke({ name: "ok" })).reply).message, "Hello, ok!");
    assert.equal((await w.exit()).code, 0);
  });

  test("the context carries the invoke's fields; _X_AMZN_TRACE_ID is set, then removed when nil", async () => {
    const env = { AWS_LAMBDA_FUNCTION_NAME: "fn", AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256", _X_AMZN_TRACE_ID: "stale" };
    const w = await ready(startWorker([BIN, "./behaviours.mjs"], { env }));
    const set = resultJson(
      (
        await w.invoke(
          { action: "context" },
          { trace_id: "Root=1-a", client_context: '{"env":{"locale":"fr"}}', cognito_identity: '{"cognitoIdentityId":"c"}', tenant_id: "t" },
        )
      ).reply,
    );
    assert.equal(set.functionName, "fn");
    assert.equal(set.memoryLimitInMB, "256");
    assert.deepEqual(set.clientContext, { env: { locale: "fr" } });
    assert.deepEqual(set.identity, { cognitoIdentityId: "c" });
    assert.deepEqual([set.tenantId, set.xrayTraceId, set.envTraceId], ["t", "Root=1-a", "Root=1-a"]);
    assert.ok(set.remaining > 20_000 && set.remaining <= 30_000);
    const { id, reply } = await w.invoke({ action: "context" });
    const unset = resultJson(reply);
    assert.equal(unset.awsRequestId, id);
    assert.deepEqual([unset.tenantId, unset.xrayTraceId, unset.envTraceId], [null, null, null]);
    assert.equal(unset.clientContext, undefined);
    assert.equal((await w.exit()).code, 0);
  });

  test("invokes sent back to back are answered one at a time, in order", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    const a = invokeMessage({ action: "sleep", ms: 50 });
    const b = invokeMessage({ action: "sleep", ms: 1 });
    w.sendBytes(Buffer.concat([frame(a), frame(b)]));
    assert.equal((await w.next()).id, a.id);
    assert.equal((await w.next()).id, b.id);
    assert.equal((await w.exit()).code, 0);
  });

  test("shutdown exits 0 and answers nothing more", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    w.send({ type: "shutdown", reason: "test" });
    const { code, pendingFrames } = await w.exit({ close: false });
    assert.deepEqual({ code, pendingFrames }, { code: 0, pendingFrames: 0 });
  });

  test("raw handlers: raw() tag, strings, and bytes that are not UTF-8", async () => {
    const w = await ready(startWorker([BIN, "./raw_echo.mjs#tagged"]));
    const bytes = Buffer.from([0xff, 0x00, 0xfe]);
    assert.ok(Buffer.from((await w.invoke(bytes)).reply.payload).equals(Buffer.concat([Buffer.from("raw:"), bytes])));
    assert.equal((await w.exit()).code, 0);
    const t = await ready(startWorker([BIN, "./raw_echo.mjs#text"]));
    assert.equal(Buffer.from((await t.invoke(Buffer.alloc(0))).reply.payload).toString(), "é as a string");
    await t.exit();
  });

  test("a result larger than DISPATCHER_MAX_FRAME is answered as Function.ResponseSizeTooLarge", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"], { env: { DISPATCHER_MAX_FRAME: "4096" } }));
    const { reply } = await w.invoke({ action: "big", size: 4000 });
    assert.equal(reply.type, "result");
    const big = (await w.invoke({ action: "big", size: 4100 })).reply;
    assert.ok(big.type === "error" && big.error_type === "Function.ResponseSizeTooLarge", JSON.stringify(big).slice(0, 200));
    assert.equal((await w.exit()).code, 0);
  });

  test("init: an exported init is awaited before ready; logs at import time stay off the channel", async () => {
    const w = await ready(startWorker([BIN, "./init_ok.mjs"]));
    assert.deepEqual(resultJson((await w.invoke({})).reply), { greeting: "initialised" });
    await w.exit();
    const l = await ready(startWorker([BIN, "./logs_at_import.mjs"]));
    assert.deepEqual(resultJson((await l.invoke({ a: 1 })).reply), { a: 1 });
    const { stderr } = await l.exit();
    // console.* lines are records as the AWS runtime writes them (no request id yet: "undefined")
    assert.match(stderr, /\tundefined\tINFO\tlogged at import time\nstdout.write at import time\n.*\tundefined\tINFO\tlogged in init\n/);
  });

  test("a CommonJS module, named without its extension", async () => {
    const w = await ready(startWorker([BIN, "./commonjs#handler"]));
    assert.deepEqual(resultJson((await w.invoke({ a: 1 })).reply), { commonjs: true, event: { a: 1 } });
    assert.equal((await w.exit()).code, 0);
  });

  test("a three-parameter handler gets a callback; its error is reported like a throw", async () => {
    const w = await ready(startWorker([BIN, "./callback.mjs"]));
    assert.deepEqual(resultJson((await w.invoke({})).reply), { via: "callback" });
    assert.equal((await w.invoke({ fail: true })).reply.error_type, "RangeError");
    assert.equal((await w.exit()).code, 0);
  });

  test("the library form: a module that imports the adapter and calls run()", async () => {
    const w = await ready(startWorker(["./library_run.mjs"]));
    const { id, reply } = await w.invoke({ x: 1 });
    assert.deepEqual(resultJson(reply), { library: true, id, event: { x: 1 } });
    const { code, stderr } = await w.exit();
    assert.equal(code, 0);
    assert.match(stderr, /top-level log after importing the adapter/);
  });
});

describe("init errors", () => {
  test("a missing dependency or module file is Runtime.ImportModuleError", async () => {
    const dep = await initError([BIN, "./missing_dependency.mjs"]);
    assert.equal(dep.error_type, "Runtime.ImportModuleError");
    assert.match(dep.error_message, /no-such-package-lambda-dispatcher/);
    const file = await initError([BIN, "./nowhere.mjs"]);
    assert.equal(file.error_type, "Runtime.ImportModuleError");
    assert.match(file.error_message, /nowhere\.mjs/);
  });

  test("a syntax error is Runtime.UserCodeSyntaxError with file and line", async () => {
    const f = await initError([BIN, "./syntax_error.mjs"]);
    assert.equal(f.error_type, "Runtime.UserCodeSyntaxError");
    assert.match(f.error_message, /syntax_error\.mjs:2: Unexpected token/);
  });

  test("a top-level throw, a rejected top-level await or a failing init report the error's own type", async () => {
    const top = await initError([BIN, "./top_level_throw.mjs"]);
    assert.deepEqual([top.error_type, top.error_message], ["ConfigMissing", "TABLE_NAME is not set"]);
    assert.ok(top.stack_trace.some((l) => l.includes("top_level_throw.mjs")));
    assert.equal((await initError([BIN, "./top_level_await_reject.mjs"])).error_type, "RangeError");
    const init = await initError([BIN, "./init_throws.mjs"]);
    assert.deepEqual([init.error_type, init.error_message], ["TypeError", "init could not reach the database"]);
  });

  test("a missing or non-function export is Runtime.HandlerNotFound; bad arguments Runtime.InvalidEntrypoint", async () => {
    const missing = await initError([BIN, "./behaviours.mjs#nope"]);
    assert.equal(missing.error_type, "Runtime.HandlerNotFound");
    assert.match(missing.error_message, /"nope".*exports: handler/);
    assert.equal((await initError([BIN, "./not_a_function.mjs"])).error_type, "Runtime.HandlerNotFound");
    const usage = await initError([BIN], { _HANDLER: "" });
    assert.equal(usage.error_type, "Runtime.InvalidEntrypoint");
    assert.match(usage.error_message, /usage: node bin\.mjs/);
  });

  test("a bad DISPATCHER_MAX_FRAME or protocol version is refused before ready", async () => {
    const f = await initError([BIN, "./behaviours.mjs"], { DISPATCHER_MAX_FRAME: "lots" });
    assert.equal(f.error_type, "Runtime.ConfigError");
    assert.equal((await initError([BIN, "./behaviours.mjs"], { DISPATCHER_PROTOCOL: "2" })).error_type, "Runtime.ProtocolError");
  });
});

describe("crashes and protocol errors", () => {
  test("process.exit() in a handler ends the worker with that status, without a reply", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    w.send(invokeMessage({ action: "exit", code: 3 }));
    const { code, pendingFrames } = await w.exit({ close: false });
    assert.deepEqual({ code, pendingFrames }, { code: 3, pendingFrames: 0 });
  });

  test("an exception thrown outside the handler (a timer) kills the worker with the stack on stderr", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    w.send(invokeMessage({ action: "timer_throw" }));
    const { code, stderr, pendingFrames } = await w.exit({ close: false });
    assert.notEqual(code, 0);
    assert.equal(pendingFrames, 0);
    assert.match(stderr, /thrown from a timer/);
    assert.match(stderr, /behaviours\.mjs/);
  });

  test("an unhandled rejection outside the handler kills the worker", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    w.send(invokeMessage({ action: "unhandled_rejection" }));
    const { code, stderr, pendingFrames } = await w.exit({ close: false });
    assert.notEqual(code, 0);
    assert.equal(pendingFrames, 0);
    assert.match(stderr, /nobody awaits this/);
  });

  for (const { name, spec, bin } of toWorkerVectors().filter((v) => !v.spec.valid)) {
    test(`malformed frame ${name} (${spec.error}): diagnostic on stderr, exit 70`, async () => {
      const env = spec.max_frame ? { DISPATCHER_MAX_FRAME: String(spec.max_frame) } : {};
      const w = await ready(startWorker([BIN, "./behaviours.mjs"], { env }));
      w.sendBytes(bin);
      const { code, stderr, pendingFrames } = await w.exit({ close: false });
      assert.equal(code, 70);
      assert.equal(pendingFrames, 0);
      assert.match(stderr, new RegExp(`protocol error from the supervisor: ${spec.error}`));
    });
  }

  test("every valid to_worker vector is accepted by a running worker", async () => {
    const w = await ready(startWorker([BIN, "--raw", "./raw_echo.mjs#echo"]));
    for (const { spec, bin } of toWorkerVectors().filter((v) => v.spec.valid && v.spec.message.type === "invoke")) {
      w.sendBytes(bin);
      const reply = await w.next();
      assert.equal(reply.type, "result");
      assert.equal(reply.id, spec.message.id);
      assert.equal(Buffer.from(reply.payload).toString("base64"), spec.message.payload.$bin);
    }
    assert.equal((await w.exit()).code, 0);
  });

  test("stdin ending inside a frame is a protocol error (exit 70)", async () => {
    const w = await ready(startWorker([BIN, "./behaviours.mjs"]));
    w.sendBytes(frame(invokeMessage({})).subarray(0, 10));
    const { code, stderr } = await w.exit();
    assert.equal(code, 70);
    assert.match(stderr, /stdin ended inside a frame/);
  });
});
