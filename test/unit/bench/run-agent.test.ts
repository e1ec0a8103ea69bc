// runAgent, the body of a bench agent process: jobs arrive one JSON spec a line, each runs against
// a real broker over loopback and reports with its number in the process, so one process serves a
// warm-up and the timed run after it. Driven here through a fake stdin/stdout, against a broker on
// a FakeClock (a worker lane's blocking claim ends when the test advances it).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AgentLine, AgentReport, ProducerSpec, WorkerSpec } from "../../../src/bench/agent-protocol.ts";
import { runAgent } from "../../../src/bench/run-agent.ts";
import { startBroker, whenParked, type TestBroker } from "../../helpers/broker.ts";
import { FakeClock } from "../../helpers/fake-clock.ts";

const CLAIM_WAIT_MS = 30_000;
const clock = new FakeClock(Date.now());

/** A fake agent stdin/stdout: lines written by the agent, and a way to type at it. */
function fakeIo() {
  const lines: AgentLine[] = [];
  let listener: (line: string | null) => void = () => {};
  const waiters: (() => void)[] = [];
  return {
    lines,
    io: {
      write(line: string): Promise<void> {
        lines.push(JSON.parse(line) as AgentLine);
        for (const w of waiters.splice(0)) w();
        return Promise.resolve();
      },
      onInput(l: (line: string | null) => void): void {
        listener = l;
      },
    },
    type(line: string | null): void {
      listener(line);
    },
    /** Resolves once the agent has written a line matching `match`. */
    async waitFor(match: (line: AgentLine) => boolean): Promise<AgentLine> {
      for (;;) {
        const found = lines.find(match);
        if (found !== undefined) return found;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({}, undefined, { clock });
});

afterAll(async () => {
  await broker.stop();
});

function producer(queue: string, n: number): ProducerSpec {
  return { role: "producer", host: "127.0.0.1", port: broker.port, queue, n, payloadBytes: 10, batch: 20, window: 2, recordIds: true, deadlineMs: 30_000 };
}

function worker(queue: string, consumer: WorkerSpec["consumer"] = "raw"): WorkerSpec {
  return {
    role: "worker",
    consumer,
    host: "127.0.0.1",
    port: broker.port,
    queue,
    lanes: 2,
    prefetch: null,
    batch: 10,
    waitMs: CLAIM_WAIT_MS,
    preloaded: true,
    recordIds: true,
    recordLatency: false,
    deadlineMs: 30_000,
  };
}

const reports = (lines: AgentLine[]): AgentReport[] => lines.filter((l): l is AgentReport => l.event === "done");

describe("runAgent", () => {
  test("runs the jobs it is handed one after another in one process, numbering them", async () => {
    const agent = fakeIo();
    const finished = runAgent(agent.io);
    for (const [queue, n] of [["agent-a", 50], ["agent-b", 70]] as const) {
      const before = agent.lines.length;
      agent.type(JSON.stringify(producer(queue, n)));
      await agent.waitFor((l) => l.event === "ready" && agent.lines.indexOf(l) >= before);
      agent.type("go");
      await agent.waitFor((l) => l.event === "done" && l.role === "producer" && l.submitted === n);
    }
    agent.type(null);
    expect(await finished).toBe(true);

    const done = reports(agent.lines);
    expect(done.map((r) => [r.job, r.ids.length])).toEqual([
      [1, 50],
      [2, 70],
    ]);
    for (const r of done) expect(r.cpuSecs).toBeGreaterThanOrEqual(0);
    // Both jobs' tasks reached the broker, each on its own queue.
    expect((await broker.app.broker.stats()).tasks.pending).toBeGreaterThanOrEqual(120);
  });

  test("the end of stdin stops the job running, which still reports, and then the agent", async () => {
    const agent = fakeIo();
    const finished = runAgent(agent.io);
    agent.type(JSON.stringify(worker("agent-idle")));
    await agent.waitFor((l) => l.event === "ready");
    agent.type("go");
    // Both lanes wait in a blocking claim; the end of stdin stops them once it is answered.
    await whenParked(broker, 2);
    agent.type(null);
    clock.advance(CLAIM_WAIT_MS);
    expect(await finished).toBe(true);
    const [report] = reports(agent.lines);
    expect(report).toMatchObject({ event: "done", role: "worker", completed: 0, job: 1 });
  });

  test("the default worker job is the SDK Worker: it drains the queue through a subscription and reports every completed id", async () => {
    const agent = fakeIo();
    const finished = runAgent(agent.io);
    agent.type(JSON.stringify(producer("agent-sdk", 60)));
    await agent.waitFor((l) => l.event === "ready");
    agent.type("go");
    const produced = (await agent.waitFor((l) => l.event === "done" && l.role === "producer")) as AgentReport;
    agent.type(JSON.stringify(worker("agent-sdk", "sdk")));
    await agent.waitFor((l) => l.event === "ready" && agent.lines.filter((x) => x.event === "ready").length === 2);
    agent.type("go");
    await agent.waitFor((l) => l.event === "progress" && l.done === 60);
    // Draining, it held no blocking claim: the SDK Worker subscribes.
    expect((await broker.app.broker.stats()).parkedClaims).toBe(0);
    agent.type("stop");
    const report = (await agent.waitFor((l) => l.event === "done" && l.role === "worker")) as AgentReport;
    agent.type(null);
    expect(await finished).toBe(true);
    expect(report).toMatchObject({ completed: 60, job: 2, errors: {} });
    expect(new Set(report.ids)).toEqual(new Set(produced.ids));
  });

  test("a line that is not a job spec fails that job by name, and the agent takes no more", async () => {
    const agent = fakeIo();
    const finished = runAgent(agent.io);
    agent.type('{"role":"juggler"}');
    expect(await finished).toBe(false);
    expect(agent.lines).toEqual([{ event: "failed", message: 'bench-agent: not an agent spec: {"role":"juggler"}' }]);
  });
});
