// runAgent: the body of the hidden `bench-agent` subcommand. Reads control words from stdin,
// runs one producer or worker role and writes its report lines as JSON on stdout. The end of
// stdin means stop, so an agent never outlives the bench that started it.

import { CONTROL, type AgentLine, type AgentSpec } from "./agent-protocol.ts";
import { runPacedProducer, runProducer } from "./producer-agent.ts";
import { runWorker } from "./worker-agent.ts";

/** Progress lines at most this often: the orchestrator only needs them to know when to stop. */
const PROGRESS_EVERY_MS = 50;

export interface AgentIo {
  /** Writes one line; the promise settles once it is handed to the OS (a report can be megabytes). */
  write(line: string): Promise<void>;
  /** Calls back with each stdin line, and with null at its end. */
  onInput(listener: (line: string | null) => void): void;
}

export function parseAgentSpec(text: string): AgentSpec {
  const spec = JSON.parse(text) as AgentSpec;
  if (spec === null || typeof spec !== "object" || !["producer", "worker", "paced-producer"].includes(spec.role)) {
    throw new Error(`bench-agent: not an agent spec: ${text.slice(0, 200)}`);
  }
  return spec;
}

export async function runAgent(spec: AgentSpec, io: AgentIo): Promise<boolean> {
  const emit = (line: AgentLine): Promise<void> => io.write(JSON.stringify(line));
  let goNow = (): void => {};
  let stopNow = (): void => {};
  const go = new Promise<void>((resolve) => (goNow = resolve));
  const stop = new Promise<void>((resolve) => (stopNow = resolve));
  io.onInput((line) => {
    if (line === CONTROL.go) goNow();
    // The end of stdin means the bench is gone: stop too, so no agent outlives it.
    else if (line === CONTROL.stop || line === null) {
      goNow();
      stopNow();
    }
  });

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
    // Called by the role once connected: the orchestrator starts the clock only when all are.
    const ready = (): Promise<void> => {
      void emit({ event: "ready" });
      return go;
    };
    const report =
      spec.role === "producer"
        ? await runProducer(spec, ready, stop, onProgress)
        : spec.role === "paced-producer"
          ? await runPacedProducer(spec, ready, stop)
          : await runWorker(spec, ready, stop, onProgress);
    await emit(report);
    return true;
  } catch (err) {
    await emit({ event: "failed", message: err instanceof Error ? err.message : String(err) });
    return false;
  } finally {
    clearInterval(progress);
  }
}
