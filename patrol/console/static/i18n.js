"use strict";
// Console strings in English and Chinese; t(key) falls back to English, then to the key.
const I18N = {
  en: {
    title: "ParkPatrol", username: "Username", password: "Password", login: "Log in", logout: "Log out",
    robots: "Robots", robot: "Robot", state: "State", battery: "Battery", mission: "Mission", alarms: "Alarms",
    incidents: "Incidents", patrol: "Patrol", playback: "Playback", connecting: "connecting…", live: "live",
    lost: "connection lost", lostlong: "Connection lost — the map is frozen and may be out of date. Reconnecting…",
    pause: "Pause", resume: "Resume", stop: "E-stop", dock: "Dock", goto: "Go to point", scan: "Scan here",
    online: "online", offline: "offline", paused: "paused", estop: "E-STOPPED", charging: "charging", idle: "idle",
    badlogin: "Login failed", sound: "Sound", unavailable: "Not available on this service.",
    ack: "Acknowledge", assign: "Assign", comment: "Comment", clear: "Clear", send: "Send robot",
    needop: "operator role required", needsup: "supervisor role required", clickmap: "Click the map to choose the point — Esc cancels",
    heat: "Idleness heat on map", start: "Start", stopplan: "Stop", window: "Window", load: "Load", play: "Play",
    camera: "Camera", nocamera: "This robot declares no camera stream.", timeline: "Timeline", close: "Close",
    sent: "sent", failed: "failed", assignee: "Assign to (user name)", note: "Comment text", none: "none", standby: "No plan running: the dogs stand by and answer alarms",
    zone: "Zone", armed: "armed", disarmed: "disarmed", alarm: "ALARM", route: "route ahead", detection: "detection",
  },
  zh: {
    title: "园区巡逻", username: "用户名", password: "密码", login: "登录", logout: "退出",
    robots: "机器人", robot: "机器人", state: "状态", battery: "电量", mission: "任务", alarms: "告警",
    incidents: "事件", patrol: "巡逻", playback: "回放", connecting: "连接中…", live: "实时",
    lost: "连接中断", lostlong: "连接中断——地图已冻结，可能不是最新状态。正在重连…",
    pause: "暂停", resume: "继续", stop: "急停", dock: "回充", goto: "前往地图点", scan: "在此扫描",
    online: "在线", offline: "离线", paused: "已暂停", estop: "已急停", charging: "充电中", idle: "空闲",
    badlogin: "登录失败", sound: "声音", unavailable: "本服务未提供此功能。",
    ack: "确认", assign: "指派", comment: "备注", clear: "清除", send: "派机器人",
    needop: "需要操作员权限", needsup: "需要主管权限", clickmap: "点击地图选择目标点——Esc 取消",
    heat: "地图显示巡检空闲热度", start: "开始", stopplan: "停止", window: "时间窗", load: "加载", play: "播放",
    camera: "摄像头", nocamera: "该机器人未声明视频流。", timeline: "时间线", close: "关闭",
    sent: "已发送", failed: "失败", assignee: "指派给（用户名）", note: "备注内容", none: "无", standby: "当前无巡逻计划：机器狗待命，告警时出动",
    zone: "区域", armed: "布防", disarmed: "撤防", alarm: "告警", route: "前方路线", detection: "检测",
  },
};
let lang = localStorage.getItem("pp-lang") || "en";
function t(k) { return (I18N[lang] && I18N[lang][k]) || I18N.en[k] || k; }
function applyI18n() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = lang === "en" ? "中文" : "English";
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}
function featureName(p) { return (lang === "zh" ? p.name_zh || p.name_en : p.name_en || p.name_zh) || p.name || p.id; }
