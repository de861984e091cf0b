// The receipt's QR code, drawn on a canvas by the vendored encoder (qrcode-generator 2.0.4, MIT):
// level M, as small a version as holds the token, one segment in the mode the server's encoder
// picks too: alphanumeric for a compact receipt ("DR2-" and base32: version 13), byte mode for
// anything else (a first-format receipt: version 19).

import qrcode from "../vendor/qrcode-generator-2.0.4/qrcode.mjs";

const ALPHANUMERIC = /^[0-9A-Z $%*+\-./:]*$/;

function encode(text) {
  const qr = qrcode(0, "M");
  qr.addData(text, ALPHANUMERIC.test(text) ? "Alphanumeric" : "Byte");
  qr.make();
  return qr;
}

// The symbol as rows of "1" (dark) and "0", for comparing with the server's rendering.
export function matrix(text) {
  const qr = encode(text);
  const n = qr.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => (qr.isDark(r, c) ? "1" : "0")).join(""));
}

export function draw(canvas, text, { scale = 6, quiet = 4 } = {}) {
  const qr = encode(text);
  const n = qr.getModuleCount();
  const size = (n + 2 * quiet) * scale;
  canvas.width = size;
  canvas.height = size;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, size, size);
  g.fillStyle = "#000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) g.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
  }
  return n;
}
