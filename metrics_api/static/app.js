// The live operations page: every panel is a POST /query (MetricFlow metrics), refreshed every
// 15 s; alerts from GET /alerts; questions to POST /ask. Text from the server is set with
// textContent, never as HTML.
"use strict";

const REFRESH_MS = 15000;
const KPIS = ["net_revenue", "orders", "on_time_rate", "defects", "waste_kg"];
const LOWER_IS_BETTER = new Set(["defects", "waste_kg"]);
const UNITS = { net_revenue: "usd", orders: "count", on_time_rate: "percent", defects: "count", waste_kg: "kg" };

function fmt(value, unit) {
  if (value === null || value === undefined) return "no data";
  if (unit === "usd") return "$" + Math.round(value).toLocaleString("en-US");
  if (unit === "percent") return (value * 100).toFixed(1) + "%";
  if (unit === "kg") return value.toLocaleString("en-US", { maximumFractionDigits: 1 }) + " kg";
  return Math.round(value).toLocaleString("en-US");
}

function isoDay(date) { return date.toISOString().slice(0, 10); }
function daysBefore(day, n) { const d = new Date(day + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() - n); return isoDay(d); }

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return { data, cache: response.headers.get("X-Cache") };
}

const series = echarts.init(document.getElementById("series"), null, { renderer: "svg" });
const heatmap = echarts.init(document.getElementById("heatmap"), null, { renderer: "svg" });
window.addEventListener("resize", () => { series.resize(); heatmap.resize(); });

async function refreshKpis(today) {
  // each card: the newest day of the last week with a value (parcels shipped today have no
  // on-time rate until they are delivered), against the day before it that has one
  const { data, cache } = await post("/query", {
    metrics: KPIS, group_by: ["metric_time__day"], start: daysBefore(today, 7), end: today, order_by: ["-metric_time__day"],
  });
  for (const metric of KPIS) {
    const card = document.getElementById("kpi-" + metric);
    const rows = data.rows.filter((r) => r[metric] !== null && r[metric] !== undefined);
    const now = rows.length ? rows[0][metric] : null;
    const day = rows.length ? rows[0].metric_time__day : today;
    const before = rows.length > 1 ? rows[1] : null;
    card.dataset.value = now === null ? "" : String(now);
    card.dataset.day = day;
    card.querySelector(".value").textContent = fmt(now, UNITS[metric]);
    const delta = card.querySelector(".delta");
    delta.className = "delta";
    delta.textContent = "on " + day;
    if (now !== null && before !== null && before[metric] !== 0) {
      const b = before[metric];
      const change = UNITS[metric] === "percent" ? (now - b) * 100 : ((now - b) / Math.abs(b)) * 100;
      delta.textContent += " · " + (change >= 0 ? "▲ " : "▼ ") + Math.abs(change).toFixed(1) +
        (UNITS[metric] === "percent" ? " pts" : "%") + " vs " + before.metric_time__day;
      const good = LOWER_IS_BETTER.has(metric) ? change <= 0 : change >= 0;
      delta.classList.add(good ? "good" : "bad");
    }
  }
  return cache;
}

async function refreshSeries(today) {
  const { data, cache } = await post("/query", {
    metrics: ["net_revenue", "orders"], group_by: ["metric_time__day"], start: daysBefore(today, 27), end: today, order_by: ["metric_time__day"],
  });
  const days = data.rows.map((r) => r.metric_time__day);
  series.setOption({
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { data: ["Net revenue", "Orders"], top: 0 },
    grid: { left: 70, right: 60, top: 40, bottom: 30 },
    xAxis: { type: "category", data: days },
    yAxis: [{ type: "value", name: "USD" }, { type: "value", name: "orders" }],
    series: [
      { name: "Net revenue", type: "line", data: data.rows.map((r) => r.net_revenue), smooth: true },
      { name: "Orders", type: "bar", yAxisIndex: 1, data: data.rows.map((r) => r.orders), itemStyle: { opacity: 0.5 } },
    ],
  });
  document.getElementById("series").dataset.days = String(days.length);
  return cache;
}

