// The receipt's QR code, drawn on a canvas by the vendored encoder (qrcode-generator 2.0.4, MIT):
// level M, byte mode, as small a version as holds the token (a receipt fits version 20).

import qrcode from "../vendor/qrcode-generator-2.0.4/qrcode.mjs";

export function draw(canvas, text, { scale = 6, quiet = 4 } = {}) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
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
