"""Deprecated: moneypath.instrument._logs (internal); this name goes in the next release."""

from moneypath.instrument._moved import moved

moved(__name__)
