// The package entry (`import { Client, Worker } from "tq-broker"`): the client SDK, the worker
// runtime and their errors. Re-exports only, and only from src/client/ and the pure protocol
// tables: nothing here may pull in the broker, its store or Bun-only APIs (it must load in Node.js).

export { Client, type ListTasksOptions, type ResultOptions, type SubmitResult, type TaskPage } from "./client/client.ts";
export { Worker, type Handler, type TaskContext, type WorkerOptions, type WorkerTask } from "./client/worker.ts";
export { DEFAULT_URL, parseBrokerUrl, parseBrokerUrls, type ClientOptions, type ReconnectOptions, type TlsOptions } from "./client/client-options.ts";
export type { SubmitItem, SubmitOptions } from "./client/submit-options.ts";
export type { Task, TaskStatus } from "./client/task-view.ts";
export * from "./client/tq-error.ts";
export { ErrorCode, ERRORS } from "./protocol/errors.ts";
export { PRIORITY_TIERS } from "./protocol/limits.ts";
