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
 * One handler call: which of promise / callback / done / succeed / fail
 * decided it (the first), and whether its Promise has settled.  A class with
 * methods rather than per-call closures: the context exposes `done`,
 * `succeed` and `fail` through getters that wrap these (invocation.mjs), so
 * an invocation that never touches them pays for none.
 */
class Call {
  constructor(resolve, reject, baseline) {
    this.resolve = resolve;
    this.reject = reject;
    this.baseline = baseline; // active resources before the call; -1: not taken yet
    this.waitsForEmptyLoop = true; // context.callbackWaitsForEmptyEventLoop
    this.decided = false;
    this.finished = false;
  }

  finish(err, value) {
    if (this.finished) return;
    this.finished = true;
    if (err != null) this.reject(err);
    else this.resolve(value);
  }

  decide() {
    if (this.decided) return false;
    this.decided = true;
    return true;
  }

  done(err, value) {
    if (this.decide()) this.finish(err, value);
  }

  succeed(value) {
    if (this.decide()) this.finish(null, value);
  }

  fail(err) {
    if (this.decide()) this.finish(err ?? HANDLED);
  }

  callback(err, value) {
    if (!this.decide()) return;
    if (err != null || !this.waitsForEmptyLoop) this.finish(err, value);
    else this.whenIdle(() => this.finish(null, value));
  }

  whenIdle(then) {
    if (this.baseline === -1) this.baseline = activeResources();
    whenIdle(this.baseline, then, () => this.finished);
  }
}

/**
 * Call `handler(event, context, callback)`, where `context` is
 * `contextOf(call)`, and return a Promise of the outcome.
 */
export function callHandler(handler, event, contextOf) {
  return new Promise((resolve, reject) => {
    // Async functions end through their Promise: skip the resource count
    // unless one of them calls `callback` (then it is taken at that moment).
    const call = new Call(resolve, reject, handler[Symbol.toStringTag] === "AsyncFunction" ? -1 : activeResources());
    let returned;
    try {
      returned = handler(event, contextOf(call), (err, value) => call.callback(err, value));
    } catch (err) {
      call.callback(err ?? HANDLED);
      return;
    }
    if (typeof returned?.then === "function") {
      returned.then((value) => call.succeed(value), (err) => call.fail(err));
    } else if (returned !== undefined && handler.length < 3) {
      call.succeed(returned);
    } else if (handler.length < 3 && !call.decided) {
      call.whenIdle(() => call.succeed(null));
    } // else: a declared callback is waited for (the supervisor's deadline bounds the wait)
  });
}
