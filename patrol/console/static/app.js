"use strict";
// ParkPatrol console: login, live WebSocket (snapshot + deltas, reconnect + resync), alarms and
// incidents, robot control, patrol plans, playback. Optional APIs that answer 404 are shown as
// "not available" instead of failing.
const ROLE_RANK = { viewer: 0, operator: 1, supervisor: 2, admin: 3 };
const SEVERITY_RANK = { CRITICAL: 4, MAJOR: 3, MINOR: 2, WARNING: 1 };
const S = { me: null, robots: new Map(), alarms: new Map(), incidents: new Map(), rows: new Map(),
  selected: null, pick: null, ws: null, backoff: 500, started: false, heat: {}, stats: { updates: 0, scriptMs: 0 },
  playback: null, alarmRenderPending: false };

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : "";
}
function can(role) { return S.me && ROLE_RANK[S.me.role] >= ROLE_RANK[role]; }
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
async function api(path, opts = {}) {
  const headers = Object.assign({ "Content-Type": "application/json", "X-CSRF-Token": cookie("pp_csrf") }, opts.headers || {});
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts, { headers }));
  if (r.status === 401) { showLogin(); throw new Error("unauthorised"); }
  return r;
}
async function post(path, body) {
  const r = await api(path, { method: "POST", body: JSON.stringify(body || {}) });
  toast(r.ok ? `${t("sent")}: ${path.split("/").slice(-2).join(" ")}` : `${t("failed")} (${r.status}): ${await errText(r)}`, !r.ok);
  return r;
}
async function errText(r) { try { const j = await r.json(); return typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch { return r.statusText; } }
function toast(msg, bad) {
  const n = el("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, msg);
  document.body.append(n); setTimeout(() => n.remove(), 4000);
}
function roleButton(label, role, onClick, cls) {
  const ok = can(role);
  return el("button", { type: "button", class: cls, disabled: !ok, title: ok ? "" : t(role === "operator" ? "needop" : "needsup"),
    dataset: { need: role }, on: { click: onClick } }, t(label));
}

// -- login / start -------------------------------------------------------------------------------
function showLogin() { document.getElementById("login").hidden = false; }
async function login(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const r = await fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: f.get("username"), password: f.get("password") }) });
  if (!r.ok) { document.getElementById("login-error").textContent = `${t("badlogin")} (${r.status})`; return; }
  document.getElementById("login").hidden = true;
  await start();
}
async function start() {
  S.me = await (await api("/api/auth/me")).json();
  document.getElementById("who").textContent = `${S.me.username} · ${S.me.role}`;
  document.body.dataset.role = S.me.role;
  if (S.started) return;
  S.started = true;
  const fr = await api("/api/console/frame");
  if (fr.ok) PP.frame = await fr.json();
  initMap(await (await api("/api/park")).json());
  PP.map.on("click", onMapClick);
  connect();
  loadAlarms(); loadPatrol();
  setInterval(loadPatrol, 10000);
}

