/**
 * The heartbeat loop: one beat at a time, each at the time the previous answer names, failures
 * retried with a bounded, jittered backoff. Its timers are unref'd, so a Node process whose other
 * work is done exits instead of waiting for the next beat.
 */

import type { LicenseResult } from "./types.js";

export interface HeartbeatOptions {
  /** Every answer, granted or not, including offline ones while the server is unreachable. */
  onResult?: (result: LicenseResult) => void;
  /** Anything a beat threw (a state file that cannot be written, a bug in `onResult`...). */
  onError?: (error: unknown) => void;
}

type TimerHandle = unknown;

export interface SchedulerDeps {
  /** One heartbeat. */
  beat: () => Promise<LicenseResult>;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** When the first beat is due (ms since the epoch); now when unknown. */
  firstAt?: number | null;
  setTimer?: (run: () => void, ms: number) => TimerHandle;
  clearTimer?: (handle: TimerHandle) => void;
  /** In [0, 1), for the jitter. */
  random?: () => number;
}

/** The first retry waits about this long, doubling up to {@link RETRY_MAX_MS}. */
export const RETRY_BASE_MS = 5_000;
/**
 * The longest wait between retries. Well under the server's grace after a missed beat (10 minutes
 * in the default setup), so a short outage never costs the seat.
 */
export const RETRY_MAX_MS = 5 * 60_000;
/** The pace when the product has no heartbeats: the beat then only renews the token. */
export const IDLE_INTERVAL_MS = 60 * 60_000;
/** Never beat faster than this, whatever `next_at` says (a clock far ahead of the server's). */
export const MIN_DELAY_MS = 1_000;
/** setTimeout's limit; a longer delay would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Codes after which beating again is pointless until the app acts (activates, fixes input). */
const STOP_CLIENT_CODES = new Set(["NOT_ACTIVATED", "INVALID_INPUT"]);

/** Starts the loop; returns the function that stops it. */
export function scheduleHeartbeats(deps: SchedulerDeps, options: HeartbeatOptions = {}): () => void {
  const setTimer = deps.setTimer ?? defaultSetTimer;
  const clearTimer = deps.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const random = deps.random ?? Math.random;
  let stopped = false;
  let timer: TimerHandle | null = null;
  let failures = 0;

  const report = (f: () => void) => {
    try {
      f();
    } catch (e) {
      // A throwing callback must not end the loop: it is the app's bug, reported as such.
      try {
        options.onError?.(e);
      } catch {
        // Nothing sensible is left to do with an onError that throws.
      }
    }
  };

  const backoff = (retryAfterSecs: number | null): number => {
    failures += 1;
    const exp = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 20));
    // Jitter over the upper half: after an outage, apps do not all come back in the same second.
    const jittered = exp / 2 + (random() * exp) / 2;
    return Math.max(jittered, (retryAfterSecs ?? 0) * 1000);
  };

  /** How long to wait after `result`, or null to stop. */
  const nextDelay = (result: LicenseResult): number | null => {
    if (result.ok && result.source === "server") {
      failures = 0;
      if (!result.heartbeat) return IDLE_INTERVAL_MS;
      // The interval, not next_at minus this clock: a clock behind the server's by more than
      // the grace would otherwise beat late every time and lose the seat again and again.
      return Math.max(MIN_DELAY_MS, result.heartbeat.intervalSecs * 1000);
    }
    if (result.ok) return backoff(result.retryAfterSecs); // the stored token stood in: retry
    // The server's verdict (HEARTBEAT_MISSED, REFUNDED, NOT_FOUND...): the app must act.
    if (result.source === "server" && result.code !== "RATE_LIMITED" && result.code !== "SERVER_ERROR") {
      return null;
    }
    if (result.source === "client" && STOP_CLIENT_CODES.has(result.code)) return null;
    return backoff(result.retryAfterSecs);
  };

  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimer(run, Math.min(MAX_TIMER_MS, Math.max(0, delay)));
  };

  const run = () => {
    timer = null;
    if (stopped) return;
    // The next beat is scheduled only once this one has finished: beats never overlap.
    deps.beat().then(
      (result) => {
        if (stopped) return;
        report(() => options.onResult?.(result));
        const delay = nextDelay(result);
        if (delay !== null) schedule(delay);
      },
      (error: unknown) => {
        if (stopped) return;
        report(() => options.onError?.(error));
        schedule(backoff(null));
      },
    );
  };

  const first = deps.firstAt == null ? 0 : deps.firstAt - deps.now();
  schedule(Math.max(0, first));

  return () => {
    stopped = true;
    if (timer !== null) clearTimer(timer);
    timer = null;
  };
}

function defaultSetTimer(run: () => void, ms: number): TimerHandle {
  const t = setTimeout(run, ms);
  // unref: a pending beat must never keep a Node process alive (missing in browsers/renderers).
  (t as { unref?: () => void }).unref?.();
  return t;
}
