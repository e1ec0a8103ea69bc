// The pieces behind the CLI's terminal output, alone: the colour rule (no-color.org) and a table
// whose colours never shift a column.

import { describe, expect, test } from "bun:test";
import { table } from "../../../src/cli/client-options.ts";
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
