"""The referral exchange: plan, submit, deliver, acknowledge, purge. Ciphertext only."""
