// Several broker URLs in one client (tq://a,b): the Client and the Worker use one broker and move
// to the next when it is gone — nothing listening, stopped, or answering ShuttingDown. Real
// brokers on real sockets (two SQLite brokers: the mechanics of moving, not shared data; the
// shared-PostgreSQL case is in postgres-failover.test.ts), and the real CLI for --url lists.

import { afterEach, describe, expect, test } from "bun:test";
import { Client } from "../../src/client/client.ts";
import { Worker } from "../../src/client/worker.ts";
import { ConnectionError } from "../../src/client/tq-error.ts";
import { startBroker, whenParked, type TestBroker } from "../helpers/broker.ts";
import { REPO_ROOT, runCli, spawnCli } from "../helpers/cli.ts";
import { join } from "node:path";
import { tmpdir } from "node:os";

const started: TestBroker[] = [];
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {});
  for (const broker of started.splice(0)) await broker.stop();
});

async function broker(): Promise<TestBroker> {
  const b = await startBroker();
  started.push(b);
  return b;
}

function client(url: string, extra: ConstructorParameters<typeof Client>[0] = {}): Client {
  const c = new Client({ url, env: {}, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...extra });
  closers.push(() => c.close());
  return c;
}

/** A loopback port nobody listens on (bound, then released). */
function deadPort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

