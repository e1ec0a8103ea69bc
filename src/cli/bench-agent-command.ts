// `tq-broker bench-agent`: internal. One load process of `tq-broker bench` (producer or worker
// jobs), started by the bench as a child so load and broker run in separate processes. Wires
// stdin/stdout to runAgent; holds no load logic.

import { runAgent } from "../bench/run-agent.ts";
import type { Command } from "./command.ts";
import { EXIT } from "./exit-codes.ts";
import { parseArgs } from "./parse-args.ts";

export const benchAgentCommand: Command = {
  name: "bench-agent",
  hidden: true,
  summary: "internal: one load process of `bench` (started by bench, not by hand)",
  help: `usage: tq-broker bench-agent

Internal to 'tq-broker bench', which starts it as a child process: reads producer or worker jobs
(one JSON spec a line) and "go"/"stop" lines on stdin, runs the jobs in turn and writes JSON
report lines on stdout; exits when stdin ends.`,
  async run(argv) {
    parseArgs(argv, { flags: {} });
    const ok = await runAgent({
      // Not ctx.out: the CLI exits right after run() returns, and a report of megabytes must
      // reach the pipe first, so the write's completion is awaited.
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
    });
    process.stdin.pause();
    return ok ? EXIT.ok : EXIT.failure;
  },
};
