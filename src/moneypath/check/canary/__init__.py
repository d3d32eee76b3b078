"""The canary gate: a release taking a slice of traffic judged against a baseline of the same age."""
