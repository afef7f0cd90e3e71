/**
 * The guard's final gate (R-L4, R-F3): `onExecute` runs after every check passed, with the
 * claims and the request, on both adapters alike. `false` refuses as `replayed` (a durable
 * unique constraint of the app said no), a throw answers 500, and in neither case does the
 * route run.
 */
import { createServer, type Server } from 'node:http';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepUpClaims } from '../src/index.js';
import { requireStepUp as expressGuard } from '../src/express/index.js';
import { requireStepUp as koaGuard } from '../src/koa/index.js';
import { closeServer, createHarnessCore, listen, type HarnessCore } from './support/http-harness.js';

const PAYMENT = { id: 'pay_1', amount: '10.00', currency: 'EUR', payee: 'ACME' };
type Gate = (claims: StepUpClaims) => boolean | void | Promise<boolean | void>;

const ADAPTERS = {
  express: (core: HarnessCore, gate: Gate, executed: string[]) => {
    const app = express();
    app.post('/pay', expressGuard(core.stepup, {
      purpose: 'payment', subject: () => 'alice', transaction: () => PAYMENT, onError: () => undefined,
      onExecute: (claims) => gate(claims),
    }), (req, res) => {
      executed.push(req.stepUp!.jti);
      res.json({ ok: true });
    });
    return createServer(app);
  },
  koa: (core: HarnessCore, gate: Gate, executed: string[]) => {
    const app = new Koa();
    app.use(async (ctx, next) => (ctx.path === '/pay' ? next() : undefined));
    app.use(koaGuard(core.stepup, {
      purpose: 'payment', subject: () => 'alice', transaction: () => PAYMENT, onError: () => undefined,
      onExecute: (claims) => gate(claims),
    }));
    app.use((ctx) => {
      executed.push(ctx.state.stepUp.jti);
      ctx.body = { ok: true };
    });
    return createServer(app.callback());
  },
};

const running: { server: Server; core: HarnessCore }[] = [];
afterEach(async () => {
  for (const { server, core } of running.splice(0)) {
    await closeServer(server);
    await core.dispose();
  }
});

for (const [name, build] of Object.entries(ADAPTERS)) {
  describe(`${name} guard onExecute`, () => {
    async function setup(gate: Gate) {
      const core = await createHarnessCore({ store: 'memory' });
      const executed: string[] = [];
      const server = build(core, gate, executed);
      await listen(server);
      running.push({ server, core });
      const token = async () => {
        const view = await core.stepup.start({ subject: 'alice', phone: '+34612345678', purpose: 'payment', transaction: PAYMENT });
        const code = core.outbox.messages().filter((message) => message.challengeId === view.challengeId).at(-1)!.code;
        return (await core.stepup.verify(view.challengeId, code, { subject: 'alice' })).token;
      };
      const pay = (value: string) => request(server).post('/pay').set('Step-Up-Token', value);
      return { token, pay, executed };
    }

    it('R-L4 a durable gate (a unique constraint on the payment) refuses a second valid token for the same payment as replayed', async () => {
      const paid = new Set<string>(); // the app's database: one execution per payment
      const { token, pay, executed } = await setup(() => {
        if (paid.has('payment-1')) return false;
        paid.add('payment-1');
      });
      expect((await pay(await token())).status).toBe(200);
      const second = await pay(await token()); // another valid, unused token for the same payment
      expect(second.status).toBe(401);
      expect(second.headers['www-authenticate']).toContain('error="insufficient_user_authentication"');
      expect(second.body.error).toMatchObject({ code: 'step_up_required', reason: 'replayed' });
      expect(executed).toHaveLength(1);
    });

    it('R-L4 onExecute receives the verified claims; true or nothing lets the route run', async () => {
      const seen: StepUpClaims[] = [];
      const { token, pay, executed } = await setup((claims) => {
        seen.push(claims);
        return true;
      });
      expect((await pay(await token())).status).toBe(200);
      expect(seen[0]).toMatchObject({ sub: 'alice', purpose: 'payment' });
      expect(executed).toEqual([seen[0]!.jti]);
    });

    it('R-F11 a gate that throws answers 500, never a pass, and the route does not run', async () => {
      const { token, pay, executed } = await setup(() => {
        throw new Error('database down');
      });
      const res = await pay(await token());
      expect(res.status).toBe(500);
      expect(res.text).not.toContain('database down');
      expect(executed).toEqual([]);
    });

    it('the gate runs after the checks: a refused token never reaches it', async () => {
      let calls = 0;
      const { pay } = await setup(() => {
        calls++;
      });
      expect((await pay('not-a-token')).status).toBe(401);
      expect(calls).toBe(0);
    });
  });
}
