// Health: /health's database pool and capacity figures as gauges,
// refreshed every few seconds while the page is open.
import { h, show, loading, failure, text } from "./dom.js";
import { call } from "./api.js";

const EVERY_MS = 5000;

function gauge(name, id, value, max, shown, low, high) {
  const m = h("meter", { id, min: 0, max, low, high, optimum: 0, "aria-label": name });
  m.value = value ?? 0;
  return h("div", { class: "gauge" }, h("span", { class: "kpi-name" }, name), m,
    h("span", { class: "kpi-value", "data-gauge": id }, shown));
}

export function health(ctx) {
  document.title = "Health · Waybill";
  const body = h("div", { id: "health" }, loading("the health report"));
  const updated = h("p", { class: "hint", role: "status" });
  show(h("h1", {}, "Health"), updated, body);
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));

  const refresh = async () => {
    let r;
    try {
      // 503 is the unhealthy report, still worth showing.
      r = (await call("GET", "/health", { allow: [503] })).data;
    } catch (err) {
      if (!ctx.alive()) return;
      body.replaceChildren(failure(err));
      timer = setTimeout(refresh, EVERY_MS);
      return;
    }
    if (!ctx.alive()) return;
    body.replaceChildren(...render(r));
    updated.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC; refreshed every ${EVERY_MS / 1000} s.`;
    timer = setTimeout(refresh, EVERY_MS);
  };
  refresh();
}

function render(r) {
  const d = r.database || {};
  const cap = d.capacity || null;
  const out = [
    h("section", { class: "kpis", "aria-label": "Status" },
      h("div", { class: "kpi" }, h("span", { class: "kpi-name" }, "Service"),
        h("span", { class: `kpi-value badge health-${r.status}`, id: "health-status" }, r.status)),
      h("div", { class: "kpi" }, h("span", { class: "kpi-name" }, "Database"),
        h("span", { class: `kpi-value badge health-${d.status}` }, text(d.status))),
      h("div", { class: "kpi" }, h("span", { class: "kpi-name" }, "Version"), h("span", { class: "kpi-value" }, text(r.version))),
      h("div", { class: "kpi" }, h("span", { class: "kpi-name" }, "Uptime"),
        h("span", { class: "kpi-value" }, r.uptime_seconds === undefined ? "—" : `${Math.round(r.uptime_seconds)} s`))),
  ];
  if (d.pool_max !== undefined) {
    out.push(h("section", { class: "card gauges", "aria-label": "Connection pool" }, h("h2", {}, "Connection pool"),
      gauge("Pool in use", "pool-used", d.pool_used, Math.max(1, d.pool_max),
        `${d.pool_used} of ${d.pool_max} (${d.pool_utilization_percent} %)`, 0.6 * d.pool_max, 0.8 * d.pool_max),
      gauge("Open connections", "pool-open", d.pool_size, Math.max(1, d.pool_max), `${d.pool_size} (${d.pool_free} idle)`),
      gauge("Ping", "ping", d.ping_ms ?? 0, 100, d.ping_ms === null || d.ping_ms === undefined ? "—" : `${d.ping_ms} ms`, 20, 50),
      h("p", { class: "hint" }, `Waits for a connection: ${d.wait_count} (${d.wait_duration_ms} ms in all)`)));
  }
  if (cap) {
    out.push(h("section", { class: "card gauges", "aria-label": "Capacity" }, h("h2", {}, "Server capacity"),
      gauge("Planned use of the server's connections", "capacity", cap.planned_utilization_percent ?? 0, 100,
        cap.planned_utilization_percent === undefined ? "—" : `${cap.planned_utilization_percent} %`, 60, 80),
      h("p", {}, `Status: ${cap.status}.`, cap.recommendation ? ` ${cap.recommendation}` : ""),
      h("p", { class: "hint" }, `${text(cap.server_connections)} connections open of ${text(cap.server_max_connections)} ` +
        `(${text(cap.reserved_connections)} reserved); ${text(cap.app_instances)} app instances planned.`)));
  }
  return out;
}
