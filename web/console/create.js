// Create shipment: a form whose inputs are named by the API's JSON paths
// (from_address.zip, parcel.weight), so a 422's errors[].field lands next
// to the field it names.
import { h, show, field, clearFieldErrors, loading, failure } from "./dom.js";
import { call, keyInfo, canWrite } from "./api.js";
import { showErrors, readOnly } from "./shipment.js";

// NUMBERS are the inputs sent as JSON numbers.
const NUMBERS = new Set(["parcel.weight", "parcel.length", "parcel.width", "parcel.height", "total_cost"]);

function addressFields(prefix, title) {
  return h("fieldset", {}, h("legend", {}, title),
    h("div", { class: "grid" },
      field("Name", `${prefix}.name`, { autocomplete: "name" }),
      field("Company", `${prefix}.company`),
      field("Street", `${prefix}.street1`, { required: true }),
      field("Street (line 2)", `${prefix}.street2`),
      field("City", `${prefix}.city`, { required: true }),
      field("State", `${prefix}.state`),
      field("ZIP / postcode", `${prefix}.zip`, { required: true }),
      field("Country", `${prefix}.country`, { value: "US", hint: "Two letters (ISO 3166-1), e.g. US, DE" })));
}

// body turns the form into the request: empty inputs are left out.
function body(form) {
  const out = {};
  for (const el of form.querySelectorAll("input[name], select[name]")) {
    const v = el.value.trim();
    if (v === "") continue;
    const path = el.name.split(".");
    let o = out;
    for (const k of path.slice(0, -1)) o = o[k] ??= {};
    // A number the browser cannot read is sent as the text typed, for the
    // server to reject by name.
    o[path.at(-1)] = NUMBERS.has(el.name) && v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v;
  }
  return out;
}

export async function create(ctx) {
  document.title = "Create shipment · Waybill";
  const title = h("h1", { id: "create-title" }, "Create shipment");
  show(title, loading("the form"));
  let info;
  try {
    info = await keyInfo();
  } catch (err) {
    if (ctx.alive()) show(title, failure(err));
    return;
  }
  if (!ctx.alive()) return;
  if (!canWrite(info)) {
    show(title, readOnly(info, "read-only-create", "Creating a shipment"));
    return;
  }
  const result = h("div", { role: "status", class: "form-result", id: "create-result" });
  const submit = h("button", { type: "submit" }, "Create shipment");
  const form = h("form", { id: "create-shipment", novalidate: true, "aria-labelledby": "create-title",
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      result.replaceChildren();
      submit.disabled = true;
      try {
        const r = await call("POST", "/v1/shipments", { body: body(form), headers: { "Idempotency-Key": crypto.randomUUID() } });
        ctx.navigate(`/console/shipments/${r.data.id}`);
      } catch (err) {
        submit.disabled = false;
        showErrors(form, result, err);
        const first = form.querySelector("[aria-invalid]");
        if (first) first.focus();
      }
    } },
  h("fieldset", {}, h("legend", {}, "Shipment"),
    h("div", { class: "grid" },
      field("Reference", "reference"),
      field("Tracking code", "tracking_code"),
      field("Carrier", "carrier", { placeholder: "USPS" }),
      field("Service", "service", { placeholder: "Priority" }),
      field("Mode", "mode", { value: "test", options: [["test", "test"], ["production", "production"]] }),
      field("Total cost", "total_cost", { inputmode: "decimal", hint: "Two decimals at most" }),
      field("Currency", "currency", { value: "USD" }))),
  addressFields("from_address", "From"),
  addressFields("to_address", "To"),
  h("fieldset", {}, h("legend", {}, "Parcel"),
    h("div", { class: "grid" },
      field("Weight (oz)", "parcel.weight", { required: true, inputmode: "decimal" }),
      field("Length (in)", "parcel.length", { inputmode: "decimal" }),
      field("Width (in)", "parcel.width", { inputmode: "decimal" }),
      field("Height (in)", "parcel.height", { inputmode: "decimal" }))),
  h("div", { class: "actions" }, submit), result);
  show(title, form);
}
