// Damaged files never start a broker silently (issue 19.4, 19.5; docs/guarantees.md promise 7):
// real `tq-broker serve` processes on real data dirs whose tq.db or WAL a test helper damaged.
// Each damage is refused with exit 65 and a message naming it; --accept-data-loss starts, once,
// and lists what was lost. After a clean stop, with the file untouched since, rows and indexes are
// checked right after serving: what is found then is quarantined or rebuilt and logged loudly.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskInfo } from "../../src/protocol/messages.ts";
import { writeCleanStop } from "../../src/store/sqlite/clean-stop.ts";
import { launchBroker, reap } from "../chaos/lib/broker-proc.ts";
import { seededRandom } from "../chaos/lib/tier.ts";
import {
  copyDataDir, DB_FILE, flipByte, listAll, offsetOf, startAndRead, taskText, WAL_FILE, walFrameDataOffset, walFrames, type StartOutcome,
} from "../helpers/data-damage.ts";
import { RawConn } from "../helpers/raw-conn.ts";

const TASKS = 400;
const COMPLETED = 100;
const dirs: string[] = [];
const enc = new TextEncoder();

function payloadOf(i: number): Uint8Array {
  return enc.encode(JSON.stringify({ marker: `task-${i}-payload`, pad: "x".repeat(100) }));
}

interface Fixture {
  dataDir: string;
  /** Task ids by submit index. */
  ids: string[];
  /** What the broker served before any damage, by id. */
  served: Map<string, TaskInfo>;
}

/**
 * A data dir holding TASKS tasks, COMPLETED of them completed in 10 separate commits. `stop`
 * "term" closes cleanly (the WAL is emptied into tq.db); "kill" leaves every commit in the WAL
 * (checkpoints held off for an hour), as a crash would.
 */
async function makeFixture(stop: "term" | "kill"): Promise<Fixture> {
  const dataDir = mkdtempSync(join(tmpdir(), "tq-damage-"));
  dirs.push(dataDir);
  const broker = launchBroker({ dataDir, env: { TQ_PERSISTENCE_WAL_SYNC_INTERVAL_MS: "3600000" } });
  try {
    const conn = await RawConn.connect(await broker.listening());
    const ids: string[] = [];
    for (let b = 0; b < TASKS; b += 100) {
      const r = await conn.call({ kind: "SubmitBatch", tasks: Array.from({ length: 100 }, (_, i) => ({ type: "t", queue: "q", payload: payloadOf(b + i), payloadIsJson: true })) });
      if (r.kind !== "SubmittedBatch") throw new Error(`submit answered ${JSON.stringify(r)}`);
      ids.push(...r.outcomes.map((x) => x.id));
    }
    for (let round = 0; round < COMPLETED / 10; round++) {
      const claimed = await conn.call({ kind: "ClaimTask", queues: ["q"], max: 10, waitMs: 0 });
      if (claimed.kind !== "Claimed") throw new Error(`claim answered ${JSON.stringify(claimed)}`);
      const done = await conn.call({
        kind: "TaskResultBatch",
        results: claimed.tasks.map((t) => ({ id: t.id, token: t.token, outcome: "completed" as const, resultIsJson: false, result: enc.encode(`done-${t.id}`), error: "" })),
      });
      if (done.kind !== "ResultBatchOutcome") throw new Error(`results answered ${JSON.stringify(done)}`);
    }
    const served = await listAll(conn);
    conn.close();
    broker.proc.kill(stop === "term" ? "SIGTERM" : "SIGKILL");
    await broker.exited;
    return { dataDir, ids, served };
  } finally {
    await reap(broker);
  }
}

function damagedCopy(fixture: Fixture): string {
  const copy = copyDataDir(fixture.dataDir);
  dirs.push(copy);
  return copy;
}

function expectRefused(r: StartOutcome, ...texts: (string | RegExp)[]): void {
  expect(r.tasks).toBeNull();
  expect(r.exitCode).toBe(65);
  for (const text of texts) expect(r.output).toMatch(text);
  expect(r.output).toContain("--accept-data-loss");
  expect(r.output).not.toContain("unexpected error");
}

