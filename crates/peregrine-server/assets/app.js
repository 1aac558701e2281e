// Peregrine dashboard. No framework, no network beyond this server: every
// node is built with textContent (alert data is attacker-influenced).
"use strict";

const PRIOS = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];
const PRIO_COLORS = ["#f43f5e", "#e11d48", "#ef4444", "#f97316", "#f59e0b", "#38bdf8", "#64748b", "#475569"];
const RANGES = [["-15m", "Last 15 minutes"], ["-1h", "Last hour"], ["-24h", "Last 24 hours"], ["-7d", "Last 7 days"], ["-30d", "Last 30 days"]];
// Signed in through an HttpOnly session cookie: no token is kept in the
// page or in browser storage (older versions kept it under this key).
const OLD_TOKEN_KEY = "peregrine.token";

let me = null;
let liveAbort = null;
const listeners = new Set();

// ---------- DOM helpers ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the CSP, unlike style attributes
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const kid of kids.flat()) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}
const $ = (sel) => document.querySelector(sel);
function mount(...nodes) { const m = $("#main"); m.replaceChildren(...nodes); m.scrollTop = 0; }
function toast(msg) {
  const t = h("div", { class: "toast" }, msg);
  document.body.append(t);
  setTimeout(() => t.remove(), 3500);
}
function prioIndex(p) { const i = PRIOS.indexOf(p); return i < 0 ? 7 : i; }
function pill(p) { return h("span", { class: "pill p" + prioIndex(p) }, p); }
function fmtTime(ns) {
  const d = new Date(Number(BigInt(ns) / 1000000n));
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function ago(secs) {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - secs));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
const num = (n) => Number(n || 0).toLocaleString("en-US");

// ---------- API ----------
class AuthError extends Error {}
async function api(path, opts = {}) {
  const r = await fetch(path, {
    ...opts,
    credentials: "same-origin",
    headers: { "X-Peregrine-Request": "1", "Content-Type": "application/json", ...(opts.headers || {}) },
  });
  if (r.status === 401) throw new AuthError("unauthorized");
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}
function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
}

// ---------- live stream (SSE over fetch, session cookie) ----------
async function startLive() {
  if (liveAbort) liveAbort.abort();
  liveAbort = new AbortController();
  const ind = $("#live-indicator");
  try {
    const r = await fetch("/api/v1/stream", { credentials: "same-origin", signal: liveAbort.signal });
    if (r.status === 401) { liveAbort = null; me = null; showLogin("Your session ended."); return; }
    if (!r.ok || !r.body) throw new Error("stream refused");
    ind.className = "live on"; ind.querySelector(".txt").textContent = "live";
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        let ev = "message", data = "";
        for (const line of chunk.split("\n")) {
          if (line.startsWith("event: ")) ev = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (ev === "alert" && data) {
          try { const msg = JSON.parse(data); listeners.forEach((f) => f(msg)); } catch (_) { /* ignore */ }
        }
      }
    }
  } catch (e) {
    if (e.name === "AbortError") return;
  }
  ind.className = "live off"; ind.querySelector(".txt").textContent = "reconnecting";
  setTimeout(() => { if (me) startLive(); }, 3000);
}

// ---------- pages ----------
function pageHead(title, sub, ...right) {
  return h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), sub ? h("div", { class: "sub" }, sub) : null), h("div", { class: "actions" }, ...right));
}

