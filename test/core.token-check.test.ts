// `tokenCheck(policy)` is `checkToken` with the route's policy validated once: a bad policy
// throws at construction, and the returned check decides every token as `checkToken` does.
import { describe, expect, it } from 'vitest';
import { type TokenFacts, type TokenPolicy } from '../src/core/types.js';
import { expectRefused, issueToken, makeStepUp, PAYMENT, SUBJECT } from './core.fixtures.js';

describe('tokenCheck', () => {
  it('validates the policy when it is made, with a message that says how to fix it', () => {
    const { stepup } = makeStepUp();
    expect(() => stepup.tokenCheck({ purpose: 'nope' })).toThrow(/Unknown purpose "nope"; configure it in createStepUp/);
    // The request's facts are not part of a policy.
    expect(() => stepup.tokenCheck({ purpose: 'login', subject: SUBJECT } as TokenPolicy)).toThrow(/tokenCheck has no option `subject`\. Known: purpose, maxAge, oneTime, acrValues, denyAmr/);
    expect(() => stepup.tokenCheck({ purpose: 'payment', oneTime: false })).toThrow(/one-time: oneTime cannot be false/);
    expect(() => stepup.tokenCheck({ purpose: 'login', maxAge: 'soon' as TokenPolicy['maxAge'] })).toThrow(/maxAge/);
    expect(() => stepup.tokenCheck(undefined as unknown as TokenPolicy)).toThrow(/tokenCheck needs \{ purpose \}/);
  });

  it('refuses a fact it does not know (a misspelt subject would otherwise go unchecked)', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness);
    const login = harness.stepup.tokenCheck({ purpose: 'login' });
    await expect(login(token, { subjet: 'someone-else' } as TokenFacts)).rejects.toThrow(/has no fact `subjet`\. Known: subject, transaction, binding, ip/);
    await expect(login(token, 'user-1' as unknown as TokenFacts)).rejects.toThrow(/takes \(token, \{ subject\?/);
    expect(harness.events.filter((event) => event.type === 'token.accepted')).toHaveLength(0);
  });

  it('decides as checkToken: the subject, the purpose, a missing token, the transaction', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness);
    const login = harness.stepup.tokenCheck({ purpose: 'login' });
    await expect(login(token, { subject: SUBJECT, ip: '203.0.113.7' })).resolves.toMatchObject({ sub: SUBJECT, purpose: 'login' });
    await expect(login(token)).resolves.toMatchObject({ sub: SUBJECT });
    await expectRefused(login(token, { subject: 'someone-else' }), 'wrong_subject');
    await expectRefused(login(undefined, { subject: SUBJECT }), 'missing');
    await expectRefused(harness.stepup.tokenCheck({ purpose: 'password-reset' })(token), 'wrong_purpose');
    const accepted = harness.events.filter((event) => event.type === 'token.accepted');
    expect(accepted[0]).toMatchObject({ subject: SUBJECT, purpose: 'login', ip: '203.0.113.7' });

    const payment = harness.stepup.tokenCheck({ purpose: 'payment' });
    const paid = (await issueToken(harness, { purpose: 'payment' })).token;
    await expect(payment(paid, { subject: SUBJECT })).rejects.toThrow(/binds a transaction/);
    await expectRefused(payment(paid, { subject: SUBJECT, transaction: { ...PAYMENT, amount: '999.00' } }), 'transaction_mismatch');
    await expect(payment(paid, { subject: SUBJECT, transaction: PAYMENT })).resolves.toMatchObject({ purpose: 'payment' });
    await expectRefused(payment(paid, { subject: SUBJECT, transaction: PAYMENT }), 'replayed');
  });

  it('checkToken still rejects (never throws) for a bad input, and names every option it knows', async () => {
    const { stepup } = makeStepUp();
    const unknown = { purpose: 'login', sub: SUBJECT } as unknown as Parameters<typeof stepup.checkToken>[1];
    const outcome = stepup.checkToken('x', unknown);
    expect(outcome).toBeInstanceOf(Promise);
    await expect(outcome).rejects.toThrow(/checkToken has no option `sub`\. Known: purpose, maxAge, oneTime, acrValues, denyAmr, subject, transaction, binding, ip/);
  });
});
