// The dashboard in the browser: hash-routed pages (overview, tasks, a task, queues, workers) over
// the REST API, live through the event stream read with fetch (so the API key goes in an
// Authorization header, which EventSource cannot send). Data is put in the page with textContent
// only, never as markup. No external code; served by the broker itself.
"use strict";

const KEY_STORE = "tq-api-key";
const STATUSES = ["pending", "scheduled", "failed", "in_progress", "dead", "completed", "cancelled"];
const STATUS_LABEL = { pending: "pending", scheduled: "scheduled", failed: "retrying", in_progress: "running", dead: "dead", completed: "completed", cancelled: "cancelled" };
const BULK = { dead: ["retry", "delete"], cancelled: ["retry", "delete"], failed: ["retry-no", "cancel", "delete"], pending: ["cancel", "delete"], scheduled: ["cancel", "delete"], in_progress: ["cancel"], completed: ["delete"] };
const state = { overview: null, activity: null, whoami: null, page: null, liveAbort: null, refreshing: false, liveRender: false };
const $ = (id) => document.getElementById(id);

// ---- DOM helpers -------------------------------------------------------------------------------

/** An element with attributes and children (strings become text nodes: never parsed as markup). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

const svgNs = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * A page's content in place of what it showed, as live updates redraw it about once a second: the
 * element that had the keyboard focus gets it back (a keyboard user keeps their place), and while a
 * person selects text in the page (to copy an error) a live redraw leaves it as it is.
 */
function show(main, ...nodes) {
  const sel = window.getSelection();
  if (state.liveRender && sel && !sel.isCollapsed && main.contains(sel.anchorNode)) return;
  const active = document.activeElement;
  const focused = active && active !== main && main.contains(active) ? focusKey(active) : null;
  main.replaceChildren(...nodes);
  const again = focused && main.querySelector(focused);
  if (!again) return;
  // A live redraw must not wipe what is being typed (typing may begin while it fetches): the
  // field keeps its text and caret.
  if (state.liveRender && isTextField(active) && isTextField(again) && again.value !== active.value) {
    again.value = active.value;
    try {
      again.setSelectionRange(active.selectionStart, active.selectionEnd);
    } catch {
      // A field type without a caret: the text is enough.
    }
  }
  again.focus({ preventScroll: true });
}

function isTextField(node) {
  return node.tagName === "TEXTAREA" || (node.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset", "file"].includes(node.type));
}

/** A selector that finds the same control after a redraw, or null. */
function focusKey(node) {
  if (node.id) return "#" + CSS.escape(node.id);
  for (const attr of ["data-action", "data-bulk", "data-queue-action", "data-worker-action", "data-task", "data-count"]) {
    if (node.hasAttribute(attr)) return node.tagName.toLowerCase() + "[" + attr + '="' + CSS.escape(node.getAttribute(attr)) + '"]';
  }
  const href = node.tagName === "A" ? node.getAttribute("href") : null;
  return href ? 'a[href="' + CSS.escape(href) + '"]' : null;
}

function table(headers, rows, opts) {
  return el("table", { class: "stack" + (opts && opts.cls ? " " + opts.cls : "") },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) => {
      const td = el("td", { "data-label": headers[i] }, c);
      if (typeof c === "number") td.className = "n";
      return td;
    })))));
}

function badge(status) {
  return el("span", { class: "status " + status }, STATUS_LABEL[status] || status);
}

function age(ms) {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 7200000) return Math.round(ms / 60000) + " min";
  if (ms < 172800000) return (ms / 3600000).toFixed(1) + " h";
  return Math.round(ms / 86400000) + " d";
}

function ago(atMs) {
  return atMs === null || atMs === undefined ? "-" : age(Date.now() - atMs) + " ago";
}

function when(atMs) {
  return atMs === null || atMs === undefined ? "-" : new Date(atMs).toLocaleString();
}

function num(n) {
  return typeof n === "number" ? n.toLocaleString() : "-";
}

function firstLine(text) {
  return text ? text.split("\n")[0].slice(0, 160) : "";
}

