// parseArgs: flags in both forms, booleans, positionals, and each usage mistake.

import { describe, expect, test } from "bun:test";
import { HelpRequested, UsageError } from "../../../src/cli/exit-codes.ts";
import { parseArgs, type ArgsSpec } from "../../../src/cli/parse-args.ts";

const spec: ArgsSpec = {
  flags: {
    config: { type: "string", valueName: "FILE", description: "config" },
    json: { type: "boolean", description: "json" },
  },
  positionals: ["FILE"],
  requiredPositionals: 0,
};

function usageMessage(argv: string[], s: ArgsSpec = spec): string {
  try {
    parseArgs(argv, s);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("parseArgs", () => {
  test("--flag value, --flag=value, booleans and a positional", () => {
    expect(parseArgs(["--config", "a.yaml", "--json", "x"], spec)).toEqual({ strings: { config: "a.yaml" }, booleans: { json: true }, positionals: ["x"] });
    expect(parseArgs(["--config=b=c.yaml"], spec).strings.config).toBe("b=c.yaml");
  });

  test("--help and -h anywhere, even with missing positionals, throw HelpRequested", () => {
    expect(() => parseArgs(["-h"], { ...spec, requiredPositionals: 1 })).toThrow(HelpRequested);
    expect(() => parseArgs(["x", "--help"], spec)).toThrow(HelpRequested);
  });

  test("-- ends options", () => {
    expect(parseArgs(["--", "--json"], spec).positionals).toEqual(["--json"]);
  });

  test("usage mistakes say what was wrong", () => {
    expect(usageMessage(["--nope"])).toBe("unknown option --nope (options: --config, --json)");
    expect(usageMessage(["--nope=1"])).toBe("unknown option --nope (options: --config, --json)");
    expect(usageMessage(["-x"])).toBe("unknown option -x (options: --config, --json)");
    expect(usageMessage(["--config"])).toBe("option --config needs a value (FILE)");
    expect(usageMessage(["--config", "--json"])).toBe("option --config needs a value (FILE)");
    expect(usageMessage(["--json=yes"])).toBe("option --json takes no value");
    expect(usageMessage(["a", "b"])).toBe('unexpected argument "b"');
    expect(usageMessage([], { ...spec, requiredPositionals: 1 })).toBe("missing FILE");
  });
});
