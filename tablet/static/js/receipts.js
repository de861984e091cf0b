// A delivery receipt, signed offline at the door (doorstep_protocol/receipts.py): a compact JWS
// whose header names the device credential, whose payload is
// {"jti","iat","pn","rn","ih","sq"} in that order, signed ES256 low-S by the device key.

import { b64url, b64urlDecode, jsonBytes, randomBytes, utf8 } from "./encoding.js";
import { normalizeForHint } from "./identity.js";
import { compressedPoint, es256Sign } from "./keys.js";

export const JTI_BYTES = 16;
export const QR_CAPACITY = 666;

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

export function header(credential) {
  return { alg: "ES256", typ: "dr", dc: credential };
}

export function signingInput(headerObj, payloadObj) {
  return `${b64url(jsonBytes(headerObj))}.${b64url(jsonBytes(payloadObj))}`;
}

// The 33-byte key point a device credential is bound to (doorstep_protocol/credentials.py).
export function credentialPoint(credential) {
  const raw = b64urlDecode(credential.split(".")[1]);
  if (raw.length !== 89) throw new ReceiptError("the device credential is unreadable");
  return raw.slice(48, 81);
}

export async function sign(keyPair, credential, facts) {
  const claims = await payload({ ...facts, jti: facts.jti || randomBytes(JTI_BYTES) });
  const bound = credentialPoint(credential);
  const mine = await compressedPoint(keyPair.publicKey);
  if (bound.length !== mine.length || bound.some((b, i) => b !== mine[i])) {
    throw new ReceiptError("the device credential is for another device key: log in on this tablet again");
  }
  const input = signingInput(header(credential), claims);
  const token = `${input}.${b64url(await es256Sign(keyPair.privateKey, utf8(input)))}`;
  if (token.length > QR_CAPACITY) {
    throw new ReceiptError(`the receipt is ${token.length} characters; a QR code holds ${QR_CAPACITY}`);
  }
  return token;
}
