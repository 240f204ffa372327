// How one call of the handler ends, following AWS's Node.js runtime
// (aws-lambda-ric's CallbackContext.js and Runtime.js):
//
// - the handler always gets (event, context, callback);
// - a returned Promise, `callback(err, value)`, `context.done(err, value)`,
//   `context.succeed(value)` or `context.fail(err)`: the first one to be
//   used decides, later ones are ignored;
// - `callback(null, value)` with `context.callbackWaitsForEmptyEventLoop`
//   true (the default) answers once the work the invocation started
//   (timers, sockets, file reads) is over, as AWS answers once the event
//   loop is empty; `false` answers at once.  Unlike AWS, handles that existed
//   before the invocation (a connection pool opened at init) are not waited
//   for: this process never empties its loop, it keeps reading its stdin;
// - a handler that returns without settling and without declaring a
//   callback parameter is answered `null` once its work is over (AWS does the
//   same when the loop empties); one that declares `callback` is waited for;
// - a plain (non-Promise) returned value other than undefined is the result:
//   an extension, AWS ignores it.
//
// "The work is over" is read from process.getActiveResourcesInfo(): no more
// active handles and requests than when the handler was called.

const POLL_MS = 1;

function activeResources() {
  return typeof process.getActiveResourcesInfo === "function" ? process.getActiveResourcesInfo().length : 0;
}

/**
 * Call `then` once the count of active resources is back to `baseline`;
 * give up when `over()` says the invocation was answered some other way.
 * The first look is an unref'd setImmediate (after the handler's remaining
 * synchronous code and its microtasks, microseconds later); the next ones an
 * unref'd timer every POLL_MS.  Neither is in the count.  A timer for the
 * first look would add a millisecond to every callback-style invocation.
 */
function whenIdle(baseline, then, over) {
  const check = () => {
    if (over()) return;
    if (activeResources() <= baseline) then();
    else setTimeout(check, POLL_MS).unref();
  };
  setImmediate(check).unref();
}

/** The value `context.fail()` without an error reports, as AWS does. */
const HANDLED = "handled";

/**
 * Call `handler(event, context, callback)`, where `context` is
 * `contextOf(control)`, and return a Promise of the outcome.  `control`
 * carries what the context exposes of the call: `waitsForEmptyLoop`
 * (behind `callbackWaitsForEmptyEventLoop`), `done`, `succeed`, `fail`.
 * Built as plain closures: Object.defineProperties on every invocation costs
 * about 5 µs, a literal with closures a fraction of that.
 */
export function callHandler(handler, event, contextOf) {
  return new Promise((resolve, reject) => {
    // Async functions end through their Promise: skip the resource count
    // unless one of them calls `callback` (then it is taken at that moment).
    let baseline = handler[Symbol.toStringTag] === "AsyncFunction" ? -1 : activeResources();
    let decided = false; // the first of promise / callback / done / succeed / fail wins
    let finished = false;
    const finish = (err, value) => {
      if (finished) return;
      finished = true;
      if (err != null) reject(err);
      else resolve(value);
    };
    const idle = (then) => whenIdle(baseline === -1 ? (baseline = activeResources()) : baseline, then, () => finished);
    const once = (fn) => (...args) => {
      if (decided) return;
      decided = true;
      fn(...args);
    };
    const control = {
      waitsForEmptyLoop: true,
      done: once((err, value) => finish(err, value)),
      succeed: once((value) => finish(null, value)),
      fail: once((err) => finish(err ?? HANDLED)),
    };
    const callback = once((err, value) => {
      if (err != null || !control.waitsForEmptyLoop) finish(err, value);
      else idle(() => finish(null, value));
    });
    const context = contextOf(control);

    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (err) {
      callback(err ?? HANDLED);
      return;
    }
    if (typeof returned?.then === "function") {
      returned.then(once((value) => finish(null, value)), once((err) => finish(err ?? HANDLED)));
    } else if (returned !== undefined && handler.length < 3) {
      once(() => finish(null, returned))();
    } else if (handler.length < 3 && !decided) {
      idle(once(() => finish(null, null)));
    } // else: a declared callback is waited for (the supervisor's deadline bounds the wait)
  });
}
