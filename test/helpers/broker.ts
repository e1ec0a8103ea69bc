// Starts a real broker in this process for a test: fresh temp data dir, loopback, port 0 for
// every listener, config overrides as dotted keys, optionally on a FakeClock (time then moves only
// when the test advances it). Stops it and removes the dir afterwards.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp, type App, type StartOptions } from "../../src/app.ts";
import type { Clock } from "../../src/clock.ts";
import type { FakeClock } from "./fake-clock.ts";
import { loadConfig, type Config } from "../../src/config/index.ts";
import { createLogger } from "../../src/log.ts";

export interface TestBroker {
  app: App;
  config: Config;
  dataDir: string;
  /** TCP protocol port. */
  port: number;
  httpPort: number;
  metricsPort: number;
  /** gRPC port; 0 when api.grpc_enabled is false. */
  grpcPort: number;
  stop(): Promise<void>;
  /** Stops without deleting the data dir, to start again on it. */
  stopKeepData(): Promise<void>;
}

function portOf(address: string | undefined): number {
  if (address === undefined) return 0;
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** What a test adds beyond config: startApp's options (a fake clock, a commit seam) and where log lines go. */
export interface TestBrokerExtras {
  start?: StartOptions;
  /** Every timer of the broker runs on this clock (see test/helpers/fake-clock.ts); default the system's. */
  clock?: Clock;
  /** Every log line, as JSON text, at debug level; default: printed at monitoring.log_level (TQ_TEST_LOG_LEVEL, else error). */
  logSink?: (line: string) => void;
}

export async function startBroker(overrides: Record<string, unknown> = {}, dataDir?: string, extras: TestBrokerExtras = {}): Promise<TestBroker> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "tq-test-"));
  const config = loadConfig({
    flags: {
      "broker.host": "127.0.0.1",
      "broker.port": 0,
      "api.rest_port": 0,
      "api.grpc_port": 0,
      "monitoring.prometheus_port": 0,
      "persistence.data_dir": dir,
      "monitoring.log_level": process.env.TQ_TEST_LOG_LEVEL ?? "error",
      ...overrides,
    },
  });
  const log = extras.logSink ? createLogger({ level: "debug", json: true, sink: extras.logSink }) : createLogger({ level: config.monitoring.log_level, json: true });
  const app = await startApp(config, log, { ...extras.start, ...(extras.clock === undefined ? {} : { clock: extras.clock }) });
  let stopped = false;
  const stopKeepData = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await app.stop("test finished");
  };
  return {
    app,
    config,
    dataDir: dir,
    port: portOf(app.addresses["broker.port"]),
    httpPort: portOf(app.addresses["api.rest_port"]),
    metricsPort: portOf(app.addresses["monitoring.prometheus_port"]),
    grpcPort: portOf(app.addresses["api.grpc_port"]),
    stopKeepData,
    async stop() {
      await stopKeepData();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until the broker holds `n` parked blocking claims (and `results` result waits): a request
 * sent is parked only once the broker has read it, so a test on a fake clock waits for that event
 * before it advances the clock. Polls; bounded by `timeoutMs` of real time.
 */
export async function whenParked(broker: TestBroker, n: number, results = 0, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const stats = await broker.app.broker.stats();
    if (stats.parkedClaims >= n && stats.resultWaiters >= results) return;
    if (performance.now() > deadline) throw new Error(`not parked within ${timeoutMs} ms: ${stats.parkedClaims} claims of ${n}, ${stats.resultWaiters} result waits of ${results}`);
    await Bun.sleep(2);
  }
}

/**
 * Moves `clock` until the broker's scheduler has ticked at or after `atMs` of clock time: each step
 * waits for the tick it causes (a tick finishes on real I/O), and the scheduler never sleeps longer
 * than a second of clock time, so a step of a second always reaches the next one.
 */
export async function tickedAt(broker: TestBroker, clock: FakeClock, atMs: number): Promise<void> {
  const lastTick = async (): Promise<number> => ((await broker.app.broker.stats()).background?.scheduler?.lastRunAtMs as number | null) ?? Number.NEGATIVE_INFINITY;
  if (atMs - clock.now() > 1000) {
    const seen = await lastTick();
    clock.advance(atMs - clock.now() - 1000);
    await until(async () => (await lastTick()) > seen);
  }
  // Bounded: a tick per step, each a second later, from at most a second before atMs.
  for (let step = 0; step < 3 && (await lastTick()) < atMs; step++) {
    const seen = await lastTick();
    clock.advance(1000);
    await until(async () => (await lastTick()) > seen);
  }
  if ((await lastTick()) < atMs) throw new Error(`the scheduler did not tick at ${atMs}`);
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await Bun.sleep(1);
  }
}
