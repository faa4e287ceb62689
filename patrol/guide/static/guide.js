// Visitor kiosk: ask the guide, see the answer and the walking route, call the guide robot.
// Plain browser JavaScript, no external libraries or CDNs.
(function () {
  "use strict";

  const QUICK = {
    zh: ["食堂在哪里？", "园区服务中心怎么走？", "医务室几点开门？", "洗手间在哪里？", "访客停车场在哪？"],
    en: ["Where is the canteen?", "How do I get to the Park Service Centre?", "When does the clinic open?",
         "Where are the toilets?", "Where is visitor parking?"],
  };
  const STATE_TEXT = {
    queued: { zh: "排队中", en: "waiting in the queue" },
    coming: { zh: "机器人正在赶来", en: "the robot is on its way to you" },
    greeting: { zh: "机器人已到达，请跟我走", en: "the robot is here, please follow it" },
    leading: { zh: "正在带您前往", en: "leading you there" },
    arrived: { zh: "已到达目的地", en: "you have arrived" },
    returning: { zh: "已到达目的地", en: "you have arrived" },
    done: { zh: "导览完成", en: "escort finished" },
    cancelled: { zh: "导览已取消", en: "escort cancelled" },
    failed: { zh: "导览失败，请拨打服务热线", en: "the escort failed, please call the hotline" },
  };

  let lang = "zh";
  let map = null;
  let lastAnswer = null;
  let escortId = null;
  let pollTimer = null;

  const $ = (id) => document.getElementById(id);

  function t(zh, en) { return lang === "zh" ? zh : en; }

  function showError(message) {
    const el = $("error");
    el.textContent = message || "";
    el.hidden = !message;
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      let message = t("请求失败", "Request failed") + " (" + response.status + ")";
      if (response.status === 429) {
        const wait = response.headers.get("Retry-After") || "?";
        message = t("提问太频繁，请" + wait + "秒后再试。", "Too many questions; please try again in " + wait + " s.");
      } else if (data && data.detail) {
        message = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : String(data.detail);
      }
      throw new Error(message);
    }
    return data;
  }

  function setLang(next) {
    lang = next;
    document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-zh]").forEach((el) => { el.textContent = el.dataset[next]; });
    const input = $("question");
    input.placeholder = input.dataset[next + "Placeholder"];
    document.querySelectorAll("button.lang").forEach((b) => b.classList.toggle("active", b.dataset.lang === next));
    renderQuick();
    drawMap(lastAnswer);
  }

  function renderQuick() {
    const box = $("quick");
    box.textContent = "";
    QUICK[lang].forEach((q) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = q;
      b.addEventListener("click", () => { $("question").value = q; ask(); });
      box.appendChild(b);
    });
  }

  async function ask() {
    const text = $("question").value.trim();
    if (!text) return;
    showError("");
    $("ask").disabled = true;
    try {
      // no "lang": the guide answers in the language the visitor typed, and the page follows
      const answer = await call("POST", "/api/guide/ask", { text: text });
      lastAnswer = answer;
      if (answer.lang !== lang) setLang(answer.lang);
      $("answer").textContent = answer.answer;
      $("route-summary").textContent = answer.route
        ? t("步行约" + Math.round(answer.route.metres) + "米，约" + answer.route.walking_minutes + "分钟",
            "About " + Math.round(answer.route.metres) + " m on foot, " + answer.route.walking_minutes + " min")
        : "";
      $("escort").hidden = !answer.escort_available;
      $("answer-box").hidden = false;
      drawMap(answer);
    } catch (e) {
      showError(e.message);
    } finally {
      $("ask").disabled = false;
    }
  }

  async function requestEscort() {
    if (!lastAnswer || !lastAnswer.pois.length) return;
    showError("");
    $("escort").disabled = true;
    try {
      const escort = await call("POST", "/api/guide/escort", { poi: lastAnswer.pois[0].id, lang: lastAnswer.lang });
      escortId = escort.id;
      showEscort(escort);
      pollTimer = window.setInterval(pollEscort, 3000);
    } catch (e) {
      showError(e.message);
      $("escort").disabled = false;
    }
  }

  function showEscort(escort) {
    const state = STATE_TEXT[escort.state] || { zh: escort.state, en: escort.state };
    let text = state[lang];
    if (escort.state === "queued") {
      text += t("：您排在第" + escort.position + "位", ": you are number " + escort.position);
    }
    if (escort.eta_s !== null && escort.eta_s !== undefined && ["queued", "coming"].includes(escort.state)) {
      const minutes = Math.max(1, Math.round(escort.eta_s / 60));
      text += t("，预计" + minutes + "分钟后到达您身边", ", about " + minutes + " min until it reaches you");
    }
    $("escort-status").textContent = text;
    $("escort-box").hidden = false;
    const over = ["done", "cancelled", "failed", "returning"].includes(escort.state);
    $("escort-cancel").hidden = over;
    if (over) stopPolling();
  }

  async function pollEscort() {
    if (!escortId) return;
    try {
      showEscort(await call("GET", "/api/guide/escort/" + encodeURIComponent(escortId)));
    } catch (e) {
      showError(e.message);
      stopPolling();
    }
  }

  function stopPolling() {
    if (pollTimer !== null) window.clearInterval(pollTimer);
    pollTimer = null;
    $("escort").disabled = false;
  }

  async function cancelEscort() {
    if (!escortId) return;
    try {
      showEscort(await call("DELETE", "/api/guide/escort/" + encodeURIComponent(escortId)));
    } catch (e) {
      showError(e.message);
    }
  }

  // --- map ---------------------------------------------------------------------------------
  function bounds() {
    const xs = [], ys = [];
    const add = (p) => { xs.push(p[0]); ys.push(p[1]); };
    map.boundary.forEach(add);
    map.paths.forEach((line) => line.forEach(add));
    map.pois.forEach((p) => add([p.x, p.y]));
    return { minX: Math.min(...xs), maxX: Math.max(...xs), minY: Math.min(...ys), maxY: Math.max(...ys) };
  }

  function drawMap(answer) {
    const canvas = $("map");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!map) return;
    const b = bounds();
    const pad = 30;
    const scale = Math.min((canvas.width - 2 * pad) / Math.max(1, b.maxX - b.minX),
                           (canvas.height - 2 * pad) / Math.max(1, b.maxY - b.minY));
    const px = (p) => [pad + (p[0] - b.minX) * scale, canvas.height - pad - (p[1] - b.minY) * scale];
    const line = (points, color, width) => {
      if (points.length < 2) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.lineJoin = "round";
      ctx.lineCap = "round";
      ctx.beginPath();
      points.forEach((p, i) => { const q = px(p); if (i === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]); });
      ctx.stroke();
    };
    if (map.boundary.length > 2) {
      line(map.boundary.concat([map.boundary[0]]), "#9aa7b5", 2);
    }
    map.paths.forEach((p) => line(p, "#d3d9e0", 4));
    const wanted = new Set(answer ? answer.pois.map((p) => p.id) : []);
    if (answer && answer.route) line(answer.route.polyline, getComputedStyle(document.documentElement)
      .getPropertyValue("--route").trim() || "#e2541b", 7);
    ctx.font = "15px sans-serif";
    map.pois.forEach((p) => {
      const q = px([p.x, p.y]);
      const home = p.id === map.home;
      const hit = wanted.has(p.id);
      ctx.fillStyle = home ? "#0b6bcb" : hit ? "#e2541b" : "#5b6675";
      ctx.beginPath();
      ctx.arc(q[0], q[1], home || hit ? 9 : 5, 0, 2 * Math.PI);
      ctx.fill();
      if (home || hit) {
        ctx.font = "bold 24px sans-serif";
        ctx.fillStyle = "#1c2430";
        const label = home ? t("您在这里", "You are here") : p[lang];
        ctx.fillText(label, q[0] + 12, q[1] - 10);
        ctx.font = "15px sans-serif";
      }
    });
  }

  async function loadMap() {
    try {
      map = await call("GET", "/api/guide/map");
      $("hotline").textContent = map.hotline;
      drawMap(lastAnswer);
    } catch (e) {
      showError(e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("ask-form").addEventListener("submit", (ev) => { ev.preventDefault(); ask(); });
    $("escort").addEventListener("click", requestEscort);
    $("escort-cancel").addEventListener("click", cancelEscort);
    document.querySelectorAll("button.lang").forEach((b) => b.addEventListener("click", () => setLang(b.dataset.lang)));
    setLang("zh");
    loadMap();
  });
})();
