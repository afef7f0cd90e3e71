/**
 * RedisStore takes a client of either ioredis major it supports as a peer (5 and 6), the
 * standalone client and the Cluster alike: both type-check as `RedisStoreOptions.client`
 * (`npx tsc --noEmit` covers this file), and a start then verify works through each.
 */
import { Redis as Redis5, Cluster as Cluster5 } from 'ioredis5';
import { Redis as Redis6, Cluster as Cluster6 } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import type { RedisStoreOptions } from '../src/store/index.js';
import { makeStepUp, startChallenge, SUBJECT, uniquePrefix } from './core.fixtures.js';
import { redisUrl } from './support/redis.js';

// Type-level: a Cluster of either major is a client too (never connected here).
const clusterClients: RedisStoreOptions['client'][] = [
  null as unknown as Cluster5,
  null as unknown as Cluster6,
];
void clusterClients;

const options = { enableOfflineQueue: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false } as const;

describe.each([
  ['ioredis 5', () => new Redis5(redisUrl(), options)],
  ['ioredis 6', () => new Redis6(redisUrl(), options)],
] as const)('RedisStore with an %s client', (_name, connect) => {
  const client = connect();
  client.on('error', () => undefined);
  afterAll(() => client.disconnect());

  it('starts and verifies a challenge', async () => {
    const harness = makeStepUp({ store: new RedisStore({ client, prefix: uniquePrefix('majors') }) });
    const { challengeId, code } = await startChallenge(harness);
    const { claims } = await harness.stepup.verify(challengeId, code, { subject: SUBJECT });
    expect(claims.sub).toBe(SUBJECT);
    expect(claims.cid).toBe(challengeId);
  });
});
