// The figures of one peer bench: the servers compared, and one run's figures as both sides
// report them (tq-broker's bench JSON, beanstalkd's runWorkload). Types and the table of servers only.

import type { WorkloadName } from "../../src/bench/bench-options.ts";
import type { LatencySummary } from "../../src/bench/stats.ts";
import type { Installed } from "./beanstalkd-server.ts";
import type { PeersOptions } from "./peers-options.ts";

export const TARGETS = ["tq-broker", "beanstalkd-binlog", "beanstalkd-nobinlog"] as const;
export type Target = (typeof TARGETS)[number];

/** One timed run of one workload on one server, as both sides report it. */
export interface PeerRun {
  tasks: number;
  tasksPerSec: number;
  latency: LatencySummary | null;
  /** User + system CPU seconds of the server process over the timed run (/proc/PID/stat). */
  serverCpuSecs: number | null;
  serverPeakRssMiB: number | null;
  agentsCpuSecs: number;
  /** W2/W3: every id put (submitted) was reserved once and deleted (completed) once; null for W1/W4. */
  exactlyOnce: boolean | null;
  errors: Record<string, number>;
  /** Untimed tasks the server and agents ran first. */
  warmedUp: number;
}

export interface WorkloadRuns {
  workload: WorkloadName;
  /** tq-broker's persistence.sync, as its bench reported it. */
  tqSync: string | null;
  runs: Record<Target, PeerRun[]>;
}

export interface PeersRun {
  beanstalkd: Installed;
  options: PeersOptions;
  workloads: WorkloadRuns[];
}
