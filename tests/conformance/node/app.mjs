// The handler the conformance tests run under AWS's Node.js runtime interface client.
// Same behaviour as tests/conformance/app.py: echo the event, except {"fail": text}
// throws, {"sleep": N} sleeps first; with $HANDLER_LOG set, "begin"/"end" lines
// are appended around the work.
import { appendFileSync } from "node:fs";

const log = (line) => {
  if (process.env.HANDLER_LOG) appendFileSync(process.env.HANDLER_LOG, line + "\n");
};

export const handler = async (event) => {
  log("begin");
  if (event && typeof event === "object" && "fail" in event) throw new Error(event.fail);
  if (event && typeof event === "object" && "sleep" in event) {
    await new Promise((resolve) => setTimeout(resolve, event.sleep * 1000));
  }
  log("end");
  return event;
};
