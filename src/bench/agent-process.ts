// AgentProcess: one `tq-broker bench-agent` child seen from the orchestrator, and the AgentJob it
// is running: hand it a job, wait for it to be ready, say go/stop on its stdin, follow its
// progress and collect its report. AgentPool keeps agents alive across the jobs of one broker, so
// the timed run's load side is as warm as its broker. Knows the line protocol of
// agent-protocol.ts, not what the agent does.

import type { Subprocess } from "bun";
import { CONTROL, type AgentLine, type AgentReport, type AgentSpec } from "./agent-protocol.ts";
import { childEnv, selfCommand } from "./self-command.ts";
import { drainLines } from "./stream-lines.ts";

const STDERR_TAIL_CHARS = 4000;
/** After its stdin ends an idle agent exits at once; one that has not by then is killed. */
const CLOSE_GRACE_MS = 5_000;

/** One job on an agent: its readiness, progress and report. */
export class AgentJob {
  /** Latest progress count the agent reported (submitted or completed tasks). */
  progress = 0;
  /** performance.now() when the job was handed out: a live display counts only its stage's jobs. */
  readonly startedMs = performance.now();
  readonly ready: Promise<void>;
  readonly report: Promise<AgentReport>;
  private settled = false;
  private onReady: () => void = () => {};
  private onReport: (r: AgentReport) => void = () => {};
  private onFail: (err: Error) => void = () => {};

  constructor(
    readonly spec: AgentSpec,
    private readonly say: (word: string) => void,
  ) {
    this.ready = new Promise<void>((resolve) => (this.onReady = resolve));
    this.report = new Promise<AgentReport>((resolve, reject) => {
      this.onReport = resolve;
      this.onFail = reject;
    });
    // A failed agent must also fail whoever waits for it to be ready.
    this.report.catch(() => this.onReady());
  }

  go(): void {
    this.say(CONTROL.go);
  }

  stop(): void {
    this.say(CONTROL.stop);
  }

  /** The agent's line for this job; true once the job has ended (reported or failed). */
  line(line: AgentLine): boolean {
    if (line.event === "ready") this.onReady();
    else if (line.event === "progress") this.progress = line.done;
    else if (line.event === "failed") this.fail(new Error(`${this.spec.role} agent failed: ${line.message}`));
    else if (line.event === "done") {
      this.settled = true;
      this.onReport(line);
    }
    return this.settled;
  }

  fail(err: Error): void {
    this.settled = true;
    this.onFail(err);
  }
}

export class AgentProcess {
  private readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  private stderr = "";
  private job: AgentJob | null = null;
  /** The job handed out last, kept after it ends so that its final count stays readable. */
  private latest: AgentJob | null = null;
  private exitCode: number | null = null;

  /** `command`: the agent's argv; default `tq-broker bench-agent` (the peer bench passes its own). */
  constructor(command: readonly string[] = [...selfCommand(), "bench-agent"]) {
    this.proc = Bun.spawn([...command], {
      env: childEnv(process.env),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    void drainLines(this.proc.stderr, (line) => {
      this.stderr = `${this.stderr}${line}\n`.slice(-STDERR_TAIL_CHARS);
    });
    void drainLines(this.proc.stdout, (text) => {
      let line: AgentLine;
      try {
        line = JSON.parse(text) as AgentLine;
      } catch {
        return;
      }
      if (this.job?.line(line) === true) this.job = null;
    }).then(async () => {
      this.exitCode = await this.proc.exited;
      this.job?.fail(new Error(`${this.job.spec.role} agent exited (code ${this.exitCode}) without a report; stderr:\n${this.stderr}`));
      this.job = null;
    });
  }

  /** Hands the agent its next job; one at a time. */
  start(spec: AgentSpec): AgentJob {
    if (this.job !== null) throw new Error(`bench agent ${this.proc.pid} is still running a ${this.job.spec.role} job`);
    const job = new AgentJob(spec, (word) => this.say(word));
    this.latest = job;
    if (this.exitCode !== null) job.fail(new Error(`${spec.role} agent had exited (code ${this.exitCode}); stderr:\n${this.stderr}`));
    else {
      this.job = job;
      this.say(JSON.stringify(spec));
    }
    return job;
  }

  /** The last job handed to this agent, running or ended. */
  lastJob(): AgentJob | null {
    return this.latest;
  }

  /** Ends stdin, so the agent exits (stopping any job); killed if it has not within the grace. */
  async close(): Promise<void> {
    try {
      this.proc.stdin.end();
    } catch {
      // Gone already.
    }
    const timer = setTimeout(() => this.kill(), CLOSE_GRACE_MS);
    await this.proc.exited;
    clearTimeout(timer);
  }

  /** Ends the agent by PID: for when a bench is abandoned (deadline or error). */
  kill(): void {
    this.proc.kill("SIGKILL");
  }

  private say(line: string): void {
    try {
      this.proc.stdin.write(`${line}\n`);
      this.proc.stdin.flush();
    } catch {
      // The agent is gone already; its job's report promise says why.
    }
  }
}

/**
 * Agents by role slot ("producer-0", "worker-0"), started on first use and kept for later jobs:
 * a warm-up and the timed run that follows use the same processes.
 */
export class AgentPool {
  private readonly agents = new Map<string, AgentProcess>();

  /** `command`: argv of each agent process, as for AgentProcess. */
  constructor(private readonly command?: readonly string[]) {}

  agent(slot: string): AgentProcess {
    let agent = this.agents.get(slot);
    if (agent === undefined) {
      agent = new AgentProcess(this.command);
      this.agents.set(slot, agent);
    }
    return agent;
  }

  /**
   * Tasks submitted (producers) and completed (workers) so far by the jobs handed out since
   * `sinceMs` (performance.now()); for a live display, read while the run goes on.
   */
  progress(sinceMs: number): { submitted: number; completed: number } {
    let submitted = 0;
    let completed = 0;
    for (const agent of this.agents.values()) {
      const job = agent.lastJob();
      if (job === null || job.startedMs < sinceMs) continue;
      if (job.spec.role === "worker") completed += job.progress;
      else submitted += job.progress;
    }
    return { submitted, completed };
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
    this.agents.clear();
  }

  /** For a failed run: the agents must not go on loading the broker. */
  async kill(): Promise<void> {
    for (const a of this.agents.values()) a.kill();
    await this.close();
  }
}
