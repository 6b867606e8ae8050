"""Adapters that hand opened referrals to an agency's own systems."""
