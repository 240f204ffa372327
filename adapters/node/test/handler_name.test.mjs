// Splitting handler arguments (pure): the adapter's MODULE#EXPORT and
// Lambda's Handler string, with AWS's Runtime.MalformedHandlerName cases.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MALFORMED_HANDLER_NAME, followExportPath, splitAdapterForm, splitLambdaForm } from "../src/handler_name.mjs";

test("Lambda's form: folders to the last '/', module to the first '.', then a property path", () => {
  const cases = [
    ["index.handler", { moduleRoot: "", module: "index", exportPath: ["handler"] }],
    ["src/app.handler", { moduleRoot: "src/", module: "app", exportPath: ["handler"] }],
    ["index.nested.deeper.fn", { moduleRoot: "", module: "index", exportPath: ["nested", "deeper", "fn"] }],
    ["/opt/nodejs/lib/index.handler", { moduleRoot: "/opt/nodejs/lib/", module: "index", exportPath: ["handler"] }],
    ["a.b/c.d", { moduleRoot: "a.b/", module: "c", exportPath: ["d"] }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(splitLambdaForm(text), expected, text);
});

test("Lambda's form: '..' anywhere and a last segment without '.' are MalformedHandlerName", () => {
  for (const text of ["../index.handler", "src/../index.handler", "index..handler", "handler", "src/index", ""]) {
    assert.throws(
      () => splitLambdaForm(text),
      (err) => err.name === MALFORMED_HANDLER_NAME && err.message.includes(text === "" ? "''" : text),
      text,
    );
  }
  assert.match(
    (() => {
      try {
        splitLambdaForm("../x.handler");
      } catch (err) {
        return err.message;
      }
    })(),
    /Use absolute paths when specifying root directories/,
  );
});

test("the adapter's form: MODULE[#EXPORT], EXPORT defaulting to handler and walkable", () => {
  assert.deepEqual(splitAdapterForm("./app.mjs"), { module: "./app.mjs", exportPath: ["handler"] });
  assert.deepEqual(splitAdapterForm("./app.mjs#main"), { module: "./app.mjs", exportPath: ["main"] });
  assert.deepEqual(splitAdapterForm("lib/a#api.v1.handle"), { module: "lib/a", exportPath: ["api", "v1", "handle"] });
  for (const text of ["#handler", "./app.mjs#"]) {
    assert.throws(() => splitAdapterForm(text), (err) => err.name === MALFORMED_HANDLER_NAME, text);
  }
});

test("export paths are followed like AWS's runtime: a missing step is undefined, not a throw", () => {
  const exports = { a: { b: { c: 1 } }, n: null };
  assert.equal(followExportPath(exports, ["a", "b", "c"]), 1);
  assert.equal(followExportPath(exports, ["a", "x", "c"]), undefined);
  assert.equal(followExportPath(exports, ["n", "x"]), undefined);
  assert.equal(followExportPath(undefined, []), undefined);
});
