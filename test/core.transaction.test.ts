/**
 * The canonical transaction form behind the `txn` claim (issue #4, R-F2, R-F7): amounts
 * in the currency's ISO 4217 minor units, currency codes checked, strings NFC, keys in
 * one fixed order, and every extra field of the app covered by the hash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalTransaction, currencyMinorUnits, hashTransaction, isStepUpError, normalizeTransaction } from '../src/index.js';

function refused(transaction: unknown): string {
  try {
    canonicalTransaction(transaction);
  } catch (error) {
    expect(isStepUpError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('invalid_request');
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(transaction)}`);
}

describe('canonical transaction', () => {
  it('writes the amount with exactly the minor units of its currency', () => {
    for (const amount of ['10', '10.0', '10.00', '10.000', '010.00', 10, 10.0]) {
      expect(normalizeTransaction({ amount, currency: 'EUR' }).amount, String(amount)).toBe('10.00');
    }
    expect(normalizeTransaction({ amount: '1500', currency: 'JPY' }).amount).toBe('1500');
    expect(normalizeTransaction({ amount: '1500.0', currency: 'JPY' }).amount).toBe('1500');
    expect(normalizeTransaction({ amount: '1.5', currency: 'KWD' }).amount).toBe('1.500');
    expect(normalizeTransaction({ amount: '0.5', currency: 'EUR' }).amount).toBe('0.50');
    expect(normalizeTransaction({ amount: '999999999999999999.99', currency: 'USD' }).amount).toBe('999999999999999999.99');
  });

  it('refuses more decimals than the currency has, and anything that is not a plain decimal', () => {
    expect(refused({ amount: '10.001', currency: 'EUR' })).toMatch(/more decimals than EUR allows \(2\)/);
    expect(refused({ amount: '10.5', currency: 'JPY' })).toMatch(/JPY allows \(0\)/);
    expect(refused({ amount: 0.1 + 0.2, currency: 'EUR' })).toMatch(/more decimals/);
    for (const amount of ['-10.00', '+10', '1e3', '1,000.00', '10,00', ' 10.00', '10.', '.5', '', 'NaN', Number.NaN, Infinity, 1e21, -1, null, true, {}, ['10']]) {
      expect(refused({ amount, currency: 'EUR' }), JSON.stringify(amount)).toMatch(/decimal such as "10.00"/);
    }
  });

  it('upper-cases the currency and accepts only ISO 4217 codes in which payments are made', () => {
    expect(normalizeTransaction({ amount: '1', currency: 'eur' }).currency).toBe('EUR');
    expect(normalizeTransaction({ amount: '1', currency: 'XOF' }).currency).toBe('XOF');
    for (const currency of ['EURO', 'ABC', 'XAU', 'XTS', 'XXX', '', 'E', 978, null]) {
      expect(refused({ amount: '1', currency }), String(currency)).toMatch(/ISO 4217 code such as EUR/);
    }
    expect(refused({ amount: '1' })).toMatch(/amount needs its currency/);
    expect(currencyMinorUnits('EUR')).toBe(2);
    expect(currencyMinorUnits('JPY')).toBe(0);
    expect(currencyMinorUnits('BHD')).toBe(3);
    expect(currencyMinorUnits('XAU')).toBeUndefined();
  });

  it('NFC-normalizes the payee and every other string; a payee must be a non-empty string', () => {
    const composed = 'Caf\u00e9 Ñandú';
    const decomposed = composed.normalize('NFD');
    expect(decomposed).not.toBe(composed);
    expect(hashTransaction({ amount: '5', currency: 'EUR', payee: decomposed, memo: decomposed })).toBe(
      hashTransaction({ amount: '5', currency: 'EUR', payee: composed, memo: composed }),
    );
    for (const payee of ['', '   ', 42, null]) expect(refused({ amount: '1', currency: 'EUR', payee })).toMatch(/payee must be a non-empty string/);
  });

  it('puts the keys in one fixed order (sorted), with no white space', () => {
    expect(canonicalTransaction({ payee: 'ACME', currency: 'eur', amount: 10, reference: 'INV-7' })).toBe(
      '{"amount":"10.00","currency":"EUR","payee":"ACME","reference":"INV-7"}',
    );
    expect(hashTransaction({ payee: 'ACME', amount: '10', currency: 'EUR' })).toBe(hashTransaction({ amount: '10.00', currency: 'EUR', payee: 'ACME' }));
    expect(hashTransaction({ amount: '10.00', currency: 'EUR', payee: 'ACME' })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('covers extra fields: adding, removing or changing any one changes the hash', () => {
    const base = { amount: '10.00', currency: 'EUR', payee: 'ACME', reference: 'INV-7', meta: { channel: 'web', items: [1, 2] } };
    const variants = [
      { ...base, amount: '10.01' },
      { ...base, currency: 'USD' },
      { ...base, payee: 'ACME.' },
      { ...base, reference: 'INV-8' },
      { ...base, meta: { channel: 'web', items: [2, 1] } },
      { ...base, extra: null },
      (({ reference: _r, ...rest }) => rest)(base),
    ];
    const hashes = new Set([base, ...variants].map((transaction) => hashTransaction(transaction)));
    expect(hashes.size).toBe(variants.length + 1);
  });

  it('R-F7 a batch is covered whole: the total and every payee; removing one payee changes the hash', () => {
    const batch = { amount: '300.00', currency: 'EUR', payee: 'batch:2026-11-29', payees: [{ iban: 'ES91 2100', amount: '100.00' }, { iban: 'DE89 3704', amount: '200.00' }] };
    const smaller = { ...batch, payees: batch.payees.slice(0, 1) };
    expect(hashTransaction(smaller)).not.toBe(hashTransaction(batch));
  });

  it('two amounts hash the same exactly when they are the same number of minor units (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.nat({ max: 3 }), (a, b, zeros) => {
        const write = (cents: bigint) => `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}${'0'.repeat(zeros)}`;
        const same = hashTransaction({ amount: write(a), currency: 'EUR' }) === hashTransaction({ amount: write(b), currency: 'EUR' });
        return same === (a === b);
      }),
    );
  });
});
