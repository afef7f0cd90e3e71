/**
 * `npm run demo`: the demo app on http://localhost:3000 (PORT to change it), with
 * challenges in memory, or in Redis when REDIS_URL is set. With STEPUP_FAKE_PROVIDERS=1
 * it sends through the real WhatsApp Cloud API and Twilio clients, pointed at local fakes
 * of those providers; the fake WhatsApp says that luis's number has no WhatsApp (131026),
 * so his codes fall back to SMS, which the outbox page shows.
 */
import { createServer } from 'node:http';
import { createDemoApp } from './app.js';
import { announce, storeFromEnvironment } from './service.js';
import { twilioChannel, whatsappCloudChannel, type OutboxChannel } from '../../src/index.js';
import { startFakeTwilio, startFakeWhatsApp } from '../../src/testing/index.js';

const port = Number(process.env.PORT ?? 3000);
const { store, redis } = storeFromEnvironment();
const providers = process.env.STEPUP_FAKE_PROVIDERS === '1' ? await startFakeProviders() : undefined;
const { app, users } = createDemoApp({ store, ...(providers ? { channels: providers.channels } : {}) });
const server = createServer(app);

server.listen(port, () => {
  const address = server.address();
  announce('whatsapp-stepup demo', `http://localhost:${typeof address === 'object' && address ? address.port : port}`, redis, users);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    redis?.disconnect();
  });
}

/** Local fakes of Meta's and Twilio's APIs, and the real channel clients pointed at them. */
async function startFakeProviders() {
  const meta = await startFakeWhatsApp();
  const twilio = await startFakeTwilio();
  meta.failAlways('+525512345678', { code: 131026 });
  console.log(`  providers: fake WhatsApp Cloud API at ${meta.baseUrl}, fake Twilio at ${twilio.baseUrl} (luis has no WhatsApp: watch the SMS fallback)`);
  return {
    channels: (outbox: OutboxChannel) => [
      outbox.mirror(whatsappCloudChannel({
        phoneNumberId: meta.phoneNumberId, accessToken: meta.accessToken, baseUrl: meta.baseUrl,
        template: { name: 'login_code', language: 'en_US' },
      })),
      outbox.mirror(twilioChannel({ kind: 'sms', accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15017122661', baseUrl: twilio.baseUrl })),
    ],
  };
}
