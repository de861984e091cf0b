// The tablet's screens: set-up (enrolment and log-in), today, a visit, delivery and receipt, sync.
// Everything is drawn from the local store, so every screen works with the network off; only
// enrolment, log-in and sync need it.

import { InvalidInput, Offline, ProblemError, SKEW_WARNING_SECONDS, Tablet, Wiped } from "./client.js";
import * as qr from "./qr.js";
import { translator } from "./reasons.js";
import { HOUSING, REASONS, checkMutation } from "./validate.js";

const T = {
  sex: { male: "男", female: "女" },
  reason: { work: "务工", study: "就学", family: "投亲", other: "其他" },
  housing: { rented: "租住", owned: "自有住房", employer: "单位宿舍", relatives: "亲属住房" },
  status: {
    requested: "待派单", assigned: "待走访", en_route: "走访中", completed: "已完成", not_home: "未遇", cancelled: "已取消",
    rescheduled: "已改期", pending: "待送达", delivered: "已送达",
  },
  kind: { booking: "预约上门", delivery: "证件送达", follow_up: "回访" },
  purpose: { registration: "居住登记", permit_application: "居住证申领", permit_delivery: "居住证送达", other: "其他事项" },
  material: { identity_card: "身份证", rental_contract: "租赁合同", property_certificate: "房产证明", employer_proof: "单位证明", photo: "照片" },
  entity: { resident: "人员", registration: "居住登记", visit: "走访", delivery: "送达", application: "申请" },
  op: { create: "新增", update: "修改", end: "注销", start: "开始", outcome: "结果", handover: "交付", supply_material: "补材料" },
  field: {
    name: "姓名", sex: "性别", identity_number: "身份证号码", phone: "手机号码", hukou_address: "户籍地址", ethnicity: "民族",
    address: "居住地址", start_date: "起始日期", reason: "居住事由", housing: "住所类型", landlord_name: "房东姓名",
    landlord_phone: "房东电话", employer_name: "工作单位", area_id: "责任区", photo: "照片", recipient: "领取人",
    proxy_name: "代领人姓名", proxy_relation: "与持证人关系", outcome: "走访结果", base_version: "版本",
  },
};

let tablet;
const main = () => document.getElementById("main");

