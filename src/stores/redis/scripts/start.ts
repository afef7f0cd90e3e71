import { COUNT_HIT, CREATE_CHALLENGE, READ_FAILURE_COUNT, READ_HIT } from './challenge.js';

/** A new challenge that Redis drops in `ttl` ms; ARGV[2..] are its field/value pairs. */
export const CREATE_SCRIPT = `local challenge = KEYS[1]
local ttl = tonumber(ARGV[1])
${CREATE_CHALLENGE}create_challenge(challenge, ttl, 2)
return 1
`;

/** Keeps the subject's failure record for at least `ttl` ms: as long as its newest challenge. */
export const KEEP_FAILURES_SCRIPT = `local failures = KEYS[1]
local ttl = tonumber(ARGV[1])
redis.call('HSETNX', failures, 'n', 0)
if redis.call('PTTL', failures) < ttl then redis.call('PEXPIRE', failures, ttl) end
return 1
`;

/** The subject's failure count and the ms left of its window, at `now`; '0', '0' when none. */
export const READ_FAILURES_SCRIPT = `local failures = KEYS[1]
local now = tonumber(ARGV[1])
${READ_FAILURE_COUNT}local count, left = failure_count(failures, now)
return {tostring(count), tostring(left)}
`;

/**
 * A start in one step, for a standalone Redis (its keys are of many slots). KEYS: the
 * challenge, the subject's failure record, then `counted` counters to count, `read` to read
 * and `facts` facts. The failure record is read, not kept alive: only a Cluster slot in
 * migration needs it beside the challenge before the first wrong code, and a Cluster does not
 * run this script. ARGV after the named ones: a window and a max (0: none) per counted key,
 * then the challenge's field/value pairs. Every counter moves; the challenge is created only
 * when no count passed its max and the subject is under its `limit` of failures (0: none).
 * Reply: '1' created or '0', the failure count and ms left, a count and ms left per counter
 * (counted, then read), then each fact ('' for none).
 */
export const ADMIT_SCRIPT = `local challenge, failures = KEYS[1], KEYS[2]
local now, ttl, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counted, read, facts = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
${READ_FAILURE_COUNT}${CREATE_CHALLENGE}${COUNT_HIT}${READ_HIT}local reply = {'0', '0', '0'}
local admitted = true
if limit > 0 then
  local count, left = failure_count(failures, now)
  reply[2], reply[3] = tostring(count), tostring(left)
  if count >= limit then admitted = false end
end
for i = 1, counted do
  local max = tonumber(ARGV[6 + 2 * i])
  local count, left = count_hit(KEYS[2 + i], tonumber(ARGV[5 + 2 * i]))
  if max > 0 and count > max then admitted = false end
  reply[#reply + 1] = tostring(count)
  reply[#reply + 1] = tostring(left)
end
for i = 1, read do
  local count, left = read_hit(KEYS[2 + counted + i])
  reply[#reply + 1] = count
  reply[#reply + 1] = tostring(left)
end
for i = 1, facts do
  reply[#reply + 1] = redis.call('GET', KEYS[2 + counted + read + i]) or ''
end
if admitted then
  create_challenge(challenge, ttl, 7 + 2 * counted)
  reply[1] = '1'
end
return reply
`;

/** A counter's count and the ms left, after counting one event in its `window` (ms). */
export const COUNT_HIT_SCRIPT = `local counter = KEYS[1]
local window = tonumber(ARGV[1])
${COUNT_HIT}local count, left = count_hit(counter, window)
return {tostring(count), tostring(left)}
`;

/** A counter's count and the ms left, without counting. */
export const READ_HIT_SCRIPT = `local counter = KEYS[1]
${READ_HIT}local count, left = read_hit(counter)
return {count, tostring(left)}
`;
