// The dashboard in headless Chromium for what an operator does after the first look: from a dead
// task to all its siblings (queue and type kept across status tabs), the same by keyboard, one
// search box for ids, idempotency keys and types, a search past a window of other rows, live
// redraws that keep focus and selection, a purge with its count, a refused key said so, a key that
// may not read told once, and a real SDK worker (the Subscribe path, in its own process) whose
// running task, Quiet button and death show on the workers page. Screenshots in test-artifacts/.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import type { Browser, Page } from "playwright-core";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { ARTIFACTS, ensureChromium, launchChromium } from "../helpers/chromium.ts";

const ADMIN = "ops-admin-key-0123456789abcdef";
const WORKER = "ops-worker-key-0123456789abcdef";
const KEYS = [
  { name: "ops", role: "admin", key: ADMIN },
  { name: "wk", role: "worker", key: WORKER },
];

const chromiumPath = ensureChromium();
let browser: Browser | null = null;
let broker: TestBroker;
const children: Subprocess[] = [];

beforeAll(async () => {
  if (chromiumPath === null) return;
  broker = await startBroker({ "auth.enabled": true, "auth.api_keys": KEYS, "broker.disconnect_grace_secs": 0 });
  browser = await launchChromium(chromiumPath);
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await browser?.close();
  await broker?.stop();
});

const url = (): string => `http://127.0.0.1:${broker.httpPort}/`;

async function open(path: string, key = ADMIN): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(url() + path);
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#key", key);
  await page.press("#key", "Enter");
  return page;
}

const maybe = chromiumPath === null ? test.skip : test;

maybe("a dead task's page leads to its siblings of the same type; status tabs keep the queue and type", async () => {
  const b = broker.app.broker;
  b.registerWorker({ id: "w-sib", hostname: "box", pid: 1, queues: ["sib"], concurrency: 4, version: "1", labels: {} });
  await b.submit([...Array.from({ length: 3 }, () => ({ type: "email.send", queue: "sib", maxRetries: 0 })), { type: "email.other", queue: "sib", maxRetries: 0 }]);
  for (const lease of await b.claim({ queues: ["sib"], workerId: "w-sib", max: 4, waitMs: 0 })) {
    await b.fail({ id: lease.task.id, token: lease.token }, { error: `${lease.task.type} failed`, unrecoverable: false });
  }
  const [one] = (await b.list({ status: "dead", queue: "sib", type: "email.send", limit: 1 })).tasks;
  const page = await open(`#/task/${one!.id}`);
  await page.waitForSelector("#siblings");
  expect(await page.textContent("#siblings")).toBe("All dead email.send tasks of sib");
  await page.click("#siblings");
  await page.waitForSelector('[data-bulk="retry"]');
  expect(await page.locator("table.stack tbody tr").count()).toBe(3);
  // Under a type filter the tabs carry no count (the broker counts by queue): none is wrong.
  expect(await page.textContent('nav.tabs a[aria-current="true"]')).toBe("dead");
  await page.click('nav.tabs a:text("completed")');
  await page.waitForSelector("p.empty");
  await page.click('nav.tabs a:text("dead")');
  await page.waitForSelector("table.stack tbody tr");
  expect(page.url()).toContain("type=email.send");
  expect(await page.locator("table.stack tbody tr").count()).toBe(3);
  await page.click('[data-bulk="retry"]');
  await page.waitForSelector("dialog[open]");
  expect(await page.textContent("#confirm-ok")).toBe("retry 3");
  await page.click("#confirm-ok");
  await page.waitForSelector("p.empty:text('No task matches.')");
  expect((await b.list({ status: "dead", queue: "sib", limit: 10 })).tasks.map((t) => t.type)).toEqual(["email.other"]);
  await page.context().close();
}, 60_000);

