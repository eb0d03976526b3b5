// Clients and their API keys (the admin token only): create, rename, delete a client;
// make a key (shown once, with a copy button) and revoke one.

import { api, button, el, empty, field, form, routing, say, showFor, table, when } from "./lib.js";

export async function clients() {
  const route = routing.current;
  const page = await api("GET", "/api/v1/clients?limit=200");
  const create = form(
    { class: "inline", "aria-label": "New client" },
    async (values) => {
      await api("POST", "/api/v1/clients", Object.assign({ client_id: values.client_id }, values.name ? { name: values.name } : {}));
      say(`Client ${values.client_id} created`);
      await clients();
    },
    field("new-client-id", "Client id", el("input", { name: "client_id", required: true, pattern: "[A-Za-z0-9._\\-]{1,64}" })),
    field("new-client-name", "Name", el("input", { name: "name" })),
    el("button", { type: "submit" }, "Create client"),
  );
  showFor(route, 
    el("h1", {}, "Clients"),
    create,
    page.items.length
      ? table(
          "Clients",
          ["Client", "Name", "Created", ""],
          page.items.map((c) => [
            el("a", { href: `#/clients/${encodeURIComponent(c.client_id)}` }, c.client_id),
            c.name || "",
            when(c.created_at),
            el("a", { href: `#/notifications?client_id=${encodeURIComponent(c.client_id)}` }, "Notifications"),
          ]),
        )
      : empty("No clients yet: create the first one above."),
  );
}

export async function client(id) {
  const route = routing.current;
  const c = await api("GET", `/api/v1/clients/${encodeURIComponent(id)}`);
  const keys = await api("GET", `/api/v1/clients/${encodeURIComponent(id)}/keys?limit=200`);
  const reload = () => client(id);
  const made = el("div", { "aria-live": "polite" });
  const rename = form(
    { class: "inline", "aria-label": "Rename" },
    async (values) => {
      await api("PATCH", `/api/v1/clients/${encodeURIComponent(id)}`, { name: values.name || null });
      say("Renamed");
      await reload();
    },
    field("client-name", "Name", el("input", { name: "name", value: c.name || "" })),
    el("button", { type: "submit" }, "Rename"),
  );
  const newKey = form(
    { class: "inline", "aria-label": "New API key" },
    async (values) => {
      const scopes = ["manage", "ingest"].filter((s) => values[s]);
      const key = await api("POST", `/api/v1/clients/${encodeURIComponent(id)}/keys`, {
        name: values.key_name || undefined,
        scopes,
      });
      const secret = el("code", { id: "new-key" }, key.key);
      made.replaceChildren(
        el(
          "p",
          { class: "made" },
          "The key, shown this once: ",
          secret,
          " ",
          button("Copy", async () => {
            if (navigator.clipboard) return navigator.clipboard.writeText(key.key);
            // No clipboard outside HTTPS (and localhost): the key selected, for Ctrl+C.
            getSelection().selectAllChildren(secret);
            say("Selected: copy it with Ctrl+C (the browser allows the clipboard on HTTPS only)");
          }, { class: "secondary" }),
        ),
      );
    },
    field("key-name", "Key name", el("input", { name: "key_name" })),
    el("label", { for: "key-manage", class: "check" }, el("input", { id: "key-manage", type: "checkbox", name: "manage", checked: true }), "manage"),
    el("label", { for: "key-ingest", class: "check" }, el("input", { id: "key-ingest", type: "checkbox", name: "ingest" }), "ingest"),
    el("button", { type: "submit" }, "Make key"),
  );
  showFor(route, 
    el("p", {}, el("a", { href: "#/clients" }, "← Clients")),
    el("h1", {}, `Client ${c.client_id}`),
    rename,
    el("h2", {}, "API keys"),
    keys.items.length
      ? table(
          "The client's API keys",
          ["Name", "Scopes", "Created", "Revoked", ""],
          keys.items.map((k) => [
            k.name || k.prefix || k.key_id,
            (k.scopes || []).join(", "),
            when(k.created_at),
            when(k.revoked_at) || "no",
            k.revoked_at
              ? ""
              : button("Revoke", async () => {
                  await api("DELETE", `/api/v1/clients/${encodeURIComponent(id)}/keys/${k.key_id}`);
                  await reload();
                }, { class: "secondary", "aria-label": `Revoke ${k.name || k.key_id}` }, `Revoke the key ${k.name || k.prefix}? Whatever uses it stops working.`),
          ]),
        )
      : empty("No keys yet: make one for a producer (ingest) or for a person (manage)."),
    newKey,
    made,
    el("h2", {}, "Delete"),
    el("p", {}, "Deleting the client deletes its rules, endpoints and notifications."),
    button("Delete client", async () => {
      await api("DELETE", `/api/v1/clients/${encodeURIComponent(id)}`);
      location.hash = "#/clients";
    }, { class: "danger" }, `Delete ${c.client_id} with all its rules, endpoints and notifications?`),
  );
}
