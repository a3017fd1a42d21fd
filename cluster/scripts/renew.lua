-- renew.lua: extend the leases a worker holds (its heartbeat for running jobs).
--
-- KEYS[1]  leases zset of the queue
-- KEYS[2 .. 1+n]  the job hashes, in ARGV order
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  lease length (ms)
-- then 2 values per lease: id, attempt
--
-- Returns the ids whose lease the worker no longer holds (reclaimed, cancelled or expired):
-- the worker must expect its completion of them to be rejected.

local now, wid, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local expires = now + lease
local lost = {}
for j = 0, (#ARGV - 3) / 2 - 1 do
  local id, attempt = ARGV[4 + j * 2], tonumber(ARGV[5 + j * 2])
  local key = KEYS[2 + j]
  local f = redis.call('HMGET', key, 'status', 'attempts', 'worker')
  if f[1] == 'running' and tonumber(f[2]) == attempt and f[3] == wid then
    redis.call('ZADD', KEYS[1], 'XX', expires, id)
    redis.call('HSET', key, 'lease_expires_at', expires)
  else
    lost[#lost + 1] = id
  end
end
return lost
