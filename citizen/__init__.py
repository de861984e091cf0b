"""The citizens' mobile web front end (H5) at ``/m/``: 375×667 first, Simplified Chinese first,
fit to be opened from an SMS link or inside a mini-program ``web-view`` (docs/citizen.md).

Its pages are thin: they read the same scoped queries and call the same services as the API."""
