// Talking to the server: the key (asked once, kept for this browser session), JSON errors, SSE, uploads.

export const KEY_STORAGE = "povqa.apiKey";
const $ = (id) => document.getElementById(id);

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function authHeaders() {
  const key = storedKey();
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
        sessionStorage.setItem(KEY_STORAGE, value);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
  });
  dialog.showModal();
  return keyPrompt;
}

// What to say when the server wants a key (401) or a better one (403: an admin key for uploads and deletes).
async function keyMessage(response, hadKey) {
  const detail = await errorMessage(response.clone());
  const kept = "It is kept for this browser session only.";
  if (response.status === 403) return `The server says: ${detail}. Enter the admin key to go on. ${kept}`;
  return hadKey
    ? `That key was not accepted (${detail}). Enter the server's key. ${kept}`
    : `This server requires a key (POVQA_API_KEY, or POVQA_ADMIN_KEY for staff). ${kept}`;
}

// Runs `send` (which makes one request with the given headers); on 401/403 asks for a key and tries again.
async function withKey(send) {
  for (let attempt = 0; ; attempt++) {
    const response = await send(authHeaders());
    if ((response.status !== 401 && response.status !== 403) || attempt > 2) return response;
    const hadKey = Boolean(storedKey());
    const message = await keyMessage(response, hadKey);
    if (response.status === 401 && hadKey) sessionStorage.removeItem(KEY_STORAGE);
    const ok = await askForKey(message);
    if (!ok) return response;
  }
}

export function api(path, options = {}) {
  return withKey((auth) => fetch(path, Object.assign({}, options, {
    headers: Object.assign({}, options.headers || {}, auth),
  })));
}

export async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.detail) return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

// JSON from a path, or an Error with the server's message.
export async function getJSON(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

// Server-sent events from a fetch() body: yields {event, data}.
export async function* readEvents(response) {
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

// A multipart POST with upload progress (fetch() reports none): resolves to a Response-like object.
function xhrPost(path, form, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener("load", () => resolve(new Response(xhr.responseText || null, {
      status: xhr.status, statusText: xhr.statusText,
      headers: { "Content-Type": xhr.getResponseHeader("Content-Type") || "text/plain" },
    })));
    xhr.addEventListener("error", () => reject(new Error("the upload failed: the server could not be reached")));
    xhr.addEventListener("abort", () => reject(new Error("the upload was cancelled")));
    xhr.send(form);
  });
}

// Uploads files (one request, field `files`); onProgress(loaded, total) in bytes of the request body.
export function upload(files, collection, onProgress) {
  return withKey((auth) => {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    if (collection) form.append("collection", collection);
    return xhrPost("/api/documents", form, auth, onProgress);
  });
}

// Downloads a response body as a file (the export routes need the key, so a plain link would not do).
export async function download(path, fallbackName) {
  const response = await api(path);
  if (!response.ok) throw new Error(await errorMessage(response));
  const disposition = response.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  const name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
