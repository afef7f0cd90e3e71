/**
 * The HTTP scenario suite (test/http.scenarios.ts) against the Koa adapter, on Redis
 * (the contract of `npm test`) and on the memory store: the same scenarios, unchanged,
 * as test/http.express.test.ts runs on Express.
 */
import { buildKoaApp } from './support/http-app-koa.js';
import { defineHttpScenarios } from './http.scenarios.js';

defineHttpScenarios('koa', buildKoaApp);
