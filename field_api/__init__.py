"""Field work: residents, residence registration, permit applications, permits, deliveries and receipts."""
