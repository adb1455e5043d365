// OpenOMS web blotter: plain JavaScript, no build step. Talks to the REST API with the session
// token (Authorization: Bearer) and follows the WebSocket stream /api/v1/stream (see README,
// "Stream protocol"): a snapshot, then numbered updates; a gap (prev != last seq) resumes.
"use strict";

const $ = (id) => document.getElementById(id);
const OPEN = new Set(["pending_new", "new", "partially_filled", "pending_cancel", "pending_replace", "done_for_day", "stopped", "suspended"]);
const state = {
  token: sessionStorage.getItem("oms-token"), me: null, instruments: new Map(), accounts: [],
  orders: new Map(), executions: [], execIds: new Set(), positions: new Map(), quotes: new Map(),
  killSwitches: {}, epoch: null, seq: 0, socket: null, pnl: [], selected: null, dirty: new Set(), algos: new Map(), staged: new Map(), watch: [], usage: new Map(),
};

// ---- HTTP ------------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = "Bearer " + state.token;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    return { ok: false, status: 0, body: { error: { code: "NETWORK", message: "the server cannot be reached" } } };
  }
  let data = null;
  try { data = await response.json(); } catch (_) { data = {}; }
  if (response.status === 401 && path !== "/api/v1/auth/login") signOut("your session ended; sign in again");
  return { ok: response.ok, status: response.status, body: data };
}

const errorText = (r) => (r.body && r.body.error ? `${r.body.error.message}` : `HTTP ${r.status}`);
const esc = (v) => String(v ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const hms = (iso) => (iso ? iso.slice(11, 19) : "");

// ---- exact decimal checks (no binary floats for prices and quantities) -------------------------

function decimalParts(text) {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*$/.exec(text);
  return m ? { int: m[1], frac: m[2] || "" } : null;
}
function scaled(text, places) {
  const p = decimalParts(text);
  return BigInt(p.int + p.frac.padEnd(places, "0"));
}
function isMultiple(value, step) {
  const places = Math.max((decimalParts(value).frac || "").length, (decimalParts(step).frac || "").length);
  const s = scaled(step, places);
  return s === 0n || scaled(value, places) % s === 0n;
}
const isPositive = (text) => decimalParts(text) !== null && /[1-9]/.test(text);

// For display only: an exact decimal string rounded (half away from zero) to ``places`` decimals.
function rounded(text, places) {
  if (text === null || text === undefined || text === "") return "";
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(text));
  if (!m || (m[3] || "").length <= places) return String(text);
  const digits = BigInt(m[2] + m[3].slice(0, places + 1));
  const value = (digits + 5n) / 10n;
  const padded = value.toString().padStart(places + 1, "0");
  const result = places ? `${padded.slice(0, -places)}.${padded.slice(-places)}` : padded;
  return (m[1] && /[1-9]/.test(result) ? "-" : "") + result;
}

// ---- login -----------------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const r = await api("POST", "/api/v1/auth/login", { username: $("login-user").value.trim(), password: $("login-password").value });
  if (!r.ok) { $("login-error").textContent = errorText(r); return; }
  state.token = r.body.token;
  sessionStorage.setItem("oms-token", state.token);
  $("login-password").value = "";
  await start(r.body);
});

$("logout").addEventListener("click", async () => { await api("POST", "/api/v1/auth/logout"); signOut(""); });

function signOut(message) {
  state.token = null; state.me = null;
  sessionStorage.removeItem("oms-token");
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
  $("app-view").hidden = true; $("login-view").hidden = false;
  $("login-error").textContent = message || "";
}

async function start(me) {
  state.me = me;
  $("login-view").hidden = true; $("app-view").hidden = false;
  $("who").textContent = `${me.user} · ${me.roles.join(", ")}`;
  state.watch = JSON.parse(localStorage.getItem(`oms-watch:${me.user}`) || "[]"); // each user's own list, kept in this browser
  schedule("quotes");
  const may = (action) => me.actions.includes(action);
  $("kill-form").hidden = !may("kill_switch");
  $("kill-note").hidden = may("kill_switch");
  $("t-hint").textContent = may("trade") ? "" : may("stage") ? "You stage orders for traders to release; sending them yourself will be refused."
    : "Your roles do not include trading: orders you send will be refused.";
  $("t-stage").hidden = $("stage-fields").hidden = !may("stage");
  const [instruments, accounts, venues] = await Promise.all([api("GET", "/api/v1/instruments"), api("GET", "/api/v1/accounts"),
    api("GET", "/api/v1/venues")]);
  $("t-route").innerHTML = `<option value="">routing rules</option><option value="sor">smart order router</option>` +
    ((venues.body && venues.body.venues) || []).map((v) => `<option value="${esc(v.venue_id)}">venue ${esc(v.venue_id)}${v.state === "up" ? "" : ` (${esc(v.state)})`}</option>`).join("");
  state.instruments = new Map((instruments.body.instruments || []).map((i) => [i.symbol, i]));
  $("instrument-list").innerHTML = [...state.instruments.values()].map((i) => `<option value="${esc(i.symbol)}">${esc(i.description)}</option>`).join("");
  state.accounts = (accounts.body.accounts || []).map((a) => a.account)
    .filter((a) => me.accounts === "*" || me.accounts.includes(a));
  const tradable = me.tradable_accounts.length ? state.accounts.filter((a) => me.tradable_accounts.includes(a) || me.tradable_accounts.includes("*")) : state.accounts;
  $("t-account").innerHTML = tradable.map((a) => `<option>${esc(a)}</option>`).join("");
  $("f-account").innerHTML = `<option value="">all accounts</option>` + state.accounts.map((a) => `<option>${esc(a)}</option>`).join("");
  connect();
  refreshUsage();
}

