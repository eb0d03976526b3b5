// The console: a page of the rule-service that calls the same REST API as every other
// client, with the token the person signed in with. This module signs in and out and
// routes (`#/notifications`, `#/rules/<id>`, …) to the pages in the modules beside it.
//
// The token lives in this tab's sessionStorage only (gone when the tab closes, or on
// sign-out) and travels in the Authorization header; no cookie is ever set, so no other
// site can make the browser act for the person (no CSRF).

import { client, clients } from "./clients.js";
import { TOKEN, api, el, failure, isKey, routing, session, show, token } from "./lib.js";
import { notification, notifications } from "./notifications.js";
import { overview } from "./overview.js";
import { endpoint, rule, rules } from "./rules.js";
import { newSilence, silences } from "./silences.js";

/** Stops what the current page keeps doing (the list's refreshing). */
let leave = null;

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  session.open = false;
  if (leave) leave();
  leave = null;
  document.getElementById("bar").hidden = true;
  // Without a hashchange: the sign-in page is shown once, with its message.
  history.replaceState(null, "", location.pathname);
  signIn(message);
}

function signIn(message) {
  const input = el("input", { id: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-help" });
  const problem = el("p", { class: "error", role: "alert" }, message || "");
  const form = el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN, input.value.trim());
        try {
          await api("GET", "/api/v1/clients?limit=1");
        } catch (error) {
          sessionStorage.removeItem(TOKEN);
          problem.textContent =
            error.status === 403
              ? "This key has no `manage` scope: it can post alerts, but not read or change rules, endpoints or notifications. Sign in with a key that has `manage`, or with the admin token."
              : error.status === 401
                ? "That token is not known (or was revoked)."
                : error.message;
          return;
        }
        start();
      },
    },
    el("label", { for: "token" }, "Admin token or API key"),
    input,
    el("p", { id: "token-help", class: "who" }, "Kept in this tab only, and forgotten when the tab closes or you sign out."),
    el("button", { type: "submit" }, "Sign in"),
  );
  document.getElementById("bar").hidden = true;
  show(el("section", { class: "signin" }, el("h1", {}, "Sign in"), problem, form));
  input.focus();
}

async function start() {
  session.open = true;
  const bar = document.getElementById("bar");
  bar.hidden = false;
  for (const link of bar.querySelectorAll("[data-admin]")) link.hidden = isKey();
  let who = "admin";
  if (isKey()) {
    const own = await api("GET", "/api/v1/clients?limit=1");
    who = `client ${own.items.length ? own.items[0].client_id : "?"}`;
  }
  document.getElementById("who").textContent = `Signed in as ${who}`;
  if (!location.hash || location.hash === "#/") location.hash = "#/notifications";
  else route();
}

/** The page a hash names, and what it does when left. */
function page(parts, params) {
  const [section, id] = parts;
  if (section === "overview") return overview();
  if (section === "notifications" && id) return notification(id);
  if (section === "rules" && id) return rule(id);
  if (section === "endpoints" && id) return endpoint(id);
  if (section === "rules") return rules(params);
  if (section === "silences" && id === "new") return newSilence(params);
  if (section === "silences") return silences(params);
  if (section === "clients" && id) return client(decodeURIComponent(id));
  if (section === "clients") return clients();
  return notifications(params);
}

async function route() {
  if (!token()) return signIn();
  if (leave) leave();
  leave = null;
  const mine = ++routing.current;
  const [path, query] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${parts[0] || "notifications"}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.getElementById("main").focus();
  try {
    const stop = await page(parts, new URLSearchParams(query || ""));
    if (typeof stop !== "function") return;
    // Left before it finished loading: stopped at once.
    if (mine === routing.current) leave = stop;
    else stop();
  } catch (error) {
    // A refused token already brought the sign-in page; a page left behind shows nothing.
    if (session.open && mine === routing.current) show(failure(error));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("signed-out", (event) => signOut(event.detail));
document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
if (token()) start().catch((error) => signOut(error.status === 401 ? "Your session ended: sign in again." : error.message));
else signIn();
