// Context, event decoding, result encoding and error mapping (pure functions).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MARSHAL_ERROR,
  UNMARSHAL_ERROR,
  buildContext,
  decodeEvent,
  describeError,
  encodeRawResult,
  encodeResult,
} from "../src/invocation.mjs";

const invoke = {
  id: "req-1",
  payload: Buffer.from("{}"),
  deadline_ms: Date.now() + 5000,
  function_arn: "arn:aws:lambda:us-east-1:1:function:f",
  trace_id: "Root=1-abc",
  client_context: '{"custom":{"k":"v"}}',
  cognito_identity: '{"cognitoIdentityId":"id-1"}',
  tenant_id: "tenant-9",
};
const env = {
  AWS_LAMBDA_FUNCTION_NAME: "f",
  AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512",
  AWS_LAMBDA_LOG_GROUP_NAME: "/aws/lambda/f",
  AWS_LAMBDA_LOG_STREAM_NAME: "stream",
};

test("the context has AWS's Node.js field names and parsed JSON headers", () => {
  const ctx = buildContext(invoke, env);
  assert.equal(ctx.awsRequestId, "req-1");
  assert.equal(ctx.invokedFunctionArn, invoke.function_arn);
  assert.equal(ctx.functionName, "f");
  assert.equal(ctx.functionVersion, "$LATEST");
  assert.equal(ctx.memoryLimitInMB, "512");
  assert.equal(ctx.logGroupName, "/aws/lambda/f");
  assert.equal(ctx.logStreamName, "stream");
  assert.deepEqual(ctx.clientContext, { custom: { k: "v" } });
  assert.deepEqual(ctx.identity, { cognitoIdentityId: "id-1" });
  assert.equal(ctx.tenantId, "tenant-9");
  assert.equal(ctx.xrayTraceId, "Root=1-abc");
  const left = ctx.getRemainingTimeInMillis();
  assert.ok(left > 4000 && left <= 5000, `remaining ${left}`);
});

test("absent headers are undefined; a past deadline leaves 0 ms, not a negative number", () => {
  const ctx = buildContext(
    { ...invoke, deadline_ms: Date.now() - 10, trace_id: null, client_context: null, cognito_identity: null, tenant_id: null },
    {},
  );
  assert.equal(ctx.clientContext, undefined);
  assert.equal(ctx.identity, undefined);
  assert.equal(ctx.tenantId, undefined);
  assert.equal(ctx.xrayTraceId, undefined);
  assert.equal(ctx.getRemainingTimeInMillis(), 0);
});

test("empty client context and identity (RAPID's LMI mode sends absent headers empty) are undefined", () => {
  const ctx = buildContext({ ...invoke, client_context: "", cognito_identity: "" }, env);
  assert.equal(ctx.clientContext, undefined);
  assert.equal(ctx.identity, undefined);
});

test("a client context that is not JSON is an UnmarshalError naming the header", () => {
  assert.throws(() => buildContext({ ...invoke, client_context: "{nope" }, env), {
    name: UNMARSHAL_ERROR,
    message: /client_context/,
  });
});

test("events: JSON in UTF-8 decodes; anything else is Runtime.UnmarshalError", () => {
  assert.deepEqual(decodeEvent(Buffer.from('{"name":"Zoë","n":2.50}')), { name: "Zoë", n: 2.5 });
  assert.throws(() => decodeEvent(Buffer.from("not json")), { name: UNMARSHAL_ERROR, message: /not JSON/ });
  assert.throws(() => decodeEvent(Buffer.from([0x22, 0xff, 0x22])), { name: UNMARSHAL_ERROR, message: /UTF-8/ });
  assert.throws(() => decodeEvent(Buffer.alloc(0)), { name: UNMARSHAL_ERROR });
});

test("results: JSON.stringify as UTF-8; undefined is null; BigInt and cycles are MarshalError", () => {
  assert.equal(encodeResult({ a: "é" }).toString("utf8"), '{"a":"é"}');
  assert.equal(encodeResult(undefined).toString(), "null");
  assert.equal(encodeResult("s").toString(), '"s"');
  assert.throws(() => encodeResult({ n: 1n }), { name: MARSHAL_ERROR, message: /BigInt/ });
  const cycle = {};
  cycle.self = cycle;
  assert.throws(() => encodeResult(cycle), { name: MARSHAL_ERROR, message: /circular/ });
});

test("raw results: bytes untouched, strings as UTF-8, nothing as empty, others rejected", () => {
  const bytes = Buffer.from([0, 0xff, 0x80]);
  assert.equal(encodeRawResult(bytes), bytes);
  assert.deepEqual(encodeRawResult("é"), Buffer.from("é"));
  assert.equal(encodeRawResult(undefined).length, 0);
  assert.throws(() => encodeRawResult({ a: 1 }), { name: MARSHAL_ERROR, message: /raw handler must return/ });
});

test("errors: the error's name, else its class name; message; stack frames without the header", () => {
  class OrderNotFound extends Error {}
  const e = describeError(new OrderNotFound("line one\nline two"));
  assert.equal(e.type, "OrderNotFound");
  assert.equal(e.message, "line one\nline two");
  assert.ok(e.stack.length > 0 && e.stack.every((l) => l.startsWith("at ")), e.stack.join("|"));
  assert.equal(describeError(new TypeError("t")).type, "TypeError");
  const named = Object.assign(new Error("m"), { name: "Custom.Name" });
  assert.equal(describeError(named).type, "Custom.Name");
  assert.equal(describeError(new Error("plain")).type, "Error");
});

test("non-Error throws: typeof as the type (as AWS's runtime), the value as the message", () => {
  assert.deepEqual(describeError("boom"), { type: "string", message: "boom", stack: [] });
  assert.deepEqual(describeError(42), { type: "number", message: "42", stack: [] });
  assert.deepEqual(describeError({ code: 1 }), { type: "object", message: '{"code":1}', stack: [] });
  assert.deepEqual(describeError(undefined), { type: "undefined", message: "undefined", stack: [] });
  const errorLike = describeError({ name: "Remote", message: "from another realm" });
  assert.equal(errorLike.type, "Remote");
});

test("callbackWaitsForEmptyEventLoop is true by default and settable; done/succeed/fail are there", () => {
  const calls = [];
  const control = {
    waitsForEmptyLoop: true,
    done: (...args) => calls.push(["done", ...args]),
    succeed: (...args) => calls.push(["succeed", ...args]),
    fail: (...args) => calls.push(["fail", ...args]),
  };
  const ctx = buildContext(invoke, env, control);
  assert.equal(ctx.callbackWaitsForEmptyEventLoop, true);
  ctx.callbackWaitsForEmptyEventLoop = false;
  assert.equal(control.waitsForEmptyLoop, false);
  assert.equal(ctx.callbackWaitsForEmptyEventLoop, false);
  const { done, succeed, fail } = ctx; // detached, as legacy code passes them around
  done(null, 1);
  succeed(2);
  fail("e");
  assert.deepEqual(calls, [["done", null, 1], ["succeed", 2], ["fail", "e"]]);
  assert.throws(() => buildContext(invoke, env).succeed(1), /no running invocation/);
});
