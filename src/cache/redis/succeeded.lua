-- Settles an attempt as a success: the Redis form of `Pending::succeeded`.
-- KEYS: 1 failures of the address, 2 its attempts in flight,
--       3 trust of this (account, address) pair
-- ARGV: 1 attempt id, 2 account key, 3 trust ms (0: the account limit is off)
-- Forgets the address's failures against this account only, and trusts the address.
redis.call('ZREM', KEYS[2], ARGV[1])
local suffix = ':' .. ARGV[2]
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, -#suffix) == suffix then
    redis.call('ZREM', KEYS[1], member)
  end
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
end
return 0
