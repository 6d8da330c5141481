// Shelfcast's page: calls the JSON API of the server that served it, draws answers with plain DOM and SVG.
// Every text that comes from the server (product titles, notes, LLM sentences) is set with textContent,
// never parsed as HTML; the report is shown in a sandboxed frame where no script runs.
"use strict";

const TOKEN_KEY = "shelfcast-token";
// The longest a request may take before the page stops waiting and says so. Each LLM path gives way after
// 60 s and an answer may try three (sentence, few-shot, zero-shot), so questions get the most time; a report
// with an LLM narrative took 48-54 s on the whole built-in data at load 15 (eval/results/web/check_web.txt).
const TIMEOUT_S = { ask: 300, forecast: 240, newProduct: 240, report: 240, search: 20, sales: 20, groups: 20 };
const SEARCH_DELAY_MS = 250;
const PATH_WORDS = {
  "llm-few-shot": "the LLM, shown similar products",
  "llm-zero-shot": "the LLM, from the product's own history",
  "llm-new-product": "the LLM, from similar products' launches",
  "llm-lora-few-shot": "the tuned LLM, shown similar products",
  "llm-lora-zero-shot": "the tuned LLM, from the product's own history",
  "llm-lora-new-product": "the tuned LLM, from similar products' launches",
  regression: "the regression model",
  gbm: "the global gradient-boosting model",
  combination: "a weighted combination of the paths",
  baseline: "the statistical floor",
};

let groups = { departments: {} };

// ---------- small DOM helpers ----------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

const fmt = (value, digits = 1) =>
  Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });

// ---------- talking to the server ----------
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".") || "request"}: ${d.msg}`).join("; ");
  }
  return JSON.stringify(detail);
}

async function api(path, { body, method = body ? "POST" : "GET", timeoutS, signal, accept } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort("timeout"), timeoutS * 1000);
  const onCancel = () => controller.abort("cancelled");
  signal?.addEventListener("abort", onCancel);
  const headers = { Accept: accept || "application/json" };
  if (body) headers["Content-Type"] = "application/json";
  if (token()) headers.Authorization = `Bearer ${token()}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined,
                                   signal: controller.signal, cache: "no-store" });
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason === "timeout") {
      throw new ApiError(0, `No answer within ${timeoutS} s. The server may still be working on it: the ` +
        "embedded LLM answers one request at a time, and each LLM path gives way after 60 s. Try again, " +
        "or choose the statistics-only method for a quick answer.");
    }
    if (controller.signal.aborted) throw new ApiError(0, "Cancelled.");
    throw new ApiError(0, `The server could not be reached (${error.message}). Is shelfcast serve running?`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onCancel);
  }
  if (response.ok) return accept === "text/html" ? response.text() : response.json();
  let detail = response.statusText;
  try {
    detail = describeDetail((await response.json()).detail);
  } catch (_) { /* not JSON: keep the status text */ }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(`The server refused the token (${detail}). Enter it again.`);
    throw new ApiError(401, "This needs the server's access token: enter it above.");
  }
  if (response.status === 503) detail += " (the server is busy; try again in a moment)";
  throw new ApiError(response.status, detail);
}

// ---------- progress: elapsed time, a cancel button, never a spinner forever ----------
// The label is announced once (role=status); the seconds are not a live region, so a screen reader is not
// interrupted every second. When the work ends, focus moves to what it produced.
function startProgress(view, label, timeoutS) {
  const region = view.querySelector(".progress");
  const controller = new AbortController();
  const elapsed = el("span");
  const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
  cancel.addEventListener("click", () => controller.abort());
  region.replaceChildren(el("div", { class: "busy" }, el("progress", { "aria-label": label }),
                            el("span", { role: "status", text: `${label}…` }), elapsed, cancel));
  const started = Date.now();
  const tick = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    const hint = seconds >= 10 ? " An LLM answer on a CPU takes up to a minute per try; the server falls back on its own." : "";
    elapsed.textContent = `${seconds} s (the page waits up to ${timeoutS} s).${hint}`;
  }, 1000);
  view.querySelectorAll("form button[type=submit]").forEach((b) => { b.disabled = true; });
  return {
    signal: controller.signal,
    done() {
      clearInterval(tick);
      region.replaceChildren();
      view.querySelectorAll("form button[type=submit]").forEach((b) => { b.disabled = false; });
      const first = view.querySelector(".result .sentence, .result h3, .result .error, .result iframe");
      if (first) {
        if (!first.hasAttribute("tabindex")) first.tabIndex = -1;
        first.focus();
      }
    },
  };
}

