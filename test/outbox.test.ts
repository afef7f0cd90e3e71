import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxChannel } from '../src/index.js';
import type { OutgoingMessage } from '../src/channels/channel.js';

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    to: '+34612345678',
    code: '123456',
    text: 'Demo Bank: your sign-in code is 123456.',
    purpose: 'login',
    locale: 'en',
    challengeId: 'AAAAAAAAAAAAAAAAAAAAAA',
    ttlSeconds: 300,
    ...overrides,
  };
}

function appWith(outbox: OutboxChannel) {
  const app = express();
  app.use('/dev/outbox', outbox.router());
  app.use((_req, res) => {
    res.status(404).send('app 404');
  });
  return app;
}

describe('OutboxChannel page and JSON', () => {
  const savedEnv = process.env.NODE_ENV;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = savedEnv;
  });

  it('escapes HTML in every message field of the page', async () => {
    const outbox = new OutboxChannel();
    await outbox.send(message({
      text: '<script>alert("x")</script> & <img src=x onerror=alert(1)>',
      purpose: '<b>pay</b>',
      challengeId: '"><i>cid</i>',
      code: '<u>1</u>',
    }));

    const response = await request(appWith(outbox)).get('/dev/outbox/').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;');
    expect(response.text).toContain('&lt;b&gt;pay&lt;/b&gt;');
    expect(response.text).toContain('data-challenge="&quot;&gt;&lt;i&gt;cid&lt;/i&gt;"');
    expect(response.text).toContain('&lt;u&gt;1&lt;/u&gt;');
    expect(response.text).not.toContain('<script>alert');
    expect(response.text).not.toContain('<img');
    expect(response.text).not.toContain('<b>pay');
    expect(response.text).not.toContain('<u>1');
  });

  it('serves the page at the mount point with or without a trailing slash', async () => {
    const outbox = new OutboxChannel();
    const app = appWith(outbox);
    const bare = await request(app).get('/dev/outbox').expect(200);
    expect(bare.text).toContain('No messages yet.');
    await request(app).get('/dev/outbox/').expect(200);
  });

  it('lists the newest message first on the page', async () => {
    const outbox = new OutboxChannel();
    await outbox.send(message({ text: 'first message', code: '111111' }));
    await outbox.send(message({ text: 'second message', code: '222222' }));
    await outbox.send(message({ text: 'third message', code: '333333' }));

    const { text } = await request(appWith(outbox)).get('/dev/outbox/').expect(200);
    const positions = ['third message', 'second message', 'first message'].map((needle) => text.indexOf(needle));
    expect(positions.every((position) => position > 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const codes = [...text.matchAll(/<code class="code">(\d+)<\/code>/g)].map((match) => match[1]);
    expect(codes).toEqual(['333333', '222222', '111111']);
  });

  it('serves the messages as JSON at /messages.json, newest first', async () => {
    const outbox = new OutboxChannel();
    await outbox.send(message({ text: 'older', code: '111111', purpose: 'login' }));
    await outbox.send(message({ text: 'newer', code: '222222', purpose: 'payment', to: '+525512345678' }));

    const response = await request(appWith(outbox)).get('/dev/outbox/messages.json').expect(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('no-store');
    const { messages } = response.body as { messages: Record<string, unknown>[] };
    expect(messages.map((m) => m.text)).toEqual(['newer', 'older']);
    expect(messages[0]).toMatchObject({ to: '+525512345678', code: '222222', purpose: 'payment', channel: 'outbox', transport: 'whatsapp' });
    expect(typeof messages[0]!.sentAt).toBe('string');
    // messages() itself stays oldest first (DESIGN §8).
    expect(outbox.messages().map((m) => m.text)).toEqual(['older', 'newer']);
  });

  it('passes other paths and methods on to the app', async () => {
    const app = appWith(new OutboxChannel());
    const other = await request(app).get('/dev/outbox/nope').expect(404);
    expect(other.text).toBe('app 404');
    const post = await request(app).post('/dev/outbox/').expect(404);
    expect(post.text).toBe('app 404');
  });

  it('refuses to build the router under NODE_ENV=production', () => {
    const outbox = new OutboxChannel();
    process.env.NODE_ENV = 'production';
    expect(() => outbox.router()).toThrow(/NODE_ENV=production/);
    process.env.NODE_ENV = 'development';
    expect(() => outbox.router()).not.toThrow();
  });
});
