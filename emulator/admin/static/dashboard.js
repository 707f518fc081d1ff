// storage-emulator dashboard: plain JS, no build step, no request leaves the emulator's origin.
// Every admin call goes through admin() below (one place for the JSON body, the
// Content-Type and an optional bearer token).
"use strict";

const BASE = new URL(".", location.href).pathname.replace(/\/$/, ""); // "/_emulator"
const TOKEN_KEY = "storage-emulator.admin-token";
const POLL_MS = 1500;
const IDENTITY = { // the identity field(s) of each API's tenant, as the fixture format names them
  pan123: (t) => t.client_id, antelope: (t) => t.app_id, jpush: (t) => t.app_key,
  wechat: (t) => t.appid, nextjoy: (t) => `${t.appid}:${t.child_id}`,
};

const $ = (id) => document.getElementById(id);
const state = {
  apis: [], clock: null, credentials: {},
  objects: { offset: 0, total: 0 },
  journal: { lastId: 0, entries: new Map(), query: "" },
};

class AdminError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// ---- the one admin call -------------------------------------------------------------------
function adminUrl(path) {
  return path.startsWith(BASE + "/") ? path : BASE + path;
}

async function admin(method, path, body, { raw = false, retried = false } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(adminUrl(path), init);
  if (response.status === 401 && !retried && await askToken()) {
    return admin(method, path, body, { raw, retried: true });
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON: keep the text */ }
  if (!response.ok) {
    throw new AdminError(response.status, (data && data.error) || text || response.statusText);
  }
  return data;
}

let tokenAsked = null; // one prompt however many calls were refused at once
function askToken() {
  if (!tokenAsked) tokenAsked = promptToken().finally(() => { tokenAsked = null; });
  return tokenAsked;
}

function promptToken() {
  const dialog = $("token-dialog");
  $("token-input").value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = $("token-input").value.trim();
      if (dialog.returnValue === "ok" && value) {
        sessionStorage.setItem(TOKEN_KEY, value);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
  });
}

// A link to an admin URL that answers bytes: followed as is, or (with a token, which a
// plain link cannot carry) fetched through admin() and saved from memory.
async function downloadThroughAdmin(event) {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const response = await admin("GET", link.getAttribute("href"), undefined, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = link.getAttribute("download") || "download";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    notify(err.message, true);
  }
}

// ---- helpers ------------------------------------------------------------------------------
function notify(message, error = false) {
  const el = $("notice");
  el.textContent = message;
  el.className = error ? "error" : "";
}

async function act(work, done) {
  try {
    const result = await work();
    if (done) notify(typeof done === "function" ? done(result) : done);
    return result;
  } catch (err) {
    notify(err.message || String(err), true);
    return undefined;
  }
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && k !== "list") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function cell(label, content, cls) {
  const td = el("td", { "data-label": label, class: cls });
  if (content instanceof Node) td.append(content);
  else td.textContent = content === null || content === undefined ? "" : String(content);
  return td;
}

function fmtTime(ts) {
  if (ts === null || ts === undefined) return "";
  return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function fmtShortTime(ts) {
  return new Date(ts * 1000).toISOString().slice(11, 23);
}

function fmtSize(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]} (${n})`;
}

function fmtDelta(seconds) {
  const s = Math.abs(Math.round(seconds));
  const text = s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function fillSelect(select, options, keep = true) {
  const previous = select.value;
  select.replaceChildren(...options.map(([value, label]) => el("option", { value, text: label })));
  if (keep && options.some(([v]) => v === previous)) select.value = previous;
}

// ---- pages --------------------------------------------------------------------------------
const PAGES = ["overview", "objects", "journal", "faults", "clock", "snapshots", "tenants"];
const loaders = {};

function currentPage() {
  const name = location.hash.replace("#", "");
  return PAGES.includes(name) ? name : "overview";
}

function showPage() {
  const page = currentPage();
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.page !== page;
  }
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${$("h-" + page).textContent} · storage-emulator`;
  if (loaders[page]) loaders[page]();
}

