-- renew.lua: extend the leases a worker holds (its heartbeat for running jobs).
--
-- KEYS[1]  leases zset of the queue
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  lease length (ms)
-- ARGV[4]  job key prefix (record keys are built from the ids)
-- ARGV[5]  JSON array, 2 values per lease: id, attempt
--
-- Returns a JSON array of the ids whose lease the worker no longer holds (reclaimed, cancelled
-- or expired): the worker must expect its completion of them to be rejected. "{}" when none.

local now, wid, lease, prefix = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local held = cjson.decode(ARGV[5])
local expires = now + lease
local lost, renewed = {}, {}
for j = 1, #held, 2 do
  local id, attempt = held[j], held[j + 1]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'status', 'attempts', 'worker')
  if f[1] == 'running' and tonumber(f[2]) == attempt and f[3] == wid then
    renewed[#renewed + 1] = expires
    renewed[#renewed + 1] = id
    redis.call('HSET', key, 'lease_expires_at', expires)
  else
    lost[#lost + 1] = id
  end
end
for i = 1, #renewed, 2000 do  -- in chunks: unpack() is bounded by Lua's C stack
  redis.call('ZADD', KEYS[1], 'XX', unpack(renewed, i, math.min(i + 1999, #renewed)))
end
return cjson.encode(lost)
