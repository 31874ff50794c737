// Dashboard: the /v1/analytics/dashboard answer for a date range, as KPI
// cards, charts and tables. Every figure is the API's, as sent.
import { h, show, loading, failure, empty, money, percent } from "./dom.js";
import { call, query } from "./api.js";

const DAY = 86400000;
const isoDay = (d) => d.toISOString().slice(0, 10);

// costs renders a DashboardCost: a number (one currency) or an object of
// one amount per currency.
function costs(v) {
  if (v !== null && typeof v === "object") {
    return Object.keys(v).sort().map((c) => `${c} ${money(v[c])}`).join(" · ");
  }
  return money(v);
}

function card(name, value, key, sub) {
  return h("div", { class: "kpi", "data-kpi": key },
    h("span", { class: "kpi-name" }, name),
    h("span", { class: "kpi-value" }, value),
    sub ? h("span", { class: "kpi-sub" }, sub) : null);
}

export async function dashboard(ctx, params) {
  document.title = "Dashboard · Waybill";
  const today = new Date();
  const end = params.get("end_date") || isoDay(today);
  const start = params.get("start_date") || isoDay(new Date(Date.parse(end + "T00:00:00Z") - 29 * DAY));

  const startIn = h("input", { type: "date", id: "dash-start", name: "start_date", value: start, required: true });
  const endIn = h("input", { type: "date", id: "dash-end", name: "end_date", value: end, required: true });
  const form = h("form", { class: "filters", "aria-label": "Date range", onsubmit: (ev) => {
    ev.preventDefault();
    ctx.navigate(`/console/${query({ start_date: startIn.value, end_date: endIn.value })}`);
  } },
  h("div", { class: "field" }, h("label", { for: "dash-start" }, "From"), startIn),
  h("div", { class: "field" }, h("label", { for: "dash-end" }, "To"), endIn),
  h("button", { type: "submit" }, "Show"));
  const body = h("div", { id: "dashboard" }, loading("the dashboard"));
  show(h("h1", {}, "Dashboard"), form, body);

  let d;
  try {
    d = (await call("GET", `/v1/analytics/dashboard${query({ start_date: start, end_date: end })}`)).data;
  } catch (err) {
    if (ctx.alive()) body.replaceChildren(failure(err));
    return;
  }
  if (!ctx.alive()) return;
  const s = d.summary;
  const r = d.date_range;
  const parts = [
    h("p", { class: "range" }, `${r.start_date} to ${r.end_date} (${r.days} days, UTC)`),
    h("section", { class: "kpis", "aria-label": "Key figures" },
      card("Shipments", s.total_shipments, "total_shipments"),
      card("Delivered", s.delivered, "delivered"),
      card("In transit", s.in_transit, "in_transit"),
      card("Failed", s.failed, "failed"),
      card("Delivery rate", percent(s.delivery_rate), "delivery_rate"),
      card("On-time rate", percent(s.on_time_rate), "on_time_rate"),
      card("Total cost", costs(s.total_cost), "total_cost"),
      card("Average cost", costs(s.average_cost), "average_cost")),
  ];
  if (s.total_shipments === 0) {
    parts.push(empty("No shipments in this range."));
    body.replaceChildren(...parts);
    return;
  }
  const chart = h("div", { class: "chart", id: "per-day", role: "img",
    "aria-label": `Shipments per day by status, ${r.start_date} to ${r.end_date}` });
  parts.push(
    h("section", { class: "card" }, h("h2", {}, "Shipments per day"), chart,
      // The chart's figures as a table, for screen readers (in a hidden
      // box: a table itself grows to fit its rows whatever its height).
      h("div", { class: "sr-only" }, h("table", { id: "per-day-table" },
        h("caption", {}, "Shipments per day by status"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Shipments"),
          STATUS_GROUPS.map(([, label]) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, d.by_date.map((p) => h("tr", { "data-date": p.date },
          h("td", {}, p.date), h("td", { class: "num" }, p.shipments),
          STATUS_GROUPS.map(([key]) => h("td", { class: "num" }, p[key])))))))),
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h2", {}, "Carrier mix"), carrierMix(d.by_carrier, s.total_shipments)),
      h("section", { class: "card" }, h("h2", {}, "Cost per carrier"), costPerCarrier(d.by_carrier))),
    h("section", { class: "card" }, h("h2", {}, "Carriers"), carrierTable(d.by_carrier)),
    h("section", { class: "card" }, h("h2", {}, "Top routes"), routesTable(d.top_routes)));
  body.replaceChildren(...parts);
  perDayChart(chart, d.by_date, ctx);
}

// The status groups of a day of by_date, bottom of the stack first: the
// API's field, its label, its colour.
const STATUS_GROUPS = [
  ["delivered", "Delivered", "#2da44e"],
  ["in_transit", "In transit", "#1f6feb"],
  ["failed", "Failed", "#cf222e"],
  ["other", "Other", "#8c959f"],
];

