// XOP tickets page: plain JavaScript, no build step, no third-party code.
//
// Authentication: the page is served by Airflow's API server under /xop, the same origin as the
// Airflow UI, so the browser sends the UI's `_token` cookie with every request (fetch with
// credentials "same-origin") and the API authenticates it. Nothing here reads or stores tokens.
// All URLs are relative, so the page also works when Airflow runs under a base path.
"use strict";

const API = "api/";
const PAGE_SIZE = 50;
const REFRESH_MS = 30000;
const ACTIONS = {
  respond: { label: "Respond", fields: [["body", "Reply to the customer", "textarea", true]] },
  note: { label: "Internal note", fields: [["body", "Note (not sent)", "textarea", true]] },
  classify: {
    label: "Classify",
    fields: [["urgency", "Urgency", ["critical", "major", "minor"], true], ["reason", "Reason", "text", false]],
  },
  escalate: {
    label: "Escalate",
    fields: [["to_level", "To level", ["", "2", "3", "4"], false], ["reason", "Reason", "text", false]],
  },
  pause: { label: "Wait on customer", fields: [["reason", "Reason", "text", false]] },
  resume: { label: "Resume", fields: [] },
  recover: { label: "Recovered", fields: [["body", "What was done", "textarea", false]] },
  rca: {
    label: "Send RCA",
    fields: [
      ["cause", "Cause", "textarea", true], ["extent", "Extent", "textarea", true],
      ["actions", "Actions taken", "textarea", true], ["plan", "Resolution plan", "textarea", true],
    ],
  },
  resolve: { label: "Resolve", fields: [["body", "Permanent fix", "textarea", true]] },
  close: { label: "Close ticket", fields: [["report", "Closing report", "textarea", true]] },
  reopen: { label: "Reopen", fields: [["reason", "Reason", "textarea", true]] },
};
const STATE_LABELS = {
  open: "Open", waiting_customer: "Waiting on customer", recovered: "Recovered", resolved: "Resolved", closed: "Closed",
};
const CLOCK_LABELS = {
  l2_response: "L2 response", l3_response: "L3 response", l3_recovery: "L3 recovery",
  l3_rca: "RCA", l4_resolution: "L4 resolution",
};

// Clock outcomes in the words of the support process (a clock that stopped unmet was either
// missed, when it had breached, or skipped: the ticket left its level or closed before it was due).
function clockOutcome(c) {
  if (c.status === "stopped") return c.breached_at || c.remaining_seconds < 0 ? "missed" : "skipped";
  return { met_late: "met late", breached: "breached" }[c.status] || c.status;
}