function showError(target, error) {
  target.replaceChildren(el("p", { class: "error", role: "alert", text: error.message || String(error) }));
}

// ---------- charts: SVG with a table alternative next to each ----------
const CHART = { width: 720, height: 260, left: 52, right: 28, top: 12, bottom: 34 };

function scales(dates, maxValue) {
  const n = Math.max(dates.length - 1, 1);
  const x = (i) => CHART.left + (i / n) * (CHART.width - CHART.left - CHART.right);
  const top = maxValue > 0 ? maxValue * 1.08 : 1;
  const y = (v) => CHART.top + (1 - v / top) * (CHART.height - CHART.top - CHART.bottom);
  return { x, y, top };
}

function axes(group, dates, { x, y, top }) {
  const base = CHART.height - CHART.bottom;
  group.append(svg("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: base, y2: base, class: "axis" }));
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction / 1.08;
    const label = svg("text", { x: CHART.left - 6, y: y(value) + 4, "text-anchor": "end", class: "tick" });
    label.textContent = fmt(value, 0);
    group.append(label, svg("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: y(value), y2: y(value),
                                       class: "grid" }));
  }
  const every = Math.max(1, Math.ceil(dates.length / 6));
  dates.forEach((date, i) => {
    if (i % every && i !== dates.length - 1) return;
    const label = svg("text", { x: x(i), y: base + 18, "text-anchor": "middle", class: "tick" });
    label.textContent = date.slice(5);
    group.append(label);
  });
}

function polyline(points, cls) {
  return svg("polyline", { points: points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "), class: cls });
}

// History (solid), then the 10-90% band and the median of the forecast.
function fanChart(forecast, history, tableId) {
  const past = history ? history.dates.map((d, i) => [d, history.units[i]]) : [];
  const dates = [...past.map(([d]) => d), ...forecast.dates];
  const low = forecast.quantiles["0.1"], mid = forecast.quantiles["0.5"], high = forecast.quantiles["0.9"];
  const maxValue = Math.max(...past.map(([, v]) => v), ...high, 0);
  const s = scales(dates, maxValue);
  const chart = svg("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img", class: "chart",
                             "aria-labelledby": `${tableId}-title`, "aria-describedby": tableId });
  const title = svg("title", { id: `${tableId}-title` });
  title.textContent = `Fan chart of ${forecast.title}: ${past.length} weeks of sales, then ${forecast.horizon} ` +
    "weeks forecast with the 10% to 90% range. The numbers are in the table.";
  chart.append(title);
  axes(chart, dates, s);
  const offset = past.length;
  const band = [...high.map((v, i) => [s.x(offset + i), s.y(v)]), ...low.map((v, i) => [s.x(offset + i), s.y(v)]).reverse()];
  chart.append(svg("polygon", { points: band.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" "), class: "band" }));
  if (past.length) chart.append(polyline(past.map(([, v], i) => [s.x(i), s.y(v)]), "history"));
  const joined = past.length ? [[s.x(offset - 1), s.y(past[past.length - 1][1])]] : [];
  chart.append(polyline([...joined, ...mid.map((v, i) => [s.x(offset + i), s.y(v)])], "median"));
  const legend = el("p", { class: "legend" }, ...(past.length ? [el("span", { class: "key history" }), " sales "] : []),
                    el("span", { class: "key median" }), " forecast (median) ",
                    el("span", { class: "key band" }), " 80% range (10% to 90%)");
  return el("figure", {}, chart, legend);
}

