// Building the page without innerHTML: every value is a text node, so
// whatever the API returns is shown, never run.

// h creates an element. attrs: attributes (a value of false or null
// leaves one out; "on…" keys add event listeners); children: nodes,
// strings (as text), numbers, or arrays of them; null is skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "value") {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// show replaces the main area's content.
export function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren();
  append(main, children);
}

export const loading = (what) => h("p", { class: "state", role: "status" }, `Loading ${what}…`);
export const empty = (text) => h("p", { class: "state empty" }, text);
export const failure = (err) =>
  h("div", { class: "state error", role: "alert" },
    h("strong", {}, "Something went wrong. "), errorText(err));

// errorText is what a person reads for a failed call.
export function errorText(err) {
  if (err && err.problem) {
    const p = err.problem;
    return [p.title, p.detail].filter(Boolean).join(": ") + (p.request_id ? ` (request ${p.request_id})` : "");
  }
  return err && err.message ? err.message : String(err);
}

// text renders a possibly null value: an em dash for null or "".
export function text(v) {
  return v === null || v === undefined || v === "" ? "—" : String(v);
}

// money renders an amount with its two decimals, as the API sends it.
export function money(v) {
  return v === null || v === undefined ? "—" : Number(v).toFixed(2);
}

// percent renders a 0–100 rate.
export function percent(v) {
  return v === null || v === undefined ? "—" : `${Number(v).toFixed(2)} %`;
}

// when renders an RFC 3339 instant in UTC, to the second.
export function when(v) {
  if (!v) return "—";
  return v.replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

// field is a labelled input. opts: type, value, required, options (for a
// select: [value, label] pairs), hint.
let fieldSeq = 0;
export function field(label, name, opts = {}) {
  const id = `f${++fieldSeq}-${name.replace(/[^a-z0-9]/gi, "-")}`;
  let input;
  if (opts.options) {
    input = h("select", { id, name },
      opts.options.map(([v, l]) => h("option", { value: v, selected: v === (opts.value ?? "") }, l)));
  } else if (opts.type === "textarea") {
    input = h("textarea", { id, name, rows: 2 });
    input.value = opts.value ?? "";
  } else {
    input = h("input", {
      id, name, type: opts.type || "text", required: opts.required, step: opts.step,
      min: opts.min, inputmode: opts.inputmode, autocomplete: opts.autocomplete || "off",
      placeholder: opts.placeholder,
    });
    input.value = opts.value ?? "";
  }
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  return h("div", { class: "field", "data-field": name },
    h("label", { for: id }, label, opts.required ? h("span", { "aria-hidden": "true" }, " *") : null),
    input, opts.hint ? h("p", { class: "hint" }, opts.hint) : null, error);
}

// setFieldError shows message under the form's field of that name (a
// JSON path such as "parcel.weight"); false if the form has no such field.
export function setFieldError(form, name, message) {
  const box = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (!box) return false;
  const input = box.querySelector("input, select, textarea");
  const error = box.querySelector(".field-error");
  error.textContent = message;
  error.hidden = false;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", error.id);
  return true;
}

// clearFieldErrors removes every message setFieldError showed.
export function clearFieldErrors(form) {
  for (const e of form.querySelectorAll(".field-error")) { e.hidden = true; e.textContent = ""; }
  for (const i of form.querySelectorAll("[aria-invalid]")) {
    i.removeAttribute("aria-invalid");
    i.removeAttribute("aria-describedby");
  }
}

export const STATUSES = ["unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered",
  "available_for_pickup", "return_to_sender", "failure", "cancelled", "error"];

// label turns an enum value into words: out_for_delivery → out for delivery.
export const label = (s) => String(s).replaceAll("_", " ");
