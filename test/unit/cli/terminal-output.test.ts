// The pieces behind the CLI's terminal output, alone: the colour rule (no-color.org), a table
// whose colours never shift a column, the bench's live line with a fake clock, the serve
// banner's URLs, and the hold that puts the banner before start-up log lines.

import { describe, expect, test } from "bun:test";
import type { BenchStage } from "../../../src/bench/run-bench.ts";
import { BenchProgress } from "../../../src/cli/bench-progress.ts";
import { table } from "../../../src/cli/client-options.ts";
import { listenerUrls, StartupHold } from "../../../src/cli/serve-banner.ts";
import { colorWanted, PLAIN, statusColor, styleFor, stripAnsi } from "../../../src/cli/style.ts";
import type { CliContext } from "../../../src/cli/command.ts";

describe("colour rule", () => {
  test("a terminal, unless NO_COLOR is non-empty, TERM is dumb or --no-color was given", () => {
    expect(colorWanted(true, {}, false)).toBe(true);
    expect(colorWanted(false, {}, false)).toBe(false);
    expect(colorWanted(true, { NO_COLOR: "1" }, false)).toBe(false);
    expect(colorWanted(true, { NO_COLOR: "0" }, false)).toBe(false);
    expect(colorWanted(true, { NO_COLOR: "" }, false)).toBe(true);
    expect(colorWanted(true, { TERM: "dumb" }, false)).toBe(false);
    expect(colorWanted(true, {}, true)).toBe(false);
  });

  test("styleFor reads the stream's own terminal flag", () => {
    const ctx = { env: {}, out: () => {}, err: () => {}, commands: [], terminal: { stdout: true, stderr: false } } satisfies CliContext;
    expect(styleFor(ctx, "stdout").enabled).toBe(true);
    expect(styleFor(ctx, "stderr").enabled).toBe(false);
    expect(styleFor({ ...ctx, noColor: true }, "stdout").enabled).toBe(false);
    expect(styleFor({ env: {}, out: () => {}, err: () => {}, commands: [] }, "stdout").enabled).toBe(false);
  });
});

describe("table", () => {
  test("coloured cells keep every column where the plain table has it", () => {
    const rows = [
      ["a", "completed", "x"],
      ["bbbbbb", "dead", "y"],
    ];
    const plain = table(["ID", "STATUS", "NOTE"], rows);
    const ctx = { env: {}, out: () => {}, err: () => {}, commands: [], terminal: { stdout: true, stderr: true } } satisfies CliContext;
    const style = styleFor(ctx, "stdout");
    const coloured = table(["ID", "STATUS", "NOTE"], rows, { style, cell: (column, text) => (column === 1 ? statusColor(style, text) : text) });
    expect(coloured).not.toBe(plain);
    expect(coloured).toContain("\x1b[32mcompleted\x1b[39m");
    expect(stripAnsi(coloured)).toBe(plain);
    expect(plain).toBe("ID      STATUS     NOTE\na       completed  x\nbbbbbb  dead       y");
    expect(table(["A"], [["x"]], { style: PLAIN })).toBe("A\nx");
  });
});

function fakeStage(over: Partial<BenchStage>, counts: { submitted: number; completed: number }): BenchStage {
  return { workload: "W2", run: 1, runs: 3, phase: "timed", target: 1000, counts: () => counts, ...over };
}

