// beanstalkd for the peer bench's tests: the binary, installed from the Debian package through the
// bench's own ensureBeanstalkd when missing (as root), or the reason it cannot be had, so that the
// caller skips loudly rather than failing on a machine without it.

import { ensureBeanstalkd, type Installed } from "../../bench/peers/beanstalkd-server.ts";

export type BeanstalkdForTests = Installed | { path: null; reason: string };

/** One attempt per test process: an install that failed for one file fails for the next. */
let attempt: Promise<BeanstalkdForTests> | null = null;

export function findBeanstalkd(): Promise<BeanstalkdForTests> {
  attempt ??= ensureBeanstalkd(() => {}).catch((err: unknown) => ({ path: null, reason: err instanceof Error ? err.message.slice(-300) : String(err) }));
  return attempt;
}

/** Prints the skip where the test run's output shows it. */
export function warnSkipped(what: string, found: BeanstalkdForTests): void {
  if (found.path === null) console.warn(`\n!!! SKIPPING ${what}: beanstalkd is not available (${found.reason}) !!!\n`);
}
