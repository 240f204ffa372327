// A streaming handler exactly as written for AWS's Node.js runtime (a
// function URL with InvokeMode RESPONSE_STREAM): no import from this
// project; `awslambda` is the global AWS's runtime provides, and so does the
// Node adapter.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";

async function* lines(count) {
  for (let i = 1; i <= count; i++) {
    yield `line ${i} of ${count}\n`;
    await sleep(200);
  }
}

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { "content-type": "text/plain; charset=utf-8", "x-request-id": context.awsRequestId },
    cookies: ["visited=yes; Path=/"],
  });
  await pipeline(Readable.from(lines(event.count ?? 5)), stream);
});