function completedCount(tasks: Map<string, TaskInfo>): number {
  return [...tasks.values()].filter((t) => t.status === "completed").length;
}

let clean: Fixture;
let crashed: Fixture;

beforeAll(async () => {
  [clean, crashed] = await Promise.all([makeFixture("term"), makeFixture("kill")]);
}, 60_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("damaged tq.db", () => {
  test("a flipped byte in a task record: exit 65 naming the task; --accept-data-loss quarantines it, lists it, never serves it; the next start is clean", async () => {
    expect(clean.served.size).toBe(TASKS);
    const dir = damagedCopy(clean);
    const victim = clean.ids[123]!;
    flipByte(join(dir, DB_FILE), offsetOf(join(dir, DB_FILE), "task-123-payload") + 5);

    expectRefused(await startAndRead(dir), "1 task record failed their checksums", victim);

    const accepted = launchBroker({ dataDir: dir, args: ["--accept-data-loss"] });
    try {
      const conn = await RawConn.connect(await accepted.listening());
      expect(accepted.output()).toMatch(/"level":"error","msg":"started after checks at open found damaged data"/);
      expect(accepted.output()).toContain(victim);
      const info = await conn.call({ kind: "QueryStatus", id: victim });
      expect(info).toMatchObject({ kind: "Error", code: 8, message: expect.stringContaining("quarantined") });
      conn.close();
      accepted.proc.kill("SIGTERM");
      await accepted.exited;
    } finally {
      await reap(accepted);
    }
    const after = await startAndRead(dir);
    expect(after.tasks!.size).toBe(TASKS - 1);
    for (const [id, t] of after.tasks!) expect(taskText(t)).toBe(taskText(clean.served.get(id)!));
  }, 60_000);

  test("single-byte flips anywhere in tq.db: every start is refused with 65 or serves exactly the tasks served before", async () => {
    const size = statSync(join(clean.dataDir, DB_FILE)).size;
    const random = seededRandom(1904);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 12; i++) {
      const dir = damagedCopy(clean);
      const offset = Math.floor(random() * size);
      flipByte(join(dir, DB_FILE), offset, 1 << Math.floor(random() * 8));
      const r = await startAndRead(dir);
      if (r.tasks === null) {
        expect({ offset, exitCode: r.exitCode }).toEqual({ offset, exitCode: 65 });
        outcomes.refused = (outcomes.refused ?? 0) + 1;
      } else {
        const changed = [...clean.served].filter(([id, t]) => r.tasks!.get(id) === undefined || taskText(r.tasks!.get(id)!) !== taskText(t));
        expect({ offset, changed: changed.map(([id]) => id), extra: r.tasks.size - clean.served.size }).toEqual({ offset, changed: [], extra: 0 });
        const repaired = r.output.includes("indexes out of step");
        outcomes[repaired ? "started, index rebuilt, same tasks" : "started, same tasks"] = (outcomes[repaired ? "started, index rebuilt, same tasks" : "started, same tasks"] ?? 0) + 1;
      }
      rmSync(dir, { recursive: true, force: true });
    }
    process.stdout.write(`single-byte flips in tq.db (12, seed 1904): ${JSON.stringify(outcomes)}\n`);
  }, 120_000);

  test("an emptied or deleted tq.db where the data dir held one: exit 65; accepted, the broker starts empty and says what was lost", async () => {
    const emptied = damagedCopy(clean);
    truncateSync(join(emptied, DB_FILE), 0);
    expectRefused(await startAndRead(emptied), "the database file is empty (0 bytes), but this data dir held a tq-broker database");
    expect(statSync(join(emptied, DB_FILE)).size).toBe(0);

    const deleted = damagedCopy(clean);
    unlinkSync(join(deleted, DB_FILE));
    expectRefused(await startAndRead(deleted), "the database file is missing");

    const accepted = await startAndRead(emptied, { args: ["--accept-data-loss"] });
    expect(accepted.tasks!.size).toBe(0);
    expect(accepted.output).toMatch(/"level":"error","msg":"started after checks at open found damaged data".*every task in it is lost/);
    expect((await startAndRead(emptied)).tasks!.size).toBe(0);
  }, 60_000);

  test("a schema version lower than the file's tables, or negative, exits 65 with the reason, not 1 with a stack trace", async () => {
    for (const version of [-1, 2, 0]) {
      const dir = damagedCopy(clean);
      const db = new Database(join(dir, DB_FILE));
      db.exec(`PRAGMA user_version = ${version}`);
      db.close();
      const r = await startAndRead(dir);
      expect({ version, exitCode: r.exitCode }).toEqual({ version, exitCode: 65 });
      expect(r.output).toContain(`schema version ${version} (PRAGMA user_version)`);
      expect(r.output).not.toContain("unexpected error");
      expect(r.output).not.toMatch(/\n\s+at /);
    }
  }, 60_000);
});

