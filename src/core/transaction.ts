import { createHash } from 'node:crypto';
import { stepUpError } from './errors.js';
import type { JsonValue, Transaction } from './types.js';

const MAX_DEPTH = 8;
const MAX_CANONICAL_LENGTH = 16 * 1024;

/**
 * Canonical JSON of a transaction in the manner of RFC 8785: object keys sorted by
 * UTF-16 code units, no white space, strings NFC-normalized, numbers in ECMAScript
 * form. Two transactions that mean the same thing hash the same; any change of a
 * field, added or removed field changes the hash.
 */
export function canonicalTransaction(transaction: unknown): string {
  if (!isPlainObject(transaction) || Object.keys(transaction).length === 0) {
    throw stepUpError('invalid_request', {}, 'The transaction must be a non-empty object.');
  }
  const canonical = canonicalize(transaction, 0);
  if (canonical.length > MAX_CANONICAL_LENGTH) {
    throw stepUpError('invalid_request', {}, 'The transaction is too large.');
  }
  return canonical;
}

/** base64url(SHA-256(canonical form)): the `txn` claim. */
export function hashTransaction(transaction: Transaction): string {
  return createHash('sha256').update(canonicalTransaction(transaction)).digest('base64url');
}

function canonicalize(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw stepUpError('invalid_request', {}, 'The transaction is nested too deeply.');
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'string') return JSON.stringify(value.normalize('NFC'));
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw stepUpError('invalid_request', {}, 'Transaction numbers must be finite.');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalize(item, depth + 1)).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .map((key) => [key.normalize('NFC'), key] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (let i = 1; i < keys.length; i++) {
      if (keys[i]![0] === keys[i - 1]![0]) throw stepUpError('invalid_request', {}, 'The transaction has duplicate fields.');
    }
    return `{${keys.map(([normalized, key]) => `${JSON.stringify(normalized)}:${canonicalize(value[key], depth + 1)}`).join(',')}}`;
  }
  throw stepUpError('invalid_request', {}, 'The transaction may hold only strings, numbers, booleans, null, arrays and objects.');
}

function isPlainObject(value: unknown): value is { [key: string]: JsonValue } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
