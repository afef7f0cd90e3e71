/**
 * `npm run demo:koa`: the Koa demo app on http://localhost:3001 (PORT to change it), with
 * challenges in memory, or in Redis when REDIS_URL is set.
 */
import { createServer } from 'node:http';
import { announce, storeFromEnvironment } from '../express/service.js';
import { createKoaDemoApp } from './app.js';

const port = Number(process.env.PORT ?? 3001);
const { store, redis } = storeFromEnvironment();
const { app, users } = createKoaDemoApp({ store });
const server = createServer(app.callback());

server.listen(port, () => {
  const address = server.address();
  announce('whatsapp-stepup Koa demo', `http://localhost:${typeof address === 'object' && address ? address.port : port}`, redis, users);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    redis?.disconnect();
  });
}