// ---- status line: clock and limits ----------------------------------------------------------
async function refreshStatus() {
  const [clock, limits] = await Promise.all([admin("GET", "/clock"), admin("GET", "/limits")]);
  state.clock = clock;
  for (const id of ["clock-now", "clock-now-2"]) $(id).textContent = fmtTime(clock.now);
  for (const id of ["clock-frozen", "clock-frozen-2"]) $(id).textContent = clock.frozen ? "(frozen)" : "";
  for (const id of ["limits-state", "limits-state-2"]) $(id).textContent = limits.enabled ? "on" : "off";
}

// ---- overview -----------------------------------------------------------------------------
loaders.overview = async () => {
  await act(async () => {
    const [health, store, recent] = await Promise.all([
      admin("GET", "/health"), admin("GET", "/store"), admin("GET", "/requests?limit=10"),
    ]);
    $("base-url").textContent = health.endpoints.base;
    $("store-blobs").textContent = store.blobs;
    $("store-bytes").textContent = store.bytes;
    $("endpoints-table").tBodies[0].replaceChildren(...Object.entries(health.endpoints).sort().map(([name, url]) =>
      el("tr", {}, cell("endpoint", name), cell("URL", el("code", { text: url })))));
    $("overview-requests").tBodies[0].replaceChildren(...recent.reverse().map((e) =>
      el("tr", {}, cell("time", fmtShortTime(e.time)), cell("api", e.api || "none"),
        cell("request", `${e.method} ${e.path}`), cell("status", e.status ?? "—", e.status >= 400 ? "bad" : null),
        cell("code", e.code ?? ""))));
  });
};

// ---- objects ------------------------------------------------------------------------------
async function loadObjects() {
  const api = $("objects-api").value;
  if (!api) return;
  const params = new URLSearchParams({ api, offset: state.objects.offset, limit: $("objects-limit").value });
  if ($("objects-tenant").value) params.set("tenant", $("objects-tenant").value);
  if ($("objects-view").value) params.set("view", $("objects-view").value);
  if ($("objects-q").value.trim()) params.set("q", $("objects-q").value.trim());
  const data = await act(() => admin("GET", "/objects?" + params));
  if (!data) return;
  fillSelect($("objects-tenant"), [["", "all tenants"], ...data.tenants.map((t) => [t, t])]);
  fillSelect($("objects-view"), data.views.map((v) => [v, v]));
  $("objects-view").value = data.view;
  $("objects-view-label").hidden = data.views.length < 2;
  state.objects.total = data.total;
  const first = data.total ? data.offset + 1 : 0;
  const last = data.offset + data.items.length;
  $("objects-count").textContent = `${first}–${last} of ${data.total} ${data.view} (${data.api})`;
  $("objects-prev").disabled = data.offset <= 0;
  $("objects-next").disabled = last >= data.total;
  const now = state.clock ? state.clock.now : Date.now() / 1000;
  $("objects-table").tBodies[0].replaceChildren(...data.items.map((item) => {
    const label = item.kind === "folder" ? `${item.name}/` : item.name;
    const actions = el("div", { class: "row" });
    if (item.download) {
      const base = String(item.name).split("/").filter(Boolean).pop() || item.id;
      actions.append(el("a", { href: item.download, download: base, text: "Download",
        "aria-label": `Download ${item.name}`, onclick: downloadThroughAdmin }));
    }
    actions.append(el("button", { type: "button", class: "secondary", text: "Metadata",
      "aria-label": `Metadata of ${item.name}`, onclick: () => showObject(item) }));
    const hashes = el("div", {}, item.md5 ? el("code", { text: item.md5 }) : null,
      item.hash ? el("div", {}, el("code", { class: "muted", text: item.hash })) : null);
    let expires = "";
    if (item.expires !== null && item.expires !== undefined) {
      expires = el("span", { class: item.expires <= now ? "bad" : null,
        text: `${fmtTime(item.expires)} (${item.expires <= now ? "expired" : fmtDelta(item.expires - now)})` });
    }
    return el("tr", { "data-id": item.id },
      cell("name", label), cell("tenant / group", [item.tenant, item.group].filter((x) => x).join(" · ")),
      cell("size", fmtSize(item.size), "num"), cell("MD5 / hash", hashes), cell("created", fmtTime(item.created)),
      cell("expires", expires), cell("actions", actions));
  }));
}

