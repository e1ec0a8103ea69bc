// One load process of the peer bench against beanstalkd: tq-broker's bench-agent loop
// (src/bench/run-agent.ts: job specs and go/stop on stdin, JSON report lines on stdout) with the
// beanstalkd roles of beanstalkd-agents.ts. Started by run-peers.ts through an AgentPool.

import { runAgent } from "../../src/bench/run-agent.ts";
import { BEANSTALKD_ROLES } from "./beanstalkd-agents.ts";

/** argv that starts this agent, for AgentPool. */
export const BEANSTALKD_AGENT_COMMAND: readonly string[] = [process.execPath, import.meta.path];

if (import.meta.main) {
  const ok = await runAgent(
    {
      // A report can be megabytes of ids: it must reach the pipe before the process exits.
      write: (line) => new Promise<void>((resolve) => process.stdout.write(`${line}\n`, () => resolve())),
      onInput(listener) {
        let buffered = "";
        process.stdin.setEncoding("utf8");
        process.stdin.on("data", (chunk: string) => {
          buffered += chunk;
          for (let nl = buffered.indexOf("\n"); nl !== -1; nl = buffered.indexOf("\n")) {
            listener(buffered.slice(0, nl).trim());
            buffered = buffered.slice(nl + 1);
          }
        });
        process.stdin.on("end", () => listener(null));
      },
    },
    BEANSTALKD_ROLES,
  );
  process.stdin.pause();
  process.exit(ok ? 0 : 1);
}