// Screens return nodes, arrays of nodes (nested) and nulls for what is not shown.
function nodes(view) {
  return [view].flat(Infinity).filter((n) => n != null && n !== false);
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function field(name, control, hint) {
  return h("div", { class: "field", dataset: { field: name } }, h("label", { for: control.id }, T.field[name] || name), control, hint);
}

function input(name, attrs = {}) {
  return h("input", { id: `f-${name}`, name, ...attrs });
}

function select(name, options, labels, attrs = {}) {
  return h("select", { id: `f-${name}`, name, ...attrs }, h("option", { value: "" }, "请选择"), options.map((o) => h("option", { value: o }, labels[o] || o)));
}

function showErrors(form, errors) {
  for (const el of form.querySelectorAll(".field")) {
    el.classList.remove("invalid");
    el.querySelector(".error")?.remove();
  }
  const rest = [];
  for (const [name, messages] of Object.entries(errors)) {
    const el = form.querySelector(`.field[data-field="${name}"]`);
    const text = [].concat(messages).join("；");
    if (el) {
      el.classList.add("invalid");
      el.append(h("p", { class: "error", role: "alert" }, text));
    } else rest.push(`${T.field[name] || name}：${text}`);
  }
  if (rest.length) form.prepend(h("p", { class: "notice error field", role: "alert" }, h("span", { class: "error" }, rest.join("；"))));
}

function notice(text, kind = "") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

function describe(e) {
  if (e instanceof Offline) return "没有网络，稍后再同步；数据都保存在平板上。";
  if (e instanceof Wiped) return "此平板已被停用，本地数据已清除。";
  if (e instanceof ProblemError) {
    const detail = Object.entries(e.errors || {}).map(([k, v]) => `${T.field[k] || k}：${[].concat(v).join("，")}`).join("；");
    return `服务器拒绝：${e.message}${detail ? `（${detail}）` : ""}`;
  }
  return `出错了：${e.message}`;
}

function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function time(hhmm) {
  return hhmm ? String(hhmm).slice(0, 5) : "";
}

function howLong(seconds) {
  if (seconds >= 2 * 86400) return `${Math.round(seconds / 86400)} 天`;
  if (seconds >= 2 * 3600) return `${Math.round(seconds / 3600)} 小时`;
  return `${Math.round(seconds / 60)} 分钟`;
}

// -- status line -------------------------------------------------------------------------------

async function renderStatus() {
  const network = document.getElementById("network");
  network.textContent = navigator.onLine ? "在线" : "离线";
  network.classList.toggle("offline", !navigator.onLine);
  const status = document.getElementById("status");
  const m = await tablet.metas("device_id", "username", "last_sync_at", "clock_skew");
  document.getElementById("nav").hidden = !m.username;
  status.hidden = !m.username;
  if (!m.username) return;
  const pending = (await tablet.pending()).length;
  status.replaceChildren(
    ...nodes([
    h("span", {}, `民警：${m.username}`),
    h("span", { id: "last-sync" }, `上次同步：${m.last_sync_at ? m.last_sync_at.replace("T", " ").slice(0, 16) : "从未"}`),
    h("span", { id: "pending-count" }, `待上传：${pending} 条`),
    Math.abs(m.clock_skew || 0) > SKEW_WARNING_SECONDS
      ? h("span", { class: "warn", id: "skew" }, `平板时钟与服务器相差约 ${howLong(Math.abs(m.clock_skew))}，请校准时间`)
      : null,
    ]),
  );
}

// -- screens -----------------------------------------------------------------------------------

const screens = {};

async function go(name, arg) {
  for (const b of document.querySelectorAll("#nav button")) {
    if (b.dataset.go === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  await renderStatus();
  const view = await screens[name](arg);
  main().replaceChildren(...nodes(view));
  window.scrollTo(0, 0);
}

screens.setup = async (message) => {
  const deviceId = await tablet.meta("device_id");
  if (!deviceId) {
    const form = h(
      "form",
      { class: "login", id: "enroll" },
      h("h1", {}, "启用平板"),
      message ? notice(message, "error") : null,
      h("p", { class: "muted" }, "输入所内工作人员给出的一次性启用码。平板会生成自己的密钥，私钥不会离开本机。"),
      field("enrollment_code", input("enrollment_code", { required: true, autocomplete: "off", placeholder: "XXXX-XXXX-XXXX" })),
      h("button", { type: "submit" }, "启用"),
    );
    form.querySelector("label").textContent = "启用码";
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await tablet.enroll(values(form).enrollment_code);
        await go("setup");
      } catch (e) {
        showErrors(form, e instanceof ProblemError && e.errors.enrollment_code ? { enrollment_code: ["启用码无效、已使用或已过期"] } : { _: [describe(e)] });
      }
    });
    return form;
  }
  const form = h(
    "form",
    { class: "login", id: "login" },
    h("h1", {}, "民警登录"),
    message ? notice(message, "error") : null,
    h("p", { class: "muted" }, "每天出发前联网登录一次：登录后平板才能签发送达回执。"),
    field("username", input("username", { required: true, autocomplete: "username" })),
    field("password", input("password", { type: "password", required: true, autocomplete: "current-password" })),
    h("button", { type: "submit" }, "登录并同步"),
  );
  form.querySelector('[data-field="username"] label').textContent = "用户名";
  form.querySelector('[data-field="password"] label').textContent = "密码";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    try {
      await tablet.login(v.username, v.password);
      await tablet.sync();
      await go("today");
    } catch (e) {
      showErrors(form, { _: [describe(e)] });
    }
  });
  return form;
};

function visitSort(a, b) {
  return (a.data.window_start || "").localeCompare(b.data.window_start || "") || (a.data.address || "").localeCompare(b.data.address || "");
}

async function materialsToCollect() {
  const ref = await tablet.record("reference", "material_kinds");
  const kinds = ref?.data?.kinds || [];
  return [...new Set(kinds.filter((k) => k.core && !k.housing).map((k) => T.material[k.kind] || k.kind))];
}