async function showObject(item) {
  const box = $("object-detail");
  $("h-object-detail").textContent = `${item.kind} ${item.name}`;
  let text = pretty({ id: item.id, tenant: item.tenant, group: item.group, size: item.size, md5: item.md5,
    hash: item.hash, created: fmtTime(item.created), expires: item.expires === null ? "never" : fmtTime(item.expires),
    ...item.meta });
  if (item.details) {
    const more = await act(() => admin("GET", item.details));
    if (more) text += "\n\n" + pretty(more);
  }
  $("object-meta").textContent = text;
  box.hidden = false;
  box.focus();
}

loaders.objects = async () => {
  if (!$("objects-api").options.length) {
    fillSelect($("objects-api"), state.apis.map((a) => [a, a]));
  }
  await loadObjects();
};

// ---- journal ------------------------------------------------------------------------------
function journalQuery() {
  const params = new URLSearchParams();
  for (const name of ["api", "tenant", "path", "status", "code"]) {
    const value = $("journal-" + name).value.trim();
    if (value) params.set(name, value);
  }
  if ($("journal-refused").checked) params.set("refused", "true");
  return params;
}

function journalRow(e) {
  const why = e.reason || (e.fault ? `fault ${e.fault.id}: ${e.fault.action}` : "");
  return el("tr", { "data-id": e.id },
    cell("time", fmtShortTime(e.time)),
    cell("api / tenant", [e.api || "none", e.tenant].filter((x) => x).join(" · ")),
    cell("request", `${e.method} ${e.path}`),
    cell("status", e.status ?? "—", e.status === null || e.status >= 400 ? "bad" : null),
    cell("code", e.code ?? ""), cell("ms", e.duration_ms, "num"), cell("why", why),
    cell("detail", el("button", { type: "button", class: "secondary", text: "Open",
      "aria-label": `Open request ${e.id}: ${e.method} ${e.path}`, onclick: () => showRequest(e.id) })));
}

async function loadJournal(reset) {
  const params = journalQuery();
  const query = params.toString();
  if (reset || query !== state.journal.query) {
    state.journal = { lastId: 0, entries: new Map(), query };
    $("journal-table").tBodies[0].replaceChildren();
    params.set("limit", "200");
  } else {
    params.set("since", String(state.journal.lastId));
  }
  const entries = await admin("GET", "/requests?" + params);
  if (!entries.length && state.journal.lastId > 0 && await journalWentBack(query)) {
    return loadJournal(true); // cleared or reset elsewhere, or a restarted emulator: start over
  }
  const body = $("journal-table").tBodies[0];
  const fresh = state.journal.lastId > 0;
  for (const e of entries) {
    state.journal.entries.set(e.id, e);
    state.journal.lastId = Math.max(state.journal.lastId, e.id);
    const row = journalRow(e);
    if (fresh) row.classList.add("new");
    body.prepend(row);
  }
  while (body.rows.length > 500) {
    state.journal.entries.delete(Number(body.lastElementChild.dataset.id));
    body.lastElementChild.remove();
  }
  $("journal-count").textContent = `${body.rows.length} request(s) shown, newest first` +
    ($("journal-live").checked ? "; new ones appear as they come" : "");
}

async function journalWentBack(query) {
  const newest = await admin("GET", "/requests?" + (query ? query + "&" : "") + "limit=1");
  const shown = $("journal-table").tBodies[0].rows.length;
  return newest.length ? newest[0].id < state.journal.lastId : shown > 0;
}

