// The overview: the last hour in 5-minute bars (notifications made, by how delivery
// went), and what is open, acknowledged and failing now, each a link to the list. The
// same numbers as a table under the chart, for screen readers and for reading.

import { api, el, empty, refreshed, routing, say, showFor, table } from "./lib.js";

const REFRESH_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";
/** Statuses in the order they are stacked, with their colours. */
const STATUSES = [
  ["SENT", "#1b7a3a"],
  ["PARTIAL", "#d08a00"],
  ["FAILED", "#b3261e"],
  ["NO_ENDPOINTS", "#6b7280"],
  ["SILENCED", "#9aa3b2"],
  ["PENDING", "#1f5fbf"],
];

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function time(value) {
  return new Date(value).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function chart(buckets) {
  const totals = buckets.map((b) => Object.values(b.notifications).reduce((a, n) => a + n, 0));
  const most = Math.max(1, ...totals);
  const [width, height, bar] = [720, 200, 720 / buckets.length];
  const total = totals.reduce((a, n) => a + n, 0);
  const figure = svg("svg", {
    viewBox: `0 0 ${width} ${height + 24}`,
    role: "img",
    "aria-label": `${total} notifications in the last hour, at most ${most} in five minutes`,
    class: "chart",
  });
  buckets.forEach((b, i) => {
    let top = height;
    for (const [status, colour] of STATUSES) {
      const n = b.notifications[status] || 0;
      if (!n) continue;
      const h = (n / most) * (height - 10);
      top -= h;
      figure.append(svg("rect", { x: i * bar + 4, y: top, width: bar - 8, height: h, fill: colour }));
    }
    if (i % 3 === 0) {
      const label = svg("text", { x: i * bar + 4, y: height + 18, "font-size": 12, fill: "#5b6475" });
      label.textContent = time(b.start);
      figure.append(label);
    }
  });
  return figure;
}

/** One value per minute over the hour (`pick`), as bars; `label` describes them. */
function perMinute(minutes, pick, label, colour) {
  const most = Math.max(1, ...minutes.map(pick));
  const [width, height] = [720, 80];
  const bar = width / Math.max(60, minutes.length);
  const figure = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label(most),
    class: "chart",
  });
  // Now at the right edge, however little of the hour has been read yet.
  const offset = Math.max(60, minutes.length) - minutes.length;
  minutes.forEach((m, i) => {
    const h = (pick(m) / most) * (height - 6);
    figure.append(svg("rect", { x: (offset + i) * bar + 1, y: height - h, width: Math.max(1, bar - 2), height: h, fill: colour }));
  });
  return figure;
}

/** The pipeline's own counters, when this process runs it (embedded mode). */
function pipeline(process) {
  if (!process) return "";
  if (!process.whole_platform) {
    return el(
      "p",
      { class: "empty" },
      "This rule-service runs apart from the pipeline: alerts in, failed deliveries, endpoints marked down, dead letters and consumer lag are each service's own (its /metrics, and CloudWatch).",
    );
  }
  const t = process.totals;
  const lag = Object.entries(process.consumer_lag)
    .map(([consumer, n]) => `${consumer} ${n}`)
    .join(", ");
  return el(
    "section",
    { "aria-label": "The pipeline" },
    el("h2", {}, "The pipeline, in the last hour"),
    el(
      "div",
      { class: "cards" },
      [
        ["alerts in", t.alerts_in],
        ["deliveries failed", t.deliveries_failed],
        ["endpoints marked down", t.endpoints_marked_down],
        ["messages dead-lettered", t.dead_lettered],
      ].map(([label, value]) => el("div", { class: "card" }, el("span", { class: "figure" }, value), el("span", {}, label))),
    ),
    el("p", {}, `Waiting for each consumer now: ${lag}.`),
    process.minutes.length
      ? [
          el("h3", {}, "Alerts in, per minute"),
          perMinute(process.minutes, (m) => m.alerts_in, (most) => `${t.alerts_in} alerts in over the last hour, at most ${most} in a minute`, "#1f5fbf"),
          el("h3", {}, "Messages waiting for the consumers, at each minute's end"),
          perMinute(process.minutes, (m) => m.waiting, (most) => `Messages waiting for the consumers over the last hour: at most ${most}`, "#8a5a00"),
        ]
      : "",
  );
}

function legend() {
  return el(
    "p",
    { class: "legend" },
    STATUSES.map(([status, colour]) => [
      el("span", { class: `swatch swatch-${status}`, "aria-hidden": "true" }),
      `${status} `,
    ]),
  );
}

function figures(o) {
  const card = (label, value, href) => el("a", { class: "card", href }, el("span", { class: "figure" }, value), el("span", {}, label));
  return el(
    "div",
    { class: "cards" },
    card("open now", o.open, "#/notifications?state=open"),
    card("acknowledged, not resolved", o.acknowledged, "#/notifications?state=acknowledged"),
    card("failed in the last hour", o.failed, "#/notifications?status=FAILED&within=1h"),
    card("partly failed in the last hour", o.partial, "#/notifications?status=PARTIAL&within=1h"),
  );
}

export async function overview() {
  const route = routing.current;
  const body = el("div", {});
  showFor(route, el("h1", {}, "Overview"), body);
  let shown = null;
  const refresh = async () => {
    const o = await api("GET", "/api/v1/overview");
    refreshed();
    const seen = JSON.stringify(o);
    if (seen === shown) return;
    shown = seen;
    const rows = o.buckets
      .filter((b) => Object.keys(b.notifications).length)
      .map((b) => [time(b.start), STATUSES.map(([s]) => b.notifications[s] || 0)]);
    body.replaceChildren(
      figures(o),
      pipeline(o.process),
      el("h2", {}, `Notifications in the last hour, per ${o.bucket_minutes} minutes`),
      chart(o.buckets),
      legend(),
      rows.length
        ? table("Notifications per five minutes, by status", ["From", ...STATUSES.map(([s]) => s)], rows)
        : empty("No notifications in the last hour. Alerts that match a rule make them; the pipeline's own counters (alerts in, consumer lag) are each service's /metrics."),
    );
  };
  await refresh();
  const timer = setInterval(() => refresh().catch((error) => say(error.message)), REFRESH_MS);
  return () => clearInterval(timer);
}
