-- wrk script: POST the JSON body in the file named by BODY_FILE to /items.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

-- Items per request, for the items/s line in the summary.
local items = tonumber(os.getenv("ITEMS") or "1")
local non2xx = 0

response = function(status, headers, body)
  if status >= 300 then non2xx = non2xx + 1 end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("requests/s %.0f  items/s %.0f  p99 %.2f ms  errors %d\n",
    summary.requests / secs, summary.requests * items / secs,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
