/**
 * The free text that SMS, RCS and the outbox carry (issue #3, R-E9): localized, with the
 * brand, the code, the minutes until expiry, a do-not-share warning and, with
 * `webOtpDomain`, the origin-bound one-time-code line that browsers and Android read.
 * Checked through the service (what the outbox received) and on renderMessage itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMessage } from '../src/core/messages.js';
import { fakeClock, makeStepUp, PHONE, redisFixture, SUBJECT, type RedisFixture } from './core.fixtures.js';

let redis: RedisFixture;
beforeAll(async () => {
  redis = await redisFixture('messages');
});
afterAll(async () => {
  await redis.close();
});

const base = { brand: 'Acme', purpose: 'login', code: '123456', ttlSeconds: 300, locale: 'en', webOtpDomain: undefined };

async function sentText(options: Parameters<typeof makeStepUp>[0], start: { purpose?: string; locale?: string } = {}) {
  const h = makeStepUp(options);
  const view = await h.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: start.purpose ?? 'login', ...(start.locale ? { locale: start.locale } : {}) });
  const message = h.outbox.messages().find((m) => m.challengeId === view.challengeId)!;
  return { text: message.text, code: message.code };
}

describe('message text', () => {
  it('R-E9 en, es and pt-BR each name the brand, the purpose, the code, the minutes and warn not to share', () => {
    expect(renderMessage(base)).toBe('Acme: your sign-in code is 123456. It expires in 5 minutes. Do not share it with anyone.');
    expect(renderMessage({ ...base, locale: 'es', purpose: 'payment' })).toBe(
      'Acme: el código para aprobar tu pago es 123456. Caduca en 5 minutos. No lo compartas con nadie.',
    );
    expect(renderMessage({ ...base, locale: 'pt-BR', purpose: 'password-reset' })).toBe(
      'Acme: o código para redefinir sua senha é 123456. Ele expira em 5 minutos. Não o compartilhe com ninguém.',
    );
    expect(renderMessage({ ...base, purpose: 'export-data' })).toBe(
      'Acme: your verification code (export-data) is 123456. It expires in 5 minutes. Do not share it with anyone.',
    );
  });

  it('picks the language of a regional tag and falls back to English', () => {
    expect(renderMessage({ ...base, locale: 'es-MX' })).toContain('tu código para iniciar sesión es 123456');
    expect(renderMessage({ ...base, locale: 'pt' })).toContain('seu código para entrar é 123456');
    expect(renderMessage({ ...base, locale: 'pt-PT' })).toContain('seu código para entrar é 123456');
    expect(renderMessage({ ...base, locale: 'fr' })).toContain('your sign-in code is 123456');
  });

  it('never states a longer life than the code has: whole minutes, rounded down, at least one', () => {
    expect(renderMessage({ ...base, ttlSeconds: 60 })).toContain('It expires in 1 minute.');
    expect(renderMessage({ ...base, ttlSeconds: 119 })).toContain('It expires in 1 minute.');
    expect(renderMessage({ ...base, ttlSeconds: 599 })).toContain('It expires in 9 minutes.');
    expect(renderMessage({ ...base, ttlSeconds: 20 })).toContain('It expires in 1 minute.');
  });

  it('ends with "@domain #code" on a line of its own when webOtpDomain is set, and not otherwise', () => {
    const text = renderMessage({ ...base, webOtpDomain: 'app.example.com' });
    expect(text.split('\n').at(-1)).toBe('@app.example.com #123456');
    expect(text.split('\n').at(-2)).toBe('');
    expect(renderMessage(base)).not.toContain('@');
  });

  it('does not expand placeholders that a brand or a purpose carries', () => {
    const text = renderMessage({ ...base, brand: '{code} Bank', purpose: '{brand}' });
    expect(text).toBe('{code} Bank: your verification code ({brand}) is 123456. It expires in 5 minutes. Do not share it with anyone.');
  });

  it('the service sends it in the challenge locale, with the brand option and the code it stored', async () => {
    const { text, code } = await sentText({ brand: 'Demo Bank', webOtpDomain: 'bank.example' }, { locale: 'es' });
    expect(text).toBe(`Demo Bank: tu código para iniciar sesión es ${code}. Caduca en 5 minutos. No lo compartas con nadie.\n\n@bank.example #${code}`);
  });

  it('refuses a webOtpDomain with a scheme, a port, a path or capitals, and an empty or overlong brand', () => {
    for (const webOtpDomain of ['https://app.example.com', 'app.example.com:443', 'app.example.com/otp', 'App.Example.com', 'localhost', '']) {
      expect(() => makeStepUp({ webOtpDomain }), webOtpDomain).toThrow(/webOtpDomain.*host name such as/);
    }
    expect(() => makeStepUp({ brand: ' ' })).toThrow(/brand.*1 to 40 characters/);
    expect(() => makeStepUp({ brand: 'x'.repeat(41) })).toThrow(/brand.*1 to 40 characters/);
  });

  it('R-E7 a payment states amount, currency and payee in the user locale (issue #4)', () => {
    const payment = { ...base, purpose: 'payment', transaction: { amount: '10.00', currency: 'EUR', payee: 'ACME' } };
    expect(renderMessage(payment)).toBe('Acme: code 123456 to pay EUR 10.00 to ACME. It expires in 5 minutes. Do not share it with anyone.');
    expect(renderMessage({ ...payment, locale: 'es' })).toBe('Acme: código 123456 para pagar 10,00 EUR a ACME. Caduca en 5 minutos. No lo compartas con nadie.');
    expect(renderMessage({ ...payment, locale: 'pt-BR' })).toBe('Acme: código 123456 para pagar EUR 10,00 a ACME. Ele expira em 5 minutos. Não o compartilhe com ninguém.');
    expect(renderMessage({ ...payment, transaction: { amount: '1500', currency: 'JPY' } })).toBe('Acme: code 123456 to pay JPY 1,500. It expires in 5 minutes. Do not share it with anyone.');
    expect(renderMessage({ ...payment, transaction: { amount: '1.500', currency: 'KWD', payee: 'Souq' } })).toContain('to pay KWD 1.500 to Souq.');
  });

  it('states large amounts exactly, without floating point, and with plain spaces only', () => {
    const text = renderMessage({ ...base, purpose: 'payment', locale: 'es', transaction: { amount: '999999999999999999.99', currency: 'EUR', payee: 'X' } });
    expect(text).toContain('999.999.999.999.999.999,99 EUR');
    expect(text).not.toMatch(/[\u00a0\u202f]/);
  });

  it('keeps a payee to one plain line of at most 60 characters: no controls, bidi overrides or placeholders expanded', () => {
    const payment = { ...base, purpose: 'payment', transaction: { amount: '5.00', currency: 'EUR', payee: 'Evil\nCode 000000\u202e\u200fCorp {code}' } };
    const text = renderMessage(payment);
    expect(text.split('\n')).toHaveLength(1);
    expect(text).toContain('to Evil Code 000000 Corp {code}.');
    expect(text).not.toMatch(/[\u202e\u200f]/);
    const long = renderMessage({ ...payment, transaction: { amount: '5.00', currency: 'EUR', payee: 'A'.repeat(100) } });
    expect(long).toContain(`to ${'A'.repeat(59)}….`);
  });

  describe.each(['memory', 'redis'] as const)('R-F6 payment messages from the %s store', (kind) => {
    it('state the stored payment on the first send and on a resend, in the challenge locale; the store holds it sealed', async () => {
      const clock = fakeClock();
      const h = makeStepUp({ clock, ...(kind === 'redis' ? { store: redis.store } : {}) });
      // Spanish groups thousands from five digits on (CLDR): 1234,50 but 12.345,00.
      const transaction = { id: 'pay_1', amount: 1234.5, currency: 'eur', payee: 'Electricity Co', reference: 'INV-7' };
      const view = await h.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'payment', transaction, locale: 'es' });
      const first = h.outbox.messages().find((m) => m.challengeId === view.challengeId)!;
      expect(first.text).toBe(`Your app: código ${first.code} para pagar 1234,50 EUR a Electricity Co. Caduca en 5 minutos. No lo compartas con nadie.`);
      clock.advance(61_000);
      await h.stepup.resend(view.challengeId, { subject: SUBJECT });
      const again = h.outbox.messages().filter((m) => m.challengeId === view.challengeId).at(-1)!;
      expect(again.code).not.toBe(first.code);
      expect(again.text).toContain(`código ${again.code} para pagar 1234,50 EUR a Electricity Co.`);
      if (kind === 'redis') {
        const values = async (key: string) => ((await redis.client.type(key)) === 'hash' ? redis.client.hgetall(key) : redis.client.dump(key));
        const dump = JSON.stringify(await Promise.all((await redis.keys()).map(values)));
        for (const secret of ['Electricity', '1234', 'INV-7']) expect(dump).not.toContain(secret);
      }
    });
  });
});
