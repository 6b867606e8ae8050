"""Staff identity: accounts per agency, passkeys and TOTP, person tokens, entitlements by role."""
