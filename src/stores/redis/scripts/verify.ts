import { CONSUME, COUNT_FAILURE, loadChallenge, openChallenge, REPEAT_IF_SAME_CODE, SUBJECT_FAILURES, VERIFY_FIELDS, verified } from './challenge.js';

/**
 * A code against the challenge's live digests (`dig`, space-separated), in one step with the
 * subject's failures. A subject past its limit is refused before any compare; a consumed
 * challenge's retry of its right code gets the first receipt back, before any limit. On
 * success the receipt (`jti`, `at`) is kept; `digests` are the candidates, one per live pepper.
 */
export const VERIFY_SCRIPT = `local challenge, failures = KEYS[1], KEYS[2]
local now, subject, bindings = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local limit, window, jti, at, digests = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
${openChallenge(VERIFY_FIELDS, REPEAT_IF_SAME_CODE)}${COUNT_FAILURE}${SUBJECT_FAILURES}${CONSUME}
local failed, ends = read_failures()
local held = locked_out(failed, ends)
if held then return held end
for stored in string.gmatch(r.dig, '%S+') do
  if listed(digests, stored) then
    consume(stored)
    clear_failures(failed)
    return ${verified('ok')}
  end
end
count_subject_failure(failed, ends)
return count_failure()
`;

/**
 * Hosted channels, step one: reserve an attempt before asking the provider, so that
 * concurrent guesses cannot exceed the limit. The attempt is counted now; step two
 * consumes on a right code or locks when the limit is reached. `digests` are those of the
 * code being checked: a consumed challenge's retry of the code the provider approved gets
 * the first receipt back.
 */
export const BEGIN_HOSTED_SCRIPT = `local challenge, failures = KEYS[1], KEYS[2]
local now, subject, bindings = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local limit, window, digests = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
${openChallenge(undefined, REPEAT_IF_SAME_CODE)}${SUBJECT_FAILURES}
local held = locked_out(read_failures())
if held then return held end
local attempts = tonumber(r.att)
if attempts >= tonumber(r.max) then return {'locked'} end
redis.call('HSET', challenge, 'att', attempts + 1)
return {'check', unpack(redis.call('HGETALL', challenge))}
`;

/**
 * Step two: `approved` when the provider took the code. Only one caller consumes, keeping the
 * receipt and the `digest` of the approved code; a concurrent approved check gets its
 * receipt. A refusal counts a subject failure and locks when the reserved attempt was the last.
 */
export const FINISH_HOSTED_SCRIPT = `local challenge, failures = KEYS[1], KEYS[2]
local approved, now = ARGV[1] == '1', tonumber(ARGV[2])
local limit, window, jti, at, digest = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
${loadChallenge(VERIFY_FIELDS)}${SUBJECT_FAILURES}${CONSUME}
if r.vat ~= '0' then
  if approved then return ${verified('again')} end
  return {'not_found'}
end
local failed, ends = read_failures()
if approved then
  if r.lck == '1' then return {'locked'} end
  consume(digest)
  clear_failures(failed)
  return ${verified('ok')}
end
count_subject_failure(failed, ends)
local attempts = tonumber(r.att)
if attempts >= tonumber(r.max) then
  redis.call('HSET', challenge, 'lck', '1', 'dig', '')
  return {'locked_now', r.tst, r.pur, r.chn}
end
return {'invalid', tostring(tonumber(r.max) - attempts), r.tst, r.pur, r.chn}
`;
