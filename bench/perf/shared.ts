/**
 * What the bench's driver (bench/perf.ts) and its server process (bench/perf/server.ts)
 * agree on: secrets, claims, the messages they exchange, and the numbers, users and IPs
 * that keep every request under the default send limits.
 */
export type Framework = 'express' | 'koa';

// Made with `openssl rand -base64 32`: createStepUp refuses secrets that cannot be random.
export const TOKEN_SECRET = 'ZeAi2UF+xDv+pvCRr4vuktswXGG1YFTiVaHbstUHK2Q=';
export const PEPPER = 'PAeao4HZKbXRrG++rEGPneDZmkLLXwF0EDkhxfGqDWo=';
/** Key of the floor's code digests (the driver loads floor challenges with the same HMAC). */
export const FLOOR_DIGEST_SECRET = 'bench-floor-digest-0123456789abcdef-0123456789';
export const ISSUER = 'https://bench.example';
export const AUDIENCE = 'https://bench.example/api';
/** The user every guard request is for (the tokens' `sub`). */
export const GUARD_USER = 'guard-user';

/** One prepared request: the path, the user it is for and its body. */
export interface PreparedRequest {
  path: string;
  user: string;
  body: string;
}

/** The servers one process runs, by role, with their ports. */
export type Role = 'ours' | 'floor' | 'passport' | 'expressJwt' | 'oursLarge';
export type Ports = Partial<Record<Role, number>>;

export type ToServer =
  | { type: 'prepare'; id: number; role: 'ours' | 'oursLarge'; count: number; first: number }
  | { type: 'count'; id: number; token: string; onceTokens: string[]; first: number }
  | { type: 'cpu'; id: number }
  | { type: 'stop' };

export type FromServer =
  | { type: 'ready'; ports: Ports; pid: number }
  | { type: 'prepared'; id: number; items: PreparedRequest[] }
  | { type: 'counted'; id: number; trips: Record<string, { roundTrips: number; commands: number }> }
  | { type: 'cpu'; id: number; userMicros: number; systemMicros: number; gcMicros: number }
  | { type: 'error'; id: number; message: string };

const UK_MOBILE_RANGES = ['5', '8'];

/**
 * The n-th of many distinct UK mobile numbers (+44 75.. and 78..). Neighbouring n land in
 * different number ranges (the E.164 number without its last 4 digits), so the default
 * per-number, per-day and per-range send limits never bite: 20,000 ranges, each reused
 * only every 20,000 numbers.
 */
export function phoneOf(n: number): string {
  const range = UK_MOBILE_RANGES[n % 2]!;
  const middle = String(Math.floor(n / 2) % 10_000).padStart(4, '0');
  const last = String(Math.floor(n / 20_000) % 10_000).padStart(4, '0');
  return `+447${range}${middle}${last}`;
}

/** A distinct client address per request (under the default 20 sends per IP per 15 minutes). */
export function ipOf(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** Users look like `u<n>`; the server derives the number on file from n. */
export const userOf = (n: number) => `u${n}`;
export const numberOfUser = (user: string) => Number(user.slice(1));
