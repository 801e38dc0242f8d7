/**
 * `GumgateClient`: activation, validation, heartbeats and seat management for one product on
 * this machine, with an offline check of the stored token for when the server cannot be reached.
 */

import {
  OFFLINE_MESSAGES,
  clientDenial,
  parseActivation,
  parseDenial,
  parseEntitlements,
  parseGrant,
  parseLicense,
} from "./answers.js";
import type { OfflineCode } from "./codes.js";
import { machineFingerprint } from "./fingerprint.js";
import { normalizeLicenseKey } from "./hashes.js";
import { scheduleHeartbeats, type HeartbeatOptions } from "./heartbeats.js";
import { request, type FetchLike, type HttpOptions } from "./http.js";
import { emptyState, FileStateStore, MemoryStateStore, type State, type StateStore } from "./state.js";
import { jwksHasKid, parseJwks, tokenKid, verifyToken, type Jwks } from "./token.js";
import type {
  ActivateResult,
  Activation,
  DeactivateResult,
  Denial,
  LicenseResult,
  MachinesResult,
  OfflineGrant,
  OfflineResult,
  OnlineGrant,
} from "./types.js";

export interface GumgateClientOptions {
  /** The Gumgate server, e.g. `https://license.example.com`. */
  baseUrl: string;
  /** The Gumroad product id this app is licensed under. */
  productId: string;
  /** Where to keep the state (a JSON file, mode 0600). Without it, state is kept in memory only. */
  statePath?: string;
  /** A store of your own instead of `statePath` (e.g. one encrypting with Electron's safeStorage). */
  stateStore?: StateStore;
  /**
   * The server's JWKS, embedded in the app. Recommended: without it the client trusts the keys it
   * fetches from `/.well-known/jwks.json` on first use, and caches them in its state.
   */
  jwks?: Jwks;
  /** The token issuer the server is configured with. Default `"gumgate"`. */
  issuer?: string;
  /** Clock skew tolerated on the token's `exp` and `nbf`, in seconds. Default 300. */
  leewaySeconds?: number;
  /** A fetch implementation; default the global `fetch`. */
  fetch?: FetchLike;
  /** The current time in milliseconds since the epoch; default `Date.now`. For tests. */
  now?: () => number;
  /** Timeout of each request, in milliseconds. Default 10000. */
  timeoutMs?: number;
  /** This machine's fingerprint; default `machineFingerprint(productId)`. */
  fingerprint?: string;
}

export interface ActivateOptions {
  /** A name the user recognises this machine by when listing machines (e.g. `os.hostname()`). */
  name?: string;
  /** The platform label; default `process.platform`. */
  platform?: string;
}

export interface LicenseKeyOption {
  /**
   * The license key to act on; default the stored one. Lets a machine that holds no seat yet
   * (refused with `TOO_MANY_ACTIVATIONS`) list the license's machines and free one.
   */
  licenseKey?: string;
}

export class GumgateClient {
  readonly baseUrl: string;
  readonly productId: string;
  private readonly store: StateStore;
  private readonly pinnedJwks: Jwks | null;
  private readonly issuer: string;
  private readonly leewaySeconds: number;
  private readonly http: HttpOptions;
  private readonly clock: () => number;
  private readonly givenFingerprint: string | null;
  private fingerprintPromise: Promise<string> | null = null;
  /** Tail of the chain that serialises state updates (read, change, write). */
  private updates: Promise<unknown> = Promise.resolve();
  /** When the last answer said to beat next (ms since the epoch), for `startHeartbeats`. */
  private nextBeatAt: number | null = null;
  private stopRunningHeartbeats: (() => void) | null = null;

  constructor(options: GumgateClientOptions) {
    // Wrong options are the programmer's errors: thrown at once rather than answered later.
    if (typeof options.baseUrl !== "string" || !URL.canParse(options.baseUrl)) {
      throw new TypeError("gumgate: baseUrl must be an absolute URL");
    }
    if (typeof options.productId !== "string" || options.productId.trim() === "") {
      throw new TypeError("gumgate: productId is required");
    }
    const leeway = options.leewaySeconds ?? 300;
    if (!Number.isFinite(leeway) || leeway < 0) {
      throw new TypeError("gumgate: leewaySeconds must be a non-negative number");
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError("gumgate: timeoutMs must be a positive number");
    }
    if (options.statePath !== undefined && options.stateStore !== undefined) {
      throw new TypeError("gumgate: give statePath or stateStore, not both");
    }
    if (options.fingerprint !== undefined && (typeof options.fingerprint !== "string" || options.fingerprint === "")) {
      throw new TypeError("gumgate: fingerprint must be a non-empty string");
    }
    const fetchFn = options.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined);
    if (!fetchFn) throw new TypeError("gumgate: no fetch available; pass options.fetch");

