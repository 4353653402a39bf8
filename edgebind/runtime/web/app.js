// edgebind web view: per-sensor tiles, scores against thresholds, events and their snapshots, search,
// event editing and node health, over the node's own API. Every buffer here is bounded (LIMITS), so
// the page keeps a constant footprint however long it stays open.
"use strict";

const LIMITS = { events: 100, moments: 20, seconds: 120, imuPoints: 400, spectrogramColumns: 60 };
const COLOURS = ["#5aa2f0", "#3fb37f", "#e0a526", "#e0524f", "#b07ef0", "#4fd1d9", "#f07eb7", "#a4c34f"];
const PALETTE = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                 [250, 193, 39], [252, 255, 164]];  // the server's false-colour anchors (web.py)
const FLOOR_DB = -100;

const state = {
  token: null,
  tiles: new Map(),       // source -> tile
  scores: new Map(),      // stream -> [{second, ratio, event, score, threshold}], last LIMITS.seconds
  thresholds: {},         // event -> modality -> threshold
  events: [],             // newest last, at most LIMITS.events
  moments: [],            // the last query's answer
  config: [],             // the node's events as GET /config/events gives them
  sourceStats: new Map(), // source -> {t, chunks, gaps, gapSeen}
  hasStore: true,
  socket: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const fmt = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? "-" : Number(x).toFixed(digits));
