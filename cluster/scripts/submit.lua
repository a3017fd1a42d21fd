-- submit.lua: create jobs in one queue, each atomically with its idempotency key.
-- A job whose idempotency key is already taken is not created; the earlier job's id is returned.
--
-- KEYS[1]  ready zset of the queue
-- KEYS[2]  scheduled zset of the queue
-- KEYS[3]  signal list of the queue
-- KEYS[4]  seq counter
-- KEYS[5]  queues set
-- KEYS[6]  idx:all
-- KEYS[7]  idx:queued
-- KEYS[8]  idx:scheduled
-- KEYS[9 .. 8+n]   the job hashes, one per job, in ARGV order
-- KEYS[9+n .. ]    idempotency keys, only for the jobs that have one (see idem_slot)
--
-- ARGV[1]  now (ms)
-- ARGV[2]  queue name
-- ARGV[3]  idempotency key lifetime (s)
-- ARGV[4]  n, the number of jobs
-- ARGV[5]  signal cap (longest the signal list may grow)
-- then 8 values per job: id, type, payload (JSON), max_attempts, timeout_ms, priority,
--   run_at (ms), idem_slot (index into KEYS of its idempotency key, 0 when it has none)
--
-- Returns 3 values per job: id, created (1 new / 0 existing), status ('' when existing).

local now = tonumber(ARGV[1])
local queue = ARGV[2]
local idem_ttl = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local out = {}
local woke = false

redis.call('SADD', KEYS[5], queue)
for j = 0, n - 1 do
  local a = 6 + j * 8
  local id, slot = ARGV[a], tonumber(ARGV[a + 7])
  local existing = false
  if slot > 0 then
    existing = redis.call('GET', KEYS[slot])
    if not existing then
      redis.call('SET', KEYS[slot], id, 'EX', idem_ttl)
    end
  end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 0
    out[#out + 1] = ''
  else
    local priority, run_at = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    local seq = redis.call('INCR', KEYS[4])
    local score = (100 - priority) * 1099511627776 + seq
    local status = 'queued'
    if run_at > now then
      status = 'scheduled'
      redis.call('ZADD', KEYS[2], run_at, id)
      redis.call('ZADD', KEYS[8], seq, id)
    else
      redis.call('ZADD', KEYS[1], score, id)
      redis.call('ZADD', KEYS[7], seq, id)
      woke = true
    end
    redis.call('ZADD', KEYS[6], seq, id)
    redis.call('HSET', KEYS[9 + j],
      'id', id, 'type', ARGV[a + 1], 'queue', queue, 'payload', ARGV[a + 2],
      'status', status, 'attempts', 0, 'base', 0, 'max_attempts', ARGV[a + 3],
      'timeout_ms', ARGV[a + 4], 'priority', priority, 'score', score, 'seq', seq,
      'created_at', now, 'run_at', run_at, 'idem', slot > 0 and 1 or 0)
    out[#out + 1] = id
    out[#out + 1] = 1
    out[#out + 1] = status
  end
end
if woke and redis.call('LLEN', KEYS[3]) < cap then
  redis.call('RPUSH', KEYS[3], 1)
end
return out