function showRequest(id) {
  const e = state.journal.entries.get(id);
  if (!e) return;
  $("h-request-detail").textContent = `Request ${e.id}: ${e.method} ${e.path}`;
  const facts = [["time", fmtTime(e.time)], ["api", e.api || "none"], ["tenant", e.tenant], ["status", e.status ?? "no answer"],
    ["business code", e.code], ["duration", `${e.duration_ms} ms`], ["reason", e.reason], ["expected", e.expected],
    ["fault", e.fault ? pretty(e.fault) : null]];
  for (const [k, v] of Object.entries(e)) {
    if (!["id", "time", "api", "tenant", "method", "path", "query", "headers", "status", "code", "duration_ms",
      "reason", "expected", "fault", "request_body", "response_body"].includes(k)) facts.push([k, pretty(v)]);
  }
  $("request-summary").replaceChildren(...facts.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, el("code", { text: String(v) }))]));
  $("request-headers").textContent = Object.entries(e.headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n") || "(none)";
  $("request-query").textContent = Object.keys(e.query || {}).length ? pretty(e.query) : "(none)";
  $("request-body").textContent = describeBody(e.request_body);
  $("response-body").textContent = describeBody(e.response_body);
  const box = $("request-detail");
  box.hidden = false;
  box.focus();
}

function describeBody(b) {
  if (b === undefined) return "(not recorded)";
  if (b === null) return "(empty)";
  const head = `${b.size} bytes${b.content_type ? ", " + b.content_type : ""}`;
  const stored = (b.stored || []).map((o) => `stored: ${o.size} bytes, MD5 ${o.md5}`).join("\n");
  if (b.text === undefined) return `${head} (an upload: its size and what the store kept are recorded)\n${stored}`;
  let text = b.text;
  if (b.content_type && b.content_type.includes("json") && !b.truncated) {
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* as sent */ }
  }
  return `${head}${b.truncated ? " (first 4 KiB shown)" : ""}${stored ? "\n" + stored : ""}\n\n${text}`;
}

loaders.journal = async () => {
  if ($("journal-api").options.length < 2) {
    fillSelect($("journal-api"), [["", "any"], ...state.apis.map((a) => [a, a]), ["none", "none (unmatched)"]]);
  }
  await act(() => loadJournal(false));
};

// ---- faults -------------------------------------------------------------------------------
function faultRule() {
  const rule = {};
  const text = (id) => $(id).value.trim();
  if (text("fault-api")) rule.api = text("fault-api");
  if (text("fault-method")) rule.method = text("fault-method");
  if (text("fault-path")) rule.path = text("fault-path");
  if (text("fault-tenant")) rule.tenant = text("fault-tenant");
  if (text("fault-skip") && Number(text("fault-skip")) !== 0) rule.skip = Number(text("fault-skip"));
  if (text("fault-times")) rule.times = Number(text("fault-times"));
  const action = $("fault-action").value;
  const value = text("fault-value");
  const extra = text("fault-text");
  const number = (v) => (/^-?\d+$/.test(v) ? Number(v) : v);
  if (action === "status") {
    rule.status = number(value);
    if (extra) {
      try { rule.body = JSON.parse(extra); } catch (_) { rule.body = extra; }
    }
  } else if (action === "error") {
    rule.error = number(value);
    if (extra) rule.message = extra;
  } else if (action === "drop") {
    rule.drop = true;
  } else if (action === "cut_after") {
    rule.cut_after = number(value);
  }
  if (text("fault-latency")) rule.latency_ms = Number(text("fault-latency"));
  return rule;
}

function describeRule(rule) {
  return Object.entries(rule).filter(([k, v]) => !["id", "matched", "fired", "active"].includes(k) && v !== null)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
}

loaders.faults = async () => {
  if ($("fault-api").options.length < 2) {
    fillSelect($("fault-api"), [["", "any"], ...state.apis.map((a) => [a, a])]);
  }
  const rules = await act(() => admin("GET", "/faults"));
  if (!rules) return;
  $("faults-table").tBodies[0].replaceChildren(...rules.map((r) => el("tr", { "data-id": r.id },
    cell("id", r.id), cell("rule", el("code", { text: describeRule(r) })), cell("matched", r.matched, "num"),
    cell("fired", r.fired, "num"), cell("active", r.active === false ? "no" : "yes"),
    cell("actions", el("button", { type: "button", class: "secondary", text: "Remove", "aria-label": `Remove fault rule ${r.id}`,
      onclick: () => act(() => admin("DELETE", `/faults/${r.id}`), `Removed fault rule ${r.id}`).then(loaders.faults) })))));
};

