local failures = KEYS[1]
local ttl = tonumber(ARGV[1])
redis.call('HSETNX', failures, 'n', 0)
if redis.call('PTTL', failures) < ttl then redis.call('PEXPIRE', failures, ttl) end
return 1
