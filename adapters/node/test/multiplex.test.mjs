// The `multiplex` feature (docs/protocol.md): with DISPATCHER_FEATURES offering
// it and DISPATCHER_CONCURRENCY=N > 1, the worker announces it and runs up to N
// invokes at once, replying by id as each settles.  Real worker processes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BIN, invokeMessage, resultJson, startWorker } from "./harness.mjs";
import { concurrencyFromEnv } from "../src/worker.mjs";

const MULTIPLEX = { DISPATCHER_FEATURES: "multiplex", DISPATCHER_CONCURRENCY: "4" };

async function started(env) {
  const w = startWorker([BIN, "./behaviours.mjs"], { env });
  return { w, ready: await w.next() };
}

describe("multiplex", () => {
  test("announced only when offered with more than one slot", async () => {
    for (const [env, features] of [
      [MULTIPLEX, ["multiplex"]],
      [{ DISPATCHER_FEATURES: "multiplex", DISPATCHER_CONCURRENCY: "1" }, []],
      [{ DISPATCHER_FEATURES: "", DISPATCHER_CONCURRENCY: "4" }, []],
    ]) {
      const { w, ready } = await started(env);
      assert.deepEqual(ready, { type: "ready", protocol: 1, features }, JSON.stringify(env));
      assert.equal((await w.exit()).code, 0);
    }
  });

  test("a later invoke that finishes first is answered first, each reply by its id", async () => {
    const { w } = await started(MULTIPLEX);
    const slow = invokeMessage({ action: "sleep", ms: 400 });
    const fast = invokeMessage({ name: "Ada" });
    const failing = invokeMessage({ action: "throw", id: 7 });
    for (const m of [slow, fast, failing]) w.send(m);
    const replies = [await w.next(), await w.next(), await w.next()];
    assert.deepEqual(replies.map((r) => r.id), [fast.id, failing.id, slow.id]);
    assert.deepEqual(resultJson(replies[0]), { message: "Hello, Ada!" });
    assert.equal(replies[1].type, "error");
    assert.equal(replies[1].error_type, "OrderNotFound");
    assert.deepEqual(resultJson(replies[2]), { slept: 400 });
    assert.equal((await w.exit()).code, 0);
  });

  test("N slow invokes overlap: sent longest first, they finish shortest first", async () => {
    const { w } = await started(MULTIPLEX);
    const sent = [400, 300, 200, 100].map((ms) => invokeMessage({ action: "sleep", ms }));
    for (const m of sent) w.send(m);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await w.next());
    // One at a time they would come back in the order sent.
    assert.deepEqual(replies.map((r) => resultJson(r).slept), [100, 200, 300, 400]);
    assert.deepEqual(replies.map((r) => r.id), [...sent].reverse().map((m) => m.id));
    assert.equal((await w.exit()).code, 0);
  });

  test("without multiplex the same invokes are answered in order", async () => {
    const { w } = await started({ DISPATCHER_FEATURES: "", DISPATCHER_CONCURRENCY: "4" });
    const slow = invokeMessage({ action: "sleep", ms: 200 });
    const fast = invokeMessage({ name: "Ada" });
    w.send(slow);
    w.send(fast);
    assert.deepEqual([(await w.next()).id, (await w.next()).id], [slow.id, fast.id]);
    assert.equal((await w.exit()).code, 0);
  });

  test("the trace id stays on each context; _X_AMZN_TRACE_ID is not set process-wide", async () => {
    const { w } = await started(MULTIPLEX);
    const a = invokeMessage({ action: "context" }, { trace_id: "Root=1-a" });
    const b = invokeMessage({ action: "context" }, { trace_id: "Root=1-b" });
    w.send(a);
    w.send(b);
    const got = Object.fromEntries([await w.next(), await w.next()].map((r) => [r.id, resultJson(r)]));
    assert.equal(got[a.id].xrayTraceId, "Root=1-a");
    assert.equal(got[b.id].xrayTraceId, "Root=1-b");
    assert.equal(got[a.id].envTraceId, null);
    assert.equal(got[b.id].envTraceId, null);
    assert.equal((await w.exit()).code, 0);
  });

  test("EOF with invokes in flight: they are answered, then exit 0", async () => {
    const { w } = await started(MULTIPLEX);
    const m = invokeMessage({ action: "sleep", ms: 200 });
    w.send(m);
    w.closeStdin();
    const reply = await w.next();
    assert.equal(reply.id, m.id);
    assert.deepEqual(resultJson(reply), { slept: 200 });
    const { code, pendingFrames } = await w.exit({ close: false });
    assert.deepEqual({ code, pendingFrames }, { code: 0, pendingFrames: 0 });
  });

  test("a bad DISPATCHER_CONCURRENCY is an init error that says what to give", async () => {
    const { w, ready } = await started({ DISPATCHER_FEATURES: "multiplex", DISPATCHER_CONCURRENCY: "lots" });
    assert.equal(ready.type, "init_error");
    assert.equal(ready.error_type, "Runtime.ConfigError");
    assert.match(ready.error_message, /DISPATCHER_CONCURRENCY must be a whole number/);
    assert.notEqual((await w.exit()).code, 0);
    assert.equal(concurrencyFromEnv({}), 1);
    assert.equal(concurrencyFromEnv({ DISPATCHER_FEATURES: "x,multiplex", DISPATCHER_CONCURRENCY: "8" }), 8);
  });
});
