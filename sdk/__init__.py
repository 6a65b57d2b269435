"""policy-host SDK: see sdk.policy."""