/**
 * Starts a broker on `dataDir` and waits until its checks after start ended (a start after a clean
 * stop) or it logged that it checked everything before serving; returns its output, with `during`
 * run while it serves. Stopped with SIGTERM.
 */
async function startAndWaitForChecks(dataDir: string, during: (conn: RawConn) => Promise<void> = async () => {}): Promise<string> {
  const broker = launchBroker({ dataDir });
  try {
    const conn = await RawConn.connect(await broker.listening());
    await during(conn);
    conn.close();
    for (let i = 0; i < 400 && !/"checks after start|"rows_and_indexes_checked":"before serving"/.test(broker.output()); i++) await Bun.sleep(50);
    broker.proc.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
    return broker.output();
  } finally {
    await reap(broker);
  }
}

describe("after a clean stop (checks before serving: WAL, identity, schema, page structure; rows and indexes right after)", () => {
  test("the broker serves first and says so; a byte written to tq.db in place since the stop brings every check back before serving: exit 65", async () => {
    const dir = damagedCopy(clean);
    // A copy is another file than the one the record names: everything is checked first.
    expect(await startAndWaitForChecks(dir)).toMatch(/"rows_and_indexes_checked":"before serving","because":"the database file was replaced \(another inode\)"/);
    const second = await startAndWaitForChecks(dir);
    expect(second).toContain('"rows_and_indexes_checked":"after serving"');
    // Memory from the snapshot the first start's stop wrote, not from every row.
    expect(second).toContain('"memory_from":"snapshot"');
    expect(second).toMatch(new RegExp(`"level":"info","msg":"checks after start found every row and index whole".*"rows_checked":${TASKS}`));

    flipByte(join(dir, DB_FILE), offsetOf(join(dir, DB_FILE), "task-123-payload") + 5);
    expectRefused(await startAndRead(dir), "1 task record failed their checksums", clean.ids[123]!);
  }, 60_000);

  test("damage the record cannot see (the disk changed under the file system: the test stamps the record again) is found right after serving, logged at level error, never served; the next start serves every other task unchanged", async () => {
    const dir = damagedCopy(clean);
    await startAndWaitForChecks(dir);
    const db = join(dir, DB_FILE);
    const victim = clean.ids[200]!;
    flipByte(db, offsetOf(db, "task-200-payload") + 5);
    await writeCleanStop(db, (JSON.parse(readFileSync(`${db}-id`, "utf8")) as { db_id: number }).db_id);

    const output = await startAndWaitForChecks(dir, async (conn) => {
      // Served before the checks reach it, a damaged row is still never served.
      expect(await conn.call({ kind: "QueryStatus", id: victim })).toMatchObject({ kind: "Error", code: 8, message: expect.stringContaining("quarantined") });
    });
    expect(output).toContain('"rows_and_indexes_checked":"after serving"');
    expect(output).toMatch(new RegExp(`"level":"error","msg":"checks after start found damaged data.*${victim}`));
    const after = await startAndRead(dir);
    expect(after.tasks!.size).toBe(TASKS - 1);
    for (const [id, t] of after.tasks!) expect(taskText(t)).toBe(taskText(clean.served.get(id)!));
  }, 60_000);

  test("damaged pages under a record that holds are still refused before serving: exit 65", async () => {
    const dir = damagedCopy(clean);
    await startAndWaitForChecks(dir);
    const db = join(dir, DB_FILE);
    const bytes = readFileSync(db);
    // Every page but the first two (the schema) and the last, scribbled over in the middle.
    for (let i = 4096 * 2; i < bytes.length - 4096; i += 4096) bytes.fill(0x5a, i + 100, i + 1200);
    writeFileSync(db, bytes);
    await writeCleanStop(db, (JSON.parse(readFileSync(`${db}-id`, "utf8")) as { db_id: number }).db_id);
    const r = await startAndRead(dir);
    expect(r.tasks).toBeNull();
    expect(r.exitCode).toBe(65);
    expect(r.output).toContain("is corrupt or not a tq-broker database");
    expect(r.output).not.toContain('"msg":"listening"');
  }, 60_000);
});

describe("damaged WAL (after a crash, checkpoints held off: every commit is in the WAL)", () => {
  test("the crash image itself starts, with every acknowledged write, every check before serving", async () => {
    const { frames } = walFrames(join(crashed.dataDir, WAL_FILE));
    expect(frames).toBeGreaterThan(10);
    const r = await startAndRead(damagedCopy(crashed));
    expect(r.tasks!.size).toBe(TASKS);
    expect(completedCount(r.tasks!)).toBe(COMPLETED);
    // kill -9 leaves no record of a clean stop.
    expect(r.output).toMatch(/"rows_and_indexes_checked":"before serving","because":"no record of a clean stop/);
  }, 30_000);

  test("damage to the WAL header or its first frame: exit 65 (SQLite would start with all tasks gone); accepted, the frames dropped are listed and the WAL kept aside", async () => {
    const header = damagedCopy(crashed);
    flipByte(join(header, WAL_FILE), 20);
    expectRefused(await startAndRead(header), "the WAL header is damaged (header checksum mismatch)");

    const first = damagedCopy(crashed);
    flipByte(join(first, WAL_FILE), walFrameDataOffset(join(first, WAL_FILE), 1));
    expectRefused(await startAndRead(first), /WAL frame 1 of \d+ fails its checksum, and \d+ valid commits follow it/);

    const accepted = await startAndRead(header, { args: ["--accept-data-loss"] });
    expect(accepted.output).toMatch(/"msg":"started after checks at open found damaged data".*WAL frames 1-\d+ dropped/);
    expect(readdirSync(header).some((f) => f.startsWith(`${WAL_FILE}.damaged-`))).toBe(true);
    process.stdout.write(`WAL header damage accepted: ${accepted.tasks!.size} of ${TASKS} tasks left, ${completedCount(accepted.tasks!)} completed\n`);
    // Accepted once: the next start finds nothing to refuse.
    expect((await startAndRead(header)).exitCode).toBe(0);
  }, 60_000);

  test("a flipped byte in the middle of the WAL: exit 65; accepted, the acknowledged completions it reverted are not silent", async () => {
    const dir = damagedCopy(crashed);
    const wal = join(dir, WAL_FILE);
    const { frames } = walFrames(wal);
    flipByte(wal, walFrameDataOffset(wal, Math.floor(frames / 2)));
    expectRefused(await startAndRead(dir), new RegExp(`WAL frame ${Math.floor(frames / 2)} of ${frames} fails its checksum`));

    const accepted = await startAndRead(dir, { args: ["--accept-data-loss"] });
    const completed = completedCount(accepted.tasks!);
    expect(completed).toBeLessThan(COMPLETED);
    expect(accepted.output).toMatch(/WAL frames \d+-\d+ dropped \(\d+ committed transactions? or more\)/);
    process.stdout.write(`WAL middle-frame damage accepted: ${completed} of ${COMPLETED} acknowledged completions kept, ${accepted.tasks!.size} tasks\n`);
    expect(existsSync(join(dir, WAL_FILE)) ? statSync(join(dir, WAL_FILE)).size : 0).toBe(0);
  }, 60_000);
});