// A range from the URL that is not one of ours (e.g. -2h, or absolute
// from/to) is shown as it is, selected, rather than as the first option.
function rangeSelect(value, onchange, id) {
  const known = RANGES.some(([v]) => v === value);
  const extra = !known && value ? [[value, `Custom: ${value}`]] : [];
  return h("select", { id, onchange: (e) => onchange(e.target.value) },
    [...extra, ...RANGES].map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

// The chart draws the whole selected range (agg.from..agg.to, Unix
// seconds): every bucket, empty ones too, and no axis beyond the range's end.
function timeline(agg) {
  const W = 900, H = 220, L = 40, B = 24, T = 10;
  const bs = Math.max(1, agg.bucket_secs);
  const to = agg.to || Date.now() / 1000;
  const start = Math.floor((agg.from || to - 86400) / bs) * bs;
  const n = Math.min(10000, Math.max(1, Math.ceil((to - start) / bs)));
  const span = Math.max(bs, to - start);
  const counts = new Map(agg.buckets.map((b) => [b.start, b.counts]));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "Alerts over time by priority",
    "data-buckets": n, "data-from": start, "data-to": Math.floor(to) });
  const peak = Math.max(1, ...agg.buckets.map((b) => b.counts.reduce((a, c) => a + c, 0)));
  const raw = peak / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = Math.max(1, [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw));
  const max = step * 4;
  const bw = Math.max(1, ((W - L - 4) * bs) / span - 1);
  for (let g = 0; g <= 4; g++) {
    const y = T + ((H - B - T) * g) / 4;
    s.append(svg("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" }));
    s.append(svg("text", { x: L - 6, y: y + 3, "text-anchor": "end", class: "axis" }, num(max - step * g)));
  }
  for (let k = 0; k < n; k++) {
    const b = start + k * bs;
    const x = L + ((W - L - 4) * (b - start)) / span;
    const slot = svg("g", { class: "bucket", "data-start": b });
    const c = counts.get(b) || [];
    let y = H - B;
    for (let p = 7; p >= 0; p--) {
      const v = c[p];
      if (!v) continue;
      const hgt = ((H - B - T) * v) / max;
      y -= hgt;
      const r = svg("rect", { x, y, width: bw, height: Math.max(1, hgt), fill: PRIO_COLORS[p], rx: 1.5 });
      r.append(svg("title", {}, `${new Date(b * 1000).toLocaleString()} — ${PRIOS[p]}: ${v}`));
      slot.append(r);
    }
    s.append(slot);
  }
  if (!agg.buckets.length) {
    s.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "No alerts in this range"));
  }
  const ticks = 6;
  const pad = (v) => String(v).padStart(2, "0");
  for (let t = 0; t <= ticks; t++) {
    const d = new Date((start + (span * t) / ticks) * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    const md = `${d.getMonth() + 1}/${d.getDate()}`;
    const label = span > 3 * 86400 ? md : span > 86400 - 1 ? `${md} ${hm}` : hm;
    s.append(svg("text", { x: L + ((W - L - 4) * t) / ticks, y: H - 6, "text-anchor": t === 0 ? "start" : t === ticks ? "end" : "middle", class: "axis tick" }, label));
  }
  return s;
}

function barList(items, onclick) {
  if (!items.length) return h("div", { class: "empty" }, "Nothing yet");
  const max = Math.max(...items.map((i) => i.count));
  return h("div", { class: "bars" }, items.map((i) =>
    h("div", { class: "bar-row", onclick: () => onclick(i.name), title: i.name },
      h("div", { class: "label" }, h("span", { class: "fill", style: `width:${(100 * i.count) / max}%` }), h("span", { class: "t" }, i.name)),
      h("div", { class: "n" }, num(i.count)))));
}

const state = { range: "-24h" };