// ---- the stream ------------------------------------------------------------------------------

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/stream`;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => {
    const resume = state.epoch ? { epoch: state.epoch, seq: state.seq } : null;
    socket.send(JSON.stringify({ type: "subscribe", token: state.token, resume }));
  };
  socket.onmessage = (event) => {
    const data = JSON.parse(event.data); // one message, or a JSON array of those that were waiting
    for (const m of Array.isArray(data) ? data : [data]) { if (state.socket !== socket) break; onMessage(m); }
  };
  socket.onclose = () => {
    setStatus(false);
    if (state.token) setTimeout(() => { if (state.token) connect(); }, 1000);
  };
}

function setStatus(live) {
  $("stream-status").textContent = live ? "live" : "reconnecting";
  $("stream-status").classList.toggle("live", live);
  $("stream-seq").textContent = state.seq ? `seq ${state.seq}` : "";
}

function onMessage(m) {
  if (m.seq !== undefined && m.prev !== undefined) {
    if (m.prev !== state.seq) { state.socket.close(); return; } // a gap: reconnect and resume from state.seq
    state.seq = m.seq;
  }
  switch (m.type) {
    case "snapshot":
      state.epoch = m.epoch; state.seq = m.seq;
      state.orders = new Map(m.orders.map((o) => [o.order_id, o]));
      state.executions = m.executions.slice().reverse(); state.execIds = new Set(m.executions.map((e) => e.exec_id));
      state.positions = new Map(m.positions.map((p) => [`${p.account}|${p.symbol}`, p]));
      state.killSwitches = m.kill_switches;
      state.algos = new Map((m.algos || []).map((a) => [a.algo_id, a]));
      state.staged = new Map((m.staged || []).map((s) => [s.staged_id, s]));
      setStatus(true); schedule("orders", "executions", "positions", "risk", "algos", "staged");
      break;
    case "resumed": state.epoch = m.epoch; setStatus(true); break;
    case "order": state.orders.set(m.order.order_id, m.order); schedule("orders"); if (state.selected === m.order.order_id) loadDetail(m.order.order_id); break;
    case "execution": {
      const e = m.execution;
      if (state.execIds.has(e.exec_id)) state.executions = state.executions.map((x) => (x.exec_id === e.exec_id ? e : x));
      else { state.executions.unshift(e); state.execIds.add(e.exec_id); }
      schedule("executions"); break;
    }
    case "algo": state.algos.set(m.algo.algo_id, m.algo); schedule("algos"); break;
    case "staged": state.staged.set(m.staged.staged_id, m.staged); schedule("staged"); break;
    case "position": state.positions.set(`${m.position.account}|${m.position.symbol}`, m.position); schedule("positions"); break;
    case "marks":
      for (const p of m.positions) {
        const held = state.positions.get(`${p.account}|${p.symbol}`);
        if (held) Object.assign(held, { mark: p.mark, unrealized_pnl: p.unrealized_pnl, realized_pnl: p.realized_pnl });
      }
      samplePnl(); schedule("positions"); break;
    case "quotes": for (const q of m.quotes) state.quotes.set(q.symbol, q); schedule("quotes"); break;
    case "usage": for (const row of m.accounts) state.usage.set(row.account, row); schedule("usage"); break;
    case "risk": {
      const e = m.event;
      if (e.type === "KillSwitchEngaged") state.killSwitches[e.scope] = e.reason;
      if (e.type === "KillSwitchReleased") delete state.killSwitches[e.scope];
      schedule("risk"); break; // the usage of every account follows on the stream within a second
    }
    case "rejection": $("t-result").innerHTML = `<span class="error">${esc(m.code)}: ${esc(m.command)} refused: ${esc(m.message)}</span>`; break;
    case "error":
      if (m.code === "UNAUTHENTICATED" || m.code === "SESSION_ENDED") { signOut("your session ended; sign in again"); return; }
      if (m.code === "ENTITLEMENTS_CHANGED") { // start over with what the user may now see
        state.epoch = null; state.seq = 0;
        api("GET", "/api/v1/auth/me").then((r) => { if (r.ok) { if (state.socket) state.socket.onclose = null; start(r.body); } });
        return;
      }
      $("stream-seq").textContent = m.message; break;
  }
  if (m.seq) $("stream-seq").textContent = `seq ${state.seq}`;
}

// Many updates arrive per frame under load: render each view at most once per animation frame.
let frame = 0;
function schedule(...views) {
  views.forEach((v) => state.dirty.add(v));
  if (!frame) frame = requestAnimationFrame(render);
}
function render() {
  frame = 0;
  const dirty = state.dirty; state.dirty = new Set();
  if (dirty.has("orders")) renderOrders();
  if (dirty.has("executions")) executionsTable.setRows(state.executions);
  if (dirty.has("positions")) renderPositions();
  if (dirty.has("quotes")) renderQuotes();
  if (dirty.has("risk")) renderRisk();
  if (dirty.has("algos")) renderAlgos();
  if (dirty.has("staged")) renderStaged();
  if (dirty.has("usage")) renderUsage();
}

// ---- a virtualized table: only the rows in view are in the DOM (thousands of orders stay fast) --

class VTable {
  constructor(el, columns, onClick) {
    this.el = el; this.columns = columns; this.rowHeight = Number(el.dataset.rowHeight || 24);
    this.rows = []; this.sortKey = null; this.sortDir = -1; this.onClick = onClick;
    el.innerHTML = `<div class="vhead">${columns.map((c) => `<div class="cell" data-key="${c.key}" style="width:${c.width}px">${c.label}</div>`).join("")}</div><div class="vbody"></div>`;
    this.body = el.querySelector(".vbody");
    el.querySelector(".vhead").addEventListener("click", (e) => {
      const key = e.target.dataset.key; if (!key) return;
      this.sortDir = this.sortKey === key ? -this.sortDir : 1; this.sortKey = key; this.setRows(this.source || []);
    });
    el.addEventListener("scroll", () => this.draw());
    this.body.addEventListener("click", (e) => this.onClick && this.onClick(e));
  }
  setRows(rows) {
    this.source = rows;
    this.rows = rows.slice();
    if (this.sortKey) {
      const k = this.sortKey, d = this.sortDir;
      const numeric = this.columns.find((c) => c.key === k)?.numeric;
      this.rows.sort((a, b) => {
        const x = numeric ? Number(a[k]) : String(a[k] ?? ""), y = numeric ? Number(b[k]) : String(b[k] ?? "");
        return x < y ? -d : x > y ? d : 0;
      });
    }
    this.body.style.height = `${this.rows.length * this.rowHeight}px`;
    this.draw();
  }
  draw() {
    const top = this.el.scrollTop, height = this.el.clientHeight || 300, h = this.rowHeight;
    const first = Math.max(0, Math.floor(top / h) - 5), last = Math.min(this.rows.length, Math.ceil((top + height) / h) + 5);
    let html = "";
    for (let i = first; i < last; i++) {
      const row = this.rows[i];
      html += `<div class="vrow${row.__selected ? " selected" : ""}" data-index="${i}" style="top:${i * h}px;height:${h}px">` +
        this.columns.map((c) => `<div class="cell ${c.cls ? c.cls(row) : ""}" style="width:${c.width}px">${c.render ? c.render(row) : esc(row[c.key])}</div>`).join("") + "</div>";
    }
    // Rows that did not change keep their elements: a redraw between a button's mousedown and
    // mouseup (an unrelated stream update) would otherwise swallow the click.
    if (html !== this.drawn) { this.body.innerHTML = html; this.drawn = html; }
  }
  rowAt(target) {
    const el = target.closest(".vrow");
    return el ? this.rows[Number(el.dataset.index)] : null;
  }
}

const mayTrade = (account) => state.me && state.me.actions.includes("trade") &&
  (state.me.tradable_accounts.includes("*") || state.me.tradable_accounts.includes(account) || state.me.accounts === "*");

const ordersTable = new VTable($("orders-table"), [
  { key: "created_at", label: "Time", width: 78, render: (o) => hms(o.created_at) },
  { key: "order_id", label: "Order", width: 70 },
  { key: "parent_id", label: "Algo", width: 50 },
  { key: "account", label: "Account", width: 80 },
  { key: "symbol", label: "Symbol", width: 90 },
  { key: "side", label: "Side", width: 50, cls: (o) => o.side },
  { key: "quantity", label: "Qty", width: 70, numeric: true },
  { key: "price", label: "Price", width: 70, numeric: true },
  { key: "ord_type", label: "Type", width: 60 },
  { key: "tif", label: "TIF", width: 40 },
  { key: "status", label: "Status", width: 110, cls: (o) => `status-${o.status}` },
  { key: "cum_qty", label: "Filled", width: 60, numeric: true },
  { key: "avg_px", label: "Avg px", width: 70, numeric: true },
  { key: "actions", label: "", width: 140, render: (o) => (OPEN.has(o.status) && mayTrade(o.account)
    ? `<button data-act="replace">Replace</button><button data-act="cancel">Cancel</button>` : "") },
], onOrderClick);

const executionsTable = new VTable($("executions-table"), [
  { key: "time", label: "Time", width: 78, render: (e) => hms(e.time) },
  { key: "exec_id", label: "Exec", width: 130 },
  { key: "order_id", label: "Order", width: 60 },
  { key: "account", label: "Account", width: 80 },
  { key: "symbol", label: "Symbol", width: 80 },
  { key: "side", label: "Side", width: 50, cls: (e) => e.side },
  { key: "quantity", label: "Qty", width: 60, numeric: true },
  { key: "price", label: "Price", width: 70, numeric: true },
  { key: "liquidity", label: "Liq", width: 50 },
  { key: "busted", label: "", width: 50, render: (e) => (e.busted ? "busted" : "") },
], null);

function filteredOrders() {
  const status = $("f-status").value, symbol = $("f-symbol").value.trim().toUpperCase(), account = $("f-account").value;
  const parent = $("f-parent").value.trim();
  const rows = [];
  for (const o of state.orders.values()) {
    if (status === "open" ? !OPEN.has(o.status) : status && o.status !== status) continue;
    if (symbol && !o.symbol.includes(symbol)) continue;
    if (account && o.account !== account) continue;
    if (parent && o.parent_id !== parent) continue;
    o.__selected = o.order_id === state.selected;
    rows.push(o);
  }
  return rows.reverse(); // newest first unless a column sort is chosen
}
function renderOrders() {
  const rows = filteredOrders();
  $("order-count").textContent = `${rows.length} shown of ${state.orders.size}`;
  ordersTable.setRows(rows);
}
["f-status", "f-account"].forEach((id) => $(id).addEventListener("change", renderOrders));
["f-symbol", "f-parent"].forEach((id) => $(id).addEventListener("input", renderOrders));

async function onOrderClick(event) {
  const order = ordersTable.rowAt(event.target);
  if (!order) return;
  const act = event.target.dataset.act;
  if (act === "cancel") {
    const r = await api("POST", `/api/v1/orders/${order.order_id}/cancel`, {});
    $("t-result").innerHTML = r.ok ? `<span class="ok">cancel of ${esc(order.order_id)} sent</span>` : `<span class="error">${esc(errorText(r))}</span>`;
    return;
  }
  state.selected = order.order_id;
  renderOrders();
  loadDetail(order.order_id);
  if (act === "replace") {
    $("replace-box").hidden = false;
    $("r-quantity").value = order.quantity; $("r-price").value = order.price || "";
    $("r-result").textContent = "";
  }
}

$("r-close").addEventListener("click", () => { $("replace-box").hidden = true; });
$("r-send").addEventListener("click", async () => {
  const body = {};
  if ($("r-quantity").value.trim()) body.quantity = $("r-quantity").value.trim();
  if ($("r-price").value.trim()) body.price = $("r-price").value.trim();
  const r = await api("POST", `/api/v1/orders/${state.selected}/replace`, body);
  $("r-result").innerHTML = r.ok ? `<span class="ok">replace sent (${esc(r.body.order.status)})</span>` : `<span class="error">${esc(errorText(r))}</span>`;
});

$("cancel-all").addEventListener("click", async () => {
  const open = filteredOrders().filter((o) => OPEN.has(o.status) && o.status !== "pending_cancel" && mayTrade(o.account));
  let refused = 0;
  for (let i = 0; i < open.length; i += 20) {
    const results = await Promise.all(open.slice(i, i + 20).map((o) => api("POST", `/api/v1/orders/${o.order_id}/cancel`, {})));
    refused += results.filter((r) => !r.ok).length;
  }
  $("t-result").innerHTML = `<span class="${refused ? "error" : "ok"}">cancel sent for ${open.length - refused} order(s)${refused ? `, ${refused} refused` : ""}</span>`;
});

async function loadDetail(orderId) {
  $("detail-id").textContent = orderId;
  const r = await api("GET", `/api/v1/audit/orders/${orderId}`);
  if (!r.ok) { $("detail").innerHTML = `<p class="error">${esc(errorText(r))}</p>`; return; }
  const summary = (d) => Object.entries(d).filter(([, v]) => v !== null && v !== "" && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`).join(" ").slice(0, 140);
  $("detail").innerHTML = `<table class="small"><thead><tr><th>Time</th><th>Event</th><th>By</th><th>Via</th><th>Status</th><th>Detail</th></tr></thead><tbody>` +
    r.body.events.map((e) => `<tr><td>${esc(hms(e.time))}</td><td>${esc(e.type)}</td><td>${esc(e.actor.user)}</td><td>${esc(e.actor.channel)}</td>` +
      `<td>${esc(e.after.status)}</td><td>${esc(summary(e.detail))}</td></tr>`).join("") + "</tbody></table>";
}

