"use strict";
// The park map: static layers from /api/park, live robots, sensors, zones, cameras, detections, heat.
// Everything that changes at 2 Hz is updated in place (no re-creation), sensors on one canvas.
const PP = {
  map: null, canvas: null, frame: null, waypoints: new Map(), features: new Map(), zones: new Map(),
  sensors: new Map(), robotMarkers: new Map(), robotShapes: new Map(), canvasRobots: false, routes: new Map(), detections: [], checkpoints: new Map(),
  playbackLayer: null, bounds: null,
};
const SENSOR_COLOURS = { ok: "#6fcf97", tripped: "#ff4d4f", offline: "#8c8c8c", low: "#f2c94c" };

function metricToLatLng(x, y) {
  const f = PP.frame;
  if (!f || x == null || y == null) return null;
  return [f.lat0 + x * f.lat_x + y * f.lat_y, f.lon0 + x * f.lon_x + y * f.lon_y];
}
function itemLatLng(o) {
  if (!o) return null;
  if (o.lat != null && o.lon != null) return [o.lat, o.lon];
  return metricToLatLng(o.x, o.y);
}
// a cone of `fov` degrees around compass `heading`, `range` metres long, as lat/lng points
function fovCone(latlng, heading, fov, range) {
  const [lat, lon] = latlng;
  const mPerDegLat = 111320, mPerDegLon = 111320 * Math.cos(lat * Math.PI / 180);
  const pts = [latlng];
  for (let i = 0; i <= 12; i++) {
    const b = (heading - fov / 2 + (fov * i) / 12) * Math.PI / 180;
    pts.push([lat + (Math.cos(b) * range) / mPerDegLat, lon + (Math.sin(b) * range) / mPerDegLon]);
  }
  return pts;
}
function zoneStyle(z) {
  const p = z.props, st = z.state || {};
  if (st.alarm) return { color: "#ff4d4f", weight: 3, fillOpacity: 0.35, className: "zone-alarm" };
  if (st.armed) return { color: "#f2994a", weight: 2, fillOpacity: 0.2, dashArray: null };
  if (p.kind === "no_go") return { color: "#eb5757", weight: 1, fillOpacity: 0.12, dashArray: "4 4" };
  return { color: "#bdbdbd", weight: 1, fillOpacity: 0.06, dashArray: "4 4" };
}
function initMap(gj) {
  PP.map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: false, zoomSnap: 0.25 });
  PP.canvas = L.canvas({ padding: 0.2 });  // robots, routes, cones: redrawn at every update
  PP.sensorCanvas = L.canvas({ padding: 0.2 });  // 10,000 sensors: redrawn only when one changes colour
  PP.map.on("zoomend", () => { for (const id of PP.robotShapes.keys()) { const r = window.ppRobot && window.ppRobot(id); if (r) upsertRobotMarker(r); } });
  PP.bounds = L.geoJSON(gj).getBounds();  // set the view first: canvas layers need a projected map
  PP.map.fitBounds(PP.bounds);
  const bg = L.layerGroup().addTo(PP.map);
  for (const f of gj.features || []) {
    const p = f.properties || {}, g = f.geometry || {};
    if (p.id) PP.features.set(p.id, f);
    if (p.type === "waypoint" && g.type === "Point") PP.waypoints.set(p.id, [g.coordinates[1], g.coordinates[0]]);
  }
  L.geoJSON(gj, {
    filter: (f) => !["waypoint", "sensor", "camera", "checkpoint"].includes((f.properties || {}).type),
    style: (f) => {
      const p = f.properties || {};
      if (p.type === "boundary") return { color: "#4f6d8a", weight: 2, fill: false };
      if (p.type === "path") return { color: "#40566b", weight: 3, opacity: 0.9 };
      if (p.type === "poi") return { color: "#3fa7ff", weight: 1, fillOpacity: 0.12 };
      if (p.type === "zone") return zoneStyle({ props: p });
      return { color: "#8fa3b5", weight: 1 };
    },
    pointToLayer: (f, latlng) => {
      const p = f.properties || {};
      if (p.type === "charger") return L.marker(latlng, { icon: L.divIcon({ className: "", html: '<div class="charger-icon">⚡</div>', iconSize: [18, 18] }) });
      return L.circleMarker(latlng, { radius: 5, color: "#3fa7ff", fillOpacity: 0.7 });
    },
    onEachFeature: (f, l) => {
      const p = f.properties || {};
      if (p.type === "zone") { PP.zones.set(p.id, { props: p, layer: l, state: {} }); l.bindTooltip(() => zoneTip(p.id)); }
      else if (p.type === "poi" || p.type === "charger") l.bindTooltip(() => featureName(p));
    },
  }).addTo(bg);
  for (const f of gj.features || []) {
    const p = f.properties || {}, g = f.geometry || {};
    if (g.type !== "Point") continue;
    const ll = [g.coordinates[1], g.coordinates[0]];
    if (p.type === "camera") {
      L.polygon(fovCone(ll, p.heading || 0, p.fov || 60, Math.min(p.range || 30, 80)),
        { color: "#ffd23f", weight: 1, fillOpacity: 0.08, interactive: false, renderer: PP.canvas }).addTo(bg);
      const m = L.marker(ll, { icon: L.divIcon({ className: "", html: `<div class="camera-icon" data-camera="${p.id}">◉</div>`, iconSize: [16, 16] }) }).addTo(bg);
      m.bindTooltip(() => `${t("camera")} ${p.name || p.id}`);
      m.on("click", () => window.ppShowCamera && window.ppShowCamera(p.id, p.name || p.id));
    } else if (p.type === "sensor") {
      upsertSensor(p.id, { kind: p.kind, zone: p.zone }, ll);
    } else if (p.type === "checkpoint") {
      const wp = PP.waypoints.get(p.waypoint) || ll;
      const c = L.circle(wp, { radius: 6, color: "#56ccf2", weight: 1, fillOpacity: 0, interactive: false }).addTo(bg);
      PP.checkpoints.set(p.id, { circle: c, props: p });
    }
  }
  PP.playbackLayer = L.layerGroup().addTo(PP.map);
  // wall screens and side panels change the map's size without a window resize
  new ResizeObserver(() => PP.map.invalidateSize({ pan: false })).observe(document.getElementById("map"));
}
function zoneTip(id) {
  const z = PP.zones.get(id); if (!z) return id;
  const st = z.state || {};
  return `${featureName(z.props)} · ${st.alarm ? t("alarm") : st.armed ? t("armed") : t("disarmed")}`;
}
function applyZone(id, st) {
  const z = PP.zones.get(id);
  if (!z) return;
  const prev = z.state || {};
  z.state = { armed: st && st.armed !== undefined ? !!st.armed : !!prev.armed,
    alarm: st && (st.alarm !== undefined || st.alarm_active !== undefined) ? !!(st.alarm || st.alarm_active) : !!prev.alarm };
  z.layer.setStyle(zoneStyle(z));
}
function sensorClass(v) {
  if (!v) return "ok";
  if (v.online === false || v.available === false || v.state === "offline") return "offline";
  if (typeof sensorTripped === "function" && sensorTripped(v)) return "tripped";
  if (typeof v.battery === "number" && v.battery < 15) return "low";
  return "ok";
}
function sensorTripped(v) {
  if (["tripped", "occupancy", "smoke", "water_leak", "vibration", "tamper", "alarm"].some((k) => v[k] === true)) return true;
  if (v.contact === false) return true;
  return typeof v.state === "string" && ["tripped", "alarm", "open", "active", "triggered"].includes(v.state.toLowerCase());
}
function upsertSensor(id, v, latlng) {
  let s = PP.sensors.get(id);
  const cls = sensorClass(v);
  if (!s) {
    const ll = latlng || itemLatLng(v);
    if (!ll || !PP.map) return;
    const m = L.circleMarker(ll, { renderer: PP.sensorCanvas, radius: 4, weight: 1, color: "#1b2733", fillColor: SENSOR_COLOURS[cls], fillOpacity: 0.95 });
    m.addTo(PP.map);
    s = { marker: m, cls, value: v };
    m.bindTooltip(() => `${id} · ${s.value.kind || ""} · ${s.cls}`);
    PP.sensors.set(id, s);
    return;
  }
  s.value = Object.assign(s.value || {}, v);
  if (cls !== s.cls) { s.cls = cls; s.marker.setStyle({ fillColor: SENSOR_COLOURS[cls], radius: cls === "tripped" ? 7 : 4 }); }
}
function robotClass(r) {
  let c = "robot-icon";
  if (r.kind === "guide") c += " guide";
  if (!r.online) c += " offline";
  if (r.e_stop && r.e_stop !== "NONE") c += " estop";
  else if (r.paused) c += " paused";
  return c;
}
// Large fleets (more than CANVAS_ROBOTS_ABOVE) are drawn as arrows on a canvas: 500 DOM markers, each
// its own compositing layer, cost far more than the script that moves them.
const CANVAS_ROBOTS_ABOVE = 60;
const ROBOT_FILL = { "robot-icon": "#2f80ed", guide: "#27ae60", paused: "#f2c94c", offline: "#6b7785", estop: "#ff4d4f" };
function setRobotMode(count) {
  const canvas = count > CANVAS_ROBOTS_ABOVE;
  if (canvas === PP.canvasRobots) return;
  for (const id of [...PP.robotMarkers.keys(), ...PP.robotShapes.keys()]) removeRobotMarker(id);
  PP.canvasRobots = canvas;
}
function arrowPoints(ll, theta, px) {
  const lat = ll[0], mPerPx = (40075016.686 * Math.cos(lat * Math.PI / 180)) / Math.pow(2, PP.map.getZoom() + 8);
  const s = px * mPerPx, mLat = 111320, mLon = 111320 * Math.cos(lat * Math.PI / 180);
  const th = theta || 0, dx = Math.cos(th), dy = Math.sin(th);
  const at = (f, p) => [lat + (dy * f + dx * p) * s / mLat, ll[1] + (dx * f - dy * p) * s / mLon];
  return [at(1.2, 0), at(-0.8, 0.8), at(-0.4, 0), at(-0.8, -0.8)];
}
function upsertRobotShape(r, ll) {
  let shape = PP.robotShapes.get(r.robot_id);
  const cls = robotClass(r).split(" ").pop();
  const pts = arrowPoints(ll, r.theta, 9);
  if (!shape) {
    shape = L.polygon(pts, { renderer: PP.canvas, color: "#ffffff", weight: 1, fillColor: ROBOT_FILL[cls] || "#2f80ed", fillOpacity: 1 }).addTo(PP.map);
    shape.ppCls = cls;
    shape.bindTooltip(() => { const x = window.ppRobot && window.ppRobot(r.robot_id); return x ? `${x.robot_id} ${x.battery == null ? "" : Math.round(x.battery) + "%"}` : r.robot_id; });
    shape.on("click", () => window.ppSelectRobot && window.ppSelectRobot(r.robot_id));
    PP.robotShapes.set(r.robot_id, shape);
  } else {
    shape.setLatLngs(pts);
    if (shape.ppCls !== cls) { shape.ppCls = cls; shape.setStyle({ fillColor: ROBOT_FILL[cls] || "#2f80ed" }); }
  }
  updateRoute(r, ll);
}
function robotLatLng(id) {
  const m = PP.robotMarkers.get(id); if (m) return m.getLatLng();
  const s = PP.robotShapes.get(id); return s ? s.getLatLngs()[0][0] : null;
}
function upsertRobotMarker(r) {
  const ll = itemLatLng(r);
  if (PP.canvasRobots) {
    if (ll) upsertRobotShape(r, ll); else removeRobotMarker(r.robot_id);
    return;
  }
  let m = PP.robotMarkers.get(r.robot_id);
  if (!ll) { if (m) { m.remove(); PP.robotMarkers.delete(r.robot_id); } return; }
  const rot = r.theta == null ? 0 : 90 - (r.theta * 180) / Math.PI;
  const label = `${r.robot_id}${r.battery == null ? "" : " " + Math.round(r.battery) + "%"}`;
  if (!m) {
    const icon = L.divIcon({ className: "", iconSize: [22, 22],
      html: `<div class="${robotClass(r)}" data-robot="${r.robot_id}"><i class="arrow"></i></div><span class="robot-label"></span>` });
    m = L.marker(ll, { icon, title: r.robot_id, keyboard: false }).addTo(PP.map);
    m.on("click", () => window.ppSelectRobot && window.ppSelectRobot(r.robot_id));
    PP.robotMarkers.set(r.robot_id, m);
    m.ppState = {};
  } else {
    m.setLatLng(ll);
  }
  const el = m.getElement(), st = m.ppState;
  if (!el) return;
  const cls = robotClass(r);
  if (st.cls !== cls) { el.firstChild.className = cls; st.cls = cls; }
  if (st.rot !== rot) { el.firstChild.style.transform = `rotate(${rot}deg)`; st.rot = rot; }
  if (st.label !== label) { el.lastChild.textContent = label; st.label = label; }
  updateRoute(r, ll);
}
function updateRoute(r, ll) {
  const ahead = r.node_ids_ahead || [];
  let line = PP.routes.get(r.robot_id);
  const key = ahead.join(",");
  if (!ahead.length) { if (line) { line.remove(); PP.routes.delete(r.robot_id); } return; }
  const pts = [ll];
  for (const n of ahead) { const w = PP.waypoints.get(n); if (w) pts.push(w); }
  if (!line) {
    line = L.polyline(pts, { renderer: PP.canvas, color: "#2f80ed", weight: 2, opacity: 0.55, interactive: false }).addTo(PP.map);
    line.ppKey = key; PP.routes.set(r.robot_id, line); return;
  }
  if (line.ppKey !== key) { line.ppKey = key; line.setLatLngs(pts); }
  else { const cur = line.getLatLngs(); if (cur.length) { cur[0] = L.latLng(ll); line.setLatLngs(cur); } }
}
function removeRobotMarker(id) {
  const m = PP.robotMarkers.get(id); if (m) { m.remove(); PP.robotMarkers.delete(id); }
  const s = PP.robotShapes.get(id); if (s) { s.remove(); PP.robotShapes.delete(id); }
  const l = PP.routes.get(id); if (l) { l.remove(); PP.routes.delete(id); }
}
function showDetection(ev) {
  const ll = itemLatLng(ev) || itemLatLng(ev.after || {});
  if (!ll || !PP.map) return;
  const label = `${t("detection")}: ${ev.label || (ev.after && ev.after.label) || ev.type || ""}`;
  const m = L.marker(ll, { icon: L.divIcon({ className: "", html: `<div class="detection-icon" title="${label}">!</div>`, iconSize: [20, 20] }) }).addTo(PP.map);
  m.bindTooltip(label);
  PP.detections.push({ m, at: Date.now() });
  while (PP.detections.length && (PP.detections.length > 50 || Date.now() - PP.detections[0].at > 120000)) PP.detections.shift().m.remove();
}
// idleness / target -> green (fresh) .. red (overdue)
function heatColour(ratio) {
  const r = Math.max(0, Math.min(1, ratio));
  const h = Math.round(120 * (1 - r));
  return `hsl(${h}, 85%, 50%)`;
}
function applyHeat(entries, on) {
  for (const [id, c] of PP.checkpoints) {
    const e = entries && entries[id];
    if (!on || !e) { c.circle.setStyle({ fillOpacity: 0, color: "#56ccf2", weight: 1 }); continue; }
    const target = e.target_s || c.props.revisit_s || 600;
    const ratio = e.idleness_s == null ? 1 : e.idleness_s / target;  // never visited: as overdue
    c.circle.setStyle({ fillColor: heatColour(ratio), fillOpacity: 0.6, color: heatColour(ratio), weight: e.overdue ? 3 : 2 });
  }
}
