/**
 * A strict parser for the `WWW-Authenticate` field (RFC 9110 §11.6.1, §11.2):
 *
 *   WWW-Authenticate = #challenge
 *   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param  = token BWS "=" BWS ( token / quoted-string )
 *
 * It throws on anything that does not follow the grammar, and on a parameter that
 * occurs twice in one challenge (§11.2: "each parameter name MUST only occur once"),
 * so a test that parses a header also proves the header is well formed.
 */
export interface AuthChallenge {
  /** As sent; schemes compare case-insensitively. */
  scheme: string;
  token68?: string;
  /** Lower-cased parameter names to their unquoted values. */
  params: Record<string, string>;
  /** Lower-cased names of the parameters whose value was a quoted-string. */
  quoted: Set<string>;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  let pos = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`WWW-Authenticate: ${what} at ${pos} in ${JSON.stringify(header)}`);
  };
  const peek = () => header[pos];
  const skipOws = () => {
    while (peek() === ' ' || peek() === '\t') pos++;
  };
  const readToken = (): string => {
    const start = pos;
    while (pos < header.length && TCHAR.test(header[pos]!)) pos++;
    return header.slice(start, pos);
  };
  const readQuoted = (): string => {
    if (peek() !== '"') fail('expected a quoted-string');
    pos++;
    let value = '';
    for (;;) {
      const char = header[pos];
      if (char === undefined) fail('unterminated quoted-string');
      if (char === '"') {
        pos++;
        return value;
      }
      if (char === '\\') {
        const next = header[pos + 1];
        if (next === undefined) fail('dangling quoted-pair');
        value += next;
        pos += 2;
        continue;
      }
      // qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (!/[\t \x21\x23-\x5B\x5D-\x7E\x80-\xFF]/.test(char!)) fail(`control character ${JSON.stringify(char)} in quoted-string`);
      value += char;
      pos++;
    }
  };
  /** True when an auth-param (`token BWS "="`, not token68 padding) starts at the current position. */
  const paramAhead = (): boolean => {
    const saved = pos;
    skipOws();
    const name = readToken();
    skipOws();
    const isParam = name !== '' && peek() === '=' && header[pos + 1] !== '=';
    pos = saved;
    return isParam;
  };

  const challenges: AuthChallenge[] = [];
  for (;;) {
    // Empty list elements are allowed (RFC 9110 §5.6.1).
    while (peek() === ',' || peek() === ' ' || peek() === '\t') pos++;
    if (pos >= header.length) break;
    const scheme = readToken();
    if (scheme === '') fail('expected an auth-scheme');
    const challenge: AuthChallenge = { scheme, params: {}, quoted: new Set() };
    challenges.push(challenge);
    if (pos >= header.length) break;
    if (peek() === ',') continue;
    if (peek() !== ' ') fail('expected SP after the auth-scheme');
    while (peek() === ' ') pos++;
    if (pos >= header.length) break;
    if (!paramAhead()) {
      // token68, or the next challenge after an empty one.
      const start = pos;
      while (pos < header.length && TOKEN68_CHAR.test(header[pos]!)) pos++;
      while (peek() === '=') pos++;
      if (pos === start) fail('expected token68 or auth-param');
      challenge.token68 = header.slice(start, pos);
      skipOws();
      if (pos < header.length && peek() !== ',') fail('junk after token68');
      continue;
    }
    for (;;) {
      skipOws();
      const name = readToken().toLowerCase();
      skipOws();
      if (peek() !== '=') fail('expected "="');
      pos++;
      skipOws();
      let value: string;
      if (peek() === '"') {
        value = readQuoted();
        challenge.quoted.add(name);
      } else {
        value = readToken();
        if (value === '') fail(`empty value for ${name}`);
      }
      if (name in challenge.params) fail(`parameter ${name} repeated`);
      challenge.params[name] = value;
      skipOws();
      if (pos >= header.length) break;
      if (peek() !== ',') fail('expected "," between auth-params');
      pos++;
      // After a comma: another auth-param of this challenge, or the next challenge.
      while (peek() === ',' || peek() === ' ' || peek() === '\t') pos++;
      if (!paramAhead()) break;
    }
  }
  if (challenges.length === 0) fail('no challenge');
  return challenges;
}
