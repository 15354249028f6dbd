// Conversations kept in this browser (localStorage): each is {id, title, updated, turns: [{question, mode, answer,
// feedback}]}. The newest 30 are kept; when the browser's storage is full the oldest go first.

const STORE = "povqa.conversations";
const CURRENT = "povqa.currentConversation";
const KEEP = 30;

function readAll() {
  try {
    const list = JSON.parse(localStorage.getItem(STORE) || "[]");
    return Array.isArray(list) ? list.filter((c) => c && c.id && Array.isArray(c.turns)) : [];
  } catch (_) {
    return []; // damaged storage: start again rather than fail the page
  }
}

// What a stored answer keeps: everything the page shows, the closest passages of a refusal only (3 at most).
function slim(answer) {
  if (!answer) return answer;
  const copy = Object.assign({}, answer);
  copy.passages = answer.refused ? (answer.passages || []).slice(0, 3) : [];
  return copy;
}

function writeAll(list) {
  let keep = list.slice(0, KEEP);
  for (;;) {
    try {
      localStorage.setItem(STORE, JSON.stringify(keep));
      return;
    } catch (_) { // quota: drop the oldest conversation and try again
      if (keep.length <= 1) return;
      keep = keep.slice(0, -1);
    }
  }
}

export function listConversations() {
  return readAll().sort((a, b) => b.updated - a.updated);
}

export function currentConversation() {
  const id = localStorage.getItem(CURRENT);
  return readAll().find((c) => c.id === id) || null;
}

export function newConversation() {
  const conversation = { id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`, title: "",
    updated: Date.now(), turns: [] };
  localStorage.setItem(CURRENT, conversation.id);
  return conversation;
}

export function openConversation(id) {
  localStorage.setItem(CURRENT, id);
  return currentConversation();
}

// Stores the conversation (new or changed) as the newest.
export function saveConversation(conversation) {
  if (!conversation.turns.length) return;
  conversation.title = conversation.title || conversation.turns[0].question.slice(0, 80);
  conversation.updated = Date.now();
  const stored = Object.assign({}, conversation, {
    turns: conversation.turns.map((t) => Object.assign({}, t, { answer: slim(t.answer) })),
  });
  writeAll([stored, ...readAll().filter((c) => c.id !== conversation.id)]);
  localStorage.setItem(CURRENT, conversation.id);
}

export function forgetConversations() {
  localStorage.removeItem(STORE);
  localStorage.removeItem(CURRENT);
}