describe("several broker URLs", () => {
  test("a broker with nothing listening is skipped: the request goes to the next one", async () => {
    const b = await broker();
    const c = client(`tq://127.0.0.1:${deadPort()},127.0.0.1:${b.port}`);
    const { id } = await c.submit("hop", { n: 1 });
    expect((await b.app.broker.stats()).tasks.pending).toBe(1);
    expect((await c.status(id)).status).toBe("pending");
  });

  test("with reconnect off (as the CLI), each broker of the list is tried once, then the error names them all", async () => {
    const b = await broker();
    const ok = client(`tq://127.0.0.1:${deadPort()},127.0.0.1:${b.port}`, { reconnect: false });
    await ok.ping();
    const [p1, p2] = [deadPort(), deadPort()];
    const none = client(`tq://127.0.0.1:${p1},127.0.0.1:${p2}`, { reconnect: false });
    const err = await none.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toContain(`cannot reach any of tq://127.0.0.1:${p1},tq://127.0.0.1:${p2}`);
  });

  test("a client on a broker that stops moves to the next broker for its following requests", async () => {
    const [a, b] = [await broker(), await broker()];
    const c = client(`tq://127.0.0.1:${a.port},tq://127.0.0.1:${b.port}`);
    await c.submit("first");
    expect((await a.app.broker.stats()).tasks.pending).toBe(1);
    // Once the client has seen the close: a submit (no idempotency key) written in the instant the
    // socket dies is "outcome unknown" by design, not resent.
    const gone = new Promise((resolve) => c.channel.once("disconnected", resolve));
    await a.stopKeepData();
    await gone;
    await c.submit("second");
    expect((await b.app.broker.stats()).tasks.pending).toBe(1);
  });

  test("a request the stopping broker answers ShuttingDown is sent again to the next broker (it was not carried out)", async () => {
    const [a, b] = [await broker(), await broker()];
    const c = client(`tq://127.0.0.1:${a.port},127.0.0.1:${b.port}`);
    const claim = c.request({ kind: "ClaimTask", queues: ["moved"], max: 1, waitMs: 20_000 }, { timeoutMs: 30_000 });
    await whenParked(a, 1);
    // Answered ShuttingDown at the stop; with one URL the caller would get ShuttingDownError.
    const stopping = a.stopKeepData();
    await whenParked(b, 1, 0, 10_000);
    await stopping;
    const other = client(`tq://127.0.0.1:${b.port}`);
    const { id } = await other.submit("moved.task", null, { queue: "moved" });
    const res = await claim;
    expect(res.kind).toBe("Claimed");
    expect((res as { tasks: Array<{ id: string }> }).tasks.map((t) => t.id)).toEqual([id]);
  });

  test("a worker whose broker stops re-registers and subscribes on the next broker and runs its tasks", async () => {
    const [a, b] = [await broker(), await broker()];
    const worker = new Worker({ url: `tq://127.0.0.1:${a.port},127.0.0.1:${b.port}`, env: {}, handleSignals: false, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    worker.on("error", () => {});
    worker.register("echo", async (task) => ({ echoed: task.payload }));
    closers.push(() => worker.stop({ timeoutMs: 1000 }));
    await worker.start();
    const onA = client(`tq://127.0.0.1:${a.port}`);
    const first = await onA.submit("echo", 1);
    expect(await onA.result(first.id, { wait: 10_000 })).toEqual({ echoed: 1 });
    await a.stopKeepData();
    const onB = client(`tq://127.0.0.1:${b.port}`);
    const second = await onB.submit("echo", 2);
    expect(await onB.result(second.id, { wait: 15_000 })).toEqual({ echoed: 2 });
    expect((await onB.workers()).map((w) => w.id)).toContain(worker.workerId);
  });

  test("the CLI takes a list in --url: a dead broker first, then a live one", async () => {
    const b = await broker();
    const out = await runCli(["submit", "cli.hop", "--url", `tq://127.0.0.1:${deadPort()},127.0.0.1:${b.port}`], { cwd: tmpdir() });
    expect(out.exitCode).toBe(0);
    expect((await b.app.broker.stats()).tasks.pending).toBe(1);
  });

  test("tq-broker worker with a list in --url says when it moves to the next broker, and keeps working there", async () => {
    const [a, b] = [await broker(), await broker()];
    const cli = spawnCli(["worker", "--handlers", join(REPO_ROOT, "examples/handlers.ts"), "--queues", "default", "--json", "--url", `tq://127.0.0.1:${a.port},127.0.0.1:${b.port}`], { cwd: tmpdir() });
    try {
      await cli.waitForStdout('"event":"started"');
      expect(cli.stdout()).toContain(`"broker":"tq://127.0.0.1:${a.port}"`);
      await a.stopKeepData();
      await cli.waitForStdout('"event":"connected"', 15_000);
      const moved = JSON.parse(cli.stdout().split("\n").find((l) => l.includes('"event":"connected"'))!) as { broker: string; from: string };
      expect(moved).toMatchObject({ broker: `tq://127.0.0.1:${b.port}`, from: `tq://127.0.0.1:${a.port}` });
      const onB = client(`tq://127.0.0.1:${b.port}`);
      const { id } = await onB.submit("email.send", { to: "ada@example.com", subject: "moved" });
      expect(await onB.result(id, { wait: 15_000 })).toMatchObject({ delivered: true });
      expect(await cli.stop("SIGTERM")).toBe(0);
    } finally {
      if (cli.proc.exitCode === null) cli.proc.kill("SIGKILL");
    }
  }, 30_000);

  test("the operator commands take a list in --api-url: an unreachable REST API first, then a live one", async () => {
    const b = await broker();
    await client(`tq://127.0.0.1:${b.port}`).submit("listed", null, { queue: "ops" });
    const out = await runCli(["queues", "list", "--json", "--api-url", `http://127.0.0.1:${deadPort()},http://127.0.0.1:${b.httpPort}`], { cwd: tmpdir() });
    expect(out.stderr).toBe("");
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain('"ops"');
    const [d1, d2] = [deadPort(), deadPort()];
    const none = await runCli(["queues", "list", "--api-url", `http://127.0.0.1:${d1},http://127.0.0.1:${d2}`], { cwd: tmpdir() });
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain(`cannot reach the REST API at http://127.0.0.1:${d1} (`);
    expect(none.stderr).toContain(`http://127.0.0.1:${d2} (`);
  });

  test("a bad entry in the list is a usage error naming it", async () => {
    const out = await runCli(["stats", "--url", "tq://127.0.0.1:1,,127.0.0.1:2"], { cwd: tmpdir() });
    expect(out.exitCode).toBe(64);
    expect(out.stderr).toContain("empty entry");
  });
});
