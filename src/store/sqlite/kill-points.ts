// Test seams for the reliability suite (docs/guarantees.md): TQ_TEST_KILL_AT="<point>:<n>" makes the
// process SIGKILL itself the n-th time it reaches the named point, so a crash lands exactly between
// two steps that a kill from outside only hits by chance; TQ_TEST_FAIL_AT="<fault>:<n>" makes the
// n-th named storage call fail as a broken disk would. Unset (always, outside the tests) reaching a
// point costs one comparison. Owns nothing else.

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

/** Storage calls the store can be told to fail. */
export const FAULT_POINTS = {
  /** The fdatasync of the WAL (sync full) reports EIO, as a disk that lost the write would. */
  walFsync: "wal-fsync",
} as const;
export type FaultPoint = (typeof FAULT_POINTS)[keyof typeof FAULT_POINTS];

function arm(variable: string, points: Record<string, string>): Armed | null {
  const spec = process.env[variable];
  if (spec === undefined || spec === "") return null;
  const match = /^([a-z-]+):(\d+)$/.exec(spec);
  const point = match?.[1];
  if (match === null || point === undefined || !Object.values(points).includes(point) || Number(match[2]) < 1) {
    throw new Error(`${variable}=${JSON.stringify(spec)}: expected <point>:<n> with n >= 1 and point one of ${Object.values(points).join(", ")}`);
  }
  return { point, remaining: Number(match[2]) };
}

const armed = arm("TQ_TEST_KILL_AT", KILL_POINTS);
const armedFault = arm("TQ_TEST_FAIL_AT", FAULT_POINTS);

export function killPoint(point: KillPoint): void {
  if (armed === null || armed.point !== point) return;
  if (--armed.remaining === 0) process.kill(process.pid, "SIGKILL");
}

/** True when the call at `point` must fail now (the n-th time it is reached). */
export function faultPoint(point: FaultPoint): boolean {
  if (armedFault === null || armedFault.point !== point) return false;
  return --armedFault.remaining === 0;
}