// Business time as hours and minutes: a business day is not 24 hours, so never count days.
function fmtBusiness(seconds) {
  const s = Math.abs(Math.trunc(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${String(m).padStart(2, "0")} m` : `${m} m`;
}

function fmtPercent(p) {
  return p > 999 ? "> 999 %" : `${p} %`;
}

const $ = (sel) => document.querySelector(sel);
let customers = [];
let mayOpen = true; // false for a read-only user (the auth manager's answer, from /api/me)
let whyNot = "";
let offset = 0;
let current = null; // ticket number shown in the side panel
let loadedAt = 0; // performance.now() of the last data load; countdowns tick from there

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function newKey() {
  // Idempotency-Key of one submission (crypto.getRandomValues works outside secure contexts too).
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

class ApiError extends Error {
  constructor(status, detail) {
    super(formatDetail(detail));
    this.status = status;
  }
}

function formatDetail(detail) {
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((x) => x !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

async function api(path, { method = "GET", body, key } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const res = await fetch(API + path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) {
    showSignIn();
    throw new ApiError(401, "Your Airflow session has ended: sign in again.");
  }
  if (!res.ok) throw new ApiError(res.status, data.detail ?? res.statusText);
  return data;
}

function say(text, isError = false) {
  const box = $("#message");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.hidden = !text;
}

function showSignIn() {
  const box = $("#message");
  box.replaceChildren("Your Airflow session has ended. ",
    el("a", { href: new URL(`../auth/login?next=${encodeURIComponent(location.href)}`, location.href) }, "Sign in again"));
  box.classList.add("error");
  box.hidden = false;
}

// Times are shown in the support calendar's zone (the zone the emails use) unless the user
// switches to their own; the zone is always named.
let supportZone = "UTC";
let ownZone = false;

function shownZone() {
  return ownZone ? Intl.DateTimeFormat().resolvedOptions().timeZone : supportZone;
}

function fmtTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, {
    weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    timeZone: shownZone(),
  });
}

function showZone() {
  const toggle = $("#zone-toggle");
  $("#zone-name").textContent = ownZone ? `your zone (${shownZone()})` : `support calendar (${supportZone})`;
  toggle.setAttribute("aria-pressed", ownZone ? "true" : "false");
}

function fmtDuration(seconds) {
  // Business seconds as h:mm:ss (hours may exceed 24: business days are shorter than a day).
  const neg = seconds < 0;
  let s = Math.abs(Math.trunc(seconds));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const hms = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return `${neg ? "−" : ""}${hms}`;
}

// ------------------------------------------------------------------ countdowns

function slaClass(clock, remaining) {
  if (!clock) return "sla-none";
  if (clock.status === "breached" || remaining <= 0) return "sla-breached";
  if (clock.status === "paused") return "sla-paused";
  const used = 100 * (clock.target_seconds - remaining) / clock.target_seconds;
  if (used >= 90) return "sla-90";
  if (used >= 75) return "sla-75";
  if (used >= 50) return "sla-50";
  return "sla-ok";
}

function countdown(clock) {
  // A badge that counts business time down; only clocks in business hours tick (server says so).
  if (!clock) return el("span", { class: "sla sla-none" }, "no clock");
  const node = el("span", {
    class: "sla countdown",
    dataset: {
      remaining: clock.remaining_seconds, ticking: clock.ticking ? "1" : "0",
      status: clock.status, target: clock.target_seconds, name: clock.name,
    },
  });
  node._clock = clock;
  paint(node, 0);
  return node;
}

function paint(node, elapsed) {
  const clock = node._clock;
  const remaining = Number(node.dataset.remaining) - (node.dataset.ticking === "1" ? elapsed : 0);
  const cls = slaClass(clock, remaining);
  node.className = `sla countdown ${cls}`;
  const what = CLOCK_LABELS[clock.name] || clock.name;
  let text;
  if (cls === "sla-breached") text = `breached ${fmtBusiness(Math.min(remaining, 0))} ago (business time)`;
  else if (cls === "sla-paused") text = `paused ${fmtDuration(remaining)}`;
  else text = fmtDuration(remaining);
  node.replaceChildren(text, " ", el("small", {}, what));
  node.title = `${what}: ${text} of business time left (target ${fmtDuration(clock.target_seconds)})`;
}

function tick() {
  const elapsed = Math.floor((performance.now() - loadedAt) / 1000);
  document.querySelectorAll(".countdown").forEach((n) => paint(n, elapsed));
}

// ------------------------------------------------------------------ board

function filterQuery() {
  const form = new FormData($("#filters"));
  const q = new URLSearchParams();
  const state = form.get("state");
  if (state === "active") ["open", "waiting_customer", "recovered"].forEach((s) => q.append("state", s));
  else if (state) q.append("state", state);
  for (const name of ["level", "urgency", "customer", "breached", "due_within", "owner", "q"]) {
    const v = form.get(name);
    if (v) q.append(name, v);
  }
  q.set("limit", PAGE_SIZE);
  q.set("offset", offset);
  return q;
}

async function loadBoard() {
  let page;
  try {
    page = await api(`tickets?${filterQuery()}`);
  } catch (e) {
    say(e.message, true);
    return;
  }
  loadedAt = performance.now();
  const exportQuery = filterQuery();
  exportQuery.delete("limit");
  exportQuery.delete("offset");
  $("#export").href = `${API}tickets.csv?${exportQuery}`; // the board as filtered now
  const rows = page.items.map((t) => el("tr", { class: t.number === current ? "selected" : null, dataset: { number: t.number } },
    el("td", {}, el("a", {
      href: `#${t.number}`, class: "number-link",
      onclick: (ev) => { ev.preventDefault(); openTicket(t.number); },
    }, t.number)),
    el("td", {}, t.customer),
    el("td", { class: "subject", title: t.subject }, t.subject),
    el("td", {}, t.urgency || (t.proposed_urgency ? `${t.proposed_urgency}?` : "—")),
    el("td", {}, `L${t.level}`),
    el("td", {}, STATE_LABELS[t.state] || t.state),
    el("td", {}, countdown(t.next_clock)),
  ));
  $("#board-rows").replaceChildren(...rows);
  if (!rows.length) $("#board-rows").append(el("tr", {}, el("td", { colspan: 7 }, "No tickets match.")));
  // A search's count stops at 1,000 (total_exact false): "more than 1,000", paged until a short page.
  const total = page.total_exact ? `${page.total}` : `more than ${page.total.toLocaleString("en-US")}`;
  const last = page.offset + page.items.length;
  $("#count").textContent = `${total} ticket${page.total === 1 && page.total_exact ? "" : "s"}`;
  $("#page-info").textContent = page.items.length ? `${page.offset + 1}–${last} of ${total}` : "";
  $("#prev").disabled = page.offset === 0;
  $("#next").disabled = page.total_exact ? last >= page.total : page.items.length < page.limit;
}

