/**
 * `npm run bench:reset`: how long the demo's password reset takes to answer for accounts
 * that exist and for accounts that do not (SECURITY-REQUIREMENTS R-G1, R-K3), for each of
 * its first two steps apart: the request, and the verify of a code sent right after it (by
 * a requester who has no code: a wrong one), while the request's send may still be running.
 *
 * Starts the Express demo (challenges in Redis when REDIS_URL is set, else in memory), and
 * sends ROUNDS visits of each kind (default 200), shuffled together, each from a new
 * visitor: the request, then at once the verify with the cookie the request set. Prints the
 * median and p90 of each step and kind and, per step, the ratio of the medians
 * (unknown / known). A measurement, not a test: the goal is medians within 10%.
 *
 * Where the codes go:
 * - by default, the dev outbox (a send takes no time);
 * - with PROVIDER_DELAY_MS=<ms> (`PROVIDER_DELAY_MS=300 npm run bench:reset`: the providers
 *   take 300 ms), the real WhatsApp Cloud API client, with the real Twilio SMS client as its
 *   fallback, pointed at local fakes of both providers that answer each request after that
 *   many milliseconds (0: the fakes at full speed). The fakes run in a child process, as a
 *   provider runs elsewhere: their work does not share the demo's event loop.
 */
import { fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { OutboxChannel, twilioChannel, whatsappCloudChannel, type Channel } from '../src/index.js';
import { startFakeTwilio, startFakeWhatsApp } from '../src/testing/index.js';
import { NO_LIMITS } from '../test/support/no-limits.js';

/** What the child process of the fakes tells the bench: where they listen and their credentials. */
interface FakeProviders {
  whatsapp: { baseUrl: string; phoneNumberId: string; accessToken: string };
  twilio: { baseUrl: string; accountSid: string; authToken: string };
}

if (process.argv[2] === '--fake-providers') {
  // The child: both fakes, answering after the delay, until the bench disconnects.
  const [whatsapp, twilio] = await Promise.all([startFakeWhatsApp(), startFakeTwilio()]);
  for (const fake of [whatsapp, twilio]) fake.delay(Number(process.argv[3]));
  const info: FakeProviders = {
    whatsapp: { baseUrl: whatsapp.baseUrl, phoneNumberId: whatsapp.phoneNumberId, accessToken: whatsapp.accessToken },
    twilio: { baseUrl: twilio.baseUrl, accountSid: twilio.accountSid, authToken: twilio.authToken },
  };
  process.send!(info);
  process.once('disconnect', () => void Promise.all([whatsapp.close(), twilio.close()]));
} else {
  await bench();
}

async function bench(): Promise<void> {
  // The demo logs every decision on stdout; here that would drown the figures and time the terminal.
  process.env.LOG_LEVEL ??= 'silent';
  const { createDemoApp } = await import('../examples/express/app.js');
  const { storeFromEnvironment } = await import('../examples/express/service.js');

  const ROUNDS = Number(process.env.ROUNDS ?? 200);
  const WARM_UP = 20;
  const DELAY = process.env.PROVIDER_DELAY_MS === undefined ? undefined : Number(process.env.PROVIDER_DELAY_MS);
  if (DELAY !== undefined && !(Number.isInteger(DELAY) && DELAY >= 0)) throw new TypeError(`PROVIDER_DELAY_MS must be a whole number of milliseconds (received ${process.env.PROVIDER_DELAY_MS}).`);

  const { store, redis } = storeFromEnvironment();
  // An outbox that keeps every message, to count the codes sent (the demo's own keeps 200).
  const sent = new OutboxChannel({ limit: 10_000 });
  const child = DELAY === undefined ? undefined : fork(fileURLToPath(import.meta.url), ['--fake-providers', String(DELAY)]);
  const providers = child && ((await once(child, 'message'))[0] as FakeProviders);
  const channels: Channel[] = providers
    ? [
      sent.mirror(whatsappCloudChannel({ ...providers.whatsapp, template: { name: 'login_code', language: 'en_US' } })),
      sent.mirror(twilioChannel({ kind: 'sms', ...providers.twilio, from: '+15017122661' })),
    ]
    : [sent];
  // No send limits: 200 requests for the same accounts would hit them and make the known case cheaper.
  const { app, users, stepup, resetsSettled } = createDemoApp({ store, channels: () => channels, limits: NO_LIMITS });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/password-reset`;

  // Known: the demo users by username and by phone. Unknown: names and valid numbers nobody has, and malformed numbers.
  const known = (i: number) => {
    const user = users[i % users.length]!;
    return i % 4 < 2 ? user.username : user.phone;
  };
  const unknown = (i: number) => [`nobody-${i}`, `+34 6${String(10_000_000 + i).slice(-8)}`, `+34 ${i}`][i % 3]!;

  const answers = { request: new Set<string>(), verify: new Set<string>() };
  async function post(step: 'request' | 'verify', body: unknown, cookie = ''): Promise<{ ms: number; cookie: string }> {
    const started = performance.now();
    const response = await fetch(`${base}/${step}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie }, body: JSON.stringify(body) });
    const text = await response.text();
    const ms = performance.now() - started;
    answers[step].add(`${response.status} ${text}`);
    return { ms, cookie: response.headers.get('set-cookie')?.split(';')[0] ?? cookie };
  }

  /** One visitor: the request, then at once a verify (of a code it cannot have) in the same session. */
  async function visit(account: string): Promise<{ request: number; verify: number }> {
    const request = await post('request', { account });
    const verify = await post('verify', { code: '000000' }, request.cookie);
    return { request: request.ms, verify: verify.ms };
  }

  for (let i = 0; i < WARM_UP; i++) {
    await visit(known(i));
    await visit(unknown(i));
  }
  await resetsSettled(); // the sends after the warm-up's answers

  const times = { request: { known: [] as number[], unknown: [] as number[] }, verify: { known: [] as number[], unknown: [] as number[] } };
  const sentBefore = sent.messages().length;
  // Interleaved in a random order: a known request's send runs after its answer and overlaps the
  // next visits; shuffled, both kinds come after known ones equally often on average.
  const order = [...Array.from({ length: ROUNDS }, (_, i) => ['known', i] as const), ...Array.from({ length: ROUNDS }, (_, i) => ['unknown', i] as const)];
  for (let i = order.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (const [kind, i] of order) {
    const visited = await visit(kind === 'known' ? known(i) : unknown(i));
    times.request[kind].push(visited.request);
    times.verify[kind].push(visited.verify);
  }
  await resetsSettled();

  const quantile = (values: number[], q: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  };
  const row = (name: string, values: number[]) => `  ${name.padEnd(8)} median ${quantile(values, 0.5).toFixed(3)} ms   p90 ${quantile(values, 0.9).toFixed(3)} ms`;

  const where = providers ? `fake WhatsApp Cloud API and Twilio answering after ${DELAY} ms` : 'the dev outbox';
  console.log(`password reset, ${ROUNDS} known and ${ROUNDS} unknown accounts, shuffled together; store: ${redis ? `Redis at ${process.env.REDIS_URL}` : 'memory'}; codes to ${where}`);
  for (const step of ['request', 'verify'] as const) {
    const ratio = quantile(times[step].unknown, 0.5) / quantile(times[step].known, 0.5);
    console.log(step === 'request' ? 'POST /password-reset/request' : 'POST /password-reset/verify, right after the request, with a wrong code');
    console.log(row('known', times[step].known));
    console.log(row('unknown', times[step].unknown));
    console.log(`  ratio of medians (unknown / known): ${ratio.toFixed(3)}  (${Math.abs(ratio - 1) <= 0.1 ? 'within' : 'NOT within'} 10%)`);
    console.log(`  distinct answers (status + body): ${answers[step].size}`);
  }
  console.log(`codes sent for the ${ROUNDS} known: ${sent.messages().length - sentBefore}`);

  server.closeAllConnections();
  server.close();
  stepup.close();
  redis?.disconnect();
  child?.disconnect();
}
