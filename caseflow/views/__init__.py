"""HTTP layer: one blueprint per area. Handlers validate input, call a service, commit, and respond."""
