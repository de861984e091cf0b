"""The values a mutation may carry and the states it can end in. The server validates against
these, the client offers exactly these, so an officer never picks a value the server refuses."""

from __future__ import annotations

SEXES = ("male", "female")
REASONS = ("work", "study", "family", "other")  # why someone registers a residence
HOUSING = ("rented", "owned", "employer", "relatives")
END_REASONS = ("moved_away", "cancelled")  # why a registration ends
OUTCOMES = ("completed", "not_home")  # what a visit can end in at the door
RECIPIENTS = ("self", "proxy")  # who takes a permit at the door

# Entities a pull serves (docs/sync-protocol.md, "Entities served").
SERVED_ENTITIES = frozenset({"visit", "delivery", "resident", "registration", "area", "reference"})
# Every (entity, op) a push accepts.
MUTATIONS = (
    ("resident", "create"),
    ("resident", "update"),
    ("registration", "create"),
    ("registration", "update"),
    ("registration", "end"),
    ("visit", "start"),
    ("visit", "outcome"),
    ("application", "create"),
    ("application", "supply_material"),
    ("delivery", "handover"),
)
CHANGE_OPS = ("upsert", "delete", "evict")  # what a pulled change does

# Where a pushed mutation ends up: one of these, exactly once.
MUTATION_STATUSES = ("applied", "conflict", "rejected")

# The fields an update may name.
RESIDENT_UPDATABLE = ("name", "sex", "ethnicity", "phone", "hukou_address", "photo_sha256")
REGISTRATION_UPDATABLE = ("address", "reason", "housing", "landlord_name", "landlord_phone", "employer_name")