// A mean time in `unit` milliseconds, readable ("—" when there is none).
function duration(v, unit) {
  if (v === null || v === undefined) return "—";
  const ms = v * unit;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

// MTTD and MTTR per rule, priority and team (team:NAME tags).
function timesPanel(t) {
  const table = (id, title, lines) => h("div", { class: "panel" }, h("h2", {}, title),
    lines.length ? h("div", { class: "table-wrap" }, h("table", { id },
      h("thead", {}, h("tr", {}, ["", "Alerts", "MTTD", "Resolved", "MTTR"].map((c) => h("th", {}, c)))),
      h("tbody", {}, lines.map((l) => h("tr", {}, h("td", {}, l.name), h("td", {}, num(l.alerts)), h("td", {}, duration(l.mttd_ms, 1)),
        h("td", {}, num(l.resolved)), h("td", {}, duration(l.mttr_secs, 1000))))))) : h("div", { class: "empty" }, "Nothing yet"));
  return h("div", { class: "grid2" },
    table("times-by-rule", "Response times by rule", t.by_rule.slice(0, 10)),
    table("times-by-priority", "By priority", t.by_priority),
    table("times-by-team", "By team", t.by_team));
}

async function overview() {
  mount(pageHead("Overview", "Alerts across every agent"), h("div", { class: "loading" }, "Loading…"));
  const [agg, agents, times] = await Promise.all([api("/api/v1/stats" + qs({ from: state.range })), api("/api/v1/agents"), api("/api/v1/response-times" + qs({ from: state.range }))]);
  const crit = agg.by_priority.slice(0, 3).reduce((a, b) => a + b, 0);
  const now = Date.now() / 1000;
  const online = agents.filter((a) => now - a.last_seen < 90).length;
  const drops = agents.reduce((s, a) => s + Object.values(a.drops || {}).reduce((x, y) => x + y, 0), 0);
  const go = (params) => { location.hash = "#/alerts" + qs({ from: state.range, ...params }); };
  const legend = h("div", { class: "legend" }, PRIOS.slice(0, 7).map((p, i) => h("span", { style: `--c:${PRIO_COLORS[i]}` }, p)));
  mount(
    pageHead("Overview", "Alerts across every agent", rangeSelect(state.range, (v) => { state.range = v; overview().catch(fail); }, "overview-range")),
    h("div", { class: "cards" },
      h("div", { class: "card", id: "card-total" }, h("div", { class: "k" }, "Alerts"), h("div", { class: "v" }, num(agg.total))),
      h("div", { class: "card" }, h("div", { class: "k" }, "Critical or worse"), h("div", { class: "v crit" }, num(crit))),
      h("div", { class: "card" }, h("div", { class: "k" }, "Open"), h("div", { class: "v warn" }, num(agg.by_status.open || 0))),
      h("div", { class: "card" }, h("div", { class: "k" }, "Agents online"), h("div", { class: "v" }, `${online} / ${agents.length}`)),
      h("div", { class: "card" }, h("div", { class: "k" }, "Kernel drops"), h("div", { class: "v" + (drops ? " warn" : "") }, num(drops))),
      h("div", { class: "card", id: "card-mttd", title: "Mean time to detect: event to alert stored" }, h("div", { class: "k" }, "MTTD"), h("div", { class: "v" }, duration(times.overall.mttd_ms, 1))),
      h("div", { class: "card", id: "card-mttr", title: "Mean time to remediate: alert to resolved" }, h("div", { class: "k" }, "MTTR"), h("div", { class: "v" }, duration(times.overall.mttr_secs, 1000)))),
    h("div", { class: "panel chart" }, h("h2", {}, "Alerts over time by priority"), timeline(agg), legend),
    h("div", { class: "grid2" },
      h("div", { class: "panel", id: "top-rules" }, h("h2", {}, "Top rules"), barList(agg.top_rules, (n) => go({ rule: n }))),
      h("div", { class: "panel" }, h("h2", {}, "Top containers"), barList(agg.top_containers, (n) => go({ container: n }))),
      h("div", { class: "panel" }, h("h2", {}, "Top hosts"), barList(agg.top_hosts, (n) => go({ host: n }))),
      h("div", { class: "panel" }, h("h2", {}, "Top images"), barList(agg.top_images, (n) => go({ image: n })))),
    timesPanel(times));
}

const FILTERS = [
  ["q", "search", "Search output and rule names…"],
  ["rule", "small", "Rule"],
  ["host", "small", "Host"],
  ["container", "small", "Container"],
  ["image", "small", "Image (prefix*)"],
  ["namespace", "small", "K8s namespace"],
];

let pageGen = 0; // bumped by each alerts page: older pages' live hooks stop

async function alerts(params) {
  const gen = ++pageGen;
  listeners.clear();
  const f = { from: "-24h", ...params };
  const inputs = {};
  // A filter change keeps an absolute `to`; choosing another range drops it.
  const apply = (rangeChanged) => {
    const next = { from: inputs.from.value, to: rangeChanged === true ? "" : f.to, min_priority: inputs.min_priority.value, status: inputs.status.value };
    for (const [k] of FILTERS) next[k] = inputs[k].value.trim();
    location.hash = "#/alerts" + qs(next);
  };
  inputs.from = rangeSelect(f.from, () => apply(true), "filter-from");
  inputs.min_priority = h("select", { id: "filter-priority", onchange: apply },
    h("option", { value: "" }, "Any priority"),
    PRIOS.slice(0, 7).map((p) => h("option", { value: p, selected: f.min_priority === p }, p + (p === "Emergency" ? "" : " or worse"))));
  inputs.status = h("select", { id: "filter-status", onchange: apply },
    h("option", { value: "" }, "Any status"),
    ["open", "acknowledged", "resolved"].map((s) => h("option", { value: s, selected: f.status === s }, s[0].toUpperCase() + s.slice(1))));
  for (const [k, cls, ph] of FILTERS) {
    inputs[k] = h("input", { id: "filter-" + k, class: cls, placeholder: ph, value: f[k] || "", onkeydown: (e) => { if (e.key === "Enter") apply(); } });
  }
  const liveBox = h("input", { type: "checkbox", id: "live-toggle", checked: true });
  const filters = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); apply(); } },
    inputs.q, inputs.from, inputs.min_priority, inputs.status, inputs.rule, inputs.host, inputs.container, inputs.image, inputs.namespace,
    h("button", { type: "submit", id: "filter-apply" }, "Apply"),
    h("label", { class: "toggle" }, liveBox, "Live"));
  const tbody = h("tbody", {});
  const count = h("span", { id: "alerts-count" }, "");
  const moreBtn = h("button", { class: "secondary hidden", id: "load-more" }, "Load older");
  mount(pageHead("Alerts", count), filters,
    h("div", { class: "table-wrap" }, h("table", { id: "alerts-table" },
      h("thead", {}, h("tr", {}, ["Time", "Priority", "Rule", "Host", "Container", "Output", "Status"].map((c) => h("th", {}, c)))),
      tbody)),
    h("div", { class: "more" }, moreBtn));
  const row = (s, fresh) => {
    const a = s; // stored alerts are flat: the alert plus agent, status, time_ns
    const c = a.container;
    return h("tr", { class: fresh ? "fresh" : null, "data-id": a.id, "data-agent": s.agent, onclick: () => { location.hash = "#/alert/" + encodeURIComponent(a.id) + qs({ agent: s.agent }); } },
      h("td", { class: "time" }, fmtTime(s.time_ns)),
      h("td", {}, pill(a.priority)),
      h("td", {}, a.rule),
      h("td", {}, a.hostname),
      h("td", {}, c ? c.name || c.id.slice(0, 12) : h("span", { class: "status" }, "host")),
      h("td", { class: "out", title: a.output }, a.output),
      h("td", {}, h("span", { class: "status " + s.status }, s.status)));
  };
  let cursor = null;
  let newest = 0; // time_ns of the newest row shown
  const shown = new Set(); // agent + "\n" + id: ids are unique per agent only
  const keyOf = (s) => s.agent + "\n" + s.id;
  const load = async (more) => {
    const page = await api("/api/v1/alerts" + qs({ ...f, cursor: more ? cursor : null, limit: 100 }));
    if (!more) { tbody.replaceChildren(); shown.clear(); }
    page.alerts.forEach((s) => { shown.add(keyOf(s)); newest = Math.max(newest, s.time_ns); tbody.append(row(s, false)); });
    if (!more && !page.alerts.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No alerts match these filters")));
    count.textContent = `${num(page.total)}${page.total_capped ? "+" : ""} matching`;
    cursor = page.next || null;
    moreBtn.classList.toggle("hidden", !cursor);
  };
  moreBtn.addEventListener("click", () => load(true).catch(fail));
  await load(false);
  // Live: a new alert that can match the filters brings in the newer rows
  // of page 1 (debounced); rows already shown, "Load older" pages included,
  // stay. Alerts that cannot match (another rule, host, status or a lower
  // priority) cost nothing.
  let pending = null;
  const couldMatch = (msg) => {
    const a = msg.alert || {};
    if (f.rule && a.rule !== f.rule) return false;
    if (f.host && a.hostname !== f.host) return false;
    if (f.status && f.status !== "open") return false;
    if (f.min_priority && prioIndex(a.priority) > prioIndex(f.min_priority)) return false;
    if (f.to) return false; // a closed range gets no new alerts
    return true;
  };
  const addNewer = async () => {
    const page = await api("/api/v1/alerts" + qs({ ...f, limit: 100 }));
    const fresh = page.alerts.filter((s) => !shown.has(keyOf(s)) && s.time_ns >= newest);
    const empty = tbody.querySelector("td.empty");
    if (fresh.length && empty) empty.parentElement.remove();
    for (const s of fresh.reverse()) {
      shown.add(keyOf(s));
      newest = Math.max(newest, s.time_ns);
      tbody.prepend(row(s, true));
    }
    count.textContent = `${num(page.total)}${page.total_capped ? "+" : ""} matching`;
  };
  const onAlert = (msg) => {
    if (gen !== pageGen || !liveBox.checked || !document.body.contains(tbody) || !couldMatch(msg)) return;
    clearTimeout(pending);
    pending = setTimeout(() => { if (gen === pageGen) addNewer().catch(() => {}); }, 400);
  };
  listeners.clear();
  listeners.add(onAlert);
}