/** Presses Tab until the focused element matches `selector` (at most `max` presses). */
async function tabTo(page: Page, selector: string, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

maybe("by keyboard alone: the dead count, a dead task, its error, Esc out of a confirmation, a retry", async () => {
  const b = broker.app.broker;
  b.registerWorker({ id: "w-kbd", hostname: "box", pid: 1, queues: ["kbd"], concurrency: 1, version: "1", labels: {} });
  await b.submit([{ type: "kbd.job", queue: "kbd", maxRetries: 0 }]);
  const [lease] = await b.claim({ queues: ["kbd"], workerId: "w-kbd", max: 1, waitMs: 0 });
  await b.fail({ id: lease!.task.id, token: lease!.token }, { error: "KbdError: no mouse", unrecoverable: false });
  const page = await open("#/tasks?queue=kbd");
  await page.waitForSelector('nav.tabs a:text("dead")');
  // Under a queue filter the tabs count that queue's tasks (the broker holds another dead one elsewhere).
  expect(await b.count({ status: "dead" })).toBeGreaterThan(1);
  await page.waitForSelector('nav.tabs a[href*="status=dead"]:text("dead (1)")');
  await tabTo(page, 'nav.tabs a[href*="status=dead"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector(`a[data-task="${lease!.task.id}"]`);
  await tabTo(page, `a[data-task="${lease!.task.id}"]`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#last-error");
  expect(await page.textContent("#last-error")).toBe("KbdError: no mouse");
  // A destructive action asks; Esc answers no and leaves the task as it was.
  await tabTo(page, '[data-action="delete"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector("dialog[open]");
  expect(await page.evaluate("document.activeElement.closest('dialog') !== null")).toBe(true);
  await page.keyboard.press("Escape");
  await page.waitForSelector("dialog[open]", { state: "detached" });
  expect((await b.get(lease!.task.id)).status).toBe("dead");
  await tabTo(page, '[data-action="retry"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector("h2 .status.pending");
  expect((await b.get(lease!.task.id)).status).toBe("pending");
  await page.context().close();
}, 60_000);

maybe("live redraws keep the keyboard focus where it was, and leave a text selection alone", async () => {
  const b = broker.app.broker;
  b.registerWorker({ id: "w-focus", hostname: "box", pid: 1, queues: ["focus"], concurrency: 1, version: "1", labels: {} });
  await b.submit([{ type: "f", queue: "focus", maxRetries: 0 }, { type: "f", queue: "focus-waits" }]);
  const [lease] = await b.claim({ queues: ["focus"], workerId: "w-focus", max: 1, waitMs: 0 });
  await b.fail({ id: lease!.task.id, token: lease!.token }, { error: "FocusError: keep me selectable", unrecoverable: false });
  // A ready task's age moves every second: the overview changes, and every page redraws.
  const page = await open("#/workers");
  const quiet = '[data-worker-action="quiet:w-focus"]';
  await page.waitForSelector(quiet);
  await tabTo(page, quiet);
  const redraws = await page.evaluate(`new Promise((resolve) => { let n = 0; new MutationObserver(() => n++).observe(document.querySelector("main"), { childList: true }); setTimeout(() => resolve(n), 3000); })`);
  expect(redraws).toBeGreaterThan(0);
  expect(await page.evaluate(`document.activeElement.matches(${JSON.stringify(quiet)})`)).toBe(true);
  await page.goto(url() + `#/task/${lease!.task.id}`);
  await page.waitForSelector("#last-error");
  await page.evaluate(`(() => { const r = document.createRange(); r.selectNodeContents(document.getElementById("last-error")); const s = getSelection(); s.removeAllRanges(); s.addRange(r); })()`);
  await page.waitForTimeout(3000);
  expect(await page.evaluate("getSelection().toString()")).toBe("FocusError: keep me selectable");
  await page.context().close();
}, 60_000);

maybe("a live redraw that was fetching when typing began keeps the typed text", async () => {
  const b = broker.app.broker;
  const page = await open("#/tasks");
  await page.waitForSelector("#search");
  // The next list read (a live redraw's) is held back, so that typing begins while it fetches.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(/\/api\/v1\/tasks\?/, async (r) => {
    await held;
    await r.continue();
  });
  const fetching = page.waitForRequest(/\/api\/v1\/tasks\?/);
  await b.submit([{ type: "typing", queue: "typing" }]); // the overview changes: the list redraws
  await fetching;
  await page.fill("#search", "invoice.ren");
  const redrawn = page.evaluate(`new Promise((resolve) => new MutationObserver((_, o) => { o.disconnect(); resolve(true); }).observe(document.querySelector("main"), { childList: true }))`);
  release();
  await redrawn;
  expect(await page.inputValue("#search")).toBe("invoice.ren");
  expect(await page.evaluate(`document.activeElement.id`)).toBe("search");
  await page.unroute(/\/api\/v1\/tasks\?/);
  await page.context().close();
}, 30_000);

maybe("one search box finds a task by id, by idempotency key, or the tasks of a type", async () => {
  const b = broker.app.broker;
  const [keyed, other] = await b.submit([
    { type: "invoice.render", queue: "search", idempotencyKey: "order-7731" },
    { type: "invoice.render", queue: "search" },
  ]);
  const page = await open("#/tasks");
  const search = async (text: string): Promise<void> => {
    await page.goto(url() + "#/tasks");
    await page.waitForSelector("#search");
    await page.fill("#search", text);
    await page.press("#search", "Enter");
  };
  await search(other!.id.toUpperCase());
  await page.waitForSelector("#last-error, #why");
  expect(page.url()).toEndWith(`#/task/${other!.id}`);
  // The list before the search is every task: wait for the search's own URL, then for its rows.
  const rows = async (n: number): Promise<number> => {
    for (let i = 0; i < 100 && (await page.locator("table.stack tbody tr").count()) !== n; i++) await page.waitForTimeout(100);
    return page.locator("table.stack tbody tr").count();
  };
  await search("order-7731");
  await page.waitForURL(/#\/tasks\?key=order-7731/);
  expect(await rows(1)).toBe(1);
  expect(await page.locator(`a[data-task="${keyed!.id}"]`).count()).toBe(1);
  await search("invoice.render");
  await page.waitForURL(/#\/tasks\?type=invoice\.render/);
  expect(await rows(2)).toBe(2);
  await page.context().close();
}, 30_000);

maybe("a search that reads past a page of non-matching rows says so and offers the next page", async () => {
  const b = broker.app.broker;
  // More than one list window (5,000 rows) of other tasks before the one searched for.
  for (let i = 0; i < 6; i++) await b.submit(Array.from({ length: 1000 }, () => ({ type: "hay", queue: "haystack" })));
  const [needle] = await b.submit([{ type: "needle", queue: "haystack" }]);
  const page = await open("#/tasks?type=needle&order=oldest");
  await page.waitForSelector("#next-page");
  expect(await page.textContent("p.empty")).toBe("No match in this part of the table; Next page reads on.");
  // The next window (rows 5,001-10,000 of the table) holds it.
  await page.click("#next-page");
  await page.waitForSelector(`a[data-task="${needle!.id}"]`);
  expect(await page.locator(`a[data-task="${needle!.id}"]`).count()).toBe(1);
  await page.context().close();
}, 60_000);

maybe("a refused key is said so at the key form, and forgotten", async () => {
  const page = await open("#/", "not-a-key-of-this-broker-at-all");
  await page.waitForSelector("#login-error:not([hidden])");
  expect(await page.textContent("#login-error")).toBe("That key was refused: Unauthorized: the API key is not valid.");
  expect(await page.evaluate("sessionStorage.getItem('tq-api-key')")).toBeNull();
  await page.fill("#key", ADMIN);
  await page.press("#key", "Enter");
  await page.waitForSelector("#live.on");
  expect(await page.isHidden("#login")).toBe(true);
  // The hour charts say what their x axis spans.
  await page.waitForSelector(".chart .axis");
  expect(await page.locator(".chart .axis").first().innerText()).toMatch(/^60 min ago\s+now$/);
  await page.context().close();
}, 30_000);

maybe("a key whose role may not read is told so once, and the page stops asking", async () => {
  const page = await open("#/", WORKER);
  await page.waitForSelector("#banner:not([hidden])");
  expect(await page.textContent("#banner")).toContain("Forbidden");
  await page.waitForSelector("#live:text('no access')");
  let streams = 0;
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/events")) streams++;
  });
  await page.waitForTimeout(2500);
  expect(streams).toBe(0);
  await page.context().close();
}, 30_000);

/** A real SDK worker (the Subscribe path, its default) in its own process: its handler runs until aborted. */
function spawnWorker(id: string, queue: string): Subprocess {
  const dir = mkdtempSync(join(tmpdir(), "tq-dash-worker-"));
  const script = join(dir, "worker.ts");
  writeFileSync(
    script,
    `import { Worker } from ${JSON.stringify(resolve(import.meta.dir, "../../src/client/worker.ts"))};
const worker = new Worker({ url: "tq://127.0.0.1:${broker.port}", apiKey: ${JSON.stringify(ADMIN)}, queues: [${JSON.stringify(queue)}], concurrency: 2, workerId: ${JSON.stringify(id)}, heartbeatIntervalMs: 500, handleSignals: false });
worker.register("hold", (_task, ctx) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("stopped")))));
await worker.start();
`,
  );
  const child = Bun.spawn([process.execPath, script], { stdout: "ignore", stderr: "inherit" });
  children.push(child);
  return child;
}

maybe("a real SDK worker: its running task from the leases, CPU and memory, Quiet honoured at once, and its death shown", async () => {
  const b = broker.app.broker;
  const child = spawnWorker("sdk-worker-1", "sdk-q");
  const [task] = await b.submit([{ type: "hold", queue: "sdk-q" }]);
  const page = await open("#/workers");
  const card = '[data-worker="sdk-worker-1"]';
  await page.waitForSelector(`${card} a[data-task="${task!.id}"]`, { timeout: 15_000 });
  // CPU and memory come with the worker's first heartbeat (500 ms here), which may follow its first task.
  await page.locator(`${card} dl`, { hasText: /\d+\.\d% \/ [1-9]\d* MB/ }).waitFor({ timeout: 15_000 });
  const fields = await page.locator(`${card} dl`).innerText();
  expect(fields).toMatch(/running\s+1 of 2/);
  expect(fields).toMatch(/handles\s+hold\n/);
  expect(fields).toMatch(/cpu \/ memory\s+\d+\.\d% \/ [1-9]\d* MB/);
  await page.screenshot({ path: join(ARTIFACTS, "workers-sdk.png"), fullPage: true });
  // Its page: the lease, the worker's address, and the attempt it is on.
  await page.click(`${card} a[data-task="${task!.id}"]`);
  await page.waitForSelector("#lease");
  expect(await page.textContent("#lease")).toContain("On worker sdk-worker-1 (127.0.0.1)");
  expect(await page.locator("dl.fields").innerText()).toMatch(/attempts\s+running attempt 1 of 4/);
  await page.goBack();
  await page.waitForSelector(`${card} a[data-task="${task!.id}"]`);
  await page.click(`[data-worker-action="quiet:sdk-worker-1"]`);
  await page.waitForSelector(`${card} .status.quiet`);
  const [after] = await b.submit([{ type: "hold", queue: "sdk-q" }]);
  await Bun.sleep(1500);
  expect((await b.get(after!.id)).status).toBe("pending");
  child.kill("SIGKILL");
  await page.waitForSelector(`${card} .status.dead`, { timeout: 15_000 });
  expect(await page.locator(`${card} a[data-task]`).count()).toBe(0);
  expect(await page.locator(`${card} dl`).innerText()).toContain("dead since");
  expect((await b.get(task!.id)).status).not.toBe("in_progress");
  await page.context().close();
}, 60_000);

maybe("purge from the queues page: the count first, Cancel changes nothing, then the waiting tasks go", async () => {
  const b = broker.app.broker;
  await b.submit([{ type: "p", queue: "purge-ui" }, { type: "p", queue: "purge-ui", delayMs: 60_000 }, { type: "p", queue: "purge-ui" }]);
  const page = await open("#/queues");
  await page.click('[data-queue-action="purge:purge-ui"]');
  await page.waitForSelector("dialog[open]");
  expect(await page.textContent("#confirm-title")).toBe("Purge queue purge-ui?");
  expect(await page.textContent("#confirm-ok")).toBe("Delete 3");
  await page.click('dialog button[value="cancel"]');
  await page.waitForSelector("dialog[open]", { state: "detached" });
  expect(await b.count({ queue: "purge-ui" })).toBe(3);
  await page.click('[data-queue-action="purge:purge-ui"]');
  await page.waitForSelector("dialog[open]");
  await page.click("#confirm-ok");
  await page.waitForSelector("#banner:text('Purged 3 tasks from purge-ui.')");
  expect(await b.count({ queue: "purge-ui" })).toBe(0);
  await page.context().close();
}, 30_000);
