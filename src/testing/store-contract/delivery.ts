import { randomBytes } from 'node:crypto';
import { challengeOwner as owner, consumedBy, FAILED, RECEIPT, repeatOf, T0 } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// Delivery bookkeeping: the last message, hosted sends, dropped and discarded digests, delete.

export function describeDelivery({ describe, it, expect, created, take }: ContractKit): void {
  describe('recordDelivery', () => {
    it('changes the channel, transport and last message of a live challenge', async (store) => {
      const record = await created();
      await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      expect(await take(record.id)).toEqual({ ...record, channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0 });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual(consumedBy({ ...record, channel: 'sms-backup', transport: 'sms' }));
    });

    it('never recreates a deleted challenge', async (store) => {
      const record = await created();
      await store.delete(record.id);
      await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
    });

    it('never changes or revives a consumed challenge', async (store) => {
      const record = await created();
      expect(await store.verify(record.id, owner(record), ['p1:right'], undefined, RECEIPT)).toMatchObject({ status: 'ok', repeated: false });
      await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.discardCode(record.id, 'p1:right');
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual(repeatOf(record, RECEIPT));
      expect(await store.applyStatus(record.id, 'SM1', 'delivered')).toEqual({ status: 'gone' });
    });
  });

  describe('delete', () => {
    it('removes a challenge; deleting an unknown id is harmless', async (store) => {
      const record = await created();
      await store.delete(record.id);
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      expect(await store.delete(record.id)).toBeUndefined();
    });
  });
}

export function describeDeliveryDetails({ describe, it, expect, created, take, delivery }: ContractKit): void {
  describe('recordDelivery: messages, hosted ids, dropped digests', () => {
    it('with hostedId drops dropDigest (our unsent code) and sets the hosted send; keepEarlier false replaces earlier hosted sends', async (store) => {
      const record = await created({ digests: ['p1:right', 'p1:ours'], hosted: [{ channel: 'mc', id: 'V0' }] });
      await store.recordDelivery(record.id, delivery('V1', { channel: 'mc', transport: 'sms', hostedId: 'V1', dropDigest: 'p1:ours' }));
      expect(await take(record.id)).toEqual({ ...record, channel: 'mc', transport: 'sms', messageId: 'V1', sentAt: T0 + 500, digests: ['p1:right'], hosted: [{ channel: 'mc', id: 'V1' }] });
    });

    it('with hostedId and keepEarlier true appends to the earlier hosted sends', async (store) => {
      const record = await created({ digests: ['p1:ours'], hosted: [] });
      await store.recordDelivery(record.id, delivery('V1', { channel: 'mc', hostedId: 'V1', dropDigest: 'p1:ours', keepEarlier: true }));
      await store.recordDelivery(record.id, delivery('V2', { channel: 'mc-sms', transport: 'sms', hostedId: 'V2', dropDigest: 'p1:other', keepEarlier: true }));
      expect(await take(record.id)).toMatchObject({ digests: [], hosted: [{ channel: 'mc', id: 'V1' }, { channel: 'mc-sms', id: 'V2' }], messageId: 'V2' });
    });

    it('dropping the only digest leaves none: our unsent code does not verify', async (store) => {
      const record = await created({ digests: ['p1:right'] });
      await store.recordDelivery(record.id, delivery('V1', { channel: 'mc', hostedId: 'V1', dropDigest: 'p1:right' }));
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED, channel: 'mc' });
      expect(await take(record.id)).toMatchObject({ digests: [], hosted: [{ channel: 'mc', id: 'V1' }] });
    });

    it('discardCode takes one unsent digest out and keeps the others; a missing challenge is a no-op, never recreated', async (store) => {
      const record = await created({ digests: ['p1:old', 'p1:unsent'] });
      await store.discardCode(record.id, 'p1:unsent');
      expect(await store.verify(record.id, owner(record), ['p1:unsent'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await take(record.id)).toMatchObject({ digests: ['p1:old'] });
      const last = await created({ digests: ['p1:only'] });
      await store.discardCode(last.id, 'p1:only');
      expect(await take(last.id)).toMatchObject({ digests: [] });
      await store.discardCode('missing-challenge-id-000', 'p1:old');
      expect(await store.verify('missing-challenge-id-000', owner(record), ['p1:old'])).toEqual({ status: 'not_found' });
    });

    it('without hostedId, keepEarlier false clears the hosted sends (their codes are replaced); keepEarlier true keeps them', async (store) => {
      const cleared = await created({ hosted: [{ channel: 'mc', id: 'V1' }] });
      await store.recordDelivery(cleared.id, delivery('SM1', { channel: 'sms', transport: 'sms' }));
      expect(await take(cleared.id)).toMatchObject({ hosted: [], digests: ['p1:right'], channel: 'sms', transport: 'sms', messageId: 'SM1' });
      const kept = await created({ hosted: [{ channel: 'mc', id: 'V1' }] });
      await store.recordDelivery(kept.id, delivery('SM1', { keepEarlier: true }));
      expect(await take(kept.id)).toMatchObject({ hosted: [{ channel: 'mc', id: 'V1' }], digests: ['p1:right'] });
    });

    it('clears deliveryStatus for the new message', async (store) => {
      const record = await created({ messageId: 'wamid.1', deliveryStatus: 'failed', sentAt: T0 });
      await store.recordDelivery(record.id, delivery('SM2', { sentAt: T0 + 9_000 }));
      const sent = await take(record.id);
      expect(sent).toMatchObject({ messageId: 'SM2', sentAt: T0 + 9_000 });
      expect(sent.deliveryStatus).toBeUndefined();
    });

    it('with messageFact, the message\'s fact names the challenge; a challenge that is gone gets no record', async (store) => {
      const record = await created();
      const key = `msg:wamid.${randomBytes(8).toString('hex')}`;
      await store.recordDelivery(record.id, { ...delivery('wamid.F'), messageFact: { key, ttlMs: 60_000 } });
      expect(await store.getFact(key)).toBe(record.id);
      const sent = await take(record.id);
      expect(sent.messageId).toBe('wamid.F');
      expect(sent.deliveryStatus).toBeUndefined();
      await store.recordDelivery('missing-challenge-id-001', { ...delivery('wamid.G'), messageFact: { key: `${key}x`, ttlMs: 60_000 } });
      expect(await store.verify('missing-challenge-id-001', owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
    });
  });
}
