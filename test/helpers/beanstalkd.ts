// beanstalkd for the peer bench's tests: the binary, installed from the Debian package through the
// bench's own ensureBeanstalkd when missing (as root), or the reason it cannot be had, so that the
// caller skips loudly rather than failing on a machine without it.

import { ensureBeanstalkd, type Installed } from "../../bench/peers/beanstalkd-server.ts";

export type BeanstalkdForTests = Installed | { path: null; reason: string };

export async function findBeanstalkd(): Promise<BeanstalkdForTests> {
  try {
    return await ensureBeanstalkd(() => {});
  } catch (err) {
    return { path: null, reason: err instanceof Error ? err.message.slice(-300) : String(err) };
  }
}

/** Prints the skip where the test run's output shows it. */
export function warnSkipped(what: string, found: BeanstalkdForTests): void {
  if (found.path === null) console.warn(`\n!!! SKIPPING ${what}: beanstalkd is not available (${found.reason}) !!!\n`);
}
