"""Lawful exception grants (digest 4): requested, approved by a second person, used once."""