const clock = (wall) => new Date(wall * 1000).toLocaleTimeString();
function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
function duration(s) {
  if (s === null || s === undefined) return "forever";
  return s >= 86400 ? `${(s / 86400).toFixed(1)} d` : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s)} s`;
}

// --- the API -------------------------------------------------------------------------------------------
function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("edgebind-token", hash.get("token"));
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
  state.token = sessionStorage.getItem("edgebind-token");
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (options.body !== undefined && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    $("token-form").hidden = false;
    throw new Error("the node wants its API token");
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}
const getJson = async (path, options) => (await api(path, options)).json();

// --- tiles ---------------------------------------------------------------------------------------------
function tileOf(source) {
  let tile = state.tiles.get(source);
  if (tile) return tile;
  const badge = el("span", { class: "badge state", text: "..." });
  const gap = el("span", { class: "badge gap", text: "gap", hidden: "" });
  const counters = el("div", { class: "counters", text: "" });
  const views = el("div", { class: "views" });
  const root = el("article", { class: "tile", "data-source": source },
    el("header", {}, el("span", { class: "name", text: source }), badge, gap), counters, views);
  $("tiles").append(root);
  tile = { root, badge, gap, counters, views, modalities: new Map() };
  state.tiles.set(source, tile);
  return tile;
}

function viewOf(tile, modality) {
  let view = tile.modalities.get(modality);
  if (view) return view;
  const root = el("div", { class: `view ${modality}`, "data-modality": modality, "data-updates": "0" });
  view = { root, updates: 0 };
  if (modality === "audio") {
    view.meterBar = el("div");
    view.level = el("span", { class: "muted", text: "" });
    view.canvas = el("canvas", { width: LIMITS.spectrogramColumns, height: 48 });
    view.ctx = view.canvas.getContext("2d");
    view.ctx.fillStyle = "#000";
    view.ctx.fillRect(0, 0, view.canvas.width, view.canvas.height);
    root.append(el("div", { class: "meter" }, view.meterBar), view.level, view.canvas);
  } else if (modality === "imu") {
    view.channels = [[], [], [], [], [], []];
    view.canvas = el("canvas", { width: 400, height: 120 });
    root.append(view.canvas, el("div", { class: "scale", text: "accel x y z (top), gyro x y z (bottom)" }));
  } else {
    view.img = el("img", { alt: `${modality} frame` });
    view.low = el("span");
    view.high = el("span");
    const bar = el("canvas", { width: 128, height: 8 });
    paintScale(bar);
    root.append(view.img, el("div", { class: "scale" }, view.low, bar, view.high));
  }
  tile.views.append(root);
  tile.modalities.set(modality, view);
  return view;
}

function paintScale(canvas) {
  const ctx = canvas.getContext("2d");
  const gradient = ctx.createLinearGradient(0, 0, canvas.width, 0);
  PALETTE.forEach((c, i) => gradient.addColorStop(i / (PALETTE.length - 1), `rgb(${c.join(",")})`));
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function colourOf(db) {
  const x = Math.min(Math.max((db - FLOOR_DB) / -FLOOR_DB, 0), 1) * (PALETTE.length - 1);
  const i = Math.min(Math.floor(x), PALETTE.length - 2);
  const f = x - i;
  return PALETTE[i].map((v, c) => Math.round(v + f * (PALETTE[i + 1][c] - v)));
}

function onTile(message) {
  const view = viewOf(tileOf(message.source), message.modality);
  view.updates += 1;
  view.root.dataset.updates = String(view.updates);
  if (message.modality === "audio") {
    const { ctx, canvas } = view;
    ctx.drawImage(canvas, -1, 0);  // scroll one column left
    const column = ctx.createImageData(1, canvas.height);
    message.spectrum.forEach((db, bin) => {
      const row = canvas.height - 1 - Math.floor(bin * canvas.height / message.spectrum.length);
      column.data.set([...colourOf(db), 255], row * 4);
    });
    ctx.putImageData(column, canvas.width - 1, 0);
    view.meterBar.style.width = `${Math.max(0, 100 + message.level_db)}%`;
    view.level.textContent = `${fmt(message.level_db, 1)} dBFS, 0-${Math.round(message.nyquist_hz)} Hz`;
  } else if (message.modality === "imu") {
    message.traces.forEach((trace, c) => {
      if (c < view.channels.length) view.channels[c] = view.channels[c].concat(trace).slice(-LIMITS.imuPoints);
    });
    drawTraces(view.canvas, view.channels);
  } else {
    view.img.src = message.image;  // a data URL: the previous frame is released with it
    const unit = message.units ? ` ${message.units}` : "";
    view.low.textContent = message.low === null ? "" : `${fmt(message.low, 1)}${unit}`;
    view.high.textContent = message.high === null ? "" : `${fmt(message.high, 1)}${unit}`;
  }
}

function drawTraces(canvas, channels) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  const halves = [channels.slice(0, 3), channels.slice(3, 6)];
  halves.forEach((group, h) => {
    const values = group.flat();
    if (!values.length) return;
    const lo = Math.min(...values), hi = Math.max(...values), span = Math.max(hi - lo, 1e-6);
    const top = h * height / 2, size = height / 2 - 4;
    group.forEach((trace, c) => {
      ctx.strokeStyle = COLOURS[c];
      ctx.beginPath();
      trace.forEach((v, i) => {
        const x = i * width / Math.max(LIMITS.imuPoints - 1, trace.length - 1);
        const y = top + 2 + size - (v - lo) / span * size;
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.stroke();
    });
  });
}

function updateTiles(stats) {
  const now = performance.now() / 1000;
  const windows = {};
  const dropped = {};
  for (const [stream, s] of Object.entries(stats.streams || {})) {
    const source = stream.split("/")[0];
    windows[source] = (windows[source] || 0) + s.windows_per_s;
    dropped[source] = (dropped[source] || 0) + s.dropped;
  }
  for (const [source, status] of Object.entries(stats.sources || {})) {
    const tile = tileOf(source);
    const previous = state.sourceStats.get(source);
    const chunks = status.chunks || 0, gaps = status.gaps || 0;
    let rate = previous && now > previous.t ? (chunks - previous.chunks) / (now - previous.t) : null;
    let gapSeen = previous ? previous.gapSeen : -Infinity;
    if (previous && gaps > previous.gaps) gapSeen = now;
    state.sourceStats.set(source, { t: now, chunks, gaps, gapSeen });
    const failed = (stats.source_failures || {})[source];
    tile.badge.textContent = status.state;
    tile.badge.className = `badge state ${status.state}`;
    tile.gap.hidden = now - gapSeen > 10;
    tile.counters.textContent = `${rate === null ? "-" : rate.toFixed(0)} chunks/s, ${fmt(windows[source] || 0, 1)} win/s, ` +
      `drops ${(status.drops || 0) + (dropped[source] || 0)}, gaps ${gaps}` + (failed ? `, failures ${failed}` : "") +
      (status.last_error && status.state !== "connected" ? ` - ${status.last_error}` : "");
  }
}

// --- scores against thresholds ---------------------------------------------------------------------------
function onEmbedding(message) {
  const stream = `${message.source}/${message.modality}`;
  let best = null;
  for (const [event, score] of Object.entries(message.scores || {})) {
    const threshold = (state.thresholds[event] || {})[message.modality];
    if (!threshold) continue;
    const ratio = score / threshold;
    if (!best || ratio > best.ratio) best = { ratio, event, score, threshold };
  }
  if (!best) return;
  const second = Math.floor(message.wall_time);
  const series = state.scores.get(stream) || [];
  const last = series[series.length - 1];
  if (last && last.second === second) {
    if (best.ratio > last.ratio) Object.assign(last, best);
  } else {
    series.push({ second, ...best });
  }
  state.scores.set(stream, series.filter((p) => p.second >= second - LIMITS.seconds).slice(-(LIMITS.seconds + 1)));
}

function drawTimeline() {
  const canvas = $("timeline");
  const width = canvas.clientWidth || canvas.width;
  if (canvas.width !== width) canvas.width = width;
  const ctx = canvas.getContext("2d");
  const height = canvas.height, now = Date.now() / 1000, start = now - LIMITS.seconds, top = 2;
  const x = (t) => (t - start) / LIMITS.seconds * width;
  const y = (ratio) => height - 14 - Math.min(ratio, top) / top * (height - 24);
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#8b93a1";
  ctx.font = "10px system-ui";
  for (let t = Math.ceil(start / 30) * 30; t < now; t += 30) ctx.fillText(clock(t), x(t) + 2, height - 2);
  ctx.strokeStyle = "#e0524f";
  ctx.setLineDash([4, 4]);
  ctx.beginPath(); ctx.moveTo(0, y(1)); ctx.lineTo(width, y(1)); ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillText("threshold", 4, y(1) - 3);
  for (const e of state.events) {
    if (e.kind !== "start" || e.wall_time < start) continue;
    ctx.strokeStyle = "rgba(63, 179, 127, 0.7)";
    ctx.beginPath(); ctx.moveTo(x(e.wall_time), 10); ctx.lineTo(x(e.wall_time), height - 14); ctx.stroke();
    ctx.fillStyle = "#3fb37f";
    ctx.fillText(e.event, x(e.wall_time) + 2, 10);
  }
  ctx.fillStyle = "#e0a526";
  for (const m of state.moments) {
    if (m.t_start >= start) ctx.fillRect(x(m.t_start) - 2, height - 20, Math.max(4, x(m.t_end) - x(m.t_start)), 5);
  }
  const legend = [];
  [...state.scores.keys()].sort().forEach((stream, i) => {
    const series = state.scores.get(stream);
    ctx.strokeStyle = COLOURS[i % COLOURS.length];
    ctx.beginPath();
    series.forEach((p, j) => (j ? ctx.lineTo(x(p.second + 0.5), y(p.ratio)) : ctx.moveTo(x(p.second + 0.5), y(p.ratio))));
    ctx.stroke();
    const last = series[series.length - 1];
    const misses = series.filter((p) => p.ratio < 1);
    const closest = misses.reduce((a, p) => (!a || p.ratio > a.ratio ? p : a), null);
    legend.push(el("li", { "data-stream": stream }, el("i", { style: `background:${COLOURS[i % COLOURS.length]}` }),
      `${stream}: ${last ? `${last.event} ${fmt(last.score)} / ${fmt(last.threshold)}` : "-"}` +
      (closest ? `; closest miss ${closest.event} ${fmt(closest.score)} / ${fmt(closest.threshold)}` : "")));
  });
  $("legend").replaceChildren(...legend);
}

// --- events ----------------------------------------------------------------------------------------------
function addEvent(record) {
  state.events.push(record);
  if (state.events.length > LIMITS.events) state.events.splice(0, state.events.length - LIMITS.events);
  renderEvents();
}

function renderEvents() {
  const rows = state.events.slice().reverse().map((e) => {
    const threshold = (state.thresholds[e.event] || {})[e.modality];
    const li = el("li", { class: `event-row${e.snapshot ? " clickable" : ""}`, "data-event": e.event, "data-kind": e.kind,
                          "data-stream": `${e.source}/${e.modality}` },
      el("span", { class: `kind-${e.kind}`, text: e.kind }), el("b", { text: e.event }),
      el("span", { class: "muted", text: `${e.source}/${e.modality} ${clock(e.wall_time)}` }),
      el("span", { class: "score", text: `score ${fmt(e.score)}${threshold ? ` (threshold ${fmt(threshold)})` : ""}` }));
    if (e.snapshot) {
      li.dataset.snapshot = String(e.snapshot);
      li.addEventListener("click", () => openSnapshot(e.snapshot, `${e.event} on ${e.source}/${e.modality} at ${clock(e.wall_time)}`));
    }
    return li;
  });
  $("events").replaceChildren(...rows);
}

let snapshotLookup = null;
function findSnapshots() {  // the store gives a started event its snapshot id once it is committed
  if (!state.hasStore || snapshotLookup) return;
  snapshotLookup = setTimeout(async () => {
    snapshotLookup = null;
    try {
      const answer = await getJson("/events?last=15m&limit=200");
      if (answer.from !== "store") { state.hasStore = false; return; }
      let found = false;
      for (const e of state.events) {
        if (e.snapshot || e.kind !== "start") continue;
        const stored = answer.events.find((s) => s.event === e.event && s.source === e.source &&
          s.modality === e.modality && Math.abs(s.t_open - e.wall_time) < 1);
        if (stored && stored.snapshot) { e.snapshot = stored.snapshot; found = true; }
      }
      if (found) renderEvents();
      if (state.events.some((e) => e.kind === "start" && !e.snapshot && Date.now() / 1000 - e.wall_time < 10)) findSnapshots();
    } catch (error) { console.warn(error); }
  }, 1000);
}

async function loadHistory() {
  try {
    const answer = await getJson("/events?last=1h&limit=50");
    state.hasStore = answer.from === "store";
    for (const e of answer.events.slice().reverse()) {
      const wall = e.wall_time !== undefined ? e.wall_time : e.t_open;
      addEvent({ kind: e.kind || "start", event: e.event, source: e.source, modality: e.modality, wall_time: wall,
                 score: e.score, snapshot: e.snapshot || null });
    }
  } catch (error) { console.warn(error); }
}

// --- snapshots -------------------------------------------------------------------------------------------
const snapshotUrls = [];
$("snapshot").addEventListener("close", () => {
  snapshotUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));  // nothing stays behind a closed dialog
  $("snapshot-body").replaceChildren();
});

async function openSnapshot(ref, title) {
  const body = $("snapshot-body");
  $("snapshot-title").textContent = title;
  body.replaceChildren(el("p", { class: "muted", text: "loading..." }));
  if (!$("snapshot").open) $("snapshot").showModal();
  try {
    const { media } = await getJson(`/snapshot/${ref}/media`);
    const figures = await Promise.all(media.map(async (m) => {
      const response = await api(`/snapshot/${ref}/media?name=${encodeURIComponent(m.name)}`);
      const caption = el("figcaption", { class: "muted", text: `${m.stream} (${m.modality})` });
      if (m.kind === "traces") {
        const data = await response.json();
        const canvas = el("canvas", { width: 400, height: 160 });
        drawTraces(canvas, data.traces);
        return el("figure", { "data-kind": "traces" }, canvas, caption);
      }
      const url = URL.createObjectURL(await response.blob());
      snapshotUrls.push(url);
      if (m.kind === "wav") return el("figure", { "data-kind": "wav" }, el("audio", { controls: "", src: url }), caption);
      const range = response.headers.get("X-Low") ? ` ${response.headers.get("X-Low")} .. ${response.headers.get("X-High")}` : "";
      caption.textContent += range;
      return el("figure", { "data-kind": "png" }, el("img", { src: url, alt: m.stream }), caption);
    }));
    body.replaceChildren(...(figures.length ? figures : [el("p", { text: "this snapshot holds nothing to show" })]));
  } catch (error) {
    body.replaceChildren(el("p", { class: "error", text: error.message }));
  }
}

// --- search ----------------------------------------------------------------------------------------------
function showMoments(answer, what) {
  state.moments = answer.moments;
  $("query-status").textContent = `${answer.moments.length} moments like ${what} (marked on the timeline when recent)`;
  $("moments").replaceChildren(...answer.moments.map((m) => {
    const li = el("li", { class: `moment${m.snapshot ? " clickable" : ""}`, "data-modality": m.modality },
      el("b", { text: `#${m.rank}` }), el("span", { text: `score ${fmt(m.score, 3)}` }),
      el("span", { text: `${m.source}/${m.modality}` }), el("span", { class: "muted", text: clock(m.t_start) }),
      el("span", { class: "muted", text: m.snapshot ? "snapshot" : "" }));
    if (m.snapshot) li.addEventListener("click", () => openSnapshot(m.snapshot, `#${m.rank} ${m.source}/${m.modality} at ${clock(m.t_start)}`));
    return li;
  }));
}

