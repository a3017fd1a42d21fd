-- release.lua: a draining worker hands back jobs it will not finish. They return to ready at
-- their original place, and the hand-back does not use up an attempt (base is raised by one).
--
-- KEYS[1]  leases zset of the queue
-- KEYS[2]  ready zset of the queue
-- KEYS[3]  signal list of the queue
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  signal cap
-- ARGV[4]  job key prefix (record keys are built from the ids)
-- ARGV[5]  JSON array, 2 values per job: id, attempt
--
-- Returns a JSON array of the ids handed back (those the worker still held); "{}" when none.

local now, wid, cap, prefix = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local jobs = cjson.decode(ARGV[5])
local back = {}
for j = 1, #jobs, 2 do
  local id, attempt = jobs[j], jobs[j + 1]
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'status', 'attempts', 'worker', 'base', 'score')
  if f[1] == 'running' and tonumber(f[2]) == attempt and f[3] == wid then
    local att = redis.call('HGET', key, 'att:' .. attempt)
    if att then
      local rec = cjson.decode(att)
      rec.outcome = 'released'
      rec.finished_at = now
      redis.call('HSET', key, 'att:' .. attempt, cjson.encode(rec))
    end
    redis.call('HSET', key, 'status', 'queued', 'base', tonumber(f[4]) + 1)
    redis.call('HDEL', key, 'lease_expires_at')
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], f[5], id)
    back[#back + 1] = id
  end
end
if #back > 0 and redis.call('LLEN', KEYS[3]) < cap then
  redis.call('RPUSH', KEYS[3], 1)
end
return cjson.encode(back)
