// Types for client-suite.mjs, so the Bun side of the shared suite type-checks.
export function defineClientSuite(t: {
  test: (name: string, fn: () => Promise<void>) => unknown;
  sdk: typeof import("../../src/index.ts");
  url: () => string;
}): void;