function processTree(events, alert) {
  // Ancestors (oldest first), then the process, then the event itself.
  const procs = events.filter((e) => e.kind === "process");
  const trig = events.find((e) => e.kind !== "process");
  const root = h("ul", { class: "process-tree", id: "process-tree" });
  let parent = root;
  procs.forEach((p, i) => {
    const self = i === procs.length - 1;
    const li = h("li", { class: "tree-node" },
      h("div", { class: "proc" + (self ? " self" : "") },
        h("div", { class: "name" }, p.name || "?", h("small", {}, `pid ${p.pid}`), self ? h("small", {}, "← alerting process") : null),
        h("div", { class: "cmd mono" }, p.cmdline || p.exepath)));
    parent.append(li);
    const ul = h("ul", {});
    li.append(ul);
    parent = ul;
  });
  if (trig) {
    const detail = ["fd.name", "fd.sip", "fd.sport", "fd.rip", "fd.rport", "proc.args", "evt.arg.uid"]
      .filter((k) => trig.detail[k] && trig.detail[k] !== "<NA>").map((k) => `${k}=${trig.detail[k]}`).join("  ");
    parent.append(h("li", { class: "tree-node" }, h("div", { class: "proc event" },
      h("div", { class: "name" }, `${trig.kind}`, h("small", {}, alert.rule)),
      detail ? h("div", { class: "cmd mono" }, detail) : null)));
  }
  if (!procs.length && !trig) return h("div", { class: "empty" }, "No process context was recorded");
  return root;
}

