// A delivery receipt, signed offline at the door, in the compact format (doorstep_protocol/receipts.py
// has the layout): "DR2-" and the base32 of the format byte, the device credential's payload and
// server signature, jti, iat, sq, the identity hint, the masked name as its first character and a
// count, the permit number, then the device's ES256 low-S signature over all of that. The claims
// {"jti","iat","pn","rn","ih","sq"} are the same as in the first format (a JWS), which the server
// still verifies and no tablet signs any more.

import { b32, b64url, b64urlDecode, randomBytes, utf8 } from "./encoding.js";
import { normalizeForHint } from "./identity.js";
import { compressedPoint, es256Sign } from "./keys.js";

export const JTI_BYTES = 16;
export const COMPACT_PREFIX = "DR2-";
export const QR_CAPACITY = 816; // alphanumeric characters of a version-18 QR symbol at level M
const CREDENTIAL_HEADER = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRjIn0"; // {"alg":"ES256","typ":"dc"}
const CREDENTIAL_PAYLOAD = 89;

export class ReceiptError extends Error {}

export function maskName(name) {
  if (typeof name !== "string") throw new ReceiptError("the recipient's name must be a string");
  const chars = Array.from(name.normalize("NFC").trim());
  if (!chars.length) throw new ReceiptError("the recipient's name is empty");
  return chars[0] + "*".repeat(chars.length - 1);
}

export async function identityHint(jti, identityNumber) {
  const key = await crypto.subtle.importKey("raw", jti, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(normalizeForHint(identityNumber))));
  return Array.from(mac.slice(0, 2), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Python's str.isprintable: no control, format, private, unassigned or separator character but the space.
function printable(text) {
  return !/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u.test(text);
}

export async function payload({ jti, iat, permitNumber, recipientName, identityNumber, seq }) {
  if (typeof permitNumber !== "string" || !permitNumber.trim() || !printable(permitNumber)) {
    throw new ReceiptError("permit_number must be a non-empty printable string");
  }
  if (!Number.isInteger(seq) || seq < 0) throw new ReceiptError("seq must be a non-negative integer");
  if (!Number.isInteger(iat) || iat <= 0) throw new ReceiptError("iat must be epoch seconds");
  if (!(jti instanceof Uint8Array) || jti.length !== JTI_BYTES) throw new ReceiptError(`a receipt jti is ${JTI_BYTES} bytes`);
  const rn = maskName(recipientName);
  let ih;
  try {
    ih = await identityHint(jti, identityNumber);
  } catch (e) {
    throw new ReceiptError(e.message);
  }
  return { jti: b64url(jti), iat, pn: permitNumber.trim(), rn, ih, sq: seq };
}

// The credential as a compact receipt carries it: its payload, then the server's signature.
export function credentialBytes(credential) {
  const parts = typeof credential === "string" ? credential.split(".") : [];
  if (parts.length !== 3 || parts[0] !== CREDENTIAL_HEADER) throw new ReceiptError("the device credential is unreadable");
  const payload = b64urlDecode(parts[1]);
  const signature = b64urlDecode(parts[2]);
  if (payload.length !== CREDENTIAL_PAYLOAD || signature.length !== 64) throw new ReceiptError("the device credential is unreadable");
  const out = new Uint8Array(payload.length + signature.length);
  out.set(payload);
  out.set(signature, payload.length);
  return out;
}

// The 33-byte key point a device credential is bound to (doorstep_protocol/credentials.py).
export function credentialPoint(credential) {
  return credentialBytes(credential).slice(48, 81);
}

function uint32(view, at, value, name) {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32) throw new ReceiptError(`${name} must be below 2**32`);
  view.setUint32(at, value);
}

// The bytes the device key signs: everything of the compact receipt but its signature.
export function compactSigningInput(credential, claims) {
  const cred = credentialBytes(credential);
  const jti = b64urlDecode(claims.jti);
  const [first, ...rest] = Array.from(claims.rn);
  if (rest.some((c) => c !== "*")) throw new ReceiptError("the recipient's name is not masked");
  if (rest.length > 255) throw new ReceiptError("the recipient's name is too long for a receipt");
  const pn = utf8(claims.pn);
  const out = new Uint8Array(1 + cred.length + JTI_BYTES + 4 + 4 + 2 + 3 + 1 + pn.length);
  const view = new DataView(out.buffer);
  out[0] = 2;
  out.set(cred, 1);
  let at = 1 + cred.length;
  out.set(jti, at);
  at += JTI_BYTES;
  uint32(view, at, claims.iat, "iat");
  uint32(view, at + 4, claims.sq, "seq");
  at += 8;
  out[at] = parseInt(claims.ih.slice(0, 2), 16);
  out[at + 1] = parseInt(claims.ih.slice(2, 4), 16);
  const cp = first.codePointAt(0);
  out.set([cp >> 16, (cp >> 8) & 255, cp & 255, rest.length], at + 2);
  out.set(pn, at + 6);
  return out;
}

export async function sign(keyPair, credential, facts) {
  const claims = await payload({ ...facts, jti: facts.jti || randomBytes(JTI_BYTES) });
  const bound = credentialPoint(credential);
  const mine = await compressedPoint(keyPair.publicKey);
  if (bound.length !== mine.length || bound.some((b, i) => b !== mine[i])) {
    throw new ReceiptError("the device credential is for another device key: log in on this tablet again");
  }
  const input = compactSigningInput(credential, claims);
  const signature = await es256Sign(keyPair.privateKey, input);
  const signed = new Uint8Array(input.length + signature.length);
  signed.set(input);
  signed.set(signature, input.length);
  const token = COMPACT_PREFIX + b32(signed);
  if (token.length > QR_CAPACITY) {
    throw new ReceiptError(`the receipt is ${token.length} characters; a QR code holds ${QR_CAPACITY}`);
  }
  return token;
}