function link(href, text, attrs) {
  return el("a", Object.assign({ href }, attrs || {}), text);
}

function taskLink(id) {
  return link("#/task/" + id, id.slice(0, 8) + "…" + id.slice(-6), { class: "mono", title: id, "data-task": id });
}

// ---- the API -----------------------------------------------------------------------------------

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORE);
  return key ? { authorization: "Bearer " + key } : {};
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error.name + ": " + body.error.message : "HTTP " + status);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (res.status === 401) { const err = new ApiError(401, parsed); showLogin(err); throw err; }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

function showBanner(err) {
  const b = $("banner");
  if (!err || err.status === 401) { b.hidden = true; b.textContent = ""; return; }
  b.hidden = false;
  b.textContent = String(err.message || err);
}

/** The key form; after a refused key, says why (and forgets that key, so a reload asks again). */
function showLogin(err) {
  const refused = $("login-error");
  if (sessionStorage.getItem(KEY_STORE)) {
    sessionStorage.removeItem(KEY_STORE);
    refused.textContent = "That key was refused: " + (err ? err.message : "not valid") + ".";
    refused.hidden = false;
  } else refused.hidden = true;
  $("login").hidden = false;
  $("main").replaceChildren();
  $("key").focus();
}

function canAct() {
  return !state.whoami || state.whoami.role === "admin";
}

// ---- live updates ------------------------------------------------------------------------------

function setLive(on, text) {
  const l = $("live");
  l.className = "live " + (on ? "on" : "off");
  l.textContent = text;
}

