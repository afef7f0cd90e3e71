/**
 * The RFC 9110 challenge parser the HTTP scenarios rely on: it must read what the
 * grammar allows and refuse what it does not, or the guard's headers are not really checked.
 */
import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate } from './support/www-authenticate.js';

describe('parseWwwAuthenticate (RFC 9110 §11.6.1)', () => {
  it('reads one challenge with quoted and token parameters', () => {
    const [challenge, ...rest] = parseWwwAuthenticate('Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age=300');
    expect(rest).toHaveLength(0);
    expect(challenge!.scheme).toBe('Bearer');
    expect(challenge!.params).toEqual({ error: 'insufficient_user_authentication', error_description: 'A more recent authentication is required', max_age: '300' });
    expect([...challenge!.quoted].sort()).toEqual(['error', 'error_description']);
  });

  it('reads several challenges, token68 and quoted-pairs', () => {
    const challenges = parseWwwAuthenticate('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", Token abc+/def==');
    expect(challenges.map((c) => c.scheme)).toEqual(['Newauth', 'Basic', 'Token']);
    expect(challenges[0]!.params).toEqual({ realm: 'apps', type: '1', title: 'Login to "apps"' });
    expect(challenges[1]!.params).toEqual({ realm: 'simple' });
    expect(challenges[2]!.token68).toBe('abc+/def==');
  });

  it('lower-cases parameter names and allows spaces around "="', () => {
    expect(parseWwwAuthenticate('StepUp Error = "x" ,ACR_values="a b"')[0]!.params).toEqual({ error: 'x', acr_values: 'a b' });
  });

  it.each([
    ['', 'no challenge'],
    ['Bearer error="x', 'unterminated'],
    ['Bearer error="x", error="y"', 'repeated'],
    ['Bearer error="a\r\nb"', 'control'],
    ['Bearer error=', 'empty value'],
    ['Bearer error="x" max_age="1"', 'missing comma'],
    ['"Bearer"', 'no scheme'],
  ])('refuses %j (%s)', (header) => {
    expect(() => parseWwwAuthenticate(header)).toThrow(SyntaxError);
  });
});
