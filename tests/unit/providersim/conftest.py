from tests.support.providersim import receiver, server  # noqa: F401 - fixtures: the signed-webhook receiver
