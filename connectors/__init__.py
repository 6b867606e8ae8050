"""The agency-side SDK: talk to the gateway, seal and open referrals."""