/** Reads the event stream with fetch (headers allowed); reconnects after a drop. */
async function live() {
  if (state.liveAbort) state.liveAbort.abort();
  const abort = new AbortController();
  state.liveAbort = abort;
  const decoder = new TextDecoder();
  while (!abort.signal.aborted) {
    try {
      const res = await fetch("/api/v1/events", { headers: authHeaders(), signal: abort.signal });
      if (res.status === 401) { setLive(false, "no key"); return; }
      // A key whose role may not read (a worker key): retrying would only be refused again.
      if (res.status === 403) { setLive(false, "no access"); return; }
      if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
      setLive(true, "live");
      const reader = res.body.getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (block.includes("event: overview") && data) onOverview(JSON.parse(data));
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
    }
    setLive(false, "reconnecting");
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function onOverview(o) {
  state.overview = o;
  if (state.activity && o.activity) {
    const pts = state.activity.points;
    const last = pts[pts.length - 1];
    if (last && last.at_ms === o.activity.at_ms) pts[pts.length - 1] = o.activity;
    else if (!last || o.activity.at_ms > last.at_ms) { pts.push(o.activity); if (pts.length > 360) pts.shift(); }
  }
  if (state.page && state.page.live) {
    state.liveRender = true;
    Promise.resolve(state.page.live(o)).finally(() => { state.liveRender = false; });
  }
}

// ---- charts (inline SVG, no library) -----------------------------------------------------------

const SERIES_COLORS = { submitted: "#1f5fbf", completed: "#1b7f3b", failed: "#b3261e", pending: "#8a5a00", scheduled: "#6b4fbb", in_progress: "#0b6e86" };

function chart(title, points, keys, perSecond) {
  const W = 600, H = 160, pad = 4;
  const values = points.map((p) => keys.map((k) => (p[k] === null || p[k] === undefined ? null : perSecond ? p[k] / 10 : p[k])));
  let max = 0;
  for (const row of values) for (const v of row) if (v !== null && v > max) max = v;
  max = max || 1;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  s.append(svg("line", { x1: 0, y1: H - pad, x2: W, y2: H - pad, stroke: "#d9dee5" }));
  keys.forEach((k, i) => {
    let d = "";
    let pen = false;
    values.forEach((row, j) => {
      const v = row[i];
      if (v === null) { pen = false; return; }
      const x = (j / Math.max(1, points.length - 1)) * W;
      const y = H - pad - (v / max) * (H - 2 * pad);
      d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
      pen = true;
    });
    if (d) s.append(svg("path", { d, fill: "none", stroke: SERIES_COLORS[k], "stroke-width": 1.6, "vector-effect": "non-scaling-stroke" }));
  });
  const legend = el("div", { class: "legend" }, keys.map((k) => {
    const i = el("i");
    i.style.background = SERIES_COLORS[k];
    return el("span", {}, i, k.replace("_", " "));
  }), el("span", {}, "max " + (perSecond ? max.toFixed(1) + "/s" : num(Math.round(max)))));
  const span = points.length > 1 ? points[points.length - 1].at_ms - points[0].at_ms : 0;
  const axis = el("div", { class: "axis", "aria-hidden": "true" }, el("span", {}, span ? age(span) + " ago" : ""), el("span", {}, "now"));
  return el("div", { class: "card chart" }, el("h3", {}, title), s, axis, legend);
}

// ---- pages -------------------------------------------------------------------------------------

function tiles(o) {
  const t = o.tasks;
  const items = [
    ["pending", t.pending], ["scheduled", t.scheduled - t.retrying], ["failed", t.retrying], ["in_progress", t.in_progress],
    ["dead", t.dead], ["completed", t.completed], ["cancelled", t.cancelled],
  ];
  return el("div", { class: "tiles", id: "tiles" }, items.map(([s, n]) =>
    el("a", { class: "tile " + s, href: "#/tasks?status=" + s, "data-count": s }, el("b", {}, num(n)), el("span", {}, STATUS_LABEL[s]))),
    el("div", { class: "tile" }, el("b", {}, num(o.worker_states.alive)), el("span", {}, "live workers")));
}

function queueRows(o) {
  return o.queues.map((q) => [
    link("#/tasks?queue=" + encodeURIComponent(q.name), q.name),
    q.pending.high, q.pending.normal, q.pending.low, q.scheduled - q.retrying, q.retrying, q.in_progress,
    age(q.oldest_ready_age_ms), (q.completed_per_min || 0).toFixed(1),
    q.failure_rate === null || q.failure_rate === undefined ? "-" : (q.failure_rate * 100).toFixed(1) + "%",
    q.dead ? link("#/tasks?status=dead&queue=" + encodeURIComponent(q.name), num(q.dead)) : "0",
    q.paused ? el("span", { class: "status dead" }, "paused") : el("span", { class: "status alive" }, "running"),
  ]);
}

const QUEUE_HEAD = ["queue", "high", "normal", "low", "scheduled", "retrying", "running", "oldest ready", "done/min", "failure rate", "dead", "state"];

async function overviewPage(main) {
  const o = state.overview || (await api("GET", "/api/v1/overview"));
  if (!state.activity) state.activity = await api("GET", "/api/v1/activity");
  const render = (ov) => {
    if (!ov) { show(main, el("p", { class: "empty" }, "Waiting for the first update…")); return; }
    const pts = state.activity.points;
    show(main,
      el("h2", {}, "Overview"), tiles(ov),
      el("div", { class: "charts" },
        chart("Tasks per second, last hour", pts, ["submitted", "completed", "failed"], true),
        chart("Queue depth, last hour", pts, ["pending", "scheduled", "in_progress"], false)),
      el("h2", {}, "Queues"),
      ov.queues.length ? table(QUEUE_HEAD, queueRows(ov)) : el("p", { class: "empty" }, "No queue has tasks."));
  };
  render(o);
  return { live: render };
}

function queryOf(hash) {
  const i = hash.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : hash.slice(i + 1));
}

function go(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  location.hash = path + (s ? "?" + s : "");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function tasksPage(main, params) {
  const status = params.get("status") || "";
  const filters = { status, queue: params.get("queue") || "", type: params.get("type") || "", idempotency_key: params.get("key") || "", order: params.get("order") || "newest", cursor: params.get("cursor") || "" };
  const listQuery = new URLSearchParams({ limit: "50", order: filters.order });
  for (const k of ["status", "queue", "type", "idempotency_key", "cursor"]) if (filters[k]) listQuery.set(k, filters[k]);
  const page = await api("GET", "/api/v1/tasks?" + listQuery);
  const counts = state.overview ? state.overview.tasks : null;
  // The tabs count what they would list: the queue's own counts under a queue filter; none under a
  // type filter (the broker counts by queue, not by type).
  const scope = !counts || filters.type ? null : filters.queue ? counts.queues.find((q) => q.name === filters.queue) || null : counts;
  const countOf = (s) => {
    if (!scope) return "";
    const pending = typeof scope.pending === "number" ? scope.pending : scope.pending_total;
    const n = s === "pending" ? pending : s === "scheduled" ? scope.scheduled - scope.retrying : s === "failed" ? scope.retrying : scope[s];
    return " (" + num(n) + ")";
  };
  // A tab changes the status only: the queue and type chosen stay (dead, then retrying, of one type).
  const tab = (s, label) => el("a", { href: "#/tasks?" + new URLSearchParams(Object.assign({}, s ? { status: s } : {}, filters.queue ? { queue: filters.queue } : {}, filters.type ? { type: filters.type } : {})), "aria-current": s === status ? "true" : "false" }, label + (s ? countOf(s) : ""));
  const search = el("input", { id: "search", type: "search", placeholder: "id, type or idempotency key", "aria-label": "Search by id, type or idempotency key", value: filters.type || filters.idempotency_key });
  const queueInput = el("input", { id: "filter-queue", value: filters.queue, "aria-label": "Queue", size: 12 });
  const order = el("select", { id: "order", "aria-label": "Order" }, el("option", { value: "newest" }, "newest first"), el("option", { value: "oldest" }, "oldest first"));
  order.value = filters.order;
  const form = el("form", { class: "filters", onsubmit: async (e) => {
    e.preventDefault();
    const text = search.value.trim();
    if (UUID.test(text)) { location.hash = "#/task/" + text.toLowerCase(); return; }
    let byKey = false;
    if (text) {
      const k = await api("GET", "/api/v1/tasks?limit=1&idempotency_key=" + encodeURIComponent(text));
      byKey = k.tasks.length > 0;
    }
    go("#/tasks", { status, queue: queueInput.value.trim(), type: text && !byKey ? text : "", key: byKey ? text : "", order: order.value });
  } },
  el("label", {}, "Search", search), el("label", {}, "Queue", queueInput), el("label", {}, "Order", order), el("button", { type: "submit", class: "primary" }, "Show"));
  const rows = page.tasks.map((t) => [taskLink(t.id), t.type, t.queue, badge(t.status), t.attempts + "/" + (t.max_retries + 1),
    ago(t.finished_at_ms || t.updated_at_ms), el("span", { class: "mono" }, firstLine(t.error))]);
  const nodes = [el("h2", {}, "Tasks"), el("nav", { class: "tabs", "aria-label": "Status" }, tab("", "all"), STATUSES.map((s) => tab(s, STATUS_LABEL[s]))), form];
  if (status && canAct()) nodes.push(await bulkBar(status, filters));
  // A page reads a bounded part of the table: an empty one with a cursor means "none here yet", not "none".
  const none = page.next_cursor ? "No match in this part of the table; Next page reads on." : "No task matches.";
  nodes.push(rows.length ? table(["id", "type", "queue", "status", "attempts", "changed", "last error"], rows) : el("p", { class: "empty" }, none));
  const pager = el("div", { class: "row" });
  if (filters.cursor) pager.append(el("button", { type: "button", onclick: () => go("#/tasks", Object.assign({}, filtersParams(filters), { cursor: "" })) }, "First page"));
  if (page.next_cursor) pager.append(el("button", { type: "button", id: "next-page", onclick: () => go("#/tasks", Object.assign({}, filtersParams(filters), { cursor: page.next_cursor })) }, "Next page"));
  nodes.push(pager);
  show(main, ...nodes);
  // A live list on its first page: new and changed tasks show up on their own.
  let last = JSON.stringify(counts);
  return { live: (o) => {
    const now = JSON.stringify(o.tasks);
    const typing = document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
    if (!filters.cursor && now !== last && !document.querySelector("dialog[open]") && !typing) { last = now; return route(); }
  } };
}

function filtersParams(f) {
  return { status: f.status, queue: f.queue, type: f.type, key: f.idempotency_key, order: f.order };
}

async function bulkBar(status, filters) {
  const actions = (BULK[status] || []).filter((a) => !a.endsWith("-no"));
  if (actions.length === 0) return el("span");
  const body = { status };
  if (filters.queue) body.queue = filters.queue;
  if (filters.type) body.type = filters.type;
  const older = el("input", { id: "older-than", type: "number", min: "0", placeholder: "minutes", size: 7, "aria-label": "Only older than (minutes)" });
  const bar = el("div", { class: "bulk row", id: "bulk" }, el("strong", {}, "All matching:"),
    actions.map((a) => el("button", { type: "button", class: a === "retry" ? "primary" : "danger", "data-bulk": a, onclick: () => bulk(a, body, older.value) }, a + " all…")),
    el("label", { class: "muted" }, "older than ", older, " min"));
  return bar;
}

async function bulk(action, filter, olderMinutes) {
  const body = Object.assign({ action }, filter);
  if (olderMinutes) body.older_than_ms = Math.round(Number(olderMinutes) * 60000);
  try {
    const dry = await api("POST", "/api/v1/tasks/bulk", Object.assign({ dry_run: true }, body));
    const what = [filter.status, filter.queue && "in queue " + filter.queue, filter.type && "of type " + filter.type, olderMinutes && "older than " + olderMinutes + " min"].filter(Boolean).join(" ");
    if (dry.matched === 0) { showBanner(new Error("No " + what + " task matches.")); return; }
    if (!(await confirmDialog(action + " " + dry.matched + " tasks?", "This will " + action + " every " + what + " task (" + dry.matched + " now).", action + " " + dry.matched))) return;
    let changed = 0;
    for (let i = 0; i < 1000; i++) {
      const r = await api("POST", "/api/v1/tasks/bulk", body);
      changed += r.changed;
      if (r.done || r.changed + r.skipped === 0) break;
    }
    showBanner(null);
    flash(action + ": " + changed + " tasks.");
    route();
  } catch (err) { showBanner(err); }
}

function flash(text) {
  const b = $("banner");
  b.hidden = false;
  b.style.color = "#1b7f3b";
  b.textContent = text;
  setTimeout(() => { b.style.color = ""; if (b.textContent === text) b.hidden = true; }, 4000);
}

function confirmDialog(title, text, okLabel) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  d.returnValue = "";
  d.showModal();
  return new Promise((resolve) => d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true }));
}