// ------------------------------------------------------------------ ticket view

async function openTicket(number, { focus = true } = {}) {
  let t;
  try {
    t = await api(`tickets/${encodeURIComponent(number)}`);
  } catch (e) {
    say(e.message, true);
    return;
  }
  if (t.number !== current) { // a form and its outcome belong to one ticket
    $("#action-form").hidden = true;
    outcome("");
  }
  current = t.number;
  loadedAt = performance.now();
  history.replaceState(null, "", `#${t.number}`);
  $("#ticket-title").textContent = `${t.number} — ${t.subject}`;
  const facts = [
    ["Customer", t.customer + (t.system ? ` / ${t.system}` : "")],
    ["State", STATE_LABELS[t.state] || t.state], ["Level", `L${t.level}`],
    ["Owner", t.owner || "unassigned"],
    ["Urgency", t.urgency || `not classified${t.proposed_urgency ? ` (proposed ${t.proposed_urgency})` : ""}`],
    ["Reporter", `${t.reporter_name} <${t.reporter_email}>`], ["Source", t.source],
    ["Opened", fmtTime(t.opened_at)], ["Updated", fmtTime(t.updated_at)],
  ];
  $("#ticket-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("#ticket-description").textContent = t.description;
  $("#ticket-clocks").replaceChildren(...t.clocks.map((c) => el("tr", {},
    el("td", {}, `${CLOCK_LABELS[c.name] || c.name}${c.cycle ? ` (reopen ${c.cycle})` : ""}`),
    el("td", { class: "outcome-cell" }, clockOutcome(c)),
    el("td", {}, fmtTime(c.due_at)),
    el("td", {}, ["running", "paused", "breached"].includes(c.status) ? countdown(c) : fmtDuration(c.remaining_seconds)),
    el("td", {}, fmtPercent(c.percent_used)),
  )));
  if (!t.clocks.length) $("#ticket-clocks").append(el("tr", {}, el("td", { colspan: 5 }, "No SLA clock (level 1).")));
  // Only the actions this user may take now are offered; the others say why when asked.
  $("#actions").replaceChildren(...t.actions.map((a) => el("button", {
    type: "button", dataset: { action: a }, onclick: () => showAction(a),
  }, ACTIONS[a]?.label || a)));
  if (!t.actions.length) $("#actions").append(el("p", { class: "none" }, "No action you may take now."));
  const refused = t.refused_actions || [];
  $("#why-not-list").replaceChildren(...refused.map((r) => el("li", { dataset: { action: r.action } },
    el("strong", {}, ACTIONS[r.action]?.label || r.action), `: ${r.why}`)));
  $("#why-not").hidden = !refused.length;
  renderOwner(t);
  renderWatch(t);
  $("#ticket-history").replaceChildren(...t.events.slice().reverse().map((e) => el("li", { class: e.public ? "public" : "internal" },
    el("div", { class: "meta" }, `${fmtTime(e.at)} · ${e.actor} · ${e.kind.replace("_", " ")}${e.public ? "" : " · internal"}`),
    e.body ? el("div", { class: "body" }, e.body) : null,
    e.kind === "rca_sent" ? el("div", { class: "body" }, `Cause: ${e.payload.cause}\nPlan: ${e.payload.plan}`) : null,
  )));
  const panel = $("#ticket");
  panel.hidden = false;
  document.querySelector(".layout").classList.add("with-ticket");
  document.querySelectorAll("#board-rows tr").forEach((r) => r.classList.toggle("selected", r.dataset.number === current));
  if (focus) panel.focus({ preventScroll: true });
}

function closeTicket() {
  const number = current;
  current = null;
  $("#ticket").hidden = true;
  $("#action-form").hidden = true;
  document.querySelector(".layout").classList.remove("with-ticket");
  history.replaceState(null, "", location.pathname + location.search);
  const link = [...document.querySelectorAll(".number-link")].find((a) => a.textContent === number);
  if (link) link.focus();
}

function showAction(name) {
  const spec = ACTIONS[name];
  outcome("");
  const form = $("#action-form");
  form.dataset.action = name;
  form.dataset.key = newKey();
  $("#action-legend").textContent = `${spec.label} ${current}`;
  $("#action-fields").replaceChildren(...spec.fields.map(([field, label, kind, required]) => {
    let input;
    if (Array.isArray(kind)) {
      input = el("select", { name: field, required }, kind.map((o) => el("option", { value: o }, o || "(next level)")));
    } else if (kind === "textarea") {
      input = el("textarea", { name: field, rows: 3, required });
    } else {
      input = el("input", { name: field, type: "text", required });
    }
    return el("label", {}, label, input);
  }));
  if (!spec.fields.length) $("#action-fields").append(el("p", {}, "No details needed."));
  form.hidden = false;
  (form.querySelector("input, textarea, select") || form.querySelector("button[type=submit]")).focus();
}

// Consequential actions: the page shows what the action will do (from the API's dry run of the
// action itself: who is emailed, which clocks stop or start) and asks before doing it.
const CONFIRM = new Set(["close", "resolve", "escalate", "reopen"]);
const CHANGE_WORDS = {
  starts: "starts", "starts paused": "starts, paused (waiting on the customer)", met: "is met",
  stops: "stops", pauses: "pauses", resumes: "resumes", retargeted: "gets a new target",
};

function outcome(text, isError = false) {
  // The outcome of an action, shown (and announced: aria-live) where the action was taken.
  const box = $("#action-status");
  box.textContent = text;
  box.classList.toggle("error", isError);
}

function formBody(form) {
  const body = {};
  for (const [k, v] of new FormData(form)) {
    if (k === "to_level") { if (v) body[k] = Number(v); } else body[k] = v;
  }
  return body;
}

function previewParts(p) {
  const parts = [];
  if (p.state_before !== p.state_after) {
    parts.push(el("p", {}, `State: ${STATE_LABELS[p.state_before]} → ${STATE_LABELS[p.state_after]}`));
  }
  if (p.level_before !== p.level_after) parts.push(el("p", {}, `Level: ${p.level_before} → ${p.level_after}`));
  parts.push(el("h3", {}, "Emails sent"));
  parts.push(p.emails.length
    ? el("ul", { id: "confirm-emails" }, p.emails.map((e) => el("li", {},
      el("strong", {}, e.recipient), ` (${e.audience === "customer" ? "customer" : "XOP"}): ${e.subject}`)))
    : el("p", { id: "confirm-emails" }, "Nobody is emailed."));
  parts.push(el("h3", {}, "SLA clocks"));
  parts.push(p.clocks.length
    ? el("ul", { id: "confirm-clocks" }, p.clocks.map((c) => el("li", {},
      `${CLOCK_LABELS[c.name] || c.label}${c.cycle ? ` (reopen ${c.cycle})` : ""} ${CHANGE_WORDS[c.change] || c.change}`,
      ["starts", "retargeted", "resumes"].includes(c.change) && c.due_at ? `: due ${fmtTime(c.due_at)}` : "")))
    : el("p", { id: "confirm-clocks" }, "No clock starts or stops."));
  return parts;
}

function confirmAction(name, preview) {
  // A modal dialog: the rest of the page is inert, Tab stays inside, Esc or Cancel says no.
  const dlg = $("#confirm-dialog");
  const label = ACTIONS[name].label;
  $("#confirm-title").textContent = `${label} ${preview.number}?`;
  $("#confirm-body").replaceChildren(...previewParts(preview));
  $("#confirm-ok").textContent = `Yes: ${label.toLowerCase()}`;
  dlg.returnValue = "";
  dlg.showModal();
  $("#confirm-cancel").focus(); // the safe choice has the focus; Enter on it does nothing harmful
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "confirm"), { once: true });
  });
}

