// ProcessLoad: the CPU % and memory a worker reports in each heartbeat, measured from
// process.cpuUsage()/memoryUsage() (present under Bun and Node.js). No timers of its own.

const MIB = 1024 * 1024;

export interface LoadSample {
  /** CPU time used since the previous sample over wall time, in % of one core (may exceed 100). */
  cpuPercent: number;
  /** Resident set size, MiB. */
  memoryMb: number;
}

export class ProcessLoad {
  private lastCpu = process.cpuUsage();
  private lastWallMs = performance.now();

  sample(): LoadSample {
    const cpu = process.cpuUsage();
    const wallMs = performance.now();
    const usedMicros = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system);
    const elapsedMs = wallMs - this.lastWallMs;
    this.lastCpu = cpu;
    this.lastWallMs = wallMs;
    const cpuPercent = elapsedMs > 0 ? Math.max(0, (usedMicros / 1000 / elapsedMs) * 100) : 0;
    return { cpuPercent: Math.round(cpuPercent * 10) / 10, memoryMb: Math.round(process.memoryUsage().rss / MIB) };
  }
}