// ---- clock and limits ---------------------------------------------------------------------
async function clock(body, message) {
  const result = await act(() => admin("POST", "/clock", body), message);
  await act(refreshStatus);
  if (result) loaders.clock();
}

loaders.clock = async () => {
  await act(refreshStatus);
  if (state.clock && document.activeElement !== $("clock-set")) {
    $("clock-set").value = new Date(state.clock.now * 1000).toISOString().slice(0, 19);
  }
};

// ---- snapshots ----------------------------------------------------------------------------
loaders.snapshots = async () => {
  const snapshots = await act(() => admin("GET", "/snapshots"));
  if (!snapshots) return;
  $("snapshots-table").tBodies[0].replaceChildren(...snapshots.map((s) => {
    const name = encodeURIComponent(s.name);
    const actions = el("div", { class: "row" },
      el("button", { type: "button", class: "secondary", text: "Restore", "aria-label": `Restore snapshot ${s.name}`,
        onclick: () => act(() => admin("POST", `/snapshots/${name}/restore`), `Restored snapshot ${s.name}`).then(afterStateChange) }),
      el("a", { href: `${BASE}/snapshots/${name}/export`, download: `${s.name}.snapshot`, text: "Export",
        "aria-label": `Export snapshot ${s.name}`, onclick: downloadThroughAdmin }),
      el("button", { type: "button", class: "secondary", text: "Delete", "aria-label": `Delete snapshot ${s.name}`,
        onclick: () => act(() => admin("DELETE", `/snapshots/${name}`), `Deleted snapshot ${s.name}`).then(loaders.snapshots) }));
    return el("tr", { "data-name": s.name }, cell("name", s.name), cell("created", fmtTime(s.created_at)),
      cell("scope", s.scope ? pretty(s.scope) : "whole state"), cell("bytes", s.bytes, "num"), cell("actions", actions));
  }));
};

// ---- tenants and reset --------------------------------------------------------------------
function identityOf(api, tenant) {
  return (IDENTITY[api] || ((t) => Object.values(t)[0]))(tenant);
}

loaders.tenants = async () => {
  const doc = await act(() => admin("GET", "/credentials"));
  if (!doc) return;
  state.credentials = doc;
  const blocks = [];
  const options = [];
  for (const [api, tenants] of Object.entries(doc)) {
    blocks.push(el("h3", { text: `${api} (${tenants.length})` }));
    const rows = tenants.map((t) => {
      options.push([`${api}|${identityOf(api, t)}`, `${api}: ${identityOf(api, t)}`]);
      return el("tr", {}, cell("identity", identityOf(api, t)), cell("fields", el("code", {
        text: Object.entries(t).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ") })));
    });
    blocks.push(el("div", { class: "scroll" }, el("table", { "aria-label": `${api} tenants` },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "identity" }), el("th", { scope: "col", text: "credentials" }))),
      el("tbody", {}, ...rows))));
  }
  $("tenants-list").replaceChildren(...blocks);
  fillSelect($("reset-tenant"), options);
};

async function afterStateChange() {
  await act(refreshStatus);
  state.journal.query = null; // reload the journal from scratch
  if (loaders[currentPage()]) await loaders[currentPage()]();
}

