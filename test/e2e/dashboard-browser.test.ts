// The dashboard in a real headless Chromium against a real broker with tasks in every status: find a
// dead task, read its error, retry it and see it complete live; bulk-retry its siblings; a pause
// outlives a restart; a worker's running tasks appear and disappear; a phone-width page has no
// horizontal scroll; a producer key sees but cannot act. Screenshots land in test-artifacts/.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import type { Broker } from "../../src/broker/broker.ts";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { ARTIFACTS, ensureChromium, launchChromium } from "../helpers/chromium.ts";

const ADMIN = "dash-admin-key-0123456789abcdef";
const PRODUCER = "dash-producer-key-0123456789abc";
const KEYS = [
  { name: "ops", role: "admin", key: ADMIN },
  { name: "shop", role: "producer", key: PRODUCER },
];
const SMTP_ERROR = "SMTPError: 550 mailbox unavailable\n    at send (mailer.js:41:11)\n    at run (worker.js:12:5)";

const chromiumPath = ensureChromium();
let browser: Browser | null = null;
let broker: TestBroker;
let dataDir: string;

const json = (value: unknown): { payload: Uint8Array; payloadIsJson: true } => ({ payload: new TextEncoder().encode(JSON.stringify(value)), payloadIsJson: true });

async function seed(b: Broker): Promise<void> {
  const worker = (id: string, queues: string[]): void => void b.registerWorker({ id, hostname: "box-1", pid: 4242, queues, concurrency: 2, version: "1.0", labels: {} });
  worker("w-mail", ["mail"]);
  worker("w-misc", ["misc"]);
  // Dead: three siblings of one type, failing with the same error.
  await b.submit(Array.from({ length: 3 }, (_, i) => ({ type: "email.send", queue: "mail", ...json({ to: `user${i}@example.com` }), maxRetries: 0 })));
  for (const lease of await b.claim({ queues: ["mail"], workerId: "w-mail", max: 3, waitMs: 0 })) {
    await b.fail({ id: lease.task.id, token: lease.token }, { error: SMTP_ERROR, unrecoverable: false });
  }
  // Completed, retrying, running, pending, scheduled, cancelled.
  await b.submit([{ type: "report.build", queue: "misc", ...json({ n: 1 }) }]);
  const [done] = await b.claim({ queues: ["misc"], workerId: "w-misc", max: 1, waitMs: 0 });
  await b.complete({ id: done!.task.id, token: done!.token }, { result: new TextEncoder().encode('{"ok":true}'), resultIsJson: true });
  await b.submit([{ type: "report.build", queue: "misc", maxRetries: 5 }]);
  const [flaky] = await b.claim({ queues: ["misc"], workerId: "w-misc", max: 1, waitMs: 0 });
  await b.fail({ id: flaky!.task.id, token: flaky!.token }, { error: "TimeoutError: upstream", unrecoverable: false });
  await b.submit([{ type: "image.resize", queue: "misc", ...json({ w: 100 }) }]);
  await b.claim({ queues: ["misc"], workerId: "w-misc", max: 1, waitMs: 0 });
  await b.submit([{ type: "idle", queue: "slow" }, { type: "later", queue: "slow", delayMs: 3_600_000 }]);
  const [gone] = await b.submit([{ type: "unwanted", queue: "slow" }]);
  await b.cancel(gone!.id);
}

beforeAll(async () => {
  if (chromiumPath === null) return;
  broker = await startBroker({ "auth.enabled": true, "auth.api_keys": KEYS });
  dataDir = broker.dataDir;
  await seed(broker.app.broker);
  browser = await launchChromium(chromiumPath);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await broker?.stop();
});

const url = (): string => `http://127.0.0.1:${broker.httpPort}/`;

async function open(path: string, key = ADMIN, width = 1280): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  (page as Page & { errors?: string[] }).errors = errors;
  await page.goto(url() + path);
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#key", key);
  await page.press("#key", "Enter");
  await page.waitForSelector("#live.on");
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function noHorizontalScroll(page: Page): Promise<void> {
  const { scroll, client } = (await page.evaluate("({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })")) as { scroll: number; client: number };
  expect(scroll).toBeLessThanOrEqual(client);
}

const maybe = chromiumPath === null ? test.skip : test;

