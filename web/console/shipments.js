// Shipments: a filtered list with keyset paging. The filters and the
// page's cursor are the page's URL, so a view can be shared or reloaded.
import { h, show, loading, failure, empty, field, text, money, when, label, STATUSES } from "./dom.js";
import { call, download, query } from "./api.js";

// FILTERS are the list's filters as URL parameters (the API's names,
// except from/to, dates turned into start_datetime/end_datetime).
const FILTERS = ["status", "carrier", "service", "tracking_code", "reference", "mode", "from", "to", "page_size"];

// apiQuery turns the page's parameters into the API's.
function apiQuery(params) {
  const q = {};
  for (const k of ["status", "carrier", "service", "tracking_code", "reference", "mode", "page_size", "cursor"]) {
    q[k] = params.get(k) || "";
  }
  if (params.get("from")) q.start_datetime = `${params.get("from")}T00:00:00Z`;
  if (params.get("to")) {
    // "to" is inclusive: everything before the next day.
    const next = new Date(Date.parse(`${params.get("to")}T00:00:00Z`) + 86400000);
    q.end_datetime = next.toISOString().replace(".000Z", "Z");
  }
  return q;
}

export async function shipments(ctx, params) {
  document.title = "Shipments · Waybill";
  const form = h("form", { class: "filters", "aria-label": "Filters", onsubmit: (ev) => {
    ev.preventDefault();
    const q = {};
    for (const k of FILTERS) q[k] = form.elements[k].value.trim();
    ctx.navigate(`/console/shipments${query(q)}`);
  } },
  field("Status", "status", { value: params.get("status") || "",
    options: [["", "Any"], ...STATUSES.map((s) => [s, label(s)])] }),
  field("Carrier", "carrier", { value: params.get("carrier") || "" }),
  field("Service", "service", { value: params.get("service") || "" }),
  field("Tracking code", "tracking_code", { value: params.get("tracking_code") || "" }),
  field("Reference", "reference", { value: params.get("reference") || "" }),
  field("Mode", "mode", { value: params.get("mode") || "", options: [["", "Any"], ["test", "test"], ["production", "production"]] }),
  field("Created from", "from", { type: "date", value: params.get("from") || "" }),
  field("Created to", "to", { type: "date", value: params.get("to") || "" }),
  field("Per page", "page_size", { value: params.get("page_size") || "", options: [["10", "10"], ["", "20"], ["50", "50"], ["100", "100"]] }),
  h("div", { class: "actions" },
    h("button", { type: "submit" }, "Filter"),
    h("a", { href: "/console/shipments", class: "button secondary" }, "Clear")));

  const status = h("p", { class: "sr-only", role: "status", id: "list-status" });
  const body = h("div", { id: "shipments" }, loading("shipments"));
  const csv = h("button", { type: "button", class: "secondary", id: "csv", onclick: () => downloadCSV(params, csv, status) }, "Download CSV");
  show(h("div", { class: "title-row" }, h("h1", {}, "Shipments"), csv,
    h("a", { href: "/console/new", class: "button" }, "Create shipment")), form, status, body);

  let page;
  try {
    page = (await call("GET", `/v1/shipments${query(apiQuery(params))}`)).data;
  } catch (err) {
    if (ctx.alive()) body.replaceChildren(failure(err));
    return;
  }
  if (!ctx.alive()) return;
  status.textContent = `${page.shipments.length} shipments shown`;
  if (!page.shipments.length) {
    body.replaceChildren(empty(params.get("cursor") ? "No more shipments." : "No shipments match these filters."),
      pager(params, page));
    return;
  }
  body.replaceChildren(
    h("div", { class: "table-wrap" },
      h("table", { class: "list" },
        h("caption", { class: "sr-only" }, "Shipments, newest first"),
        h("thead", {}, h("tr", {}, ["Created", "Reference", "Tracking code", "Status", "Carrier", "Service", "To", "Total cost"]
          .map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, page.shipments.map((s) => h("tr", { "data-id": s.id },
          h("td", {}, h("a", { href: `/console/shipments/${s.id}` }, when(s.created_at))),
          h("td", { class: "reference" }, text(s.reference)),
          h("td", {}, text(s.tracking_code)),
          h("td", {}, h("span", { class: `badge status-${s.status}` }, label(s.status))),
          h("td", {}, text(s.carrier)),
          h("td", {}, text(s.service)),
          h("td", {}, s.to_address ? `${s.to_address.city}, ${s.to_address.country}` : "—"),
          h("td", { class: "num" }, s.total_cost === null ? "—" : `${money(s.total_cost)} ${s.currency}`)))))),
    pager(params, page));
}

// pager links to the previous and next pages: the API's cursors, never
// page numbers.
function pager(params, page) {
  const at = (cursor) => {
    const q = new URLSearchParams(params);
    q.set("cursor", cursor);
    return `/console/shipments?${q}`;
  };
  // A page read with a cursor may have newer items even when the API
  // leaves previous_cursor out (it does so only on a first page).
  const prev = page.previous_cursor
    ? h("a", { href: at(page.previous_cursor), class: "button secondary", rel: "prev" }, "← Newer")
    : h("span", { class: "button secondary disabled", "aria-disabled": "true" }, "← Newer");
  const next = page.has_more && page.next_cursor
    ? h("a", { href: at(page.next_cursor), class: "button secondary", rel: "next" }, "Older →")
    : h("span", { class: "button secondary disabled", "aria-disabled": "true" }, "Older →");
  return h("nav", { class: "pager", "aria-label": "Pages" }, prev, next);
}

// downloadCSV saves the server's CSV export of the current filter (GET
// /v1/shipments.csv: every shipment it matches, newest first, in the
// columns POST /v1/batches takes, so the file can be imported again).
async function downloadCSV(params, button, status) {
  const q = apiQuery(params);
  delete q.cursor;
  delete q.page_size;
  button.disabled = true;
  status.textContent = "Preparing the CSV…";
  let blob;
  try {
    blob = await download(`/v1/shipments.csv${query(q)}`);
  } catch (err) {
    status.textContent = `CSV download failed: ${err.message}`;
    button.disabled = false;
    return;
  }
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: "shipments.csv", hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  status.textContent = `Downloaded shipments.csv (${Math.max(1, Math.round(blob.size / 1024))} KB)`;
  button.disabled = false;
}
