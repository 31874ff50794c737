// The console: a key prompt, then pages routed in the browser under
// /console/ (each page has its own URL, filters included, so it can be
// shared or reloaded).
import { h, show } from "./dom.js";
import { apiKey, setAPIKey, forgetAPIKey, onUnauthorized } from "./api.js";
import { dashboard } from "./dashboard.js";
import { shipments } from "./shipments.js";
import { shipment } from "./shipment.js";
import { create } from "./create.js";
import { health } from "./health.js";

const routes = [
  [/^$/, "dashboard", dashboard],
  [/^shipments$/, "shipments", shipments],
  [/^shipments\/([0-9a-fA-F-]{36})$/, "shipments", shipment],
  [/^new$/, "new", create],
  [/^health$/, "health", health],
];

// page is the current page: its cleanup (timers) and whether it is still
// shown (an answer arriving after the user moved on is dropped).
let page = { gen: 0, cleanup: null };

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function route() {
  if (page.cleanup) page.cleanup();
  const gen = page.gen + 1;
  page = { gen, cleanup: null };
  const ctx = {
    alive: () => page.gen === gen,
    onLeave: (f) => { if (page.gen === gen) page.cleanup = f; },
    navigate,
  };
  const forget = document.getElementById("forget");
  if (!apiKey()) {
    forget.hidden = true;
    markNav(null);
    keyPrompt();
    return;
  }
  forget.hidden = false;
  const rest = location.pathname.replace(/^\/console\/?/, "").replace(/\/$/, "");
  for (const [re, nav, render] of routes) {
    const m = rest.match(re);
    if (m) {
      markNav(nav);
      render(ctx, new URLSearchParams(location.search), ...m.slice(1));
      return;
    }
  }
  markNav(null);
  document.title = "Not found · Waybill";
  show(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/console/" }, "Back to the dashboard")));
}

function markNav(name) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

let promptMessage = "";

function keyPrompt() {
  document.title = "API key · Waybill";
  // No name: a form submitted without this script (or by form.submit())
  // sends nothing, so the key can never land in a URL.
  const input = h("input", { id: "api-key", type: "password", required: true,
    autocomplete: "off", spellcheck: "false", "aria-describedby": "api-key-hint" });
  const form = h("form", { class: "card key-prompt", method: "post", onsubmit: (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    setAPIKey(key);
    promptMessage = "";
    route();
  } },
  h("h1", {}, "Paste your API key"),
  promptMessage ? h("p", { class: "state error", role: "alert" }, promptMessage) : null,
  h("div", { class: "field" },
    h("label", { for: "api-key" }, "API key"), input,
    h("p", { class: "hint", id: "api-key-hint" },
      "`waybill dev` prints one; `waybill apikey create` makes more. The key stays in this tab (sessionStorage) and is sent only to this server.")),
  h("button", { type: "submit" }, "Continue"));
  show(form);
  input.focus();
}

onUnauthorized(() => {
  forgetAPIKey();
  promptMessage = "The server refused the key (unknown or revoked). Paste a valid one.";
  route();
});

document.getElementById("forget").addEventListener("click", () => {
  forgetAPIKey();
  promptMessage = "";
  route();
});

// Links inside the console change the page without reloading it.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/console/") || a.hasAttribute("download")) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
  document.getElementById("main").focus();
});

window.addEventListener("popstate", route);
route();
