/**
 * The token, attacked (issue #7, SECURITY-REQUIREMENTS B and L, DESIGN §5-§6): one table of
 * attacking tokens and requests, run over HTTP by http.express.test.ts and http.koa.test.ts
 * against an HS256, an ES256 and an RS256 service (the harness's `tokenAlgorithm`). Each row
 * names the route, builds the token (or the whole request) and states the exact
 * `WWW-Authenticate` error and JSON `reason` of the refusal, or that the request passes: the
 * control rows, forged with the service's own key, prove that a refusal is for the one change.
 *
 * Tokens are forged with fresh `jti`s from claim templates the service issued itself, at the
 * harness clock (which never moves here), so rows share one service and stay independent.
 * After every row nothing reached `onError`; after the `jku`/`x5u`/`jwk` rows the attacker's
 * key server received no request.
 *
 * Not repeated here, already asserted over HTTP by http.scenarios.ts on both stores:
 * R-L1 the same payment token twice ('payment flow') and 50 concurrent uses of one token
 * ('concurrency'), the password-reset token's single use, R-B10's changed request bodies and
 * the non-burning of a refused one-time token. Here: replay of a token whose signature was
 * re-encoded or malleated (the `jti` is what is spent, not the text), alone and concurrently.
 */
import { createHmac, generateKeyPairSync, randomBytes, sign, constants, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Response } from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashTransaction } from '../src/index.js';
import { es256, forge, hs256, rs256, unsigned, type Signer } from './core.fixtures.js';
import { createClient, expectRefusal, type Client, type Who } from './support/http-client.js';
import type { HarnessFactory, HarnessTokenAlgorithm, HttpHarness } from './support/http-harness.js';

type Alg = HarnessTokenAlgorithm;
type RouteName = 'profile' | 'payment' | 'reset';
type Refusal = { error: 'invalid_token' | 'insufficient_user_authentication'; reason: string };
type Expected = Refusal | 'pass';

const SERVICES: readonly Alg[] = ['HS256', 'ES256', 'RS256'];
const PAYMENT = { id: 'pay_1', amount: 125.5, currency: 'EUR', payee: 'ES9121000418450200051332' };
const TOLERANCE = 30;
const MAX_AGE = 300;

const ROUTES: Record<RouteName, { purpose: string; maxAge?: number; send: (api: Client, token: string | undefined, who?: Who) => Promise<Response> }> = {
  profile: { purpose: 'login', maxAge: MAX_AGE, send: (api, token, who) => api.get('/account/profile', token, who) },
  payment: { purpose: 'payment', maxAge: MAX_AGE, send: (api, token, who) => api.post('/payments', PAYMENT, token, who) },
  // A from-token route: no session, the token's own subject.
  reset: { purpose: 'password-reset', send: (api, token) => api.post('/password-reset', {}, token, { user: null }) },
};

const invalid = (reason = 'invalid'): Refusal => ({ error: 'invalid_token', reason });
const insufficient = (reason: string): Refusal => ({ error: 'insufficient_user_authentication', reason });

// ---- keys and signers --------------------------------------------------------------

const hmac = (hash: string, secret: string | Buffer): Signer => (input) => createHmac(hash, secret).update(input).digest('base64url');
const ecdsa = (hash: string, key: KeyObject): Signer => (input) => sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
const pkcs1 = (hash: string, key: KeyObject): Signer => (input) => sign(hash, Buffer.from(input), key).toString('base64url');
const pss = (key: KeyObject): Signer => (input) => sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64url');
const eddsa = (key: KeyObject): Signer => (input) => sign(null, Buffer.from(input), key).toString('base64url');

type KeyPair = { privateKey: KeyObject; publicKey: KeyObject };

/** Keys the service has never seen; made once, when first needed (RSA takes a while). */
let strangers: { ec: KeyPair; rsa: KeyPair; ed: KeyPair; secret: Buffer } | undefined;
function strangerKeys(): NonNullable<typeof strangers> {
  strangers ??= {
    ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ed: generateKeyPairSync('ed25519'),
    secret: randomBytes(32),
  };
  return strangers;
}

