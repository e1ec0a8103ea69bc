// The same handlers run from your own code instead of the CLI: `bun examples/worker.ts`.
// Ctrl-C stops it gracefully (running tasks finish, then it deregisters).

import { Worker } from "../src/index.ts"; // in your app: from "tq-broker"
import handlers from "./handlers.ts";

const worker = new Worker({ queues: ["default", "media"], concurrency: 4 });
for (const [type, handler] of Object.entries(handlers)) worker.register(type, handler);

worker.on("completed", (task, result) => console.log(`completed ${task.type} ${task.id}`, result));
worker.on("failed", (task, err, outcome) => console.log(`failed ${task.type} ${task.id}: ${err.message} -> ${outcome.status}`));
worker.on("error", (err) => console.error("worker error:", err.message));

await worker.start();
console.log(`worker ${worker.workerId} running; Ctrl-C to stop`);
