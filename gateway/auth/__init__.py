"""Agency authentication: OAuth2 client credentials with private_key_jwt, short-lived tokens."""
