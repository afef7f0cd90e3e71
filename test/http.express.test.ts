/**
 * The HTTP scenario suite (test/http.scenarios.ts) against the Express adapter, on
 * Redis (the contract of `npm test`) and on the memory store.
 */
import { buildExpressApp } from './support/http-app.js';
import { defineHttpScenarios } from './http.scenarios.js';

defineHttpScenarios('express', buildExpressApp);
