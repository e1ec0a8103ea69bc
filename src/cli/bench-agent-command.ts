// `tq-broker bench-agent SPEC`: internal. One load process of `tq-broker bench` (a producer or a
// worker), started by the bench as a child so load and broker run in separate processes. Wires
// stdin/stdout to runAgent; holds no load logic.

import { parseAgentSpec, runAgent } from "../bench/run-agent.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./exit-codes.ts";
import { parseArgs } from "./parse-args.ts";

export const benchAgentCommand: Command = {
  name: "bench-agent",
  hidden: true,
  summary: "internal: one load process of `bench` (started by bench, not by hand)",
  help: `usage: tq-broker bench-agent SPEC_JSON

Internal to 'tq-broker bench', which starts it as a child process: runs one producer or worker
described by SPEC_JSON, reads "go"/"stop" lines on stdin and writes JSON report lines on stdout.`,
  async run(argv, ctx) {
    const args = parseArgs(argv, { flags: {}, positionals: ["SPEC_JSON"], requiredPositionals: 1 });
    let spec;
    try {
      spec = parseAgentSpec(args.positionals[0] ?? "");
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const ok = await runAgent(spec, {
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
