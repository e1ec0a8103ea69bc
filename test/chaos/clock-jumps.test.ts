// Chaos scenario 6 for `bun run test:chaos`: clock jumps; TQ_CHAOS_TIER=long walks 5,000 random steps.

import { defineClockTests } from "./lib/clock-suite.ts";
import { TIER } from "./lib/tier.ts";

defineClockTests(TIER);
