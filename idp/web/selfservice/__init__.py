"""What a member does without being signed in: a forgotten password, activating an account."""