function trapFocus(ev) {
  if (ev.key !== "Tab") return;
  const items = [...ev.currentTarget.querySelectorAll("button, [href], input, select, textarea")]
    .filter((n) => !n.disabled);
  if (!items.length) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
  else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
}

async function submitAction(ev) {
  ev.preventDefault();
  const form = ev.target;
  const name = form.dataset.action;
  const label = ACTIONS[name].label;
  const number = current;
  const body = formBody(form);
  const path = `tickets/${encodeURIComponent(number)}/${name}`;
  outcome("");
  if (CONFIRM.has(name)) {
    let preview;
    try {
      preview = await api(`${path}/preview`, { method: "POST", body });
    } catch (e) {
      outcome(`${label} refused: ${e.message}`, true);
      return;
    }
    if (!(await confirmAction(name, preview))) {
      outcome(`${label} not done: cancelled, nothing changed.`);
      form.querySelector("button[type=submit]").focus();
      return;
    }
  }
  try {
    await api(path, { method: "POST", body, key: form.dataset.key });
  } catch (e) {
    outcome(`${label} refused: ${e.message}`, true);
    return;
  }
  form.hidden = true;
  outcome(`${label}: done on ${number}.`);
  await Promise.all([openTicket(number, { focus: false }), loadBoard()]);
  $("#ticket").focus();
}

