// Every index of the database against its table, on a Worker thread with its own read-only
// connection: each row has its entry in every index that should hold it, and each index holds as
// many entries as there are rows that belong in it. That is what PRAGMA integrity_check adds to
// quick_check, done in chunks of rows, each its own short read transaction: checkpoints and
// writers go on meanwhile (integrity_check would hold one reader for seconds, and a WAL
// truncation would wait on it). The SQL is built here from the schema; the worker only runs it
// (inline source, as in checkpointer.ts). Reads only; judges nothing.

import type { Database } from "bun:sqlite";

/** One index as the checks need it: its key columns and, for a partial index, its condition. */
export interface IndexSpec {
  table: string;
  index: string;
  columns: string[];
  /** The partial index's WHERE text, as in its CREATE INDEX; null for a full index. */
  where: string | null;
}

/** The statements that check one table's indexes (parameters: ?1 the last rowid checked, ?2 the chunk's last). */
export interface TableCheckSql {
  table: string;
  indexes: string[];
  /** The rowid that ends the chunk after ?1 (no row: the rest of the table is the last chunk). */
  chunkEnd: string;
  /** Rows of the chunk (?1, ?2] missing from an index, with a 0/1 column per index. */
  missingInChunk: string;
  /** The same for every row after ?1. */
  missingAfter: string;
  /** One row: i0..in entries per index, r0..rn rows that belong in each, counted in one snapshot. */
  counts: string;
}

export interface IndexFindings {
  /** Indexes out of step with their tables. */
  outOfStep: string[];
  /** What was found, in words (a few rowids per index). */
  details: string[];
}

/** Rows per chunk: a few milliseconds of reading, so no reader holds the WAL for long. */
export const INDEX_CHECK_CHUNK_ROWS = 4096;

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** The indexes of every table in `db`, from its schema. Expression indexes are not supported (none exist). */
export function indexSpecs(db: Database): IndexSpec[] {
  const indexes = db
    .query("SELECT name, tbl_name AS \"table\", sql FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_stat%' ORDER BY tbl_name, name")
    .all() as { name: string; table: string; sql: string | null }[];
  return indexes.map(({ name, table, sql }) => {
    const columns = (db.query(`PRAGMA index_xinfo(${quote(name)})`).all() as { cid: number; name: string | null; key: number }[])
      .filter((c) => c.key === 1)
      .map((c) => {
        if (c.cid === -2 || c.name === null) throw new Error(`index ${name} has an expression column: the checks after open cannot compare it`);
        return c.name;
      });
    const where = sql === null ? null : (/\sWHERE\s+([\s\S]+)$/i.exec(sql)?.[1]?.trim() ?? null);
    return { table, index: name, columns, where };
  });
}

/** The statements for each table that has indexes. */
export function indexCheckSql(specs: readonly IndexSpec[]): TableCheckSql[] {
  const byTable = new Map<string, IndexSpec[]>();
  for (const s of specs) byTable.set(s.table, [...(byTable.get(s.table) ?? []), s]);
  return [...byTable].map(([table, indexes]) => {
    const t = quote(table);
    const columns = [...new Set(indexes.flatMap((i) => i.columns))].map(quote);
    const conditions = indexes.map((i, n) => (i.where === null ? null : `(${i.where}) AS _w${n}`)).filter((c) => c !== null);
    // _row is the row, _entry the index side; the partial condition, unqualified, is the index side's.
    const missing = indexes.map((i, n) => {
      const keys = i.columns.map((c) => `_entry.${quote(c)} IS _row.${quote(c)}`).join(" AND ");
      const partial = i.where === null ? "" : ` AND (${i.where})`;
      const belongs = i.where === null ? "" : `_row._w${n} AND `;
      return `(${belongs}NOT EXISTS (SELECT 1 FROM ${t} AS _entry INDEXED BY ${quote(i.index)} WHERE ${keys}${partial} AND _entry.rowid = _row._r))`;
    });
    const rows = (bound: string): string =>
      `SELECT _row._r, ${missing.map((m, n) => `${m} AS _m${n}`).join(", ")}
       FROM (SELECT rowid AS _r, ${[...columns, ...conditions].join(", ")} FROM ${t} WHERE rowid > ?1${bound}) AS _row
       WHERE ${missing.join(" OR ")}`;
    // "+rowid IS NOT NULL" (always true) makes SQLite step through the index's entries: a bare
    // count(*) may count the table's instead, whatever INDEXED BY says.
    const entryCounts = indexes.map((i, n) => `(SELECT count(*) FROM ${t} INDEXED BY ${quote(i.index)} WHERE +rowid IS NOT NULL${i.where === null ? "" : ` AND (${i.where})`}) AS i${n}`);
    const rowCounts = indexes.map((i, n) => (i.where === null ? `count(*) AS r${n}` : `count(*) FILTER (WHERE ${i.where}) AS r${n}`));
    return {
      table,
      indexes: indexes.map((i) => i.index),
      chunkEnd: `SELECT rowid FROM ${t} WHERE rowid > ?1 ORDER BY rowid LIMIT 1 OFFSET ${INDEX_CHECK_CHUNK_ROWS - 1}`,
      missingInChunk: rows(" AND rowid <= ?2"),
      missingAfter: rows(""),
      counts: `SELECT ${entryCounts.join(", ")}, r.* FROM (SELECT ${rowCounts.join(", ")} FROM ${t} NOT INDEXED) AS r`,
    };
  });
}

