"use strict";
// ParkPatrol console: park map from /api/park, live robots and alarms over /api/live.
const I18N = {
  en: { title: "ParkPatrol", username: "Username", password: "Password", login: "Log in", logout: "Log out",
        robots: "Robots", robot: "Robot", state: "State", battery: "Battery", alarms: "Alarms",
        connecting: "connecting…", live: "live", lost: "connection lost — reconnecting", pause: "Pause",
        resume: "Resume", stop: "E-stop", dock: "Dock", online: "online", offline: "offline", badlogin: "Login failed" },
  zh: { title: "园区巡逻", username: "用户名", password: "密码", login: "登录", logout: "退出",
        robots: "机器人", robot: "机器人", state: "状态", battery: "电量", alarms: "告警",
        connecting: "连接中…", live: "实时", lost: "连接中断，正在重连", pause: "暂停",
        resume: "继续", stop: "急停", dock: "回充", online: "在线", offline: "离线", badlogin: "登录失败" },
};
let lang = localStorage.getItem("pp-lang") || "en";
const t = (k) => (I18N[lang] && I18N[lang][k]) || I18N.en[k] || k;
function applyI18n() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = lang === "en" ? "中文" : "English";
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}
function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : "";
}
async function api(path, opts = {}) {
  const headers = Object.assign({ "Content-Type": "application/json", "X-CSRF-Token": cookie("pp_csrf") }, opts.headers || {});
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts, { headers }));
  if (r.status === 401) { showLogin(); throw new Error("unauthorised"); }
  return r;
}
let me = null;
const robots = new Map();
const markers = new Map();
let map = null;
let parkLayer = null;

