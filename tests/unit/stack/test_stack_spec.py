"""The stack's shape (moneypath.stack.spec.StackSpec): what `up` takes, checked before anything starts."""

from __future__ import annotations

import dataclasses

import pytest

from moneypath.stack.spec import StackSpec
from moneypath.stack.state import StackError


def test_the_default_shape_is_the_production_like_stack_of_one_service():
    spec = StackSpec()
    assert (spec.targets, spec.fast, spec.services, spec.engine, spec.instances, spec.timeout_s) == (
        (), False, False, "prometheus", 1, 60.0)
    assert spec.interval == "15s" and StackSpec(fast=True).interval == "1s"


def test_a_spec_is_frozen_and_keeps_its_lists_as_tuples():
    spec = StackSpec(["127.0.0.1:8000"], remote_write=["http://127.0.0.1:1/api/v1/write"])
    assert spec.targets == ("127.0.0.1:8000",) and spec.remote_write == ("http://127.0.0.1:1/api/v1/write",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.fast = True  # type: ignore[misc]


@pytest.mark.parametrize(("shape", "why"), [
    ({"engine": "thanos"}, "unknown engine 'thanos'"),
    ({"instances": 0}, "--instances 0 must be between 1 and 16"),
    ({"postgres": True, "services": True, "db_url": "sqlite:///x.db"}, "--postgres starts"),
    ({"postgres": True}, "--postgres starts"),
    ({"ha": True, "engine": "vm"}, "--ha runs a Prometheus pair"),
])
def test_a_shape_the_stack_cannot_run_is_refused_when_made(shape, why):
    with pytest.raises(StackError, match=why):
        StackSpec(**shape)
    with pytest.raises(StackError, match=why):
        dataclasses.replace(StackSpec(), **shape)  # a changed copy is checked too
