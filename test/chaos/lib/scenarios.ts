// The chaos scenarios, once: each with the suite that defines its tests for either tier (the
// suite picks its own numbers per tier). test/e2e/chaos.test.ts runs them all at the short tier
// in `npm test`; test/chaos/chaos.test.ts at TQ_CHAOS_TIER (`bun test/chaos/run.ts`, long with
// TQ_CHAOS_TIER=long). Adding a scenario is one line here (and its row in docs/guarantees.md).

import { describe } from "bun:test";
import { defineClockTests } from "./clock-suite.ts";
import { defineClusterTests } from "./cluster-suite.ts";
import { defineConnectionTests } from "./connection-suite.ts";
import { defineFuzzTests } from "./fuzz-suite.ts";
import { defineGracefulTests } from "./graceful-suite.ts";
import { defineHostileTests } from "./hostile-suite.ts";
import { defineKillNineTests } from "./kill-nine-suite.ts";
import { defineStorageTests } from "./storage-suite.ts";
import type { ChaosTier } from "./tier.ts";
import { defineWorkerTests } from "./worker-suite.ts";

export interface ChaosScenario {
  /** As docs/guarantees.md's table names it; `bun test/chaos/run.ts -t <name>` runs it alone. */
  name: string;
  define(tier: ChaosTier): void;
}

/** In the order of docs/guarantees.md (scenarios 1-9). */
export const CHAOS_SCENARIOS: readonly ChaosScenario[] = [
  { name: "kill-nine", define: defineKillNineTests },
  { name: "codec-fuzz", define: defineFuzzTests },
  { name: "connections", define: defineConnectionTests },
  // The faults are the same in both tiers.
  { name: "storage-faults", define: () => defineStorageTests() },
  { name: "worker-faults", define: defineWorkerTests },
  { name: "clock-jumps", define: defineClockTests },
  { name: "graceful-stop", define: defineGracefulTests },
  { name: "hostile", define: defineHostileTests },
  { name: "cluster", define: defineClusterTests },
];

/** Every scenario's tests at `tier`, each under a describe of its name. */
export function defineChaosSuite(tier: ChaosTier): void {
  for (const scenario of CHAOS_SCENARIOS) describe(scenario.name, () => scenario.define(tier));
}
