// Silences and maintenance windows: the list, a new silence (also from a notification,
// its fields filled in from the alert), and expiring one now.

import { api, badge, button, el, empty, field, form, isKey, routing, say, showFor, table, when } from "./lib.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DURATIONS = [
  ["1h", 3600],
  ["4h", 4 * 3600],
  ["1 day", 86400],
  ["1 week", 7 * 86400],
];

export async function silences(params) {
  const route = routing.current;
  const state = params.get("state") || "";
  const page = await api("GET", `/api/v1/silences?limit=200${state ? `&state=${encodeURIComponent(state)}` : ""}`);
  const rows = page.items.map((s) => [
    s.client_id,
    el("td", { class: "wrap" }, `${s.matchers.severity || "*"} · ${s.matchers.source || "*"} · ${s.matchers.name || "*"}`),
    badge(s.state),
    s.recurrence ? `weekly, ${s.recurrence.days.join(" ")} ${s.recurrence.start} for ${s.recurrence.duration}` : "",
    when(s.ends_at) || "until expired",
    el("td", { class: "wrap" }, s.comment || ""),
    s.state === "expired"
      ? ""
      : button("Expire", async () => {
          await api("POST", `/api/v1/silences/${s.silence_id}/expire`);
          await silences(params);
        }, { class: "secondary", "aria-label": `Expire the silence of ${s.client_id} (${s.comment || s.silence_id})` }),
  ]);
  showFor(route, 
    el("h1", {}, "Silences"),
    el(
      "p",
      {},
      el("a", { href: "#/silences/new" }, "New silence"),
      " · ",
      ["", "active", "pending", "expired"].map((s, i) => [i ? " · " : "", el("a", { href: `#/silences${s ? `?state=${s}` : ""}`, "aria-current": s === state ? "true" : null }, s || "all")]),
    ),
    rows.length
      ? table("Silences", ["Client", "Severity · source · name", "State", "Window", "Ends", "Comment", ""], rows)
      : empty("No silences. A silence keeps matching alerts from paging anyone for a while (they are still recorded, as SILENCED): create one here, or from a notification's page."),
  );
}

/** A new silence; `params` fill it in (from a notification: its client and alert). */
export async function newSilence(params) {
  const route = routing.current;
  const value = (name, fallback) => params.get(name) || fallback;
  const create = form(
    { class: "stack", "aria-label": "New silence" },
    async (values, target) => {
      const body = {
        client_id: values.client_id,
        matchers: { severity: values.severity, source: values.source, name: values.name },
        comment: values.comment || undefined,
      };
      if (target.weekly.checked) {
        // A maintenance window: weekly, until expired.
        body.recurrence = {
          days: DAYS.filter((day) => target[`day-${day}`].checked),
          start: values.window_start,
          duration: values.window_duration,
          time_zone: values.time_zone,
        };
      } else {
        body.ends_at = new Date(Date.now() + Number(values.duration) * 1000).toISOString();
      }
      const silence = await api("POST", "/api/v1/silences", body);
      say(silence.ends_at ? `Silenced until ${when(silence.ends_at)}` : "Maintenance window made");
      location.hash = "#/silences";
    },
    field("silence-client", "Client", el("input", { name: "client_id", required: true, value: value("client_id", ""), readonly: isKey() && params.get("client_id") ? true : null })),
    field("silence-severity", "Severity (or *)", el("input", { name: "severity", required: true, value: value("severity", "*") })),
    field("silence-source", "Source (or *)", el("input", { name: "source", required: true, value: value("source", "*") })),
    field("silence-name", "Name (or *)", el("input", { name: "name", required: true, value: value("name", "*") })),
    field("silence-duration", "For", el("select", { name: "duration" }, DURATIONS.map(([label, seconds]) => el("option", { value: seconds }, label)))),
    field("silence-comment", "Why (shown to whoever wonders why nobody was paged)", el("input", { name: "comment", maxlength: 1000 })),
    el("label", { for: "silence-weekly", class: "check" }, el("input", { id: "silence-weekly", type: "checkbox", name: "weekly" }), "A weekly maintenance window instead (until expired)"),
    el(
      "fieldset",
      { class: "window" },
      el("legend", {}, "Maintenance window"),
      el("div", { class: "days" }, DAYS.map((day) => el("label", { for: `day-${day}`, class: "check" }, el("input", { id: `day-${day}`, type: "checkbox", name: `day-${day}` }), day))),
      field("window-start", "Starts at (local time, HH:MM)", el("input", { name: "window_start", value: "02:00", pattern: "[0-2][0-9]:[0-5][0-9]" })),
      field("window-duration", "Lasts (30m, 2h, 1h30m)", el("input", { name: "window_duration", value: "2h" })),
      field("window-zone", "Time zone (IANA)", el("input", { name: "time_zone", value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" })),
    ),
    el("button", { type: "submit" }, "Silence"),
  );
  if (isKey() && !params.get("client_id")) {
    const own = await api("GET", "/api/v1/clients?limit=1");
    create.querySelector("[name=client_id]").value = own.items.length ? own.items[0].client_id : "";
  }
  showFor(route, el("p", {}, el("a", { href: "#/silences" }, "← Silences")), el("h1", {}, "New silence"), create);
}