screens.today = async () => {
  const today = await tablet.today();
  const visits = (await tablet.records("visit")).filter((v) => v.data.day === today && v.data.status !== "cancelled").sort(visitSort);
  const deliveries = await tablet.records("delivery");
  const collect = await materialsToCollect();
  const list = visits.map((v, i) => {
    const d = v.data;
    const permits = deliveries.filter((x) => x.data.visit_id === v.id);
    const bring = d.kind === "delivery" ? `携带：${permits.map((p) => `居住证 ${p.data.permit_number}`).join("、") || "居住证"}` : `收集：${collect.join("、") || "身份证"}及住所证明`;
    const state = d.status === "completed" ? "done" : d.status === "not_home" ? "away" : "";
    return h(
      "div",
      { class: "card visit", role: "button", tabindex: "0", dataset: { visit: v.id }, onclick: () => go("visit", v.id) },
      h("span", { class: "when" }, `${i + 1}. ${time(d.window_start)}–${time(d.window_end)}`),
      h("span", { class: "where" }, h("strong", {}, d.address || "（无地址）")),
      h("span", { class: "what muted" }, [T.kind[d.kind] || d.kind, T.purpose[d.purpose] || d.purpose, [d.contact_name, d.contact_phone].filter(Boolean).join(" "), bring].filter(Boolean).join(" · ")),
      h("span", { class: `pill state ${state}` }, T.status[d.status] || d.status),
    );
  });
  return [h("h1", {}, `今日走访 ${today}（按路线顺序，共 ${visits.length} 处）`), list.length ? list : h("p", { class: "muted" }, "今天没有走访任务。")];
};

async function areaOptions() {
  return (await tablet.records("area")).sort((a, b) => (a.data.code || "").localeCompare(b.data.code || ""));
}

function residentForm(visit, areas, today, onDone) {
  const form = h(
    "form",
    { id: "register", novalidate: true },
    h("h2", {}, "登记住户"),
    h(
      "div",
      { class: "grid" },
      field("name", input("name", { autocomplete: "off" })),
      field("sex", select("sex", ["male", "female"], T.sex)),
      field("identity_number", input("identity_number", { autocomplete: "off", inputmode: "text", maxlength: "18" })),
      field("ethnicity", input("ethnicity", { value: "汉族" })),
      field("phone", input("phone", { inputmode: "numeric", maxlength: "11" })),
      field("hukou_address", input("hukou_address")),
      field("photo", input("photo", { type: "file", accept: "image/*", capture: "environment" })),
      field("area_id", h("select", { id: "f-area_id", name: "area_id" }, areas.map((a) => h("option", { value: a.id, selected: a.id === visit.data.area_id }, `${a.data.code} ${a.data.name}`)))),
      field("address", input("address", { value: visit.data.address || "" })),
      field("start_date", input("start_date", { type: "date", value: today })),
      field("reason", select("reason", REASONS, T.reason)),
      field("housing", select("housing", HOUSING, T.housing)),
      field("landlord_name", input("landlord_name")),
      field("landlord_phone", input("landlord_phone", { inputmode: "numeric", maxlength: "11" })),
      field("employer_name", input("employer_name")),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "保存（离线排队上传）")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    const file = form.querySelector("#f-photo").files[0];
    try {
      let photo = null;
      if (file) photo = await tablet.addPhoto(file);
      const errors = {};
      Object.assign(
        errors,
        checkMutation("resident", "create", { ...v, photo_sha256: photo }, today),
        checkMutation("registration", "create", { ...v, resident_id: "pending" }, today),
      );
      if (Object.keys(errors).length) throw new InvalidInput(errors);
      const residentId = await tablet.registerResident({ ...v, photo_sha256: photo });
      await tablet.registerResidence({ ...v, resident_id: residentId });
      await onDone(`已登记 ${v.name}，联网后自动上传。`);
    } catch (e) {
      if (e instanceof InvalidInput) showErrors(form, e.errors);
      else showErrors(form, { _: [describe(e)] });
    }
  });
  return form;
}

