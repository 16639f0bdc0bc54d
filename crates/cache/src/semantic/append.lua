-- Appends one semantic row to a partition's stream, keeping the newest ARGV[1] (about), and
-- makes the stream live at least as long as the row (ARGV[3] ms).
-- KEYS[1]: the stream; ARGV[1]: rows kept; ARGV[2]: the row; ARGV[3]: its TTL in ms.
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'r', ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
