// Under NODE_ENV=production an OutboxChannel, which delivers nothing and keeps every code in
// memory, is refused when the service is built, as a MemoryStore is, unless the app passes
// allowOutboxInProduction: true. It is recognized by what it is, not by its name.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStepUp, MemoryStore, OutboxChannel, type Channel, type StepUpOptions } from '../src/index.js';
import { AUDIENCE, ISSUER, PEPPER, PHONE, SECRET, SUBJECT } from './core.fixtures.js';

const realChannel = (name = 'whatsapp'): Channel => ({ name, transport: 'whatsapp', send: async () => ({ messageId: 'wamid.1' }) });

function options(channels: Channel[], overrides: Partial<StepUpOptions> = {}): StepUpOptions {
  // The memory store is allowed on purpose: the attack run used it, and only the outbox is under test.
  return { store: new MemoryStore(), channels, tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET }, pepper: PEPPER, allowMemoryStoreInProduction: true, ...overrides };
}

describe('an OutboxChannel under NODE_ENV=production', () => {
  beforeEach(() => {
    vi.stubEnv('NODE_ENV', 'production');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is refused at construction, naming the channel, the option and the alternative', () => {
    const build = () => createStepUp(options([new OutboxChannel()]));
    expect(build).toThrow(TypeError);
    expect(build).toThrow(/`channels\[0\]` is an OutboxChannel with NODE_ENV=production.*real channel.*allowOutboxInProduction: true/);
  });

  it('is refused whatever its name or position, and as a fallback behind a real channel', () => {
    expect(() => createStepUp(options([realChannel(), new OutboxChannel({ name: 'sms', transport: 'sms' })]))).toThrow(/`channels\[1\]` is an OutboxChannel/);
    expect(() => createStepUp(options([new OutboxChannel({ name: 'whatsapp' })]))).toThrow(/`channels\[0\]` is an OutboxChannel/);
  });

  it('is accepted with allowOutboxInProduction: true, and works', async () => {
    const outbox = new OutboxChannel();
    const stepup = createStepUp(options([outbox], { allowOutboxInProduction: true }));
    const view = await stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' });
    expect(outbox.latest(PHONE)?.challengeId).toBe(view.challengeId);
  });

  it('allowOutboxInProduction must be a boolean; false refuses as its absence does', () => {
    expect(() => createStepUp(options([new OutboxChannel()], { allowOutboxInProduction: 'yes' as unknown as boolean }))).toThrow(/`allowOutboxInProduction` must be true or false/);
    expect(() => createStepUp(options([new OutboxChannel()], { allowOutboxInProduction: false }))).toThrow(/allowOutboxInProduction: true/);
  });

  it('real channels need no such option', () => {
    expect(() => createStepUp(options([realChannel(), realChannel('sms')]))).not.toThrow();
  });
});

describe('an OutboxChannel outside production', () => {
  it('is accepted without the option, under NODE_ENV=development or test', () => {
    for (const env of ['development', 'test']) {
      vi.stubEnv('NODE_ENV', env);
      try {
        expect(() => createStepUp(options([new OutboxChannel()]))).not.toThrow();
      } finally {
        vi.unstubAllEnvs();
      }
    }
  });
});