function bodyBlock(title, view, id, part) {
  if (!view) return el("div", {}, el("h3", {}, title), el("p", { class: "muted" }, "none"));
  const dl = el("button", { type: "button", onclick: () => download(view.download, id + "-" + part) }, "Download (" + num(view.bytes) + " bytes)");
  return el("div", {}, el("h3", {}, title + " ", el("span", { class: "muted" }, "(" + view.shown_as + (view.truncated ? ", cut" : "") + ")")),
    el("pre", { id: part + "-view" }, view.text || " "), view.truncated ? el("p", { class: "muted" }, "Cut: download it for the whole body. ") : null, dl);
}

async function download(path, name) {
  try {
    const res = await fetch(path, { headers: authHeaders() });
    if (!res.ok) throw new ApiError(res.status, null);
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { showBanner(err); }
}

async function taskPage(main, id) {
  // The status the page was opened in: its siblings link stays "dead email.send of mail" after a retry.
  let openedAs = null;
  const render = async () => {
    const v = await api("GET", "/api/v1/tasks/" + encodeURIComponent(id) + "/inspect");
    const t = v.task;
    openedAs = openedAs || t.status;
    const act = (label, method, path, confirmText, cls) => el("button", { type: "button", class: cls || "", "data-action": label, onclick: async () => {
      if (confirmText && !(await confirmDialog(label + " this task?", confirmText, label))) return;
      try { await api(method, path); showBanner(null); if (label === "delete") location.hash = "#/tasks?status=" + t.status; else render(); } catch (err) { showBanner(err); }
    } }, label);
    const actions = el("div", { class: "row" });
    if (canAct() && (t.status === "dead" || t.status === "cancelled")) actions.append(act("retry", "POST", "/api/v1/tasks/" + t.id + "/retry", null, "primary"));
    if (["pending", "scheduled", "failed", "in_progress"].includes(t.status)) actions.append(act("cancel", "DELETE", "/api/v1/tasks/" + t.id, "It will not run" + (t.status === "in_progress" ? "; its worker is told to stop." : "."), "danger"));
    if (canAct() && t.status !== "in_progress") actions.append(act("delete", "POST", "/api/v1/tasks/" + t.id + "/delete", "The task and its history are removed for good.", "danger"));
    const fields = el("dl", { class: "fields" }, [
      ["id", el("span", { class: "mono" }, t.id)], ["type", t.type], ["queue", link("#/tasks?queue=" + encodeURIComponent(t.queue), t.queue)],
      ["priority", t.priority + " (" + t.priority_tier + ")"], ["attempts", t.status === "in_progress" ? "running attempt " + (t.attempts + 1) + " of " + (t.max_retries + 1) : t.attempts + " of " + (t.max_retries + 1)], ["lease", t.lease_ms + " ms"],
      ["idempotency key", t.idempotency_key || "-"], ["submitted", when(t.created_at_ms)], ["run at", when(t.run_at_ms)],
      ["started", when(t.started_at_ms)], ["finished", when(t.finished_at_ms)], ["worker", t.worker_id || "-"],
    ].flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)]));
    const siblings = "#/tasks?" + new URLSearchParams({ status: openedAs, queue: t.queue, type: t.type });
    actions.append(link(siblings, "All " + STATUS_LABEL[openedAs] + " " + t.type + " tasks of " + t.queue, { id: "siblings", class: "button" }));
    const nodes = [el("p", {}, link("#/tasks?status=" + t.status + "&queue=" + encodeURIComponent(t.queue), "← " + STATUS_LABEL[t.status] + " tasks of " + t.queue)),
      el("h2", {}, "Task ", el("span", { class: "mono" }, t.id.slice(0, 8)), " ", badge(t.status)), actions];
    if (v.waiting.length) nodes.push(el("div", { class: "card", id: "why" }, el("h3", {}, "Why it is not running"), el("ul", { class: "reasons" }, v.waiting.map((w) => el("li", { "data-code": w.code }, w.message)))));
    if (v.lease) nodes.push(el("div", { class: "card", id: "lease" }, el("h3", {}, "Running"), el("p", {}, "On worker ", el("strong", {}, v.lease.worker_id || "?"),
      v.lease.worker && v.lease.worker.address ? " (" + v.lease.worker.address + ")" : "", " for " + age(v.lease.running_ms) + "; lease until " + when(v.lease.expires_at_ms) + ".")));
    if (t.error) nodes.push(el("div", {}, el("h3", {}, "Last error"), el("pre", { class: "error", id: "last-error" }, t.error)));
    nodes.push(el("div", { class: "card" }, fields));
    nodes.push(bodyBlock("Payload", v.payload, t.id, "payload"), bodyBlock("Result", v.result, t.id, "result"));
    nodes.push(el("h3", {}, "Runs"), v.runs.length ? table(["worker", "started", "took", "outcome", "error"], v.runs.map((r) => [r.worker_id, when(r.started_at_ms), age(r.duration_ms), badge(r.outcome), el("span", { class: "mono" }, firstLine(r.error))])) : el("p", { class: "muted" }, "No run has ended yet."));
    nodes.push(el("h3", {}, "Timeline"), el("ol", { id: "timeline" }, v.timeline.map((e) => el("li", {}, when(e.at_ms) + " — " + e.event + (e.detail ? ": " + e.detail : "")))));
    show(main, ...nodes);
    return t.status;
  };
  await render();
  let busy = false;
  return { live: async () => {
    if (busy || document.querySelector("dialog[open]")) return;
    busy = true;
    try { await render(); } catch (err) { showBanner(err); } finally { busy = false; }
  } };
}

