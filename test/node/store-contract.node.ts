// The store contract under node's own test runner, with the standalone `expect` (jest's):
// what a store author without vitest runs. test/store.contract-node.test.ts starts it as
// `node --import tsx --test test/node/store-contract.node.ts` and checks node's summary.
import { afterEach, beforeEach, describe, it } from 'node:test';
import { expect } from 'expect';
import { MemoryStore } from '../../src/index.js';
import { describeStoreContract } from '../../src/testing/index.js';

describeStoreContract('MemoryStore', () => new MemoryStore(), { describe, it, expect, beforeEach, afterEach });
