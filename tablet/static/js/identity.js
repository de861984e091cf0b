// Citizen identity numbers (GB 11643-1999), as doorstep_protocol/identity.py: the same reasons,
// checked against doorstep_protocol/vectors/identity_numbers.json in the browser tests.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";
const SHAPE = /^[1-9][0-9]{5}([0-9]{4})([0-9]{2})([0-9]{2})[0-9]{3}[0-9X]$/;

export const MESSAGES = {
  "not-a-string": "身份证号码必须是文字",
  length: "身份证号码应为18位",
  shape: "身份证号码应为17位数字加1位校验码（0-9或X），地区码不以0开头",
  "birth-date-invalid": "身份证号码中的出生日期不存在",
  "birth-date-out-of-range": "身份证号码中的出生日期超出范围",
  "check-character": "身份证号码校验位不正确，请核对",
};

export function checkCharacter(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i];
  return CHECK[sum % 11];
}

function realDate(y, m, d) {
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

// {ok: true, canonical} or {ok: false, reason, message}. `today` is "YYYY-MM-DD" (the caller's clock).
export function validate(value, today) {
  const fail = (reason) => ({ ok: false, reason, message: MESSAGES[reason] });
  if (typeof value !== "string") return fail("not-a-string");
  const v = value.trim().toUpperCase();
  if (v.length !== 18) return fail("length");
  const m = SHAPE.exec(v);
  if (!m) return fail("shape");
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!realDate(y, mo, d)) return fail("birth-date-invalid");
  const born = `${m[1]}-${m[2]}-${m[3]}`;
  if (born > today || y < 1900) return fail("birth-date-out-of-range");
  if (checkCharacter(v.slice(0, 17)) !== v[17]) return fail("check-character");
  return { ok: true, canonical: v };
}

// The form a receipt's identity hint is computed over; throws only when empty.
export function normalizeForHint(value) {
  if (typeof value !== "string" || !value.trim()) throw new Error("the identity number is empty");
  return value.normalize("NFKC").trim().toUpperCase();
}

export function mask(value) {
  return value == null ? null : value.slice(0, 4) + "*".repeat(10) + value.slice(-4);
}

export function maskPhone(value) {
  return value == null ? null : value.slice(0, 3) + "****" + value.slice(-4);
}
