// povqa chat page: vanilla JS, no build step. Talks to /api/ask (SSE), /api/documents and the page route.
"use strict";

const KEY_STORAGE = "povqa.apiKey";
const $ = (id) => document.getElementById(id);

const state = {
  mode: "answer",
  history: [],        // [{role, content}] sent with each question
  busy: false,
  activeCite: null,
};

// -- API access with the optional bearer key ----------------------------------------------------

function authHeaders() {
  const key = localStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: "Bearer " + key } : {};
}

let keyPrompt = null; // one dialog at a time, shared by concurrent requests

function askForKey(message) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("key-dialog");
  $("key-message").textContent = message;
  $("key-input").value = "";
  keyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = $("key-input").value.trim();
      keyPrompt = null;
      if (dialog.returnValue === "ok" && value) {
        localStorage.setItem(KEY_STORAGE, value);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
  });
  dialog.showModal();
  return keyPrompt;
}

async function api(path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = Object.assign({}, options.headers || {}, authHeaders());
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status !== 401 || attempt > 2) return response;
    const hadKey = Boolean(localStorage.getItem(KEY_STORAGE));
    if (hadKey) localStorage.removeItem(KEY_STORAGE);
    const ok = await askForKey(hadKey
      ? "That key was not accepted. Enter the server's API key."
      : "This server requires an API key (POVQA_API_KEY). It is kept in this browser only.");
    if (!ok) return response;
  }
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.detail) return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

// Server-sent events from a fetch() body: yields {event, data}.
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    buffer = buffer.replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
    if (done) return;
  }
}

// -- rendering --------------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function scrollToBottom() {
  window.scrollTo({ top: document.body.scrollHeight, behavior: "smooth" });
}

function addUser(text) {
  $("welcome").hidden = true;
  const li = el("li", { class: "msg-user" }, el("div", { class: "bubble", dir: "auto", text }));
  $("messages").append(li);
  scrollToBottom();
}

function addBot() {
  const text = el("div", { class: "answer-text", dir: "auto" }, el("span", { class: "thinking", text: "Searching the documents…" }));
  const card = el("div", { class: "card streaming" },
    el("p", { class: "card-label" }, el("span", { class: "dot" }), el("span", { text: state.mode === "briefing" ? "Briefing" : "Answer" })),
    text);
  const li = el("li", { class: "msg-bot" }, card);
  $("messages").append(li);
  scrollToBottom();
  return { li, card, text, raw: "" };
}

// Where a citation or passage is: its label for a slide or a spreadsheet's rows ("slide 4", "Sheet 'Budget', rows
// 12–18"), else "p. N" (PDF pages; notes, Word files and web pages are one page).
function where(c) {
  return c.location && !c.location.startsWith("page ") ? c.location : `p. ${c.page}`;
}

// The source viewer's line under the title: "Page 3 of 12", "Slide 4 of 10", "Sheet 'Budget', rows 12–18".
function sourceMeta(citation, page) {
  const loc = citation.location || "";
  const of = page ? ` of ${page.pages}` : "";
  if (loc.startsWith("slide ")) return `Slide ${citation.page}${of} · ${citation.source}`;
  if (loc && !loc.startsWith("page ")) return `${loc} · ${citation.source}`;
  return `Page ${page ? page.page : citation.page}${of} · ${citation.source}`;
}

