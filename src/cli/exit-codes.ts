// The CLI's exit codes, one table (sysexits.h numbers where one fits), and the errors that map
// to them. systemd's RestartPreventExitStatus=78 relies on config errors being 78.

export const EXIT = {
  /** Did what was asked. */
  ok: 0,
  /** Runtime failure: data dir locked or unwritable, port in use, crash. */
  failure: 1,
  /** Bad command line: unknown subcommand or flag, missing argument, a value the client can tell is invalid (EX_USAGE). */
  usage: 64,
  /**
   * The database file is corrupt or not a tq-broker database, or the checks at open found data
   * damaged or lost and `serve --accept-data-loss` was not given (EX_DATAERR): restarting will not help.
   */
  corruptData: 65,
  /** `submit --wait`: the wait ran out before the task finished; it exists, ask again later (EX_TEMPFAIL). */
  waitTimeout: 75,
  /** Bad configuration: the broker would not start with it (EX_CONFIG). */
  config: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** --help or -h was given: main prints the command's help and exits 0 (thrown by parseArgs). */
export class HelpRequested extends Error {
  override get name(): string {
    return "HelpRequested";
  }
}

/** A command-line mistake; main prints it with the command's usage line and exits 64. */
export class UsageError extends Error {
  override get name(): string {
    return "UsageError";
  }
}
