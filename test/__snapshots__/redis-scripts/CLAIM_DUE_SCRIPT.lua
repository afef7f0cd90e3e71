local due = KEYS[1]
local now, limit = ARGV[1], tonumber(ARGV[2])
local claimed = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(claimed) do redis.call('ZREM', due, member) end
return claimed
