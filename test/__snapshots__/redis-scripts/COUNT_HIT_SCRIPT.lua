local counter = KEYS[1]
local window = tonumber(ARGV[1])
local function count_hit(key, window)
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if count == 1 or left < 0 then
    redis.call('PEXPIRE', key, window)
    left = window
  end
  return count, left
end
local count, left = count_hit(counter, window)
return {tostring(count), tostring(left)}
