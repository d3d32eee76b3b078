"""Celery prefork, two children, each replaced after one task (--max-tasks-per-child 1), on a real Redis, running
docs/instrumenting.md's Celery example: every capture recorded in a task is counted once on the main process's
/metrics, the count never decreases, the live gauge a finished child set is gone, and the directory's files stay
bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.conftest import FOREIGN_PATH, ROOT, free_port, http_ok, wait_for
from tests.docs_examples import code_block
from tests.integration.instrument.workers_harness import KNET_CIRCUIT, Watch, env_for, gone, leave_stale_run
from tests.support.djangoshop import _redis_answers, stop_groups

pytestmark = pytest.mark.integration
APP = "shoptasks"
# what the test adds to the example: a task that opens knet's circuit in the child that runs it
TAIL = """

@app.task
def open_circuit():
    mp.set_circuit_state("knet", "open")
    return os.getpid()
"""


def write_app(directory: Path, metrics_port: int) -> None:
    """The page's example as the team writes it, with a stub for its provider client, the ticket shop's catalog
    and provider, the test's port, and a result backend (the test reads the tasks' results)."""
    text = code_block("docs/instrumenting.md", "Several worker processes")
    for old, new in {"from shop.providers import paystack  # the team's provider client":
                     "from types import SimpleNamespace\npaystack = SimpleNamespace(capture=lambda payment_id: None)",
                     '"paystack"': '"komoju"', '"moneypath.yaml"': repr(str(FOREIGN_PATH)),
                     "metrics_port=9808": f"metrics_port={metrics_port}",
                     'broker=os.environ["REDIS_URL"])':
                     'broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])'}.items():
        assert old in text, f"{old!r} is not in the example"
        text = text.replace(old, new)
    (directory / f"{APP}.py").write_text(text + TAIL)


def _results(store: redis.Redis, sent: list) -> list[int]:
    """The tasks' return values, read from the result keys the worker writes (the client has no result backend:
    Celery's would keep a subscription whose listener retries for minutes once Redis is stopped)."""
    keys = [f"celery-task-meta-{r.id}" for r in sent]
    wait_for(lambda: all(store.get(k) for k in keys), 20, "the tasks to finish")
    metas = [json.loads(store.get(k)) for k in keys]
    assert all(m["status"] == "SUCCESS" for m in metas), metas
    return [m["result"] for m in metas]


def test_celery_children_replaced_after_each_task_are_counted_once(tmp_path):
    ports, mp_dir = {"redis": free_port(), "metrics": free_port()}, tmp_path / "mp"
    stale = leave_stale_run(mp_dir)
    write_app(tmp_path, ports["metrics"])
    env = env_for(mp_dir, REDIS_URL=f"redis://127.0.0.1:{ports['redis']}/0")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    log = open(tmp_path / "celery.log", "wb")
    procs = [subprocess.Popen(["redis-server", "--save", "", "--appendonly", "no", "--port", str(ports["redis"]),
                               "--bind", "127.0.0.1"], cwd=tmp_path, stdout=log, start_new_session=True)]
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", APP, "worker", "--pool", "prefork",
         "--concurrency", "2", "--max-tasks-per-child", "1", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"], env=env, cwd=ROOT, stdout=log, stderr=log,
        start_new_session=True))
    metrics = f"http://127.0.0.1:{ports['metrics']}/metrics"
    try:
        wait_for(lambda: _redis_answers(ports["redis"]) and http_ok(metrics), 30, "Redis and the worker")
        watch = Watch(metrics, mp_dir, processes=3)  # the main process records too (its MoneyPath)
        assert not stale.exists()
        client, store = Celery("client", broker=env["REDIS_URL"]), redis.Redis(host="127.0.0.1", port=ports["redis"])
        try:
            opener = _results(store, [client.send_task(f"{APP}.open_circuit")])[0]
            watch.check(0)
            recorded = 0
            for _ in range(5):  # every task ends its child: five rounds, ten recycles
                _results(store, [client.send_task(f"{APP}.capture", (f"pay_{recorded + n}",)) for n in range(2)])
                recorded += 2
                watch.check(recorded)
        finally:
            client.close()
            store.close()
        wait_for(lambda: gone(opener), 10, "the child that opened the circuit to exit (replaced)")
        assert watch.check(recorded).get(KNET_CIRCUIT, 0) == 0, "a dead child's circuit state is still scraped"
    except AssertionError as exc:
        exc.args = (f"{exc}\n{(tmp_path / 'celery.log').read_text(errors='replace')[-3000:]}",)
        raise
    finally:
        stop_groups(procs[::-1])
