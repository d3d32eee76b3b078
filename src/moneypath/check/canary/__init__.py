"""The canary gate: a release on a slice of real traffic judged against a baseline of the same age."""
