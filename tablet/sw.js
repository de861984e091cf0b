// The tablet's service worker (scope /tablet/). VERSION and ASSETS are written in above by the
// server (tablet/routes.py). The shell and its modules are served from the cache, so the app opens
// with the network off; the API is never cached: the local store (IndexedDB) holds the data,
// reference data included, and the outbox holds what waits to be sent.

const CACHE = `doorstep-tablet-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(ASSETS))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(names.filter((n) => n.startsWith("doorstep-tablet-") && n !== CACHE).map((n) => caches.delete(n))),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/tablet/")) {
    return; // the API and everything else: straight to the network
  }
  const key = request.mode === "navigate" ? "/tablet/" : url.pathname;
  event.respondWith(
    caches.open(CACHE).then((cache) =>
      cache.match(key).then((hit) => hit || fetch(request)),
    ),
  );
});
