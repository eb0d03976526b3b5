// What every page of the console shares: elements built from text (never markup), the
// API client carrying the signed-in token, and the page's status line.

export const TOKEN = "alerting.token";
export const LIVE_MS = 3000;
export const PAGE = 50;

/** An element with attributes and children; strings become text nodes, so a value
 * from an alert or a tenant is always shown as text. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function badge(value) {
  return value ? el("span", { class: `badge ${value}` }, value) : "";
}

export function when(value) {
  return value ? new Date(value).toLocaleString() : "";
}

/** A table with a header row; `rows` are arrays of cells (a cell: content, or an
 * element `td`). */
export function table(caption, heads, rows) {
  return el(
    "div",
    { class: "table" },
    el(
      "table",
      {},
      el("caption", { class: "skip" }, caption),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        rows.map((cells) =>
          el("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c)))),
        ),
      ),
    ),
  );
}

export function empty(text) {
  return el("p", { class: "empty" }, text);
}

/** A labelled input (or select, given as `control`). */
export function field(id, label, control) {
  control.id = id;
  return el("label", { for: id }, label, control);
}

/** Says what an action did (announced to screen readers). */
export function say(message) {
  document.getElementById("status").textContent = message;
}

/** When a live page last refreshed: shown, not announced (it changes every few seconds). */
export function refreshed() {
  document.getElementById("refreshed").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

/** The route this page belongs to: a page that finishes loading after the person has
 * moved on draws nothing. */
export const routing = { current: 0 };

/** Shows `nodes` if the page that made them (its route number) is still the one shown. */
export function showFor(route, ...nodes) {
  if (route === routing.current) show(...nodes);
}

export function show(...nodes) {
  document.getElementById("main").replaceChildren(...nodes);
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

/** A client key (`alerting_key_…`) rather than the admin token. */
export function isKey() {
  return (token() || "").startsWith("alerting_key_");
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Signed in: a refused token from now on means the session ended. */
export const session = { open: false };

/** Calls the API; throws ApiError with the API's own message on anything but 2xx. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: `Bearer ${token()}` },
      body === undefined ? {} : { "Content-Type": "application/json" },
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401 && session.open) {
    window.dispatchEvent(
      new CustomEvent("signed-out", { detail: "Your session ended: the token was refused. Sign in again." }),
    );
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not the API's answer (a proxy's page): its first words, as the message.
    parsed = { error: { message: `${response.status} ${text.slice(0, 200)}` } };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** An error as the person should read it: what the API said, and what to do. */
export function failure(error) {
  const text =
    error.status === 403
      ? `Not allowed: ${error.message}`
      : error.status === 409
        ? `Conflict: ${error.message}. Reload to see the current version, then try again.`
        : error.status === 422
          ? `Not accepted: ${error.message}`
          : `The API answered: ${error.message}`;
  return el("p", { class: "error", role: "alert" }, text);
}

/** A button that runs `action` (after `confirm`'s question, if any), shows its failure
 * above the page, and says when done. */
export function button(label, action, attrs, confirm) {
  return el(
    "button",
    Object.assign({ type: "button" }, attrs || {}, {
      onclick: async () => {
        if (confirm && !window.confirm(confirm)) return;
        try {
          await action();
          say(`${label}: done`);
        } catch (error) {
          document.getElementById("main").prepend(failure(error));
        }
      },
    }),
    label,
  );
}

/** A form whose submit runs `action` with its values; errors are shown in it. */
export function form(attrs, action, ...children) {
  const problem = el("p", { class: "error", role: "alert" });
  return el(
    "form",
    Object.assign({}, attrs, {
      onsubmit: async (event) => {
        event.preventDefault();
        problem.textContent = "";
        const values = Object.fromEntries(new FormData(event.target));
        try {
          await action(values, event.target);
        } catch (error) {
          problem.replaceChildren(failure(error));
        }
      },
    }),
    children,
    problem,
  );
}