function showLogin() { document.getElementById("login").hidden = false; }
async function login(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const r = await fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: f.get("username"), password: f.get("password") }) });
  if (!r.ok) { document.getElementById("login-error").textContent = t("badlogin"); return; }
  document.getElementById("login").hidden = true;
  await start();
}
async function start() {
  const r = await api("/api/auth/me");
  me = await r.json();
  document.getElementById("who").textContent = `${me.username} (${me.role})`;
  document.body.dataset.role = me.role;
  await loadPark();
  connect();
}
async function loadPark() {
  if (parkLayer) return;
  const gj = await (await api("/api/park")).json();
  map = L.map("map", { zoomControl: true, attributionControl: false });
  const style = (f) => {
    const p = f.properties || {};
    if (p.type === "zone") return { color: p.kind === "no_go" ? "#ff5d5d" : "#ffb347", weight: 1, fillOpacity: 0.15 };
    if (p.type === "path") return { color: "#4b6a88", weight: 3 };
    if (p.type === "poi") return { color: "#3fa7ff", weight: 1, fillOpacity: 0.2 };
    return { color: "#8fa3b5", weight: 1 };
  };
  parkLayer = L.geoJSON(gj, {
    style,
    pointToLayer: (f, latlng) => {
      const p = f.properties || {};
      const colour = { camera: "#ffd23f", sensor: "#9be564", charger: "#b07cff", poi: "#3fa7ff" }[p.type];
      if (!colour) return L.circleMarker(latlng, { radius: 2, color: "#4b6a88" });
      return L.circleMarker(latlng, { radius: p.type === "poi" ? 6 : 4, color: colour, fillOpacity: 0.8 });
    },
    onEachFeature: (f, layer) => {
      const p = f.properties || {};
      const name = p.name_en || p.name_zh || p.id;
      if (name && p.type !== "path" && p.type !== "waypoint") layer.bindTooltip(lang === "zh" && p.name_zh ? p.name_zh : name);
    },
  }).addTo(map);
  map.fitBounds(parkLayer.getBounds());
}
function robotRow(r) {
  const tr = document.createElement("tr");
  tr.dataset.robot = r.robot_id;
  const can = me && ["operator", "supervisor", "admin"].includes(me.role);
  tr.innerHTML = `<td>${r.robot_id}</td><td>${r.online ? t("online") : t("offline")}${r.paused ? " ⏸" : ""}${r.e_stop !== "NONE" ? " ⛔" : ""}</td>` +
    `<td>${r.battery == null ? "–" : Math.round(r.battery) + "%"}</td><td class="actions"></td>`;
  const td = tr.querySelector(".actions");
  for (const [cmd, label, cls] of [["pause", "pause"], ["resume", "resume"], ["stop", "stop", "danger"], ["dock", "dock"]]) {
    const b = document.createElement("button");
    b.textContent = t(label); b.dataset.command = cmd; if (cls) b.className = cls; b.disabled = !can;
    b.title = can ? "" : "operator role required";
    b.addEventListener("click", () => api(`/api/robots/${encodeURIComponent(r.robot_id)}/commands`,
      { method: "POST", body: JSON.stringify({ command: cmd }) }));
    td.appendChild(b);
  }
  return tr;
}
function renderRobots() {
  const tbody = document.querySelector("#robots tbody");
  tbody.replaceChildren(...[...robots.values()].sort((a, b) => a.robot_id.localeCompare(b.robot_id)).map(robotRow));
}
function updateMarker(r) {
  if (!map || r.x == null || r.lat == null && r.x == null) return;
  const latlng = r.lat != null ? [r.lat, r.lon] : null;
  if (!latlng) return;
  let m = markers.get(r.robot_id);
  const cls = "robot-icon" + (r.kind === "guide" ? " guide" : "") + (!r.online ? " offline" : "") + (r.e_stop !== "NONE" ? " estop" : "");
  const icon = L.divIcon({ className: "", html: `<div class="${cls}" data-robot="${r.robot_id}"></div>`, iconSize: [18, 18] });
  if (!m) { m = L.marker(latlng, { icon, title: r.robot_id }).addTo(map); markers.set(r.robot_id, m); }
  else { m.setLatLng(latlng); m.setIcon(icon); }
  m.bindTooltip(`${r.robot_id} · ${r.battery == null ? "" : Math.round(r.battery) + "%"}`);
}
function applyRobot(r) {
  robots.set(r.robot_id, r);
  updateMarker(r);
}
function applyAlarm(a) {
  const ul = document.getElementById("alarms");
  let li = ul.querySelector(`[data-alarm="${a.id}"]`);
  if (!li) { li = document.createElement("li"); li.dataset.alarm = a.id; ul.prepend(li); }
  li.className = a.severity || "";
  li.textContent = `${a.severity || ""} ${a.type || ""} ${a.source || ""} ${a.status || ""}`;
}
let ws = null;
let backoff = 500;
function setConn(ok) {
  const el = document.getElementById("conn");
  el.className = "conn " + (ok ? "ok" : "lost");
  el.textContent = ok ? t("live") : t("lost");
  el.dataset.i18n = ok ? "live" : "lost";
}
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/api/live`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { backoff = 500; setConn(true); };
  ws.onmessage = (ev) => {
    const text = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
    const msg = JSON.parse(text);
    if (msg.type === "snapshot") {
      robots.clear();
      for (const r of msg.robots || []) applyRobot(withLatLon(r));
      for (const a of msg.alarms || []) applyAlarm(a);
      renderRobots();
    } else if (msg.type === "delta") {
      const ch = msg.changes || {};
      for (const r of Object.values(ch.robots || {})) if (r) applyRobot(withLatLon(r));
      for (const a of Object.values(ch.alarms || {})) if (a) applyAlarm(a);
      if (ch.robots) renderRobots();
    }
  };
  ws.onclose = () => { setConn(false); setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000); };
}
function withLatLon(r) { return r; }  // the server sends lat/lon with every robot
document.getElementById("login-form").addEventListener("submit", login);
document.getElementById("lang").addEventListener("click", () => { lang = lang === "en" ? "zh" : "en"; localStorage.setItem("pp-lang", lang); applyI18n(); renderRobots(); });
document.getElementById("logout").addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }); location.reload(); });
applyI18n();
start().catch(() => showLogin());
