/**
 * The WhatsApp template that carries our codes is an AUTHENTICATION template with the
 * "do not share" line, an expiry line and a copy-code button (R-E6), and Meta stops
 * trying to deliver it no later than the code expires (R-C2): a late message must never
 * carry a code that is already dead, nor promise more time than the code has.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { authenticationTemplateDefinition } from '../src/channels/whatsapp-template.js';

describe('authenticationTemplateDefinition', () => {
  test('the definition for a five-minute code', () => {
    expect(authenticationTemplateDefinition({ name: 'login_code', language: 'en_US', codeTtlSeconds: 300 })).toEqual({
      name: 'login_code',
      language: 'en_US',
      category: 'AUTHENTICATION',
      message_send_ttl_seconds: 300,
      components: [
        { type: 'BODY', add_security_recommendation: true },
        { type: 'FOOTER', code_expiration_minutes: 5 },
        { type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: 'Copy code' }] },
      ],
    });
  });

  test('for every allowed code ttl, delivery stops by the expiry and the expiry line never overstates it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 30, max: 600 }), (codeTtlSeconds) => {
        const definition = authenticationTemplateDefinition({ name: 'login_code', language: 'es', codeTtlSeconds });
        expect(definition.category).toBe('AUTHENTICATION');
        expect(definition.message_send_ttl_seconds).toBeLessThanOrEqual(codeTtlSeconds);
        expect(definition.message_send_ttl_seconds).toBeGreaterThanOrEqual(30);
        const minutes = definition.components[1].code_expiration_minutes;
        expect(Number.isInteger(minutes) && minutes >= 1 && minutes <= 90).toBe(true);
        if (codeTtlSeconds >= 60) expect(minutes * 60).toBeLessThanOrEqual(codeTtlSeconds);
      }),
    );
  });

  test('a shorter delivery window and another button label may be chosen', () => {
    const definition = authenticationTemplateDefinition({ name: 'pay_code', language: 'pt_BR', codeTtlSeconds: 600, messageSendTtlSeconds: 120, buttonText: 'Copiar código' });
    expect(definition.message_send_ttl_seconds).toBe(120);
    expect(definition.components[1].code_expiration_minutes).toBe(10);
    expect(definition.components[2].buttons[0].text).toBe('Copiar código');
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['a delivery window longer than the code', { messageSendTtlSeconds: 301 }, /`messageSendTtlSeconds` must be an integer from 30 to `codeTtlSeconds` \(300\)/],
    ['a delivery window under Meta minimum', { messageSendTtlSeconds: 10 }, /`messageSendTtlSeconds`/],
    ['a code ttl over ten minutes', { codeTtlSeconds: 601 }, /`codeTtlSeconds` must be .* from 30 to 600/],
    ['a code ttl in a string', { codeTtlSeconds: '5m' }, /`codeTtlSeconds`/],
    ['a template name with spaces', { name: 'login code' }, /`name` must be lower-case/],
    ['a BCP 47 language tag', { language: 'pt-BR' }, /`language` must be one Meta language code/],
    ['an empty button label', { buttonText: ' ' }, /`buttonText`/],
  ])('%s is refused', (_, change, expected) => {
    expect(() => authenticationTemplateDefinition({ name: 'login_code', language: 'en_US', codeTtlSeconds: 300, ...change } as never)).toThrow(expected);
  });
});
