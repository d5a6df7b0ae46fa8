-- wrk script of bench/common.py: requests taken in turn from the file WRK_REQUESTS, one per line
-- "METHOD PATH [JSON body]"; at the end one line "WRK_JSON {...}" with the counts and percentiles.
local requests = {}
local n = 0
local counter = 0

for line in io.lines(os.getenv("WRK_REQUESTS")) do
  local method, path, body = line:match("^(%S+) (%S+) ?(.*)$")
  if method then
    local headers = {}
    if body ~= "" then
      headers["Content-Type"] = "application/json"
    else
      body = nil
    end
    n = n + 1
    requests[n] = wrk.format(method, path, headers, body)
  end
end

request = function()
  counter = counter % n + 1
  return requests[counter]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