maybe("from the dead count to the error, a retry that completes live, and a bulk retry of the siblings", async () => {
  const page = await open("#/");
  await page.waitForSelector('[data-count="dead"] b:text("3")');
  await shot(page, "overview");
  await page.click('[data-count="dead"]');
  await page.waitForSelector("table.stack tbody tr");
  expect(await page.locator("table.stack tbody tr").count()).toBe(3);
  await shot(page, "tasks-dead");
  await page.locator("table.stack tbody tr a[data-task]").first().click();
  await page.waitForSelector("#last-error");
  expect(await page.textContent("#last-error")).toBe(SMTP_ERROR);
  expect(await page.textContent("#payload-view")).toContain('"to": "user');
  await shot(page, "task-dead");
  const id = page.url().split("#/task/")[1]!;
  // Retry it; a worker takes it and completes it; the open page shows it without a reload.
  await page.click('[data-action="retry"]');
  const b = broker.app.broker;
  const [lease] = await b.claim({ queues: ["mail"], workerId: "w-mail", max: 1, waitMs: 5000 });
  expect(lease!.task.id).toBe(id);
  await b.complete({ id, token: lease!.token }, { result: null, resultIsJson: false });
  await page.waitForSelector("h2 .status.completed", { timeout: 10_000 });
  await shot(page, "task-completed");
  // The two siblings (same queue and type, still dead): one link away, retried together after a
  // confirmation with the count.
  await page.click("#siblings");
  await page.waitForSelector('[data-bulk="retry"]');
  expect(page.url()).toEndWith("#/tasks?status=dead&queue=mail&type=email.send");
  expect(await page.locator("table.stack tbody tr").count()).toBe(2);
  await shot(page, "tasks-siblings");
  await page.click('[data-bulk="retry"]');
  await page.waitForSelector("dialog[open]");
  expect(await page.textContent("#confirm-ok")).toBe("retry 2");
  await shot(page, "bulk-confirm");
  await page.click("#confirm-ok");
  await page.waitForSelector("p.empty:text('No task matches.')");
  expect((await b.list({ status: "dead", limit: 10 })).tasks).toEqual([]);
  expect((await b.list({ status: "pending", queue: "mail", limit: 10 })).tasks).toHaveLength(2);
  expect((page as Page & { errors?: string[] }).errors).toEqual([]);
  await page.context().close();
}, 60_000);

maybe("why a waiting task is not running: no worker serves its queue, and what is ahead of it", async () => {
  const b = broker.app.broker;
  const [ahead, mine] = await b.submit([{ type: "x", queue: "orphans", priority: 200 }, { type: "x", queue: "orphans", priority: 50 }]);
  const page = await open(`#/task/${mine!.id}`);
  await page.waitForSelector("#why");
  expect(await page.locator('#why [data-code="no_worker"]').count()).toBe(1);
  expect(await page.textContent('#why [data-code="behind"]')).toContain("1 of higher priority");
  await shot(page, "task-waiting");
  expect(ahead).toBeDefined();
  await page.context().close();
}, 30_000);

maybe("a worker's running tasks appear and disappear live", async () => {
  const b = broker.app.broker;
  const page = await open("#/workers");
  await page.waitForSelector('[data-worker="w-mail"]');
  const [task] = await b.submit([{ type: "email.send", queue: "mail-live" }]);
  b.registerWorker({ id: "w-live", hostname: "box-2", pid: 7, queues: ["mail-live"], concurrency: 1, version: "1", labels: {} });
  const [lease] = await b.claim({ queues: ["mail-live"], workerId: "w-live", max: 1, waitMs: 0 });
  await page.waitForSelector(`[data-worker="w-live"] a[data-task="${task!.id}"]`, { timeout: 10_000 });
  await shot(page, "workers");
  await b.complete({ id: task!.id, token: lease!.token }, { result: null, resultIsJson: false });
  await page.waitForSelector(`[data-worker="w-live"] a[data-task="${task!.id}"]`, { state: "detached", timeout: 10_000 });
  await page.context().close();
}, 30_000);

maybe("a 390 px wide screen has no horizontal scroll on any page", async () => {
  const dead = await broker.app.broker.submit([{ type: "a.very.long.task.type.name.that.might.overflow.a.phone.screen", queue: "phone-queue-with-a-long-name" }]);
  for (const [name, path] of [["overview", "#/"], ["tasks", "#/tasks?status=pending"], ["task", `#/task/${dead[0]!.id}`], ["queues", "#/queues"], ["workers", "#/workers"]] as const) {
    const page = await open(path, ADMIN, 390);
    await page.waitForSelector("main h2");
    await page.waitForTimeout(300);
    await noHorizontalScroll(page);
    await shot(page, `phone-${name}`);
    await page.context().close();
  }
}, 60_000);

maybe("a producer key sees every page but gets no action buttons, and the API refuses it", async () => {
  const [task] = await broker.app.broker.submit([{ type: "cancel.me", queue: "slow" }]);
  await broker.app.broker.cancel(task!.id);
  const page = await open(`#/task/${task!.id}`, PRODUCER);
  await page.waitForSelector("h2 .status.cancelled");
  expect(await page.locator('[data-action="retry"]').count()).toBe(0);
  expect(await page.locator('[data-action="delete"]').count()).toBe(0);
  const status = await page.evaluate(async ([id, key]) => (await fetch(`/api/v1/tasks/${id}/retry`, { method: "POST", headers: { authorization: `Bearer ${key}` } })).status, [task!.id, PRODUCER]);
  expect(status).toBe(403);
  await page.goto(url() + "#/queues");
  await page.waitForSelector("main h2:text('Queues')");
  expect(await page.locator("[data-queue-action]").count()).toBe(0);
  await page.context().close();
}, 30_000);

maybe("a queue paused from the dashboard is still paused after the broker restarts", async () => {
  let page = await open("#/queues");
  await page.click('[data-queue-action="pause:slow"]');
  await page.waitForSelector('[data-queue-action="resume:slow"]');
  await page.context().close();
  await broker.stopKeepData();
  broker = await startBroker({ "auth.enabled": true, "auth.api_keys": KEYS }, dataDir);
  page = await open("#/queues");
  await page.waitForSelector('[data-queue-action="resume:slow"]');
  await shot(page, "queues-paused-after-restart");
  expect(broker.app.broker.isPaused("slow")).toBe(true);
  await page.context().close();
}, 60_000);
