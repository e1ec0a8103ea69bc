// The live line `tq-broker bench` keeps on a terminal's stderr: which workload and run, which
// step, tasks done and the current rate, redrawn in place a few times a second. Display only;
// the counts come from run-bench's stages. Never used on a pipe or with --json.

import type { BenchStage } from "../bench/run-bench.ts";

/** Redraws often enough to look live, rarely enough to cost nothing next to the load. */
const REDRAW_MS = 250;
/** The rate is over the last second or so: steady, yet it follows a change within a redraw or four. */
const RATE_WINDOW_MS = 1000;

const CLEAR_LINE = "\r\x1b[2K";

export interface ProgressOptions {
  /** Writes text to stderr as it is (no newline added). */
  write(text: string): void;
  /** Terminal width: a line that wrapped could not be redrawn in place. */
  columns: number;
  /** Clock in ms (tests pass their own). */
  now?: () => number;
}

export class BenchProgress {
  private stage: BenchStage | null = null;
  private stageStartMs = 0;
  private samples: Array<{ atMs: number; done: number }> = [];
  /** Which count the samples are of: the rate must not mix submits and completions. */
  private series: "done" | "submitted" = "done";
  private timer: ReturnType<typeof setInterval> | null = null;
  private shown = "";
  private readonly now: () => number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** A new step began: show it at once, then keep redrawing until stop(). */
  onStage(stage: BenchStage): void {
    this.stage = stage;
    this.stageStartMs = this.now();
    this.samples = [];
    this.redraw();
    this.timer ??= setInterval(() => this.redraw(), REDRAW_MS);
  }

  /** Prints a line that stays (a finished run's figure) in place of the live line, which waits for the next step. */
  println(text: string): void {
    this.options.write(`${CLEAR_LINE}${text}\n`);
    this.shown = "";
    this.stage = null;
  }

  /** Removes the live line, leaving the cursor at the start of an empty line. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.stage = null;
    if (this.shown !== "") this.options.write(CLEAR_LINE);
    this.shown = "";
  }

  private redraw(): void {
    if (this.stage === null) return;
    const line = this.line(this.stage).slice(0, Math.max(20, this.options.columns - 1));
    if (line === this.shown) return;
    this.shown = line;
    this.options.write(`${CLEAR_LINE}${line}`);
  }

  /** e.g. "W2 run 1/3 · timed · 100,000 submitted · 45,200/100,000 completed · 38,400 tasks/s · 2s". */
  line(stage: BenchStage): string {
    const parts = [`${stage.workload} run ${stage.run}/${stage.runs}`, stage.phase];
    const elapsedSecs = Math.floor((this.now() - this.stageStartMs) / 1000);
    if (stage.target !== null) {
      const { submitted, completed } = stage.counts();
      // A step ends when its workers have completed its tasks, except W1's timed enqueue and its
      // warm-up, which end when the producers are acknowledged.
      const bySubmits = stage.workload === "W1" && stage.phase !== "drain";
      const done = bySubmits ? submitted : completed;
      if (!bySubmits && submitted > 0) parts.push(`${num(submitted)} submitted`);
      parts.push(`${num(done)}/${num(stage.target)} ${bySubmits ? "submitted" : "completed"}`);
      // Before the headline count moves (W2 still preloading), the rate shown is the producers'.
      const rate = done > 0 || submitted === 0 ? this.rate("done", done) : this.rate("submitted", submitted);
      if (rate !== null) parts.push(`${num(rate)} tasks/s`);
    }
    parts.push(`${elapsedSecs}s`);
    return parts.join(" · ");
  }

  private rate(series: "done" | "submitted", done: number): number | null {
    const nowMs = this.now();
    if (series !== this.series) this.samples = [];
    this.series = series;
    this.samples.push({ atMs: nowMs, done });
    while (this.samples.length > 2 && nowMs - this.samples[1]!.atMs >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const spanMs = nowMs - first.atMs;
    return spanMs < REDRAW_MS / 2 ? null : ((done - first.done) * 1000) / spanMs;
  }
}

function num(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
