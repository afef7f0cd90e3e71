local challenge = KEYS[1]
local ttl = tonumber(ARGV[1])
local function create_challenge(key, ttl, from)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, from))
  redis.call('PEXPIRE', key, ttl)
end
create_challenge(challenge, ttl, 2)
return 1