describe("bench live line", () => {
  test("W2 preloading: submits and their rate; then completions and theirs", () => {
    let nowMs = 0;
    const progress = new BenchProgress({ write: () => {}, columns: 200, now: () => nowMs });
    const counts = { submitted: 0, completed: 0 };
    const stage = fakeStage({}, counts);
    progress.onStage(stage);
    progress.stop();
    nowMs = 500;
    counts.submitted = 400;
    expect(progress.line(stage)).toBe("W2 run 1/3 · timed · 400 submitted · 0/1,000 completed · 0s");
    nowMs = 1000;
    counts.submitted = 1000;
    expect(progress.line(stage)).toBe("W2 run 1/3 · timed · 1,000 submitted · 0/1,000 completed · 1,200 tasks/s · 1s");
    nowMs = 1500;
    counts.completed = 250;
    // A new series: no rate until there are two samples of it.
    expect(progress.line(stage)).toBe("W2 run 1/3 · timed · 1,000 submitted · 250/1,000 completed · 1s");
    nowMs = 2000;
    counts.completed = 750;
    expect(progress.line(stage)).toBe("W2 run 1/3 · timed · 1,000 submitted · 750/1,000 completed · 1,000 tasks/s · 2s");
  });

  test("W1 counts submits; a step without tasks shows only what it does", () => {
    const progress = new BenchProgress({ write: () => {}, columns: 200, now: () => 0 });
    expect(progress.line(fakeStage({ workload: "W1", phase: "warm-up", target: 500 }, { submitted: 100, completed: 0 }))).toBe("W1 run 1/3 · warm-up · 100/500 submitted · 0s");
    expect(progress.line(fakeStage({ workload: "W1", phase: "drain", target: 500 }, { submitted: 0, completed: 20 }))).toBe("W1 run 1/3 · drain · 20/500 completed · 0s");
    expect(progress.line(fakeStage({ phase: "starting broker", target: null }, { submitted: 0, completed: 0 }))).toBe("W2 run 1/3 · starting broker · 0s");
  });

  test("redrawn in place, cut to the terminal width, and gone after stop()", () => {
    const writes: string[] = [];
    const progress = new BenchProgress({ write: (t) => writes.push(t), columns: 30, now: () => 0 });
    progress.onStage(fakeStage({}, { submitted: 5, completed: 1 }));
    progress.println("W2 run 1/3: 9 tasks/s");
    progress.stop();
    expect(writes[0]).toBe("\r\x1b[2K" + "W2 run 1/3 · timed · 5 submitted · 1/1,000 completed · 0s".slice(0, 29));
    expect(writes[1]).toBe("\r\x1b[2KW2 run 1/3: 9 tasks/s\n");
    expect(writes).toHaveLength(2);
  });
});

describe("serve banner", () => {
  test("listener URLs: wildcard binds as localhost, IPv6 in brackets, TLS as tqs/https", () => {
    const addresses = { "broker.port": "0.0.0.0:6379", "api.rest_port": "0.0.0.0:8080", "monitoring.prometheus_port": "::1:9091", "api.grpc_port": "0.0.0.0:9090" };
    expect(listenerUrls(addresses, false)).toEqual({
      protocol: "tq://localhost:6379",
      rest: "http://localhost:8080/api/v1",
      dashboard: "http://localhost:8080/",
      metrics: "http://[::1]:9091/metrics",
      grpc: "localhost:9090",
    });
    expect(listenerUrls({ "broker.port": "127.0.0.1:1", "api.rest_port": "127.0.0.1:2" }, true)).toEqual({
      protocol: "tqs://127.0.0.1:1",
      rest: "https://127.0.0.1:2/api/v1",
      dashboard: "https://127.0.0.1:2/",
      metrics: null,
      grpc: null,
    });
  });

  test("the hold keeps lines until release (or its timer), then writes them in order", async () => {
    const written: string[] = [];
    const hold = new StartupHold((t) => written.push(t), 60_000);
    hold.line("a");
    hold.line("b");
    expect(written).toEqual([]);
    written.push("banner");
    hold.release();
    hold.line("c");
    hold.release();
    expect(written).toEqual(["banner", "a", "b", "c"]);
    const timed: string[] = [];
    const short = new StartupHold((t) => timed.push(t), 20);
    short.line("slow start");
    // Real time on purpose: the hold's timer is the CLI's own, not a broker timer.
    await Bun.sleep(60);
    expect(timed).toEqual(["slow start"]);
    const through: string[] = [];
    new StartupHold((t) => through.push(t), 0).line("now");
    expect(through).toEqual(["now"]);
  });
});