function sparkline(curve) {
  const s = scales(curve.dates, Math.max(...curve.units, 0));
  const chart = svg("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img", class: "chart small" });
  const title = svg("title");
  title.textContent = `Weekly sales of ${curve.title}, ${curve.dates[0]} to ${curve.dates[curve.dates.length - 1]}`;
  chart.append(title);
  axes(chart, curve.dates, s);
  chart.append(polyline(curve.units.map((v, i) => [s.x(i), s.y(v)]), "history"));
  return chart;
}

function table(rows, caption, id) {
  if (!rows.length) return null;
  const columns = Object.keys(rows[0]);
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c })));
  const body = rows.map((row) => el("tr", {}, ...columns.map((c) => {
    const value = row[c];
    return el("td", { class: typeof value === "number" ? "num" : "", text: typeof value === "number" ? fmt(value, 2) : String(value) });
  })));
  const node = el("table", id ? { id } : {}, el("caption", { text: caption }), el("thead", {}, head), el("tbody", {}, ...body));
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption }, node);
}

function quantileRows(forecast) {
  return forecast.dates.map((date, i) => ({
    week: date, forecast: forecast.point[i], "low (10%)": forecast.quantiles["0.1"][i],
    "median (50%)": forecast.quantiles["0.5"][i], "high (90%)": forecast.quantiles["0.9"][i],
  }));
}

// How the forecast was made: the path that answered and why each earlier one gave way.
function attemptNotes(forecast) {
  return forecast.attempts.map((a) => {
    const who = PATH_WORDS[a.path] || a.path;
    const samples = a.samples_total ? `, ${a.samples_valid} of ${a.samples_total} samples valid` : "";
    const took = a.latency_s >= 0.5 ? `, ${fmt(a.latency_s, 1)} s` : "";
    return a.answered ? `Answered by ${who} (${a.path}${samples}${took})${a.reason ? `: ${a.reason}` : ""}.`
                      : `${a.path} gave way${took ? ` after ${fmt(a.latency_s, 1)} s` : ""}: ${a.reason || "no reason recorded"}.`;
  });
}

function notesList(notes, heading = "How this was answered") {
  const items = notes.filter(Boolean);
  if (!items.length) return null;
  return el("section", { class: "notes" }, el("h3", { text: heading }),
            el("ul", {}, ...items.map((n) => el("li", { text: n }))));
}

let chartCount = 0;
function forecastBlock(forecast, history) {
  const id = `quantiles-${++chartCount}`;
  const total = forecast.point.reduce((a, b) => a + b, 0);
  const low = forecast.quantiles["0.1"].reduce((a, b) => a + b, 0);
  const high = forecast.quantiles["0.9"].reduce((a, b) => a + b, 0);
  return el("article", { class: "forecast" },
    el("h3", { text: forecast.unique_id ? `${forecast.title} (${forecast.unique_id})` : forecast.title }),
    el("p", { class: "sentence", text: `About ${fmt(total, 0)} units over ${forecast.horizon} weeks ` +
      `(80% range ${fmt(low, 0)} to ${fmt(high, 0)}), answered by ${PATH_WORDS[forecast.path] || forecast.path}.` }),
    fanChart(forecast, history, id),
    table(quantileRows(forecast), `Forecast per week for ${forecast.title}`, id),
    notesList(attemptNotes(forecast), "Which method answered, and why"));
}

async function historyOf(ids, signal) {
  const known = [...new Set(ids.filter(Boolean))].slice(0, 12);
  if (!known.length) return {};
  const curves = await api("/products/sales", { body: { unique_ids: known }, timeoutS: TIMEOUT_S.sales, signal });
  return Object.fromEntries(curves.map((c) => [c.unique_id, c]));
}