/** The same signature bytes in other text: the last base64url character carries spare bits. */
function reencodeSignature(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token.at(-1)!);
  return `${token.slice(0, -1)}${alphabet[last ^ 1]}`;
}

const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** Another valid ECDSA signature of the same input: (r, s) → (r, n − s). */
function malleateEcdsa(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`);
  const flipped = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
  return `${header}.${payload}.${Buffer.concat([bytes.subarray(0, 32), flipped]).toString('base64url')}`;
}

// ---- the attacker's key server (jku / x5u targets) -----------------------------------

interface Attacker {
  /** Where the attacker's JWKS and certificate are served. */
  jku: string;
  x5u: string;
  /** Requests the server received: must stay empty. */
  requests: string[];
  /** The attacker's key in the service's key family, published by the server and embedded as `jwk`. */
  jwk: Record<string, unknown>;
  signer: Signer;
  /** The algorithm the attacker signs with (the service's own: only the key differs). */
  alg: Alg;
  close(): Promise<void>;
}

async function startAttacker(alg: Alg): Promise<Attacker> {
  const keys = strangerKeys();
  const pair = alg === 'ES256' ? keys.ec : keys.rsa;
  const jwk: Record<string, unknown> = alg === 'HS256' ? { kty: 'oct', k: keys.secret.toString('base64url') } : { ...pair.publicKey.export({ format: 'jwk' }) };
  const signer = alg === 'HS256' ? hs256(keys.secret) : alg === 'ES256' ? es256(pair.privateKey) : rs256(pair.privateKey);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('Content-Type', 'application/json');
    // If anyone followed the header, this would hand them the attacker's key under every kid.
    res.end(JSON.stringify({ keys: ['stepup-1', 'attacker'].map((kid) => ({ ...jwk, kid, alg, use: 'sig' })) }));
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jku: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    x5u: `http://127.0.0.1:${port}/cert.pem`,
    requests,
    jwk,
    signer,
    alg,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- the table -----------------------------------------------------------------------

interface Kit {
  h: HttpHarness;
  api: Client;
  alg: Alg;
  /** The harness clock in whole seconds. */
  now: number;
  /** The service's own signature (its key, its algorithm). */
  own: Signer;
  attacker: Attacker;
  /** Claims as the service issues them for the route's purpose to alice in sess-alice, with a fresh jti and cid, then `overrides` (undefined leaves a claim out). */
  claims(route: RouteName, overrides?: Record<string, unknown>): Record<string, unknown>;
  /** A compact JWS with the service's header ({ alg, typ, kid }) changed by `header` (undefined leaves a field out), signed by `signer` (default `own`). */
  token(claims: Record<string, unknown>, header?: Record<string, unknown>, signer?: Signer): string;
}

interface Row {
  name: string;
  route: RouteName;
  /** The attacking token, sent in `Step-Up-Token` by alice from sess-alice (by nobody on the reset route). */
  token?: (k: Kit) => string | Promise<string>;
  /** Or the whole request, for rows about where the token travels or who presents it. */
  request?: (k: Kit) => Promise<Response>;
  expect: Expected;
  /** Checked after the answer. */
  after?: (k: Kit) => Promise<void>;
}

const REQUIRED = ['iss', 'aud', 'sub', 'iat', 'exp', 'auth_time', 'jti', 'acr', 'amr', 'purpose', 'cid', 'chn'] as const;

const pemOf = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

/** The service's public key as a key-confusion forger feeds it to HMAC (HS256). */
function publicKeyForms(alg: Alg): [string, (key: KeyObject) => string | Buffer][] {
  const forms: [string, (key: KeyObject) => string | Buffer][] = [
    ['its SPKI PEM', pemOf],
    ['its PEM without the final newline', (key) => pemOf(key).trim()],
    ['its SPKI DER', (key) => key.export({ type: 'spki', format: 'der' })],
    ['its JWK as JSON', (key) => JSON.stringify(key.export({ format: 'jwk' }))],
  ];
  if (alg === 'RS256') forms.push(['its PKCS#1 PEM', (key) => key.export({ type: 'pkcs1', format: 'pem' }).toString()]);
  return forms;
}

/** Algorithms the service is not configured for, each signed as well as an attacker can: with the service's own secret or private key where that applies. */
function unconfigured(alg: Alg): [string, (k: Kit) => Signer][] {
  const own = (k: Kit) => k.h.tokens.privateKey!;
  const ec = () => strangerKeys().ec.privateKey;
  const rsa = () => strangerKeys().rsa.privateKey;
  const ed = () => strangerKeys().ed.privateKey;
  const others: Record<Alg, [string, (k: Kit) => Signer][]> = {
    HS256: [['HS384', (k) => hmac('sha384', k.h.tokens.secret)], ['HS512', (k) => hmac('sha512', k.h.tokens.secret)], ['ES256', () => es256(ec())], ['RS256', () => rs256(rsa())], ['EdDSA', () => eddsa(ed())]],
    ES256: [['ES384', (k) => ecdsa('sha384', own(k))], ['ES512', (k) => ecdsa('sha512', own(k))], ['RS256', () => rs256(rsa())], ['PS256', () => pss(rsa())], ['EdDSA', () => eddsa(ed())]],
    RS256: [['RS384', (k) => pkcs1('sha384', own(k))], ['RS512', (k) => pkcs1('sha512', own(k))], ['PS256', (k) => pss(own(k))], ['ES256', () => es256(ec())], ['EdDSA', () => eddsa(ed())]],
  };
  return others[alg];
}

/** Pays with a fresh payment token, then hands back `variant(token)` for the replay. */
async function paid(k: Kit, variant: (token: string) => string): Promise<string> {
  const token = k.token(k.claims('payment'));
  const first = await ROUTES.payment.send(k.api, token);
  expect(first.status, first.text).toBe(200);
  const again = variant(token);
  expect(again).not.toBe(token);
  return again;
}

function rowsFor(alg: Alg): Row[] {
  const noFetch = async (kit: Kit) => {
    // A fetch started by the guard would have been sent before it answered; give it a moment to land.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(kit.attacker.requests).toEqual([]);
  };
  const rows: Row[] = [
    // Controls: the service's own kind of token, forged with its key, passes every route.
    { name: 'control: a login token as the service issues it passes', route: 'profile', token: (k) => k.token(k.claims('profile')), expect: 'pass' },
    { name: 'control: a payment token as the service issues it passes', route: 'payment', token: (k) => k.token(k.claims('payment')), expect: 'pass' },
    { name: 'control: a password-reset token as the service issues it passes', route: 'reset', token: (k) => k.token(k.claims('reset')), expect: 'pass' },

    // R-B2 algorithm pinning.
    ...['none', 'None', 'NONE', 'nOnE'].map((none): Row => ({
      name: `R-B2 alg "${none}" with an empty signature`,
      route: 'profile',
      token: (k) => k.token(k.claims('profile'), { alg: none }, unsigned),
      expect: invalid(),
    })),
    { name: 'R-B2 alg "none" keeping the signature of the real token', route: 'profile', token: (k) => k.token(k.claims('profile'), { alg: 'none' }), expect: invalid() },
    { name: 'R-B2 alg "none" on the one-time payment route', route: 'payment', token: (k) => k.token(k.claims('payment'), { alg: 'none' }, unsigned), expect: invalid() },
    ...(alg === 'HS256'
      ? []
      : ([
          ...publicKeyForms(alg).map(([form, secret]): Row => ({
            name: `R-B2 HS256 signed with the service's public key (${form}) as the HMAC secret`,
            route: 'profile',
            token: (k) => k.token(k.claims('profile'), { alg: 'HS256' }, hs256(secret(k.h.tokens.publicKey!))),
            expect: invalid(),
          })),
          {
            name: "R-B2 HS256 signed with the service's public key, without a kid",
            route: 'profile',
            token: (k) => k.token(k.claims('profile'), { alg: 'HS256', kid: undefined }, hs256(pemOf(k.h.tokens.publicKey!))),
            expect: invalid(),
          },
        ] satisfies Row[])),
    ...unconfigured(alg).map(([other, signer]): Row => ({
      name: `R-B2 ${other}, an algorithm the ${alg} service is not configured for`,
      route: 'profile',
      token: (k) => k.token(k.claims('profile'), { alg: other }, signer(k)),
      expect: invalid(),
    })),

    // R-B12 keys come only from the local configuration.
    { name: 'R-B12 an unknown kid, signed with the service key', route: 'profile', token: (k) => k.token(k.claims('profile'), { kid: 'attacker' }), expect: invalid() },
    { name: 'R-B12 no kid, signed with the service key', route: 'profile', token: (k) => k.token(k.claims('profile'), { kid: undefined }), expect: invalid() },
    { name: 'R-B12 kid "__proto__", signed with the service key', route: 'profile', token: (k) => k.token(k.claims('profile'), { kid: '__proto__' }), expect: invalid() },
    { name: "R-B12 a jku header to the attacker's JWKS under the service's kid, signed with the attacker key", route: 'profile', token: (k) => k.token(k.claims('profile'), { jku: k.attacker.jku }, k.attacker.signer), expect: invalid(), after: noFetch },
    { name: "R-B12 a jku header to the attacker's JWKS under the attacker's kid", route: 'payment', token: (k) => k.token(k.claims('payment'), { kid: 'attacker', jku: k.attacker.jku }, k.attacker.signer), expect: invalid(), after: noFetch },
    { name: "R-B12 an x5u header to the attacker's certificate, signed with the attacker key", route: 'profile', token: (k) => k.token(k.claims('profile'), { x5u: k.attacker.x5u }, k.attacker.signer), expect: invalid(), after: noFetch },
    { name: "R-B12 the attacker's key embedded as a jwk header, signed with it", route: 'profile', token: (k) => k.token(k.claims('profile'), { jwk: k.attacker.jwk }, k.attacker.signer), expect: invalid(), after: noFetch },
    { name: 'R-B12 jku, x5u and jwk together, no kid', route: 'profile', token: (k) => k.token(k.claims('profile'), { kid: undefined, jku: k.attacker.jku, x5u: k.attacker.x5u, jwk: k.attacker.jwk }, k.attacker.signer), expect: invalid(), after: noFetch },

    // R-B4 every required claim, missing in turn, on a login route and on the one-time payment route.
    ...REQUIRED.map((claim): Row => ({ name: `R-B4 a login token without ${claim}`, route: 'profile', token: (k) => k.token(k.claims('profile', { [claim]: undefined })), expect: invalid() })),
    ...[...REQUIRED, 'txn'].map((claim): Row => ({ name: `R-B4 a payment token without ${claim}`, route: 'payment', token: (k) => k.token(k.claims('payment', { [claim]: undefined })), expect: invalid() })),
    { name: 'R-B4 a password-reset token without sub on the from-token route', route: 'reset', token: (k) => k.token(k.claims('reset', { sub: undefined })), expect: invalid() },

    // R-B3 explicit typing.
    { name: 'R-B3 no typ', route: 'profile', token: (k) => k.token(k.claims('profile'), { typ: undefined }), expect: invalid() },
    ...['JWT', 'at+jwt', 'jwt', 'application/jwt', 'stepup', 'stepup+jwt2'].map((typ): Row => ({
      name: `R-B3 typ "${typ}"`,
      route: 'profile',
      token: (k) => k.token(k.claims('profile'), { typ }),
      expect: invalid(),
    })),
    ...['application/stepup+jwt', 'STEPUP+JWT'].map((typ): Row => ({
      name: `control: typ "${typ}" is the same type (case-insensitive, optional application/)`,
      route: 'profile',
      token: (k) => k.token(k.claims('profile'), { typ }),
      expect: 'pass',
    })),
    // RFC 7515 §4.1.11: an extension the verifier does not understand makes the JWS invalid.
    { name: 'RFC 7515 a crit header naming an extension, signed with the service key', route: 'profile', token: (k) => k.token(k.claims('profile'), { crit: ['exp'] }), expect: invalid() },

    // Time: expired, not yet valid, too old for the route's maxAge (tolerance 30 s, maxAge 300 s).
    { name: 'expired: exp = now − tolerance', route: 'profile', token: (k) => k.token(k.claims('profile', { exp: k.now - TOLERANCE })), expect: invalid('expired') },
    { name: 'expired: exp an hour ago', route: 'payment', token: (k) => k.token(k.claims('payment', { iat: k.now - 3900, auth_time: k.now - 3900, exp: k.now - 3600 })), expect: invalid('expired') },
    { name: 'control: exp = now − tolerance + 1 still passes', route: 'profile', token: (k) => k.token(k.claims('profile', { exp: k.now - TOLERANCE + 1 })), expect: 'pass' },
    { name: 'not yet valid: nbf beyond the tolerance', route: 'profile', token: (k) => k.token(k.claims('profile', { nbf: k.now + TOLERANCE + 1 })), expect: invalid() },
    { name: 'control: nbf within the tolerance passes', route: 'profile', token: (k) => k.token(k.claims('profile', { nbf: k.now + TOLERANCE })), expect: 'pass' },
    { name: 'not yet valid: iat beyond the tolerance', route: 'profile', token: (k) => k.token(k.claims('profile', { iat: k.now + TOLERANCE + 1, exp: k.now + TOLERANCE + 901 })), expect: invalid() },
    { name: 'not yet valid: iat a day ahead (a token minted to outlive its lifetime)', route: 'payment', token: (k) => k.token(k.claims('payment', { iat: k.now + 86_400, exp: k.now + 86_700 })), expect: invalid() },
    { name: 'control: iat within the tolerance passes', route: 'profile', token: (k) => k.token(k.claims('profile', { iat: k.now + TOLERANCE })), expect: 'pass' },
    { name: 'not yet valid: auth_time beyond the tolerance', route: 'profile', token: (k) => k.token(k.claims('profile', { auth_time: k.now + TOLERANCE + 1 })), expect: invalid() },
    { name: 'R-A6 auth_time older than the login route maxAge', route: 'profile', token: (k) => k.token(k.claims('profile', { auth_time: k.now - MAX_AGE - 1 })), expect: insufficient('too_old') },
    { name: 'control: auth_time exactly maxAge ago passes', route: 'profile', token: (k) => k.token(k.claims('profile', { auth_time: k.now - MAX_AGE })), expect: 'pass' },
    { name: 'R-A6 auth_time older than the payment route maxAge', route: 'payment', token: (k) => k.token(k.claims('payment', { auth_time: k.now - MAX_AGE - 1 })), expect: insufficient('too_old') },

    // Another issuer, audience, subject, purpose, transaction, session.
    { name: 'R-B4 another issuer', route: 'profile', token: (k) => k.token(k.claims('profile', { iss: 'https://evil.test' })), expect: invalid() },
    { name: 'R-B4 the issuer with a trailing slash', route: 'profile', token: (k) => k.token(k.claims('profile', { iss: `${k.h.tokens.issuer}/` })), expect: invalid() },
    { name: 'R-B4 another audience', route: 'payment', token: (k) => k.token(k.claims('payment', { aud: 'https://other.test/api' })), expect: invalid() },
    { name: 'R-B4 an audience array that includes ours', route: 'profile', token: (k) => k.token(k.claims('profile', { aud: [k.h.tokens.audience, 'https://other.test/api'] })), expect: invalid() },
    { name: 'R-B5 another subject (bob)', route: 'profile', token: (k) => k.token(k.claims('profile', { sub: 'bob' })), expect: insufficient('wrong_subject') },
    { name: 'R-B5 the subject in another case (ALICE)', route: 'payment', token: (k) => k.token(k.claims('payment', { sub: 'ALICE' })), expect: insufficient('wrong_subject') },
    { name: "R-B5 alice's token presented by bob", route: 'profile', request: (k) => ROUTES.profile.send(k.api, k.token(k.claims('profile')), { user: 'bob', session: 'sess-alice' }), expect: insufficient('wrong_subject') },
    { name: 'R-B6 a payment token on the login route', route: 'profile', token: (k) => k.token(k.claims('payment')), expect: insufficient('wrong_purpose') },
    { name: 'R-B6 a password-reset token on the payment route', route: 'payment', token: (k) => k.token(k.claims('reset')), expect: insufficient('wrong_purpose') },
    { name: 'R-B6 a login token on the password-reset route', route: 'reset', token: (k) => k.token(k.claims('profile')), expect: insufficient('wrong_purpose') },
    { name: 'R-B6 a purpose no guard knows ("admin")', route: 'profile', token: (k) => k.token(k.claims('profile', { purpose: 'admin' })), expect: insufficient('wrong_purpose') },
    { name: 'R-B6 the purpose in another case ("LOGIN")', route: 'profile', token: (k) => k.token(k.claims('profile', { purpose: 'LOGIN' })), expect: insufficient('wrong_purpose') },
    { name: 'R-B10 the txn of another transaction (another payee)', route: 'payment', token: (k) => k.token(k.claims('payment', { txn: hashTransaction({ ...PAYMENT, payee: 'ES9121000418450200051333' }) })), expect: insufficient('transaction_mismatch') },
    { name: 'R-B10 a txn that is no hash', route: 'payment', token: (k) => k.token(k.claims('payment', { txn: 'x' })), expect: insufficient('transaction_mismatch') },
    { name: 'R-B11 the token presented from another session', route: 'payment', request: (k) => ROUTES.payment.send(k.api, k.token(k.claims('payment')), { user: 'alice', session: 'sess-mallory' }), expect: insufficient('wrong_session') },
    { name: 'R-B11 the token presented without a session', route: 'profile', request: (k) => ROUTES.profile.send(k.api, k.token(k.claims('profile')), { user: 'alice', session: null }), expect: insufficient('wrong_session') },
    { name: 'R-B11 a token without sbh on a bound route', route: 'profile', token: (k) => k.token(k.claims('profile', { sbh: undefined })), expect: insufficient('wrong_session') },

    // R-B14 transport: only the configured header counts; a valid token anywhere else is no token.
    ...['access_token', 'stepup', 'Step-Up-Token'].map((name): Row => ({
      name: `R-B14 a valid token in the query string (?${name}=) is ignored`,
      route: 'profile',
      request: (k) => k.api.send(k.api.http().get(`/account/profile?${name}=${encodeURIComponent(k.token(k.claims('profile')))}`).set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice')),
      expect: insufficient('missing'),
    })),
    { name: 'R-B14 a valid payment token in the query string is ignored', route: 'payment', request: (k) => k.api.send(k.api.http().post(`/payments?stepup=${k.token(k.claims('payment'))}`).set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice').send(PAYMENT)), expect: insufficient('missing') },
    { name: 'R-B14 a valid token as Authorization: Bearer on a Step-Up-Token route is ignored', route: 'profile', request: (k) => k.api.send(k.api.http().get('/account/profile').set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice').set('Authorization', `Bearer ${k.token(k.claims('profile'))}`)), expect: insufficient('missing') },
    { name: 'R-B14 a valid token in a cookie on a Step-Up-Token route is ignored', route: 'profile', request: (k) => k.api.send(k.api.http().get('/account/profile').set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice').set('Cookie', `stepup=${k.token(k.claims('profile'))}`)), expect: insufficient('missing') },
    { name: 'R-B14 a valid token in the JSON body is ignored', route: 'payment', request: (k) => k.api.post('/payments', { ...PAYMENT, stepUpToken: k.token(k.claims('payment')) }), expect: insufficient('missing') },

    // R-L1 one use per jti, whatever the token's text.
    {
      name: 'R-L1 a paid one-time token re-presented with its signature re-encoded (a spare base64url bit flipped)',
      route: 'payment',
      token: (k) => paid(k, reencodeSignature),
      // HS256 signatures are compared as text (jws); the asymmetric ones are decoded, so the jti must stop them.
      expect: alg === 'HS256' ? invalid() : insufficient('replayed'),
    },
    ...(alg === 'ES256'
      ? [{ name: 'R-L1 a paid one-time token re-presented with its ECDSA signature malleated (s → n − s)', route: 'payment', token: (k: Kit) => paid(k, malleateEcdsa), expect: insufficient('replayed') } satisfies Row]
      : []),
  ];
  return rows;
}

// ---- the suite -------------------------------------------------------------------------

export function defineTokenAttackScenarios(adapter: string, factory: HarnessFactory): void {
  for (const alg of SERVICES) {
    describe(`${adapter} the token, attacked (issue #7): an ${alg} service`, () => {
      let h: HttpHarness;
      let api: Client;
      let attacker: Attacker;
      const templates = {} as Record<RouteName, Record<string, unknown>>;
      const kit = (): Kit => {
        const now = Math.floor(h.clock.now() / 1000);
        const own = alg === 'HS256' ? hs256(h.tokens.secret) : alg === 'ES256' ? es256(h.tokens.privateKey!) : rs256(h.tokens.privateKey!);
        return {
          h,
          api,
          alg,
          now,
          own,
          attacker,
          claims: (route, overrides = {}) => {
            const template = templates[route];
            const lifetime = (template.exp as number) - (template.iat as number);
            const fresh = { iat: now, auth_time: now, exp: now + lifetime, jti: randomBytes(16).toString('base64url'), cid: randomBytes(16).toString('base64url') };
            return { ...template, ...fresh, ...overrides };
          },
          token: (claims, header = {}, signer = own) => forge({ alg, typ: h.tokens.type, kid: h.tokens.keyId, ...header }, claims, signer),
        };
      };

      beforeAll(async () => {
        h = await factory({ store: 'redis', tokenAlgorithm: alg });
        api = createClient(h);
        attacker = await startAttacker(alg);
        templates.profile = (await api.stepUp({ purpose: 'login' })).claims as unknown as Record<string, unknown>;
        templates.payment = (await api.stepUp({ purpose: 'payment', transaction: PAYMENT })).claims as unknown as Record<string, unknown>;
        templates.reset = (await api.stepUp({ purpose: 'password-reset' })).claims as unknown as Record<string, unknown>;
      });
      afterEach(() => {
        expect(h.errors).toEqual([]);
      });
      afterAll(async () => {
        try {
          api?.assertNothingLeaked();
          expect(attacker?.requests ?? []).toEqual([]);
        } finally {
          await attacker?.close();
          await h?.close();
        }
      });

      it(`R-B1 R-B14 the issuing response (verify) has Cache-Control: no-store, and its token names ${alg}, typ and kid`, async () => {
        const started = await api.start({ purpose: 'login' });
        expect(started.status, started.text).toBe(201);
        const res = await api.verify(started.body.challengeId, api.codeOf(started.body.challengeId));
        expect(res.status, res.text).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const header = JSON.parse(Buffer.from((res.body.token as string).split('.')[0]!, 'base64url').toString('utf8'));
        expect(header).toEqual({ alg, typ: 'stepup+jwt', kid: h.tokens.keyId });
        expect((await ROUTES.profile.send(api, res.body.token)).status).toBe(200);
      });

      for (const row of rowsFor(alg)) {
        const outcome = row.expect === 'pass' ? '200' : `401 ${row.expect.error} ${row.expect.reason}`;
        it(`${row.name} → ${outcome}`, async () => {
          const k = kit();
          const route = ROUTES[row.route];
          const res = row.request ? await row.request(k) : await route.send(api, await row.token!(k));
          if (row.expect === 'pass') {
            expect(res.status, res.text).toBe(200);
            expect(res.body.ok).toBe(true);
          } else {
            const challenge = expectRefusal(res, { errorClass: row.expect.error, reason: row.expect.reason });
            expect(res.body.error.purpose).toBe(route.purpose);
            // max_age belongs to the insufficient_user_authentication challenge of a route that sets it.
            if (row.expect.error === 'insufficient_user_authentication' && route.maxAge !== undefined) expect(challenge.params.max_age).toBe(String(route.maxAge));
            else expect(challenge.params).not.toHaveProperty('max_age');
          }
          await row.after?.(k);
        });
      }

      if (alg !== 'HS256') {
        it('R-L1 20 concurrent presentations of one payment token, its signature in several encodings → exactly one 200, the rest replayed', async () => {
          const k = kit();
          const token = k.token(k.claims('payment'));
          const variants = [token, reencodeSignature(token), ...(alg === 'ES256' ? [malleateEcdsa(token)] : [])];
          const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ROUTES.payment.send(api, variants[i % variants.length])));
          expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
          for (const res of answers.filter((answer) => answer.status !== 200)) expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
        });
      }
    });
  }
}