// ---- order ticket ----------------------------------------------------------------------------

const FIELD_OF = {
  UNKNOWN_INSTRUMENT: "symbol", UNKNOWN_ACCOUNT: "account", NOT_PERMITTED: "account", NOT_ENTITLED: "account",
  INVALID_QUANTITY: "quantity", LOT_SIZE_VIOLATION: "quantity", INVALID_PRICE: "price", TICK_SIZE_VIOLATION: "price",
};
function fieldError(field, message) { document.querySelector(`.field-error[data-for="${field}"]`).textContent = message; }
function clearErrors() { document.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; }); $("t-result").textContent = ""; }

function ticketShape() {
  const type = $("t-type").value, algo = $("t-algo").value;
  // An algorithm's children are limit orders at the price given, else market orders: no type, stop or TIF.
  $("t-type").disabled = $("t-tif").disabled = Boolean(algo);
  $("t-price").disabled = !algo && (type === "market" || type === "stop");
  $("t-stop").disabled = Boolean(algo) || !(type === "stop" || type === "stop_limit");
  $("algo-fields").hidden = !algo;
  document.querySelectorAll("#algo-fields [data-kinds]").forEach((label) => { label.hidden = !label.dataset.kinds.split(" ").includes(algo); });
  $("t-submit").textContent = algo ? `Start ${algo.toUpperCase()}` : "Send order";
}
$("t-type").addEventListener("change", ticketShape);
$("t-algo").addEventListener("change", () => { clearErrors(); ticketShape(); });