// ---------- Ask ----------
function askView() {
  const view = document.getElementById("view-ask");
  const form = document.getElementById("ask-form");
  const question = document.getElementById("ask-question");
  const result = document.getElementById("ask-result");

  view.querySelectorAll(".example").forEach((button) => button.addEventListener("click", () => {
    question.value = button.textContent;
    question.focus();
  }));

  async function run(text) {
    const progress = startProgress(view, "Answering", TIMEOUT_S.ask);
    try {
      const answer = await api("/ask", { body: { question: text, yes: document.getElementById("ask-yes").checked },
                                         timeoutS: TIMEOUT_S.ask, signal: progress.signal });
      const histories = await historyOf(answer.forecasts.map((f) => f.unique_id), progress.signal);
      result.replaceChildren(renderAnswer(answer, histories, text));
    } catch (error) {
      showError(result, error);
    } finally {
      progress.done();
    }
  }

  // A candidate picked: ask the same question with the product named by its id.
  function pick(original, said, candidate) {
    const pattern = new RegExp(said.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
    const named = `product ${candidate.unique_id}`;
    const next = pattern.test(original) ? original.replace(pattern, named) : `${original} (${named})`;
    question.value = next;
    run(next);
  }

  function renderAnswer(answer, histories, asked) {
    const parts = [el("p", { class: `sentence ${answer.status}`, tabindex: "-1", text: answer.text })];
    for (const [said, found] of Object.entries(answer.candidates)) {
      if (!found.length) continue;
      parts.push(el("section", { class: "candidates" },
        el("h3", { text: `Which product did you mean by “${said}”?` }),
        el("ul", {}, ...found.map((c) => {
          const button = el("button", { type: "button", class: "candidate" },
                            el("strong", { text: c.title }), ` (id ${c.unique_id}, ${fmt(c.units, 0)} units sold)`);
          button.addEventListener("click", () => pick(asked, said, c));
          return el("li", {}, button);
        }))));
    }
    if (answer.intent === "trend_report" && answer.status === "answered") parts.push(reportButton(answer.query));
    parts.push(table(answer.table, "The numbers behind the answer"));
    answer.forecasts.forEach((f, i) => {
      const id = `answer-chart-${++chartCount}`;
      parts.push(el("article", { class: "forecast" }, el("h3", { text: `Chart ${i + 1}: ${f.title}` }),
                    fanChart(f, histories[f.unique_id], id),
                    el("details", {}, el("summary", { text: "The chart's forecast as a table" }),
                       table(quantileRows(f), `Forecast per week for ${f.title}`, id)),
                    notesList(attemptNotes(f), "Which method answered, and why")));
    });
    // The server's notes say who read the question and who wrote the sentence, and why any fallback happened.
    const how = [`Understood as: ${answer.intent.replaceAll("_", " ")}.`, ...answer.notes];
    parts.push(notesList(how));
    return el("div", {}, ...parts.filter(Boolean));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(question.value.trim());
  });
}

// A report question is answered with the report's summary; the whole report is one click away.
function reportButton(query) {
  const button = el("button", { type: "button", class: "secondary", text: "Show the whole report" });
  button.addEventListener("click", () => {
    const named = (query.category || "").toUpperCase();
    const department = Object.keys(groups.departments).find((d) => d === named || d === `${named}S`) || "";
    document.getElementById("report-department").value = department;
    document.getElementById("report-category").value = department ? "" : query.category || "";
    document.getElementById("report-store").value = query.store || "";
    if (query.horizon) document.getElementById("report-horizon").value = query.horizon;
    document.getElementById("tab-report").click();
    document.getElementById("report-form").requestSubmit();
  });
  return button;
}