// An alert is its agent's id: `agent` names whose (ids are unique per agent).
async function alertDetail(id, agent) {
  mount(h("div", { class: "loading" }, "Loading…"));
  const which = agent ? qs({ agent }) : "";
  const { alert: s, events } = await api("/api/v1/alerts/" + encodeURIComponent(id) + which);
  const a = s;
  const c = a.container;
  const setStatus = async (st) => {
    try { await api(`/api/v1/alerts/${encodeURIComponent(id)}/status${qs({ agent: s.agent })}`, { method: "POST", body: JSON.stringify({ status: st }) }); toast(`Marked ${st}`); alertDetail(id, s.agent).catch(fail); }
    catch (e) { toast(e.message); }
  };
  const admin = me && me.role === "admin";
  const kv = (pairs) => h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  mount(
    h("div", { class: "page-head" },
      h("div", { class: "detail-head" }, pill(a.priority), h("h1", { id: "alert-rule" }, a.rule), h("span", { class: "status " + s.status, id: "alert-status" }, s.status)),
      h("div", { class: "actions" },
        h("button", { class: "secondary", onclick: () => history.back() }, "Back"),
        admin && s.status !== "acknowledged" ? h("button", { id: "btn-ack", onclick: () => setStatus("acknowledged") }, "Acknowledge") : null,
        admin && s.status !== "resolved" ? h("button", { id: "btn-resolve", onclick: () => setStatus("resolved") }, "Resolve") : null,
        admin && s.status !== "open" ? h("button", { class: "secondary", onclick: () => setStatus("open") }, "Reopen") : null)),
    h("div", { class: "panel" }, h("h2", {}, "Output"), h("div", { class: "output mono", id: "alert-output" }, a.output)),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("h2", {}, "Process tree"), processTree(events, a)),
      h("div", { class: "panel" }, h("h2", {}, "Context"), kv([
        ["Time", a.time], ["Host", a.hostname], ["Agent", s.agent], ["Source", a.source], ["Alert id", a.id],
        ["Occurrences", a.count > 1 ? String(a.count) : null],
        ["Container", c ? `${c.name} (${c.id.slice(0, 12)})` : "host (no container)"], ["Image", c && c.image],
        ["Privileged", c ? (c.privileged ? "yes" : "no") : null],
        ["K8s namespace", c && c.k8s_namespace], ["K8s pod", c && c.k8s_pod],
        ["Status by", s.status_by]]),
        h("div", { style: "margin-top:12px" }, a.tags.map((t) => h("span", { class: "chip" }, t))))),
    h("div", { class: "panel" }, h("h2", {}, "Fields"), kv(Object.entries(a.output_fields))),
    h("div", { class: "panel" }, h("details", {}, h("summary", {}, "Raw JSON"), h("pre", { class: "raw mono" }, JSON.stringify(a, null, 2)))));
}

