-- Settles an attempt as failed: the Redis form of `Pending::failed`.
-- KEYS: 1 failures of the address, 2 its attempts in flight, 3 its ban,
--       4 failures of the account
-- ARGV: 1 attempt id, 2 account key, 3 max failures (0: no address limit), 4 window ms,
--       5 ban ms, 6 account max failures (0: no account limit), 7 account window ms
-- Returns 1 if this failure got the address banned, else 0.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local amax, awindow = tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('ZREM', KEYS[2], ARGV[1])
if amax > 0 then
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  -- An account keeps at most amax failure times, the newest.
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(amax + 1))
  redis.call('PEXPIRE', KEYS[4], awindow)
end
if max > 0 then
  -- The member names the account, so a success can forget only its own account's.
  redis.call('ZADD', KEYS[1], now, ARGV[1] .. ':' .. ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('PEXPIRE', KEYS[1], window)
  if redis.call('ZCARD', KEYS[1]) >= max then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