async function queuesPage(main) {
  const render = (o) => {
    const rows = queueRows(o).map((cells, i) => {
      const q = o.queues[i];
      const buttons = el("div", { class: "row" });
      if (canAct()) {
        buttons.append(el("button", { type: "button", "data-queue-action": (q.paused ? "resume" : "pause") + ":" + q.name, onclick: () => queueAction(q.name, q.paused ? "resume" : "pause") }, q.paused ? "Resume" : "Pause"));
        buttons.append(el("button", { type: "button", class: "danger", "data-queue-action": "purge:" + q.name, onclick: () => purge(q.name) }, "Purge…"));
      }
      return cells.concat([buttons]);
    });
    show(main, el("h2", {}, "Queues"), rows.length ? table(QUEUE_HEAD.concat([""]), rows) : el("p", { class: "empty" }, "No queue has tasks or is paused."));
  };
  const o = state.overview;
  if (o) render(o);
  else {
    const q = await api("GET", "/api/v1/queues");
    render({ queues: q.queues });
  }
  return { live: (ov) => { if (!document.querySelector("dialog[open]")) render(ov); } };
}

async function queueAction(name, action) {
  try {
    await api("POST", "/api/v1/queues/" + encodeURIComponent(name) + "/" + action);
    showBanner(null);
    flash("Queue " + name + (action === "pause" ? " paused." : " resumed."));
    const q = await api("GET", "/api/v1/queues");
    if (state.overview) state.overview.queues = q.queues;
    route();
  } catch (err) { showBanner(err); }
}

