-- The dead letter topic of on_error = "dead_letter": the failed record's
-- original bytes go to <app id>-dlq, with headers naming its topic,
-- partition, offset and the error (Connect's errors.deadletterqueue.*).
local ffi = require "ffi"
local core = require "streamhost.core"

local C = core.C
local SH_OK = C.SH_OK
local ffi_string = ffi.string

local _M = {}

-- A dead letter the producer refuses (past message.max.bytes: key, value
-- and headers; librdkafka's default 1,000,000) would stop the app at the
-- same offset on every restart. So one too big is cut to fit, with headers
-- saying what was cut and its original size. OVERHEAD covers the record's
-- framing; the app's kafka table may set message.max.bytes (--set is not
-- seen here: give it in the app when raising it).
local DEAD_LETTER_OVERHEAD = 1024
local MAX_ERROR_MESSAGE = 1000

-- The lengths of key and value that fit in room bytes: the value is cut
-- first, the key only when it alone leaves no room (then to a quarter).
local function fit(key_len, value_len, room)
  if key_len + value_len <= room then return key_len, value_len end
  if key_len > room / 2 then key_len = math.min(key_len, math.floor(room / 4)) end
  return key_len, math.max(0, math.min(value_len, room - key_len))
end

-- The writer of on_error = "dead_letter": write(r, message) sends record r
-- (an sh_ffi_record_t of the batch) to <id>-dlq with headers naming where
-- and why. Raises when the sink refuses it.
function _M.sink(inst, app)
  local topic = core.topic_name(app.id, "dlq")
  local sink = core.sink_add(inst.ctx, topic, 0)
  local max_bytes = tonumber(app.kafka and app.kafka["message.max.bytes"]) or 1000000
  return function(r, message)
    if #message > MAX_ERROR_MESSAGE then message = message:sub(1, MAX_ERROR_MESSAGE) .. "..." end
    local source_topic = inst.source_names[r.source] or "?"
    local offset = tostring(r.offset):gsub("[LU]+$", "")
    local extra = {
      { "__streamhost.errors.topic", source_topic },
      { "__streamhost.errors.partition", tostring(r.partition) },
      { "__streamhost.errors.offset", offset },
      { "__streamhost.errors.message", message },
    }
    local key_len, value_len = tonumber(r.key_len), tonumber(r.value_len)
    local header_bytes = 200 -- the cut's own headers
    for i = 0, r.header_count - 1 do
      local h = r.headers[i]
      header_bytes = header_bytes + #ffi_string(h.name) + tonumber(h.value_len)
    end
    for _, h in ipairs(extra) do header_bytes = header_bytes + #h[1] + #h[2] end
    local fit_key, fit_value = fit(key_len, value_len,
                                   max_bytes - DEAD_LETTER_OVERHEAD - header_bytes)
    if fit_key < key_len or fit_value < value_len then
      local cut = fit_key < key_len and (fit_value < value_len and "key,value" or "key") or "value"
      extra[#extra + 1] = { "__streamhost.errors.truncated", cut }
      extra[#extra + 1] = { "__streamhost.errors.original.size", tostring(value_len) }
      if fit_key < key_len then
        extra[#extra + 1] = { "__streamhost.errors.original.key.size", tostring(key_len) }
      end
      core.log("error", "record %s [%d] @ %s is too big for the dead letter topic %s " ..
               "(message.max.bytes %d): written cut to %d bytes of value (of %d) and %d of " ..
               "key (of %d), with header __streamhost.errors.truncated; going on",
               source_topic, r.partition, offset, topic, max_bytes, fit_value, value_len,
               fit_key, key_len)
    end
    local n = r.header_count + #extra
    local headers = core.header_array_t(n)
    for i = 0, r.header_count - 1 do headers[i] = r.headers[i] end
    for i, h in ipairs(extra) do
      local slot = headers[r.header_count + i - 1]
      slot.name, slot.value, slot.value_len = h[1], h[2], #h[2]
    end
    inst.dead_letter_anchor = extra -- keeps the header strings alive through the call
    local rc = C.sh_ffi_sink_emit(inst.ctx, sink, r.key, fit_key, r.value, fit_value,
                                  r.timestamp, -1, headers, n)
    if rc ~= SH_OK then
      error("cannot write to " .. topic .. ": " .. core.failure(), 0)
    end
  end
end

return _M
