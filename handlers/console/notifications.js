// Notifications: the list (filtered, paged on the server, refreshed by itself) and a
// notification's page (its alert, context and deliveries, with the actions on it).

import { LIVE_MS, PAGE, api, badge, button, el, empty, field, isKey, refreshed, routing, say, showFor, table, when } from "./lib.js";

/** The time filter's choices: its value in the page's address, its label, seconds. */
const WITHIN = [
  ["1h", "in the last hour", 3600],
  ["24h", "in the last 24 hours", 86400],
  ["7d", "in the last 7 days", 7 * 86400],
];

/** The list; returns a function that stops its refreshing. */
export async function notifications(params) {
  const route = routing.current;
  const query = new URLSearchParams({ limit: PAGE, offset: params.get("offset") || 0 });
  for (const name of ["client_id", "status", "state"]) if (params.get(name)) query.set(name, params.get(name));
  const within = WITHIN.find(([value]) => value === params.get("within"));
  const select = (name, values) =>
    el(
      "select",
      { name },
      el("option", { value: "" }, "any"),
      values.map((v) => el("option", { value: v, selected: params.get(name) === v }, v)),
    );
  const filters = el(
    "form",
    {
      class: "filters",
      onsubmit: (event) => {
        event.preventDefault();
        const chosen = new URLSearchParams();
        for (const [name, value] of new FormData(event.target)) if (value) chosen.set(name, value);
        location.hash = `#/notifications?${chosen}`;
      },
    },
    isKey() ? "" : field("filter-client", "Client", el("input", { name: "client_id", value: params.get("client_id") || "" })),
    field("filter-status", "Status", select("status", ["PENDING", "SENT", "PARTIAL", "FAILED", "NO_ENDPOINTS", "SILENCED"])),
    field("filter-state", "State", select("state", ["open", "acknowledged", "resolved"])),
    field(
      "filter-within",
      "Made",
      el(
        "select",
        { name: "within" },
        el("option", { value: "" }, "any time"),
        WITHIN.map(([value, label]) => el("option", { value, selected: params.get("within") === value }, label)),
      ),
    ),
    el("button", { type: "submit" }, "Filter"),
  );
  const body = el("div", {});
  showFor(route, el("h1", {}, "Notifications"), filters, body);
  let shown = null;
  const refresh = async () => {
    // "In the last hour" moves with the clock.
    if (within) query.set("since", new Date(Date.now() - within[2] * 1000).toISOString());
    const page = await api("GET", `/api/v1/notifications?${query}`);
    refreshed();
    // Redrawn only when something changed: focus and reading place stay put.
    const seen = JSON.stringify([page.total, page.items]);
    if (seen === shown) return;
    shown = seen;
    body.replaceChildren(list(page, params));
  };
  await refresh();
  // New notifications appear by themselves while the list is shown.
  const timer = setInterval(() => refresh().catch((error) => say(error.message)), LIVE_MS);
  return () => clearInterval(timer);
}

function list(page, params) {
  if (!page.items.length) {
    return empty(
      page.offset > 0
        ? "No more notifications."
        : "No notifications yet. They appear here as alerts that match a rule arrive: post one to the alert-producer (POST /api/v1/alerts), or check your rules' patterns.",
    );
  }
  const optional = (content) => el("td", { class: "optional wrap" }, content);
  const rows = page.items.map((n) => [
    when(n.created_at),
    el("a", { href: `#/notifications/${n.notification_id}` }, n.alert.name),
    badge(n.alert.severity),
    optional(n.alert.source),
    optional(n.client_id),
    badge(n.status),
    badge(n.state),
    optional(n.occurrences),
  ]);
  const go = (offset) => {
    const next = new URLSearchParams(params);
    next.set("offset", Math.max(0, offset));
    return `#/notifications?${next}`;
  };
  const pager = el(
    "div",
    { class: "pager" },
    page.offset > 0 ? el("a", { href: go(page.offset - page.limit) }, "Newer") : "",
    el("span", {}, `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`),
    page.offset + page.items.length < page.total ? el("a", { href: go(page.offset + page.limit) }, "Older") : "",
  );
  const heads = ["Created", "Alert", "Severity", "Source", "Client", "Status", "State", "Occurrences"];
  const shown = table("Notifications, newest first", heads, rows);
  for (const index of [3, 4, 7]) shown.querySelectorAll("th")[index].classList.add("optional");
  return el("div", {}, shown, pager);
}

export async function notification(id) {
  const route = routing.current;
  const n = await api("GET", `/api/v1/notifications/${encodeURIComponent(id)}`);
  const act = (label, action, enabled, secondary) =>
    button(
      label,
      async () => {
        await api("POST", `/api/v1/notifications/${encodeURIComponent(id)}/${action}`);
        await notification(id);
      },
      { class: secondary ? "secondary" : null, disabled: !enabled },
    );
  const failed = n.deliveries.some((d) => d.status === "FAILED");
  const silence = new URLSearchParams({
    client_id: n.client_id,
    severity: n.alert.severity,
    source: n.alert.source,
    name: n.alert.name,
  });
  const context = Object.entries(n.alert.context || {});
  showFor(route, 
    el("p", {}, el("a", { href: "#/notifications" }, "← Notifications")),
    el("h1", {}, n.alert.name),
    el(
      "div",
      { class: "actions" },
      act("Acknowledge", "acknowledge", n.state === "open"),
      act("Resolve", "resolve", n.state !== "resolved"),
      act("Retry failed deliveries", "retry", failed, true),
      el("a", { class: "button secondary", href: `#/silences/new?${silence}` }, "Silence alerts like this"),
    ),
    el(
      "dl",
      { class: "fields" },
      [
        ["Client", n.client_id],
        ["Status", badge(n.status)],
        ["State", badge(n.state)],
        ["Severity", badge(n.alert.severity)],
        ["Source", n.alert.source],
        ["Alert id", n.alert.alert_id],
        ["Dedup key", n.alert.dedup_key || "none"],
        ["Occurrences", n.occurrences],
        ["First seen", when(n.first_seen_at)],
        ["Last seen", when(n.last_seen_at)],
        ["Acknowledged", n.acknowledged_at ? `${when(n.acknowledged_at)} by ${n.acknowledged_by}` : "no"],
        ["Resolved", n.resolved_at ? `${when(n.resolved_at)} by ${n.resolved_by}` : "no"],
        ["Silenced by", n.silenced_by || "no silence"],
        ["Matched rules", (n.rule_ids || []).join(", ")],
      ].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
    ),
    el("h2", {}, "Context"),
    context.length
      ? table(
          "The alert's context",
          ["Key", "Value"],
          context.map(([k, v]) => [el("td", { class: "wrap" }, k), el("td", { class: "wrap" }, v)]),
        )
      : empty("The alert carried no context."),
    el("h2", {}, "Deliveries"),
    n.deliveries.length
      ? table(
          "Every delivery attempt's outcome",
          ["Phase", "Type", "Target", "Status", "Attempts", "Answer", "Updated"],
          n.deliveries.map((d) => [
            d.phase,
            d.type,
            el("td", { class: "wrap" }, d.target),
            badge(d.status),
            d.attempts,
            el("td", { class: "wrap" }, [d.last_http_status ? `HTTP ${d.last_http_status}` : "", d.last_error || ""].filter(Boolean).join(": ")),
            when(d.updated_at),
          ]),
        )
      : empty("Nothing delivered: no endpoint took it (see the rule's endpoints)."),
  );
}