// Change a resident's phone or household address: an update against the version the tablet holds.
function editForm(resident, onDone) {
  const form = h(
    "form",
    { id: "edit-resident", class: "card", novalidate: true },
    h("h2", {}, `修改 ${resident.data.name} 的信息`),
    h("div", { class: "grid" }, field("phone", input("phone", { inputmode: "numeric", maxlength: "11", placeholder: resident.data.phone || "" })), field("hukou_address", input("hukou_address", { value: resident.data.hukou_address || "" }))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "保存修改")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    const changes = {};
    if (v.phone) changes.phone = v.phone;
    if ((v.hukou_address || "") !== (resident.data.hukou_address || "")) changes.hukou_address = v.hukou_address;
    if (!Object.keys(changes).length) return onDone("没有改动。");
    try {
      await tablet.updateResident(resident.id, changes);
      await onDone(`已修改 ${resident.data.name} 的信息，联网后上传。`);
    } catch (e) {
      showErrors(form, e instanceof InvalidInput ? e.errors : { _: [describe(e)] });
    }
  });
  return form;
}

async function residentsAt(address) {
  const regs = (await tablet.records("registration")).filter((r) => r.data.address === address && r.data.status !== "ended");
  const out = [];
  for (const r of regs) {
    const p = await tablet.record("resident", r.data.resident_id);
    if (p) out.push({ registration: r, resident: p });
  }
  return out;
}

screens.visit = async (id, message) => {
  const visit = await tablet.record("visit", id);
  if (!visit) return [notice("这次走访已不在本平板上。", "error")];
  const d = visit.data;
  const today = await tablet.today();
  const rerender = async (msg) => {
    await renderStatus();
    main().replaceChildren(...nodes(await screens.visit(id, msg)));
  };
  const header = [
    h("h1", {}, `${time(d.window_start)}–${time(d.window_end)} ${d.address || ""}`),
    message ? notice(message) : null,
    h(
      "p",
      {},
      [T.kind[d.kind] || d.kind, T.purpose[d.purpose] || d.purpose, d.contact_name ? `联系人 ${d.contact_name} ${d.contact_phone || ""}` : null].filter(Boolean).join(" · "),
      " ",
      h("span", { class: "pill", id: "visit-status" }, T.status[d.status] || d.status),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => go("today") }, "← 返回今日"),
      d.status === "assigned" ? h("button", { type: "button", onclick: async () => { await tablet.startVisit(id); await rerender("已记录到达。"); } }, "到达，开始走访") : null,
      ["assigned", "en_route"].includes(d.status)
        ? [
            h("button", { type: "button", onclick: async () => { await tablet.recordOutcome(id, "completed"); await rerender("走访已完成。"); } }, "走访完成"),
            h("button", { type: "button", class: "secondary", onclick: async () => { await tablet.recordOutcome(id, "not_home"); await rerender("已记录未遇。"); } }, "未遇"),
          ]
        : null,
    ),
  ];
  const deliveries = (await tablet.records("delivery")).filter((x) => x.data.visit_id === id);
  const deliveryCards = deliveries.map((x) => {
    const receipt = x.data.status === "delivered";
    return h(
      "div",
      { class: "card", dataset: { delivery: x.id } },
      h("strong", {}, `居住证 ${x.data.permit_number}`),
      ` 持证人 ${x.data.resident_name} ${x.data.identity_masked || ""} `,
      h("span", { class: `pill ${receipt ? "done" : ""}` }, T.status[x.data.status] || x.data.status),
      h("div", { class: "actions" }, receipt ? h("button", { type: "button", onclick: () => go("receipt", x.id) }, "出示回执二维码") : h("button", { type: "button", onclick: () => go("handover", x.id) }, "交付证件")),
    );
  });
  const living = await residentsAt(d.address);
  const editor = h("div", { id: "edit-slot" });
  const residentRows = living.map(({ resident, registration }) =>
    h(
      "tr",
      { dataset: { resident: resident.id } },
      h("td", {}, resident.data.name),
      h("td", {}, T.sex[resident.data.sex] || ""),
      h("td", {}, resident.data.identity_number || ""),
      h("td", {}, resident.data.phone || ""),
      h("td", {}, `${T.reason[registration.data.reason] || ""} ${registration.data.start_date || ""}`),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => editor.replaceChildren(editForm(resident, rerender)) }, "修改")),
    ),
  );
  return [
    ...header,
    deliveryCards.length ? [h("h2", {}, "送达证件"), ...deliveryCards] : null,
    h("h2", {}, `在此居住（${living.length} 人）`),
    living.length ? h("table", { id: "residents" }, h("tr", {}, h("th", {}, "姓名"), h("th", {}, "性别"), h("th", {}, "身份证号码"), h("th", {}, "电话"), h("th", {}, "登记"), h("th", {}, "")), residentRows) : h("p", { class: "muted" }, "尚无登记。"),
    editor,
    residentForm(visit, await areaOptions(), today, rerender),
  ];
};

