// errata console and tenant portal: one single-page app, plain JavaScript, no build step.
//
// The console (admin listener, `/`) and a tenant's portal (`/portal/...`) are the same pages;
// only the API they call and how they authenticate differ (see `MODE`). Routes live in the
// location hash (`#/keys`, `#/usage`, `#/requests/ID`, `#/errors`), so no secret ever sits in a
// URL: the admin token and the portal's session token travel only in headers. The console alone
// has the all-tenants overview (`/console/overview`).
"use strict";

(() => {
  const PORTAL = location.pathname === "/portal" || location.pathname.startsWith("/portal/");
  const MODE = PORTAL
    ? { name: "Tenant portal", api: "/portal/api", storageKey: "errata.portal.token" }
    : { name: "Console", api: "" };

  // ---------- small helpers ----------

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** Builds an element: h("div.a.b", {attr}, children...). Styles go through the CSSOM. */
  function h(tag, attrs, ...children) {
    const [name, ...classes] = tag.split(".");
    const el = document.createElement(name || "div");
    if (classes.length) el.className = classes.join(" ");
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "style") el.style.cssText = v;
      else if (k === "class") el.className = [el.className, v].filter(Boolean).join(" ");
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const iso = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  const fmtTime = (secs) => (secs == null ? "—" : iso(secs * 1000));
  /** "just now", "5 min ago", "3 h ago", "2 days ago". */
  function ago(secs) {
    const d = Math.max(0, Date.now() / 1000 - secs);
    if (d < 60) return "just now";
    if (d < 3600) return `${Math.floor(d / 60)} min ago`;
    if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
    const days = Math.floor(d / 86400);
    return `${days} day${days === 1 ? "" : "s"} ago`;
  }
  const fmtNum = (n) => (n == null ? "—" : Number(n).toLocaleString("en-US"));

  function toast(text) {
    const t = h("div.toast", { role: "status" }, text);
    document.body.append(t);
    setTimeout(() => t.remove(), 2500);
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  // ---------- navigation: paths under /console in the console, the hash in the portal ----------

  /** The address of a page ("keys", "usage?key_id=...") for a link. */
  const href = (page) => (PORTAL ? `#/${page}` : `/console/${page}`);

  function current() {
    const raw = PORTAL
      ? location.hash.replace(/^#\/?/, "")
      : location.pathname.replace(/^\/(console\/?)?/, "") + location.search;
    const [path, qs] = raw.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    return { parts, params: new URLSearchParams(qs || "") };
  }

  function go(page) {
    if (PORTAL) {
      if (location.hash === `#/${page}`) route();
      else location.hash = `/${page}`;
    } else {
      history.pushState(null, "", `/console/${page}`);
      route();
    }
  }

  // Links inside the app move without reloading the page.
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest && ev.target.closest("a[data-nav]");
    if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    go(a.dataset.nav);
  });
  const link = (page, attrs, ...children) => h("a", { ...attrs, href: href(page), "data-nav": page }, ...children);

  // ---------- the API ----------

  /** An API failure, read from the catalog's envelope: its message, code and request id. */
  class ApiFailure extends Error {
    constructor(status, body, headers) {
      const e = (body && typeof body === "object" && (body.error || body)) || {};
      const message = e.message || e.detail || `The server answered ${status}.`;
      super(message);
      this.status = status;
      this.code = e.code || e.type;
      this.details = e.details || e.errors;
      this.requestId = e.request_id || headers.get("x-request-id") || headers.get("request-id");
    }
  }

  const auth = {
    /** The console's CSRF token (from GET /session), kept in memory only. */
    csrf: null,
    /** The portal's session token, from the portal link's fragment. */
    token: null,
    loadPortalToken() {
      const frag = new URLSearchParams(location.hash.replace(/^#\/?/, ""));
      const fromLink = frag.get("token");
      if (fromLink) {
        sessionStorage.setItem(MODE.storageKey, fromLink);
        // Out of the address bar (and the history) at once.
        history.replaceState(null, "", "/portal#/keys");
      }
      this.token = sessionStorage.getItem(MODE.storageKey);
    },
  };

  async function api(method, path, body) {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (PORTAL && auth.token) headers.authorization = `Bearer ${auth.token}`;
    if (!PORTAL && method !== "GET" && auth.csrf) headers["x-csrf-token"] = auth.csrf;
    const res = await fetch(MODE.api + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = text;
    }
    if (!res.ok) {
      const failure = new ApiFailure(res.status, data, res.headers);
      const signedOut = res.status === 401 || (!PORTAL && res.status === 403);
      if (signedOut && path !== "/session") {
        if (PORTAL) $("#app").replaceChildren(portalGone(failure));
        else showSignIn(failure);
        failure.handled = true;
      }
      throw failure;
    }
    return data;
  }

  function alertBox(err) {
    if (!(err instanceof ApiFailure)) return h("div.alert", { role: "alert" }, String((err && err.message) || err));
    const details = Array.isArray(err.details) ? err.details : [];
    const where = (d) => {
      const p = d.path || d.field;
      return Array.isArray(p) ? p.join(".") : p;
    };
    return h(
      "div.alert",
      { role: "alert", "data-code": err.code || "" },
      h("div", {}, err.code ? h("span.code", {}, err.code, " · ") : null, h("span.message", {}, err.message)),
      details.length
        ? h("ul", {}, details.map((d) => h("li", {}, where(d) ? h("strong", {}, where(d), ": ") : null, d.message || JSON.stringify(d))))
        : null,
      err.requestId ? h("div.rid", {}, "Request id: ", h("span.request-id", {}, err.requestId)) : null
    );
  }

  // ---------- shell and routing ----------

  const PAGES = [
    ["keys", "API keys"],
    ...(PORTAL ? [] : [["overview", "Overview"]]),
    ["usage", "Usage"],
    ["requests", "Request lookup"],
    ["errors", "Error reference"],
  ];

  /** Who is signed in: the portal's tenant, or the console's session. */
  let whoami = null;
  /** Plans for the dropdowns (console only). */
  let plans = null;

  let charts = [];
  function dropCharts() {
    charts.forEach((c) => c.destroy());
    charts = [];
  }

  function brand(sub) {
    return h("div.brand", {}, h("div.logo", {}, "e"), h("div", {}, h("div.name", {}, "errata"), h("div.sub", {}, sub)));
  }

  function shell(active, ...content) {
    dropCharts();
    document.title = `${(PAGES.find(([id]) => id === active) || [, "errata"])[1]} · errata ${MODE.name.toLowerCase()}`;
    $("#app").replaceChildren(
      h(
        "div.shell",
        {},
        h(
          "aside.sidebar",
          {},
          brand(MODE.name),
          h(
            "nav.nav",
            {},
            PAGES.map(([id, label]) => link(id, { class: id === active ? "active" : null, "data-page": id }, label))
          ),
          h(
            "div.foot",
            {},
            PORTAL
              ? h("div", {}, "Tenant ", h("strong", { id: "tenant-name" }, whoami && whoami.tenant))
              : h("div", {}, "Signed in as administrator"),
            whoami && whoami.expires_at ? h("div", {}, "Session ends ", fmtTime(whoami.expires_at).slice(11, 16), " UTC") : null,
            h("button", { id: "sign-out", type: "button", onclick: signOut }, "Sign out")
          )
        ),
        h("main.main", { id: "page" }, content)
      )
    );
    return $("#page");
  }

  function pageHead(title, hint, ...extra) {
    return h("div.page-head", {}, h("h1", {}, title), hint ? h("span.hint", {}, hint) : null, h("div.spacer"), extra);
  }

  /** Thrown when a page finished loading after the user had already moved to another. */
  const STALE = { handled: true };

  let routing = 0;
  async function route() {
    const ticket = ++routing;
    const { parts, params } = current();
    const page = parts[0] || "keys";
    // A page draws only if it is still the one asked for: a slow answer never covers a newer page.
    const view = (active, ...content) => {
      if (ticket !== routing) throw STALE;
      return shell(active, ...content);
    };
    try {
      if (page === "keys") await keysPage(view, params);
      else if (page === "overview" && !PORTAL) await overviewPage(view, params);
      else if (page === "usage") await usagePage(view, params);
      else if (page === "requests") await requestsPage(view, parts[1], params);
      else if (page === "errors") await errorsPage(view, params);
      else return go("keys");
    } catch (e) {
      if (e && e.handled) return;
      if (ticket !== routing) return;
      shell(page, pageHead("Something went wrong"), alertBox(e));
    }
  }

  // ---------- sign-in (console) and the portal's session ----------

  function showSignIn(failure) {
    dropCharts();
    auth.csrf = null;
    document.title = "Sign in · errata console";
    const failed = !failure && new URLSearchParams(location.search).get("signin") === "failed";
    const form = h(
      "form",
      { id: "sign-in", method: "post", action: "/session", onsubmit: signIn },
      failure ? alertBox(failure) : null,
      failed ? h("div.alert", { role: "alert" }, "That token was not accepted.") : null,
      h(
        "label",
        {},
        "Admin token",
        h("input", { type: "password", name: "token", id: "token", autocomplete: "current-password", required: true })
      ),
      h("button.primary", { type: "submit", id: "sign-in-button" }, "Sign in")
    );
    $("#app").replaceChildren(
      h(
        "div.signin",
        {},
        h(
          "div.card",
          {},
          brand("Console"),
          h("p.muted", {}, "Sign in with the gateway's admin token. The session lasts 12 hours; the token is never kept by the page."),
          form
        )
      )
    );
    $("#token").focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const input = $("#token");
    const token = input.value;
    input.value = "";
    try {
      whoami = await api("POST", "/session", { token });
      auth.csrf = whoami.csrf;
      if (!location.pathname.startsWith("/console/")) history.replaceState(null, "", "/console/keys");
      route();
    } catch (e) {
      showSignIn(e);
    }
  }

  async function signOut() {
    if (PORTAL) {
      sessionStorage.removeItem(MODE.storageKey);
      auth.token = null;
      dropCharts();
      $("#app").replaceChildren(portalGone());
      return;
    }
    try {
      await api("DELETE", "/session");
    } catch (_) {
      // Signed out either way.
    }
    history.replaceState(null, "", "/");
    showSignIn();
  }

  function portalGone(failure) {
    dropCharts();
    return h(
      "div.signin",
      {},
      h(
        "div.card",
        { id: "portal-signed-out" },
        brand("Tenant portal"),
        failure ? alertBox(failure) : null,
        h("p.muted", {}, failure ? "Ask your provider for a new portal link." : "You are signed out. Open the portal link you were given to sign in again.")
      )
    );
  }

  // ---------- keys ----------

  const STATUS_PILL = { active: "ok", revoked: "bad", expired: "warn" };

  function keyStatus(k) {
    if (k.status) return k.status;
    if (k.revoked_at) return "revoked";
    if (k.expires_at && k.expires_at <= Date.now() / 1000) return "expired";
    return "active";
  }

  async function loadPlans() {
    if (PORTAL) return [];
    if (!plans) {
      const res = await api("GET", "/plans").catch(() => ({ data: [] }));
      plans = (res.data || []).map((p) => p.name);
    }
    return plans;
  }

  async function keysPage(view, params) {
    const filter = {
      tenant: PORTAL ? "" : params.get("tenant") || "",
      status: params.get("status") || "",
      plan: params.get("plan") || "",
    };
    const [list, planNames] = await Promise.all([api("GET", "/keys" + query(filter)), loadPlans()]);
    const keys = (list && list.data) || [];
    const known = [...new Set([...planNames, ...keys.map((k) => k.plan), filter.plan].filter(Boolean))];
    const apply = (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      go("keys" + query({ tenant: f.get("tenant"), status: f.get("status"), plan: f.get("plan") }));
    };
    const filters = h(
      "form.panel.filters",
      { id: "key-filters", onsubmit: apply },
      PORTAL ? null : h("label", {}, "Tenant", h("input", { name: "tenant", value: filter.tenant, placeholder: "any tenant" })),
      h(
        "label",
        {},
        "Status",
        h(
          "select",
          { name: "status" },
          ["", "active", "revoked", "expired"].map((s) => h("option", { value: s, selected: s === filter.status }, s || "any status"))
        )
      ),
      h(
        "label",
        {},
        "Plan",
        h(
          "select",
          { name: "plan" },
          h("option", { value: "" }, "any plan"),
          known.map((p) => h("option", { value: p, selected: p === filter.plan }, p))
        )
      ),
      h("button", { type: "submit" }, "Filter")
    );
    const filtered = filter.tenant || filter.status || filter.plan;
    const table = keys.length
      ? h(
          "table",
          { id: "keys" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Key", PORTAL ? null : "Tenant", "Plan", "Scopes", "Status", "Last used", ""]
                .filter((x) => x !== null)
                .map((c) => h("th", {}, c))
            )
          ),
          h("tbody", {}, keys.map(keyRow))
        )
      : h(
          "div.empty",
          { id: "no-keys" },
          h("strong", {}, filtered ? "No key matches" : "No keys yet"),
          filtered ? "Change or clear the filters." : "Create a key to let a client call the API through the gateway."
        );
    view(
      "keys",
      pageHead(
        "API keys",
        PORTAL ? `Keys of ${whoami.tenant}` : `${keys.length} key${keys.length === 1 ? "" : "s"}`,
        h("button.primary", { id: "new-key", type: "button", onclick: () => keyDialog(null, known) }, "Create key")
      ),
      filters,
      h("div.panel.flush", {}, table)
    );
  }

  function keyRow(k) {
    const status = keyStatus(k);
    const editable = status !== "revoked";
    return h(
      "tr",
      { "data-key": k.id, "data-tenant": k.tenant },
      h("td", {}, h("strong", {}, k.name), h("div.muted.mono", {}, k.id)),
      h("td", {}, h("span.mono", {}, k.hint.endsWith("…") ? k.hint : `${k.hint}…`), " ", h(`span.pill.${k.environment === "live" ? "info" : ""}`, {}, k.environment)),
      PORTAL ? null : h("td", {}, link("keys" + query({ tenant: k.tenant }), {}, k.tenant)),
      h("td", {}, k.plan),
      h("td", {}, k.scopes.length ? k.scopes.map((s) => h("span.tag", {}, s)) : h("span.muted", {}, "none")),
      h(
        "td",
        {},
        h(`span.pill.${STATUS_PILL[status] || ""}`, { "data-status": status }, status),
        k.replaced_by ? h("div.muted", {}, "rotated") : null
      ),
      h("td.nowrap", {}, k.last_used_at ? h("span", { title: fmtTime(k.last_used_at) }, ago(k.last_used_at)) : h("span.muted", {}, "never")),
      h(
        "td",
        {},
        h(
          "div.actions",
          {},
          link("usage" + query({ key_id: k.id }), { class: "button small", "data-action": "usage" }, "Usage"),
          editable ? h("button.small", { type: "button", "data-action": "edit", onclick: () => keyDialog(k, null) }, "Edit") : null,
          status === "active" ? h("button.small", { type: "button", "data-action": "rotate", onclick: () => rotateKey(k) }, "Rotate") : null,
          editable ? h("button.small.danger", { type: "button", "data-action": "revoke", onclick: () => revokeKey(k) }, "Revoke") : null
        )
      )
    );
  }

  function dialog(title, body, buttons) {
    const d = h(
      "dialog",
      { id: "dialog" },
      h("div.head", {}, h("h2", {}, title)),
      h("div.body", {}, body),
      h("div.foot", {}, buttons)
    );
    d.addEventListener("close", () => d.remove());
    document.body.append(d);
    d.showModal();
    return d;
  }

  const words = (s) =>
    String(s || "")
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean);

  /** `datetime-local` value (UTC) of Unix seconds, and back. */
  const toInput = (secs) => (secs ? new Date(secs * 1000).toISOString().slice(0, 16) : "");
  const fromInput = (v) => (v ? Math.floor(Date.parse(`${v}:00Z`) / 1000) : null);

  /** The create (k = null) or edit dialog. */
  function keyDialog(k, knownPlans) {
    const editing = !!k;
    const limits = (k && k.limits) || {};
    const planNames = [...new Set([...(knownPlans || plans || []), k && k.plan].filter(Boolean))];
    const errorSlot = h("div");
    const field = (label, input, wide) => h(wide ? "label.wide" : "label", {}, label, input);
    const form = h(
      "form.form-grid",
      { id: "key-form" },
      !editing && !PORTAL ? field("Tenant", h("input", { name: "tenant", required: true, placeholder: "acme" })) : null,
      field("Name", h("input", { name: "name", required: true, value: k ? k.name : "", placeholder: "Production server" })),
      !editing
        ? field("Environment", h("select", { name: "environment" }, h("option", { value: "live" }, "live"), h("option", { value: "test" }, "test")))
        : null,
      !PORTAL
        ? field(
            "Plan",
            h(
              "select",
              { name: "plan" },
              editing ? null : h("option", { value: "" }, "default plan"),
              planNames.map((p) => h("option", { value: p, selected: k && p === k.plan }, p))
            )
          )
        : null,
      field("Expires (UTC, empty: never)", h("input", { type: "datetime-local", name: "expires_at", value: toInput(k && k.expires_at) })),
      field("Scopes (space or comma separated)", h("input", { name: "scopes", value: k ? k.scopes.join(" ") : "", placeholder: "reports:read reports:write" }), true),
      field(
        "IP allowlist (CIDR, one per line; empty allows any address)",
        h("textarea", { name: "ip_allowlist", placeholder: "203.0.113.0/24" }, k ? k.ip_allowlist.join("\n") : ""),
        true
      ),
      PORTAL
        ? null
        : h(
            "fieldset.wide",
            {},
            h("legend", {}, "Limits for this key (empty: the plan's)"),
            h(
              "div.form-grid.four",
              {},
              field("Rate (requests)", h("input", { type: "number", min: 1, name: "rate", value: limits.rate ?? "" })),
              field("Per seconds", h("input", { type: "number", min: 1, name: "per_seconds", value: limits.rate ? limits.per_seconds : "" })),
              field("Monthly quota", h("input", { type: "number", min: 1, name: "monthly_quota", value: limits.monthly_quota ?? "" })),
              field("Concurrency", h("input", { type: "number", min: 1, name: "concurrency", value: limits.concurrency ?? "" }))
            )
          )
    );
    const submit = h("button.primary", { id: "save-key", type: "button" }, editing ? "Save changes" : "Create key");
    const d = dialog(editing ? `Edit ${k.name}` : "Create an API key", [errorSlot, form], [
      h("button", { type: "button", onclick: () => d.close() }, "Cancel"),
      submit,
    ]);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit.click();
    });
    submit.addEventListener("click", async () => {
      if (!form.reportValidity()) return;
      const f = new FormData(form);
      const body = {
        name: f.get("name"),
        scopes: words(f.get("scopes")),
        ip_allowlist: words(f.get("ip_allowlist")),
        expires_at: fromInput(f.get("expires_at")),
      };
      if (!PORTAL) {
        const limitsOut = {};
        for (const n of ["rate", "per_seconds", "monthly_quota", "concurrency"]) {
          if (f.get(n)) limitsOut[n] = Number(f.get(n));
        }
        body.limits = Object.keys(limitsOut).length ? limitsOut : null;
        if (f.get("plan")) body.plan = f.get("plan");
      }
      submit.disabled = true;
      try {
        if (editing) {
          await api("PATCH", `/keys/${encodeURIComponent(k.id)}`, body);
          d.close();
          toast("Key updated");
          route();
        } else {
          body.environment = f.get("environment");
          if (!PORTAL) body.tenant = f.get("tenant");
          const issued = await api("POST", "/keys", body);
          d.close();
          showSecret(issued, "Key created");
        }
      } catch (e) {
        if (e && e.handled) return d.close();
        errorSlot.replaceChildren(alertBox(e));
        submit.disabled = false;
      }
    });
  }

  /** The plaintext of a new or rotated key, shown this once. */
  function showSecret(issued, title) {
    const secret = issued.secret;
    const copy = h("button", { id: "copy-secret", type: "button" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copy.textContent = "Copied";
      } catch (_) {
        // No clipboard permission (an insecure origin): select it for Ctrl+C instead.
        const r = document.createRange();
        r.selectNodeContents($("#secret"));
        getSelection().removeAllRanges();
        getSelection().addRange(r);
        copy.textContent = "Selected: press Ctrl+C";
      }
    });
    const d = dialog(
      title,
      [
        h("p", {}, "Key ", h("strong", {}, issued.key.name), " (", h("span.mono", {}, issued.key.id), ") for tenant ", h("strong", {}, issued.key.tenant), "."),
        h("div.secret", {}, h("code", { id: "secret" }, secret), copy),
        h("div.callout", {}, "This is the only time the key is shown. Store it now: errata keeps only its hash."),
      ],
      [h("button.primary", { id: "secret-done", type: "button", onclick: () => d.close() }, "Done")]
    );
    d.addEventListener("close", () => route());
  }

  function confirmDialog(title, text, label, danger) {
    return new Promise((resolve) => {
      let ok = false;
      const yes = h(danger ? "button.danger" : "button.primary", { id: "confirm", type: "button" }, label);
      const d = dialog(title, h("p", {}, text), [h("button", { type: "button", onclick: () => d.close() }, "Cancel"), yes]);
      yes.addEventListener("click", () => {
        ok = true;
        d.close();
      });
      d.addEventListener("close", () => resolve(ok));
    });
  }

  async function keyAction(k, verb, done) {
    try {
      const res = await api("POST", `/keys/${encodeURIComponent(k.id)}/${verb}`);
      done(res);
    } catch (e) {
      if (e && e.handled) return;
      $("#page").prepend(alertBox(e));
    }
  }

  async function revokeKey(k) {
    const text = `Revoke ${k.name} (${k.id})? Requests with it are refused at once; this cannot be undone.`;
    if (!(await confirmDialog("Revoke key", text, "Revoke key", true))) return;
    await keyAction(k, "revoke", () => {
      toast("Key revoked");
      route();
    });
  }

  async function rotateKey(k) {
    const text = `Replace ${k.name} (${k.id}) with a new key of the same settings? The old key stops working at once.`;
    if (!(await confirmDialog("Rotate key", text, "Rotate key"))) return;
    await keyAction(k, "rotate", (issued) => showSecret(issued, "Key rotated"));
  }

  // ---------- usage ----------

  const CLASS_COLORS = { "2xx": "#10b981", "3xx": "#0ea5e9", "4xx": "#f59e0b", "5xx": "#ef4444" };
  const PALETTE = ["#6366f1", "#ef4444", "#f59e0b", "#10b981", "#0ea5e9", "#a855f7", "#ec4899", "#64748b", "#84cc16", "#14b8a6"];
  const STEPS = { minute: 60, hour: 3600, day: 86400 };
  const RANGES = [
    ["minute", "Last hour, by minute"],
    ["hour", "Last 2 days, by hour"],
    ["day", "Last 30 days, by day"],
  ];

  function bucketLabel(secs, step) {
    const s = new Date(secs * 1000).toISOString();
    if (step === "day") return s.slice(5, 10);
    if (step === "hour") return `${s.slice(5, 10)} ${s.slice(11, 13)}h`;
    return s.slice(11, 16);
  }

  async function usagePage(view, params) {
    const step = STEPS[params.get("step")] ? params.get("step") : "minute";
    const sel = { tenant: PORTAL ? "" : params.get("tenant") || "", key_id: params.get("key_id") || "" };
    const form = h(
      "form.panel.filters",
      {
        id: "usage-filters",
        onsubmit: (ev) => {
          ev.preventDefault();
          const f = new FormData(ev.target);
          const key = f.get("key_id");
          go("usage" + query({ tenant: key ? "" : f.get("tenant"), key_id: key, step: f.get("step") }));
        },
      },
      PORTAL ? null : h("label", {}, "Tenant", h("input", { name: "tenant", value: sel.tenant, placeholder: "acme" })),
      h("label", {}, PORTAL ? "Key id (empty: all keys)" : "or key id", h("input", { name: "key_id", value: sel.key_id, placeholder: "key_…" })),
      h("label", {}, "Range", h("select", { name: "step" }, RANGES.map(([id, label]) => h("option", { value: id, selected: id === step }, label)))),
      h("button", { type: "submit" }, "Show")
    );
    const head = pageHead(
      "Usage",
      sel.key_id ? `Key ${sel.key_id}` : sel.tenant ? `Tenant ${sel.tenant}` : PORTAL ? `All keys of ${whoami.tenant}` : null,
      sel.key_id || sel.tenant || PORTAL ? h("button", { id: "refresh", type: "button", onclick: () => route() }, "Refresh") : null
    );
    if (!PORTAL && !sel.tenant && !sel.key_id) {
      view(
        "usage",
        head,
        form,
        h(
          "div.panel",
          {},
          h(
            "div.empty",
            { id: "usage-pick" },
            h("strong", {}, "Pick a tenant or a key"),
            "Usage is shown for one tenant or one key at a time; every tenant at once is the ",
            link("overview", {}, "overview"),
            "."
          )
        )
      );
      return;
    }
    const usage = await api("GET", "/usage" + query({ tenant: sel.key_id ? "" : sel.tenant, key_id: sel.key_id, step }));
    const page = view("usage", head, form);
    renderUsage(page, usage, sel, step);
  }

  function renderUsage(page, usage, sel, step) {
    const buckets = usage.buckets || [];
    const totals = usage.totals || { total: 0, status: {}, codes: {} };
    const errors = (totals.status["4xx"] || 0) + (totals.status["5xx"] || 0);
    const top = usage.top_codes || [];
    const who = { tenant: sel.key_id ? "" : sel.tenant, key_id: sel.key_id };
    page.append(
      h(
        "div.grid3",
        {},
        h("div.panel.stat", {}, h("span.label", {}, "Requests"), h("span.value", { id: "usage-total" }, fmtNum(totals.total)), h("span.note", {}, `${fmtTime(usage.since)} – ${fmtTime(usage.until).slice(11)}`)),
        h(
          "div.panel.stat",
          {},
          h("span.label", {}, "Errors"),
          h("span.value", { id: "usage-errors" }, fmtNum(errors)),
          h("span.note", {}, totals.total ? `${((errors / totals.total) * 100).toFixed(1)}% of requests` : "no requests")
        ),
        limitPanel(usage.limits || [])
      )
    );
    if (!totals.total) {
      page.append(
        h("div.panel", {}, h("div.empty", { id: "usage-empty" }, h("strong", {}, "No requests in this range"), "Requests show here within a few seconds of being made."))
      );
      return;
    }
    const labels = buckets.map((b) => bucketLabel(b.t, step));
    const classes = ["2xx", "3xx", "4xx", "5xx"].filter((c) => totals.status[c]);
    const codes = Object.keys(totals.codes || {}).sort((a, b) => totals.codes[b] - totals.codes[a]);
    const byClass = h("canvas", { id: "chart-status" });
    const byCode = h("canvas", { id: "chart-codes" });
    page.append(
      h(
        "div.grid2",
        {},
        h("div.panel", {}, h("h2", {}, "Requests by outcome"), h("div.chart-box", {}, byClass)),
        h(
          "div.panel",
          {},
          h("h2", {}, "Errors by code"),
          codes.length ? h("div.chart-box", {}, byCode) : h("div.empty", {}, h("strong", {}, "No errors"), "Every request in this range succeeded.")
        )
      ),
      h("p.muted.hint-line", {}, "Click a bar to see the requests behind it.")
    );
    const drill = (filterKey) => (_ev, els, chart) => {
      if (!els.length) return;
      const { index, datasetIndex } = els[0];
      const t = buckets[index].t;
      const label = chart.data.datasets[datasetIndex].label;
      go("requests" + query({ ...who, since: t, until: t + STEPS[step], [filterKey]: label }));
    };
    const options = (onClick) => ({
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      onClick,
      onHover: (ev, els) => {
        ev.native.target.style.cursor = els.length ? "pointer" : "default";
      },
      interaction: { mode: "nearest", intersect: true },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
    });
    const chartStatus = new Chart(byClass, {
      type: "bar",
      data: {
        labels,
        datasets: classes.map((c) => ({ label: c, data: buckets.map((b) => (b.status || {})[c] || 0), backgroundColor: CLASS_COLORS[c] })),
      },
      options: options(drill("status")),
    });
    charts.push(chartStatus);
    if (codes.length) {
      charts.push(
        new Chart(byCode, {
          type: "bar",
          data: {
            labels,
            datasets: codes.map((c, i) => ({ label: c, data: buckets.map((b) => (b.codes || {})[c] || 0), backgroundColor: PALETTE[i % PALETTE.length] })),
          },
          options: options(drill("code")),
        })
      );
    }
    // For tests and people alike: where each bar is, so a click can land on one.
    window.errataCharts = { status: chartStatus, codes: charts[1] || null, buckets };
    const max = Math.max(1, ...top.map((t) => t.count));
    page.append(
      h(
        "div.panel",
        {},
        h("h2", {}, "Top error codes"),
        top.length
          ? h(
              "table.bars",
              { id: "top-codes" },
              h("thead", {}, h("tr", {}, h("th", {}, "Code"), h("th.wide-col", {}, ""), h("th.num", {}, "Requests"))),
              h(
                "tbody",
                {},
                top.map((t) =>
                  h(
                    "tr",
                    { "data-code": t.code },
                    h("td", {}, link("requests" + query({ ...who, since: usage.since, until: usage.until, code: t.code }), { class: "mono" }, t.code)),
                    h("td", {}, h("div.bar", {}, h("span", { style: `width:${(t.count / max) * 100}%` }))),
                    h("td.num", {}, fmtNum(t.count))
                  )
                )
              )
            )
          : h("div.empty", {}, h("strong", {}, "No errors"), "Every request in this range succeeded.")
      )
    );
  }

  function limitPanel(limits) {
    const state = (name, l) => {
      if (!l) return null;
      const used = l.limit - l.remaining;
      const pct = l.limit ? Math.min(100, (used / l.limit) * 100) : 0;
      return h(
        "div.limit",
        {},
        h("div.limit-head", {}, h("span", {}, name), h("span.mono", {}, `${fmtNum(l.remaining)} of ${fmtNum(l.limit)} left`)),
        h("div.bar", { class: pct > 90 ? "hot" : null }, h("span", { style: `width:${pct}%` }))
      );
    };
    if (!limits.length) {
      return h(
        "div.panel.stat",
        { id: "limit-state", "data-state": "unused" },
        h("span.label", {}, "Limit state"),
        h("span.value", {}, "—"),
        h("span.note", {}, "Not used since the gateway started: shown after its next request.")
      );
    }
    // Keys whose last request counted no rate or quota: their plan (and the key) set none.
    const unlimited = limits.every((l) => !l.rate && !l.quota);
    if (unlimited) {
      return h(
        "div.panel.stat",
        { id: "limit-state", "data-state": "no-limits" },
        h("span.label", {}, "Limit state"),
        h("span.value", {}, "No limits"),
        h("span.note", {}, limits.length > 1 ? "No limits on these keys' plans: no rate or monthly quota." : "No limits on this plan: no rate or monthly quota."),
        h("span.note", {}, `As of ${fmtTime(Math.max(...limits.map((l) => l.observed_at)))}`)
      );
    }
    return h(
      "div.panel.stat",
      { id: "limit-state", "data-state": "limited" },
      h("span.label", {}, "Limit state"),
      limits.slice(0, 3).map((l) =>
        h(
          "div.limit-key",
          { "data-key": l.key_id },
          limits.length > 1 ? h("div.mono.muted", {}, l.key_id) : null,
          state("Rate", l.rate),
          state("Monthly quota", l.quota),
          !l.rate && !l.quota ? h("span.note", {}, "No limits on this plan.") : null
        )
      ),
      h("span.note", {}, `As of ${fmtTime(Math.max(...limits.map((l) => l.observed_at)))}`)
    );
  }

  // ---------- overview (console only) ----------

  async function overviewPage(view, params) {
    const step = STEPS[params.get("step")] ? params.get("step") : "hour";
    const form = h(
      "form.panel.filters",
      {
        id: "overview-filters",
        onsubmit: (ev) => {
          ev.preventDefault();
          go("overview" + query({ step: new FormData(ev.target).get("step") }));
        },
      },
      h("label", {}, "Range", h("select", { name: "step" }, RANGES.map(([id, label]) => h("option", { value: id, selected: id === step }, label)))),
      h("button", { type: "submit" }, "Show")
    );
    const head = pageHead("Overview", "Every tenant", h("button", { id: "refresh", type: "button", onclick: () => route() }, "Refresh"));
    const o = await api("GET", "/usage/overview" + query({ step }));
    const page = view("overview", head, form);
    renderOverview(page, o, step);
  }

  function renderOverview(page, o, step) {
    const totals = o.totals || { total: 0, status: {}, codes: {} };
    const status = totals.status || {};
    const span = `${fmtTime(o.since)} – ${fmtTime(o.until).slice(11)}`;
    const none = o.no_tenant || { total: 0, errors: 0 };
    page.append(
      h(
        "div.grid3",
        {},
        h("div.panel.stat", {}, h("span.label", {}, "Requests"), h("span.value", { id: "overview-total" }, fmtNum(totals.total)), h("span.note", {}, span)),
        h(
          "div.panel.stat",
          {},
          h("span.label", {}, "Errors"),
          h("span.value", { id: "overview-errors" }, fmtNum(o.errors)),
          h(
            "span.note",
            { id: "overview-error-split" },
            `${fmtNum(status["4xx"] || 0)} 4xx · ${fmtNum(status["5xx"] || 0)} 5xx`,
            totals.total ? ` · ${((o.errors / totals.total) * 100).toFixed(1)}% of requests` : ""
          )
        ),
        h(
          "div.panel.stat",
          {},
          h("span.label", {}, "Tenants"),
          h("span.value", { id: "overview-tenants" }, fmtNum(o.tenants)),
          h("span.note", { id: "overview-no-tenant" }, `${fmtNum(none.total)} request${none.total === 1 ? "" : "s"} with no known key`)
        )
      )
    );
    if (!totals.total) {
      page.append(
        h("div.panel", {}, h("div.empty", { id: "overview-empty" }, h("strong", {}, "No requests in this range"), "Requests show here within a few seconds of being made."))
      );
      return;
    }
    const buckets = o.buckets || [];
    const classes = ["2xx", "3xx", "4xx", "5xx"].filter((c) => status[c]);
    const byClass = h("canvas", { id: "overview-chart" });
    page.append(h("div.panel", {}, h("h2", {}, "Requests by outcome"), h("div.chart-box", {}, byClass)));
    charts.push(
      new Chart(byClass, {
        type: "bar",
        data: {
          labels: buckets.map((b) => bucketLabel(b.t, step)),
          datasets: classes.map((c) => ({ label: c, data: buckets.map((b) => (b.status || {})[c] || 0), backgroundColor: CLASS_COLORS[c] })),
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
          scales: {
            x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12 } },
            y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
          },
        },
      })
    );
    const within = { since: o.since, until: o.until };
    const tenants = o.top_tenants || [];
    const codes = o.top_codes || [];
    const maxTenant = Math.max(1, ...tenants.map((t) => t.total));
    const maxCode = Math.max(1, ...codes.map((c) => c.count));
    page.append(
      h(
        "div.grid2",
        {},
        h(
          "div.panel",
          {},
          h("h2", {}, "Top tenants"),
          tenants.length
            ? h(
                "table.bars",
                { id: "top-tenants" },
                h("thead", {}, h("tr", {}, h("th", {}, "Tenant"), h("th.wide-col", {}, ""), h("th.num", {}, "Requests"), h("th.num", {}, "4xx"), h("th.num", {}, "5xx"))),
                h(
                  "tbody",
                  {},
                  tenants.map((t) =>
                    h(
                      "tr",
                      { "data-tenant": t.tenant },
                      h("td", {}, link("usage" + query({ tenant: t.tenant, step }), {}, t.tenant)),
                      h("td", {}, h("div.bar", {}, h("span", { style: `width:${(t.total / maxTenant) * 100}%` }))),
                      h("td.num", {}, fmtNum(t.total)),
                      ["4xx", "5xx"].map((c) => {
                        const n = (t.status || {})[c] || 0;
                        return h("td.num", { "data-class": c }, n ? link("requests" + query({ tenant: t.tenant, ...within, status: c }), {}, fmtNum(n)) : "0");
                      })
                    )
                  )
                )
              )
            : h("div.empty", {}, h("strong", {}, "No tenant"), "Every request in this range named no known key.")
        ),
        h(
          "div.panel",
          {},
          h("h2", {}, "Top error codes"),
          codes.length
            ? h(
                "table.bars",
                { id: "overview-codes" },
                h("thead", {}, h("tr", {}, h("th", {}, "Code"), h("th.wide-col", {}, ""), h("th.num", {}, "Requests"))),
                h(
                  "tbody",
                  {},
                  codes.map((c) =>
                    h(
                      "tr",
                      { "data-code": c.code },
                      h("td", {}, link("requests" + query({ ...within, code: c.code }), { class: "mono" }, c.code)),
                      h("td", {}, h("div.bar", {}, h("span", { style: `width:${(c.count / maxCode) * 100}%` }))),
                      h("td.num", {}, fmtNum(c.count))
                    )
                  )
                )
              )
            : h("div.empty", {}, h("strong", {}, "No errors"), "Every request in this range succeeded.")
        )
      )
    );
  }

  // ---------- request lookup ----------

  async function requestsPage(view, id, params) {
    const lookup = h(
      "form.panel.filters",
      {
        id: "lookup",
        onsubmit: (ev) => {
          ev.preventDefault();
          const v = String(new FormData(ev.target).get("id") || "").trim();
          if (v) go(`requests/${encodeURIComponent(v)}`);
        },
      },
      h(
        "label.grow",
        {},
        "Request id",
        h("input", { name: "id", id: "request-id", value: id || "", placeholder: "Paste a request id from a response header or an error body", autocomplete: "off", spellcheck: "false" })
      ),
      h("button.primary", { type: "submit", id: "look-up" }, "Look up")
    );
    const head = pageHead("Request lookup", "Every response carries its request id");
    if (id) {
      let found;
      try {
        found = requestRecord(await api("GET", `/requests/${encodeURIComponent(id)}`));
      } catch (e) {
        if (e && e.handled) return;
        found = alertBox(e);
      }
      view("requests", head, lookup, found);
      return;
    }
    const filter = Object.fromEntries(params.entries());
    if (Object.keys(filter).length) {
      const list = await api("GET", "/requests" + query(filter));
      view("requests", head, lookup, requestList(list, filter));
      return;
    }
    view(
      "requests",
      head,
      lookup,
      h("div.panel", {}, h("div.empty", {}, h("strong", {}, "Find a request"), "Paste its id above, or click a bar on the usage page to list the requests behind it."))
    );
  }

  function statusPill(status) {
    const cls = status < 400 ? "ok" : status < 500 ? "warn" : "bad";
    return h(`span.pill.${cls}`, {}, status);
  }

  function requestRows(rows) {
    return rows.map((r) =>
      h(
        "tr",
        { "data-request": r.request_id },
        h("td.nowrap", {}, iso(r.time_ms)),
        h("td", {}, link(`requests/${encodeURIComponent(r.request_id)}`, { class: "mono" }, r.request_id)),
        h("td.mono.nowrap", {}, r.method, " ", r.path),
        h("td", {}, statusPill(r.status)),
        h("td.mono", {}, r.code || ""),
        h("td.mono", {}, r.key_id || ""),
        h("td.num", {}, r.latency_us != null ? `${(r.latency_us / 1000).toFixed(1)} ms` : "")
      )
    );
  }

  function requestList(list, filter) {
    const rows = list.data || [];
    const what = [filter.status, filter.code, filter.key_id, filter.tenant].filter(Boolean).join(" · ");
    const span = filter.since ? `${fmtTime(Number(filter.since))} – ${fmtTime(Number(filter.until)).slice(11)}` : "";
    const body = h("tbody", {}, requestRows(rows));
    let cursor = list.next_cursor;
    const more = h("button", { type: "button", id: "more" }, "Load more");
    more.hidden = !cursor;
    more.addEventListener("click", async () => {
      more.disabled = true;
      const next = await api("GET", "/requests" + query({ ...filter, cursor }));
      body.append(...requestRows(next.data || []));
      cursor = next.next_cursor;
      more.hidden = !cursor;
      more.disabled = false;
    });
    return h(
      "div.panel",
      {},
      h("h2", {}, "Requests", what ? h("span.muted", {}, ` · ${what}`) : null, span ? h("span.muted", {}, ` · ${span}`) : null),
      rows.length
        ? [
            h(
              "table",
              { id: "request-list" },
              h("thead", {}, h("tr", {}, ["Time", "Request id", "Request", "Status", "Code", "Key", "Latency"].map((c, i) => h(i === 6 ? "th.num" : "th", {}, c)))),
              body
            ),
            h("div.actions.more", {}, more),
          ]
        : h("div.empty", { id: "no-requests" }, h("strong", {}, "No requests"), "Nothing matches in this range. Records are written within a second or so.")
    );
  }

  function requestRecord(r) {
    const none = (text) => h("span.muted", {}, text);
    const rows = [
      ["Request id", h("span.mono", { id: "record-id" }, r.request_id)],
      ["Time", iso(r.time_ms)],
      ["Request", h("span.mono", {}, `${r.method} ${r.path}`)],
      ["Route", r.route ? h("span.mono", {}, r.route) : none("no route matched")],
      ["Status", statusPill(r.status)],
      ["Code", r.code ? link(`errors?code=${encodeURIComponent(r.code)}`, { class: "mono", id: "record-code" }, r.code) : none("none")],
      ["Tenant", r.tenant || none("no key identified")],
      ["Key", r.key_id ? link("usage" + query({ key_id: r.key_id }), { class: "mono" }, r.key_id) : none("none")],
      ["Latency", r.latency_us != null ? `${(r.latency_us / 1000).toFixed(2)} ms` : none("—")],
      ["Upstream status", r.upstream_status ?? none("not forwarded")],
      ["Upstream request id", r.upstream_request_id ? h("span.mono", {}, r.upstream_request_id) : none("none")],
      ["Trace id", r.trace_id ? h("span.mono", { id: "record-trace-id" }, r.trace_id) : none("not recorded")],
    ];
    return h(
      "div.panel",
      { id: "record", "data-status": r.status },
      h("h2", {}, "Request ", h("span.mono", {}, r.request_id)),
      h("dl.record", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("details.raw", {}, h("summary.muted", {}, "Raw record"), h("pre.json", {}, JSON.stringify(r, null, 2)))
    );
  }

  // ---------- error reference ----------

  let errorCodes = null;

  /** Catalog text with its Markdown inline code (`like this`) as <code>; everything else stays
   *  text (built as nodes, never as HTML, so catalog text cannot inject markup). */
  function inlineCode(text) {
    const parts = String(text).split(/(`[^`]+`)/);
    return parts
      .filter((p) => p !== "")
      .map((p) => (p.length > 2 && p.startsWith("`") && p.endsWith("`") ? h("code", {}, p.slice(1, -1)) : p));
  }

  async function errorsPage(view, params) {
    if (!errorCodes) errorCodes = (await api("GET", "/errors")).data || [];
    const want = params.get("code") || "";
    const filter = h("input", { id: "code-filter", type: "search", placeholder: "Filter by code, status or words", value: want });
    const text = (c) => Object.values(c).filter((v) => typeof v !== "object").join(" ").toLowerCase();
    const list = h(
      "div.code-list",
      { id: "codes" },
      errorCodes.map((c) =>
        h(
          "article",
          { id: `code-${c.code}`, "data-code": c.code, "data-text": text(c) },
          h(
            "h3",
            {},
            h("span.code-name", {}, c.code),
            " ",
            h(`span.pill.${c.status >= 500 ? "bad" : "warn"}`, {}, c.status),
            c.type || c.kind ? [" ", h("span.pill", {}, c.type || c.kind)] : null,
            c.retryable ? [" ", h("span.pill.info", {}, "retryable")] : null
          ),
          c.title ? h("p", {}, h("strong", {}, inlineCode(c.title))) : null,
          c.description ? h("p.description", {}, inlineCode(c.description)) : null,
          c.resolution ? h("p.muted.resolution", {}, h("strong", {}, "Resolution: "), inlineCode(c.resolution)) : null,
          h("p.muted", {}, "Message: ", h("span.mono.message", {}, inlineCode(c.message)))
        )
      )
    );
    const none = h("div.empty", { id: "no-codes" }, h("strong", {}, "No code matches"), "Try fewer words.");
    const apply = () => {
      const ws = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      $$("article", list).forEach((a) => {
        a.hidden = !ws.every((w) => a.dataset.text.includes(w));
        if (!a.hidden) shown += 1;
      });
      none.hidden = shown > 0;
    };
    filter.addEventListener("input", apply);
    view(
      "errors",
      pageHead("Error reference", `${errorCodes.length} codes: every error this API answers with`, filter),
      h("div.panel", {}, list, none)
    );
    apply();
  }

  // ---------- start ----------

  async function start() {
    if (PORTAL) {
      window.addEventListener("hashchange", route);
      auth.loadPortalToken();
      if (!auth.token) {
        $("#app").replaceChildren(portalGone());
        return;
      }
      try {
        whoami = await api("GET", "/session");
      } catch (e) {
        $("#app").replaceChildren(portalGone(e));
        return;
      }
      if (!location.hash.startsWith("#/")) history.replaceState(null, "", "/portal#/keys");
    } else {
      window.addEventListener("popstate", route);
      try {
        whoami = await api("GET", "/session");
        auth.csrf = whoami.csrf;
      } catch (e) {
        return showSignIn(e.status === 401 ? null : e);
      }
      if (!location.pathname.startsWith("/console/")) history.replaceState(null, "", "/console/keys");
    }
    route();
  }

  start();
})();
