local failures = KEYS[1]
local now = tonumber(ARGV[1])
local function failure_count(key, now)
  local f = redis.call('HMGET', key, 'n', 'e')
  local count, ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if count == 0 or now >= ends then return 0, 0 end
  return count, ends - now
end
local count, left = failure_count(failures, now)
return {tostring(count), tostring(left)}