screens.handover = async (id) => {
  const rec = await tablet.record("delivery", id);
  const x = rec.data;
  const form = h(
    "form",
    { id: "handover", novalidate: true },
    h("h1", {}, `交付居住证 ${x.permit_number}`),
    h("p", {}, `持证人：${x.resident_name}（${x.identity_masked || ""}）`),
    field("recipient", select("recipient", ["self", "proxy"], { self: "本人领取", proxy: "他人代领" })),
    field("identity_number", input("identity_number", { autocomplete: "off", maxlength: "18" }), h("p", { class: "muted" }, "核对领取人身份证，输入其号码。")),
    field("proxy_name", input("proxy_name")),
    field("proxy_relation", input("proxy_relation")),
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => go("visit", x.visit_id) }, "取消"), h("button", { type: "submit" }, "领取人已确认，签发回执")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    try {
      await tablet.handover(id, { recipient: v.recipient, identity_number: v.identity_number, proxy_name: v.proxy_name || null, proxy_relation: v.proxy_relation || null });
      await go("receipt", id);
    } catch (e) {
      showErrors(form, e instanceof InvalidInput ? e.errors : { _: [describe(e)] });
    }
  });
  return form;
};

screens.receipt = async (id) => {
  const rec = await tablet.record("delivery", id);
  const token = await tablet.meta(`receipt:${id}`);
  const canvas = h("canvas", { id: "receipt-qr", "aria-label": "送达回执二维码" });
  if (token) qr.draw(canvas, token);
  return [
    h(
      "div",
      { class: "receipt" },
      h("h1", {}, "送达回执"),
      h("p", {}, `居住证 ${rec?.data?.permit_number || ""} 已交付。请领取人用手机扫码保存回执。`),
      token ? canvas : notice("这份回执不在本平板上。", "error"),
      h("p", { class: "muted" }, "回执由本平板离线签名，联网同步后服务器核验并存档。"),
      token ? h("details", {}, h("summary", {}, "回执原文"), h("code", { id: "receipt-token" }, token)) : null,
      h("div", { class: "actions" }, h("button", { type: "button", id: "receipt-done", onclick: () => go("visit", rec?.data?.visit_id) }, "完成")),
    ),
  ];
};

// The protocol's refusals carry a code, no sentence: these name them for the officer. Reasons
// come in English and are read in Chinese from the server's catalogue (reasons.js).
const CODES_ZH = {
  "internal-error": "服务器处理出错，请联系所内",
  "version-ahead": "平板上的版本比服务器新，请联系所内",
  "seq-reused": "序号重复，请联系所内",
  "seq-not-rising": "序号未递增，请联系所内",
  "mutation-id-reused": "编号重复，请联系所内",
  "unknown-mutation": "服务器不认识这项操作",
};
let zh = translator({}, CODES_ZH);

async function loadMessages() {
  try {
    const resp = await fetch("/tablet/messages.json");
    if (resp.ok) zh = translator(await resp.json(), CODES_ZH);
  } catch {
    // Offline before the service worker cached it: reasons show as the server wrote them.
  }
}

function reasons(errors) {
  const entries = Object.entries(errors || {});
  const named = entries.filter(([k]) => k !== "_type");
  const shown = named.length ? named : entries;
  return shown
    .map(([k, v]) => {
      const text = [].concat(v).map(zh).join("，");
      return k === "_type" ? text : `${T.field[k] || k}：${text}`;
    })
    .join("；");
}

