// The shared client suite under Node.js: bundles src/index.ts for Node with `bun build
// --target=node`, imports the bundle, and runs client-suite.mjs against a real broker process.
// Run: node --test test/node/   (CI runs it after `npm test`)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import { BUN, REPO_ROOT, startBrokerProcess } from "./broker-process.mjs";
import { defineClientSuite } from "./client-suite.mjs";

const outDir = mkdtempSync(join(tmpdir(), "tq-node-bundle-"));
const bundle = join(outDir, "client.mjs");
execFileSync(BUN, ["build", join(REPO_ROOT, "src/index.ts"), "--target=node", "--outfile", bundle], { stdio: "pipe" });
const sdk = await import(pathToFileURL(bundle).href);

let broker;
before(async () => {
  broker = await startBrokerProcess();
});
after(async () => {
  await broker?.stop();
  rmSync(outDir, { recursive: true, force: true });
});

test("the bundle runs under Node.js, not Bun", () => {
  if (typeof globalThis.Bun !== "undefined") throw new Error("expected to run under node --test");
});

defineClientSuite({ test, sdk, url: () => broker.url });