// ---------- Forecast one product: search as you type ----------
function forecastView() {
  const view = document.getElementById("view-forecast");
  const input = document.getElementById("product-search");
  const list = document.getElementById("product-options");
  const chosenText = document.getElementById("product-chosen");
  const result = document.getElementById("forecast-result");
  let chosen = null, options = [], active = -1, timer = null, searchController = null;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function choose(candidate) {
    chosen = candidate;
    input.value = candidate.title;
    chosenText.textContent = `Chosen: ${candidate.title} (id ${candidate.unique_id}), ${fmt(candidate.units, 0)} units sold in the data.`;
    close();
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    }
  }

  async function search(text) {
    searchController?.abort();
    searchController = new AbortController();
    try {
      options = await api("/products/search", { body: { text, k: 8 }, timeoutS: TIMEOUT_S.search,
                                                signal: searchController.signal });
    } catch (error) {
      if (error.message === "Cancelled.") return;
      chosenText.textContent = error.message;
      return;
    }
    list.replaceChildren(...options.map((c, i) => {
      const li = el("li", { role: "option", id: `product-option-${i}`, "aria-selected": "false" },
                    el("span", { text: c.title }), el("span", { class: "muted", text: ` id ${c.unique_id} · ${fmt(c.units, 0)} sold` }));
      li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(c); });
      return li;
    }));
    list.hidden = !options.length;
    input.setAttribute("aria-expanded", String(options.length > 0));
    if (!options.length) chosenText.textContent = "No product matches.";
    highlight(-1);
  }

  input.addEventListener("input", () => {
    chosen = null;
    chosenText.textContent = "No product chosen yet.";
    clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2) { close(); return; }
    timer = setTimeout(() => search(text), SEARCH_DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && options.length) {
      event.preventDefault();
      if (list.hidden) { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
      highlight(Math.min(active + 1, options.length - 1));
    } else if (event.key === "ArrowUp" && options.length) {
      event.preventDefault();
      highlight(Math.max(active - 1, 0));
    } else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault();
      choose(options[active]);
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));

  document.getElementById("forecast-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen && options.length === 1) choose(options[0]);
    if (!chosen) {
      showError(result, new Error("Pick a product from the list first (type a few letters, then use the arrow keys and Enter)."));
      input.focus();
      return;
    }
    const progress = startProgress(view, `Forecasting ${chosen.title}`, TIMEOUT_S.forecast);
    try {
      const body = { unique_id: chosen.unique_id, horizon: Number(document.getElementById("forecast-horizon").value),
                     mode: document.getElementById("forecast-mode").value };
      const [forecast, histories] = await Promise.all([
        api("/forecast", { body, timeoutS: TIMEOUT_S.forecast, signal: progress.signal }),
        historyOf([chosen.unique_id], progress.signal)]);
      result.replaceChildren(forecastBlock(forecast, histories[chosen.unique_id]));
    } catch (error) {
      showError(result, error);
    } finally {
      progress.done();
    }
  });
}

// ---------- New product ----------
function newProductView() {
  const view = document.getElementById("view-new");
  const result = document.getElementById("new-result");
  document.getElementById("new-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value.trim();
    const body = { title: value("new-title"), horizon: Number(value("new-horizon")) };
    if (value("new-department")) body.department = value("new-department");
    if (value("new-category")) body.category = value("new-category");
    if (value("new-price")) body.price = Number(value("new-price"));
    const progress = startProgress(view, "Forecasting the launch", TIMEOUT_S.newProduct);
    try {
      const forecast = await api("/new-product", { body, timeoutS: TIMEOUT_S.newProduct, signal: progress.signal });
      const curves = await historyOf(forecast.analogs, progress.signal);
      const analogs = forecast.analogs.filter((id) => curves[id]).map((id) => analogBlock(curves[id]));
      result.replaceChildren(forecastBlock(forecast, null),
        el("section", { class: "analogs" },
           el("h3", { text: `The ${analogs.length} similar products it learned from, with their own sales` }),
           analogs.length ? el("ul", { class: "analog-list" }, ...analogs)
                          : el("p", { text: "No similar product with sales was found." })));
    } catch (error) {
      showError(result, error);
    } finally {
      progress.done();
    }
  });
}

function analogBlock(curve) {
  const total = curve.units.reduce((a, b) => a + b, 0);
  const rows = curve.dates.map((d, i) => ({ week: d, units: curve.units[i] }));
  return el("li", { class: "analog" },
    el("h4", { text: `${curve.title} (id ${curve.unique_id})` }),
    el("p", { class: "muted", text: `${fmt(total, 0)} units in ${curve.dates.length} weeks since its first sale on ${curve.dates[0]}.` }),
    sparkline(curve),
    el("details", {}, el("summary", { text: "Weekly sales as a table" }), table(rows, `Weekly sales of ${curve.title}`)));
}