// "HH:MM[:SS]" today in the browser's time zone -> an ISO instant (the server works in UTC).
function todayAt(text) {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return null;
  const now = new Date(), d = new Date(now);
  d.setHours(Number(m[1]), Number(m[2]), Number(m[3] || 0), 0);
  if (now - d > 12 * 3600 * 1000) d.setDate(d.getDate() + 1); // 00:10 typed at 23:50 is tomorrow's
  return d;
}
const isPercent = (text, allowZero) => decimalParts(text) !== null && Number(text) <= 100 && (allowZero || /[1-9]/.test(text));

function validateAlgo(instrument, quantity) {
  const kind = $("t-algo").value;
  let ok = true;
  const start = $("a-start").value ? todayAt($("a-start").value) : null, end = $("a-end").value ? todayAt($("a-end").value) : null;
  if (kind === "twap" || kind === "vwap") {
    if (!end) { fieldError("time", `${kind.toUpperCase()} needs an end time`); ok = false; }
    const interval = $("a-interval").value.trim();
    if (!/^\d+$/.test(interval) || Number(interval) < 1 || Number(interval) > 86400) { fieldError("time", "slice every 1-86400 seconds"); ok = false; }
  }
  if (ok && end && end <= (start || new Date())) { fieldError("time", "end time must be after the start time"); ok = false; }
  if (kind === "pov" && !isPercent($("a-pov").value.trim(), false)) { fieldError("participation", "participation must be above 0 and at most 100 %"); ok = false; }
  if (kind === "twap" || kind === "vwap") {
    const low = $("a-min").value.trim(), high = $("a-max").value.trim();
    if ((low && !isPercent(low, true)) || (high && !isPercent(high, true))) { fieldError("participation", "min and max are 0-100 % of the volume"); ok = false; }
    else if (low && high && Number(low) > Number(high)) { fieldError("participation", `min ${low} % is above max ${high} %`); ok = false; }
  }
  if (kind === "iceberg") {
    const display = $("a-display").value.trim();
    if (!isPositive(display)) { fieldError("display", "an iceberg needs a positive display quantity"); ok = false; }
    else if (instrument && !isMultiple(display, instrument.lot_size)) { fieldError("display", `display quantity must be whole lots of ${instrument.lot_size}`); ok = false; }
    else if (isPositive(quantity) && scaled(display, 12) > scaled(quantity, 12)) { fieldError("display", `display quantity ${display} is above the order quantity ${quantity}`); ok = false; }
  }
  return ok;
}

