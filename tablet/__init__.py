"""The officer's tablet: an installable offline web app (PWA) served at ``/tablet``.

The server only hands out files here: the shell, the web app manifest, the service worker and the
JavaScript modules under ``static/``. Everything the tablet does (enrolment, the local store, the
outbox, validation, receipts, sync) runs in the browser and speaks the sync protocol over HTTP,
exactly as the Python reference client ``doorstep_client`` does (docs/tablet.md)."""