async function refreshHeatmap(today) {
  const { data, cache } = await post("/query", {
    metrics: ["on_time_rate"], group_by: ["carrier__carrier_name", "shipment__destination_state"], start: daysBefore(today, 6), end: today,
  });
  const carriers = [...new Set(data.rows.map((r) => r.carrier__carrier_name))].sort();
  const states = [...new Set(data.rows.map((r) => r.shipment__destination_state))].sort();
  const cells = data.rows.filter((r) => r.on_time_rate !== null).map((r) => [
    states.indexOf(r.shipment__destination_state), carriers.indexOf(r.carrier__carrier_name), Math.round(r.on_time_rate * 1000) / 10,
  ]);
  heatmap.setOption({
    animation: false,
    tooltip: { formatter: (p) => carriers[p.value[1]] + " → " + states[p.value[0]] + ": " + p.value[2] + "%" },
    grid: { left: 130, right: 20, top: 10, bottom: 70 },
    xAxis: { type: "category", data: states, splitArea: { show: true } },
    yAxis: { type: "category", data: carriers, splitArea: { show: true } },
    visualMap: { min: 0, max: 100, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#b3261e", "#f4d35e", "#1a7f4b"] } },
    series: [{ type: "heatmap", data: cells, label: { show: false } }],
  });
  document.getElementById("heatmap").dataset.cells = String(cells.length);
  return cache;
}

async function refreshAlerts() {
  const response = await fetch("/alerts?limit=8");
  const data = await response.json();
  const list = document.getElementById("alerts");
  list.replaceChildren();
  if (!response.ok) throw new Error(data.detail || response.statusText);
  if (!data.alerts.length) {
    const li = document.createElement("li"); li.className = "muted"; li.textContent = "no alerts"; list.append(li);
  }
  for (const alert of data.alerts) {
    const li = document.createElement("li");
    const title = document.createElement("div"); title.className = "sev-" + alert.severity; title.textContent = alert.title;
    const detail = document.createElement("div"); detail.className = "muted"; detail.textContent = alert.at + " · " + alert.detail;
    li.append(title, detail); list.append(li);
  }
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const st = await (await fetch("/status")).json();
    if (!st.last_day) throw new Error(st.warehouse_error || "the warehouse holds no data yet");
    const caches = await Promise.all([refreshKpis(st.last_day), refreshSeries(st.last_day), refreshHeatmap(st.last_day)]);
    await refreshAlerts();
    status.textContent = "data to " + st.last_day + " · build " + st.build.id + " · cache " + caches.join("/") +
      " · updated " + new Date().toLocaleTimeString();
    document.body.dataset.ready = "true";
  } catch (error) {
    status.textContent = "not refreshed: " + error.message;
    document.body.dataset.ready = "error";
  }
}

function renderTable(table) {
  const holder = document.getElementById("answer-table");
  holder.replaceChildren();
  if (!table || !table.rows.length) return;
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const c of table.columns) { const th = document.createElement("th"); th.textContent = c; head.append(th); }
  const body = t.createTBody();
  for (const row of table.rows.slice(0, 12)) {
    const tr = body.insertRow();
    for (const c of table.columns) {
      const v = row[c];
      tr.insertCell().textContent = typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 3 }) : v === null ? "" : String(v);
    }
  }
  holder.append(t);
}

document.getElementById("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = document.getElementById("answer");
  answer.className = "answer muted";
  answer.textContent = "…";
  try {
    const { data } = await post("/ask", { question: document.getElementById("question").value });
    answer.className = "answer";
    answer.textContent = data.answer;
    renderTable(data.table);
  } catch (error) {
    answer.className = "answer error";
    answer.textContent = error.message;
    renderTable(null);
  }
});

refresh();
setInterval(refresh, REFRESH_MS);
