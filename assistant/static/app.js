// povqa chat page: plain ES modules, no build step. Asks /api/ask (SSE) and keeps the conversations in this browser;
// the Documents panel (documents.js) manages what is indexed; each answer can be rated and exported (actions.js).

import { addActions } from "./actions.js";
import { addBot, addUser, closeSource, renderError, renderFinal } from "./answer.js";
import { api, errorMessage, readEvents } from "./api.js";
import {
  currentConversation, forgetConversations, listConversations, newConversation, openConversation, saveConversation,
} from "./conversations.js";
import { $, confirmDialog, el, plural, scrollToBottom } from "./dom.js";
import { initDocuments, loadDocuments } from "./documents.js";

const state = {
  mode: "answer",
  conversation: null, // {id, title, updated, turns: [{question, mode, answer, feedback}]}
  collections: new Set(), // the collections questions are restricted to; empty: all
  busy: false,
};

function history() {
  const turns = [];
  for (const t of state.conversation.turns) {
    turns.push({ role: "user", content: t.question }, { role: "assistant", content: t.answer.answer });
  }
  return turns.slice(-20);
}

function save() {
  saveConversation(state.conversation);
  renderConversationList();
}

function showTurn(turn) {
  addUser(turn.question);
  const view = addBot(turn.mode);
  renderFinal(view, turn.answer);
  addActions(view.card, turn, save);
}

// -- asking ----------------------------------------------------------------------------------------

async function ask(question) {
  state.busy = true;
  $("send").disabled = true;
  addUser(question);
  const view = addBot(state.mode);
  const body = { question, history: history(), mode: state.mode, stream: true };
  if (state.collections.size) body.collections = [...state.collections];
  let final = null;
  try {
    const response = await api("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
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
    const turn = { question, mode: state.mode, answer: final, feedback: null };
    if (body.collections) turn.collections = body.collections;
    state.conversation.turns.push(turn);
    save();
    addActions(view.card, turn, save);
  } catch (err) {
    renderError(view, err.message || String(err));
  } finally {
    state.busy = false;
    $("send").disabled = false;
    scrollToBottom();
  }
}

// -- conversations kept in the browser --------------------------------------------------------------

function showConversation(conversation) {
  state.conversation = conversation || newConversation();
  closeSource();
  $("messages").replaceChildren();
  $("welcome").hidden = state.conversation.turns.length > 0;
  for (const turn of state.conversation.turns) showTurn(turn);
  renderConversationList();
}

function renderConversationList() {
  const list = listConversations();
  $("conversations").replaceChildren(...list.map((c) => el("li", {},
    el("button", {
      type: "button", class: "conv", dir: "auto", "aria-current": c.id === state.conversation.id ? "true" : null,
      title: new Date(c.updated).toLocaleString(), onclick: () => showConversation(openConversation(c.id)),
    }, c.title || "(untitled)"))));
  $("conversations-empty").hidden = list.length > 0;
  $("forget-chats").hidden = list.length === 0;
}

// -- the collection filter ----------------------------------------------------------------------------

function renderScope(collections) {
  const names = collections.map((c) => c.name);
  for (const name of [...state.collections]) if (!names.includes(name)) state.collections.delete(name);
  $("scope").hidden = names.length < 2;
  $("scope-options").replaceChildren(el("legend", { class: "visually-hidden", text: "Ask only these collections" }),
    ...collections.map((c, i) => {
      const id = `scope-${i}`;
      const box = el("input", { type: "checkbox", id, value: c.name, checked: state.collections.has(c.name) });
      box.addEventListener("change", () => {
        if (box.checked) state.collections.add(c.name); else state.collections.delete(c.name);
        scopeSummary();
      });
      return el("div", { class: "scope-option" }, box,
        el("label", { for: id, dir: "auto" }, c.name, el("span", { class: "coll-meta", text: ` · ${plural(c.documents, "document")}` })));
    }));
  scopeSummary();
}

function scopeSummary() {
  const chosen = [...state.collections];
  $("scope-summary").textContent = chosen.length ? `Asking: ${chosen.join(", ")}` : "Asking: all collections";
}

function documentsChanged({ documents, collections }) {
  $("tagline").textContent = `${plural(documents.length, "document")} indexed · answers cite document, page and quote`;
  renderScope(collections);
}

// -- the page ---------------------------------------------------------------------------------------------

function setMode(mode) {
  state.mode = mode;
  document.querySelectorAll(".segmented button").forEach((b) => b.setAttribute("aria-checked", String(b.dataset.mode === mode)));
}

function autosize() {
  const t = $("question");
  t.style.height = "auto";
  t.style.height = Math.min(t.scrollHeight + 2, 180) + "px";
}

function toggleSidebar(open) {
  const sidebar = $("sidebar");
  sidebar.hidden = !open;
  $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  localStorage.setItem("povqa.sidebar", open ? "open" : "closed");
}

function wire() {
  document.querySelectorAll(".segmented button").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  $("new-chat").addEventListener("click", () => {
    showConversation(null);
    $("question").focus();
  });
  $("forget-chats").addEventListener("click", async () => {
    const n = listConversations().length;
    const ok = await confirmDialog("Forget the conversations?",
      `The ${plural(n, "conversation")} kept in this browser will be removed from it. Answers kept on the server ` +
      "and feedback already sent stay there.", "Forget");
    if (!ok) return;
    forgetConversations();
    showConversation(null);
  });
  $("toggle-sidebar").addEventListener("click", () => toggleSidebar($("sidebar").hidden));
  $("source-close").addEventListener("click", closeSource);
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
    const dialogOpen = $("key-dialog").open || $("confirm-dialog").open;
    if (e.key === "Escape" && !$("source-panel").hidden && !dialogOpen) closeSource();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  const remembered = localStorage.getItem("povqa.sidebar");
  toggleSidebar(remembered ? remembered === "open" : window.matchMedia("(min-width: 1100px)").matches);
  initDocuments(documentsChanged);
  showConversation(currentConversation());
  loadDocuments();
  $("question").focus();
});
