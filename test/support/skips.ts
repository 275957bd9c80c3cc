import { test } from "vitest";

/**
 * The one way a test file skips what cannot run here. Every `describe.skipIf` / `it.skipIf` of the
 * suite takes its condition from `skipOrFailInCI`, so a skip is never silent and never passes CI:
 *   - outside CI it prints `SKIPPED <suite>: <reason>` (console.warn) and the suite is skipped;
 *   - in CI it registers a test named `<suite> cannot run in CI: <reason>` that fails with the reason,
 *     so the run fails and its report names why; the suite's own tests are still skipped (they
 *     would only fail further down, on whatever is missing).
 * CI is what scripts/test.sh and scripts/test-python.sh read: the CI variable set to anything non-empty.
 */

/** Whether this run is CI's: `CI` set and not empty (`.ci/run` exports CI=true). */
export const inCI = (env: NodeJS.ProcessEnv = process.env): boolean => (env.CI ?? "") !== "";

/** What a test needs from its surroundings (injected by the helper's own unit test). */
export interface SkipContext {
  readonly env: NodeJS.ProcessEnv;
  readonly warn: (line: string) => void;
  /** Registers a test in the suite being collected. */
  readonly register: (name: string, fn: () => void) => void;
}

const vitestContext: SkipContext = { env: process.env, warn: (line) => console.warn(line), register: (name, fn) => test(name, fn) };

/**
 * True when the suite must be skipped: `reason` says why it cannot run here (undefined: it can).
 * Call it while the file is collected (top level or in a `describe` callback), as `describe.skipIf(...)`'s argument.
 */
export function skipOrFailInCI(suite: string, reason: string | undefined, context: SkipContext = vitestContext): boolean {
  if (reason === undefined) return false;
  if (inCI(context.env)) {
    const message = `${suite} cannot run in CI: ${reason}`;
    context.register(message, () => {
      throw new Error(`${message} (CI=${context.env.CI}: a test that cannot run fails in CI instead of skipping)`);
    });
  } else {
    context.warn(`SKIPPED ${suite}: ${reason} (in CI this fails)`);
  }
  return true;
}
