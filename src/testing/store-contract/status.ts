import type { ChallengeRecord } from '../../stores/store.js';
import { randomId, T0 } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// Delivery statuses: forward only, and a failure answered once.

export function describeDeliveryStatus({ describe, it, expect, created, take, delivery }: ContractKit): void {
  describe('applyStatus: forward only, failed once', () => {
    const withMessage = (): Promise<ChallengeRecord> => created({ messageId: 'wamid.A', sentAt: T0 });

    it('sent, delivered, read are applied in order and return the record as it was', async (store) => {
      const record = await withMessage();
      expect(await store.applyStatus(record.id, 'wamid.A', 'sent')).toEqual({ status: 'applied', record });
      expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'applied', record: { ...record, deliveryStatus: 'sent' } });
      expect(await store.applyStatus(record.id, 'wamid.A', 'read')).toEqual({ status: 'applied', record: { ...record, deliveryStatus: 'delivered' } });
      expect(await take(record.id)).toMatchObject({ deliveryStatus: 'read' });
    });

    it('a status may skip ahead (delivered from nothing), but a repeated or backward one is ignored', async (store) => {
      const record = await withMessage();
      expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toMatchObject({ status: 'applied' });
      expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'ignored' });
      expect(await store.applyStatus(record.id, 'wamid.A', 'sent')).toEqual({ status: 'ignored' });
      expect(await store.applyStatus(record.id, 'wamid.A', 'read')).toMatchObject({ status: 'applied' });
      expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'ignored' });
      expect(await take(record.id)).toMatchObject({ deliveryStatus: 'read' });
    });

    it("failed with no status yet is answered 'failed' exactly once; repeated, it is ignored", async (store) => {
      const record = await withMessage();
      expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'failed', record });
      expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'ignored' });
      expect(await take(record.id)).toMatchObject({ deliveryStatus: 'failed' });
    });

    it("failed after sent is answered 'failed'", async (store) => {
      const record = await withMessage();
      await store.applyStatus(record.id, 'wamid.A', 'sent');
      expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'failed', record: { ...record, deliveryStatus: 'sent' } });
    });

    it('failed after delivered or read is ignored (the code arrived)', async (store) => {
      for (const reached of ['delivered', 'read'] as const) {
        const record = await withMessage();
        await store.applyStatus(record.id, 'wamid.A', reached);
        expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'ignored' });
        expect(await take(record.id)).toMatchObject({ deliveryStatus: reached });
      }
    });

    it('nothing moves a failed message on: sent, delivered or read after failed are ignored', async (store) => {
      const record = await withMessage();
      await store.applyStatus(record.id, 'wamid.A', 'failed');
      for (const status of ['sent', 'delivered', 'read', 'failed'] as const) {
        expect(await store.applyStatus(record.id, 'wamid.A', status)).toEqual({ status: 'ignored' });
      }
      expect(await take(record.id)).toMatchObject({ deliveryStatus: 'failed' });
    });

    it("of 10 concurrent failed reports exactly one is 'failed', the rest ignored", async (store) => {
      const record = await withMessage();
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.applyStatus(record.id, 'wamid.A', 'failed')));
      expect(outcomes.filter((outcome) => outcome.status === 'failed')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.status === 'ignored')).toHaveLength(9);
    });

    it('a report for another message than the latest is stale and changes nothing; a missing challenge is gone', async (store) => {
      const record = await withMessage();
      expect(await store.applyStatus(record.id, 'wamid.OLD', 'failed')).toEqual({ status: 'stale' });
      expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toMatchObject({ status: 'failed' });
      expect(await store.applyStatus(randomId(), 'wamid.A', 'failed')).toEqual({ status: 'gone' });
      await store.delete(record.id);
      expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'gone' });
    });

    it('a new delivery makes the earlier message stale and starts the new one afresh', async (store) => {
      const record = await withMessage();
      await store.applyStatus(record.id, 'wamid.A', 'failed');
      await store.recordDelivery(record.id, delivery('SM1', { channel: 'sms', transport: 'sms' }));
      expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'stale' });
      const failed = await store.applyStatus(record.id, 'SM1', 'failed');
      expect(failed).toMatchObject({ status: 'failed', record: { messageId: 'SM1', channel: 'sms' } });
      expect('record' in failed ? failed.record.deliveryStatus : 'no record').toBeUndefined();
    });
  });
}
