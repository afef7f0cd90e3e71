/**
 * A provider that never answers must not hang a send or a check (R-E: fallback on
 * timeout). On Node 20, a timeout built as AbortSignal.any([signal, AbortSignal.timeout(ms)])
 * is lost when the garbage collector runs before it fires (nodejs/node#57736); this test
 * forces collections while a call waits on a server that never answers.
 */
import { createServer, type Server } from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelError } from '../src/channels/channel.js';
import { callProvider } from '../src/channels/provider-http.js';
import { withTimeout } from '../src/lib/timeout.js';

v8.setFlagsFromString('--expose_gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer(() => {}); // holds every request, never answers
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function collectWhile<T>(promise: Promise<T>): Promise<T> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    collectGarbage();
  }
  return promise;
}

describe('provider time-outs survive garbage collection', () => {
  it('callProvider gives up after timeoutMs with a fallback ChannelError, with collections meanwhile', async () => {
    const started = Date.now();
    const call = callProvider({ method: 'GET', url, signal: new AbortController().signal, timeoutMs: 200 }).then(
      () => 'answered',
      (error: unknown) => error,
    );
    const outcome = await collectWhile(Promise.race([call, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3_000))]));
    expect(outcome).toBeInstanceOf(ChannelError);
    expect((outcome as ChannelError).details).toMatchObject({ kind: 'fallback', providerCode: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("the caller's own signal still cancels the call", async () => {
    const caller = new AbortController();
    const call = callProvider({ method: 'GET', url, signal: caller.signal, timeoutMs: 10_000 }).catch((error: unknown) => error);
    setTimeout(() => caller.abort(new Error('core gave up')), 100);
    const outcome = await collectWhile(call);
    expect(outcome).toBeInstanceOf(ChannelError);
  });

  it('withTimeout answers by its deadline even for a task that ignores the signal', async () => {
    const started = Date.now();
    const answer = await collectWhile(withTimeout(() => new Promise<string>(() => {}), 150, () => 'timed out'));
    expect(answer).toBe('timed out');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