// perDayChart draws shipments per day as bars with uPlot, stacked by
// status group. uPlot does not stack: each group is drawn as a bar from 0
// to the sum of its own and the groups below it, top of the stack first,
// so each bar covers the taller ones' lower part. A group hidden from the
// legend leaves the stack, which is summed again. The legend shows each
// group's own count, as the API sent it.
function perDayChart(el, byDate, ctx) {
  if (typeof uPlot === "undefined") {
    el.replaceChildren(h("p", { class: "state error" }, "The chart library did not load."));
    return;
  }
  const xs = byDate.map((p) => Date.parse(p.date + "T00:00:00Z") / 1000);
  const top = [...STATUS_GROUPS].reverse(); // uPlot's series 1, 2, …
  const stacked = (shown) => {
    const out = top.map(() => []);
    byDate.forEach((p, i) => {
      let sum = 0;
      for (let g = top.length - 1; g >= 0; g--) {
        if (shown[g]) sum += p[top[g][0]];
        out[g][i] = sum;
      }
    });
    return [xs, ...out];
  };
  const width = () => Math.max(280, el.clientWidth);
  const plot = new uPlot({
    width: width(),
    height: 220,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    // Half a day either side, so the first and last bars show whole.
    scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] },
      y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{}, { label: "shipments", size: 50 }],
    series: [
      { label: "date", value: (u, v) => (v == null ? "—" : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...top.map(([key, label, colour]) => ({
        label, stroke: colour, fill: colour, width: 0,
        value: (u, v, si, i) => (i == null ? "—" : String(byDate[i][key])),
        paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false },
      })),
    ],
    hooks: {
      setSeries: [(u, si, opts) => {
        if (opts && "show" in opts) u.setData(stacked(u.series.slice(1).map((x) => x.show)));
      }],
    },
  }, stacked(top.map(() => true)), el);
  const resize = () => plot.setSize({ width: width(), height: 220 });
  window.addEventListener("resize", resize);
  ctx.onLeave(() => { window.removeEventListener("resize", resize); plot.destroy(); });
}

const carrierName = (c) => (c === null ? "(no carrier)" : c);

// bar is one row of a horizontal bar chart: a label, a bar whose width is
// set through the CSSOM (a style attribute would break the CSP), a value.
function bar(name, value, fraction, shown) {
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return h("li", { class: "bar" },
    h("span", { class: "bar-name" }, name),
    h("span", { class: "bar-track", "aria-hidden": "true" }, fill),
    h("span", { class: "bar-value" }, shown ?? String(value)));
}

function carrierMix(byCarrier, total) {
  return h("ul", { class: "bars", "aria-label": "Shipments per carrier" },
    byCarrier.map((c) => bar(carrierName(c.carrier), c.shipments, total ? c.shipments / total : 0,
      `${c.shipments} (${total ? ((100 * c.shipments) / total).toFixed(1) : "0.0"} %)`)));
}

// costPerCarrier has one bar chart per currency.
function costPerCarrier(byCarrier) {
  const perCurrency = new Map();
  for (const c of byCarrier) {
    const entries = c.total_cost !== null && typeof c.total_cost === "object"
      ? Object.entries(c.total_cost) : [["", c.total_cost]];
    for (const [cur, amount] of entries) {
      if (!perCurrency.has(cur)) perCurrency.set(cur, []);
      perCurrency.get(cur).push([carrierName(c.carrier), Number(amount || 0)]);
    }
  }
  const out = [];
  for (const [cur, rows] of [...perCurrency.entries()].sort()) {
    const max = Math.max(...rows.map(([, a]) => a), 0);
    out.push(h("h3", {}, cur || "Total cost"),
      h("ul", { class: "bars", "aria-label": `Total cost per carrier ${cur}` },
        rows.map(([name, a]) => bar(name, a, max ? a / max : 0, money(a)))));
  }
  return out;
}

// table has the columns head; those from numFrom on are numbers.
function table(caption, head, numFrom, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", { class: "sr-only" }, caption),
      h("thead", {}, h("tr", {}, head.map((c, i) => h("th", { scope: "col", class: i >= numFrom ? "num" : null }, c)))),
      h("tbody", {}, rows)));
}

function carrierTable(byCarrier) {
  return table("Carriers",
    ["Carrier", "Shipments", "Delivered", "On-time rate", "Total cost", "Average cost"], 1,
    byCarrier.map((c) => h("tr", { "data-carrier": carrierName(c.carrier) },
      h("td", {}, carrierName(c.carrier)),
      h("td", { class: "num" }, c.shipments),
      h("td", { class: "num" }, c.delivered),
      h("td", { class: "num" }, percent(c.on_time_rate)),
      h("td", { class: "num" }, costs(c.total_cost)),
      h("td", { class: "num" }, costs(c.average_cost)))));
}

const place = (p) => [p.city, p.state, p.country].filter(Boolean).join(", ");

function routesTable(routes) {
  if (!routes.length) return empty("No routes.");
  return table("Top routes", ["From", "To", "Shipments"], 2,
    routes.map((r) => h("tr", {},
      h("td", {}, place(r.origin)), h("td", {}, place(r.destination)),
      h("td", { class: "num" }, r.shipments))));
}

