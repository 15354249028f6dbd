// Under each answer: thumbs up/down (a thumbs-down opens "what should it have said") sent to /api/feedback, where
// it becomes an evaluation case, and the exports (Word, Markdown) of /api/answers/{id}/export.

import { api, download, errorMessage } from "./api.js";
import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
// Feather icons' thumbs (MIT licence), drawn as strokes.
const THUMBS = {
  up: "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3",
  down: "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17",
};

function icon(rating) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "thumb-icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", THUMBS[rating]);
  svg.append(path);
  return svg;
}

// Adds the actions to an answer's card. `turn` is the stored turn ({question, answer, feedback}); `save` persists it.
export function addActions(card, turn, save) {
  const answerId = turn.answer && turn.answer.id;
  if (!answerId) return; // an answer from a server without stored answers: nothing to rate or export
  const status = el("span", { class: "action-status", role: "status" });
  const up = el("button", { type: "button", class: "thumb up", "aria-pressed": "false", title: "A good answer" },
    icon("up"), el("span", { class: "visually-hidden", text: "Good answer" }));
  const down = el("button", { type: "button", class: "thumb down", "aria-pressed": "false",
    title: "A wrong or incomplete answer", "aria-expanded": "false" },
  icon("down"), el("span", { class: "visually-hidden", text: "Wrong or incomplete answer" }));
  const form = feedbackForm(card, answerId);
  const row = el("div", { class: "answer-actions" },
    el("span", { class: "rate", role: "group", "aria-label": "Rate this answer" }, up, down),
    el("span", { class: "exports", role: "group", "aria-label": "Export this answer" },
      exportButton(answerId, "docx", "Word", status), exportButton(answerId, "md", "Markdown", status)),
    status);
  card.append(row, form.node);

  const show = (rating) => {
    up.setAttribute("aria-pressed", String(rating === "up"));
    down.setAttribute("aria-pressed", String(rating === "down"));
  };
  if (turn.feedback) {
    show(turn.feedback.rating);
    status.textContent = feedbackText(turn.feedback);
  }
  const send = async (body) => {
    status.textContent = "Sending…";
    try {
      const r = await api("/api/feedback", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!r.ok) throw new Error(await errorMessage(r));
      const saved = await r.json();
      turn.feedback = { rating: body.rating, expected: body.expected || "", comment: body.comment || "",
        note: saved.note || "", evalCase: Boolean(saved.eval_case) };
      save();
      show(body.rating);
      status.textContent = feedbackText(turn.feedback);
      return true;
    } catch (err) {
      status.textContent = `Feedback not saved: ${err.message}`;
      return false;
    }
  };
  up.addEventListener("click", () => { form.close(); send({ answer_id: answerId, rating: "up" }); });
  down.addEventListener("click", () => {
    const open = form.node.hidden;
    if (open) form.open(turn.feedback); else form.close();
    down.setAttribute("aria-expanded", String(open));
  });
  form.onSubmit = async (fields) => {
    const ok = await send(Object.assign({ answer_id: answerId, rating: "down" }, fields));
    if (ok) { form.close(); down.setAttribute("aria-expanded", "false"); down.focus(); }
  };
}

// What the server made of a rating: "an evaluation case: ..." or why not (and what to write instead).
function feedbackText(feedback) {
  const thanks = feedback.rating === "up" ? "Thanks for the thumbs-up" : "Thanks for the correction";
  return feedback.note ? `${thanks}: ${feedback.note}.` : `${thanks}: saved.`;
}

function feedbackForm(card, answerId) {
  const id = `fb-${answerId}`;
  const expected = el("textarea", { id: `${id}-expected`, name: "expected", rows: "3", dir: "auto",
    placeholder: "The sentence or quote from the documents that answers the question" });
  const comment = el("input", { id: `${id}-comment`, name: "comment", type: "text", dir: "auto",
    placeholder: "Anything else (optional)" });
  const cancel = el("button", { type: "button", class: "ghost", text: "Cancel" });
  const node = el("form", { class: "feedback-form", hidden: true, "aria-label": "What should it have said?" },
    el("label", { for: expected.id, text: "What should it have said? (optional)" }), expected,
    el("label", { for: comment.id, text: "Comment (optional)" }), comment,
    el("div", { class: "form-actions" }, cancel, el("button", { type: "submit", class: "primary", text: "Send feedback" })));
  const form = {
    node,
    onSubmit: null,
    open(previous) {
      if (previous && previous.rating === "down") {
        expected.value = previous.expected || "";
        comment.value = previous.comment || "";
      }
      node.hidden = false;
      expected.focus();
    },
    close() { node.hidden = true; },
  };
  cancel.addEventListener("click", () => form.close());
  node.addEventListener("submit", (e) => {
    e.preventDefault();
    const fields = {};
    if (expected.value.trim()) fields.expected = expected.value.trim();
    if (comment.value.trim()) fields.comment = comment.value.trim();
    if (form.onSubmit) form.onSubmit(fields);
  });
  node.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); form.close(); } });
  return form;
}

function exportButton(answerId, format, label, status) {
  return el("button", {
    type: "button", class: "export ghost", "data-format": format, title: `Download this answer as ${label}`,
    onclick: async () => {
      status.textContent = `Preparing the ${label} file…`;
      try {
        const name = await download(`/api/answers/${encodeURIComponent(answerId)}/export?format=${format}`,
          `povqa-answer.${format}`);
        status.textContent = `Downloaded ${name}.`;
      } catch (err) {
        status.textContent = `Export failed: ${err.message}`;
      }
    },
  }, label);
}
