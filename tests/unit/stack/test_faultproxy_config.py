"""The fault proxy's configuration (moneypath.stack.faultproxy.proxy_config) and its command, `moneypath faultproxy`. The
real process, startup checks and timings: tests/integration/stack/test_faultproxy_process.py."""

from __future__ import annotations

import sys

import pytest

from moneypath.stack import faultproxy as fp
from tests.conftest import run_cli
from tests.support.faultproxy import PROVIDERS

FOREIGN = "tests/foreign/moneypath.yaml"  # providers komoju and knet


def test_upstreams_parse_one_base_url_per_provider():
    assert fp.parse_upstreams(["komoju=http://127.0.0.1:9101/", "knet=https://sandbox.knet.example/api"],
                              PROVIDERS) == {"komoju": "http://127.0.0.1:9101", "knet": "https://sandbox.knet.example/api"}


@pytest.mark.parametrize(("values", "message"), [
    (["komoju"], "--upstream 'komoju': expected PROVIDER=URL, e.g. komoju=http://127.0.0.1:9101"),
    (["=http://x"], "--upstream '=http://x': expected PROVIDER=URL"),
    (["komoju=http://a:1", "knet=http://a:2", "komjuu=http://a:3"],
     "--upstream 'komjuu=http://a:3': komjuu is not a provider of the catalog (known: komoju, knet); did you mean komoju?"),
    (["stripe=http://a:1"], "--upstream 'stripe=http://a:1': stripe is not a provider of the catalog (known: komoju, knet)"),
    ([], "no --upstream: give one for each provider your service calls through the proxy, e.g. --upstream "
         "komoju=URL (providers of the catalog: komoju, knet)"),
    (["komoju=http://a:1", "komoju=http://a:2"], "--upstream 'komoju=http://a:2': komoju has an upstream already"),
    (["komoju=ftp://a", "knet=http://a:2"], "--upstream komoju: 'ftp://a' must be an http:// or https:// base URL"),
    (["komoju=http://a:1?x=1", "knet=http://a:2"], "must be an http:// or https:// base URL without a query"),
    (["komoju=http://a:99999", "knet=http://a:2"], "--upstream komoju: 'http://a:99999' is not a URL"),
])
def test_bad_upstreams_are_one_line(values, message):
    with pytest.raises(fp.ConfigError) as exc:
        fp.parse_upstreams(values, PROVIDERS)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_subset_of_the_catalogs_providers_is_enough():
    assert fp.parse_upstreams(["knet=http://127.0.0.1:9102"], PROVIDERS) == {"knet": "http://127.0.0.1:9102"}


def test_a_provider_named_like_the_proxys_own_paths_is_refused():
    with pytest.raises(fp.ConfigError, match="provider 'admin' cannot be proxied"):
        fp.parse_upstreams(["admin=http://a:1"], ("admin",))


def test_credentials_in_urls_are_masked_in_messages_and_the_banner():
    assert fp.display("https://user:pw@sandbox.example/api") == "https://***@sandbox.example/api"
    config = fp.ProxyConfig({"komoju": "https://user:pw@sandbox.example", "knet": "http://127.0.0.1:9102"},
                            webhook_target="http://127.0.0.1:8080")
    assert fp.banner(config, "http://127.0.0.1:8790") == (
        "faultproxy on http://127.0.0.1:8790: komoju → https://***@sandbox.example, knet → http://127.0.0.1:9102, "
        "webhooks → http://127.0.0.1:8080 (faults off)")


def test_faults_need_a_token_secret():
    with pytest.raises(fp.ConfigError, match="MONEYPATH_TOKEN_SECRET"):
        fp.ProxyConfig({"komoju": "http://a:1"}, enable_faults=True)


@pytest.mark.parametrize(("argv", "message"), [
    (["--upstream", "komoju=http://127.0.0.1:9", "--upstream", "knett=http://127.0.0.1:9"],
     "moneypath faultproxy: --upstream 'knett=http://127.0.0.1:9': knett is not a provider of the catalog "
     "(known: komoju, knet); did you mean knet?\n"),
    ([], "moneypath faultproxy: no --upstream: give one for each provider your service calls through the proxy, "
         "e.g. --upstream komoju=URL (providers of the catalog: komoju, knet)\n"),
    (["--upstream", "komoju:http://127.0.0.1:9"],
     "moneypath faultproxy: --upstream 'komoju:http://127.0.0.1:9': expected PROVIDER=URL, e.g. "
     "komoju=http://127.0.0.1:9101\n"),
    (["--upstream", "komoju=http://127.0.0.1:9", "--upstream", "knet=http://127.0.0.1:9", "--enable-faults"],
     "moneypath faultproxy: --enable-faults needs MONEYPATH_TOKEN_SECRET in the environment (admin tokens are "
     "checked with it)\n"),
    (["--upstream", "komoju=http://127.0.0.1:9", "--upstream", "knet=http://127.0.0.1:9", "--webhook-target", "svc"],
     "moneypath faultproxy: --webhook-target: 'svc' must be an http:// or https:// base URL without a query, "
     "e.g. http://127.0.0.1:9101\n"),
])
def test_the_command_refuses_a_bad_configuration_in_one_line(argv, message, monkeypatch):
    monkeypatch.delenv("MONEYPATH_TOKEN_SECRET", raising=False)
    result = run_cli("faultproxy", "--catalog", FOREIGN, *argv)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_the_command_is_registered_with_its_interface():
    result = run_cli("faultproxy", "--help")
    assert result.returncode == 0
    for option in ("--catalog", "--host", "--port", "--upstream PROVIDER=URL", "--webhook-target URL",
                   "--enable-faults"):
        assert option in result.stdout


def test_without_aiohttp_the_command_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    result = run_cli("faultproxy", "--catalog", FOREIGN, "--upstream", "komoju=http://127.0.0.1:9")
    assert (result.returncode, result.stderr) == (2, "moneypath faultproxy needs moneypath[tools]: pip install "
                                                     "'moneypath[tools]' (aiohttp is not installed)\n")
