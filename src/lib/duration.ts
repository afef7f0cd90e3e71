import { invalidOption } from './validate.js';

/** Seconds as a number, or a string such as `'30s'`, `'5m'`, `'1h'`. */
export type Duration = number | `${number}${'s' | 'm' | 'h' | 'd'}`;

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
    throw invalidOption(option, "a positive number of seconds or a string such as '30s', '5m', '1h' or '7d'", value);
  }
  return seconds;
}

/** Seconds in a duration option, or `fallback` when it is omitted. */
export function durationOr(value: unknown, fallback: number, option: string): number {
  return value === undefined ? fallback : parseDuration(value, option);
}
