"""Offline sync for field tablets: the change feed, pull, push, conflicts and rejections."""
