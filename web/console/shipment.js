// Shipment: one shipment with its addresses, parcel, customs info and
// tracking events; with a write key, add an event or edit its fields
// (sent with If-Match, so a change made meanwhile is never overwritten). A
// read key (GET /v1/me) is not offered the forms, but told why.
import { h, show, loading, failure, empty, field, text, money, when, label, errorText,
  setFieldError, clearFieldErrors, STATUSES } from "./dom.js";
import { call, keyInfo, canWrite } from "./api.js";

function dl(rows) {
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function address(title, a) {
  if (!a) return null;
  return h("section", { class: "card address" }, h("h3", {}, title),
    h("address", {},
      [a.name, a.company, a.street1, a.street2, [a.zip, a.city, a.state].filter(Boolean).join(" "), a.country,
        a.phone, a.email].filter(Boolean).map((l) => h("span", {}, l))));
}

// json renders an arbitrary JSON value as preformatted text.
const json = (v) => (v === null || v === undefined ? "—" : h("pre", {}, JSON.stringify(v, null, 2)));

// readOnly tells a read key's user why a form is not there.
export function readOnly(info, id, what) {
  return h("p", { class: "state read-only", id },
    `This API key (${info.name}) can only read. ${what} needs a key with write scope.`);
}

// EDITABLE are the fields of the edit form.
const EDITABLE = [["Reference", "reference"], ["Tracking code", "tracking_code"], ["Carrier", "carrier"],
  ["Service", "service"]];

export async function shipment(ctx, params, id) {
  document.title = "Shipment · Waybill";
  show(h("p", {}, h("a", { href: "/console/shipments" }, "← Shipments")), loading("the shipment"));
  let s, etag, events, info;
  try {
    const [r, ev, me] = await Promise.all([
      call("GET", `/v1/shipments/${id}`),
      call("GET", `/v1/shipments/${id}/events?page_size=100`),
      keyInfo(),
    ]);
    info = me;
    s = r.data;
    etag = r.etag;
    events = ev.data.events;
  } catch (err) {
    if (!ctx.alive()) return;
    show(h("p", {}, h("a", { href: "/console/shipments" }, "← Shipments")),
      err.status === 404 ? empty("There is no such shipment (it may have been deleted).") : failure(err));
    return;
  }
  if (!ctx.alive()) return;
  const reload = () => shipment(ctx, params, id);
  document.title = `${s.reference || s.tracking_code || "Shipment"} · Waybill`;

  const p = s.parcel;
  const c = s.customs_info;
  show(
    h("p", {}, h("a", { href: "/console/shipments" }, "← Shipments")),
    h("div", { class: "title-row" },
      h("h1", { id: "shipment-title" }, text(s.reference || s.tracking_code || s.id)),
      h("span", { class: `badge status-${s.status}`, id: "shipment-status" }, label(s.status))),
    h("section", { class: "card" }, h("h2", {}, "Shipment"), dl([
      ["Reference", h("span", { id: "shipment-reference" }, text(s.reference))],
      ["Tracking code", text(s.tracking_code)],
      ["Carrier", text(s.carrier)],
      ["Service", text(s.service)],
      ["Mode", s.mode],
      ["Total cost", s.total_cost === null ? "—" : `${money(s.total_cost)} ${s.currency}`],
      ["Base cost", s.base_cost === null ? "—" : `${money(s.base_cost)} ${s.currency}`],
      ["Estimated delivery", when(s.est_delivery_date)],
      ["Delivered", when(s.delivery_date)],
      ["Signed by", text(s.signed_by)],
      ["Created", when(s.created_at)],
      ["Updated", when(s.updated_at)],
      ["Id", h("code", {}, s.id)],
    ])),
    h("div", { class: "two" },
      address("From", s.from_address), address("To", s.to_address),
      address("Return to", s.return_address), address("Buyer", s.buyer_address)),
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h2", {}, "Parcel"), p ? dl([
        ["Weight", `${p.weight} ${p.mass_unit}`],
        ["Dimensions", [p.length, p.width, p.height].every((x) => x !== null)
          ? `${p.length} × ${p.width} × ${p.height} ${p.distance_unit}` : "—"],
        ["Package", text(p.predefined_package)],
      ]) : empty("No parcel.")),
      h("section", { class: "card" }, h("h2", {}, "Customs"), c ? dl([
        ["Contents", `${c.contents_type}${c.contents_explanation ? ` — ${c.contents_explanation}` : ""}`],
        ["Certified", c.customs_certify ? `yes, by ${text(c.customs_signer)}` : "no"],
        ["If undeliverable", c.non_delivery_option],
        ["Restriction", `${c.restriction_type}${c.restriction_comments ? ` — ${c.restriction_comments}` : ""}`],
        ["EEL / PFC", text(c.eel_pfc)],
        ["Items", json(c.customs_items)],
      ]) : empty("No customs information."))),
    h("section", { class: "card" }, h("h2", {}, "Tracking"), timeline(events),
      canWrite(info) ? addEventForm(id, reload) : readOnly(info, "read-only-events", "Adding an event")),
    canWrite(info) ? editForm(s, etag, reload)
      : h("section", { class: "card" }, h("h2", {}, "Edit"), readOnly(info, "read-only-edit", "Editing")),
  );
}

