// Rules: the list with a search, a new rule, and a rule's page (edit with its version,
// enable, disable, delete) with its endpoints (add, enable, disable, delete).

import { api, badge, button, el, empty, field, form, isKey, routing, say, showFor, table } from "./lib.js";

const GRAMMAR =
  "`*` matches anything; any other value must equal the alert's exactly (a severity in any case).";
const SEVERITIES = ["*", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
const RULES_PAGE = 100;

function severitySelect(current) {
  return el(
    "select",
    { name: "severity" },
    SEVERITIES.map((s) => el("option", { value: s, selected: s === (current || "*") }, s)),
  );
}

function patternFields(rule) {
  return [
    field("rule-severity", "Severity", severitySelect(rule && rule.severity)),
    field("rule-source", "Source", el("input", { name: "source", required: true, value: rule ? rule.source : "*", "aria-describedby": "grammar" })),
    field("rule-name", "Name", el("input", { name: "name", required: true, value: rule ? rule.name : "*", "aria-describedby": "grammar" })),
  ];
}

export async function rules(params) {
  const route = routing.current;
  const search = (params.get("q") || "").toLowerCase();
  // Client and state are filtered by the API, page by page; the search, within a page.
  const query = new URLSearchParams({ limit: RULES_PAGE, offset: params.get("offset") || 0 });
  for (const name of ["client_id", "enabled"]) if (params.get(name)) query.set(name, params.get(name));
  const page = await api("GET", `/api/v1/rules?${query}`);
  const shown = page.items.filter((r) =>
    `${r.client_id} ${r.severity} ${r.source} ${r.name}`.toLowerCase().includes(search),
  );
  const searchForm = el(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const chosen = new URLSearchParams();
        for (const [name, value] of new FormData(event.target)) if (value) chosen.set(name, value);
        location.hash = `#/rules?${chosen}`;
      },
    },
    isKey() ? "" : field("rule-filter-client", "Only client", el("input", { name: "client_id", value: params.get("client_id") || "" })),
    field(
      "rule-filter-enabled",
      "Enabled",
      el(
        "select",
        { name: "enabled" },
        [["", "any"], ["true", "yes"], ["false", "no"]].map(([value, label]) =>
          el("option", { value, selected: (params.get("enabled") || "") === value }, label),
        ),
      ),
    ),
    field("rule-search", "Search", el("input", { name: "q", value: params.get("q") || "" })),
    el("button", { type: "submit" }, "Search"),
  );
  const go = (offset) => {
    const next = new URLSearchParams(params);
    next.set("offset", Math.max(0, offset));
    return `#/rules?${next}`;
  };
  const pager = el(
    "div",
    { class: "pager" },
    page.offset > 0 ? el("a", { href: go(page.offset - page.limit) }, "Previous") : "",
    page.total ? el("span", {}, `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`) : "",
    page.offset + page.items.length < page.total ? el("a", { href: go(page.offset + page.limit) }, "Next") : "",
  );
  const create = form(
    { class: "inline", "aria-label": "New rule" },
    async (values) => {
      const rule = await api("POST", "/api/v1/rules", {
        client_id: values.client_id,
        severity: values.severity,
        source: values.source,
        name: values.name,
      });
      location.hash = `#/rules/${rule.rule_id}`;
    },
    field("rule-client", "Client", el("input", { name: "client_id", required: true, value: params.get("client_id") || "" })),
    patternFields(null),
    el("button", { type: "submit" }, "Create rule"),
  );
  if (isKey()) {
    // A key's own client: filled in, and not to be changed.
    const own = await api("GET", "/api/v1/clients?limit=1");
    const input = create.querySelector("[name=client_id]");
    input.value = own.items.length ? own.items[0].client_id : "";
    input.readOnly = true;
  }
  showFor(route, 
    el("h1", {}, "Rules"),
    searchForm,
    shown.length
      ? table(
          "Rules",
          ["Client", "Severity", "Source", "Name", "Enabled", "Version"],
          shown.map((r) => [
            r.client_id,
            r.severity,
            el("td", { class: "wrap" }, el("a", { href: `#/rules/${r.rule_id}` }, r.source)),
            el("td", { class: "wrap" }, r.name),
            r.enabled ? "yes" : "no",
            r.version,
          ]),
        )
      : empty(
          search || params.get("client_id") || params.get("enabled")
            ? "No rule here matches (the search looks within this page of rules)."
            : "No rules yet: create one below. A rule says which alerts a client wants.",
        ),
    pager,
    el("h2", {}, "New rule"),
    el("p", { id: "grammar", class: "who" }, GRAMMAR),
    create,
  );
}

