// Kills a child process that is submitting and completing tasks with SIGKILL at random moments,
// 20+ times, and checks after each restart that every acknowledged submit is there, no
// acknowledged completion is pending again, and nothing appears that was never submitted.

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import type { Task } from "../../../src/rules/task.ts";
import { list } from "../../helpers/store-ops.ts";

const KILLS = 22;
const CHILD = join(import.meta.dir, "../../helpers/crash-child.ts");

interface Acks {
  intended: number;
  submitted: Map<number, string>;
  completed: Set<string>;
}

/** Runs the child until it has acknowledged at least `minLines` ops, plus a random extra moment; then SIGKILL. */
async function runAndKill(path: string, first: number, acks: Acks, random: () => number): Promise<void> {
  const child = Bun.spawn([process.execPath, CHILD, path, String(first)], { stdout: "pipe", stderr: "pipe" });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let lines = 0;
  const killAfterLines = 20 + Math.floor(random() * 2000);
  let killed = false;
  for (let reads = 0; reads < 1_000_000; reads++) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const parts = buffered.split("\n");
    // Only whole lines count: a line cut by the kill was never fully reported.
    buffered = parts.pop() ?? "";
    for (const line of parts) {
      const [kind, a, b] = line.split(" ");
      if (kind === "I") acks.intended = Math.max(acks.intended, Number(a));
      else if (kind === "S") acks.submitted.set(Number(a), b!);
      else if (kind === "C") acks.completed.add(a!);
      lines++;
    }
    if (!killed && lines >= killAfterLines) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  await child.exited;
  if (!killed) throw new Error(`child exited on its own: ${await new Response(child.stderr).text()}`);
  expect(child.signalCode).toBe("SIGKILL");
}

test(`acknowledged work survives ${KILLS} SIGKILLs under load`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tq-crash-"));
  const path = join(dir, "tasks.db");
  let seed = 0x9e3779b9;
  const random = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const acks: Acks = { intended: -1, submitted: new Map(), completed: new Set() };
  try {
    for (let kill = 0; kill < KILLS; kill++) {
      await runAndKill(path, acks.intended + 1, acks, random);

      const store = openSqliteStore({ path });
      try {
        const all: Task[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 10_000; page++) {
          const res = await list(store, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
          all.push(...res.tasks);
          if (res.nextCursor === null) break;
          cursor = res.nextCursor;
        }
        const byId = new Map(all.map((t) => [t.id, t]));
        for (const [n, id] of acks.submitted) {
          const t = byId.get(id);
          expect(t?.idempotencyKey).toBe(`k${n}`);
        }
        for (const id of acks.completed) expect(byId.get(id)?.status).toBe("completed");
        for (const t of all) {
          // Nothing that was never about to be submitted; recovery left nothing leased.
          const n = Number(t.idempotencyKey!.slice(1));
          expect(n).toBeLessThanOrEqual(acks.intended);
          expect(["pending", "completed"]).toContain(t.status);
          const ackedId = acks.submitted.get(n);
          if (ackedId !== undefined) expect(t.id).toBe(ackedId);
        }
        expect((await store.pendingCount())).toBe(all.filter((t) => t.status === "pending").length);
      } finally {
        await store.close();
      }
    }
    console.log(`crash test: ${KILLS} kills, ${acks.intended + 1} submits attempted, ${acks.submitted.size} acknowledged, ${acks.completed.size} completions acknowledged`);
    expect(acks.submitted.size).toBeGreaterThan(KILLS * 20);
    expect(acks.completed.size).toBeGreaterThan(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
