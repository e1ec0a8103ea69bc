// runAgent: the body of the hidden `bench-agent` subcommand. Reads jobs (one JSON spec a line)
// and control words from stdin, runs each job's producer or worker role in turn and writes its
// report lines as JSON on stdout. The end of stdin means stop, so an agent never outlives the
// bench that started it. One process runs many jobs, so a warm-up leaves its JIT warm.

import { CONTROL, ownCpuSecs, type AgentLine, type AgentReport, type AgentSpec, type JobResult, type PacedProducerSpec, type ProducerReport, type ProducerSpec, type WorkerReport, type WorkerSpec } from "./agent-protocol.ts";
import { runPacedProducer, runProducer } from "./producer-agent.ts";
import { runSdkWorker } from "./sdk-worker-agent.ts";
import { runWorker } from "./worker-agent.ts";
import { runGrpcProducer, runGrpcWorker } from "./grpc-agents.ts";

/** Progress lines at most this often: the orchestrator only needs them to know when to stop. */
const PROGRESS_EVERY_MS = 50;

export interface AgentIo {
  /** Writes one line; the promise settles once it is handed to the OS (a report can be megabytes). */
  write(line: string): Promise<void>;
  /** Calls back with each stdin line, and with null at its end. */
  onInput(listener: (line: string | null) => void): void;
}

function parseAgentSpec(text: string): AgentSpec {
  let spec: AgentSpec | null = null;
  try {
    spec = JSON.parse(text) as AgentSpec;
  } catch {
    // Named below with the text.
  }
  if (spec === null || typeof spec !== "object" || !["producer", "worker", "paced-producer"].includes(spec.role)) {
    throw new Error(`bench-agent: not an agent spec: ${text.slice(0, 200)}`);
  }
  return spec;
}

/** One job's go and stop words, as promises the role awaits. */
interface JobSignals {
  go: Promise<void>;
  stop: Promise<void>;
  goNow(): void;
  stopNow(): void;
}

function jobSignals(): JobSignals {
  let goNow = (): void => {};
  let stopNow = (): void => {};
  const go = new Promise<void>((resolve) => (goNow = resolve));
  const stop = new Promise<void>((resolve) => (stopNow = resolve));
  return { go, stop, goNow, stopNow };
}

/**
 * What carries out each role's job. The bench's own agents speak the broker's protocol; the peer
 * bench (bench/peers/) runs the same jobs against another server with its own.
 */
export interface AgentRoles {
  producer(spec: ProducerSpec, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<ProducerReport>>;
  "paced-producer"(spec: PacedProducerSpec, ready: () => Promise<void>, stop: Promise<void>): Promise<JobResult<ProducerReport>>;
  worker(spec: WorkerSpec, ready: () => Promise<void>, stop: Promise<void>, onProgress: (done: number) => void): Promise<JobResult<WorkerReport>>;
}

export const BROKER_ROLES: AgentRoles = {
  producer: (spec, ready, stop, onProgress) =>
    spec.grpcPort !== undefined ? runGrpcProducer({ ...spec, grpcPort: spec.grpcPort }, ready, stop, onProgress) : runProducer(spec, ready, stop, onProgress),
  "paced-producer": runPacedProducer,
  worker: (spec, ready, stop, onProgress) =>
    spec.grpcPort !== undefined
      ? runGrpcWorker({ ...spec, grpcPort: spec.grpcPort }, ready, stop, onProgress)
      : spec.consumer === "sdk"
        ? runSdkWorker(spec, ready, stop, onProgress)
        : runWorker(spec, ready, stop, onProgress),
};

/** Runs jobs until stdin ends; false once a job failed (the agent then takes no more). */
export async function runAgent(io: AgentIo, roles: AgentRoles = BROKER_ROLES): Promise<boolean> {
  const emit = (line: AgentLine): Promise<void> => io.write(JSON.stringify(line));
  const queued: string[] = [];
  let ended = false;
  let wake = (): void => {};
  let current: JobSignals | null = null;
  io.onInput((line) => {
    if (line === null) {
      // The bench is gone or done: the job running stops too.
      ended = true;
      current?.goNow();
      current?.stopNow();
    } else if (line === CONTROL.go) current?.goNow();
    else if (line === CONTROL.stop) {
      current?.goNow();
      current?.stopNow();
    } else if (line !== "") queued.push(line);
    wake();
  });

  for (let job = 1; ; job++) {
    while (queued.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
    const text = queued.shift();
    if (text === undefined) return true;
    const signals = jobSignals();
    current = signals;
    if (ended) signals.stopNow();
    const ok = await runJob(text, job, signals, emit, roles);
    current = null;
    if (!ok) return false;
  }
}

async function runJob(text: string, job: number, signals: JobSignals, emit: (line: AgentLine) => Promise<void>, roles: AgentRoles): Promise<boolean> {
  const cpuAtStartSecs = ownCpuSecs();
  let done = 0;
  let shown = -1;
  const progress = setInterval(() => {
    if (done === shown) return;
    shown = done;
    void emit({ event: "progress", done });
  }, PROGRESS_EVERY_MS);
  const onProgress = (n: number): void => {
    done = n;
  };
  try {
    const spec = parseAgentSpec(text);
    // Called by the role once connected: the orchestrator starts the clock only when all are.
    const ready = (): Promise<void> => {
      void emit({ event: "ready" });
      return signals.go;
    };
    const result =
      spec.role === "producer"
        ? await roles.producer(spec, ready, signals.stop, onProgress)
        : spec.role === "paced-producer"
          ? await roles["paced-producer"](spec, ready, signals.stop)
          : await roles.worker(spec, ready, signals.stop, onProgress);
    const report: AgentReport = { ...result, job, cpuSecs: ownCpuSecs() - cpuAtStartSecs };
    await emit(report);
    return true;
  } catch (err) {
    await emit({ event: "failed", message: err instanceof Error ? err.message : String(err) });
    return false;
  } finally {
    clearInterval(progress);
  }
}