// -- live ----------------------------------------------------------------------------------------
function setConn(ok) {
  const c = document.getElementById("conn");
  c.className = "conn " + (ok ? "ok" : "lost");
  c.dataset.i18n = ok ? "live" : "lost";
  c.textContent = t(c.dataset.i18n);
  document.getElementById("lost-banner").hidden = ok;
  document.body.classList.toggle("disconnected", !ok);
}
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/live`);
  S.ws = ws;
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { S.backoff = 500; };
  ws.onmessage = (ev) => {
    const text = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
    applyMessage(JSON.parse(text));
  };
  ws.onclose = (ev) => {
    if (S.ws !== ws) return;
    setConn(false);
    if (ev.code === 4401) { showLogin(); return; }
    setTimeout(connect, S.backoff);
    S.backoff = Math.min(S.backoff * 2, 8000);
  };
}
// one live message; also the benchmark's entry point (window.ppApply)
function applyMessage(msg) {
  const t0 = performance.now();
  if (msg.type === "snapshot") {
    setConn(true);
    const seen = new Set();
    setRobotMode((msg.robots || []).length);
    for (const r of msg.robots || []) { seen.add(r.robot_id); applyRobot(r); }
    for (const id of [...S.robots.keys()]) if (!seen.has(id)) removeRobot(id);
    applyParts(msg, true);
    renderAlarms();
    if (msg.alarms === undefined) loadAlarms();
  } else if (msg.type === "delta") {
    const ch = msg.changes || {};
    for (const [id, r] of Object.entries(ch.robots || {})) r ? applyRobot(r) : removeRobot(id);
    applyParts(ch, false);
    for (const ev of msg.events || []) applyEvent(ev);
  }
  if (S.selected && S.robots.has(S.selected)) renderRobotDetail();
  updateCounts();
  S.stats.updates += 1; S.stats.scriptMs += performance.now() - t0;
}
function asEntries(v) { return Array.isArray(v) ? v.map((x) => [x.id, x]) : Object.entries(v || {}); }
function applyParts(p, full) {
  let alarmsChanged = false;
  if (p.alarms !== undefined) {
    if (full) S.alarms.clear();
    for (const [id, a] of asEntries(p.alarms)) { if (a) newAlarm(a); else S.alarms.delete(String(id)); alarmsChanged = true; }
  }
  if (p.incidents !== undefined) {
    if (full) S.incidents.clear();
    for (const [id, i] of asEntries(p.incidents)) { if (i) S.incidents.set(String(i.id), i); else S.incidents.delete(String(id)); alarmsChanged = true; }
  }
  for (const [id, s] of asEntries(p.sensors)) if (s) upsertSensor(String(id), s);
  for (const [id, z] of asEntries(p.zones || p.arming)) if (z) applyZone(String(z.zone || id), z);
  if (p.idleness) { Object.assign(S.heat, p.idleness.all || p.idleness); applyHeat(S.heat, document.getElementById("heat").checked); }
  if (alarmsChanged) scheduleAlarmRender();
}
function applyEvent(ev) {
  if (ev.kind === "patrol") loadPatrol();
  if (ev.kind === "arming" && ev.zone) applyZone(String(ev.zone), ev);
  if (ev.type === "detection" || ev.kind === "detection" || ev.after) showDetection(ev);
  if (ev.type === "alarm" || ev.kind === "alarm") { if (ev.data) newAlarm(ev.data); scheduleAlarmRender(); }
}
function applyRobot(r) {
  S.robots.set(r.robot_id, r);
  upsertRobotMarker(r);
  upsertRobotRow(r);
}
function removeRobot(id) {
  S.robots.delete(id); removeRobotMarker(id);
  const row = S.rows.get(id); if (row) { row.tr.remove(); S.rows.delete(id); }
}
function updateCounts() {
  let online = 0; for (const r of S.robots.values()) if (r.online) online++;
  const open = [...S.alarms.values()].filter((a) => a.active !== false).length;
  const txt = `${t("robots")} ${online}/${S.robots.size} · ${t("alarms")} ${open}`;
  const c = document.getElementById("counts"); if (c.textContent !== txt) c.textContent = txt;
  document.getElementById("alarm-count").textContent = open ? String(open) : "";
}

// -- robots --------------------------------------------------------------------------------------
function robotState(r) {
  if (r.e_stop && r.e_stop !== "NONE") return t("estop");
  if (!r.online) return t("offline");
  if (r.paused) return t("paused");
  if (r.charging) return t("charging");
  return r.driving ? t("online") + " ▶" : t("online");
}
function upsertRobotRow(r) {
  let row = S.rows.get(r.robot_id);
  if (!row) {
    const tr = el("tr", { dataset: { robot: r.robot_id }, on: { click: () => selectRobot(r.robot_id) } },
      el("td", {}, r.robot_id), el("td"), el("td"), el("td"));
    row = { tr, cells: [...tr.children], last: [] };
    S.rows.set(r.robot_id, row);
    const tbody = document.querySelector("#robots tbody");
    const after = [...S.rows.keys()].sort().find((k) => k > r.robot_id);
    tbody.insertBefore(tr, after && S.rows.get(after) ? S.rows.get(after).tr : null);
  }
  const vals = [robotState(r), r.battery == null ? "–" : Math.round(r.battery) + "%", r.order_id || "–"];
  for (let i = 0; i < 3; i++) if (row.last[i] !== vals[i]) { row.cells[i + 1].textContent = vals[i]; row.last[i] = vals[i]; }
  const cls = r.e_stop && r.e_stop !== "NONE" ? "estop" : r.online ? "" : "offline";
  if (row.tr.className !== cls) row.tr.className = cls;
}
function selectRobot(id) {
  S.selected = id; switchTab("robots"); renderRobotDetail(true);
  const ll = robotLatLng(id); if (ll) PP.map.panTo(ll);
}
window.ppSelectRobot = selectRobot;
function command(id, cmd, extra) { return post(`/api/robots/${encodeURIComponent(id)}/commands`, Object.assign({ command: cmd }, extra || {})); }
function renderRobotDetail(force) {
  const box = document.getElementById("robot-detail");
  const r = S.robots.get(S.selected);
  if (!r) { box.hidden = true; return; }
  box.hidden = false;
  if (!force && box.dataset.robot === r.robot_id) {
    box.querySelector(".facts").replaceWith(robotFacts(r));
    return;
  }
  box.dataset.robot = r.robot_id;
  const id = r.robot_id;
  const buttons = el("div", { class: "buttons" },
    roleButton("pause", "operator", () => command(id, "pause")),
    roleButton("resume", "operator", () => command(id, "resume")),
    roleButton("stop", "operator", () => command(id, "stop"), "danger"),
    roleButton("dock", "operator", () => command(id, "dock")),
    roleButton("goto", "operator", () => startPick(id, "goto")),
    roleButton("scan", "operator", () => startPick(id, "scan")));
  const cam = cameraUrl(r);
  box.replaceChildren(
    el("h3", {}, id, el("button", { type: "button", class: "link", on: { click: () => { S.selected = null; box.hidden = true; } } }, "×")),
    robotFacts(r), buttons,
    cameraView(cam, `${t("camera")} ${id}`));
}
function robotFacts(r) {
  const ahead = (r.node_ids_ahead || []).slice(0, 6).join(" → ");
  return el("dl", { class: "facts" },
    el("dt", {}, t("state")), el("dd", { class: "state" }, robotState(r)),
    el("dt", {}, t("battery")), el("dd", {}, r.battery == null ? "–" : `${Math.round(r.battery)}%`),
    el("dt", {}, t("mission")), el("dd", {}, r.order_id || t("none")),
    el("dt", {}, t("route")), el("dd", {}, ahead || "–"));
}
function cameraUrl(r) { return `/api/console/robots/${encodeURIComponent(r.robot_id)}/camera`; }
// a live MJPEG view; a robot without a declared stream answers 404 and the note replaces the image
function cameraView(src, alt) {
  const img = el("img", { class: "camera", alt, src });
  img.addEventListener("error", () => img.replaceWith(el("p", { class: "muted" }, t("nocamera"))));
  return img;
}
window.ppShowCamera = (id, name) => {
  const box = document.getElementById("robot-detail");
  S.selected = null; switchTab("robots"); box.hidden = false; box.dataset.robot = "";
  box.replaceChildren(el("h3", {}, `${t("camera")} ${name}`,
    el("button", { type: "button", class: "link", on: { click: () => { box.hidden = true; box.replaceChildren(); } } }, "×")),
    cameraView(`/api/console/cameras/${encodeURIComponent(id)}/stream`, name));
};
function startPick(id, what) {
  S.pick = { id, what };
  const m = document.getElementById("mode"); m.hidden = false; m.textContent = `${id}: ${t(what)} — ${t("clickmap")}`;
  document.getElementById("map").classList.add("picking");
}
function endPick() { S.pick = null; document.getElementById("mode").hidden = true; document.getElementById("map").classList.remove("picking"); }
function onMapClick(ev) {
  if (!S.pick) return;
  const { id, what } = S.pick; endPick();
  const extra = { lat: ev.latlng.lat, lon: ev.latlng.lng };
  if (what === "scan") extra.duration = 10;
  command(id, what, extra);
}
document.addEventListener("keydown", (e) => { if (e.key === "Escape") endPick(); });

// -- alarms and incidents ------------------------------------------------------------------------
let audioCtx = null;
function beep() {
  if (!document.getElementById("sound").checked) return;
  try {
    audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
    const o = audioCtx.createOscillator(), g = audioCtx.createGain();
    o.type = "square"; o.frequency.value = 880; g.gain.value = 0.08;
    o.connect(g); g.connect(audioCtx.destination);
    const now = audioCtx.currentTime;
    for (let i = 0; i < 3; i++) { g.gain.setValueAtTime(0.08, now + i * 0.3); g.gain.setValueAtTime(0, now + i * 0.3 + 0.15); }
    o.start(now); o.stop(now + 0.9);
    window.ppBeeps = (window.ppBeeps || 0) + 1;
  } catch (e) { console.warn("sound unavailable", e); }
}
function newAlarm(a) {
  const id = String(a.id), before = S.alarms.get(id);
  S.alarms.set(id, a);
  if (!before && S.loadedAlarms && a.severity === "CRITICAL" && a.active !== false && !a.acked) beep();
}
async function loadAlarms() {
  const [ra, ri] = await Promise.all([api("/api/alarms?active=true"), api("/api/incidents")]);
  document.getElementById("alarms-unavailable").hidden = ra.ok;
  if (ra.ok) { const list = await ra.json(); for (const a of (list.items || list)) S.alarms.set(String(a.id), a); }
  if (ri.ok) { const list = await ri.json(); for (const i of (list.items || list)) S.incidents.set(String(i.id), i); }
  S.loadedAlarms = true; renderAlarms();
}
function scheduleAlarmRender() {
  if (S.alarmRenderPending) return;
  S.alarmRenderPending = true;
  requestAnimationFrame(() => { S.alarmRenderPending = false; renderAlarms(); });
}
function sortBySeverity(list, timeKey) {
  return list.sort((a, b) => (b.active !== false) - (a.active !== false) || (SEVERITY_RANK[b.severity] || 0) - (SEVERITY_RANK[a.severity] || 0)
    || String(b[timeKey] || "").localeCompare(String(a[timeKey] || "")));
}
function renderAlarms() {
  const ul = document.getElementById("alarms");
  const list = sortBySeverity([...S.alarms.values()].filter((a) => a.active !== false || !a.acked), "last_at").slice(0, 200);
  ul.replaceChildren(...list.map((a) => el("li", { class: `sev-${a.severity} ${a.acked ? "acked" : "unacked"}`, dataset: { alarm: a.id },
    on: { click: () => showAlarm(a.id) } },
    el("b", {}, a.severity || ""), ` ${a.type || ""} · ${a.source || ""} `, el("span", { class: "muted" }, `${a.status || ""} ${shortTime(a.last_at)}`))));
  renderAlarmMarkers(list);
  const ui = document.getElementById("incidents");
  const inc = sortBySeverity([...S.incidents.values()].filter((i) => i.status !== "closed"), "last_at").slice(0, 50);
  ui.replaceChildren(...inc.map((i) => el("li", { class: `sev-${i.severity}`, dataset: { incident: i.id }, on: { click: () => showIncident(i.id) } },
    el("b", {}, `#${i.id}`), ` ${i.title || ""} `, el("span", { class: "muted" }, shortTime(i.last_at)))));
  updateCounts();
}
// active alarms on the map (pulsing, by severity) and their zones flashing red
function renderAlarmMarkers(list) {
  if (!PP.map) return;
  if (!PP.alarmLayer) PP.alarmLayer = L.layerGroup().addTo(PP.map);
  PP.alarmLayer.clearLayers();
  const hot = new Set();
  for (const a of list) {
    if (a.active === false) continue;
    if (a.zone) hot.add(a.zone);
    const ll = itemLatLng(a); if (!ll) continue;
    L.marker(ll, { icon: L.divIcon({ className: "", iconSize: [22, 22], html: `<div class="alarm-icon sev-${a.severity}" data-alarm-marker="${a.id}">!</div>` }) })
      .on("click", () => { switchTab("alarms"); showAlarm(a.id); }).bindTooltip(`${a.severity} ${a.type} · ${a.source}`).addTo(PP.alarmLayer);
  }
  for (const [id, z] of PP.zones) if (!!(z.state && z.state.alarm) !== hot.has(id)) applyZone(id, Object.assign({}, z.state, { alarm: hot.has(id) }));
}
function shortTime(v) { if (!v) return ""; const d = new Date(typeof v === "number" ? v * 1000 : v); return isNaN(d) ? "" : d.toLocaleTimeString(); }
function nearestRobot(ll) {
  let best = null, bd = Infinity;
  for (const r of S.robots.values()) {
    if (!r.online || r.lat == null || (r.e_stop && r.e_stop !== "NONE")) continue;
    const d = (r.lat - ll[0]) ** 2 + (r.lon - ll[1]) ** 2; if (d < bd) { bd = d; best = r; }
  }
  return best;
}
function sendRobotTo(obj) {
  const ll = itemLatLng(obj); const r = ll && nearestRobot(ll);
  if (!r) { toast(`${t("send")}: ${t("none")}`, true); return; }
  command(r.robot_id, "goto", { lat: ll[0], lon: ll[1] });
}
async function showAlarm(id) {
  const box = document.getElementById("alarm-detail");
  const r = await api(`/api/alarms/${id}`);
  const a = r.ok ? await r.json() : S.alarms.get(String(id));
  if (!a) return;
  const ll = itemLatLng(a); if (ll) PP.map.panTo(ll);
  const act = (what, body) => post(`/api/alarms/${id}/${what}`, body).then((res) => { if (res.ok) showAlarm(id); });
  box.hidden = false;
  box.replaceChildren(
    el("h3", {}, `${a.severity} ${a.type} · ${a.source}`, el("button", { type: "button", class: "link", on: { click: () => { box.hidden = true; } } }, "×")),
    el("p", {}, a.message || ""), el("p", { class: "muted" }, `${a.status || ""} ${a.assignee ? "→ " + a.assignee : ""}`),
    el("div", { class: "buttons" },
      roleButton("ack", "operator", () => act("ack")),
      roleButton("assign", "operator", () => { const who = prompt(t("assignee"), S.me.username); if (who) act("assign", { assignee: who }); }),
      roleButton("comment", "operator", () => { const text = prompt(t("note")); if (text) act("comment", { text }); }),
      roleButton("clear", "operator", () => act("clear")),
      ll ? roleButton("send", "operator", () => sendRobotTo(a)) : null),
    timeline(a.timeline || []));
}
async function showIncident(id) {
  const box = document.getElementById("incident-detail");
  const r = await api(`/api/incidents/${id}`);
  if (!r.ok) return;
  const inc = await r.json();
  box.hidden = false;
  box.replaceChildren(el("h3", {}, `#${inc.id} ${inc.title}`, el("button", { type: "button", class: "link", on: { click: () => { box.hidden = true; } } }, "×")),
    el("div", { class: "buttons" }, itemLatLng(inc) ? roleButton("send", "operator", () => sendRobotTo(inc)) : null),
    timeline(inc.timeline || []));
}
function timeline(entries) {
  return el("ol", { class: "timeline" }, el("lh", {}, t("timeline")), ...entries.map((e) => {
    const d = e.detail || {};
    const li = el("li", {}, el("span", { class: "muted" }, shortTime(e.at)), ` ${e.kind} · ${e.actor || ""} `, d.text || d.comment || "");
    const snap = d.snapshot_url || d.snapshot || d.photo;
    if (snap && typeof snap === "string") li.append(snapshotFigure(snap, d.boxes || (d.box ? [d.box] : []), d.label));
    return li;
  }));
}
// the snapshot with detection boxes drawn over it (boxes in pixels [x1,y1,x2,y2] or {x1..})
function snapshotFigure(url, boxes, label) {
  const img = el("img", { src: url, alt: "snapshot" });
  const fig = el("figure", { class: "snapshot" }, img);
  img.addEventListener("load", () => {
    for (const b of boxes) {
      const [x1, y1, x2, y2] = Array.isArray(b) ? b : [b.x1, b.y1, b.x2, b.y2];
      const sx = img.clientWidth / img.naturalWidth, sy = img.clientHeight / img.naturalHeight;
      fig.append(el("div", { class: "box", style: `left:${x1 * sx}px;top:${y1 * sy}px;width:${(x2 - x1) * sx}px;height:${(y2 - y1) * sy}px` }, b.label || label || ""));
    }
  });
  return fig;
}

