// An AWS-style Node.js handler: the same file runs unchanged on AWS's
// Node.js runtime (handler "app.handler").
export async function handler(event) {
  const name = event?.name ?? "world";
  return { message: `Hello, ${name}!` };
}
