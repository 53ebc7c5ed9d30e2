// Telepathine dashboard: polls /v1/peers and /v1/keys, follows /v1/events
// (server-sent events) and draws phi over time on a canvas. No libraries.
"use strict";

const POLL_MS = 500;
const HISTORY_MS = 120000;
const PHI_MAX = 12;       // the chart's ceiling; higher values are clipped
const PHI_THRESHOLD = 8;  // the engine's default Failure.Threshold
const COLORS = ["#3461c1", "#1f9d55", "#d64545", "#b7791f", "#805ad5", "#2c7a7b", "#c05621", "#4a5568"];

const history = new Map(); // peer -> [[t, phi]]
const colorOf = new Map();

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike style attributes
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function color(peer) {
  if (!colorOf.has(peer)) colorOf.set(peer, COLORS[colorOf.size % COLORS.length]);
  return colorOf.get(peer);
}

function ago(ms) {
  const s = Math.max(0, ms / 1000);
  return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

function renderPeers(data) {
  document.getElementById("self").textContent =
    `${data.self.name} · ${data.self.addr} · cluster ${data.self.cluster}`;
  const body = document.querySelector("#peers tbody");
  const rows = [el("tr", { "data-peer": data.self.name, "data-state": "self" },
    el("td", {}, data.self.name), el("td", {}, data.self.addr),
    el("td", {}, el("span", { class: "badge self" }, "self")), el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "–"))];
  let live = data.self.running ? 1 : 0, dead = 0;
  for (const p of data.peers) {
    const state = p.alive ? "alive" : "dead";
    if (p.alive) live++; else dead++;
    rows.push(el("tr", { "data-peer": p.name, "data-state": state },
      el("td", {}, el("i", { style: `color:${color(p.name)}` }, "● "), p.name), el("td", {}, p.addr),
      el("td", {}, el("span", { class: "badge " + state }, state)),
      el("td", {}, p.alive ? p.phi.toFixed(2) : "–"), el("td", {}, p.heartbeat), el("td", {}, p.version)));
  }
  body.replaceChildren(...rows);
  document.getElementById("live-count").textContent = live;
  document.getElementById("dead-count").textContent = dead;

  const now = data.time;
  for (const p of data.peers) {
    if (!history.has(p.name)) history.set(p.name, []);
    // A dead peer is drawn at the ceiling: its phi passed the threshold.
    history.get(p.name).push([now, p.alive ? Math.min(p.phi, PHI_MAX) : PHI_MAX]);
  }
  for (const [name, h] of history) {
    while (h.length && h[0][0] < now - HISTORY_MS) h.shift();
    if (!h.length) { history.delete(name); }
  }
  drawPhi(now);

  const lag = document.querySelector("#lag tbody");
  lag.replaceChildren(...data.replication.map(r => el("tr", { "data-origin": r.origin },
    el("td", {}, r.origin), el("td", {}, r.held), el("td", {}, r.known), el("td", {}, r.behind),
    el("td", {}, r.behind ? ago(r.behind_seconds * 1000) : "up to date"))));
  if (!data.replication.length) lag.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "no other peer")));
}

function drawPhi(now) {
  const c = document.getElementById("phi");
  const w = c.clientWidth, h = c.clientHeight, dpr = window.devicePixelRatio || 1;
  if (c.width !== w * dpr || c.height !== h * dpr) { c.width = w * dpr; c.height = h * dpr; }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 28, bottom = h - 16, top = 6;
  // The window grows with the history kept, from 20 s up to two minutes.
  let oldest = now;
  for (const h of history.values()) if (h.length) oldest = Math.min(oldest, h[0][0]);
  const span = Math.min(HISTORY_MS, Math.max(20000, now - oldest));
  const x = t => left + (w - left - 4) * (1 - (now - t) / span);
  const y = v => bottom - (bottom - top) * (v / PHI_MAX);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7385";
  g.strokeStyle = "#e2e5eb";
  g.lineWidth = 1;
  for (const v of [0, 4, 8, 12]) {
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(w - 4, y(v)); g.stroke();
    g.fillText(String(v), 4, y(v) + 4);
  }
  for (const f of [1, 0.75, 0.5, 0.25, 0]) {
    const s = Math.round(span * f / 1000);
    g.fillText(s ? `-${s}s` : "now", x(now - s * 1000) - (s ? (f === 1 ? 0 : 12) : 22), h - 3);
  }
  g.setLineDash([5, 4]); g.strokeStyle = "#d64545";
  g.beginPath(); g.moveTo(left, y(PHI_THRESHOLD)); g.lineTo(w - 4, y(PHI_THRESHOLD)); g.stroke();
  g.setLineDash([]);
  g.lineWidth = 2;
  const legend = [];
  for (const [name, h] of history) {
    g.strokeStyle = color(name);
    g.beginPath();
    h.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
    g.stroke();
    legend.push(el("span", {}, el("i", { style: `background:${color(name)}` }), name));
  }
  document.getElementById("legend").replaceChildren(...legend);
}

function showValue(v) {
  if (!v) return "";
  const s = v.encoding === "raw" ? `base64:${v.data}` : v.data;
  return v.truncated ? s + ` … (${v.size} bytes)` : s;
}

function renderKeys(data) {
  const now = Date.now();
  const box = document.getElementById("keys");
  const parts = [];
  for (const pk of data.peers) {
    parts.push(el("h3", {}, pk.peer + (pk.self ? " (self)" : "")));
    if (!pk.keys.length) { parts.push(el("div", { class: "empty" }, "no keys")); continue; }
    parts.push(el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "key"), el("th", {}, "value"),
      el("th", {}, "version"), el("th", {}, "expires"))),
      el("tbody", {}, ...pk.keys.map(k => el("tr", { "data-peer": pk.peer, "data-key": k.key },
        el("td", {}, k.key), el("td", { class: "val", title: showValue(k.value) }, showValue(k.value)),
        el("td", {}, k.version), el("td", {}, k.expires_at ? "in " + ago(k.expires_at - now) : "never"))))));
  }
  box.replaceChildren(...parts);
}

async function poll(path, render) {
  try {
    const r = await fetch(path, { cache: "no-store" });
    if (r.ok) render(await r.json());
  } catch (e) { /* the agent may be restarting: try again at the next tick */ }
}

function follow() {
  const list = document.getElementById("events");
  const state = document.getElementById("events-state");
  const es = new EventSource("v1/events");
  es.onopen = () => { state.textContent = "live"; };
  es.onerror = () => { state.textContent = "reconnecting…"; };
  es.onmessage = m => {
    const e = JSON.parse(m.data);
    const t = new Date(e.time).toLocaleTimeString();
    const what = [e.peer, e.key, showValue(e.value)].filter(Boolean).join(" ");
    list.prepend(el("li", { "data-event": e.name }, el("span", { class: "t" }, t), el("span", { class: "n" }, e.name), what));
    while (list.children.length > 200) list.lastChild.remove();
  };
}

function tick() {
  poll("v1/peers", renderPeers);
  poll("v1/keys", renderKeys);
}
tick();
setInterval(tick, POLL_MS);
follow();