function timeline(events) {
  if (!events.length) return empty("No tracking events yet.");
  // Newest first, as a person reads a tracking page.
  const sorted = [...events].sort((a, b) => b.event_datetime.localeCompare(a.event_datetime));
  return h("ol", { class: "timeline", id: "timeline" }, sorted.map((e) => {
    const loc = e.tracking_location && typeof e.tracking_location === "object"
      ? [e.tracking_location.city, e.tracking_location.state, e.tracking_location.country].filter(Boolean).join(", ")
      : "";
    return h("li", {},
      h("time", { datetime: e.event_datetime }, when(e.event_datetime)),
      h("span", { class: `badge status-${e.status}` }, label(e.status)),
      e.message ? h("span", { class: "event-message" }, e.message) : null,
      e.description ? h("span", { class: "event-description" }, e.description) : null,
      loc ? h("span", { class: "event-location" }, loc) : null);
  }));
}

function addEventForm(id, reload) {
  const result = h("p", { role: "status", class: "form-result" });
  const form = h("form", { class: "inline-form", id: "add-event", "aria-label": "Add a tracking event",
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const body = { status: form.elements.status.value };
      for (const k of ["message", "carrier_status"]) if (form.elements[k].value.trim()) body[k] = form.elements[k].value.trim();
      submit.disabled = true;
      try {
        await call("POST", `/v1/shipments/${id}/events`, { body, headers: { "Idempotency-Key": crypto.randomUUID() } });
        reload();
      } catch (err) {
        submit.disabled = false;
        showErrors(form, result, err);
      }
    } },
  h("h3", {}, "Add an event"),
  field("Status", "status", { value: "in_transit", options: STATUSES.map((s) => [s, label(s)]) }),
  field("Message", "message"),
  field("Carrier status", "carrier_status"));
  const submit = h("button", { type: "submit" }, "Add event");
  form.append(h("div", { class: "actions" }, submit), result);
  return form;
}

function editForm(s, etag, reload) {
  const result = h("div", { role: "status", class: "form-result", id: "edit-result" });
  const submit = h("button", { type: "submit" }, "Save changes");
  const form = h("form", { class: "card", id: "edit-shipment", "aria-labelledby": "edit-title",
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      result.replaceChildren();
      const patch = {};
      for (const [, k] of EDITABLE) {
        const v = form.elements[k].value.trim();
        const now = s[k] ?? "";
        if (v !== now) patch[k] = v === "" ? null : v;
      }
      if (!Object.keys(patch).length) {
        result.replaceChildren("Nothing changed.");
        return;
      }
      submit.disabled = true;
      try {
        await call("PATCH", `/v1/shipments/${s.id}`, {
          body: patch, contentType: "application/merge-patch+json",
          headers: etag ? { "If-Match": etag } : {},
        });
        reload();
      } catch (err) {
        submit.disabled = false;
        if (err.status === 412) {
          result.replaceChildren(h("p", { class: "state error", role: "alert", id: "conflict" },
            "This shipment was changed by someone else — reload to see the changes, then edit again. ",
            h("button", { type: "button", class: "secondary", onclick: reload }, "Reload")));
          return;
        }
        showErrors(form, result, err);
      }
    } },
  h("h2", { id: "edit-title" }, "Edit"),
  h("div", { class: "grid" }, EDITABLE.map(([l, k]) => field(l, k, { value: s[k] ?? "" }))),
  h("div", { class: "actions" }, submit), result);
  return form;
}

// showErrors puts a 422's field errors next to their fields and the rest
// in the form's result line.
export function showErrors(form, result, err) {
  const rest = [];
  if (err.status === 422 && err.problem && err.problem.errors) {
    for (const e of err.problem.errors) {
      if (!setFieldError(form, e.field, e.message)) rest.push(`${e.field}: ${e.message}`);
    }
  } else if (err.status === 403) {
    rest.push("This API key can only read; a key with write scope can change shipments.");
  } else {
    rest.push(errorText(err));
  }
  result.replaceChildren(...(rest.length ? [h("p", { class: "state error", role: "alert" }, rest.join("; "))] : []));
}
