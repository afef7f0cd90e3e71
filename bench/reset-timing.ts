/**
 * `npm run bench:reset`: how long the demo's password-reset request takes to answer for
 * accounts that exist and for accounts that do not (SECURITY-REQUIREMENTS R-G1, R-K3).
 * Starts the Express demo (challenges in Redis when REDIS_URL is set, else in memory),
 * sends ROUNDS requests of each kind, shuffled together, each from a new visitor (no cookie),
 * and prints the median and p90 of each and their ratio. A measurement, not a test: the
 * goal is medians within 10%.
 */
import { randomInt } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { OutboxChannel } from '../src/index.js';
import { createDemoApp } from '../examples/express/app.js';
import { storeFromEnvironment } from '../examples/express/service.js';

const ROUNDS = Number(process.env.ROUNDS ?? 200);
const WARM_UP = 20;

const { store, redis } = storeFromEnvironment();
// An outbox that keeps every message, to count the codes sent (the demo's own keeps 200).
const sent = new OutboxChannel({ limit: 10_000 });
const NO_LIMITS = {
  phone: false, phoneDaily: false, subject: false, ip: false, session: false, prefix: false, country: false, purpose: false, failures: false,
} as const;
// No send limits: 200 requests for the same accounts would hit them and make the known case cheaper.
const { app, users, stepup } = createDemoApp({ store, channels: () => [sent], limits: NO_LIMITS });
const server = createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/password-reset/request`;

// Known: the demo users by username and by phone. Unknown: names and valid numbers nobody has, and malformed numbers.
const known = (i: number) => {
  const user = users[i % users.length]!;
  return i % 4 < 2 ? user.username : user.phone;
};
const unknown = (i: number) => [`nobody-${i}`, `+34 6${String(10_000_000 + i).slice(-8)}`, `+34 ${i}`][i % 3]!;

const bodies = new Set<string>();
async function timed(account: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ account }) });
  const body = await response.text();
  const elapsed = performance.now() - started;
  bodies.add(`${response.status} ${body}`);
  return elapsed;
}

for (let i = 0; i < WARM_UP; i++) {
  await timed(known(i));
  await timed(unknown(i));
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200)); // the sends after the last answers
await settle();
const times = { known: [] as number[], unknown: [] as number[] };
const sentBefore = sent.messages().length;
// Interleaved in a random order: a known request's send runs after its answer and overlaps the
// next requests; shuffled, both kinds come after known ones equally often on average.
const order = [...Array.from({ length: ROUNDS }, (_, i) => ['known', i] as const), ...Array.from({ length: ROUNDS }, (_, i) => ['unknown', i] as const)];
for (let i = order.length - 1; i > 0; i--) {
  const j = randomInt(i + 1);
  [order[i], order[j]] = [order[j]!, order[i]!];
}
for (const [kind, i] of order) times[kind].push(await timed(kind === 'known' ? known(i) : unknown(i)));
await settle();

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const row = (name: string, values: number[]) => `${name.padEnd(8)} median ${quantile(values, 0.5).toFixed(3)} ms   p90 ${quantile(values, 0.9).toFixed(3)} ms`;
const ratio = quantile(times.unknown, 0.5) / quantile(times.known, 0.5);

console.log(`password-reset request, ${ROUNDS} known and ${ROUNDS} unknown accounts, shuffled together; store: ${redis ? `Redis at ${process.env.REDIS_URL}` : 'memory'}`);
console.log(row('known', times.known));
console.log(row('unknown', times.unknown));
console.log(`ratio of medians (unknown / known): ${ratio.toFixed(3)}  (${Math.abs(ratio - 1) <= 0.1 ? 'within' : 'NOT within'} 10%)`);
console.log(`distinct answers (status + body): ${bodies.size}; codes sent for the ${ROUNDS} known: ${sent.messages().length - sentBefore}`);

server.closeAllConnections();
server.close();
stepup.close();
redis?.disconnect();
