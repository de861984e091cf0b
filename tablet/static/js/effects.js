// What a queued mutation does to the record the officer sees (doorstep_client/outbox.py, EFFECTS):
// one pure function per (entity, op), replayed over the server's copy at every rebuild.

import { mask, maskPhone } from "./identity.js";

function residentCreate(current, data) {
  if (current) return current;
  return {
    name: data.name,
    sex: data.sex,
    ethnicity: data.ethnicity ?? null,
    identity_number: mask(data.identity_number),
    phone: maskPhone(data.phone ?? null),
    hukou_address: data.hukou_address ?? null,
    photo_sha256: data.photo_sha256 ?? null,
  };
}

function update(current, data) {
  if (!current) return null;
  const out = { ...current };
  for (const [k, v] of Object.entries(data)) {
    if (k === "landlord_phone") continue;
    out[k] = k === "phone" ? maskPhone(v) : v;
  }
  return out;
}

function registrationCreate(current, data, hints) {
  if (current) return current;
  return {
    resident_id: data.resident_id,
    area_id: data.area_id,
    station_id: hints.station_id ?? null,
    address: data.address,
    start_date: data.start_date,
    maturity_date: null,
    reason: data.reason,
    housing: data.housing,
    landlord_name: data.landlord_name ?? null,
    employer_name: data.employer_name ?? null,
    status: "active",
  };
}

const set = (values) => (current) => (current ? { ...current, ...values } : null);

function outcome(current, data) {
  return current ? { ...current, status: data.outcome, outcome_note: data.note || null } : null;
}

export const EFFECTS = {
  "resident.create": { resident: residentCreate },
  "resident.update": { resident: update },
  "registration.create": { registration: registrationCreate },
  "registration.update": { registration: update },
  "registration.end": { registration: set({ status: "ended" }) },
  "visit.start": { visit: set({ status: "en_route" }) },
  "visit.outcome": { visit: outcome },
  "application.create": { application: (c, d) => c || { resident_id: d.resident_id, materials: d.materials || [], status: "queued" } },
  "application.supply_material": { application: (c) => c },
  "delivery.handover": { delivery: set({ status: "delivered" }), visit: set({ status: "completed" }) },
};

export const CREATES = new Set(Object.keys(EFFECTS).filter((k) => k.endsWith(".create")));
export const SERVED = new Set(["visit", "delivery", "resident", "registration", "area", "reference"]);
export const SETTLED = new Set(["applied", "conflict", "rejected"]);