async function search(what, request) {
  $("query-status").textContent = "searching...";
  try {
    showMoments(await getJson(...request), what);
  } catch (error) {
    $("query-status").textContent = error.message;
  }
}

$("query-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const text = $("query-text").value.trim();
  const last = $("query-last").value || null;
  search(`"${text}"`, ["/query", { method: "POST", body: JSON.stringify({ terms: [text], k: LIMITS.moments, last }) }]);
});

const BY_SUFFIX = { wav: "audio", flac: "audio", ogg: "audio", jpg: "vision", jpeg: "vision", csv: "imu",
                    tif: "thermal", tiff: "thermal", png: "depth", npy: "depth" };

function searchFile(file) {
  const suffix = file.name.split(".").pop().toLowerCase();
  const chosen = $("file-modality").value;
  const modality = chosen === "auto" ? BY_SUFFIX[suffix] || "audio" : chosen;
  const params = new URLSearchParams({ modality, filename: file.name, k: LIMITS.moments });
  if ($("query-last").value) params.set("last", $("query-last").value);
  search(`${file.name} (${modality})`, [`/query/file?${params}`, { method: "POST", body: file,
                                                                  headers: { "Content-Type": "application/octet-stream" } }]);
}

$("query-file").addEventListener("change", () => {
  if ($("query-file").files.length) searchFile($("query-file").files[0]);
  $("query-file").value = "";
});
$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  if (e.dataTransfer.files.length) searchFile(e.dataTransfer.files[0]);
});