// ------------------------------------------------------------------ owner (take / assign / unassign)

function renderOwner(t) {
  // The owner and what this user may do about it; the outcome is announced right here.
  if (t.number !== $("#owner").dataset.number) $("#owner-status").textContent = "";
  $("#owner").dataset.number = t.number;
  $("#owner-name").textContent = t.owner || "unassigned";
  const may = t.ownership_actions || [];
  const parts = [];
  if (may.includes("take")) {
    parts.push(el("button", { type: "button", dataset: { own: "take" }, onclick: () => own("take", {}) }, "Take (assign to me)"));
  }
  if (may.includes("assign")) {
    const list = el("datalist", { id: "colleagues" }, (t.colleagues || []).map((c) => el("option", { value: c })));
    const input = el("input", { name: "to", list: "colleagues", required: true, maxlength: 120, autocomplete: "off" });
    parts.push(el("form", {
      class: "assign", onsubmit: (ev) => { ev.preventDefault(); own("assign", { to: input.value.trim() }); },
    }, el("label", {}, `Assign to a Level ${t.level} colleague `, input), list,
    el("button", { type: "submit", dataset: { own: "assign" } }, "Assign")));
  }
  if (may.includes("unassign")) {
    parts.push(el("button", { type: "button", dataset: { own: "unassign" }, onclick: () => own("unassign", {}) }, "Unassign"));
  }
  $("#owner-actions").replaceChildren(...parts);
}

async function own(action, body) {
  const status = $("#owner-status");
  status.classList.remove("error");
  try {
    const t = await api(`tickets/${encodeURIComponent(current)}/${action}`, { method: "POST", body, key: newKey() });
    status.textContent = t.owner ? `${t.number} is now owned by ${t.owner}.` : `${t.number} has no owner now.`;
  } catch (e) {
    status.textContent = `Refused: ${e.message}`;
    status.classList.add("error");
    return;
  }
  await Promise.all([openTicket(current, { focus: false }), loadBoard()]);
}

// ------------------------------------------------------------------ watch (updates by email)

function renderWatch(t) {
  // Staff with an address (staff.emails) follow a ticket; its customer emails are copied to them.
  if (t.number !== $("#watch").dataset.number) $("#watch-status").textContent = "";
  $("#watch").dataset.number = t.number;
  $("#watchers").textContent = t.watchers.length ? t.watchers.join(", ") : "nobody";
  const toggle = $("#watch-toggle");
  toggle.hidden = !t.may_watch && !t.watching;
  toggle.dataset.watching = t.watching ? "1" : "0";
  toggle.setAttribute("aria-pressed", t.watching ? "true" : "false");
  toggle.textContent = t.watching ? "Stop watching" : "Watch (its updates by email)";
}

async function toggleWatch() {
  const status = $("#watch-status");
  const action = $("#watch-toggle").dataset.watching === "1" ? "unwatch" : "watch";
  status.classList.remove("error");
  try {
    const t = await api(`tickets/${encodeURIComponent(current)}/${action}`, { method: "POST", body: {}, key: newKey() });
    status.textContent = t.watching
      ? `You watch ${t.number}: its updates come to you by email.`
      : `You no longer watch ${t.number}.`;
  } catch (e) {
    status.textContent = `Refused: ${e.message}`;
    status.classList.add("error");
    return;
  }
  await openTicket(current, { focus: false });
  $("#watch-toggle").focus();
}