const SOURCE = `
import { Database } from "bun:sqlite";
function check(db, tables, stop) {
  const outOfStep = new Set();
  const details = [];
  const stopped = () => {
    if (Atomics.load(stop, 0) !== 0) throw Object.assign(new Error("stopped"), { code: "STOPPED" });
  };
  for (const t of tables) {
    const end = db.query(t.chunkEnd);
    const inChunk = db.query(t.missingInChunk);
    const after = db.query(t.missingAfter);
    const missing = t.indexes.map(() => []);
    for (let from = 0; ;) {
      stopped();
      const to = end.values(from)[0]?.[0];
      const bad = to === undefined ? after.values(from) : inChunk.values(from, to);
      for (const row of bad) for (let n = 0; n < t.indexes.length; n++) if (row[n + 1]) missing[n].push(row[0]);
      if (to === undefined) break;
      from = to;
    }
    stopped();
    const counts = db.query(t.counts).get();
    t.indexes.forEach((index, n) => {
      const entries = counts["i" + n];
      const rows = counts["r" + n];
      if (missing[n].length > 0) details.push("index " + index + " has no entry for " + missing[n].length + " row(s) of " + t.table + " (rowid " + missing[n].slice(0, 5).join(", ") + ")");
      if (entries !== rows) details.push("index " + index + " holds " + entries + " entries for " + rows + " row(s) of " + t.table);
      if (missing[n].length > 0 || entries !== rows) outOfStep.add(index);
    });
  }
  return { kind: "done", outOfStep: [...outOfStep], details };
}
self.onmessage = (event) => {
  const { path, tables, stopFlag } = event.data;
  const stop = new Int32Array(stopFlag);
  let message;
  try {
    const db = new Database(path, { readonly: true });
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA cache_size = -2048");
      message = check(db, tables, stop);
    } finally {
      // Closed before the answer goes: the store terminates this thread once it has it.
      db.close();
    }
  } catch (err) {
    message = { kind: "error", message: String((err && err.message) || err), code: String((err && err.code) || "") };
  }
  postMessage(message);
};
`;

/** A check running on its worker. */
export interface RunningIndexCheck {
  /** Resolves with what was found; rejects when the check could not run to its end (its error). */
  readonly done: Promise<IndexFindings>;
  /**
   * Asks the worker to stop after its current statement and waits until it closed its connection
   * (terminating a thread inside SQLite leaves the process's locks on the file in disorder: the
   * store's writes then fail with SQLITE_BUSY). `done` rejects.
   */
  stop(): Promise<void>;
}

const noop = (): void => {};

/** Longest wait for the worker to stop on its own (its longest statement is a count of a table). */
const STOP_WAIT_MS = 10_000;

/** Runs `tables` on a worker thread reading `path`. */
export function checkIndexesInBackground(path: string, tables: readonly TableCheckSql[]): RunningIndexCheck {
  const stopFlag = new SharedArrayBuffer(4);
  let worker: Worker | null = new Worker(URL.createObjectURL(new Blob([SOURCE], { type: "application/typescript" })));
  const ended = (): void => {
    worker?.terminate();
    worker = null;
  };
  const done = new Promise<IndexFindings>((resolve, reject) => {
    worker!.onmessage = (event: MessageEvent) => {
      const m = event.data as { kind: "done"; outOfStep: string[]; details: string[] } | { kind: "error"; message: string; code: string };
      ended();
      if (m.kind === "done") resolve({ outOfStep: m.outOfStep, details: m.details });
      else reject(Object.assign(new Error(m.message), { code: m.code }));
    };
    worker!.onerror = (event: ErrorEvent) => {
      ended();
      reject(new Error(`the index check's worker failed: ${event.message}`));
    };
  });
  worker.postMessage({ path, tables, stopFlag });
  return {
    done,
    async stop() {
      if (worker === null) return;
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const givenUp = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          ended();
          resolve();
        }, STOP_WAIT_MS);
      });
      await Promise.race([done.then(noop, noop), givenUp]);
      clearTimeout(timer);
    },
  };
}