// --- event editing ---------------------------------------------------------------------------------------
async function loadConfig() {
  const answer = await getJson("/config/events");
  state.config = answer.events;
  state.thresholds = Object.fromEntries(answer.events.map((e) => [e.name, e.thresholds]));
  $("event-config").tBodies[0].replaceChildren(...answer.events.map((e) => {
    const values = Object.values(e.thresholds);
    const [lo, hi] = [Math.min(...values), Math.max(...values)];
    const effective = values.length ? (hi > lo ? `${fmt(lo)}-${fmt(hi)}` : fmt(lo)) : "-";
    const prompts = e.prompts.length > 1 ? `${e.prompts[0]} (+${e.prompts.length - 1})` : e.prompts[0];
    const remove = () => saveEvents(state.config.filter((x) => x.name !== e.name), `removed ${e.name}`);
    return el("tr", { "data-event": e.name }, el("td", { text: e.name }),
      el("td", { text: prompts, title: e.prompts.join(" | ") }),
      el("td", { text: e.threshold === null ? `${effective} (calibrated/default)` : fmt(e.threshold, 3) }),
      el("td", {}, el("button", { type: "button", text: "edit", onclick: () => editEvent(e) }),
        el("button", { type: "button", class: "remove", text: "remove", onclick: remove })));
  }));
}

