-- claim.lua: move up to `count` ready jobs of one queue into the caller's hands, each under a
-- lease. The job leaves `ready` and enters `leases` in the same step: it is never in neither.
--
-- KEYS[1]  ready zset of the queue
-- KEYS[2]  leases zset of the queue
-- KEYS[3]  signal list of the queue
-- KEYS[4]  idx:queued
-- KEYS[5]  idx:running
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  lease length (ms)
-- ARGV[4]  count, the most jobs to claim
-- ARGV[5]  job key prefix (ids are popped here, so their record keys are built from it)
-- ARGV[6]  signal cap
--
-- Returns 5 values per claimed job: id, attempt (the fencing token), type, payload, timeout_ms.
-- When jobs remain ready, one wake-up token is pushed so another idle worker comes for them.

local now, wid, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local prefix, cap = ARGV[5], tonumber(ARGV[6])
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[4]))
local out = {}
local expires = now + lease

for i = 1, #popped, 2 do
  local id = popped[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'status', 'attempts', 'type', 'payload', 'timeout_ms', 'seq')
  -- an entry whose record is gone or not queued is an orphan: dropping it loses nothing
  if f[1] == 'queued' then
    local attempt = tonumber(f[2]) + 1
    redis.call('HSET', key, 'status', 'running', 'attempts', attempt, 'worker', wid,
      'started_at', now, 'lease_expires_at', expires,
      'att:' .. attempt, string.format(
        '{"attempt":%d,"worker":%s,"started_at":%d,"outcome":"running"}',
        attempt, cjson.encode(wid), now))
    redis.call('ZADD', KEYS[2], expires, id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZADD', KEYS[5], f[6], id)
    out[#out + 1] = id
    out[#out + 1] = attempt
    out[#out + 1] = f[3]
    out[#out + 1] = f[4]
    out[#out + 1] = f[5]
  end
end
if #popped > 0 and redis.call('ZCARD', KEYS[1]) > 0 and redis.call('LLEN', KEYS[3]) < cap then
  redis.call('RPUSH', KEYS[3], 1)
end
return out
