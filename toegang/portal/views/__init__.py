"""The portal\x27s screens, one module per area; views are transports (see docs/architecture.md)."""
