local challenge, failures = KEYS[1], KEYS[2]
local now, ttl, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counted, read, facts = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function failure_count(key, now)
  local f = redis.call('HMGET', key, 'n', 'e')
  local count, ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if count == 0 or now >= ends then return 0, 0 end
  return count, ends - now
end
local function create_challenge(key, ttl, from)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, from))
  redis.call('PEXPIRE', key, ttl)
end
local function count_hit(key, window)
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if count == 1 or left < 0 then
    redis.call('PEXPIRE', key, window)
    left = window
  end
  return count, left
end
local function read_hit(key)
  local left = redis.call('PTTL', key)
  if left < 0 then return '0', 0 end
  return redis.call('GET', key) or '0', left
end
local reply = {'0', '0', '0'}
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
