// Whether a CLI stream gets colours, and the few ANSI styles the CLI uses. Colour only on a
// terminal, never with NO_COLOR (https://no-color.org), TERM=dumb or --no-color; a style that is
// off returns its text unchanged, so callers never branch on it.

import type { CliContext } from "./command.ts";

export interface Style {
  /** True when escapes are written; false means every function below is the identity. */
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const sgr =
  (open: number, close: number) =>
  (text: string): string =>
    text === "" ? text : `\x1b[${open}m${text}\x1b[${close}m`;

const ON: Style = {
  enabled: true,
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
};

const same = (text: string): string => text;
export const PLAIN: Style = { enabled: false, bold: same, dim: same, red: same, green: same, yellow: same, cyan: same };

/** The rule, alone: a terminal, and nobody said no (NO_COLOR with any non-empty value counts). */
export function colorWanted(isTty: boolean, env: CliContext["env"], noColorFlag: boolean): boolean {
  if (!isTty || noColorFlag) return false;
  if ((env.NO_COLOR ?? "") !== "") return false;
  return env.TERM !== "dumb";
}

/** The style for what a command writes to stdout (ctx.out) or stderr (ctx.err). */
export function styleFor(ctx: CliContext, stream: "stdout" | "stderr"): Style {
  return colorWanted(ctx.terminal?.[stream] ?? false, ctx.env, ctx.noColor ?? false) ? ON : PLAIN;
}

/** Removes colour escapes: for width arithmetic and tests. */
export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** A task status coloured by what it asks of a person: green done, red needs a look, yellow waiting. */
export function statusColor(style: Style, status: string): string {
  switch (status) {
    case "completed":
      return style.green(status);
    case "dead":
    case "failed":
      return style.red(status);
    case "in_progress":
      return style.cyan(status);
    case "pending":
    case "scheduled":
      return style.yellow(status);
    case "cancelled":
      return style.dim(status);
    default:
      return status;
  }
}
