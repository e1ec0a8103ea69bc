// AgentProcess: one `tq-broker bench-agent` child seen from the orchestrator: start it, wait for
// it to be ready, say go/stop on its stdin, follow its progress and collect its report. Knows the
// line protocol of agent-protocol.ts, not what the agent does.

import type { Subprocess } from "bun";
import { CONTROL, type AgentLine, type AgentReport, type AgentSpec } from "./agent-protocol.ts";
import { childEnv, selfCommand } from "./self-command.ts";
import { drainLines } from "./stream-lines.ts";

const STDERR_TAIL_CHARS = 4000;

export class AgentProcess {
  /** Latest progress count the agent reported (submitted or completed tasks). */
  progress = 0;
  readonly ready: Promise<void>;
  readonly report: Promise<AgentReport>;
  private readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  private stderr = "";

  constructor(spec: AgentSpec) {
    this.proc = Bun.spawn([...selfCommand(), "bench-agent", JSON.stringify(spec)], {
      env: childEnv(process.env),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    void drainLines(this.proc.stderr, (line) => {
      this.stderr = `${this.stderr}${line}\n`.slice(-STDERR_TAIL_CHARS);
    });
    let onReady: () => void = () => {};
    let onReport: (r: AgentReport) => void = () => {};
    let onFail: (err: Error) => void = () => {};
    this.ready = new Promise<void>((resolve) => (onReady = resolve));
    this.report = new Promise<AgentReport>((resolve, reject) => {
      onReport = resolve;
      onFail = reject;
    });
    // A failed agent must also fail whoever waits for it to be ready.
    this.report.catch(() => {});
    let reported = false;
    void drainLines(this.proc.stdout, (text) => {
      let line: AgentLine;
      try {
        line = JSON.parse(text) as AgentLine;
      } catch {
        return;
      }
      if (line.event === "ready") onReady();
      else if (line.event === "progress") this.progress = line.done;
      else if (line.event === "failed") onFail(new Error(`${spec.role} agent failed: ${line.message}`));
      else if (line.event === "done") {
        reported = true;
        onReport(line);
      }
    }).then(async () => {
      const code = await this.proc.exited;
      if (!reported) onFail(new Error(`${spec.role} agent exited (code ${code}) without a report; stderr:\n${this.stderr}`));
    });
    void this.report.catch(() => onReady());
  }

  go(): void {
    this.say(CONTROL.go);
  }

  stop(): void {
    this.say(CONTROL.stop);
  }

  /** Ends the agent by PID: for when a bench is abandoned (deadline or error). */
  kill(): void {
    this.proc.kill("SIGKILL");
  }

  exited(): Promise<number> {
    return this.proc.exited;
  }

  private say(word: string): void {
    try {
      this.proc.stdin.write(`${word}\n`);
      this.proc.stdin.flush();
    } catch {
      // The agent is gone already; its report promise says why.
    }
  }
}
