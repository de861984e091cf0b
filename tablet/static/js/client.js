// The tablet's client: enrolment, log-in, the outbox and local view, push and pull. The same rules
// as the Python reference client (doorstep_client/, docs/sync-protocol.md): write before sending,
// freeze what may have left, the cursor moves with its page, two copies of every record.

import { b64urlDecode, hex, isoDate, isoLocal, sha256, uuid4 } from "./encoding.js";
import { CREATES, EFFECTS, SERVED, SETTLED } from "./effects.js";
import { mask, maskPhone, normalizeForHint } from "./identity.js";
import * as keys from "./keys.js";
import * as receipts from "./receipts.js";
import * as store from "./store.js";
import { checkMutation, checkPhoto } from "./validate.js";

const PROTOCOL = 1;
const MAX_BATCH = 500;
const MAX_ROUNDS = 20;
const UNSETTLED = new Set(["pending", "sent"]);
export const SKEW_WARNING_SECONDS = 300;

export class ProblemError extends Error {
  constructor(status, body) {
    const problem = body && typeof body === "object" ? body : {};
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.slug = (problem.type || "").split("/").pop();
    this.errors = problem.errors || {};
  }
}

// Refused on the tablet before anything is queued: {field: [message]}.
export class InvalidInput extends Error {
  constructor(errors) {
    super(Object.values(errors).flat().join("；"));
    this.errors = errors;
  }
}

export class Offline extends Error {}
export class Wiped extends Error {}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GZIP_MIN_BYTES = 1024; // below this gzip costs more than it saves (as the reference client)

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function jwtClaims(token) {
  try {
    return JSON.parse(new TextDecoder().decode(b64urlDecode(token.split(".")[1])));
  } catch {
    return {};
  }
}

export class Tablet {
  constructor(db, { fetchImpl = (...a) => fetch(...a), online = () => navigator.onLine } = {}) {
    this.db = db;
    this.fetch = fetchImpl;
    this.online = online;
    this.onWiped = () => {};
  }

  static async open(options) {
    return new Tablet(await store.open(), options);
  }

  meta(k) {
    return store.tx(this.db, "readonly", (t) => t.meta(k));
  }

  async metas(...names) {
    return store.tx(this.db, "readonly", async (t) => {
      const out = {};
      for (const n of names) out[n] = await t.meta(n);
      return out;
    });
  }

  setMeta(values) {
    return store.tx(this.db, "readwrite", (t) => t.setMeta(values));
  }

  // The server's clock as this tablet best knows it (ms): its own plus the offset it learnt.
  async now() {
    return Date.now() + ((await this.meta("clock_offset")) || 0) * 1000;
  }

  async today() {
    return isoDate(await this.now());
  }

  // -- HTTP ---------------------------------------------------------------------------------------

