// A task's page as JSON (GET /api/v1/tasks/{id}/inspect): its payload and result for a person
// (pretty JSON, text, or a hex dump; large ones cut, with a download link), its runs, lease,
// timeline and why it waits. Shapes only: the facts come from the broker.

import type { WaitReason } from "../broker/task-explain.ts";
import type { Task } from "../rules/task.ts";
import type { TaskRun } from "../rules/task.ts";
import type { WorkerState } from "../workers/registry.ts";
import { workerJson } from "./admin-json.ts";
import { taskJson } from "./task-json.ts";

/** Characters of a payload or result shown on the page; the rest is a download. */
export const MAX_SHOWN_CHARS = 64 * 1024;
/** Bytes of an opaque body shown as a hex dump (16 per line). */
export const MAX_HEX_BYTES = 4096;
/**
 * Longest JSON text pretty-printed before it is cut: parsing it takes about 10 ms per MiB, and a
 * large JSON body is just the one an operator cannot read on one line. Longer ones are cut as text.
 */
export const MAX_PRETTY_CHARS = 1024 * 1024;

export interface BodyView {
  bytes: number;
  /** How `text` shows the bytes: pretty-printed JSON, UTF-8 text, or a hex dump. */
  shown_as: "json" | "text" | "hex";
  text: string;
  truncated: boolean;
  /** GET this for the whole body (with the same key). */
  download: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Printable UTF-8 (tabs and newlines allowed), or null. */
function asText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return null;
  }
  return /[\u0000-\u0008\u000e-\u001f\u007f]/.test(text) ? null : text;
}

function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.byteLength; at += 16) {
    const row = bytes.subarray(at, at + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${at.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}

export function bodyView(bytes: Uint8Array, isJson: boolean, download: string): BodyView {
  const base = { bytes: bytes.byteLength, download };
  const text = asText(bytes);
  if (text === null) {
    const shown = bytes.subarray(0, MAX_HEX_BYTES);
    return { ...base, shown_as: "hex", text: hexDump(shown), truncated: shown.byteLength < bytes.byteLength };
  }
  if (isJson && text.length <= MAX_PRETTY_CHARS) {
    try {
      const pretty = JSON.stringify(JSON.parse(text), null, 2);
      return { ...base, shown_as: "json", text: pretty.slice(0, MAX_SHOWN_CHARS), truncated: pretty.length > MAX_SHOWN_CHARS };
    } catch {
      // Marked JSON but not JSON: shown as the text it is.
    }
  }
  return { ...base, shown_as: isJson ? "json" : "text", text: text.slice(0, MAX_SHOWN_CHARS), truncated: text.length > MAX_SHOWN_CHARS };
}

export interface TimelineEntry {
  at_ms: number;
  event: string;
  detail: string | null;
}

/** What happened to the task, in time order, from its fields and its runs. */
export function timeline(task: Task, runs: readonly TaskRun[]): TimelineEntry[] {
  const out: TimelineEntry[] = [{ at_ms: task.createdAtMs, event: "submitted", detail: `queue ${task.queue}, priority ${task.priority}` }];
  if (task.runAtMs !== null && task.runAtMs > task.createdAtMs && runs.length === 0) out.push({ at_ms: task.runAtMs, event: task.status === "scheduled" ? "scheduled for" : "ready", detail: null });
  for (const run of runs) {
    out.push({ at_ms: run.startedAtMs, event: "claimed", detail: `by ${run.workerId}` });
    out.push({ at_ms: run.endedAtMs, event: run.outcome.replace("_", " "), detail: run.error === null ? null : run.error.split("\n")[0]!.slice(0, 200) });
  }
  if (task.status === "in_progress" && task.startedAtMs !== null) out.push({ at_ms: task.startedAtMs, event: "claimed", detail: `by ${task.workerId}` });
  if (task.status === "failed" && task.runAtMs !== null) out.push({ at_ms: task.runAtMs, event: "retry due", detail: null });
  if (task.status === "completed" && runs.length === 0 && task.finishedAtMs !== null) out.push({ at_ms: task.finishedAtMs, event: "completed", detail: null });
  if ((task.status === "dead" || task.status === "cancelled") && !runs.some((r) => r.endedAtMs === task.finishedAtMs) && task.finishedAtMs !== null) {
    out.push({ at_ms: task.finishedAtMs, event: task.status, detail: null });
  }
  return out.sort((a, b) => a.at_ms - b.at_ms);
}

export interface InspectFacts {
  task: Task;
  runs: readonly TaskRun[];
  waiting: readonly WaitReason[];
  /** The worker holding the lease, when running and known. */
  worker: WorkerState | null;
  nowMs: number;
}

export function inspectJson(f: InspectFacts): Record<string, unknown> {
  const { task } = f;
  const base = `/api/v1/tasks/${task.id}/raw`;
  return {
    task: taskJson(task, { bodies: false }),
    payload: bodyView(task.payload, task.payloadIsJson, `${base}/payload`),
    result: task.result === null ? null : bodyView(task.result, task.resultIsJson, `${base}/result`),
    runs: f.runs.map((r) => ({
      worker_id: r.workerId,
      started_at_ms: r.startedAtMs,
      ended_at_ms: r.endedAtMs,
      duration_ms: r.endedAtMs - r.startedAtMs,
      outcome: r.outcome,
      error: r.error,
    })),
    lease:
      task.status === "in_progress"
        ? {
            worker_id: task.workerId,
            started_at_ms: task.startedAtMs,
            expires_at_ms: task.leaseExpiresAtMs,
            running_ms: task.startedAtMs === null ? null : Math.max(0, f.nowMs - task.startedAtMs),
            worker: f.worker === null ? null : workerJson(f.worker),
          }
        : null,
    waiting: f.waiting.map((w) => ({ code: w.code, message: w.message, until_ms: w.untilMs ?? null, count: w.count ?? null })),
    timeline: timeline(task, f.runs),
  };
}
