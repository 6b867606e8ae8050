"""Consent records: granular, informed, revocable; with receipts the person keeps."""
