// The reliability suite for `bun test/chaos/run.ts`: every scenario of lib/scenarios.ts at the
// tier TQ_CHAOS_TIER names (long with TQ_CHAOS_TIER=long, else the short numbers).

import { defineChaosSuite } from "./lib/scenarios.ts";
import { TIER } from "./lib/tier.ts";

defineChaosSuite(TIER);
