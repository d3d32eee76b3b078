"""moneypath: observability and incident readiness for the money path of a payments platform."""

__version__ = "0.1.0"
