// Which tier of the reliability suite runs: "short" (default, in `npm test`) or "long"
// (TQ_CHAOS_TIER=long); each scenario's suite takes it as a parameter and picks its numbers.

import { seededRandom } from "../../helpers/seeded-random.ts";

export type ChaosTier = "short" | "long";

export const TIER: ChaosTier = process.env.TQ_CHAOS_TIER === "long" ? "long" : "short";

/** A seed from TQ_CHAOS_SEED, else from the clock; scenarios print it so a failure can be replayed. */
export function chaosSeed(): number {
  const fromEnv = Number(process.env.TQ_CHAOS_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() % 2_147_483_647) + 1;
}

/** A small seeded PRNG (mulberry32): replayable runs without a dependency. */
export { seededRandom };
