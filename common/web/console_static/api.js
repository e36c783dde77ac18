// The admin API, same origin, with the API key of this tab as a bearer token (no cookies).

const KEY = "ivr.console.key";

export class ApiFailure extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.details = error && error.details;
  }

  /** The field problems of a 4xx: [{field, message}] (details may also be a validation report). */
  fields() {
    const d = this.details;
    if (Array.isArray(d)) return d.filter((x) => x && typeof x === "object" && x.field);
    return [];
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

// Who a change is recorded as (versions' author, deployments' createdBy): the key that made it, since
// the API records X-Ivr-Author as given. Set by the shell once whoami has answered.
export const identity = {author: ""};

export async function api(method, path, body, options = {}) {
  const headers = {Accept: "application/json"};
  const key = session.key();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (method !== "GET" && identity.author) headers["X-Ivr-Author"] = identity.author;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options.ifMatch) headers["If-Match"] = options.ifMatch;
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store"});
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) throw new ApiFailure(response.status, data && data.error);
  return {status: response.status, body: data, etag: response.headers.get("ETag")};
}

export const get = async (path) => (await api("GET", path)).body;

export function enc(segment) {
  return encodeURIComponent(segment);
}
