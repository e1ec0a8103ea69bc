// Test seam for the reliability suite (docs/guarantees.md): TQ_TEST_KILL_AT="<point>:<n>" makes the
// process SIGKILL itself the n-th time it reaches the named point, so a crash lands exactly between
// two steps that a kill from outside only hits by chance. Unset (always, outside the chaos tests)
// reaching a point costs one comparison. Owns nothing else.

/** Where the store can be told to die. */
export const KILL_POINTS = {
  /** A group's COMMIT returned; nothing of it is acknowledged yet (sync full: before its fsync). */
  afterCommit: "after-commit",
  /** A group's fsync returned; its callers are not yet told. */
  afterSync: "after-sync",
  /** At open: in_progress rows were put back to pending, memory is not loaded yet. */
  recovery: "recovery",
  /** A retention step deleted rows inside its group, or an incremental vacuum step ran. */
  compaction: "compaction",
} as const;
export type KillPoint = (typeof KILL_POINTS)[keyof typeof KILL_POINTS];

interface Armed {
  point: string;
  remaining: number;
}

function arm(spec: string | undefined): Armed | null {
  if (spec === undefined || spec === "") return null;
  const match = /^([a-z-]+):(\d+)$/.exec(spec);
  const point = match?.[1];
  if (match === null || point === undefined || !(Object.values(KILL_POINTS) as string[]).includes(point) || Number(match[2]) < 1) {
    throw new Error(`TQ_TEST_KILL_AT=${JSON.stringify(spec)}: expected <point>:<n> with n >= 1 and point one of ${Object.values(KILL_POINTS).join(", ")}`);
  }
  return { point, remaining: Number(match[2]) };
}

const armed = arm(process.env.TQ_TEST_KILL_AT);

export function killPoint(point: KillPoint): void {
  if (armed === null || armed.point !== point) return;
  if (--armed.remaining === 0) process.kill(process.pid, "SIGKILL");
}