function validateTicket() {
  clearErrors();
  const instrument = state.instruments.get($("t-symbol").value.trim().toUpperCase());
  const quantity = $("t-quantity").value.trim(), price = $("t-price").value.trim(), stop = $("t-stop").value.trim();
  const algo = $("t-algo").value, type = algo ? (price ? "limit" : "market") : $("t-type").value;
  let ok = algo ? validateAlgo(instrument, quantity) : true;
  if (!instrument) { fieldError("symbol", "choose an instrument from the list"); ok = false; }
  if (!$("t-account").value) { fieldError("account", "no account you may trade"); ok = false; }
  if (!isPositive(quantity)) { fieldError("quantity", "quantity must be a positive number"); ok = false; }
  else if (instrument && !isMultiple(quantity, instrument.lot_size)) { fieldError("quantity", `quantity must be a multiple of the lot size ${instrument.lot_size}`); ok = false; }
  if (type === "limit" || type === "stop_limit") {
    if (!isPositive(price)) { fieldError("price", "a limit order needs a positive price"); ok = false; }
    else if (instrument && !isMultiple(price, instrument.tick_size)) { fieldError("price", `price must be a multiple of the tick size ${instrument.tick_size}`); ok = false; }
  }
  if ((type === "stop" || type === "stop_limit") && !isPositive(stop)) { fieldError("price", "a stop order needs a stop price"); ok = false; }
  return ok;
}

// Which ticket field a refusal of an algorithm concerns: by the detail it names, else by its words.
function algoField(error) {
  const keys = Object.keys(error.detail || {}).join(" ") + " " + (error.message || "");
  if (/display/.test(keys)) return "display";
  if (/participation/.test(keys)) return "participation";
  if (/end time|start time|end_at|start_at|interval/.test(keys)) return "time";
  if (/quantity/.test(keys)) return "quantity";
  if (/price|tick/.test(keys)) return "price";
  return null;
}

function algoBody(base) {
  const body = { account: base.account, symbol: base.symbol, side: base.side, quantity: base.quantity, kind: $("t-algo").value, route: base.route };
  const value = (id) => $(id).value.trim();
  if (value("t-price")) body.limit_price = value("t-price");
  const visible = (id) => !$(id).closest("label").hidden && value(id);
  if (visible("a-start")) body.start_at = todayAt(value("a-start")).toISOString();
  if (visible("a-end")) body.end_at = todayAt(value("a-end")).toISOString();
  if (visible("a-interval")) body.interval_s = Number(value("a-interval"));
  if (visible("a-pov")) body.participation_pct = value("a-pov");
  if (visible("a-min")) body.min_participation_pct = value("a-min");
  if (visible("a-max")) body.max_participation_pct = value("a-max");
  if (visible("a-display")) body.display_qty = value("a-display");
  return body;
}

$("ticket").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!validateTicket()) return;
  const type = $("t-type").value, algo = $("t-algo").value;
  const body = { account: $("t-account").value, symbol: $("t-symbol").value.trim().toUpperCase(), side: $("t-side").value,
    quantity: $("t-quantity").value.trim(), ord_type: type, tif: $("t-tif").value };
  if ($("t-route").value) body.route = $("t-route").value;
  if (type === "limit" || type === "stop_limit") body.price = $("t-price").value.trim();
  if (type === "stop" || type === "stop_limit") body.stop_price = $("t-stop").value.trim();
  $("t-submit").disabled = true;
  const r = algo ? await api("POST", "/api/v1/algos", algoBody(body)) : await api("POST", "/api/v1/orders", body);
  $("t-submit").disabled = false;
  if (r.ok && algo) {
    const a = r.body.algo;
    $("t-result").innerHTML = `<span class="ok">algo ${esc(a.algo_id)} started (${esc(a.status)})</span>`;
    state.algos.set(a.algo_id, { ...a, children: undefined, ...(state.algos.get(a.algo_id) || {}) });
    schedule("algos");
    return;
  }
  if (r.ok) {
    $("t-result").innerHTML = `<span class="ok">order ${esc(r.body.order.order_id)} accepted (${esc(r.body.order.status)})</span>`;
    // The stream may already have brought a later state (a fill) before this answer: never go back.
    if (!state.orders.has(r.body.order.order_id)) { state.orders.set(r.body.order.order_id, r.body.order); schedule("orders"); }
    return;
  }
  const error = r.body.error || {};
  const field = (algo && error.code === "INVALID_ALGO" ? algoField(error) : null) || FIELD_OF[error.code] ||
    (/^RISK_(MAX_QUANTITY|MAX_NOTIONAL|POSITION|CREDIT|EXPOSURE|PCT_ADV)/.test(error.code || "") ? "quantity" : null) ||
    (/^RISK_PRICE/.test(error.code || "") ? "price" : null) || (/ROUT/.test(error.code || "") ? "route" : null);
  if (field) fieldError(field, error.message);
  $("t-result").innerHTML = `<span class="error">${esc(error.code || "")}: ${esc(errorText(r))}</span>`;
});

