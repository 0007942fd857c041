-- Civil dates (proleptic Gregorian, UTC) and day numbers counted from
-- 1970-01-01, converted exactly for any day in integer arithmetic: what
-- Debezium's, Avro's and Connect's date and timestamp numbers need to become
-- text (mysql.lua's column values, smt.lua's TimestampConverter).
local _M = {}

-- days since 1970-01-01 -> year, month (1-12), day (1-31)
function _M.from_days(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) -
                          math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

-- year, month (1-12), day (1-31) -> days since 1970-01-01
function _M.to_days(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

return _M
