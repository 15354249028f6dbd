// The Documents panel: collections, documents (pages, chunks, language), upload by drag and drop or the file picker
// with per-file progress and the job's per-file results, and delete with confirmation.

import { api, errorMessage, getJSON, upload } from "./api.js";
import { $, confirmDialog, el, plural } from "./dom.js";

const POLL_MS = 500;
let onChange = () => {};

export async function loadDocuments() {
  let documents;
  let collections = [];
  try {
    ({ documents } = await getJSON("/api/documents"));
  } catch (err) {
    $("docs-summary").textContent = err.message;
    return { documents: [], collections: [], error: err.message };
  }
  try {
    ({ collections } = await getJSON("/api/collections"));
  } catch (_) { /* a server without collections: every document in one list */ }
  renderCollections(collections);
  renderDocuments(documents);
  $("docs-summary").textContent = `${plural(documents.length, "document")}` +
    (collections.length ? ` in ${plural(collections.length, "collection")}` : "");
  onChange({ documents, collections });
  return { documents, collections };
}

function renderCollections(collections) {
  $("collections").replaceChildren(...collections.map((c) => el("li", { "data-collection": c.name },
    el("span", { class: "coll-name", dir: "auto", text: c.name }),
    el("span", { class: "coll-meta", text: `${plural(c.documents, "document")} · ${plural(c.chunks, "chunk")}` }))));
  $("collection-names").replaceChildren(...collections.map((c) => el("option", { value: c.name })));
}

function renderDocuments(documents) {
  const sorted = [...documents].sort((a, b) => (a.collection || "").localeCompare(b.collection || "") ||
    a.title.localeCompare(b.title));
  $("docs").replaceChildren(...sorted.map((d) => el("li", { "data-doc-id": d.doc_id, "data-source": d.source },
    el("div", { class: "doc-main" },
      el("span", { class: "doc-title", dir: "auto", text: d.title }),
      el("span", { class: "doc-meta", text: [d.source, plural(d.pages, "page"), plural(d.chunks, "chunk"), d.language]
        .filter(Boolean).join(" · ") }),
      d.collection ? el("span", { class: "doc-collection", dir: "auto", text: d.collection }) : null),
    el("button", { type: "button", class: "delete icon", "aria-label": `Delete ${d.title}`, title: "Delete",
      onclick: () => removeDocument(d) }, "×"))));
}

// -- jobs: upload and delete run in the background; the page follows them --------------------------------

function uploadRow(name, detail) {
  const row = el("li", { class: "upload", "data-file": name },
    el("span", { class: "upload-name", dir: "auto", text: name }),
    el("progress", { max: "100", value: "0", "aria-label": `Progress of ${name}` }),
    el("span", { class: "upload-status", text: detail }));
  $("uploads").prepend(row);
  return row;
}

function setRow(row, state, text, percent) {
  row.dataset.state = state;
  row.querySelector(".upload-status").textContent = text;
  const bar = row.querySelector("progress");
  if (percent === null) bar.removeAttribute("value"); // indeterminate
  else bar.value = percent;
}

// The job's word on the i-th file sent: its entry in `files` ({name, status, line, ...}), which keeps the order of
// the upload (its name may differ: the server stores a safe name).
function fileResult(job, index) {
  const entry = (job.files || [])[index];
  if (!entry) return null;
  const line = (entry.line || "").trim().replace(/\s+/g, " ");
  return { status: entry.status || "queued", line: line || entry.status };
}

const FINISHED = new Set(["done", "failed"]);
const GOOD = new Set(["indexed", "unchanged", "removed"]);
const BAD = new Set(["failed", "skipped", "duplicate"]);

async function followJob(job, rows, verb) {
  for (;;) {
    for (const [index, row] of rows.entries()) {
      const result = fileResult(job, index);
      const status = result ? result.status : "queued";
      if (GOOD.has(status)) setRow(row, "ok", result.line, 100);
      else if (BAD.has(status)) setRow(row, "failed", result.line, 100);
      else if (job.status === "queued" || job.stage === "waiting") setRow(row, "queued", "Waiting for another index build…", null);
      else setRow(row, "running", `${verb}: ${job.stage || "running"}${progressText(job)}`, null);
    }
    if (FINISHED.has(job.status)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      ({ job } = await getJSON(`/api/jobs/${encodeURIComponent(job.id)}`));
    } catch (err) {
      for (const row of rows) if (row.dataset.state !== "ok") setRow(row, "failed", `Lost track of the job: ${err.message}`, 100);
      return job;
    }
  }
  if (job.status === "failed" && job.error) {
    for (const row of rows) if (row.dataset.state !== "failed" && row.dataset.state !== "ok") setRow(row, "failed", `failed: ${job.error}`, 100);
  }
  await loadDocuments();
  return job;
}

function progressText(job) {
  const p = job.progress || {};
  const parts = [];
  if (p.files_total) parts.push(`${p.files_done || 0} of ${plural(p.files_total, "file")}`);
  if (p.texts_total) parts.push(`${p.texts_done || 0} of ${p.texts_total} texts embedded`);
  return parts.length ? ` (${parts.join(", ")})` : "…";
}

export async function uploadFiles(files) {
  files = [...files];
  if (!files.length) return;
  const collection = $("upload-collection").value.trim();
  const rows = files.map((f) => uploadRow(f.name, "Uploading…"));
  const ends = []; // each file's bytes in the request body, in order
  let offset = 0;
  for (const f of files) {
    ends.push([offset, offset + f.size]);
    offset += f.size;
  }
  let response;
  try {
    response = await upload(files, collection, (loaded, total) => {
      const scale = offset / Math.max(total, 1); // multipart framing is small beside the files
      for (const [i, [start, end]] of ends.entries()) {
        const mine = Math.min(Math.max(loaded * scale - start, 0), end - start);
        const percent = end > start ? Math.round((100 * mine) / (end - start)) : 100;
        setRow(rows[i], "uploading", percent >= 100 ? "Uploaded" : `Uploading ${percent}%`, percent);
      }
    });
  } catch (err) {
    for (const row of rows) setRow(row, "failed", err.message, 100);
    return;
  }
  if (!response.ok) {
    const message = await errorMessage(response);
    for (const row of rows) setRow(row, "failed", `Not uploaded: ${message}`, 100);
    return;
  }
  const { job } = await response.json();
  return followJob(job, rows, "Indexing");
}

async function removeDocument(doc) {
  const ok = await confirmDialog("Delete this document?",
    `“${doc.title}” (${doc.source}) and its ${plural(doc.chunks, "chunk")} will be removed from the index and ` +
    "the corpus folder. Answers will no longer cite it.", "Delete");
  if (!ok) return;
  const row = uploadRow(doc.source, "Removing…");
  row.classList.add("removal");
  const response = await api(`/api/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" });
  if (!response.ok) {
    setRow(row, "failed", `Not deleted: ${await errorMessage(response)}`, 100);
    return;
  }
  const { job } = await response.json();
  const done = await followJob(job, [row], "Removing");
  if (done.status === "done" && !["ok", "failed"].includes(row.dataset.state)) setRow(row, "ok", "removed from the index", 100);
}

export function initDocuments(changed) {
  onChange = changed;
  const zone = $("dropzone");
  const input = $("file-input");
  $("choose-files").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    uploadFiles(input.files);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove("dragging"); });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    if (e.dataTransfer && e.dataTransfer.files.length) uploadFiles(e.dataTransfer.files);
  });
  // A file dropped anywhere else would replace the page with it: stop that.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}