// ---- positions and intraday P&L ------------------------------------------------------------------

const signed = (v) => (v === null || v === undefined ? "" : `<span class="${Number(v) >= 0 ? "pos" : "neg"}">${esc(v)}</span>`);
function renderPositions() {
  const rows = [...state.positions.values()].sort((a, b) => (a.account + a.symbol).localeCompare(b.account + b.symbol));
  $("positions").innerHTML = rows.map((p) => `<tr><td>${esc(p.account)}</td><td>${esc(p.symbol)}</td><td>${esc(p.quantity)}</td><td title="${esc(p.avg_price)}">${esc(rounded(p.avg_price, 4))}</td>` +
    `<td>${esc(p.mark)}</td><td>${signed(rounded(p.realized_pnl, 2))}</td><td>${signed(rounded(p.unrealized_pnl, 2))}</td></tr>`).join("");
  drawPnl();
}
function totalPnl() {
  // A sum across currencies would mislead: the chart follows the largest currency's P&L.
  const byCurrency = {};
  for (const p of state.positions.values()) {
    byCurrency[p.currency] = (byCurrency[p.currency] || 0) + Number(p.realized_pnl || 0) + Number(p.unrealized_pnl || 0);
  }
  const currency = Object.keys(byCurrency).sort((a, b) => Math.abs(byCurrency[b]) - Math.abs(byCurrency[a]))[0];
  return currency ? { currency, value: byCurrency[currency] } : null;
}
function samplePnl() {
  const total = totalPnl();
  if (!total) return;
  state.pnl.push({ t: Date.now(), v: total.value, c: total.currency });
  if (state.pnl.length > 3000) state.pnl.shift();
}
function drawPnl() {
  const canvas = $("pnl-chart"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, points = state.pnl;
  ctx.clearRect(0, 0, w, h);
  const total = totalPnl();
  $("pnl-total").innerHTML = total ? `${signed(total.value.toFixed(2))} ${esc(total.currency)}` : "";
  if (points.length < 2) return;
  const vs = points.map((p) => p.v), lo = Math.min(0, ...vs), hi = Math.max(0, ...vs), span = hi - lo || 1;
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  const y = (v) => h - 4 - ((v - lo) / span) * (h - 8);
  ctx.strokeStyle = "#2a3540"; ctx.beginPath(); ctx.moveTo(0, y(0)); ctx.lineTo(w, y(0)); ctx.stroke();
  ctx.strokeStyle = vs[vs.length - 1] >= 0 ? "#3fb27f" : "#e5534b"; ctx.lineWidth = 1.5; ctx.beginPath();
  points.forEach((p, i) => { const x = ((p.t - t0) / (t1 - t0 || 1)) * (w - 2) + 1; if (i) ctx.lineTo(x, y(p.v)); else ctx.moveTo(x, y(p.v)); });
  ctx.stroke();
}

// ---- market data -------------------------------------------------------------------------------

// The watch list: only those instruments, in the order added; empty: every instrument with a quote.
function renderQuotes() {
  const watched = state.watch.length ? state.watch : [...state.quotes.keys()];
  $("watch-note").textContent = state.watch.length ? `${state.watch.length} watched` : "all (add symbols to watch only those)";
  $("quotes").innerHTML = watched.map((symbol) => {
    const q = state.quotes.get(symbol) || { symbol, bid: "", ask: "", last: "" };
    return `<tr data-symbol="${esc(symbol)}"><td>${esc(symbol)}</td><td>${esc(q.bid)}</td><td>${esc(q.ask)}</td><td>${esc(q.last)}</td>` +
      `<td>${state.watch.length ? `<button data-unwatch="${esc(symbol)}" title="stop watching">×</button>` : ""}</td></tr>`;
  }).join("");
}
function saveWatch() {
  localStorage.setItem(`oms-watch:${state.me.user}`, JSON.stringify(state.watch));
  schedule("quotes");
}
$("watch-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const symbol = $("w-symbol").value.trim().toUpperCase();
  if (!state.instruments.has(symbol)) { $("watch-error").textContent = `unknown instrument ${symbol}`; return; }
  $("watch-error").textContent = "";
  if (!state.watch.includes(symbol)) state.watch.push(symbol);
  $("w-symbol").value = "";
  saveWatch();
});
$("quotes").addEventListener("click", (e) => {
  const unwatch = e.target.dataset.unwatch;
  if (unwatch) { state.watch = state.watch.filter((s) => s !== unwatch); saveWatch(); return; }
  const row = e.target.closest("tr");
  if (row) { $("t-symbol").value = row.dataset.symbol; const q = state.quotes.get(row.dataset.symbol); if (q) $("t-price").value = q.last; }
});

// ---- execution algorithms (parents); their children are ordinary orders on the blotter ---------