  async request(method, path, body, { auth = true, retry = true, raw = null, contentType = null } = {}) {
    if (!this.online()) throw new Offline("offline");
    let refreshed = false;
    let resynced = false;
    for (let attempt = 1; ; attempt++) {
      const headers = { Accept: "application/json" };
      if (body !== undefined && body !== null) headers["Content-Type"] = "application/json";
      if (raw) headers["Content-Type"] = contentType;
      if (auth) {
        const token = await this.accessToken();
        const { device_keys: pair, clock_offset: offset } = await this.metas("device_keys", "clock_offset");
        headers.Authorization = `Bearer ${token}`;
        const seconds = Math.floor(Date.now() / 1000) + (offset || 0);
        headers["Device-Proof"] = await keys.proofHeader(pair.privateKey, method, path, token, seconds);
      }
      let payload = raw || (body === undefined || body === null ? undefined : JSON.stringify(body));
      if (typeof payload === "string" && /^\/api\/v1\/sync\//.test(path) && payload.length >= GZIP_MIN_BYTES) {
        // The sync endpoints accept gzip bodies (docs/sync-protocol.md, "Transport").
        payload = await gzip(payload);
        headers["Content-Encoding"] = "gzip";
      }
      let response;
      try {
        response = await this.fetch(path, { method, headers, body: payload, cache: "no-store" });
      } catch (e) {
        if (!retry || attempt >= 3 || !this.online()) throw new Offline(`${method} ${path}: ${e.message}`);
        await sleep(500 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
        continue;
      }
      const text = await response.text();
      let parsed = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      if (response.ok) return parsed || {};
      if (response.status >= 500) {
        if (!retry || attempt >= 3) throw new ProblemError(response.status, parsed);
        await sleep(500 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
        continue;
      }
      const problem = new ProblemError(response.status, parsed);
      if (auth && response.status === 401 && problem.slug === "token-expired" && !refreshed) {
        await this.refresh();
        refreshed = true;
        continue;
      }
      if (auth && response.status === 401 && problem.slug === "device-proof-required" && !resynced) {
        const serverTime = parsed && parsed.server_time;
        if (Number.isInteger(serverTime)) {
          // This tablet's clock is off: date proofs by the server's clock from now on.
          await this.setMeta({ clock_offset: serverTime - Math.floor(Date.now() / 1000) });
          resynced = true;
          continue;
        }
      }
      if (response.status === 401 && problem.slug === "device-revoked" && /^\/api\/v1\/sync\//.test(path)) {
        // Staff reported this tablet lost: what it holds is personal data; it goes, now.
        await this.wipe();
        throw new Wiped(problem.message);
      }
      throw problem;
    }
  }

  async accessToken() {
    const token = await this.meta("access_token");
    if (!token) throw new ProblemError(401, { detail: "not logged in", type: "not-logged-in" });
    const claims = jwtClaims(token);
    const now = (await this.now()) / 1000;
    if (claims.exp && claims.exp - 30 < now && (await this.meta("refresh_token"))) {
      await this.refresh();
      return this.meta("access_token");
    }
    return token;
  }

  async storeTokens(body) {
    // The token's iat is the server's clock at issue: how far this tablet's clock is off.
    const iat = jwtClaims(body.access_token).iat;
    const offset = Number.isInteger(iat) ? iat - Math.floor(Date.now() / 1000) : 0;
    const values = {
      access_token: body.access_token,
      refresh_token: body.refresh_token,
      clock_offset: Math.abs(offset) > 60 ? offset : 0,
      clock_skew: -offset,
    };
    if (body.device_credential) values.device_credential = body.device_credential;
    await this.setMeta(values);
  }

  async refresh() {
    const token = await this.meta("refresh_token");
    if (!token) throw new ProblemError(401, { detail: "the session has expired: log in again" });
    let body;
    try {
      body = await this.request("POST", "/api/v1/auth/refresh", { refresh_token: token }, { auth: false, retry: false });
    } catch (e) {
      if (e instanceof ProblemError) await this.setMeta({ access_token: null, refresh_token: null });
      throw e;
    }
    await this.storeTokens(body);
  }

  // -- enrolment and log-in -----------------------------------------------------------------------

  async enroll(code) {
    if (await this.meta("device_id")) throw new Error("this tablet is already enrolled");
    let pair = await this.meta("device_keys");
    if (!pair) {
      pair = await keys.generate(); // extractable: false; the CryptoKey objects live in IndexedDB
      await this.setMeta({ device_keys: pair });
    }
    const body = await this.request(
      "POST",
      "/api/v1/devices/enroll",
      { enrollment_code: code.trim().toUpperCase(), public_key: await keys.publicJwk(pair.publicKey) },
      { auth: false, retry: false },
    );
    await this.setMeta({ device_id: body.device_id, station_id: body.station_id || null });
    return body.device_id;
  }

  async login(username, password) {
    const device_id = await this.meta("device_id");
    if (!device_id) throw new Error("this tablet is not enrolled");
    const body = await this.request("POST", "/api/v1/auth/login", { username, password, device_id }, { auth: false });
    await this.storeTokens(body);
    await this.setMeta({ username });
  }

  async wipe() {
    await store.wipe(this.db);
    this.db = await store.open();
    this.onWiped();
  }

  // -- the local view -----------------------------------------------------------------------------

  async unsettledFor(t, entity, id) {
    const rows = await t.all("outbox");
    return rows.filter((r) => UNSETTLED.has(r.state) && r.touches.some(([e, i]) => e === entity && i === id));
  }

  async rebuild(t, entity, id) {
    const k = store.key(entity, id);
    const rec = await t.get("records", k);
    let data = rec && rec.base_data != null ? rec.base_data : null;
    for (const m of await this.unsettledFor(t, entity, id)) {
      const effect = (EFFECTS[`${m.entity}.${m.op}`] || {})[entity];
      if (effect) data = effect(data, m.data, m.hints || {});
    }
    if (data == null && (!rec || rec.base_data == null)) {
      if (rec) await t.del("records", k);
      return;
    }
    await t.put("records", {
      key: k,
      entity,
      id,
      evicted: false,
      seen: true,
      unconfirmed: false,
      ...(rec || {}),
      data,
      version: rec ? rec.base_version ?? null : null,
      base_data: rec ? rec.base_data ?? null : null,
      base_version: rec ? rec.base_version ?? null : null,
    });
  }

  async setBase(t, entity, id, data, version, { fromPush = false } = {}) {
    const k = store.key(entity, id);
    const rec = await t.get("records", k);
    await t.put("records", {
      key: k,
      entity,
      id,
      evicted: rec ? rec.evicted : false,
      seen: rec ? rec.seen : true,
      unconfirmed: rec && rec.base_data != null ? rec.unconfirmed : fromPush,
      data,
      version,
      base_data: data,
      base_version: version,
    });
    await this.rebuild(t, entity, id);
  }

  async records(entity) {
    return store.tx(this.db, "readonly", async (t) => {
      const rows = await t.allByIndex("records", "entity", entity);
      return rows.filter((r) => r.data != null);
    });
  }

  async record(entity, id) {
    const rec = await store.tx(this.db, "readonly", (t) => t.get("records", store.key(entity, id)));
    return rec && rec.data != null ? rec : null;
  }

  async outbox() {
    return store.tx(this.db, "readonly", (t) => t.all("outbox"));
  }

  async pending() {
    return (await this.outbox()).filter((r) => UNSETTLED.has(r.state));
  }

  async conflicts() {
    return store.tx(this.db, "readonly", (t) => t.all("conflicts"));
  }

  async rejections() {
    return store.tx(this.db, "readonly", (t) => t.all("rejections"));
  }

  // -- the outbox ---------------------------------------------------------------------------------

  // Queue one mutation and apply it to the local view, in one transaction. An update right behind
  // an unsent update of the same record is folded into it (two edits against one base version
  // would otherwise conflict with each other on the server).
  async enqueue(entity, op, id, data, { baseVersion = null, hints = {}, touches = [] } = {}) {
    const occurred_at = isoLocal(Date.now());
    return store.tx(this.db, "readwrite", async (t) => {
      const all = [[entity, id], ...touches];
      if (op === "update") {
        const mine = await this.unsettledFor(t, entity, id);
        const last = mine[mine.length - 1];
        if (last && last.state === "pending" && last.entity === entity && last.op === "update") {
          last.data = { ...last.data, ...data };
          await t.put("outbox", last);
          await this.rebuild(t, entity, id);
          return last;
        }
      }
      const seq = (await t.meta("next_seq")) || 1;
      await t.setMeta({ next_seq: seq + 1 });
      const row = {
        seq,
        mutation_id: uuid4(),
        entity,
        op,
        record_id: id,
        base_version: baseVersion,
        data,
        occurred_at,
        state: "pending",
        hints,
        touches: all,
      };
      await t.put("outbox", row);
      for (const [e, i] of all) await this.rebuild(t, e, i);
      return row;
    });
  }

  async checked(entity, op, data) {
    const errors = checkMutation(entity, op, data, await this.today());
    if (Object.keys(errors).length) throw new InvalidInput(errors);
  }

  async registerResident(fields) {
    const data = {
      name: fields.name?.trim(),
      sex: fields.sex,
      ethnicity: fields.ethnicity?.trim() || "汉族",
      identity_number: (fields.identity_number || "").trim().toUpperCase(),
      phone: fields.phone || null,
      hukou_address: fields.hukou_address?.trim() || "",
      photo_sha256: fields.photo_sha256 || null,
    };
    await this.checked("resident", "create", data);
    const row = await this.enqueue("resident", "create", uuid4(), data);
    return row.record_id;
  }

  async updateResident(id, fields) {
    await this.checked("resident", "update", fields);
    const rec = await this.record("resident", id);
    return this.enqueue("resident", "update", id, fields, { baseVersion: rec ? rec.version : null });
  }

  async registerResidence(fields) {
    const data = {
      resident_id: fields.resident_id,
      area_id: fields.area_id,
      address: fields.address?.trim(),
      start_date: fields.start_date,
      reason: fields.reason,
      housing: fields.housing,
      landlord_name: fields.landlord_name || null,
      landlord_phone: fields.landlord_phone || null,
      employer_name: fields.employer_name || null,
    };
    await this.checked("registration", "create", data);
    const station_id = (await this.record("area", data.area_id))?.data?.station_id ?? (await this.meta("station_id"));
    const row = await this.enqueue("registration", "create", uuid4(), data, {
      hints: { station_id },
      touches: [["resident", data.resident_id]],
    });
    return row.record_id;
  }

  async startVisit(id) {
    const rec = await this.record("visit", id);
    return this.enqueue("visit", "start", id, {}, { baseVersion: rec ? rec.version : null });
  }

  async recordOutcome(id, outcome, note = "") {
    const data = { outcome, note };
    await this.checked("visit", "outcome", data);
    const rec = await this.record("visit", id);
    return this.enqueue("visit", "outcome", id, data, { baseVersion: rec ? rec.version : null });
  }

  // A photo kept by its SHA-256: the same picture twice is one file, uploaded once.
  async addPhoto(file) {
    const errors = checkPhoto(file);
    if (Object.keys(errors).length) throw new InvalidInput(errors);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const digest = hex(await sha256(bytes));
    await store.tx(this.db, "readwrite", async (t) => {
      if (!(await t.get("photos", digest))) {
        await t.put("photos", { sha256: digest, type: file.type, size: bytes.length, blob: new Blob([bytes], { type: file.type }), uploaded: false });
      }
    });
    return digest;
  }

  async photo(digest) {
    return store.tx(this.db, "readonly", (t) => t.get("photos", digest));
  }

  // Hand a permit over at the door, offline: check the ID card against the permit holder's (self),
  // take the next receipt seq (committed first, so no seq is ever used twice), sign the receipt
  // with the device key and credential, queue the handover carrying it. Returns the receipt.
  async handover(deliveryId, { recipient, identity_number, proxy_name = null, proxy_relation = null }) {
    const rec = await this.record("delivery", deliveryId);
    if (!rec) throw new Error("unknown delivery");
    const delivery = rec.data;
    if (delivery.status !== "pending") throw new InvalidInput({ delivery: ["这份证件已送达"] });
    await this.checked("delivery", "handover", { recipient, identity_number, proxy_name, proxy_relation });
    let identity;
    try {
      identity = normalizeForHint(identity_number);
    } catch {
      throw new InvalidInput({ identity_number: ["必填"] });
    }
    let name;
    if (recipient === "self") {
      if (delivery.identity_masked && mask(identity) !== delivery.identity_masked) {
        throw new InvalidInput({ identity_number: ["身份证号码与持证人不符"] });
      }
      name = delivery.resident_name;
    } else {
      name = proxy_name;
    }
    const { device_credential: credential, device_keys: pair } = await this.metas("device_credential", "device_keys");
    if (!credential || !pair) throw new InvalidInput({ device: ["没有设备凭证：请先联网登录"] });
    const seq = await store.tx(this.db, "readwrite", async (t) => {
      const n = (await t.meta("next_receipt_seq")) || 1;
      await t.setMeta({ next_receipt_seq: n + 1 });
      return n;
    });
    const now = await this.now();
    const receipt = await receipts.sign(pair, credential, {
      iat: Math.floor(now / 1000),
      permitNumber: delivery.permit_number,
      recipientName: name,
      identityNumber: identity,
      seq,
    });
    const data = {
      recipient,
      identity_number: identity,
      proxy_name,
      proxy_relation,
      signature_sha256: null,
      handed_over_at: isoLocal(Date.now()),
      receipt,
    };
    const touches = delivery.visit_id ? [["visit", delivery.visit_id]] : [];
    await this.enqueue("delivery", "handover", deliveryId, data, { baseVersion: rec.version, touches });
    await this.setMeta({ [`receipt:${deliveryId}`]: receipt });
    return receipt;
  }

  // -- sync ---------------------------------------------------------------------------------------

  // One sync at a time: a second caller (the button while the reconnect sync runs) shares it.
  sync() {
    if (!this.running) {
      this.running = this.syncRounds().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  async syncRounds() {
    const report = { pushed: 0, applied: 0, conflicts: 0, rejected: 0, pulled: 0, uploaded: 0 };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const hadWork = (await this.pending()).length > 0;
      report.uploaded += await this.uploadPhotos();
      await this.push(report);
      await this.dropEvicted();
      await this.pull(report);
      await this.dropEvicted();
      if (!hadWork && (await this.pending()).length === 0) {
        await this.setMeta({ last_sync_at: isoLocal(Date.now()), last_report: report });
        return report;
      }
    }
    throw new Error("not quiescent after 20 rounds");
  }

  async uploadPhotos() {
    const waiting = await store.tx(this.db, "readonly", async (t) => (await t.all("photos")).filter((p) => !p.uploaded));
    let n = 0;
    for (const p of waiting) {
      const declared = await this.request("POST", "/api/v1/attachments", {
        sha256: p.sha256,
        content_type: p.type,
        size: p.size,
        kind: "photo",
      });
      if (declared.upload) {
        const url = new URL(declared.upload.url, location.origin);
        if (url.origin !== location.origin) throw new Error("upload elsewhere is not supported offline");
        await this.request(declared.upload.method || "PUT", url.pathname + url.search, null, {
          raw: new Uint8Array(await p.blob.arrayBuffer()),
          contentType: p.type,
        });
        n++;
      }
      await store.tx(this.db, "readwrite", async (t) => {
        const row = await t.get("photos", p.sha256);
        if (row) await t.put("photos", { ...row, uploaded: true });
      });
    }
    return n;
  }

  async push(report) {
    for (;;) {
      const rows = (await this.pending()).sort((a, b) => a.seq - b.seq).slice(0, MAX_BATCH);
      if (!rows.length) return;
      await store.tx(this.db, "readwrite", async (t) => {
        for (const r of rows) await t.put("outbox", { ...r, state: "sent" }); // frozen from here on
      });
      const mutations = rows.map((r) => ({
        mutation_id: r.mutation_id,
        seq: r.seq,
        entity: r.entity,
        op: r.op,
        id: r.record_id,
        base_version: r.base_version,
        data: r.data,
        occurred_at: r.occurred_at,
      }));
      const body = await this.request("POST", "/api/v1/sync/push", {
        protocol: PROTOCOL,
        sent_at: isoLocal(Date.now()),
        mutations,
      });
      const settled = await store.tx(this.db, "readwrite", async (t) => {
        const n = await this.applyResults(t, body.results || [], report);
        await t.setMeta({ server_last_seq: body.last_seq ?? null });
        return n;
      });
      report.pushed += rows.length;
      if (settled === 0) return;
    }
  }

  async applyResults(t, results, report) {
    let settled = 0;
    for (const res of [...results].sort((a, b) => (a.seq || 0) - (b.seq || 0))) {
      const row = await t.byIndex("outbox", "mutation_id", String(res.mutation_id));
      if (!row || SETTLED.has(row.state) || !SETTLED.has(res.status)) continue;
      settled++;
      const status = res.status;
      await t.put("results", { ...res, received_at: isoLocal(Date.now()) });
      await t.put("outbox", { ...row, state: status });
      if (status === "rejected") {
        report.rejected++;
        const data = { ...row.data };
        if (data.identity_number) data.identity_number = mask(data.identity_number);
        if (data.phone) data.phone = maskPhone(data.phone);
        if (data.landlord_phone) data.landlord_phone = maskPhone(data.landlord_phone);
        await t.put("rejections", {
          mutation_id: row.mutation_id,
          seq: row.seq,
          entity: row.entity,
          op: row.op,
          record_id: row.record_id,
          data,
          errors: res.errors || {},
        });
        for (const [e, i] of row.touches) await this.rebuild(t, e, i);
        continue;
      }
      if (status === "conflict") {
        report.conflicts++;
        const conflict = res.conflict || {};
        await t.put("conflicts", {
          mutation_id: row.mutation_id,
          seq: row.seq,
          entity: row.entity,
          record_id: row.record_id,
          kind: conflict.kind || null,
          fields: conflict.fields || null,
          record: res.record || null,
        });
      } else {
        report.applied++;
      }
      await this.settleRecord(t, row, res);
    }
    return settled;
  }

  async settleRecord(t, row, res) {
    const { entity, record_id: recordId } = row;
    const replayed = Boolean(res.replayed);
    let serverId = null;
    let record = null;
    if (res.record && typeof res.record === "object" && "id" in res.record) {
      serverId = String(res.record.id);
      record = Object.fromEntries(Object.entries(res.record).filter(([k]) => k !== "id" && k !== "version"));
    }
    if (serverId && serverId !== recordId) await this.followId(t, entity, recordId, serverId);
    const target = serverId || recordId;
    const effects = EFFECTS[`${entity}.${row.op}`] || {};
    const version = res.version ?? null;
    if (SERVED.has(entity)) {
      const current = await t.get("records", store.key(entity, target));
      const hasBase = current && current.base_data != null;
      const newer = !hasBase || current.base_version == null || (version != null && version >= current.base_version);
      if (record && version != null) {
        if (newer) await this.setBase(t, entity, target, record, version, { fromPush: true });
      } else if (record && (!replayed || !hasBase)) {
        await this.setBase(t, entity, target, record, current ? current.base_version : null, { fromPush: true });
      } else if (version != null && effects[entity] && newer) {
        const next = effects[entity](hasBase ? current.base_data : null, row.data, row.hints || {});
        await this.setBase(t, entity, target, next, version, { fromPush: true });
      }
    }
    for (const [e, i] of row.touches) {
      if ((e !== entity || i !== recordId) && effects[e] && !replayed) {
        const cur = await t.get("records", store.key(e, i));
        if (cur && cur.base_data != null) {
          await t.put("records", { ...cur, base_data: effects[e](cur.base_data, row.data, row.hints || {}) });
        }
      }
      await this.rebuild(t, e, i);
    }
    if (target !== recordId) await this.rebuild(t, entity, recordId);
  }

  // A create the server linked to an existing record: unsent mutations follow the server's id.
  async followId(t, entity, oldId, newId) {
    for (const m of await t.all("outbox")) {
      if (m.state !== "pending") continue;
      let changed = false;
      if (m.entity === entity && m.record_id === oldId) {
        m.record_id = newId;
        changed = true;
      }
      if (entity === "resident" && m.data && m.data.resident_id === oldId) {
        m.data = { ...m.data, resident_id: newId };
        changed = true;
      }
      m.touches = m.touches.map(([e, i]) => (e === entity && i === oldId ? ((changed = true), [e, newId]) : [e, i]));
      if (changed) await t.put("outbox", m);
    }
  }

  async dropEvicted() {
    await store.tx(this.db, "readwrite", async (t) => {
      for (const r of await t.all("records")) {
        if (r.evicted && !(await this.unsettledFor(t, r.entity, r.id)).length) await t.del("records", r.key);
      }
    });
  }

  async pull(report) {
    for (;;) {
      const { cursor = null, reset_mode: resetting = false } = await this.metas("cursor", "reset_mode");
      const body = await this.request("POST", "/api/v1/sync/pull", { protocol: PROTOCOL, cursor: cursor ?? null, limit: 1000 });
      if (body.protocol != null && body.protocol !== PROTOCOL) throw new Error(`the server speaks protocol ${body.protocol}`);
      if (body.reset && cursor != null) {
        // The page that said reset is not used: pull everything again from null.
        await store.tx(this.db, "readwrite", async (t) => {
          for (const r of await t.all("records")) await t.put("records", { ...r, seen: false });
          await t.setMeta({ cursor: null, reset_mode: true });
        });
        continue;
      }
      const changes = body.changes || [];
      await store.tx(this.db, "readwrite", async (t) => {
        for (const change of changes) await this.applyChange(t, change, resetting || cursor == null);
        await t.setMeta({ cursor: body.cursor ?? null });
        if (resetting && !body.has_more) await this.finishReset(t);
        if (!body.has_more) await this.dropUnconfirmed(t);
      });
      if (report) report.pulled += changes.length;
      if (!body.has_more) return;
    }
  }

  async applyChange(t, change, fresh) {
    const { entity, op } = change;
    const id = String(change.id);
    const version = change.version ?? null;
    const k = store.key(entity, id);
    const rec = await t.get("records", k);
    if (op === "upsert") {
      const newer = !rec || rec.base_data == null || rec.base_version == null || version == null || version >= rec.base_version;
      if (newer || fresh) await this.setBase(t, entity, id, change.data, version);
      const now = await t.get("records", k);
      if (now) await t.put("records", { ...now, seen: true, evicted: false, unconfirmed: false });
    } else if (op === "delete") {
      if (rec) {
        await t.put("records", { ...rec, base_data: null, base_version: null, version: null });
        await this.rebuild(t, entity, id);
      }
    } else if (op === "evict" && rec) {
      if ((await this.unsettledFor(t, entity, id)).length) await t.put("records", { ...rec, evicted: true });
      else await t.del("records", k);
    }
  }

  async dropUnconfirmed(t) {
    for (const r of await t.all("records")) {
      if (r.unconfirmed && !(await this.unsettledFor(t, r.entity, r.id)).length) await t.del("records", r.key);
    }
  }

  async finishReset(t) {
    for (const r of await t.all("records")) {
      if (r.seen) continue;
      const pending = await this.unsettledFor(t, r.entity, r.id);
      if (pending.some((m) => CREATES.has(`${m.entity}.${m.op}`) && m.record_id === r.id)) {
        await t.put("records", { ...r, base_data: null, base_version: null, version: null, seen: true });
        await this.rebuild(t, r.entity, r.id);
      } else if (pending.length) {
        await t.put("records", { ...r, evicted: true, seen: true });
      } else {
        await t.del("records", r.key);
      }
    }
    await t.setMeta({ reset_mode: false });
  }
}