// ------------------------------------------------------------------ open form

function fillSystems() {
  const cust = customers.find((c) => c.id === $("#o-customer").value);
  $("#o-system").replaceChildren(el("option", { value: "" }, "(not known)"),
    ...(cust ? cust.systems : []).map((s) => el("option", { value: s.id }, `${s.name} (${s.id})`)));
}

function showOpenForm() {
  if (!mayOpen) { say(`You cannot open tickets: ${whyNot}`, true); return; }
  const dlg = $("#open-dialog");
  const form = $("#open-form");
  form.reset();
  form.dataset.key = newKey();
  $("#open-error").hidden = true;
  fillSystems();
  dlg.showModal();
  form.querySelector("select, input").focus();
}

async function submitOpen(ev) {
  ev.preventDefault();
  const form = ev.target;
  const data = Object.fromEntries(new FormData(form));
  const body = {
    customer: data.customer, subject: data.subject, description: data.description,
    reporter_name: data.reporter_name, reporter_email: data.reporter_email,
    level: Number(data.level), source: data.source,
  };
  if (data.system) body.system = data.system;
  if (data.proposed_urgency) body.proposed_urgency = data.proposed_urgency;
  let t;
  try {
    t = await api("tickets", { method: "POST", body, key: form.dataset.key });
  } catch (e) {
    $("#open-error").textContent = e.message;
    $("#open-error").hidden = false;
    return;
  }
  $("#open-dialog").close();
  say(`Opened ${t.number}.`);
  await loadBoard();
  await openTicket(t.number);
}

// ------------------------------------------------------------------ start

async function start() {
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; loadBoard(); });
  $("#filters").addEventListener("change", () => { offset = 0; loadBoard(); });
  $("#prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); loadBoard(); });
  $("#next").addEventListener("click", () => { offset += PAGE_SIZE; loadBoard(); });
  $("#new-ticket").addEventListener("click", showOpenForm);
  $("#zone-toggle").addEventListener("click", () => {
    ownZone = !ownZone;
    showZone();
    if (current) openTicket(current, { focus: false });
  });
  $("#open-form").addEventListener("submit", submitOpen);
  $("#open-cancel").addEventListener("click", () => $("#open-dialog").close());
  $("#o-customer").addEventListener("change", fillSystems);
  $("#close-ticket").addEventListener("click", closeTicket);
  $("#action-form").addEventListener("submit", submitAction);
  $("#action-cancel").addEventListener("click", () => { $("#action-form").hidden = true; });
  $("#watch-toggle").addEventListener("click", toggleWatch);
  $("#confirm-cancel").addEventListener("click", () => $("#confirm-dialog").close(""));
  $("#confirm-dialog").addEventListener("keydown", trapFocus);
  document.addEventListener("keydown", (ev) => {
    const typing = ev.target.closest("input, textarea, select, dialog");
    if (ev.key === "Escape" && !typing && current) closeTicket();
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "n") { ev.preventDefault(); showOpenForm(); }
    if (ev.key === "/") { ev.preventDefault(); $("#f-q").focus(); }
  });

  try {
    const [me, custs] = await Promise.all([api("me"), api("customers")]);
    $("#me").textContent = me.name;
    supportZone = me.support_zone || "UTC";
    showZone();
    $("#me-level").textContent = `(L${me.level})`;
    if (!me.may_act) {
      // A read-only user gets no way to open a ticket, and the reason on the page.
      $("#new-ticket").hidden = true;
      $("#read-only").hidden = false;
      $("#read-only").title = me.why_not;
      mayOpen = false;
      whyNot = me.why_not;
    }
    customers = custs;
  } catch (e) {
    if (e.status !== 401) say(e.message, true);
    return;
  }
  const opts = customers.map((c) => el("option", { value: c.id }, `${c.name} (${c.id})`));
  $("#f-customer").append(...opts.map((o) => o.cloneNode(true)));
  $("#o-customer").replaceChildren(...opts);
  await loadBoard();
  if (location.hash.length > 1) await openTicket(decodeURIComponent(location.hash.slice(1)), { focus: false });
  setInterval(tick, 1000);
  setInterval(() => { loadBoard(); if (current) openTicket(current, { focus: false }); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
