-- wrk script of bench/api_load.sh: one route family per wrk process,
--   wrk ... -s bench/api_load.lua URL -- FAMILY TOKEN RULE_ID
-- FAMILY: reads (node, plugins, firewall rules and stats, metrics),
-- events (time ranges, filters, cursor pages, histogram) or rules (POST a
-- rule, then DELETE it: the set stays bounded by the connections).
-- done() prints one JSON line: the family's latency percentiles, requests,
-- and every answer that was not 2xx or did not come (socket errors).
local token, rule_id
local paths = {}
local next_path = 1
local cursor_page          -- a page's links.next to follow, or nil
local cursor_pages = 0     -- pages followed in the current chain
local to_delete = {}       -- ids of rules this thread added, not yet deleted
-- Globals: done() reads them from each thread (thread:get).
family = nil
added, deleted = 0, 0  -- rules POSTed and DELETEd
non2xx = 0
statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function get(path)
  return wrk.format("GET", path)
end

function init(args)
  family, token, rule_id = args[1], args[2], args[3]
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  if family == "reads" then
    paths = {"/api/v1/node", "/api/v1/plugins?stats=0", "/api/v1/plugins/firewall",
             "/api/v1/firewall/rules?limit=50", "/api/v1/firewall/rules/" .. rule_id,
             "/api/v1/firewall/stats", "/api/v1/firewall/counters?ids=" .. rule_id,
             "/metrics", "/healthz"}
  elseif family == "events" then
    local now = os.time()
    paths = {"/api/v1/events?last=1h&limit=100",
             "/api/v1/events?plugin=firewall&kind=firewall.drop&limit=50",
             "/api/v1/events?since=" .. (now - 600) .. "&until=" .. (now + 3600) .. "&limit=100",
             "/api/v1/events?data.rule_id=" .. rule_id .. "&last=90m&limit=20",
             "/api/v1/events/histogram?last=1h&bucket=1m",
             "/api/v1/events?kind=api.change&limit=10"}
  elseif family ~= "rules" then
    error("api_load.lua: unknown family " .. tostring(family))
  end
end

function request()
  if family == "rules" then
    local id = table.remove(to_delete)
    if id then
      deleted = deleted + 1
      return wrk.format("DELETE", "/api/v1/firewall/rules/" .. id)
    end
    added = added + 1
    local n = (added * 7919 + math.random(0, 1000000)) % 10000
    return wrk.format("POST", "/api/v1/firewall/rules", nil, string.format(
      '{"name":"load %d","priority":%d,"action":"drop","match":{"proto":["udp"],"dst_port":[%d]}}',
      n, 1000 + n, 20000 + n))
  end
  -- An events page with a next page is followed by up to 4 more, by cursor.
  if cursor_page then
    local page = cursor_page
    cursor_page = nil
    return get(page)
  end
  local path = paths[next_path]
  next_path = next_path % #paths + 1
  return get(path)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
    return
  end
  if family == "rules" and status == 201 then
    local id = body:match('"id":%s*(%d+)')
    if id then table.insert(to_delete, id) end
  elseif family == "events" then
    local next_page = body:match('"next":"(/api/v1/events%?[^"]*)"')
    if next_page and cursor_pages < 4 then
      cursor_page = next_page
      cursor_pages = cursor_pages + 1
    else
      cursor_pages = 0
    end
  end
end

function done(summary, latency, requests)
  local bad, by_status, posts, deletes = 0, {}, 0, 0
  local name = threads[1]:get("family")
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    posts = posts + t:get("added")
    deletes = deletes + t:get("deleted")
    for status, n in pairs(t:get("statuses")) do
      by_status[#by_status + 1] = string.format('"%d":%d', status, n)
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"family":"%s","requests":%d,"seconds":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"non_2xx":%d,"non_2xx_by_status":{%s},"socket_errors":%d%s}\n',
    name, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, bad, table.concat(by_status, ","),
    e.connect + e.read + e.write + e.timeout,
    name == "rules" and string.format(',"rule_posts":%d,"rule_deletes":%d', posts, deletes) or ""))
end
