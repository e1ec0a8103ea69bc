// Headless Chromium for the dashboard tests: Debian's `chromium` driven by playwright-core. When the
// browser is missing, the test setup installs it with apt-get (about 30 s) so that `npm test` needs
// nothing by hand; when apt cannot reach its mirror, the tests are skipped with a loud message.

import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
/** Screenshots of each page, kept for people to look at (gitignored). */
export const ARTIFACTS = resolve(import.meta.dir, "../../test-artifacts");

/** Chromium's path, installing it if needed; null (after saying why, loudly) when it cannot be had. */
export function ensureChromium(): string | null {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  console.error("dashboard tests: /usr/bin/chromium is missing; installing it with apt-get (about 30 s)...");
  const apt = (args: string[]): boolean => Bun.spawnSync(["apt-get", ...args], { stdout: "ignore", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).success;
  if (!apt(["install", "-y", "-qq", "chromium"]) && !(apt(["update", "-qq"]) && apt(["install", "-y", "-qq", "chromium"]))) {
    console.error("\n*** dashboard tests SKIPPED: chromium could not be installed (apt-get failed: no mirror reachable, or not root). ***\n");
    return null;
  }
  return existsSync(CHROMIUM) ? CHROMIUM : null;
}

export async function launchChromium(path: string): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: path,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
