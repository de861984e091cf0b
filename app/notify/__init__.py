"""Outgoing messages: an outbox table written with the change that causes it, and its senders."""
