import { hashBinding } from './codes.js';
import type { ResolvedPurpose, StepUpConfig } from './config.js';
import type { VerifiedChallenge, VerifyReceipt } from '../stores/store.js';
import type { StepUpClaims } from './types.js';

const ACR_PREFIX = 'urn:whatsapp-stepup:acr:oob-';

/**
 * The claims of the step-up token a verified challenge earns: `acr` names the transport the
 * code went by, `amr` the methods (RFC 8176) with the app's other factors, `txn` and `sbh`
 * bind it to the transaction and the session.
 */
export function claimsOf(config: StepUpConfig, record: VerifiedChallenge, kept: VerifyReceipt, policy: ResolvedPurpose, binding: string | undefined): StepUpClaims {
  // The first verify's time and token id: a retry's token is that verify's token again.
  const nowSec = Math.floor(kept.verifiedAt / 1000);
  const { otherFactors } = record;
  return {
    iss: config.tokens.issuer,
    aud: config.tokens.audience,
    sub: record.subject,
    iat: nowSec,
    exp: nowSec + policy.tokenTtlSec,
    auth_time: nowSec,
    jti: kept.jti,
    acr: ACR_PREFIX + record.transport,
    // RFC 8176: `sms` for SMS; WhatsApp and RCS have no registered value, so `otp`. `mca`: a channel apart from the primary one.
    amr: [record.transport === 'sms' ? 'sms' : 'otp', 'mca', ...otherFactors, ...(otherFactors.length > 0 ? ['mfa'] : [])],
    purpose: record.purpose,
    cid: record.id,
    chn: record.channel,
    ...(record.txn === undefined ? {} : { txn: record.txn }),
    ...(binding === undefined ? {} : { sbh: hashBinding(config.peppers[0]!, binding) }),
  };
}
