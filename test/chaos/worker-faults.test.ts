// Chaos scenario 5 for `bun run test:chaos`: worker faults; TQ_CHAOS_TIER=long repeats them more.

import { defineWorkerTests } from "./lib/worker-suite.ts";
import { TIER } from "./lib/tier.ts";

defineWorkerTests(TIER);
