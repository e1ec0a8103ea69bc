// Example producer: submits a few kinds of task and waits for their results.
// Terminal 1: npm start   Terminal 2: tq-broker worker --handlers examples/handlers.ts --queues default,media
// (or bun examples/worker.ts)   Terminal 3: bun examples/producer.ts
// Connects to $TQ_URL, else tq://127.0.0.1:6379. See docs/client.md.

import { Client, TaskFailedError, TimeoutError } from "../src/index.ts"; // in your app: from "tq-broker"

const client = new Client();

const email = await client.submit("email.send", { to: "ada@example.com", subject: "Welcome" }, { priority: "high" });
const image = await client.submit("image.resize", { url: "https://example.com/cat.png", width: 640 }, { queue: "media", timeout: 10_000 });
const flaky = await client.submit("flaky", { failTimes: 2 }, { maxRetries: 3 });
const bad = await client.submit("user.validate", { email: "not-an-address" }, { maxRetries: 5 });
const later = await client.submit("email.send", { to: "bob@example.com", subject: "Reminder" }, { delay: 5000 });
// Same key, same task: safe to call again after a crash or a timeout.
const once = await client.submit("email.send", { to: "eve@example.com", subject: "Receipt #42" }, { idempotencyKey: "receipt-42" });
const again = await client.submit("email.send", { to: "eve@example.com", subject: "Receipt #42" }, { idempotencyKey: "receipt-42" });
console.log(`receipt submitted twice -> same task: ${once.id === again.id} (duplicate=${again.duplicate})`);

const batch = await client.submitMany(
  Array.from({ length: 5 }, (_, i) => ({ type: "email.send", payload: { to: `user${i}@example.com`, subject: "Newsletter" }, priority: "low" as const })),
);
console.log(`submitted ${batch.length} newsletter emails in one round trip`);

for (const [name, task] of Object.entries({ email, image, flaky, bad, later })) {
  try {
    const result = await client.result(task.id, { wait: 30_000 });
    console.log(`${name}: completed`, result);
  } catch (err) {
    if (err instanceof TaskFailedError) console.log(`${name}: ${err.status} - ${err.message}`);
    else if (err instanceof TimeoutError) console.log(`${name}: not finished yet (is a worker running?)`);
    else throw err;
  }
}

console.log("stats:", JSON.stringify((await client.stats()).tasks));
await client.close();
