// Example handlers module for `tq-broker worker --handlers examples/handlers.ts`: the default
// export maps each task type to an async function (task, ctx) => result. Run the producer
// (examples/producer.ts) in another terminal to give it work. See docs/client.md.

import type { Handler } from "../src/index.ts"; // in your app: from "tq-broker"

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    // Stop early when the lease is lost or shutdown stops waiting: the task will run again elsewhere.
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

const sendEmail: Handler<{ to: string; subject: string }> = async (task, ctx) => {
  await sleep(200, ctx.signal);
  console.log(`[email.send] to=${task.payload.to} subject=${JSON.stringify(task.payload.subject)}`);
  return { delivered: true, at: new Date().toISOString() };
};

const resizeImage: Handler<{ url: string; width: number }> = async (task, ctx) => {
  // Long work is fine: the worker renews the lease while this runs.
  await sleep(1500, ctx.signal);
  return { url: task.payload.url.replace(/(\.\w+)$/, `-${task.payload.width}w$1`) };
};

const flaky: Handler<{ failTimes: number }> = async (task) => {
  // attempts counts the failed runs before this one: fail the first N, then succeed.
  if (task.attempts < task.payload.failTimes) throw new Error(`flaky: failing on purpose (run ${task.attempts + 1})`);
  return { succeededOnRun: task.attempts + 1 };
};

const validate: Handler<{ email: string }> = async (task) => {
  if (!task.payload.email.includes("@")) {
    // No retry can fix bad input: name it UnrecoverableError and the task goes straight to dead.
    const err = new Error(`not an email address: ${JSON.stringify(task.payload.email)}`);
    err.name = "UnrecoverableError";
    throw err;
  }
  return { ok: true };
};

const handlers: Record<string, Handler> = {
  "email.send": sendEmail,
  "image.resize": resizeImage,
  flaky,
  "user.validate": validate,
};

export default handlers;
