// The console API client: JSON over fetch with the signed-in user's bearer token.

import { currentToken } from "./auth.js";

export class ApiError extends Error {
  /** status 0: the request never got an answer (network down, CORS refused, API unreachable). */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

let config = null;
let unauthorizedHandler = () => {};

/** config.json from the console's own origin: where the API is and how to sign in. */
export async function loadConfig() {
  if (config) return config;
  let response;
  try {
    response = await fetch("config.json", { cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, `cannot load config.json (${err.message})`);
  }
  if (!response.ok) throw new ApiError(response.status, `cannot load config.json (HTTP ${response.status})`);
  const loaded = await response.json();
  if (!loaded.apiUrl || !loaded.auth || !loaded.auth.type) {
    throw new ApiError(0, "config.json needs apiUrl and auth.type");
  }
  config = { ...loaded, apiUrl: loaded.apiUrl.replace(/\/+$/, "") };
  return config;
}

export function getConfig() {
  return config;
}

/** Called on any 401 (expired or revoked token): the app signs the user out. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

async function request(method, path, body) {
  const token = currentToken();
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(config.apiUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, `network error: cannot reach the API (${err.message})`);
  }
  let payload = null;
  const text = await response.text();
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const message = (payload && payload.message) || `HTTP ${response.status}`;
    const error = new ApiError(response.status, message);
    if (response.status === 401) unauthorizedHandler(error);
    throw error;
  }
  return payload;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body = {}) => request("POST", path, body),
};

/** Path segments are ids from the API: encode them, never splice them raw into a URL. */
export function path(strings, ...values) {
  return strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}
