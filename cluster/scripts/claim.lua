-- claim.lua: move up to `count` ready jobs of one queue into the caller's hands, each under a
-- lease. The job leaves `ready` and enters `leases` in the same step: it is never in neither.
-- The lease set is written with one ZADD for the whole batch (one command, one AOF entry).
--
-- KEYS[1]  ready zset of the queue
-- KEYS[2]  leases zset of the queue
-- KEYS[3]  signal list of the queue
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  lease length (ms)
-- ARGV[4]  count, the most jobs to claim
-- ARGV[5]  job key prefix (ids are popped here, so their record keys are built from it)
-- ARGV[6]  signal cap
--
-- Returns a JSON array with 5 values per claimed job: id, attempt (the fencing token), type,
-- payload (JSON text), timeout_ms; "{}" when nothing was claimed (cjson's empty table).
-- When jobs remain ready, one wake-up token is pushed so another idle worker comes for them.

local now, wid, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local prefix, cap = ARGV[5], tonumber(ARGV[6])
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[4]))
local out, leased = {}, {}
local expires = now + lease
local worker_json = cjson.encode(wid)

local function zadd_all(key, pairs)  -- in chunks: unpack() is bounded by Lua's C stack
  for i = 1, #pairs, 2000 do
    redis.call('ZADD', key, unpack(pairs, i, math.min(i + 1999, #pairs)))
  end
end

for i = 1, #popped, 2 do
  local id = popped[i]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'status', 'attempts', 'type', 'payload', 'timeout_ms')
  -- an entry whose record is gone or not queued is an orphan: dropping it loses nothing
  if f[1] == 'queued' then
    local attempt = tonumber(f[2]) + 1
    redis.call('HSET', key, 'status', 'running', 'attempts', attempt, 'worker', wid,
      'started_at', now, 'lease_expires_at', expires,
      'att:' .. attempt, '{"attempt":' .. attempt .. ',"worker":' .. worker_json ..
        ',"started_at":' .. now .. ',"outcome":"running"}')
    leased[#leased + 1] = expires
    leased[#leased + 1] = id
    out[#out + 1] = id
    out[#out + 1] = attempt
    out[#out + 1] = f[3]
    out[#out + 1] = f[4]
    out[#out + 1] = tonumber(f[5])
  end
end
zadd_all(KEYS[2], leased)
if #popped > 0 and redis.call('ZCARD', KEYS[1]) > 0 and redis.call('LLEN', KEYS[3]) < cap then
  redis.call('RPUSH', KEYS[3], 1)
end
return cjson.encode(out)