const ALGO_LIVE = new Set(["working", "paused"]);
const algosTable = new VTable($("algos-table"), [
  { key: "algo_id", label: "Algo", width: 50 },
  { key: "kind", label: "Kind", width: 60 },
  { key: "account", label: "Account", width: 80 },
  { key: "symbol", label: "Symbol", width: 70 },
  { key: "side", label: "Side", width: 45, cls: (a) => a.side },
  { key: "quantity", label: "Qty", width: 65, numeric: true },
  { key: "filled", label: "Filled", width: 65, numeric: true },
  { key: "working", label: "Working", width: 70, numeric: true },
  { key: "end_at", label: "Ends", width: 78, render: (a) => hms(a.end_at) },
  { key: "status", label: "Status", width: 70, cls: (a) => `status-${a.status}` },
  { key: "children", label: "Children", width: 70, render: (a) => `<button data-act="children">${(a.child_ids || []).length} ▸</button>` },
  { key: "actions", label: "", width: 200, render: (a) => (ALGO_LIVE.has(a.status) && mayTrade(a.account)
    ? (a.status === "paused" ? `<button data-act="resume">Resume</button>` : `<button data-act="pause">Pause</button>`) +
      `<button data-act="modify">Modify</button><button data-act="cancel">Cancel</button>` : "") },
  { key: "reason", label: "Reason", width: 220, render: (a) => `<span title="${esc(a.reason)}">${esc(a.reason)}</span>` },
], onAlgoClick);

function renderAlgos() {
  const rows = [...state.algos.values()].reverse();
  $("algo-count").textContent = `${rows.filter((a) => ALGO_LIVE.has(a.status)).length} working of ${rows.length}`;
  algosTable.setRows(rows);
}

async function onAlgoClick(event) {
  const algo = algosTable.rowAt(event.target);
  const act = event.target.dataset.act;
  if (!algo || !act) return;
  if (act === "children") { $("f-parent").value = algo.algo_id; $("f-status").value = ""; renderOrders(); return; }
  if (act === "modify") { openAlgoModify(algo); return; }
  const r = await api("POST", `/api/v1/algos/${algo.algo_id}/${act}`, { reason: "from the blotter" });
  // The row itself changes when the stream brings the journaled AlgoPaused/AlgoResumed/AlgoEnded.
  $("algo-result").innerHTML = r.ok ? `<span class="ok">${esc(act)} of ${esc(algo.algo_id)} done (${esc(r.body.algo.status)})</span>`
    : `<span class="error">${esc(act)} of ${esc(algo.algo_id)} refused: ${esc(errorText(r))}</span>`;
}

// Modify a running algorithm: only the fields changed are sent; the server re-slices on them.
let modifying = null;
function openAlgoModify(algo) {
  modifying = algo;
  $("algo-modify").hidden = false;
  $("am-id").textContent = algo.algo_id;
  $("am-quantity").value = algo.quantity;
  $("am-limit").value = algo.limit_price || "";
  $("am-end").value = algo.end_at ? new Date(algo.end_at).toTimeString().slice(0, 8) : "";
  $("am-pov").value = (algo.params && algo.params.participation_pct) || "";
  $("am-result").textContent = "";
}
$("am-close").addEventListener("click", () => { $("algo-modify").hidden = true; modifying = null; });
$("am-send").addEventListener("click", async () => {
  if (!modifying) return;
  const body = {}, value = (id) => $(id).value.trim();
  if (value("am-quantity") && value("am-quantity") !== modifying.quantity) body.quantity = value("am-quantity");
  if (value("am-limit") && value("am-limit") !== (modifying.limit_price || "")) body.limit_price = value("am-limit");
  const end = value("am-end") ? todayAt(value("am-end")) : null;
  if (end && (!modifying.end_at || end.getTime() !== new Date(modifying.end_at).setMilliseconds(0))) body.end_at = end.toISOString();
  if (value("am-pov") && value("am-pov") !== ((modifying.params && modifying.params.participation_pct) || "")) body.participation_pct = value("am-pov");
  if (!Object.keys(body).length) { $("am-result").innerHTML = `<span class="error">nothing changed</span>`; return; }
  for (const [key, text] of Object.entries(body)) {
    if (key !== "end_at" && !isPositive(text)) { $("am-result").innerHTML = `<span class="error">${esc(key)} must be a positive number</span>`; return; }
  }
  const r = await api("POST", `/api/v1/algos/${modifying.algo_id}/modify`, body);
  $("am-result").innerHTML = r.ok ? `<span class="ok">${esc(modifying.algo_id)} modified: ${esc(Object.keys(body).join(", "))}</span>`
    : `<span class="error">${esc((r.body.error && r.body.error.code) || "")}: ${esc(errorText(r))}</span>`;
});

// ---- staged orders: a portfolio manager stages, a trader picks up and releases ---------------------

const STAGED_OPEN = new Set(["staged", "picked_up"]);
const may = (action) => Boolean(state.me && state.me.actions.includes(action));
const stagedTable = new VTable($("staged-table"), [
  { key: "staged_id", label: "Staged", width: 60 },
  { key: "account", label: "Account", width: 80 },
  { key: "symbol", label: "Symbol", width: 70 },
  { key: "side", label: "Side", width: 45, cls: (s) => s.side },
  { key: "quantity", label: "Qty", width: 65, numeric: true },
  { key: "price", label: "Price", width: 70, numeric: true },
  { key: "ord_type", label: "Type", width: 50 },
  { key: "staged_by", label: "By", width: 70 },
  { key: "for_trader", label: "For", width: 70 },
  { key: "status", label: "Status", width: 75, cls: (s) => `status-${s.status}` },
  { key: "trader", label: "Trader", width: 70 },
  { key: "order_id", label: "Order", width: 55 },
  { key: "actions", label: "", width: 150, render: (s) => {
    const me = state.me ? state.me.user : "";
    let html = "";
    if (s.status === "staged" && mayTrade(s.account) && (!s.for_trader || s.for_trader === me)) html += `<button data-act="pick-up">Pick up</button>`;
    if (s.status === "picked_up" && s.trader === me && mayTrade(s.account)) html += `<button data-act="release">Release</button>`;
    if (STAGED_OPEN.has(s.status) && may("stage")) html += `<button data-act="cancel">Withdraw</button>`;
    return html;
  } },
  { key: "note", label: "Note", width: 200, render: (s) => `<span title="${esc(s.note)}">${esc(s.note)}</span>` },
], onStagedClick);

