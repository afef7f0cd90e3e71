import type { Duration } from './types.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;

/**
 * Seconds in a duration option. `option` names the option in the error, which says
 * what was received and what is accepted.
 */
export function parseDuration(value: unknown, option: string): number {
  let seconds: number | undefined;
  if (typeof value === 'number' && Number.isFinite(value)) seconds = value;
  if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (match) seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  }
  if (seconds === undefined || seconds <= 0) {
    throw new TypeError(
      `\`${option}\` must be a positive number of seconds or a string such as '30s', '5m', '1h' or '7d' (received ${describe(value)}).`,
    );
  }
  return seconds;
}

/** A short, safe description of a received option value for error messages (never the value of a secret). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

export function durationOr(value: Duration | undefined, fallback: number, option: string): number {
  return value === undefined ? fallback : parseDuration(value, option);
}
