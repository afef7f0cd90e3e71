import { createHash } from 'node:crypto';
import currencyCodes from 'currency-codes';
import { safeEqual } from './codes.js';
import { isStepUpError, stepUpError } from './errors.js';

/** A JSON value as it can appear in a transaction. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * The transaction a payment challenge is bound to: `id` (the record's identifier, required by
 * purposes that bind a transaction), amount, currency, payee, and any app fields.
 */
export type Transaction = { [key: string]: JsonValue };

const MAX_DEPTH = 8;
const MAX_CANONICAL_LENGTH = 16 * 1024;

/** What a purpose demands of its transactions beyond their normal form. */
export interface TransactionRules {
  /** `transaction.id` must be given: purposes that bind a transaction bind it to its record. */
  requireId?: boolean;
}

/**
 * Minor units of every ISO 4217 currency (the ISO list, as currency-codes publishes it),
 * without precious metals, the testing code and the other X codes that no payment is
 * made in; the X codes of real currencies (CFA and CFP francs, East Caribbean) stay.
 */
const MINOR_UNITS: ReadonlyMap<string, number> = new Map(
  currencyCodes.data
    .filter(({ code }) => !code.startsWith('X') || ['XAF', 'XCD', 'XCG', 'XOF', 'XPF'].includes(code))
    .map(({ code, digits }) => [code, digits]),
);

/** Minor units of an ISO 4217 currency code (`EUR` 2, `JPY` 0, `KWD` 3), or undefined for an unknown code. */
export function currencyMinorUnits(currency: string): number | undefined {
  return MINOR_UNITS.get(currency);
}

/**
 * The transaction in its normal form: `currency` upper-cased and checked against ISO 4217;
 * `amount` (a decimal string, or a number) written with exactly the currency's minor units
 * (`"10"`, `"10.0"`, `10` and `"10.00"` EUR are all `"10.00"`; `"10.001"` EUR is refused);
 * `payee` a string; `id`, the identifier of the record the transaction is (the pending
 * payment's), a non-empty string, required with `{ requireId: true }`; every string
 * NFC-normalized. Other fields are the app's and kept as given.
 *
 * @example
 * normalizeTransaction({ id: 'pay_8f2k', amount: 10, currency: 'eur', payee: 'Bob' }, { requireId: true });
 * // { id: 'pay_8f2k', amount: '10.00', currency: 'EUR', payee: 'Bob' }
 */
export function normalizeTransaction(transaction: unknown, rules: TransactionRules = {}): Transaction {
  if (!isPlainObject(transaction) || Object.keys(transaction).length === 0) {
    throw stepUpError('invalid_request', {}, 'The transaction must be a non-empty object.');
  }
  const normal: Transaction = { ...transaction };
  const { amount, currency, payee, id } = transaction;
  // Two pending payments of the same amount to the same payee differ only by their record:
  // without its id, a token approved for one would execute the other.
  if (id === undefined ? rules.requireId === true : typeof id !== 'string' || id.trim() === '') {
    throw stepUpError('invalid_request', {}, 'The transaction needs `transaction.id`, the identifier of the record it approves, as a non-empty string.');
  }
  if (currency !== undefined) {
    if (typeof currency !== 'string' || currencyMinorUnits(currency.toUpperCase()) === undefined) {
      throw stepUpError('invalid_request', {}, 'The transaction currency must be an ISO 4217 code such as EUR.');
    }
    normal.currency = currency.toUpperCase();
  }
  if (amount !== undefined) {
    if (normal.currency === undefined) throw stepUpError('invalid_request', {}, 'A transaction amount needs its currency.');
    normal.amount = normalizeAmount(amount, normal.currency as string);
  }
  if (payee !== undefined && (typeof payee !== 'string' || payee.trim() === '')) {
    throw stepUpError('invalid_request', {}, 'The transaction payee must be a non-empty string.');
  }
  return normal;
}

/** A non-negative decimal with exactly the currency's minor units, exact (no floating point). */
function normalizeAmount(amount: JsonValue, currency: string): string {
  const text = typeof amount === 'number' && Number.isFinite(amount) ? String(amount) : amount;
  const match = typeof text === 'string' ? /^(\d{1,18})(?:\.(\d{1,18}))?$/.exec(text) : null;
  if (!match) {
    throw stepUpError('invalid_request', {}, 'The transaction amount must be a decimal such as "10.00", without sign, exponent or separators.');
  }
  const digits = currencyMinorUnits(currency)!;
  const whole = match[1]!.replace(/^0+(?=\d)/, '');
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > digits) {
    throw stepUpError('invalid_request', {}, `The transaction amount has more decimals than ${currency} allows (${digits}).`);
  }
  return digits === 0 ? whole : `${whole}.${fraction.padEnd(digits, '0')}`;
}

/**
 * Canonical JSON of a transaction's normal form, in the manner of RFC 8785: object keys
 * sorted by UTF-16 code units (a fixed order), no white space, strings NFC-normalized,
 * numbers in ECMAScript form. Two transactions that mean the same thing hash the same; a
 * change of any field, or an added or removed field, changes the hash.
 */
export function canonicalTransaction(transaction: unknown, rules: TransactionRules = {}): string {
  const canonical = canonicalize(normalizeTransaction(transaction, rules), 0);
  if (canonical.length > MAX_CANONICAL_LENGTH) {
    throw stepUpError('invalid_request', {}, 'The transaction is too large.');
  }
  return canonical;
}

/**
 * Whether `transaction` hashes to `txn` (a token's claim, a challenge's hash), in constant
 * time. A transaction that breaks `rules` (no `id` where one is required) matches nothing.
 */
export function transactionMatches(transaction: unknown, txn: string | undefined, rules: TransactionRules = {}): boolean {
  if (txn === undefined || txn === '') return false;
  try {
    return safeEqual(hashTransaction(transaction as Transaction, rules), txn);
  } catch (error) {
    // A transaction that cannot be canonicalized cannot be the one that was approved.
    if (isStepUpError(error)) return false;
    throw error;
  }
}

/** base64url(SHA-256(canonical form)): the `txn` claim. */
export function hashTransaction(transaction: Transaction, rules: TransactionRules = {}): string {
  return createHash('sha256').update(canonicalTransaction(transaction, rules)).digest('base64url');
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
