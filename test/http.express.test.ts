/**
 * The HTTP scenario suite (test/http.scenarios.ts) against the Express adapter, on
 * Redis (the contract of `npm test`), on the memory store and on a 3-primary Redis Cluster, and the delivery-webhook
 * scenarios (test/http.webhook-scenarios.ts) on Redis.
 */
import { buildExpressApp } from './support/http-app.js';
import { defineHttpScenarios } from './http.scenarios.js';
import { defineWebhookScenarios } from './http.webhook-scenarios.js';
import { defineFuzzScenarios } from './http.fuzz.js';
import { defineTokenAttackScenarios } from './http.token-attacks.js';

defineHttpScenarios('express', buildExpressApp, { stores: ['redis', 'memory', 'cluster'] });
defineWebhookScenarios('express', buildExpressApp);
defineFuzzScenarios('express', buildExpressApp);
defineTokenAttackScenarios('express', buildExpressApp);
