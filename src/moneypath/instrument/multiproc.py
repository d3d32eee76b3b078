"""Deprecated: moneypath.instrument._multiproc (internal); this name goes in the next release."""

from moneypath.instrument._moved import moved

moved(__name__)