function editEvent(e) {
  $("event-name").value = e.name;
  $("event-prompts").value = e.prompts.join(" | ");
  $("event-threshold").value = e.threshold === null ? "" : e.threshold;
}

async function saveEvents(events, done) {
  const body = events.map((e) => ({ name: e.name, prompts: e.prompts, threshold: e.threshold, modalities: e.modalities }));
  $("event-status").textContent = "applying...";
  try {
    await api("/config/events", { method: "PUT", body: JSON.stringify({ events: body }) });
    await loadConfig();
    $("event-status").textContent = done;
  } catch (error) {
    $("event-status").textContent = error.message;
  }
}

$("event-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const name = $("event-name").value.trim();
  const prompts = $("event-prompts").value.split("|").map((p) => p.trim()).filter(Boolean);
  const threshold = $("event-threshold").value === "" ? null : Number($("event-threshold").value);
  const old = state.config.find((e) => e.name === name);
  const event = { name, prompts: prompts.length ? prompts : [name], threshold, modalities: old ? old.modalities : [] };
  const events = old ? state.config.map((e) => (e.name === name ? event : e)) : [...state.config, event];
  saveEvents(events, `${old ? "updated" : "added"} ${name}; the node applies it now`);
});

$("token-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  sessionStorage.setItem("edgebind-token", $("token-input").value);
  location.reload();
});