async function purge(name) {
  try {
    const dry = await api("POST", "/api/v1/queues/" + encodeURIComponent(name) + "/purge", { dry_run: true });
    if (!(await confirmDialog("Purge queue " + name + "?", "Delete its " + dry.matched + " waiting tasks (pending, scheduled, retrying). Running tasks finish.", "Delete " + dry.matched))) return;
    let deleted = 0;
    for (let i = 0; i < 1000; i++) {
      const r = await api("POST", "/api/v1/queues/" + encodeURIComponent(name) + "/purge", {});
      deleted += r.changed;
      if (r.done || r.changed + r.skipped === 0) break;
    }
    flash("Purged " + deleted + " tasks from " + name + ".");
  } catch (err) { showBanner(err); }
}

async function workersPage(main) {
  const render = async () => {
    const { workers, recently_dead: recentlyDead = [] } = await api("GET", "/api/v1/workers");
    const cards = workers.map((w) => {
      const buttons = el("div", { class: "row" });
      if (canAct() && w.status !== "dead") {
        if (w.command === "none") buttons.append(el("button", { type: "button", "data-worker-action": "quiet:" + w.id, onclick: () => workerAction(w.id, "quiet") }, "Quiet"));
        if (w.command !== "shutdown") buttons.append(el("button", { type: "button", class: "danger", "data-worker-action": "stop:" + w.id, onclick: () => workerAction(w.id, "shutdown") }, "Stop…"));
      }
      const running = (w.running || []).map((t) => el("li", {}, taskLink(t.id), " " + t.type + " (" + t.queue + "), " + age(Date.now() - t.started_at_ms)));
      return el("div", { class: "card worker", "data-worker": w.id },
        el("div", { class: "row" }, el("strong", { class: "mono" }, w.id), badge(w.status), buttons),
        el("dl", { class: "fields" }, [
          ["address", w.address || "in-process"], ["host", w.hostname + " pid " + w.pid], ["queues", w.queues.join(", ") || "-"], ["handles", handledTypes(w.labels)],
          ["running", (w.running_count ?? 0) + " of " + w.concurrency], ["cpu / memory", w.memory_mb > 0 ? w.cpu_percent.toFixed(1) + "% / " + w.memory_mb.toFixed(0) + " MB" : "not reported yet"],
          ["last seen", ago(w.last_seen_at_ms)], ["command", w.command], ...(w.dead_at_ms ? [["dead since", when(w.dead_at_ms)]] : []),
        ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
        running.length ? el("ul", { class: "running" }, running) : el("p", { class: "muted" }, "Running nothing now."));
    });
    // Forgotten by the registry (after worker.max_inactivity_secs) but dead within the hour: who, where, when.
    const goneTable = recentlyDead.length
      ? [el("h3", {}, "Died in the last hour"),
        table(["worker", "address", "host", "queues", "dead since", "last seen"],
          recentlyDead.map((w) => [el("span", { class: "mono", "data-dead-worker": w.id }, w.id), w.address || "in-process", w.hostname + " pid " + w.pid, w.queues.join(", ") || "-", when(w.dead_at_ms), ago(w.last_seen_at_ms)]))]
      : [];
    show(main, el("h2", {}, "Workers"), cards.length ? el("div", {}, cards) : el("p", { class: "empty" }, recentlyDead.length ? "No worker is connected." : "No worker is connected, and none died recently."), ...goneTable);
  };
  await render();
  let busy = false;
  return { live: async () => {
    if (busy || document.querySelector("dialog[open]")) return;
    busy = true;
    try { await render(); } catch (err) { showBanner(err); } finally { busy = false; }
  } };
}

/** The types a worker declares in its tq.types label (the SDK's Worker sends it), else "any type". */
function handledTypes(labels) {
  try {
    const types = JSON.parse((labels || {})["tq.types"]);
    if (Array.isArray(types)) return types.join(", ");
  } catch { /* no label, or not JSON: it did not say */ }
  return "any type (not declared)";
}

async function workerAction(id, command) {
  if (command === "shutdown" && !(await confirmDialog("Stop worker " + id + "?", "It finishes what it runs, takes nothing new, then exits.", "Stop"))) return;
  try { await api("POST", "/api/v1/workers/" + encodeURIComponent(id) + "/" + command); showBanner(null); route(); } catch (err) { showBanner(err); }
}

// ---- routing -----------------------------------------------------------------------------------

async function route() {
  if (state.refreshing) return;
  state.refreshing = true;
  const hash = location.hash || "#/";
  const main = $("main");
  const path = hash.split("?")[0];
  const name = path.startsWith("#/task/") ? "tasks" : path === "#/tasks" ? "tasks" : path === "#/queues" ? "queues" : path === "#/workers" ? "workers" : "overview";
  for (const a of document.querySelectorAll("header nav a")) a.setAttribute("aria-current", a.dataset.page === name ? "page" : "false");
  document.title = "tq-broker — " + (path.startsWith("#/task/") ? "task" : name);
  try {
    if (path.startsWith("#/task/")) state.page = await taskPage(main, decodeURIComponent(path.slice(7)));
    else if (name === "tasks") state.page = await tasksPage(main, queryOf(hash));
    else if (name === "queues") state.page = await queuesPage(main);
    else if (name === "workers") state.page = await workersPage(main);
    else state.page = await overviewPage(main);
    if (!$("banner").style.color) showBanner(null);
  } catch (err) {
    state.page = null;
    showBanner(err);
  } finally {
    state.refreshing = false;
  }
}

async function start() {
  $("login").hidden = true;
  try { state.whoami = await api("GET", "/api/v1/whoami"); } catch (err) { if (err.status === 401) return; showBanner(err); }
  $("logout").hidden = !sessionStorage.getItem(KEY_STORE);
  live();
  route();
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("key").value.trim());
  $("key").value = "";
  start();
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  if (state.liveAbort) state.liveAbort.abort();
  location.reload();
});
window.addEventListener("hashchange", () => { route().then(() => $("main").focus({ preventScroll: true })); });
start();
