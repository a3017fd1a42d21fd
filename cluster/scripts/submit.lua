-- submit.lua: create jobs in one queue, each atomically with its idempotency key.
-- A job whose idempotency key is already taken is not created; the earlier job's id is returned.
-- The queue's sets are written with one command per batch (ZADD ready / scheduled / indexes).
--
-- KEYS[1]  ready zset of the queue
-- KEYS[2]  scheduled zset of the queue
-- KEYS[3]  signal list of the queue
-- KEYS[4]  seq counter
-- KEYS[5]  queues set
-- KEYS[6]  idx:all
-- KEYS[7]  idx:scheduled
--
-- ARGV[1]  now (ms)
-- ARGV[2]  queue name
-- ARGV[3]  idempotency key lifetime (s)
-- ARGV[4]  signal cap (longest the signal list may grow)
-- ARGV[5]  job key prefix (record keys are built from the ids)
-- ARGV[6]  idempotency key prefix
-- ARGV[7]  JSON array, 8 values per job: id, type, payload (JSON text), max_attempts,
--   timeout_ms, priority, run_at (ms), idempotency key ('' when it has none)
--
-- Returns a JSON array, 3 values per job: id, created (1 new / 0 existing), status ('' when
-- existing).

local now, queue, idem_ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local cap, prefix, idem_prefix = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local jobs = cjson.decode(ARGV[7])
local out, existing, fresh = {}, {}, 0
local ready, scheduled, delayed, all = {}, {}, {}, {}

local function zadd_all(key, pairs)  -- in chunks: unpack() is bounded by Lua's C stack
  for i = 1, #pairs, 2000 do
    redis.call('ZADD', key, unpack(pairs, i, math.min(i + 1999, #pairs)))
  end
end

-- first the idempotency keys (in order, so two jobs of one batch with one key make one job)
for a = 1, #jobs, 8 do
  local idem = jobs[a + 7]
  if idem ~= '' then
    local taken = redis.call('GET', idem_prefix .. idem)
    if taken then
      existing[a] = taken
    else
      redis.call('SET', idem_prefix .. idem, jobs[a], 'EX', idem_ttl)
    end
  end
  if not existing[a] then fresh = fresh + 1 end
end

local seq = redis.call('INCRBY', KEYS[4], fresh) - fresh
redis.call('SADD', KEYS[5], queue)
for a = 1, #jobs, 8 do
  if existing[a] then
    out[#out + 1] = existing[a]
    out[#out + 1] = 0
    out[#out + 1] = ''
  else
    local id, priority, run_at = jobs[a], jobs[a + 5], jobs[a + 6]
    seq = seq + 1
    local score = (100 - priority) * 1099511627776 + seq
    local status = 'queued'
    if run_at > now then
      status = 'scheduled'
      scheduled[#scheduled + 1] = run_at
      scheduled[#scheduled + 1] = id
      delayed[#delayed + 1] = seq
      delayed[#delayed + 1] = id
    else
      ready[#ready + 1] = score
      ready[#ready + 1] = id
    end
    all[#all + 1] = seq
    all[#all + 1] = id
    redis.call('HSET', prefix .. id,
      'id', id, 'type', jobs[a + 1], 'queue', queue, 'payload', jobs[a + 2],
      'status', status, 'attempts', 0, 'base', 0, 'max_attempts', jobs[a + 3],
      'timeout_ms', jobs[a + 4], 'priority', priority, 'score', score, 'seq', seq,
      'created_at', now, 'run_at', run_at, 'idem', jobs[a + 7] ~= '' and 1 or 0)
    out[#out + 1] = id
    out[#out + 1] = 1
    out[#out + 1] = status
  end
end
zadd_all(KEYS[1], ready)
zadd_all(KEYS[2], scheduled)
zadd_all(KEYS[7], delayed)
zadd_all(KEYS[6], all)
if #ready > 0 and redis.call('LLEN', KEYS[3]) < cap then
  redis.call('RPUSH', KEYS[3], 1)
end
return cjson.encode(out)