// --- health ----------------------------------------------------------------------------------------------
function updateHealth(stats) {
  const store = stats.store;
  const rows = [["backend", stats.backend], ["model", stats.model],
    ["CPU", `${fmt(stats.process.cpu_percent, 1)} % of one core`], ["memory (RSS)", bytes(stats.process.rss_bytes)],
    ["window queue", `${stats.queue} waiting, ${stats.window_drops} dropped`],
    ["store", store ? `${store.rows} moments, ${store.events} events, ${bytes(store.bytes)}` : "none (no --store)"],
    ["retention", store ? `${duration(store.max_age_s)}, ${store.max_bytes ? `at most ${bytes(store.max_bytes)}` : "no size cap"}` : "-"],
    ["API", `${stats.api.clients} clients, ${stats.api.client_drops} messages dropped for slow clients`]];
  $("health").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  $("stream-stats").tBodies[0].replaceChildren(...Object.entries(stats.streams).map(([name, s]) => el("tr", { "data-stream": name },
    ...[name, fmt(s.windows_per_s, 1), fmt(s.latency_p50_ms, 0), fmt(s.latency_p99_ms, 0), fmt(s.cpu_percent, 1), s.dropped]
      .map((v) => el("td", { text: String(v) })))));
  $("model").textContent = stats.backend;
}

async function pollStats() {
  try {
    const stats = await getJson("/stats");
    updateTiles(stats);
    updateHealth(stats);
  } catch (error) { console.warn(error); }
}

// --- the live stream -------------------------------------------------------------------------------------
function connect() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({ embeddings: "meta", previews: "true", ...(state.token ? { token: state.token } : {}) });
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => { $("conn").textContent = "live"; $("conn").className = "badge connected"; };
  socket.onclose = () => {
    $("conn").textContent = "reconnecting"; $("conn").className = "badge reconnecting";
    setTimeout(connect, 2000);
  };
  socket.onmessage = (message) => {
    const record = JSON.parse(message.data);
    if (record.type === "tile") onTile(record);
    else if (record.type === "embedding") onEmbedding(record);
    else if (record.type === "event") {
      addEvent({ ...record, snapshot: null });
      if (record.kind === "start") findSnapshots();
    } else if (record.type === "dropped") console.warn(`the node dropped ${record.count} messages for this page`);
  };
}

async function main() {
  readToken();
  try {
    await loadConfig();
  } catch (error) {
    $("event-status").textContent = error.message;
  }
  await loadHistory();
  connect();
  pollStats();
  setInterval(pollStats, 1000);
  setInterval(drawTimeline, 500);
}

main();