async function rules() {
  mount(pageHead("Rules", ""), h("div", { class: "loading" }, "Loading…"));
  const list = await api("/api/v1/rules");
  const tbody = h("tbody", {});
  const filter = h("input", { class: "search", id: "rules-filter", placeholder: "Filter rules by name or tag…" });
  const render = () => {
    const t = filter.value.toLowerCase();
    tbody.replaceChildren(...list.filter((r) => !t || r.name.toLowerCase().includes(t) || r.tags.some((x) => x.toLowerCase().includes(t)))
      .map((r) => h("tr", { onclick: () => { location.hash = "#/alerts" + qs({ rule: r.name, from: "-30d" }); } },
        h("td", {}, r.name, r.desc ? h("div", { class: "status", style: "text-transform:none;margin-top:3px" }, r.desc.slice(0, 160)) : null),
        h("td", {}, pill(r.priority)),
        h("td", {}, r.tags.slice(0, 6).map((x) => h("span", { class: "chip" }, x))),
        h("td", {}, r.enabled ? "enabled" : "disabled"),
        h("td", {}, num(r.agents)),
        h("td", {}, num(r.alerts)),
        h("td", { class: "time" }, r.last_alert_ns ? fmtTime(r.last_alert_ns) : "—"))));
  };
  filter.addEventListener("input", render);
  render();
  mount(pageHead("Rules", `${list.length} rules loaded across agents`),
    h("div", { class: "filters" }, filter),
    h("div", { class: "table-wrap" }, h("table", { id: "rules-table" },
      h("thead", {}, h("tr", {}, ["Rule", "Priority", "Tags", "State", "Agents", "Alerts", "Last alert"].map((c) => h("th", {}, c)))), tbody)));
}

