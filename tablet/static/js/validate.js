// Offline checks before a mutation is queued: the values the server accepts
// (doorstep_protocol/vocabulary.py), required fields, dates, identity numbers, photo size. Each
// failure names its field with a message in Chinese. The browser tests run the shared vectors
// (identity_numbers.json, mutations.json) through this module.

import * as identity from "./identity.js";

export const SEXES = ["male", "female"];
export const REASONS = ["work", "study", "family", "other"];
export const HOUSING = ["rented", "owned", "employer", "relatives"];
export const END_REASONS = ["moved_away", "cancelled"];
export const OUTCOMES = ["completed", "not_home"];
export const RECIPIENTS = ["self", "proxy"];
export const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
export const PHOTO_MAX_BYTES = 10 * 1024 * 1024; // DOORSTEP_ATTACHMENT_MAX_BYTES

const REQUIRED = "必填";
const NOT_ONE_OF = "不是可选的值";
const BAD_DATE = "日期无效，格式为年-月-日";
const BAD_PHONE = "手机号码应为11位数字，以1开头";
const TOO_LONG = "内容过长";
const BAD_SHA = "照片摘要无效";

function isRealDate(text) {
  if (typeof text !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const [y, m, d] = text.split("-").map(Number);
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

class Checker {
  constructor(data) {
    this.data = data || {};
    this.errors = {};
  }
  fail(field, message) {
    (this.errors[field] ||= []).push(message);
  }
  present(field) {
    const v = this.data[field];
    return v !== undefined && v !== null && !(typeof v === "string" && !v.trim());
  }
  required(...fields) {
    for (const f of fields) if (!this.present(f)) this.fail(f, REQUIRED);
  }
  text(field, max = 200) {
    if (this.present(field) && (typeof this.data[field] !== "string" || this.data[field].length > max)) {
      this.fail(field, TOO_LONG);
    }
  }
  oneOf(field, allowed) {
    if (this.present(field) && !allowed.includes(this.data[field])) this.fail(field, NOT_ONE_OF);
  }
  date(field) {
    if (this.present(field) && !isRealDate(this.data[field])) this.fail(field, BAD_DATE);
  }
  phone(field) {
    if (this.present(field) && !/^1\d{10}$/.test(String(this.data[field]))) this.fail(field, BAD_PHONE);
  }
  sha(field) {
    if (this.present(field) && !/^[0-9a-f]{64}$/.test(this.data[field])) this.fail(field, BAD_SHA);
  }
  identity(field, today) {
    if (!this.present(field)) return this.required(field);
    const r = identity.validate(this.data[field], today);
    if (!r.ok) this.fail(field, r.message);
  }
}

function residentFields(c) {
  c.text("name", 50);
  c.oneOf("sex", SEXES);
  c.text("ethnicity", 20);
  c.phone("phone");
  c.text("hukou_address", 200);
  c.sha("photo_sha256");
}

function registrationFields(c) {
  c.text("address", 200);
  c.oneOf("reason", REASONS);
  c.oneOf("housing", HOUSING);
  c.text("landlord_name", 50);
  c.phone("landlord_phone");
  c.text("employer_name", 100);
}

const RULES = {
  "resident.create": (c, today) => {
    c.required("name", "sex");
    c.identity("identity_number", today);
    residentFields(c);
  },
  "resident.update": (c) => residentFields(c),
  "registration.create": (c) => {
    c.required("resident_id", "area_id", "address", "start_date", "reason", "housing");
    c.date("start_date");
    registrationFields(c);
    // field_api/residency/services.py: who vouches for the housing.
    if (c.data.housing === "rented" && !c.present("landlord_name")) c.fail("landlord_name", "租住的须填写房东姓名");
    if (c.data.housing === "employer" && !c.present("employer_name")) c.fail("employer_name", "单位宿舍须填写工作单位");
  },
  "registration.update": (c) => registrationFields(c),
  "registration.end": (c) => {
    c.required("end_date", "reason");
    c.date("end_date");
    c.oneOf("reason", END_REASONS);
  },
  "visit.start": () => {},
  "visit.outcome": (c) => {
    c.required("outcome");
    c.oneOf("outcome", OUTCOMES);
  },
  "application.create": (c) => c.required("resident_id"),
  "application.supply_material": (c) => {
    c.required("kind", "attachment_sha256");
    c.sha("attachment_sha256");
  },
  "delivery.handover": (c) => {
    c.required("recipient", "identity_number");
    c.oneOf("recipient", RECIPIENTS);
    if (c.data.recipient === "proxy") c.required("proxy_name", "proxy_relation");
  },
};

// {} when the mutation may be queued, else {field: [message, …]}.
export function checkMutation(entity, op, data, today) {
  const rule = RULES[`${entity}.${op}`];
  const c = new Checker(data);
  if (!rule) {
    c.fail("op", "未知操作");
    return c.errors;
  }
  rule(c, today);
  return c.errors;
}

// A photo the server will take: an image of an accepted type and size.
export function checkPhoto(file) {
  if (!file) return { photo: [REQUIRED] };
  if (!PHOTO_TYPES.includes(file.type)) return { photo: ["照片应为JPEG、PNG或WebP格式"] };
  if (file.size > PHOTO_MAX_BYTES) return { photo: ["照片不能超过10MB，请降低分辨率后重拍"] };
  if (file.size === 0) return { photo: ["照片是空的，请重拍"] };
  return {};
}
