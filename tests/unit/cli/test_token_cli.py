"""`moneypath token`: the token alone on stdout, signed with the stack's secret or $MONEYPATH_TOKEN_SECRET and
accepted where its scope is checked; bad input one line, exit 2."""

from __future__ import annotations

import json
import time

import pytest

from moneypath.protocol import tokens
from tests.conftest import run_cli


@pytest.fixture
def no_secret_env(monkeypatch):
    monkeypatch.delenv("MONEYPATH_TOKEN_SECRET", raising=False)
    monkeypatch.delenv("MONEYPATH_STATE_DIR", raising=False)


def test_an_admin_token_from_the_stacks_secret_is_accepted_for_faults(tmp_path, no_secret_env):
    (tmp_path / "secrets.json").write_text(json.dumps({"token_secret": "s3cret", "webhook_secret": "w"}))
    result = run_cli("token", "--scope", "admin:faults", "--ttl", "30m", "--state-dir", str(tmp_path))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    token = result.stdout.removesuffix("\n")
    assert "\n" not in token
    claims = tokens.verify(b"s3cret", token, "admin:faults")
    assert claims.scopes == {"admin:faults"} and claims.sub == "operator"
    with pytest.raises(tokens.TokenError):
        tokens.verify(b"s3cret", token, "payments:write")


def test_the_environments_secret_when_no_state_dir_is_given(tmp_path, monkeypatch, no_secret_env):
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "from-env")
    result = run_cli("token", "--scope", "payments:write", "--scope", "payments:read", "--subject", "ops",
                     cwd=tmp_path)
    claims = tokens.verify(b"from-env", result.stdout.strip(), "payments:read")
    assert claims.scopes == {"payments:write", "payments:read"} and claims.sub == "ops"
    assert 3590 <= claims.exp - time.time() <= 3600  # default 1h


@pytest.mark.parametrize(("args", "line"), [
    (["--scope", "admin:fault"], "moneypath token: --scope 'admin:fault' is not a scope (known: payments:write, "
                                 "payments:read, admin:faults); did you mean admin:faults?"),
    (["--scope", "admin:faults", "--ttl", "2d"], "moneypath token: --ttl '2d': expected seconds or a number with "
                                                 "s, m or h, e.g. 15m or 1h"),
    (["--scope", "admin:faults", "--ttl", "25h"], "moneypath token: --ttl '25h': must be more than 0 and at most "
                                                  "24h (a longer-lived token is refused)"),
    (["--scope", "admin:faults", "--ttl", "0"], "moneypath token: --ttl '0': must be more than 0 and at most 24h "
                                                "(a longer-lived token is refused)"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, no_secret_env, args, line):
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "x")
    result = run_cli("token", *args, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")


def test_no_secret_anywhere_says_where_it_looked(tmp_path, no_secret_env):
    result = run_cli("token", "--scope", "admin:faults", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("moneypath token: no token secret: .moneypath/secrets.json is missing or unreadable (a "
                             "stack `moneypath up` started with its services writes it); give --state-dir DIR or set "
                             "MONEYPATH_TOKEN_SECRET\n")
