local due = KEYS[1]
local at, member, ttl = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZADD', due, at, member)
redis.call('PEXPIRE', due, ttl)
return 1