    this.pinnedJwks = null;
    if (options.jwks !== undefined) {
      this.pinnedJwks = parseJwks(options.jwks);
      if (!this.pinnedJwks) throw new TypeError("gumgate: jwks holds no Ed25519 signing key with a kid");
    }
    this.baseUrl = options.baseUrl;
    this.productId = options.productId;
    this.issuer = options.issuer ?? "gumgate";
    this.leewaySeconds = leeway;
    this.clock = options.now ?? Date.now;
    this.givenFingerprint = options.fingerprint ?? null;
    this.store =
      options.stateStore ??
      (options.statePath !== undefined ? new FileStateStore(options.statePath) : new MemoryStateStore());
    this.http = { fetch: fetchFn, baseUrl: options.baseUrl, timeoutMs, now: () => this.clock() };
  }

  /** This machine's fingerprint for the product (computed once). */
  fingerprint(): Promise<string> {
    if (this.givenFingerprint !== null) return Promise.resolve(this.givenFingerprint);
    if (!this.fingerprintPromise) {
      this.fingerprintPromise = machineFingerprint(this.productId).catch((e: unknown) => {
        this.fingerprintPromise = null; // not cached: a later call may succeed
        throw e;
      });
    }
    return this.fingerprintPromise;
  }

  /**
   * Activates this machine with `licenseKey` (default: the stored key, to take a seat again after
   * `HEARTBEAT_MISSED`). A grant is stored with its token; a denial leaves the stored state as it
   * was, so a mistyped key never undoes a working activation.
   */
  async activate(licenseKey?: string, options: ActivateOptions = {}): Promise<ActivateResult> {
    if (licenseKey !== undefined && typeof licenseKey !== "string") {
      throw new TypeError("gumgate: licenseKey must be a string");
    }
    const key = licenseKey ?? (await this.load()).licenseKey;
    if (key === null) return notActivated();
    const fingerprint = await this.fingerprint();
    const body: Record<string, unknown> = {
      product_id: this.productId,
      license_key: key,
      fingerprint,
      platform: options.platform ?? platformLabel(process.platform),
    };
    if (options.name !== undefined) body.name = options.name;
    const outcome = await request(this.http, "POST", "/v1/licenses/activate", body);
    if (outcome.kind === "unreachable") return unreachable(outcome.error);
    const grant = parseGrant(outcome, "activated");
    if (!grant) return parseDenial(outcome);
    await this.storeGrant(grant, key, fingerprint, null);
    return grant;
  }

  /**
   * Asks the server whether this machine's activation is still good, and renews the token. When
   * the server cannot decide (unreachable, 5xx, rate limited) the stored token decides instead
   * (`source: "token"`, `offline: true`), so the app keeps working until the token expires. A
   * denial by the server drops the stored token, so that going offline cannot outlive it.
   */
  validate(): Promise<LicenseResult> {
    return this.check("/v1/licenses/validate", "valid");
  }

  /**
   * Tells the server this machine is still running, and renews the token; the answer's
   * `heartbeat.nextAt` says when to beat again (`startHeartbeats` does it for you). Falls back
   * to the stored token like `validate()`.
   */
  heartbeat(): Promise<LicenseResult> {
    return this.check("/v1/licenses/heartbeat", "alive");
  }

  /**
   * Frees a seat: this machine's by default (and forgets the stored license), or another
   * machine's by its id from `machines()`. Answers `NOT_FOUND` for an activation that is already
   * gone (this machine's stored license is forgotten then too, being of no more use), and
   * `TOO_MANY_DEACTIVATIONS` with `retryAfterSecs` past the license's daily limit.
   */
  async deactivate(activationId?: string, options: LicenseKeyOption = {}): Promise<DeactivateResult> {
    const state = await this.load();
    const key = options.licenseKey ?? state.licenseKey;
    const id = activationId ?? state.activationId;
    if (key === null || id === null) return notActivated();
    const outcome = await request(this.http, "POST", "/v1/licenses/deactivate", {
      product_id: this.productId,
      license_key: key,
      activation_id: id,
    });
    if (outcome.kind === "unreachable") return unreachable(outcome.error);
    const done = outcome.status === 200 && outcome.body?.deactivated === true;
    const gone = outcome.status === 404 && outcome.body?.code === "NOT_FOUND";
    let forgotten = false;
    if (done || gone) {
      await this.update((s) => {
        if (s.activationId === id && s.licenseKey !== null && sameKey(s.licenseKey, key)) {
          forgetLicense(s);
          forgotten = true;
        }
      });
      if (forgotten) this.nextBeatAt = null;
    }
    if (done) return { ok: true, activationId: id, forgotten };
    return parseDenial(outcome);
  }

  /** The machines holding a seat of the license (the stored one by default). */
  async machines(options: LicenseKeyOption = {}): Promise<MachinesResult> {
    const key = options.licenseKey ?? (await this.load()).licenseKey;
    if (key === null) return notActivated();
    const outcome = await request(this.http, "POST", "/v1/licenses/machines", {
      product_id: this.productId,
      license_key: key,
    });
    if (outcome.kind === "unreachable") return unreachable(outcome.error);
    const b = outcome.body;
    if (outcome.status === 200 && b && Array.isArray(b.machines)) {
      const machines = b.machines.map(parseActivation).filter((m): m is Activation => m !== null);
      const max = b.max_deactivations_per_day;
      return {
        ok: true,
        machines,
        license: parseLicense(b.license),
        maxDeactivationsPerDay: typeof max === "number" ? max : null,
      };
    }
    return parseDenial(outcome);
  }

  /**
   * Whether the stored token lets the app run, with no network: its signature, issuer, product,
   * license key, machine and times (see `verifyToken`), and a clock not set back behind the
   * latest time this machine has seen.
   */
  checkOffline(): Promise<OfflineResult> {
    return this.offline(null, null);
  }

  /**
   * Beats at each answer's `heartbeat.nextAt` (the first one at once, unless an answer already
   * said when), retrying failures with a bounded backoff; stops by itself on a denial by the
   * server, which `onResult` receives. Starting again stops the running loop first. Returns the
   * function that stops it. Its timers never keep a Node process alive.
   */
  startHeartbeats(options: HeartbeatOptions = {}): () => void {
    this.stopRunningHeartbeats?.();
    const stop = scheduleHeartbeats(
      { beat: () => this.heartbeat(), now: this.clock, firstAt: this.nextBeatAt },
      options,
    );
    const stopThis = () => {
      stop();
      if (this.stopRunningHeartbeats === stopThis) this.stopRunningHeartbeats = null;
    };
    this.stopRunningHeartbeats = stopThis;
    return stopThis;
  }

  /**
   * Forgets the stored license on this machine without telling the server (the seat stays
   * taken: use `deactivate()` to free it). The cached JWKS is kept.
   */
  async forget(): Promise<void> {
    await this.update(forgetLicense);
    this.nextBeatAt = null;
  }

  // ---- internals ----

  /** validate and heartbeat: the same request, answered under a different flag. */
  private async check(path: string, flag: "valid" | "alive"): Promise<LicenseResult> {
    const state = await this.load();
    if (state.licenseKey === null || state.activationId === null) return notActivated();
    const { licenseKey: key, activationId: id } = state;
    const fingerprint = await this.fingerprint();
    // The fingerprint too, so that a state file copied to another machine is refused
    // (FINGERPRINT_MISMATCH) rather than renewed there.
    const outcome = await request(this.http, "POST", path, {
      product_id: this.productId,
      license_key: key,
      activation_id: id,
      fingerprint,
    });
    // The server did not decide (down, failing, or asking to be left alone for a while): the
    // stored token stands in, so an outage never locks a user out before the token expires.
    if (outcome.kind === "unreachable") return this.offline(outcome.error, null);
    if (outcome.status >= 500 || outcome.status === 429) {
      const code = outcome.body?.code;
      const why = `HTTP ${outcome.status}${typeof code === "string" ? ` ${code}` : ""}`;
      return this.offline(why, outcome.retryAfterSecs);
    }
    const grant = parseGrant(outcome, flag);
    if (grant) {
      await this.storeGrant(grant, key, fingerprint, id);
      return grant;
    }
    const denial = parseDenial(outcome);
    if (denial.code !== "INVALID_INPUT" && denial.code !== "SERVER_ERROR") {
      // The server's verdict on this activation: the token must not outlive it offline.
      await this.update((s) => {
        if (s.activationId === id) {
          s.token = null;
          s.tokenExpiresAt = null;
        }
      });
      this.nextBeatAt = null;
    }
    return denial;
  }

  /**
   * The offline check, also standing in for a server that did not decide (`serverError` says
   * why, `retryAfterSecs` when it asked for a pause).
   */
  private async offline(serverError: string | null, retryAfterSecs: number | null): Promise<OfflineResult> {
    const state = await this.load();
    const deny = (code: Exclude<OfflineCode, "VALID">, detail: string | null = null): Denial => ({
      ok: false,
      code,
      message:
        serverError === null
          ? OFFLINE_MESSAGES[code]
          : `The license server did not answer (${serverError}). ${OFFLINE_MESSAGES[code]}`,
      source: "token",
      offline: true,
      status: null,
      retryAfterSecs,
      serverError,
      detail,
    });
    if (state.token === null || state.licenseKey === null) return deny("NO_TOKEN");
    const jwks = this.pinnedJwks ?? state.jwks;
    if (!jwks) return deny("TOKEN_INVALID", "no JWKS: pin one, or let the client fetch it online once");
    const now = this.nowSecs();
    const verdict = await verifyToken({
      token: state.token,
      jwks,
      issuer: this.issuer,
      productId: this.productId,
      licenseKey: state.licenseKey,
      fingerprint: await this.fingerprint(),
      now,
      leewaySeconds: this.leewaySeconds,
      lastSeenAt: state.lastSeenAt,
    });
    // Every check but a clock caught going back moves the latest time seen on: otherwise a
    // token found expired could be revived by setting the clock to just before its exp.
    const caughtGoingBack = !verdict.ok && verdict.code === "CLOCK_SET_BACK";
    if (!caughtGoingBack && (state.lastSeenAt === null || now > state.lastSeenAt)) {
      await this.update((s) => {
        s.lastSeenAt = Math.max(s.lastSeenAt ?? 0, now);
      });
    }
    if (!verdict.ok) return deny(verdict.code, verdict.reason);
    const { claims } = verdict;
    const expiresAt = new Date(claims.exp * 1000).toISOString();
    const grant: OfflineGrant = {
      ok: true,
      code: "VALID",
      source: "token",
      offline: true,
      message:
        serverError === null
          ? `Valid offline until ${expiresAt}.`
          : `The license server did not answer (${serverError}). Valid offline until ${expiresAt}.`,
      activationId: claims.sub,
      seats: claims.seats,
      entitlements: parseEntitlements(claims.entitlements),
      tokenExpiresAt: expiresAt,
      claims,
      serverError,
      retryAfterSecs,
    };
    return grant;
  }

  /**
   * Stores a grant: the license, activation and new token, and the JWKS that verifies it. For
   * validate and heartbeat (`expectedId` set) only while the state still holds that activation,
   * so an answer that raced with an activate or deactivate cannot bring an old license back.
   */
  private async storeGrant(
    grant: OnlineGrant,
    key: string,
    fingerprint: string,
    expectedId: string | null,
  ): Promise<void> {
    const now = this.nowSecs();
    // Verify the new token now, while online: it fetches the JWKS if the token's key is not yet
    // known (first run, key rotation), and yields an `iat` the client can trust.
    const fresh = grant.token ? await this.verifyFresh(grant.token, key, fingerprint) : null;
    await this.update((s) => {
      if (expectedId !== null && s.activationId !== expectedId) return;
      const sameActivation =
        s.activationId === grant.activation.id && s.licenseKey !== null && sameKey(s.licenseKey, key);
      s.licenseKey = key;
      s.activationId = grant.activation.id;
      s.fingerprint = fingerprint;
      if (grant.token) {
        s.token = grant.token;
        s.tokenExpiresAt = grant.tokenExpiresAt;
      } else if (!sameActivation) {
        // A grant without a token (a server with no signing key, or an older server's offline
        // answer): the stored token is kept only if it is this activation's.
        s.token = null;
        s.tokenExpiresAt = null;
      }
      if (fresh?.jwks) s.jwks = fresh.jwks;
      // A token the server just signed carries its time, which the user's clock cannot fake:
      // it replaces what was seen before, so a clock that once ran ahead and was corrected
      // does not lock the user out offline. Without one, the latest time seen only moves on.
      s.lastSeenAt = fresh?.iat != null ? fresh.iat : Math.max(s.lastSeenAt ?? 0, now);
    });
    // Timed on this clock from the interval, not from next_at: the two clocks may differ.
    this.nextBeatAt = grant.heartbeat ? this.clock() + grant.heartbeat.intervalSecs * 1000 : null;
  }

  /** Verifies a token just received; its `iat` when it verifies, and a JWKS to cache if fetched. */
  private async verifyFresh(
    token: string,
    licenseKey: string,
    fingerprint: string,
  ): Promise<{ iat: number | null; jwks: Jwks | null }> {
    const verify = (jwks: Jwks) =>
      verifyToken({
        token,
        jwks,
        issuer: this.issuer,
        productId: this.productId,
        licenseKey,
        fingerprint,
        now: this.nowSecs(),
        leewaySeconds: this.leewaySeconds,
      });
    if (this.pinnedJwks) {
      const verdict = await verify(this.pinnedJwks);
      return { iat: verdict.ok ? verdict.claims.iat : null, jwks: null };
    }
    const cached = (await this.load()).jwks;
    const kid = tokenKid(token);
    // The cached keys first, unless they lack the token's kid (first run, a key rotation).
    if (cached && kid !== null && jwksHasKid(cached, kid)) {
      const verdict = await verify(cached);
      if (verdict.ok) return { iat: verdict.claims.iat, jwks: null };
      // Refused by a cached key: perhaps one since replaced under the same kid; ask again below.
    }
    const fetched = await this.fetchJwks();
    if (!fetched) return { iat: null, jwks: null };
    const verdict = await verify(fetched);
    return { iat: verdict.ok ? verdict.claims.iat : null, jwks: fetched };
  }

  /** The server's JWKS, or null when it cannot be had (the next online check tries again). */
  private async fetchJwks(): Promise<Jwks | null> {
    const outcome = await request(this.http, "GET", "/.well-known/jwks.json");
    if (outcome.kind !== "answer" || outcome.status !== 200) return null;
    return parseJwks(outcome.body);
  }

  /** The stored state of this product (another product's counts as none). */
  private async load(): Promise<State> {
    const s = await this.store.load();
    return s && s.productId === this.productId ? s : emptyState(this.productId);
  }

  /**
   * Reads, changes and writes the state, one change at a time: a heartbeat finishing while the
   * app validates must not write over what the validation stored.
   */
  private update(change: (s: State) => void): Promise<void> {
    const run = async () => {
      const state = await this.load();
      const before = JSON.stringify(state);
      change(state);
      if (JSON.stringify(state) !== before) await this.store.save(state);
    };
    const next = this.updates.then(run, run);
    this.updates = next.catch(() => undefined);
    return next;
  }

  private nowSecs(): number {
    return Math.floor(this.clock() / 1000);
  }
}

function unreachable(error: string): Denial {
  return clientDenial("NETWORK_ERROR", "The license server could not be reached.", {
    offline: true,
    serverError: error,
  });
}

function notActivated(): Denial {
  return clientDenial("NOT_ACTIVATED", "No license is activated on this machine.");
}

function forgetLicense(s: State): void {
  s.licenseKey = null;
  s.activationId = null;
  s.fingerprint = null;
  s.token = null;
  s.tokenExpiresAt = null;
}

/** Whether two spellings are the same license key, as the server compares them. */
function sameKey(a: string, b: string): boolean {
  return normalizeLicenseKey(a) === normalizeLicenseKey(b);
}

/** The platform label the Rust client sends too (Rust's `std::env::consts::OS`). */
function platformLabel(platform: NodeJS.Platform): string {
  switch (platform) {
    case "darwin":
      return "macos";
    case "win32":
      return "windows";
    default:
      return platform;
  }
}
