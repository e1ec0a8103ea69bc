// Chaos scenario 2 for `bun run test:chaos`: codec fuzzing with a canary. Long tier (TQ_CHAOS_TIER=long):
// 10,000,000 frames, bounded by TQ_CHAOS_FUZZ_BUDGET_SECS (default 20 min).

import { defineFuzzTests } from "./lib/fuzz-suite.ts";
import { TIER } from "./lib/tier.ts";

defineFuzzTests(TIER);
