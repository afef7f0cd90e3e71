/**
 * The HTTP scenario suite (test/http.scenarios.ts) against the Koa adapter, on Redis
 * (the contract of `npm test`), on the memory store and on a 3-primary Redis Cluster: the same scenarios, unchanged,
 * as test/http.express.test.ts runs on Express; then the delivery-webhook scenarios
 * (test/http.webhook-scenarios.ts) on Redis.
 */
import { buildKoaApp } from './support/http-app-koa.js';
import { defineHttpScenarios } from './http.scenarios.js';
import { defineWebhookScenarios } from './http.webhook-scenarios.js';
import { defineFuzzScenarios } from './http.fuzz.js';
import { defineTokenAttackScenarios } from './http.token-attacks.js';

defineHttpScenarios('koa', buildKoaApp, { stores: ['redis', 'memory', 'cluster'] });
defineWebhookScenarios('koa', buildKoaApp);
defineFuzzScenarios('koa', buildKoaApp);
defineTokenAttackScenarios('koa', buildKoaApp);
