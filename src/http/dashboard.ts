// The dashboard: one self-contained HTML page that polls the REST API (queues, workers, stats)
// with the API key typed into it (kept in sessionStorage only). It renders data with textContent,
// never innerHTML, so a queue or worker name cannot inject markup. No server-side data here.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tq-broker</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; min-width: 40rem; }
  th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  #error { color: #b00; white-space: pre-wrap; }
  #stats span { margin-right: 1.5rem; }
  .muted { color: #777; }
</style>
</head>
<body>
<h1>tq-broker</h1>
<form id="auth">API key (only if auth is on): <input id="key" type="password" size="40" autocomplete="off"> <button>Use</button>
  <span class="muted">refreshes every 5 s</span></form>
<p id="error"></p>
<div id="stats"></div>
<h2>Queues</h2>
<table><thead><tr><th>queue</th><th>high</th><th>normal</th><th>low</th><th>scheduled</th><th>in progress</th><th>oldest ready</th><th>state</th><th></th></tr></thead>
<tbody id="queues"></tbody></table>
<h2>Workers</h2>
<table><thead><tr><th>id</th><th>host</th><th>queues</th><th>in flight</th><th>last seen</th><th>command</th></tr></thead>
<tbody id="workers"></tbody></table>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
$("key").value = sessionStorage.getItem("tq-key") || "";
$("auth").onsubmit = (e) => { e.preventDefault(); sessionStorage.setItem("tq-key", $("key").value); refresh(); };

async function api(method, path) {
  const key = sessionStorage.getItem("tq-key");
  const res = await fetch(path, { method, headers: key ? { authorization: "Bearer " + key } : {} });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.name + ": " + body.error.message : "HTTP " + res.status);
  return body;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c); else td.textContent = String(c);
    if (typeof c === "number") td.className = "n";
    tr.append(td);
  }
  return tr;
}

function age(ms) {
  if (ms === null) return "-";
  if (ms < 1000) return ms + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  return Math.round(ms / 60000) + " min";
}

function toggle(q) {
  const b = document.createElement("button");
  b.textContent = q.paused ? "resume" : "pause";
  b.onclick = () => api("POST", "/api/v1/queues/" + encodeURIComponent(q.name) + "/" + b.textContent).then(refresh, show);
  return b;
}

function show(err) { $("error").textContent = err ? String(err.message || err) : ""; }

async function refresh() {
  try {
    const [stats, workers] = await Promise.all([api("GET", "/api/v1/stats"), api("GET", "/api/v1/workers")]);
    const t = stats.tasks;
    $("stats").replaceChildren(...[
      "pending " + t.pending, "scheduled " + t.scheduled, "in progress " + t.in_progress,
      "workers " + stats.workers, "completed " + (stats.totals.completed || 0), "dead " + (stats.totals.dead || 0),
      "up " + age(stats.uptime_ms),
    ].map((s) => { const e = document.createElement("span"); e.textContent = s; return e; }));
    $("queues").replaceChildren(...t.queues.map((q) => row([q.name, q.pending.high, q.pending.normal, q.pending.low,
      q.scheduled, q.in_progress, age(q.oldest_ready_age_ms), q.paused ? "paused" : "running", toggle(q)])));
    const now = Date.now();
    $("workers").replaceChildren(...workers.workers.map((w) => row([w.id, w.hostname, w.queues.join(", "), w.in_flight,
      age(now - w.last_seen_at_ms) + " ago", w.command])));
    show(null);
  } catch (err) { show(err); }
}
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
`;
