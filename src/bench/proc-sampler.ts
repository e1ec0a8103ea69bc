// ProcSampler: peak RSS and CPU seconds of one process, read from /proc/<pid>/status and
// /proc/<pid>/stat (Linux only; elsewhere it reports nulls). Reads only; never signals the process.

import { readdirSync, readFileSync } from "node:fs";

/** Kernel clock ticks per second for utime/stime; 100 on every mainstream Linux build. */
export const CLOCK_TICKS_PER_SEC = 100;
const SAMPLE_EVERY_MS = 20;

export interface ProcUsage {
  /** Highest resident set seen while sampling, in MiB; null when /proc is unreadable. */
  peakRssMiB: number | null;
  /** User + system CPU seconds used between start() and stop(). */
  cpuSecs: number | null;
}

function readRssKiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/** The fields of /proc/<pid>/stat after the comm field (which may hold spaces): [0] is state, [1] the parent pid, [11] and [12] utime and stime. */
function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** utime + stime in ticks, or null when /proc cannot tell. */
export function readCpuTicks(pid: number): number | null {
  try {
    const fields = statFields(pid);
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** utime + stime of `root` and its live children, in ticks (a child that exited takes its ticks with it). */
export function treeCpuTicks(root: number): number {
  let ticks = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = statFields(name);
      if (Number(name) === root || Number(fields[1]) === root) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

export class ProcSampler {
  private readonly pid: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private peakKiB: number | null = null;
  private startTicks: number | null = null;
  private result: ProcUsage | null = null;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** Current RSS in MiB (one read), or null. */
  rssMiB(): number | null {
    const kib = readRssKiB(this.pid);
    return kib === null ? null : kib / 1024;
  }

  start(): void {
    this.peakKiB = readRssKiB(this.pid);
    this.startTicks = readCpuTicks(this.pid);
    this.timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
  }

  /** Ends sampling; later calls return the same figures. */
  stop(): ProcUsage {
    if (this.result !== null) return this.result;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const endTicks = readCpuTicks(this.pid);
    this.result = {
      peakRssMiB: this.peakKiB === null ? null : this.peakKiB / 1024,
      cpuSecs: this.startTicks === null || endTicks === null ? null : (endTicks - this.startTicks) / CLOCK_TICKS_PER_SEC,
    };
    return this.result;
  }

  private sample(): void {
    const kib = readRssKiB(this.pid);
    if (kib !== null && (this.peakKiB === null || kib > this.peakKiB)) this.peakKiB = kib;
  }
}
