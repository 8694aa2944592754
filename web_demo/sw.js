// Service worker: network first (a served model or page update wins), the cache when offline.
// The page fills the cache (app.js cacheForOffline) with every file it loaded, WASM and model included.
const CACHE = 'lightrnn-kbd-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    try {
      return await fetch(req);
    } catch (err) {
      const hit = await caches.match(req, { ignoreSearch: true });
      if (hit) return hit;
      if (req.mode === 'navigate') { // the page under another address of it (/index.html): the cached page
        const page = await caches.match(new URL('./', self.registration.scope).href, { ignoreSearch: true });
        if (page) return page;
      }
      throw err;
    }
  })());
});
