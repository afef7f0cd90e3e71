/**
 * Lua for the RedisStore. Each script touches exactly the keys in KEYS (one key, so
 * one Cluster slot), does every check before its first write (Redis does not roll
 * back a script's earlier writes on error), and is O(1).
 *
 * Owner arguments, shared by `verify` and `resend`:
 *   ARGV[1] now (ms), ARGV[2] subject, ARGV[3] n = number of binding hashes,
 *   ARGV[4 .. 3+n] binding hashes; the script's own arguments follow.
 */
const OPEN_CHALLENGE = `
local now = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return {'not_found'} end
local r = {}
for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
if r.sub ~= ARGV[2] then return {'not_found'} end
local nb = tonumber(ARGV[3])
if r.bnd ~= '' then
  local bound = false
  for i = 1, nb do
    if ARGV[3 + i] == r.bnd then bound = true end
  end
  if not bound then return {'not_found'} end
end
if r.lck == '1' then return {'locked'} end
if now >= tonumber(r.exp) then
  redis.call('HSET', KEYS[1], 'dig', '')
  return {'expired'}
end
local rest = 4 + nb
`;

/** Then ARGV[rest ..] are candidate digests, one per live pepper. */
export const VERIFY_SCRIPT = `${OPEN_CHALLENGE}
if r.dig ~= '' then
  for i = rest, #ARGV do
    if ARGV[i] == r.dig then
      redis.call('DEL', KEYS[1])
      return {'ok', unpack(flat)}
    end
  end
end
local attempts = tonumber(r.att) + 1
if attempts >= tonumber(r.max) then
  redis.call('HSET', KEYS[1], 'att', attempts, 'lck', '1', 'dig', '')
  return {'locked_now'}
end
redis.call('HSET', KEYS[1], 'att', attempts)
return {'invalid', tostring(tonumber(r.max) - attempts)}
`;

/** Then ARGV[rest] is the new digest and ARGV[rest + 1] the cooldown in ms. */
export const RESEND_SCRIPT = `${OPEN_CHALLENGE}
if tonumber(r.snd) >= tonumber(r.msnd) then return {'exhausted'} end
local next_send = tonumber(r.nxt)
if now < next_send then return {'cooldown', tostring(next_send - now)} end
redis.call('HSET', KEYS[1], 'dig', ARGV[rest], 'snd', tonumber(r.snd) + 1, 'nxt', now + tonumber(ARGV[rest + 1]))
return {'ok', unpack(redis.call('HGETALL', KEYS[1]))}
`;

/** ARGV[1] ttl in ms, then field/value pairs. */
export const CREATE_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/** Field/value pairs, written only while the challenge exists (never recreating it without a TTL). */
export const RECORD_DELIVERY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;
