// The device key: a WebCrypto P-256 key made at enrolment with extractable: false, so its private
// half never leaves the browser's key store (the CryptoKey object itself is kept in IndexedDB).
// It signs every request's Device-Proof and every receipt: ES256, raw r||s, low-S.

import { b64url, randomBytes, sha256, utf8 } from "./encoding.js";

const ALG = { name: "ECDSA", namedCurve: "P-256" };
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export function generate() {
  return crypto.subtle.generateKey(ALG, false, ["sign", "verify"]);
}

export async function publicJwk(publicKey) {
  const jwk = await crypto.subtle.exportKey("jwk", publicKey);
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
}

// SEC 1 compressed point: 02 or 03 (y even or odd), then x.
export async function compressedPoint(publicKey) {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  const out = new Uint8Array(33);
  out[0] = 2 + (raw[64] & 1);
  out.set(raw.slice(1, 33), 1);
  return out;
}

function bigOf(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function bytesOf(n) {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

// (r, s) and (r, n - s) both verify; only the low one is sent and accepted.
export function lowS(signature) {
  const s = bigOf(signature.slice(32));
  if (s <= N - s) return signature;
  const out = new Uint8Array(64);
  out.set(signature.slice(0, 32));
  out.set(bytesOf(N - s), 32);
  return out;
}

export async function es256Sign(privateKey, data) {
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, data));
  return lowS(sig);
}

export async function tokenHash(accessToken) {
  return b64url(await sha256(utf8(accessToken)));
}

export async function proofSigningInput(method, target, seconds, nonce, accessToken) {
  return utf8([method.toUpperCase(), target, String(seconds), nonce, await tokenHash(accessToken)].join("\n"));
}

// The Device-Proof header for one request, dated `seconds` (this tablet's clock plus the offset
// the server told it about).
export async function proofHeader(privateKey, method, target, accessToken, seconds) {
  const nonce = b64url(randomBytes(12));
  const signature = await es256Sign(privateKey, await proofSigningInput(method, target, seconds, nonce, accessToken));
  return `${seconds}.${nonce}.${b64url(signature)}`;
}