// ---------- Trend report ----------
function reportView() {
  const view = document.getElementById("view-report");
  const result = document.getElementById("report-result");
  document.getElementById("report-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value.trim();
    const body = { horizon: Number(value("report-horizon")), format: "html" };
    for (const [field, id] of [["department", "report-department"], ["category", "report-category"], ["store", "report-store"]]) {
      if (value(id)) body[field] = value(id);
    }
    const progress = startProgress(view, "Building the report", TIMEOUT_S.report);
    try {
      const html = await api("/report", { body, timeoutS: TIMEOUT_S.report, signal: progress.signal, accept: "text/html" });
      // No allow-scripts: nothing in the report runs. allow-same-origin only lets this page size the frame.
      const frame = el("iframe", { title: "Trend report", sandbox: "allow-same-origin", class: "report" });
      frame.srcdoc = html;
      frame.addEventListener("load", () => {
        frame.style.height = `${frame.contentDocument.documentElement.scrollHeight + 24}px`;
      });
      result.replaceChildren(frame);
    } catch (error) {
      showError(result, error);
    } finally {
      progress.done();
    }
  });
}

// ---------- departments for the pickers ----------
async function loadGroups() {
  groups = await api("/products/groups", { timeoutS: TIMEOUT_S.groups });
  for (const select of document.querySelectorAll("select.departments")) {
    select.replaceChildren(select.options[0], ...Object.keys(groups.departments).map((d) => el("option", { value: d, text: d })));
  }
  for (const [select, list] of [["new-department", "new-categories"], ["report-department", "report-categories"]]) {
    const fill = () => {
      const chosen = document.getElementById(select).value;
      const names = chosen ? groups.departments[chosen] || [] : [...new Set(Object.values(groups.departments).flat())];
      document.getElementById(list).replaceChildren(...names.map((n) => el("option", { value: n })));
    };
    document.getElementById(select).addEventListener("change", fill);
    fill();
  }
}

// ---------- the token ----------
function askForToken(message) {
  const section = document.getElementById("token");
  section.hidden = false;
  document.getElementById("token-error").textContent = message || "";
  document.getElementById("token-input").focus();
}

function tokenForm() {
  document.getElementById("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("token-input");
    sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    try {
      await loadGroups();  // the cheapest call behind the token: it proves the token works
      document.getElementById("token").hidden = true;
      document.getElementById("token-error").textContent = "";
      document.getElementById("server").focus();
    } catch (error) {
      if (error.status !== 401) document.getElementById("token-error").textContent = error.message;
    }
  });
}

// ---------- tabs ----------
function tabs() {
  const buttons = [...document.querySelectorAll("[role=tab]")];
  function select(button, focus = true) {
    for (const other of buttons) {
      const chosen = other === button;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
    }
    if (focus) button.focus();
  }
  buttons.forEach((button, i) => {
    button.addEventListener("click", () => select(button));
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) select(buttons[(i + step + buttons.length) % buttons.length]);
      if (event.key === "Home") select(buttons[0]);
      if (event.key === "End") select(buttons[buttons.length - 1]);
    });
  });
}

async function start() {
  tabs();
  tokenForm();
  askView();
  forecastView();
  newProductView();
  reportView();
  const server = document.getElementById("server");
  server.tabIndex = -1;
  let health;
  try {
    health = await api("/health", { timeoutS: TIMEOUT_S.groups });
  } catch (error) {
    server.textContent = error.message;
    server.classList.add("error");
    return;
  }
  const llm = health.backend
    ? `LLM: ${health.backend} (${health.llm_healthy ? "answering" : "not answering now: answers fall back to regression or statistics and say why"})`
    : "LLM: off (answers come from the regression model or statistics, and say so)";
  server.textContent = `Data: ${health.dataset}, ${fmt(health.products, 0)} products, sales to ${health.last_period}. ${llm}.`;
  for (const input of document.querySelectorAll("input[type=number][max='52']")) input.max = health.limits.max_horizon;
  if (health.auth_required && !token()) {
    askForToken();
    return;
  }
  try {
    await loadGroups();
  } catch (error) {
    if (error.status !== 401) server.textContent += ` (${error.message})`;
  }
}

document.addEventListener("DOMContentLoaded", start);
