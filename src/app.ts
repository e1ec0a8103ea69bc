// startApp: composes the broker's parts from one validated Config and stops them in reverse
// order. Holds no queue rules and parses no config; each part receives typed options.

import type { Config } from "./config/index.ts";
import type { Logger } from "./log.ts";
import { openDataDir } from "./store/data-dir.ts";

export interface App {
  /** Where each listener is bound, by config key, e.g. { "broker.port": "127.0.0.1:6379" }. */
  readonly addresses: Record<string, string>;
  /** Absolute path of the locked data dir. */
  readonly dataDir: string;
  /** Stops every part in reverse start order; safe to call twice. */
  stop(reason?: string): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  /** Undo steps, run last-first on stop or when a later step fails to start. */
  const undo: Array<() => void | Promise<void>> = [];
  const addresses: Record<string, string> = {};

  const runUndo = async (): Promise<void> => {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log.error("shutdown step failed", { err });
      }
    }
    undo.length = 0;
  };

  try {
    const dataDir = openDataDir(config.persistence.data_dir);
    undo.push(() => dataDir.release());

    // Store, queue, TCP server and HTTP listeners are composed here as they land (lead).
    // Each listener binds through bindOrExplain(key, port, host, ...) from config/listen-error.ts
    // and records addresses[key] = "host:port" with the port the OS actually gave.

    let stopping: Promise<void> | undefined;
    return {
      addresses,
      dataDir: dataDir.path,
      stop(reason = "stop requested") {
        stopping ??= (async () => {
          log.info("stopping", { reason });
          await runUndo();
          log.info("stopped", { reason });
        })();
        return stopping;
      },
    };
  } catch (err) {
    await runUndo();
    throw err;
  }
}