function renderStaged() {
  const rows = [...state.staged.values()].reverse();
  $("staged-count").textContent = `${rows.filter((s) => STAGED_OPEN.has(s.status)).length} open of ${rows.length}`;
  stagedTable.setRows(rows);
}

async function onStagedClick(event) {
  const staged = stagedTable.rowAt(event.target);
  const act = event.target.dataset.act;
  if (!staged || !act) return;
  const r = await api("POST", `/api/v1/staged/${staged.staged_id}/${act}`, act === "cancel" ? { reason: "withdrawn from the blotter" } : {});
  const words = { "pick-up": "picked up", release: "released", cancel: "withdrawn" }[act];
  if (r.ok && r.body.order && !state.orders.has(r.body.order.order_id)) { state.orders.set(r.body.order.order_id, r.body.order); schedule("orders"); }
  $("staged-result").innerHTML = r.ok
    ? `<span class="ok">${esc(staged.staged_id)} ${esc(words)}${r.body.order ? `: order ${esc(r.body.order.order_id)}` : ""}</span>`
    : `<span class="error">${esc(staged.staged_id)} not ${esc(words)}: ${esc((r.body.error && r.body.error.code) || "")} ${esc(errorText(r))}</span>`;
}

$("t-stage").addEventListener("click", async () => {
  if ($("t-algo").value) { clearErrors(); $("t-result").innerHTML = `<span class="error">an algorithm cannot be staged: choose "none"</span>`; return; }
  if (!validateTicket()) return;
  const type = $("t-type").value;
  const body = { account: $("t-account").value, symbol: $("t-symbol").value.trim().toUpperCase(), side: $("t-side").value,
    quantity: $("t-quantity").value.trim(), ord_type: type, tif: $("t-tif").value,
    for_trader: $("t-for").value.trim(), note: $("t-note").value.trim() };
  if (type === "limit" || type === "stop_limit") body.price = $("t-price").value.trim();
  if (type === "stop" || type === "stop_limit") body.stop_price = $("t-stop").value.trim();
  const r = await api("POST", "/api/v1/staged", body);
  if (r.ok) {
    $("t-result").innerHTML = `<span class="ok">staged ${esc(r.body.staged.staged_id)}${body.for_trader ? ` for ${esc(body.for_trader)}` : ""}</span>`;
    if (!state.staged.has(r.body.staged.staged_id)) { state.staged.set(r.body.staged.staged_id, r.body.staged); schedule("staged"); }
    return;
  }
  const error = r.body.error || {};
  const field = FIELD_OF[error.code];
  if (field) fieldError(field, error.message);
  $("t-result").innerHTML = `<span class="error">${esc(error.code || "")}: ${esc(errorText(r))}</span>`;
});

// ---- risk --------------------------------------------------------------------------------------

function renderRisk() {
  const scopes = Object.entries(state.killSwitches);
  $("kill-switches").innerHTML = scopes.length
    ? scopes.map(([scope, reason]) => `<p class="kill-on">KILL SWITCH ${esc(scope)}: ${esc(reason)}</p>`).join("") : `<p class="muted">no kill switch engaged</p>`;
}
// Limit usage: read once at sign-in, then kept current by the stream's "usage" messages.
async function refreshUsage() {
  if (!state.token) return;
  const r = await api("GET", "/api/v1/risk/usage");
  if (!r.ok) return;
  state.usage = new Map(r.body.accounts.map((a) => [a.account, a]));
  renderUsage();
}
function renderUsage() {
  const rows = [];
  for (const account of [...state.usage.values()].sort((a, b) => a.account.localeCompare(b.account))) {
    for (const [name, value] of Object.entries(account)) {
      if (value && typeof value === "object" && "used" in value) {
        const limited = value.limit !== undefined && value.limit !== null && Number(value.limit);
        const pct = limited ? ` (${((100 * Number(value.used)) / Number(value.limit)).toFixed(1)} %)` : "";
        rows.push(`<tr><td>${esc(account.account)}</td><td>${esc(name.replace(/_/g, " "))}</td><td>${esc(rounded(value.used, 2))}</td><td>${esc(limited ? value.limit + pct : "none")}</td></tr>`);
      }
    }
  }
  $("usage").innerHTML = rows.join("") || `<tr><td colspan="4" class="muted">no limits in use</td></tr>`;
}

async function killSwitch(path) {
  const r = await api("POST", path, { scope: $("k-scope").value.trim(), reason: $("k-reason").value.trim() || "from the blotter" });
  $("k-result").innerHTML = r.ok ? `<span class="ok">${esc(JSON.stringify(r.body))}</span>` : `<span class="error">${esc(errorText(r))}</span>`;
}
$("k-engage").addEventListener("click", () => killSwitch("/api/v1/risk/kill-switch"));
$("k-release").addEventListener("click", () => killSwitch("/api/v1/risk/kill-switch/release"));

// ---- start -------------------------------------------------------------------------------------

(async () => {
  if (state.token) {
    const r = await api("GET", "/api/v1/auth/me");
    if (r.ok) { await start(r.body); return; }
  }
  signOut("");
})();