/** An endpoint's page: change its type, address, secret, or whether it is enabled. */
export async function endpoint(id) {
  const route = routing.current;
  const e = await api("GET", `/api/v1/endpoints/${encodeURIComponent(id)}`);
  const change = form(
    { class: "stack", "aria-label": "Edit endpoint" },
    async (values, target) => {
      const body = { type: values.type, value: values.value, enabled: target.enabled.checked };
      if (target.remove_secret.checked) body.secret = null;
      else if (values.secret) body.secret = values.secret;
      await api("PATCH", `/api/v1/endpoints/${encodeURIComponent(id)}`, body);
      say("Endpoint saved");
      location.hash = `#/rules/${e.rule_id}`;
    },
    field("endpoint-type", "Type", el("select", { name: "type" }, ["webhook", "slack", "email"].map((t) => el("option", { value: t, selected: t === e.type }, t)))),
    field("endpoint-value", "URL or address", el("input", { name: "value", required: true, value: e.value })),
    field(
      "endpoint-secret",
      e.has_secret ? "New signing secret (empty: keep the current one)" : "Signing secret (webhooks, optional)",
      el("input", { name: "secret", type: "password", autocomplete: "off", minlength: 16 }),
    ),
    el("label", { for: "endpoint-remove-secret", class: "check" }, el("input", { id: "endpoint-remove-secret", type: "checkbox", name: "remove_secret", disabled: !e.has_secret }), "Remove the secret (deliveries go unsigned)"),
    el("label", { for: "endpoint-enabled", class: "check" }, el("input", { id: "endpoint-enabled", type: "checkbox", name: "enabled", checked: e.enabled }), "Enabled"),
    el("button", { type: "submit" }, "Save endpoint"),
  );
  showFor(route, el("p", {}, el("a", { href: `#/rules/${e.rule_id}` }, "← The rule")), el("h1", {}, "Endpoint"), change);
}

export async function rule(id) {
  const route = routing.current;
  const r = await api("GET", `/api/v1/rules/${encodeURIComponent(id)}`);
  const endpoints = await api("GET", `/api/v1/rules/${encodeURIComponent(id)}/endpoints?limit=200`);
  const reload = () => rule(id);
  const edit = form(
    { class: "inline", "aria-label": "Edit rule" },
    async (values, target) => {
      await api("PATCH", `/api/v1/rules/${encodeURIComponent(id)}`, {
        version: r.version,
        severity: values.severity,
        source: values.source,
        name: values.name,
        enabled: target.enabled.checked,
      });
      say("Rule saved");
      await reload();
    },
    patternFields(r),
    el("label", { for: "rule-enabled", class: "check" }, el("input", { id: "rule-enabled", type: "checkbox", name: "enabled", checked: r.enabled }), "Enabled"),
    el("button", { type: "submit" }, "Save"),
  );
  const addEndpoint = form(
    { class: "inline", "aria-label": "Add endpoint" },
    async (values) => {
      const body = { type: values.type, value: values.value };
      if (values.secret) body.secret = values.secret;
      await api("POST", `/api/v1/rules/${encodeURIComponent(id)}/endpoints`, body);
      say("Endpoint added");
      await reload();
    },
    field("endpoint-type", "Type", el("select", { name: "type" }, ["webhook", "slack", "email"].map((t) => el("option", { value: t }, t)))),
    field("endpoint-value", "URL or address", el("input", { name: "value", required: true })),
    field("endpoint-secret", "Signing secret (webhooks, optional)", el("input", { name: "secret", type: "password", autocomplete: "off", minlength: 16 })),
    el("button", { type: "submit" }, "Add endpoint"),
  );
  const tested = el("p", { id: "test-result", role: "status" });
  const endpointRows = endpoints.items.map((e) => [
    e.type,
    el("td", { class: "wrap" }, el("a", { href: `#/endpoints/${e.endpoint_id}` }, e.value)),
    badge(e.enabled ? "enabled" : "disabled"),
    el(
      "td",
      {},
      button("Send test", async () => {
        tested.textContent = `Sending a test to ${e.value}…`;
        const r = await api("POST", `/api/v1/endpoints/${e.endpoint_id}/test`);
        tested.textContent = r.delivered
          ? `Test to ${e.value}: delivered${r.http_status ? ` (HTTP ${r.http_status})` : ""} in ${r.duration_ms} ms.`
          : `Test to ${e.value}: not delivered${r.http_status ? ` (HTTP ${r.http_status})` : ""}: ${r.error}`;
      }, { class: "secondary", "aria-label": `Send test to ${e.value}` }),
      " ",
      button(e.enabled ? "Disable" : "Enable", async () => {
        await api("PATCH", `/api/v1/endpoints/${e.endpoint_id}`, { enabled: !e.enabled });
        await reload();
      }, { class: "secondary", "aria-label": `${e.enabled ? "Disable" : "Enable"} ${e.value}` }),
      " ",
      button("Delete", async () => {
        await api("DELETE", `/api/v1/endpoints/${e.endpoint_id}`);
        await reload();
      }, { class: "secondary", "aria-label": `Delete ${e.value}` }, `Delete the endpoint ${e.value}?`),
    ),
  ]);
  showFor(route, 
    el("p", {}, el("a", { href: "#/rules" }, "← Rules")),
    el("h1", {}, `Rule of ${r.client_id}`),
    el("p", { class: "who" }, `Version ${r.version}. `, el("span", { id: "grammar" }, GRAMMAR)),
    edit,
    el(
      "div",
      { class: "actions" },
      button("Delete rule", async () => {
        await api("DELETE", `/api/v1/rules/${encodeURIComponent(id)}`);
        location.hash = "#/rules";
      }, { class: "secondary" }, "Delete this rule and its endpoints?"),
    ),
    el("h2", {}, "Endpoints"),
    tested,
    endpointRows.length
      ? table("The rule's endpoints", ["Type", "Target", "State", "Actions"], endpointRows)
      : empty("No endpoints: the rule's notifications go nowhere yet. Add a webhook, a Slack webhook or an email address below."),
    addEndpoint,
  );
}
