// PRAGMA integrity_check (or quick_check) on a Worker thread with its own read-only connection,
// while the store's thread checks every row or loads memory: on a million tasks each takes one to
// two seconds, so side by side they cost the start about half. The worker source is inline (as in checkpointer.ts:
// the compiled executable needs no separate file); the open is synchronous, so the result comes
// back through a shared buffer and Atomics.wait. Owns the worker; judges nothing of the result.

import type { Database } from "bun:sqlite";

// Shared buffer: [state, length] as Int32, then the JSON text of the result.
const STARTED = 1;
const DONE = 2;
const RESULT_BYTES = 256 * 1024;
/** Longest wait for the worker thread to start before the check runs on this thread instead. */
const START_TIMEOUT_MS = 5000;

const SOURCE = `
import { Database } from "bun:sqlite";
self.onmessage = (event) => {
  const { path, shared, pragma } = event.data;
  const state = new Int32Array(shared, 0, 2);
  Atomics.store(state, 0, ${STARTED});
  Atomics.notify(state, 0);
  let text;
  try {
    const db = new Database(path, { readonly: true });
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      text = JSON.stringify({ rows: db.query("PRAGMA " + pragma).values().map((r) => String(r[0])) });
    } finally {
      db.close();
    }
  } catch (err) {
    text = JSON.stringify({ error: String((err && err.message) || err) });
  }
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(shared, 8);
  const n = Math.min(bytes.length, out.length);
  out.set(bytes.subarray(0, n));
  state[1] = n;
  Atomics.store(state, 0, ${DONE});
  Atomics.notify(state, 0);
};
`;

/** What PRAGMA integrity_check printed, "ok" left out: empty when the file is sound. */
export type IntegrityRows = string[];

/**
 * integrity_check: every page, record and free-list entry, and every index against its table.
 * quick_check: the same without comparing indexes with their tables (about a third of the time).
 */
export type StructureCheck = "integrity_check" | "quick_check";

function runHere(db: Database, pragma: StructureCheck): IntegrityRows {
  return (db.query(`PRAGMA ${pragma}`).values() as unknown[][]).map((r) => String(r[0])).filter((s) => s !== "ok");
}

/** A check started now and waited for with `result()`. */
export interface PendingIntegrity {
  /** Blocks until the check is done; runs it on `db` when the worker could not. */
  result(): IntegrityRows;
  /** Stops the worker without waiting (a start refused for another reason). */
  cancel(): void;
}

/** Runs the check on `db`, now. */
export function integrityNow(db: Database, pragma: StructureCheck = "integrity_check"): PendingIntegrity {
  const rows = runHere(db, pragma);
  return { result: () => rows, cancel: () => {} };
}

/** Starts the check on a worker thread reading `path`; `db` serves if the worker fails. */
export function integrityInBackground(path: string, db: Database, pragma: StructureCheck = "integrity_check"): PendingIntegrity {
  let worker: Worker;
  const shared = new SharedArrayBuffer(8 + RESULT_BYTES);
  const state = new Int32Array(shared, 0, 2);
  try {
    worker = new Worker(URL.createObjectURL(new Blob([SOURCE], { type: "application/typescript" })));
    worker.postMessage({ path, shared, pragma });
  } catch {
    return integrityNow(db, pragma);
  }
  let settled: IntegrityRows | null = null;
  return {
    result() {
      if (settled !== null) return settled;
      if (Atomics.load(state, 0) === 0) Atomics.wait(state, 0, 0, START_TIMEOUT_MS);
      if (Atomics.load(state, 0) === 0) {
        worker.terminate();
        return (settled = runHere(db, pragma));
      }
      // Started: it ends, one way or the other (its errors come back as text).
      while (Atomics.load(state, 0) !== DONE) Atomics.wait(state, 0, STARTED);
      worker.terminate();
      const text = new TextDecoder().decode(new Uint8Array(shared, 8, state[1]));
      let parsed: { rows?: string[]; error?: string } | null = null;
      try {
        parsed = JSON.parse(text) as { rows?: string[]; error?: string };
      } catch {
        // A result too long for the buffer: run it here.
      }
      settled = parsed?.rows?.filter((s) => s !== "ok") ?? runHere(db, pragma);
      return settled;
    },
    cancel() {
      worker.terminate();
    },
  };
}
