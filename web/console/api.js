// The console's only way to the server: the public /v1 API (and /health),
// with the API key the user pasted, kept in sessionStorage for this tab.

const KEY = "waybill.apiKey";

export const apiKey = () => sessionStorage.getItem(KEY);
export const setAPIKey = (k) => sessionStorage.setItem(KEY, k);
export const forgetAPIKey = () => sessionStorage.removeItem(KEY);

// APIError is a failed call: status and the problem+json body, if any.
export class APIError extends Error {
  constructor(status, problem) {
    super(problem && problem.title ? problem.title : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// onUnauthorized is called on a 401 (the key is unknown or revoked).
let unauthorized = () => {};
export function onUnauthorized(f) { unauthorized = f; }

// call makes one request. opts: body (sent as JSON), contentType,
// headers, allow (statuses answered without throwing). It returns
// { status, data, etag }.
export async function call(method, path, opts = {}) {
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = opts.contentType || "application/json";
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch {
    throw new APIError(0, { title: "The server did not answer", detail: "check that Waybill is running" });
  }
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") && res.status !== 204 ? await res.json().catch(() => null) : null;
  if (res.status === 401 && path !== "/health") {
    unauthorized();
    throw new APIError(401, data);
  }
  if (!res.ok && !(opts.allow || []).includes(res.status)) throw new APIError(res.status, data);
  return { status: res.status, data, etag: res.headers.get("ETag") };
}

// download GETs path as text/csv and returns the answer as a Blob; it
// fails as call does.
export async function download(path) {
  const headers = { Accept: "text/csv" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  } catch {
    throw new APIError(0, { title: "The server did not answer", detail: "check that Waybill is running" });
  }
  if (res.ok) return res.blob();
  const problem = await res.json().catch(() => null);
  if (res.status === 401) unauthorized();
  throw new APIError(res.status, problem);
}

// keyInfo is GET /v1/me for the current key ({ id, name, scope }), asked
// once per key; null when the server could not say, and the console then
// offers every form and lets the API refuse. A 401 throws, as any call.
let me = { key: null, answer: null };
export function keyInfo() {
  const key = apiKey();
  if (me.key !== key || !me.answer) {
    const answer = call("GET", "/v1/me").then((r) => r.data, (err) => {
      if (me.answer === answer) me = { key: null, answer: null }; // ask again next time
      if (err.status === 401) throw err;
      return null;
    });
    me = { key, answer };
  }
  return me.answer;
}

// canWrite says whether a key may change data: a write or admin key, or
// one whose scope is unknown (the API decides).
export const canWrite = (info) => !info || info.scope !== "read";

// query builds a query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
