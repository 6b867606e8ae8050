"""The National Referral Mechanism timers: deadlines that run from a referral and its decisions."""
