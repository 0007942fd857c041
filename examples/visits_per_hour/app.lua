-- Visits per hour, as in the Kafka Streams course ("Counts visits per
-- hour"): page visits keyed by page in, a running total per page
-- (totalVisitCount) and a count per page per one-hour tumbling window
-- (hourlyVisitCount). Every update of an hourly count is written to
-- visits-per-hour as { page, window_start, window_end, visits }.
local sh = require "streamhost"

return sh.app {
  id = "visits_per_hour",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    -- key: the page (URL); value: the visitor, e.g. {"user": "alice"}
    local visits = b:stream("visits", { key = "string", value = "json" })
    local by_page = visits:group_by_key()

    by_page:count({ name = "totalVisitCount" })

    by_page
      :window(sh.tumbling { size = "1h", grace = "10m" })
      :count({ name = "hourlyVisitCount" })
      :to_stream()
      :map_values(function(n, page, rec)
        return {
          page = page,
          window_start = sh.timestamp_to_string(rec.window.start, "yyyy-MM-dd HH:mm:ss"),
          window_end = sh.timestamp_to_string(rec.window["end"], "yyyy-MM-dd HH:mm:ss"),
          visits = n,
        }
      end)
      :to("visits-per-hour", { key = "string", value = "json" })
  end,
}