// -- patrol --------------------------------------------------------------------------------------
async function loadPatrol() {
  const [r, ri] = await Promise.all([api("/api/patrol/plans"), api("/api/patrol/idleness")]);
  document.getElementById("patrol-unavailable").hidden = r.ok;
  if (!r.ok) return;
  const plans = await r.json();
  const status = ri.ok ? await ri.json() : { robots: {}, checkpoints: {}, running_plan: null };
  if (ri.ok) { S.heat = status.checkpoints || {}; applyHeat(S.heat, document.getElementById("heat").checked); }
  const onPlan = Object.entries(status.robots || {}).map(([id, mode]) => `${id} (${mode})`).join(", ");
  const overdue = Object.values(status.checkpoints || {}).filter((c) => c.overdue).length;
  const standby = ri.ok && status.running_plan == null
    ? [el("li", { class: "muted", dataset: { standby: "1" } }, `${t("standby")} · ${onPlan || t("none")}`)] : [];
  document.getElementById("plans").replaceChildren(...standby, ...(plans.items || plans).map((p) => el("li", { dataset: { plan: p.id }, class: p.running ? "running" : "" },
    el("b", {}, p.name || String(p.id)), ` ${p.running ? "▶" : "■"} `, el("span", { class: "muted" }, `${p.schedule || ""} · ${p.mode || ""}`),
    el("div", { class: "muted" }, p.running ? `${status.paused ? t("paused") + " · " : ""}${t("robots")}: ${onPlan || t("none")} · overdue ${overdue}/${Object.keys(status.checkpoints || {}).length}`
      : `${t("robots")}: ${(p.robots || []).join(", ") || "*"}`),
    el("span", { class: "buttons" },
      p.running ? roleButton(status.paused ? "resume" : "pause", "operator",
        () => post(`/api/patrol/${status.paused ? "resume" : "pause"}`).then(loadPatrol)) : null,
      roleButton("start", "supervisor", () => post(`/api/patrol/plans/${encodeURIComponent(p.id)}/start`).then(loadPatrol)),
      roleButton("stopplan", "supervisor", () => post(`/api/patrol/plans/${encodeURIComponent(p.id)}/stop`).then(loadPatrol))))));
}