// Text with [n] markers -> nodes, markers as buttons that open citation n.
function withMarkers(text, citations) {
  const byN = new Map(citations.map((c) => [c.n, c]));
  const out = [];
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const c = byN.get(Number(m[1]));
    if (!c) continue;
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    out.push(el("button", {
      type: "button", class: "cite", "data-n": String(c.n),
      "aria-label": `Source ${c.n}: ${c.title}, ${where(c).replace(/^p\. /, "page ")}`, title: `${c.title}, ${where(c)}`,
      onclick: (e) => openCitation(c, e.currentTarget),
    }, String(c.n)));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function renderAnswerText(container, text, citations) {
  container.replaceChildren();
  const lines = text.split("\n");
  if (lines.length > 1 && lines.every((l) => /^\s*[-•*]\s+/.test(l) || !l.trim())) {
    const ul = el("ul");
    for (const line of lines) {
      if (!line.trim()) continue;
      ul.append(el("li", {}, ...withMarkers(line.replace(/^\s*[-•*]\s+/, ""), citations)));
    }
    container.append(ul);
  } else {
    container.append(...withMarkers(text, citations));
  }
}

function renderFinal(view, answer) {
  const { card, text } = view;
  card.classList.remove("streaming");
  const label = card.querySelector(".card-label span:last-child");
  if (answer.refused) {
    card.classList.add("refusal");
    label.textContent = "Not answered by the documents";
    text.replaceChildren(document.createTextNode(answer.answer));
    if (answer.passages && answer.passages.length) {
      const ul = el("ul");
      const seen = new Set();
      for (const p of answer.passages) {
        const key = p.doc_id + ":" + p.page;
        if (seen.has(key) || seen.size >= 3) continue;
        seen.add(key);
        const excerpt = p.text.length > 320 ? p.text.slice(0, 320).replace(/\s+\S*$/, "") + " …" : p.text;
        ul.append(el("li", {},
          el("span", { class: "src-title", text: p.title }), " ",
          el("span", { class: "src-page", text: `· ${where(p)}` }),
          el("span", { class: "src-quote", dir: "auto", text: excerpt })));
      }
      card.append(el("div", { class: "closest" },
        el("span", { text: "Closest passages in the documents (judge for yourself; not enough to answer):" }), ul));
    }
    return;
  }
  renderAnswerText(text, answer.answer, answer.citations);
  const list = el("ol", { class: "sources", "aria-label": "Sources" });
  for (const c of answer.citations) {
    list.append(el("li", {}, el("button", {
      type: "button", class: "source-link", "data-n": String(c.n), onclick: (e) => openCitation(c, e.currentTarget),
    },
    el("span", { class: "cite", text: String(c.n) }),
    el("span", {},
      el("span", { class: "src-title", text: c.title }), " ",
      el("span", { class: "src-page", text: `· ${where(c)}` }),
      el("span", { class: "src-quote", dir: "auto", text: `“${c.quote}”` })))));
  }
  card.append(list);
  const ms = answer.timings_ms && answer.timings_ms.total;
  card.append(el("p", { class: "meta-line", text: `${answer.generator}${ms ? ` · ${Math.round(ms)} ms` : ""}` }));
}

function renderError(view, message) {
  view.card.classList.remove("streaming");
  view.card.classList.add("error");
  view.card.querySelector(".card-label span:last-child").textContent = "Error";
  view.text.textContent = message;
}

// -- citations: the quote highlighted inside its page ----------------------------------------------

function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// Where the quote lies in the page text: exact, else the same words with any whitespace/hyphen breaks between.
function locate(pageText, quote) {
  const exact = pageText.indexOf(quote);
  if (exact >= 0) return [exact, exact + quote.length];
  const words = quote.split(/\s+/).filter(Boolean).map(escapeRegExp);
  if (!words.length) return null;
  const attempts = [words, words.slice(0, Math.min(words.length, 12))];
  for (const w of attempts) {
    const m = new RegExp(w.join("[\\s\\u00ad-]*\\s*"), "u").exec(pageText);
    if (m) return [m.index, m.index + m[0].length];
  }
  return null;
}

async function openCitation(citation, trigger) {
  document.querySelectorAll(".cite.active, .source-link.active").forEach((n) => n.classList.remove("active"));
  const card = trigger && trigger.closest(".card");
  if (card) card.querySelectorAll(`[data-n="${citation.n}"]`).forEach((n) => n.classList.add("active"));
  const panel = $("source-panel");
  panel.hidden = false;
  $("source-kicker").textContent = `Source [${citation.n}]`;
  $("source-title").textContent = citation.title;
  $("source-meta").textContent = sourceMeta(citation, null);
  $("source-quote").textContent = "";
  const body = $("page-text");
  body.replaceChildren(el("span", { class: "loading", text: "Loading page…" }));
  const token = {};
  state.activeCite = token;
  let page;
  try {
    const r = await api(`/api/documents/${encodeURIComponent(citation.doc_id)}/pages/${citation.page}`);
    if (!r.ok) throw new Error(await errorMessage(r));
    page = await r.json();
  } catch (err) {
    if (state.activeCite !== token) return;
    $("source-quote").textContent = `“${citation.quote}”`;
    body.replaceChildren(el("span", { class: "loading", text: `The page could not be loaded: ${err.message}` }));
    return;
  }
  if (state.activeCite !== token) return;
  $("source-meta").textContent = sourceMeta(citation, page);
  const span = locate(page.text, citation.quote);
  if (!span) {
    $("source-quote").textContent = `“${citation.quote}”`;
    body.replaceChildren(document.createTextNode(page.text));
    return;
  }
  const mark = el("mark", { class: "quote", text: page.text.slice(span[0], span[1]) });
  body.replaceChildren(document.createTextNode(page.text.slice(0, span[0])), mark, document.createTextNode(page.text.slice(span[1])));
  body.scrollTop = Math.max(0, mark.offsetTop - body.offsetTop - 60);
  if (window.matchMedia("(max-width: 900px)").matches) panel.scrollIntoView({ block: "nearest" });
}

// -- asking ----------------------------------------------------------------------------------------

async function ask(question) {
  state.busy = true;
  $("send").disabled = true;
  addUser(question);
  const view = addBot();
  const history = state.history.slice(-20);
  let final = null;
  try {
    const response = await api("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question, history, mode: state.mode, stream: true }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    for await (const { event, data } of readEvents(response)) {
      if (event === "delta") {
        if (!view.raw) view.text.replaceChildren();
        const piece = JSON.parse(data).text;
        view.raw += piece;
        view.text.append(document.createTextNode(piece));
      } else if (event === "answer") {
        final = JSON.parse(data);
      } else if (event === "error") {
        throw new Error(JSON.parse(data).detail);
      }
    }
    if (!final) throw new Error("the answer stream ended early");
    renderFinal(view, final);
    state.history.push({ role: "user", content: question }, { role: "assistant", content: final.answer });
  } catch (err) {
    renderError(view, err.message || String(err));
  } finally {
    state.busy = false;
    $("send").disabled = false;
    scrollToBottom();
  }
}

async function loadDocuments() {
  try {
    const r = await api("/api/documents");
    if (!r.ok) {
      $("tagline").textContent = await errorMessage(r);
      return;
    }
    const { documents } = await r.json();
    $("tagline").textContent = `${documents.length} document${documents.length === 1 ? "" : "s"} indexed · answers cite document, page and quote`;
    if (!documents.length) return;
    $("docs").replaceChildren(...documents.map((d) =>
      el("li", {}, d.title, " ", el("span", { text: `· ${d.pages} p.` }))));
    $("doclist-title").textContent = `${documents.length} document${documents.length === 1 ? "" : "s"}`;
    $("doclist").hidden = false;
  } catch (_) { /* offline: the page still works when the server comes back */ }
}

function setMode(mode) {
  state.mode = mode;
  document.querySelectorAll(".segmented button").forEach((b) => b.setAttribute("aria-checked", String(b.dataset.mode === mode)));
}

function autosize() {
  const t = $("question");
  t.style.height = "auto";
  t.style.height = Math.min(t.scrollHeight + 2, 180) + "px";
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".segmented button").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  $("new-chat").addEventListener("click", () => {
    state.history = [];
    $("messages").replaceChildren();
    $("source-panel").hidden = true;
    $("welcome").hidden = false;
    $("question").focus();
  });
  $("source-close").addEventListener("click", () => {
    $("source-panel").hidden = true;
    document.querySelectorAll(".cite.active, .source-link.active").forEach((n) => n.classList.remove("active"));
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (!question || state.busy) return;
    $("question").value = "";
    autosize();
    ask(question);
  });
  $("question").addEventListener("input", autosize);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("source-panel").hidden && !$("key-dialog").open) $("source-close").click();
  });
  loadDocuments();
  $("question").focus();
});
