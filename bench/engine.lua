-- engine.lua - the engine-only measure: a workload's app fed from memory
-- through the test driver's context, with no broker, so the engine's own cost
-- shows even where the broker is the bottleneck end to end.
--
--   luajit bench/engine.lua WORKLOAD RECORDS
--   (LUA_PATH with lua/?.lua, STREAMHOST_LIB=lib/libstreamhost.so)
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

-- xorshift64* as in record.h, in doubles-safe form: a 31-bit LCG is enough
-- for uniform keys here and keeps the setup out of the measured loop anyway.
local seed = 12345
local function next_key()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return string.format("k%04d", seed % 10000)
end

local avro_encode
if workload:match("_avro$") then
  avro_encode = require("streamhost.serde").encoder("avro", {
    topic = os.getenv("BENCH_INPUT") or "input",
    avro = { schema = { type = "record", name = "Input", fields = {
      { name = "id", type = "string" }, { name = "n", type = "long" },
      { name = "t", type = "long" }, { name = "pad", type = "string" } } } } })
end

local keys, values = {}, {} -- luacheck: ignore (anchors: the records point into these strings)
local pool = core.record_array_t(BATCH * POOL)
for i = 0, BATCH * POOL - 1 do
  local key = next_key()
  local head = string.format('{"id":"%s","n":%d,"t":0,"pad":"', key, i)
  local value = head .. string.rep("x", 100 - #head - 2) .. '"}'
  if avro_encode then
    local fields = require("cjson").decode(value)
    value = avro_encode(fields)
  end
  keys[i], values[i] = key, value -- anchored: the records point into them
  local r = pool[i]
  r.key, r.key_len = key, #key
  r.value, r.value_len = value, #value
  r.partition, r.source, r.header_count = 0, input.index, 0
end

-- The join's table holds every key before the stream starts, as end to end.
if workload == "join" then
  local tbl = d:input(os.getenv("BENCH_TABLE") or "table")
  for i = 0, 9999 do
    tbl:pipe(string.format("k%04d", i), { id = string.format("k%04d", i), n = i }, 1)
  end
end

local scratch = ffi.new("sh_ffi_record_t[1]")
local base_ts = 1700000000000
local process = d.inst.process
local done, out = 0, 0
local started = os.clock()
while done < total do
  local slot = (done / BATCH) % POOL
  local batch = pool + slot * BATCH
  for i = 0, BATCH - 1 do
    batch[i].offset = done + i
    batch[i].timestamp = base_ts + done + i
  end
  local n, err = process(batch, BATCH)
  if n < BATCH then error(err) end
  if d.inst.after_batch then d.inst.after_batch() end
  while C.sh_ffi_sink_capture_next(d.ctx, output.sink, scratch) == C.SH_OK do out = out + 1 end
  done = done + BATCH
end
local cpu = os.clock() - started
io.write(string.format('{"records":%d,"outputs":%d,"cpu_s":%.4f,"rps_per_core":%.0f}\n',
                       done, out, cpu, done / cpu))
