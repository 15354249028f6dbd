// One answer on the page: its card (streaming, final, refusal, error), its [n] markers and sources, and the source
// panel that shows a cited quote highlighted in its page.

import { api, errorMessage } from "./api.js";
import { $, el, scrollToBottom, where } from "./dom.js";

let activeCite = null;

export function addUser(text) {
  $("welcome").hidden = true;
  const li = el("li", { class: "msg-user" }, el("div", { class: "bubble", dir: "auto", text }));
  $("messages").append(li);
  scrollToBottom();
}

export function addBot(mode) {
  const text = el("div", { class: "answer-text", dir: "auto" }, el("span", { class: "thinking", text: "Searching the documents…" }));
  const card = el("div", { class: "card streaming" },
    el("p", { class: "card-label" }, el("span", { class: "dot" }), el("span", { text: mode === "briefing" ? "Briefing" : "Answer" })),
    text);
  const li = el("li", { class: "msg-bot" }, card);
  $("messages").append(li);
  scrollToBottom();
  return { li, card, text, raw: "" };
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

// The closest passages under a refusal: one per document page, three at most, so the reader can judge.
function closestPassages(passages) {
  const ul = el("ul");
  const seen = new Set();
  for (const p of passages) {
    const key = p.doc_id + ":" + p.page;
    if (seen.has(key) || seen.size >= 3) continue;
    seen.add(key);
    const excerpt = p.text.length > 320 ? p.text.slice(0, 320).replace(/\s+\S*$/, "") + " …" : p.text;
    ul.append(el("li", {},
      el("span", { class: "src-title", text: p.title }), " ",
      el("span", { class: "src-page", text: `· ${where(p)}` }),
      el("span", { class: "src-quote", dir: "auto", text: excerpt })));
  }
  return el("div", { class: "closest" },
    el("span", { text: "Closest passages in the documents (judge for yourself; not enough to answer):" }), ul);
}

export function renderFinal(view, answer) {
  const { card, text } = view;
  card.classList.remove("streaming");
  const label = card.querySelector(".card-label span:last-child");
  if (answer.refused) {
    card.classList.add("refusal");
    label.textContent = "Not answered by the documents";
    text.replaceChildren(document.createTextNode(answer.answer));
    if (answer.passages && answer.passages.length) card.append(closestPassages(answer.passages));
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

export function renderError(view, message) {
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

export function closeSource() {
  $("source-panel").hidden = true;
  document.querySelectorAll(".cite.active, .source-link.active").forEach((n) => n.classList.remove("active"));
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
  activeCite = token;
  let page;
  try {
    const r = await api(`/api/documents/${encodeURIComponent(citation.doc_id)}/pages/${citation.page}`);
    if (!r.ok) throw new Error(await errorMessage(r));
    page = await r.json();
  } catch (err) {
    if (activeCite !== token) return;
    $("source-quote").textContent = `“${citation.quote}”`;
    body.replaceChildren(el("span", { class: "loading", text: `The page could not be loaded: ${err.message}` }));
    return;
  }
  if (activeCite !== token) return;
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
