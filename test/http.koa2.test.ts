/**
 * The HTTP scenario suite and the webhook, fuzz and token-attack scenarios of
 * test/http.koa.test.ts, unchanged, on Koa 2 (the peer range is `^2.15.0 || ^3.0.0`): every
 * `koa` import of this file's graph is the `koa2` alias (`npm:koa@2`), on Redis (the
 * contract of `npm test`).
 */
import Koa from 'koa';
import Koa2 from 'koa2';
import { describe, expect, it, vi } from 'vitest';
import { buildKoaApp } from './support/http-app-koa.js';
import { defineHttpScenarios } from './http.scenarios.js';
import { defineWebhookScenarios } from './http.webhook-scenarios.js';
import { defineFuzzScenarios } from './http.fuzz.js';
import { defineTokenAttackScenarios } from './http.token-attacks.js';

vi.mock('koa', async () => await import('koa2'));

describe('koa 2', () => {
  it('is the koa that the adapter and the test app load', () => {
    expect(Koa).toBe(Koa2);
  });
});
defineHttpScenarios('koa 2', buildKoaApp, { stores: ['redis'] });
defineWebhookScenarios('koa 2', buildKoaApp);
defineFuzzScenarios('koa 2', buildKoaApp);
defineTokenAttackScenarios('koa 2', buildKoaApp);
