// The shared client suite (test/node/client-suite.mjs) under Bun, against src/index.ts and an
// in-process broker; test/node/client.test.mjs runs the same file under Node.js.
import { afterAll, beforeAll, test } from "bun:test";
import * as sdk from "../../src/index.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { defineClientSuite } from "../node/client-suite.mjs";

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker({});
});
afterAll(async () => {
  await broker.stop();
});

defineClientSuite({ test, sdk, url: () => `tq://127.0.0.1:${broker.port}` });
