// ConfigError: every problem found in one load, each with the key path it is about. Exit code
// 78 (EX_CONFIG) is the CLI's business; this file only carries and formats the problems.

export interface ConfigProblem {
  /** Key path like "broker.port" or "auth.api_keys[0].key"; "" for a problem with the file itself. */
  path: string;
  /** Says what was expected and what was found, e.g. `expected an integer 0-65535, got "abc"`. */
  message: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(formatConfigErrors(problems));
    this.problems = problems;
  }

  override get name(): string {
    return "ConfigError";
  }
}

/** One line per problem, `path: message`, in the order found. */
export function formatConfigErrors(problems: ConfigError | readonly ConfigProblem[]): string {
  const list = problems instanceof ConfigError ? problems.problems : problems;
  return list.map((p) => (p.path === "" ? p.message : `${p.path}: ${p.message}`)).join("\n");
}
