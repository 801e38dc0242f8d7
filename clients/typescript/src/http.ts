/**
 * The one place that talks HTTP. It never throws for what the network does: an unreachable
 * server is an outcome the caller decides about (fall back to the stored token, or say so).
 * Request bodies hold the license key, so nothing here ever puts a body in a message.
 */

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type HttpOutcome =
  | {
      kind: "answer";
      status: number;
      /** The JSON object answered, or null when the body was not a JSON object. */
      body: Record<string, unknown> | null;
      /** `Retry-After` in seconds, when the server sent one. */
      retryAfterSecs: number | null;
    }
  | {
      kind: "unreachable";
      /** What went wrong, for the app's logs (no request content). */
      error: string;
    };

export interface HttpOptions {
  fetch: FetchLike;
  baseUrl: string;
  timeoutMs: number;
  /** For `Retry-After` given as an HTTP date. Milliseconds since the epoch. */
  now: () => number;
}

export async function request(
  options: HttpOptions,
  method: "GET" | "POST",
  path: string,
  body?: Record<string, unknown>,
): Promise<HttpOutcome> {
  const url = options.baseUrl.replace(/\/+$/, "") + path;
  const init: RequestInit = {
    method,
    headers: { accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
    // The timeout covers the whole exchange, body included: a server that stalls mid-answer is
    // as unreachable as one that never answers.
    signal: AbortSignal.timeout(options.timeoutMs),
  };
  if (body) init.body = JSON.stringify(body);
  try {
    const response = await options.fetch(url, init);
    const text = await response.text();
    return {
      kind: "answer",
      status: response.status,
      body: parseObject(text),
      retryAfterSecs: parseRetryAfter(response.headers.get("retry-after"), options.now()),
    };
  } catch (e) {
    return { kind: "unreachable", error: describe(e, options.timeoutMs) };
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** `Retry-After` as whole seconds: either delta-seconds or an HTTP date (RFC 9110). */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/** A fetch failure in words: undici hides the useful part (ECONNREFUSED...) in `cause`. */
function describe(e: unknown, timeoutMs: number): string {
  if (e instanceof Error) {
    if (e.name === "TimeoutError" || e.name === "AbortError") {
      return `no answer within ${timeoutMs} ms`;
    }
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return `${e.message}: ${code ?? cause.message}`;
    }
    return e.message;
  }
  return String(e);
}