// ---- wiring -------------------------------------------------------------------------------
function wire() {
  window.addEventListener("hashchange", showPage);
  $("objects-form").addEventListener("submit", (ev) => { ev.preventDefault(); state.objects.offset = 0; loadObjects(); });
  $("objects-api").addEventListener("change", () => {
    state.objects.offset = 0;
    $("objects-tenant").value = "";
    $("objects-view").replaceChildren();
    loadObjects();
  });
  for (const id of ["objects-tenant", "objects-view", "objects-limit"]) {
    $(id).addEventListener("change", () => { state.objects.offset = 0; loadObjects(); });
  }
  $("objects-prev").addEventListener("click", () => {
    state.objects.offset = Math.max(0, state.objects.offset - Number($("objects-limit").value));
    loadObjects();
  });
  $("objects-next").addEventListener("click", () => {
    state.objects.offset += Number($("objects-limit").value);
    loadObjects();
  });
  $("object-detail-close").addEventListener("click", () => { $("object-detail").hidden = true; });

  $("journal-form").addEventListener("submit", (ev) => { ev.preventDefault(); act(() => loadJournal(true)); });
  $("journal-refused").addEventListener("change", () => act(() => loadJournal(true)));
  $("journal-api").addEventListener("change", () => act(() => loadJournal(true)));
  $("journal-clear").addEventListener("click", () =>
    act(() => admin("DELETE", "/requests"), (r) => `Cleared ${r.cleared} journal entries`).then(() => act(() => loadJournal(true))));
  $("request-detail-close").addEventListener("click", () => { $("request-detail").hidden = true; });

  $("fault-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const stored = await act(() => admin("POST", "/faults", faultRule()), (r) => `Added fault rule ${r.id}`);
    if (stored) loaders.faults();
  });
  $("faults-clear").addEventListener("click", () =>
    act(() => admin("DELETE", "/faults"), (r) => `Removed ${r.removed} fault rule(s)`).then(loaders.faults));

  $("clock-freeze").addEventListener("click", () => clock({ freeze: true }, "Clock frozen"));
  $("clock-unfreeze").addEventListener("click", () => clock({ freeze: false }, "Clock running"));
  $("clock-real").addEventListener("click", () => clock({ real: true }, "Clock back to real time"));
  $("clock-advance-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const seconds = Number($("clock-advance").value);
    clock({ advance: seconds }, `Clock advanced by ${seconds} s`);
  });
  $("clock-set-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("clock-set").value;
    const at = Date.parse(value.length === 16 ? value + ":00Z" : value + "Z") / 1000;
    if (!Number.isFinite(at)) { notify("Give a date and time to set the clock to", true); return; }
    clock({ set: at }, `Clock set to ${fmtTime(at)}`);
  });
  const limits = (enabled) => act(() => admin("POST", "/limits", { enabled }),
    `Rate limits ${enabled ? "on" : "off"}`).then(() => act(refreshStatus));
  $("limits-on").addEventListener("click", () => limits(true));
  $("limits-off").addEventListener("click", () => limits(false));

  $("snapshot-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("snapshot-name").value.trim();
    const saved = await act(() => admin("POST", "/snapshots", { name }), (s) => `Saved snapshot ${s.name} (${s.bytes} bytes)`);
    if (saved) loaders.snapshots();
  });

  $("tenant-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let doc;
    try { doc = JSON.parse($("tenant-doc").value); } catch (err) { notify(`Not JSON: ${err.message}`, true); return; }
    const added = await act(() => admin("POST", "/fixtures", doc), (r) => `Added ${r.added} tenant(s)`);
    if (added) loaders.tenants();
  });
  $("reset-all").addEventListener("click", () => { $("reset-all-confirm").hidden = false; $("reset-all-confirm").focus(); });
  $("reset-all-confirm").addEventListener("click", async () => {
    $("reset-all-confirm").hidden = true;
    await act(() => admin("POST", "/reset"), "Reset: every object, session, token, journal entry and fault rule is gone");
    await afterStateChange();
  });
  $("reset-tenant-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const [api, identity] = $("reset-tenant").value.split(/\|(.*)/s);
    await act(() => admin("POST", "/reset", { tenants: { [api]: [identity] } }), `Reset ${api} tenant ${identity}`);
    await afterStateChange();
  });
}

let ticking = false;
async function tick() {
  if (ticking) return;
  ticking = true;
  try {
    await refreshStatus();
    const page = currentPage();
    if (page === "journal" && $("journal-live").checked) await loadJournal(false);
    if (page === "overview") await loaders.overview();
  } catch (err) {
    notify(err.message || String(err), true);
  } finally {
    ticking = false;
  }
}

async function start() {
  wire();
  const health = await act(() => admin("GET", "/health"));
  if (health) {
    state.apis = health.apis;
    $("version").textContent = health.version;
  }
  await act(refreshStatus);
  showPage();
  setInterval(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
