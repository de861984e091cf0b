// The local store: one IndexedDB database. `meta` holds the device (its non-extractable CryptoKey
// pair included), tokens, cursor and counters; `records` the server's last word (base) and what the
// officer sees (data = base + every unsettled mutation); `outbox` every mutation in seq order;
// `results`, `conflicts`, `rejections` what the server answered; `photos` pictures by SHA-256.
// A UI action is one transaction (docs/tablet.md): nothing is sent before it commits.

export const NAME = "doorstep-tablet";
const VERSION = 1;
const STORES = ["meta", "records", "outbox", "results", "conflicts", "rejections", "photos"];

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function open() {
  const request = indexedDB.open(NAME, VERSION);
  request.onupgradeneeded = () => {
    const db = request.result;
    db.createObjectStore("meta");
    const records = db.createObjectStore("records", { keyPath: "key" });
    records.createIndex("entity", "entity");
    const outbox = db.createObjectStore("outbox", { keyPath: "seq" });
    outbox.createIndex("mutation_id", "mutation_id", { unique: true });
    db.createObjectStore("results", { keyPath: "mutation_id" });
    db.createObjectStore("conflicts", { keyPath: "mutation_id" });
    db.createObjectStore("rejections", { keyPath: "mutation_id" });
    db.createObjectStore("photos", { keyPath: "sha256" });
  };
  return promised(request).then((db) => {
    // Another connection's wipe (a lost tablet) or upgrade waits for every open connection to
    // close: this one closes at once instead of holding it up until it is garbage-collected.
    db.onversionchange = () => db.close();
    return db;
  });
}

export function wipe(db) {
  if (db) db.close();
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => resolve();
  });
}

export const key = (entity, id) => `${entity}:${id}`;

// One transaction over every store. `fn(t)` may await only the helpers below (IndexedDB commits a
// transaction as soon as it waits for anything else). Resolves with fn's value once committed.
export function tx(db, mode, fn) {
  const t = db.transaction(STORES, mode);
  const helpers = {
    raw: t,
    get: (store, k) => promised(t.objectStore(store).get(k)),
    put: (store, value, k) => promised(k === undefined ? t.objectStore(store).put(value) : t.objectStore(store).put(value, k)),
    del: (store, k) => promised(t.objectStore(store).delete(k)),
    all: (store) => promised(t.objectStore(store).getAll()),
    byIndex: (store, index, value) => promised(t.objectStore(store).index(index).get(value)),
    allByIndex: (store, index, value) => promised(t.objectStore(store).index(index).getAll(value)),
    clear: (store) => promised(t.objectStore(store).clear()),
    meta: (k) => promised(t.objectStore("meta").get(k)),
    setMeta: async (values) => {
      for (const [k, v] of Object.entries(values)) await promised(t.objectStore("meta").put(v, k));
    },
  };
  const done = new Promise((resolve, reject) => {
    t.oncomplete = () => resolve();
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
    t.onerror = () => reject(t.error);
  });
  return (async () => {
    let value;
    try {
      value = await fn(helpers);
    } catch (e) {
      try {
        t.abort();
      } catch {
        // already finished
      }
      throw e;
    }
    await done;
    return value;
  })();
}