async function agents() {
  const list = await api("/api/v1/agents");
  const now = Date.now() / 1000;
  mount(pageHead("Agents", `${list.length} known`),
    h("div", { class: "table-wrap" }, h("table", { id: "agents-table" },
      h("thead", {}, h("tr", {}, ["Agent", "Host", "Version", "Kernel", "Last seen", "Events", "Alerts", "Kernel drops", "Rules"].map((c) => h("th", {}, c)))),
      h("tbody", {}, list.length ? list.map((a) => {
        const age = now - a.last_seen;
        const cls = age < 90 ? "online" : age < 600 ? "stale" : "offline";
        const drops = Object.entries(a.drops || {}).filter(([, v]) => v > 0);
        return h("tr", { onclick: () => { location.hash = "#/alerts" + qs({ host: a.hostname }); } },
          h("td", {}, h("span", { class: cls }, "● "), a.agent),
          h("td", {}, a.hostname), h("td", {}, a.version), h("td", { class: "mono" }, a.kernel),
          h("td", { class: "time" }, ago(a.last_seen)), h("td", {}, num(a.events)), h("td", {}, num(a.alerts)),
          h("td", {}, drops.length ? drops.map(([k, v]) => `${k}: ${num(v)}`).join(", ") : "0"),
          h("td", {}, num(a.rules)));
      }) : h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No agent has reported yet"))))));
}

// ---------- routing, sign-in ----------
function fail(e) {
  if (e instanceof AuthError) { me = null; if (liveAbort) liveAbort.abort(); showLogin("Your session ended: please sign in again."); return; }
  mount(h("div", { class: "panel" }, h("h2", {}, "Error"), h("div", { class: "error" }, e.message || String(e))));
}

async function route() {
  const hash = location.hash || "#/overview";
  const [path, query] = hash.slice(1).split("?");
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  const page = path.split("/")[1] || "overview";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page || (page === "alert" && a.dataset.page === "alerts")));
  if (page !== "alerts") listeners.clear();
  try {
    if (page === "alerts") await alerts(params);
    else if (page === "alert") await alertDetail(decodeURIComponent(path.split("/").slice(2).join("/")), params.agent);
    else if (page === "rules") await rules();
    else if (page === "agents") await agents();
    else await overview();
  } catch (e) { fail(e); }
}

function showLogin(msg) {
  $("#login").classList.remove("hidden");
  $("#login-error").textContent = msg || "";
  $("#login-token").focus();
}

// Trade a one-time code (from a sign-in link) or a pasted token for a
// session cookie.
async function openSession(how) {
  const r = await fetch("/api/v1/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", ...(how.token ? { "Authorization": "Bearer " + how.token } : {}) },
    body: how.code ? JSON.stringify({ code: how.code }) : "",
  });
  const body = await r.json().catch(() => ({}));
  if (r.status === 403) throw new Error(body.detail || "That token may not use the dashboard.");
  if (!r.ok) throw new Error(how.code ? "That sign-in link was already used or has expired." : "That token was refused.");
  return body;
}

async function signedIn(who) {
  me = who;
  $("#whoami").textContent = `${me.name} · ${me.role}`;
  $("#login").classList.add("hidden");
  startLive();
  await route();
}

async function resume() {
  const r = await fetch("/api/v1/whoami", { credentials: "same-origin" });
  if (!r.ok) return false;
  const who = await r.json();
  if (who.role === "agent") return false;
  await signedIn(who);
  return true;
}

function boot() {
  localStorage.removeItem(OLD_TOKEN_KEY);
  // A sign-in link carries a one-time code in the fragment (never sent in a
  // request); it leaves the address bar at once.
  const m = location.hash.match(/^#(code|token)=([A-Za-z0-9_\-]+)/);
  if (m) history.replaceState(null, "", location.pathname + "#/overview");
  $("#login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("#login-token").value.trim();
    $("#login-token").value = "";
    openSession({ token: t }).then(signedIn).catch((err) => showLogin(err.message));
  });
  $("#logout").addEventListener("click", async () => {
    me = null;
    if (liveAbort) liveAbort.abort();
    await fetch("/api/v1/session", { method: "DELETE", credentials: "same-origin" }).catch(() => {});
    showLogin("Signed out.");
  });
  // A sign-in link opened in a tab that is already here (signed out or
  // not) arrives as a hash change, not a page load.
  window.addEventListener("hashchange", () => {
    const c = location.hash.match(/^#(code|token)=([A-Za-z0-9_\-]+)/);
    if (c) {
      history.replaceState(null, "", location.pathname + "#/overview");
      openSession(c[1] === "code" ? { code: c[2] } : { token: c[2] }).then(signedIn).catch((err) => showLogin(err.message));
      return;
    }
    if (me) route();
  });
  const first = m ? openSession(m[1] === "code" ? { code: m[2] } : { token: m[2] }).then(signedIn) : resume().then((ok) => { if (!ok) showLogin(); });
  first.catch((err) => showLogin(err.message || "Please sign in."));
}

boot();