function summary(r) {
  return `上传 ${r.pushed} 条（成功 ${r.applied}，冲突 ${r.conflicts}，被拒 ${r.rejected}），照片 ${r.uploaded} 张，下载 ${r.pulled} 条变更。`;
}

function describeMutation(m) {
  return `${T.entity[m.entity] || m.entity} · ${T.op[m.op] || m.op}${m.data?.name ? ` · ${m.data.name}` : ""}`;
}

screens.sync = async (message) => {
  const pending = (await tablet.pending()).sort((a, b) => a.seq - b.seq);
  const rejections = await tablet.rejections();
  const conflicts = await tablet.conflicts();
  const button = h("button", { type: "button", id: "sync-now" }, "立即同步");
  const last = await tablet.metas("last_report", "last_sync_at");
  const previous = last.last_report ? `上次同步（${last.last_sync_at.replace("T", " ").slice(0, 16)}）：${summary(last.last_report)}` : null;
  const out = h("div", { id: "sync-result" }, message ? notice(message) : previous ? notice(previous) : null);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const r = await tablet.sync();
      await go("sync", `同步完成：${summary(r)}`);
    } catch (e) {
      if (e instanceof Wiped) return go("setup", describe(e));
      out.replaceChildren(notice(describe(e), "error"));
      button.disabled = false;
      await renderStatus();
    }
  });
  return [
    h("h1", {}, "同步"),
    h("div", { class: "actions" }, button),
    out,
    h("h2", {}, `等待上传（${pending.length}）`),
    pending.length ? h("table", { id: "pending" }, pending.map((m) => h("tr", {}, h("td", {}, `#${m.seq}`), h("td", {}, describeMutation(m)), h("td", {}, m.occurred_at.replace("T", " ").slice(0, 16))))) : h("p", { class: "muted" }, "没有待上传的数据。"),
    h("h2", {}, `被拒绝（${rejections.length}）`),
    rejections.length
      ? h("table", { id: "rejections" }, rejections.map((r) => h("tr", {}, h("td", {}, `#${r.seq}`), h("td", {}, describeMutation(r)), h("td", {}, reasons(r.errors)))))
      : h("p", { class: "muted" }, "没有被拒绝的数据。"),
    h("h2", {}, `冲突，待所内核对（${conflicts.length}）`),
    conflicts.length
      ? h("table", { id: "conflicts" }, conflicts.map((c) => h("tr", {}, h("td", {}, `#${c.seq}`), h("td", {}, T.entity[c.entity] || c.entity), h("td", {}, c.kind === "fact-after-change" ? "所内已改动该走访，现场事实已记录" : Object.entries(c.fields || {}).map(([k, v]) => `${T.field[k] || k}：所内为「${v.server ?? "空"}」，平板为「${v.device ?? "空"}」，以所内为准`).join("；")))))
      : h("p", { class: "muted" }, "没有冲突。"),
  ];
};

// Back in coverage with work waiting: settle it without waiting for the officer to ask.
async function syncOnReconnect() {
  await renderStatus();
  if (!(await tablet.meta("username")) || !(await tablet.pending()).length) return;
  try {
    await tablet.sync();
  } catch (e) {
    if (e instanceof Wiped) return go("setup", describe(e));
    // Shown on the sync screen when the officer syncs; the status line still counts what waits.
  }
  await renderStatus();
}

// -- start -------------------------------------------------------------------------------------

async function start() {
  if ("serviceWorker" in navigator) {
    await navigator.serviceWorker.register("/tablet/sw.js", { scope: "/tablet/" });
  }
  tablet = await Tablet.open();
  await loadMessages();
  tablet.onWiped = () => renderStatus();
  for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => go(b.dataset.go));
  window.addEventListener("online", syncOnReconnect);
  window.addEventListener("offline", renderStatus);
  const username = await tablet.meta("username");
  await go(username ? "today" : "setup");
  document.body.dataset.ready = "1";
}

start();
