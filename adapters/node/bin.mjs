#!/usr/bin/env node
// Launcher: `node bin.mjs [--raw] [HANDLER]` loads a handler from user code
// and serves it.  HANDLER is MODULE[#EXPORT] (EXPORT defaults to `handler`;
// an exported `init` is awaited before `ready`) or Lambda's Handler string
// (`index.handler`); without it, `_HANDLER` is read, as on AWS.  User code
// is imported inside a try, so a missing module, a syntax error or a
// top-level throw becomes `init_error`.
//
// The static import below runs first: the frame channel is secured before
// the user's module is even resolved.

import { takeChannel } from "./src/stdio.mjs";
import { importHandler, importErrorOf, parseArgs } from "./src/launch.mjs";
import { serve } from "./src/worker.mjs";
import { installGlobal } from "./src/streaming.mjs";

takeChannel();
installGlobal(); // awslambda.streamifyResponse / HttpResponseStream, as AWS's runtime provides
serve(() => importHandler(parseArgs(process.argv.slice(2), process.env), process.cwd()), importErrorOf);
