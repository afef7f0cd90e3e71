/**
 * The HTTP scenario suite and the webhook, fuzz and token-attack scenarios of
 * test/http.express.test.ts, unchanged, on Express 4 (the peer range is `^4.21.0 || ^5.0.0`):
 * every `express` import of this file's graph, the adapter's and the test app's, is the
 * `express4` alias (`npm:express@4`), on Redis (the contract of `npm test`).
 */
import express from 'express';
import express4 from 'express4';
import { describe, expect, it, vi } from 'vitest';
import { buildExpressApp } from './support/http-app.js';
import { defineHttpScenarios } from './http.scenarios.js';
import { defineWebhookScenarios } from './http.webhook-scenarios.js';
import { defineFuzzScenarios } from './http.fuzz.js';
import { defineTokenAttackScenarios } from './http.token-attacks.js';

vi.mock('express', async () => await import('express4'));

describe('express 4', () => {
  it('is the express that the adapter and the test app load', () => {
    expect(express).toBe(express4);
  });
});
defineHttpScenarios('express 4', buildExpressApp, { stores: ['redis'] });
defineWebhookScenarios('express 4', buildExpressApp);
defineFuzzScenarios('express 4', buildExpressApp);
defineTokenAttackScenarios('express 4', buildExpressApp);
