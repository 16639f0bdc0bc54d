-- Replaces estimates with actual usage after a request.
--
-- KEYS: t token-window keys, then budget keys.
-- ARGV: t, window_ttl_ms, then one signed delta per key.
-- A token counter is created if needed (an estimate of zero wrote nothing) and removed
-- when it reaches zero. A budget counter that has expired is left alone: the next
-- admission re-seeds it from persisted spend. No counter goes below zero.
local t = tonumber(ARGV[1])
local window_ttl = ARGV[2]
for i = 1, #KEYS do
  local key = KEYS[i]
  local delta = tonumber(ARGV[2 + i])
  if delta ~= 0 then
    if i <= t then
      local v = redis.call('INCRBY', key, delta)
      if v <= 0 then
        redis.call('DEL', key)
      else
        redis.call('PEXPIRE', key, window_ttl)
      end
    elseif redis.call('EXISTS', key) == 1 then
      local v = redis.call('INCRBY', key, delta)
      if v < 0 then
        redis.call('INCRBY', key, -v)
      end
    end
  end
end
return 0