// -- playback ------------------------------------------------------------------------------------
async function loadPlayback() {
  const hours = parseFloat(document.getElementById("pb-hours").value);
  const now = Date.now() / 1000;
  const r = await api(`/api/history?since=${now - hours * 3600}&until=${now}`);
  if (!r.ok) { toast(`${t("playback")}: ${await errText(r)}`, true); return; }
  S.playback = await r.json();
  document.body.classList.add("playback");
  PP.playbackLayer.clearLayers();
  for (const [, pts] of Object.entries(S.playback.tracks)) {
    L.polyline(pts.filter((p) => p[1] != null).map((p) => [p[1], p[2]]), { color: "#bb6bd9", weight: 2, opacity: 0.6, renderer: PP.canvas, interactive: false }).addTo(PP.playbackLayer);
  }
  S.pbMarkers = L.layerGroup().addTo(PP.playbackLayer);
  scrub();
}
function scrub() {
  if (!S.playback) return;
  const { since, until, tracks, items } = S.playback;
  const at = since + (until - since) * (document.getElementById("pb-time").value / 1000);
  document.getElementById("pb-label").textContent = new Date(at * 1000).toLocaleString();
  S.pbMarkers.clearLayers();
  for (const [id, pts] of Object.entries(tracks)) {
    let last = null; for (const p of pts) { if (p[0] > at) break; last = p; }
    if (last && last[1] != null) L.circleMarker([last[1], last[2]], { radius: 7, color: "#bb6bd9", fillOpacity: 0.9 }).bindTooltip(`${id} ${last[4]}`).addTo(S.pbMarkers);
  }
  const recent = items.filter((i) => i.t <= at && i.t > at - 600);
  for (const i of recent) if (i.lat != null) L.circleMarker([i.lat, i.lon], { radius: 6, color: i.kind === "alarm" ? "#ff4d4f" : "#f2c94c" }).addTo(S.pbMarkers);
  document.getElementById("pb-items").replaceChildren(...recent.slice(-30).reverse().map((i) =>
    el("li", {}, el("span", { class: "muted" }, shortTime(i.t)), ` ${i.kind} ${i.key} ${i.data && (i.data.severity || i.data.status || "")}`)));
}
function exitPlayback() { S.playback = null; document.body.classList.remove("playback"); PP.playbackLayer.clearLayers(); }
function playPlayback() {
  const slider = document.getElementById("pb-time");
  if (S.playTimer) { clearInterval(S.playTimer); S.playTimer = null; return; }
  if (Number(slider.value) >= 1000) slider.value = 0;
  S.playTimer = setInterval(() => { slider.value = Number(slider.value) + 2; scrub(); if (Number(slider.value) >= 1000) { clearInterval(S.playTimer); S.playTimer = null; } }, 100);
}

// -- wiring --------------------------------------------------------------------------------------
function switchTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((s) => { s.hidden = s.id !== `tab-${name}`; });
}
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => switchTab(b.dataset.tab)));
document.getElementById("login-form").addEventListener("submit", login);
document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh" : "en"; localStorage.setItem("pp-lang", lang); applyI18n();
  for (const r of S.robots.values()) upsertRobotRow(r);
  renderAlarms(); if (S.selected) renderRobotDetail(true);
});
document.getElementById("logout").addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }); location.reload(); });
document.getElementById("heat").addEventListener("change", (e) => applyHeat(S.heat, e.target.checked));
document.getElementById("pb-load").addEventListener("click", loadPlayback);
document.getElementById("pb-time").addEventListener("input", scrub);
document.getElementById("pb-play").addEventListener("click", playPlayback);
document.getElementById("pb-exit").addEventListener("click", exitPlayback);
window.ppApply = applyMessage;
window.ppRobot = (id) => S.robots.get(id);
window.ppStats = S.stats;
applyI18n();
if (!window.ppBench) start().catch(() => showLogin());
