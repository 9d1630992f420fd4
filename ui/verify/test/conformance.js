// Where the shared conformance vectors are: $WRIT_CONFORMANCE_DIR, else ../shared/conformance
// beside the repository. Missing vectors skip a test unless WRIT_REQUIRE_CONFORMANCE=1.

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** @returns {string} */
export function conformanceDir() {
  return process.env.WRIT_CONFORMANCE_DIR || join(REPO_ROOT, "..", "shared", "conformance");
}

/**
 * The tlog vector directory, or a skip reason (an error when vectors are required).
 * @returns {{dir: string, skip: string|false}}
 */
export function tlogDir() {
  const dir = join(conformanceDir(), "tlog");
  if (existsSync(dir)) return { dir, skip: false };
  const why = `conformance vectors not found at ${dir} (set WRIT_CONFORMANCE_DIR)`;
  if (process.env.WRIT_REQUIRE_CONFORMANCE === "1") throw new Error(why);
  return { dir, skip: why };
}
