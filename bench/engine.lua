-- engine.lua - the engine-only measure: a workload's app fed from memory
-- through the test driver's context, with no broker, so the engine's own cost
-- shows even where the broker is the bottleneck end to end.
--
--   luajit bench/engine.lua WORKLOAD RECORDS
--   (LUA_PATH with lua/?.lua, STREAMHOST_LIB=lib/libstreamhost.so)
--
-- Under `valgrind --tool=callgrind --collect-atstart=no`, BENCH_COUNT_FROM=N
-- has callgrind count from record N to the end only (bench/cgtoggle.c), so
-- that set-up is left out of instructions per record.
--
-- Records are the loader's (bench/record.h): 100-byte JSON values, 10,000
-- uniform keys, 1 ms apart in event time; for an *_avro workload the same
-- fields as Avro (Confluent wire format, the schema in the in-process
-- registry). They are encoded once, up front, and
-- handed to the topology in batches of 1,000 exactly as the host does (one
-- process() call per batch); captured outputs are drained as raw bytes
-- without decoding. Prints one line of JSON: records, CPU seconds (os.clock,
-- this process only), records/s per core.
local ffi = require "ffi"
local testing = require "streamhost.testing"
local core = require "streamhost.core"

local C = core.C
local workload, total = arg[1], tonumber(arg[2] or "1000000")
local bench_dir = arg[0]:match("^(.*)/[^/]*$") or "."
local app = dofile(bench_dir .. "/apps/" .. workload .. ".lua")

local BATCH, POOL = 1000, 100 -- POOL batches of distinct records, replayed
local d = testing.driver(app)
local input = d:input(os.getenv("BENCH_INPUT") or "input")
local output = d:output(os.getenv("BENCH_OUTPUT") or "output")

-- Keys: a 64-bit LCG in uint64_t arithmetic (the top bits are the good ones),
-- so all 10,000 keys occur as they do in the loader's input; a double-based
-- LCG loses precision and yields only about a thousand.
local seed = 12345ULL
local function next_key()
  seed = seed * 6364136223846793005ULL + 1442695040888963407ULL
  return string.format("k%04d", tonumber((seed / 4294967296ULL) % 10000ULL))
end

local avro_encode
if workload:match("_avro$") then
  avro_encode = require("streamhost.serde").encoder("avro", {
    topic = os.getenv("BENCH_INPUT") or "input",
    avro = { schema = { type = "record", name = "Input", fields = {
      { name = "id", type = "string" }, { name = "n", type = "long" },
      { name = "t", type = "long" }, { name = "pad", type = "string" } } } } })
end

-- Values live in C memory and are stamped with the replay round before each
-- batch (8 bytes of the pad), so every record the topology reads is a
-- string LuaJIT has not interned yet, as with records off the wire. (Avro
-- values are stamped too: the pad is the last field, its bytes at the end.)
local keys = {} -- anchored: the records point into these strings
local VALUE_LEN, SLOT = 100, 128
local value_mem = ffi.new("char[?]", BATCH * POOL * SLOT)
local pad_at = {} -- per record: the offset of its stamp in value_mem
local pool = core.record_array_t(BATCH * POOL)
for i = 0, BATCH * POOL - 1 do
  local key = next_key()
  local head = string.format('{"id":"%s","n":%d,"t":0,"pad":"', key, i)
  local value = head .. string.rep("x", VALUE_LEN - #head - 2) .. '"}'
  local stamp_at = #head
  if avro_encode then
    local fields = require("cjson").decode(value)
    value = avro_encode(fields)
    stamp_at = #value - 20 -- inside the pad string, Avro's last field
  end
  assert(#value <= SLOT, "engine.lua: a value longer than its slot")
  local at = value_mem + i * SLOT
  ffi.copy(at, value, #value)
  keys[i], pad_at[i] = key, i * SLOT + stamp_at
  local r = pool[i]
  r.key, r.key_len = key, #key
  r.value, r.value_len = at, #value
  r.partition, r.source, r.header_count = 0, input.index, 0
end

-- The host never runs the set-up above; its traces (the serde's generic
-- walk, hot from encoding the pool) would otherwise root the topology's
-- traces in set-up code. Start the measure with an empty trace cache.
jit.flush()

local keys_distinct = {}
for i = 0, BATCH * POOL - 1 do keys_distinct[keys[i]] = true end
local distinct = 0
for _ in pairs(keys_distinct) do distinct = distinct + 1 end
-- uniform draws of 100,000 from 10,000 miss a handful at most
assert(distinct > 9900, "engine.lua: expected about 10,000 distinct keys, got " .. distinct)

-- The join's table holds every key before the stream starts, as end to end.
if workload == "join" then
  local tbl = d:input(os.getenv("BENCH_TABLE") or "table")
  for i = 0, 9999 do
    tbl:pipe(string.format("k%04d", i), { id = string.format("k%04d", i), n = i }, 1)
  end
end

local count_from, toggle = tonumber(os.getenv("BENCH_COUNT_FROM")), nil
if count_from then
  ffi.cdef "void bench_callgrind_toggle(void);"
  local lib = ffi.load(bench_dir .. "/build/libcgtoggle.so")
  -- called from the interpreter: a toggle from inside a compiled trace
  -- crashes the process under callgrind
  toggle = function() lib.bench_callgrind_toggle() end
  jit.off(toggle)
  assert(count_from % BATCH == 0 and count_from < total, "engine.lua: BENCH_COUNT_FROM")
end

local scratch = ffi.new("sh_ffi_record_t[1]")
local base_ts = 1700000000000
local process = d.inst.process
local done, out = 0, 0
local started = os.clock()
while done < total do
  if done == count_from then toggle() end
  local slot = (done / BATCH) % POOL
  local batch = pool + slot * BATCH
  local stamp = string.format("%08x", done / (BATCH * POOL))
  for i = 0, BATCH - 1 do
    batch[i].offset = done + i
    batch[i].timestamp = base_ts + done + i
    ffi.copy(value_mem + pad_at[slot * BATCH + i], stamp, 8)
  end
  local n, err = process(batch, BATCH)
  if n < BATCH then error(err) end
  if d.inst.after_batch then d.inst.after_batch() end
  -- the host flushes the stores' caches every second; every 100 batches
  -- (100,000 records) is more often than that at any rate measured here,
  -- and once inside the callgrind difference (20,000 to 120,000 records)
  if d.inst.flush and (done / BATCH) % 100 == 99 then d.inst.flush() end
  while C.sh_ffi_sink_capture_next(d.ctx, output.sink, scratch) == C.SH_OK do out = out + 1 end
  -- changelog records go where the host's producer would take them
  for _, sink in ipairs(d.changelogs) do
    while C.sh_ffi_sink_capture_next(d.ctx, sink, scratch) == C.SH_OK do end
  end
  done = done + BATCH
end
if toggle then toggle() end
local cpu = os.clock() - started
io.write(string.format('{"records":%d,"outputs":%d,"cpu_s":%.4f,"rps_per_core":%.0f}\n',
                       done, out, cpu, done / cpu))
