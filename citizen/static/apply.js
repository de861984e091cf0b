// The application's photos: each one is made smaller in the page (longest side 1600 px, JPEG)
// before it is sent, so a 4 MB camera picture goes as about 300 kB over a slow connection, then
// stored at once; the form carries only its SHA-256. The words shown come from the form's data-text-*
// attributes, in the page's language.

const MAX_SIDE = 1600;
const QUALITY = 0.85;
const THUMB_SIDE = 160;

function csrfToken(form) {
  return form.querySelector('input[name="csrf_token"]').value;
}

function kb(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(new Error("read"));
    reader.onload = () => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("decode"));
      img.src = reader.result; // a data: URL, which the page's CSP allows for images
    };
    reader.readAsDataURL(file);
  });
}

function draw(img, side) {
  const scale = Math.min(1, side / Math.max(img.naturalWidth, img.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // a transparent PNG becomes a white-backed JPEG
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas;
}

export async function shrink(file) {
  const img = await loadImage(file);
  const canvas = draw(img, MAX_SIDE);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
  if (!blob) throw new Error("encode");
  return { blob, thumbnail: draw(img, THUMB_SIDE).toDataURL("image/jpeg", 0.7), width: canvas.width, height: canvas.height };
}

async function upload(input) {
  const form = input.form;
  const kind = input.dataset.kind;
  const status = document.getElementById(`status-${kind}`);
  const hidden = form.querySelector(`input[name="material-${kind}"]`);
  const buttons = form.querySelectorAll('button[type="submit"]');
  const file = input.files && input.files[0];
  if (!file) return;
  hidden.value = "";
  buttons.forEach((b) => { b.disabled = true; });
  status.className = "upload-status";
  status.textContent = form.dataset.textShrinking;
  try {
    const { blob, thumbnail } = await shrink(file);
    const body = new FormData();
    body.append("material", kind);
    body.append("file", blob, `${kind}.jpg`);
    const answer = await fetch(input.dataset.upload, {
      method: "POST",
      body,
      headers: { "X-CSRF-Token": csrfToken(form) },
      credentials: "same-origin",
    });
    const json = await answer.json();
    if (!answer.ok) throw new Error(json.detail || json.title);
    hidden.value = json.sha256;
    status.textContent = "";
    const img = document.createElement("img");
    img.src = thumbnail;
    img.alt = "";
    img.className = "thumb";
    const note = document.createElement("span");
    note.textContent = `${form.dataset.textSent} · ${kb(file.size)} → ${kb(blob.size)}`;
    status.append(img, note);
    status.classList.add("done");
  } catch (err) {
    input.value = "";
    status.classList.add("error");
    status.textContent = err.message && !["read", "decode", "encode"].includes(err.message)
      ? err.message
      : form.dataset.textUnreadable;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

for (const input of document.querySelectorAll("input[type=file][data-upload]")) {
  input.addEventListener("change", () => upload(input));
}
