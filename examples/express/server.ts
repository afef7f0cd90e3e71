/**
 * `npm run demo`: the demo app on http://localhost:3000 (PORT to change it), with
 * challenges in memory, or in Redis when REDIS_URL is set.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { MemoryStore, RedisStore, type ChallengeStore } from '../../src/index.js';
import { createDemoApp } from './app.js';

const port = Number(process.env.PORT ?? 3000);

let redis: Redis | undefined;
let store: ChallengeStore;
if (process.env.REDIS_URL) {
  // Bounded waits: with Redis down, operations fail fast as `store_unavailable` (fail closed).
  redis = new Redis(process.env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  let reported = false;
  redis.on('error', (error: Error) => {
    if (!reported) console.error(`Redis: ${error.message} (retrying; codes cannot be sent meanwhile)`);
    reported = true;
  });
  redis.on('ready', () => {
    reported = false;
  });
  store = new RedisStore({ client: redis });
} else {
  store = new MemoryStore();
}

const { app, users } = createDemoApp({ store });
const server = createServer(app);

server.listen(port, () => {
  const address = server.address();
  const url = `http://localhost:${typeof address === 'object' && address ? address.port : port}`;
  console.log(`whatsapp-stepup demo on ${url}`);
  console.log(`  store:  ${redis ? `Redis at ${process.env.REDIS_URL}` : 'memory (set REDIS_URL to use Redis)'}`);
  console.log(`  outbox: ${url}/dev/outbox  (the codes the app "sends" appear here)`);
  console.log('  users:');
  for (const user of users) console.log(`    ${user.username.padEnd(6)} password ${user.password.padEnd(14)} phone ${user.phone}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    redis?.disconnect();
  });
}
