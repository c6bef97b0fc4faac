// The console's entry point: loads config.json, keeps the session, routes #/… to a page.

import { api, ApiError, loadConfig, onUnauthorized } from "./api.js";
import { currentToken, signOut } from "./auth.js";
import { h, replace } from "./dom.js";
import * as clip from "./clip.js";
import * as device from "./device.js";
import * as fleet from "./fleet.js";
import * as models from "./models.js";
import * as signin from "./signin.js";

const RETURN_KEY = "humwatch.return_to";

const routes = [
  { pattern: /^\/signin$/, page: signin, nav: null, public: true },
  { pattern: /^\/$/, page: fleet, nav: "fleet" },
  { pattern: /^\/devices\/([^/]+)$/, page: device, nav: "fleet" },
  { pattern: /^\/devices\/([^/]+)\/clips\/([^/]+)$/, page: clip, nav: "fleet" },
  { pattern: /^\/models$/, page: models, nav: "models" },
];

const state = { config: null, me: null, generation: 0, cleanups: [], firstRender: true };
const main = document.getElementById("main");
const bannerBox = document.getElementById("banner");

export const banner = {
  show(message, kind = "error") {
    bannerBox.className = `banner banner-${kind}`;
    replace(bannerBox, message);
    bannerBox.hidden = false;
  },
  clear() {
    bannerBox.hidden = true;
    replace(bannerBox);
  },
};

/** What an API error means to the user; 401 is handled by signing out (onUnauthorized). */
export function describeError(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err.message}`;
  if (err.status === 0) return `Network error: the console cannot reach its API. ${err.message}`;
  if (err.status === 403) return `Operators only: ${err.message}. You are signed in without the operators group.`;
  if (err.status === 404) return `Not found: ${err.message}`;
  if (err.status === 401) return "Your session has ended: sign in again.";
  return `${err.message} (HTTP ${err.status})`;
}

function currentPath() {
  const hash = window.location.hash.replace(/^#/, "");
  return hash.startsWith("/") ? hash : "/";
}

export function navigate(to) {
  if (window.location.hash === `#${to}`) route();
  else window.location.hash = `#${to}`;
}

function showUser() {
  const who = document.getElementById("who");
  const nav = document.getElementById("nav");
  if (!state.me) {
    who.hidden = true;
    nav.hidden = true;
    return;
  }
  replace(document.getElementById("who-name"), state.me.username);
  replace(
    document.getElementById("who-role"),
    state.me.can_write ? "operator" : state.me.groups.includes("viewers") ? "viewer" : "no group",
  );
  who.hidden = false;
  nav.hidden = false;
}

function markNav(name) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function endSession(message) {
  signOut();
  state.me = null;
  showUser();
  const path = currentPath();
  if (path !== "/signin") sessionStorage.setItem(RETURN_KEY, path);
  signin.setNotice(message);
  navigate("/signin");
}

/** After a successful sign-in: back to the page that sent the user to sign in. */
export async function signedIn() {
  state.me = null;
  await loadMe();
  const back = sessionStorage.getItem(RETURN_KEY) || "/";
  sessionStorage.removeItem(RETURN_KEY);
  navigate(back);
}

async function loadMe() {
  if (!state.me) {
    state.me = await api.get("/me");
    showUser();
  }
  return state.me;
}

async function route() {
  for (const cleanup of state.cleanups.splice(0)) cleanup();
  const generation = ++state.generation;
  const path = currentPath();
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  banner.clear();
  if (!match) {
    markNav(null);
    replace(main, h("h1", { tabindex: -1 }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the fleet")));
    return;
  }
  const { r, m } = match;
  if (!r.public && !currentToken()) {
    endSession(null);
    return;
  }
  markNav(r.nav);
  const ctx = {
    main,
    api,
    config: state.config,
    me: null,
    params: m.slice(1).map(decodeURIComponent),
    banner,
    describeError,
    navigate,
    signedIn,
    isCurrent: () => generation === state.generation,
    onCleanup: (fn) => state.cleanups.push(fn),
    /** Show an API failure; a 401 has already sent the user to sign in. */
    fail(err) {
      if (generation !== state.generation) return;
      if (err instanceof ApiError && err.status === 401) return;
      banner.show(describeError(err));
    },
  };
  try {
    if (!r.public) ctx.me = await loadMe();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      replace(main, h("h1", { tabindex: -1 }, "No access"));
      banner.show("Your account is in neither the viewers nor the operators group: ask an administrator to add you.");
    } else {
      ctx.fail(err);
    }
    return;
  }
  try {
    if (generation !== state.generation) return;
    await r.page.render(ctx);
  } catch (err) {
    ctx.fail(err);
  }
  if (generation === state.generation && !state.firstRender) {
    // A new page: move focus to its heading so screen readers announce it.
    const heading = main.querySelector("h1");
    if (heading) heading.focus();
  }
  state.firstRender = false;
}

async function start() {
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault(); // "#main" would be read as a route
    main.focus();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    state.me = null;
    showUser();
    signin.setNotice("You are signed out.");
    navigate("/signin");
  });
  onUnauthorized(() => endSession("Your session has ended or was not accepted: sign in again."));
  try {
    state.config = await loadConfig();
  } catch (err) {
    replace(main, h("h1", {}, "humwatch console"));
    banner.show(describeError(err));
    return;
  }
  window.addEventListener("hashchange", route);
  await route();
}

start();
