"""Authentication and authorisation: passwords, tokens, citizen codes, devices, permissions."""
