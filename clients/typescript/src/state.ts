/**
 * What the client keeps between runs: the license it activated, the last token, the cached JWKS
 * and the latest time it has seen. A file written atomically (a crash mid-write leaves the old
 * state, never half of a new one) and readable by its owner only, since it holds the license key.
 */

import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseJwks, type Jwks } from "./token.js";

export interface State {
  /** Format version, for a later client to migrate from. */
  version: 1;
  productId: string;
  /** The license key as the user typed it. Never logged. */
  licenseKey: string | null;
  activationId: string | null;
  /** The fingerprint the activation was made with. */
  fingerprint: string | null;
  token: string | null;
  /** RFC 3339, as the server sent it. */
  tokenExpiresAt: string | null;
  /** The JWKS fetched from the server, when the app pins none. */
  jwks: Jwks | null;
  /** The latest time this machine has seen, Unix seconds; see `CLOCK_SET_BACK`. */
  lastSeenAt: number | null;
}

/** Where state lives. Apps may supply their own, e.g. one that encrypts with Electron's safeStorage. */
export interface StateStore {
  /** The stored state, or null when there is none yet. */
  load(): Promise<State | null>;
  save(state: State): Promise<void>;
}

export function emptyState(productId: string): State {
  return {
    version: 1,
    productId,
    licenseKey: null,
    activationId: null,
    fingerprint: null,
    token: null,
    tokenExpiresAt: null,
    jwks: null,
    lastSeenAt: null,
  };
}

/** State held in memory only: gone when the process exits. */
export class MemoryStateStore implements StateStore {
  private state: State | null = null;

  async load(): Promise<State | null> {
    // A copy each way, so a caller mutating its object cannot change what is stored.
    return this.state ? structuredClone(this.state) : null;
  }

  async save(state: State): Promise<void> {
    this.state = structuredClone(state);
  }
}

/** State in a JSON file, written with mode 0600 through a temporary file and a rename. */
export class FileStateStore implements StateStore {
  constructor(readonly path: string) {}

  async load(): Promise<State | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
    // A file that does not parse (truncated by a full disk, edited by hand) counts as no state:
    // the app asks the user to activate again rather than failing to start.
    try {
      return parseState(JSON.parse(text));
    } catch {
      return null;
    }
  }

  async save(state: State): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // In the same directory, so the rename stays on one file system and is atomic.
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      // 'wx': never follow or reuse a file someone else put there. The mode is set at creation,
      // so the key is never readable by others, not even for an instant.
      const file = await open(tmp, "wx", 0o600);
      try {
        await file.writeFile(`${JSON.stringify(state, null, 2)}\n`, "utf8");
        // fsync before the rename: otherwise a crash can leave the new name on an empty file.
        await file.sync();
      } finally {
        await file.close();
      }
      // A umask cannot add bits, but chmod makes 0600 explicit whatever created the directory.
      await chmod(tmp, 0o600);
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

/** A state from untrusted JSON: fields of the wrong type are dropped, not trusted. */
export function parseState(value: unknown): State | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.version !== 1 || typeof v.productId !== "string") return null;
  const str = (x: unknown) => (typeof x === "string" && x !== "" ? x : null);
  return {
    version: 1,
    productId: v.productId,
    licenseKey: str(v.licenseKey),
    activationId: str(v.activationId),
    fingerprint: str(v.fingerprint),
    token: str(v.token),
    tokenExpiresAt: str(v.tokenExpiresAt),
    jwks: parseJwks(v.jwks),
    lastSeenAt: typeof v.lastSeenAt === "number" && Number.isFinite(v.lastSeenAt) ? v.lastSeenAt : null,
  };
}
