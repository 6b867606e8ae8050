"""The tamper-evident audit log: every decision and change, never a payload value."""
