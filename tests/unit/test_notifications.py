"""Notifications, the rules without I/O: where a webhook may go (SSRF), how it is signed (Standard Webhooks), how
long a failed delivery waits, what a subscription may name, the settings refused at start, the alert e-mail."""

from __future__ import annotations

import ipaddress
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from reporting.notifications import catalogue, messages, signing
from reporting.notifications.addresses import Policy, Target, TargetRefusedError, check_address, parse_target, resolve
from reporting.notifications.handlers import check_alert_rules, check_event_types, check_portfolio, visible_portfolios
from reporting.notifications.sender import backoff
from reporting.settings import Settings
from shared.auth import Principal, Role
from shared.errors import InvalidCommandError

STRICT = Policy()
LOOPBACK = Policy(allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pass@example.com/hook",
        "https://user@example.com/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://169.254.1.1/",
        "http://127.0.0.1/",
        "http://127.1.2.3:8080/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://api.localhost/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://printer.local/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://10.0.0.5/",
        "http://192.168.1.10/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
        "https://example.com/hook#fragment",
        "http:///no-host",
        "https://exa mple.com/",
    ],
)
def test_a_target_outside_the_public_internet_or_not_http_is_refused(url: str) -> None:
    with pytest.raises(TargetRefusedError):
        parse_target(url, STRICT)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/", "http://0.0.0.0/"]
)
def test_link_local_and_metadata_stay_refused_when_loopback_and_private_are_allowed(url: str) -> None:
    with pytest.raises(TargetRefusedError):
        parse_target(url, Policy(allow_loopback=True, allow_private=True))


def test_loopback_and_private_targets_only_when_the_operator_allows_them() -> None:
    assert parse_target("http://127.0.0.1:8123/hook?x=1", LOOPBACK).url_at(ipaddress.ip_address("127.0.0.1")) == (
        "http://127.0.0.1:8123/hook?x=1"
    )
    assert parse_target("http://[::1]:9/", LOOPBACK).url_at(ipaddress.ip_address("::1")) == "http://[::1]:9/"
    assert parse_target("http://localhost:9/", LOOPBACK).host == "localhost"
    assert parse_target("http://10.1.2.3/", Policy(allow_private=True)).port == 80


def test_a_public_target_is_parsed_with_its_default_port() -> None:
    target = parse_target("https://hooks.example.com/pmo", STRICT)
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 443, "/pmo")
    check_address(ipaddress.ip_address("93.184.216.34"), STRICT)
    check_address(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"), STRICT)


def test_every_resolved_address_is_checked_too() -> None:
    """What a name resolves to at delivery (DNS rebinding): the same rules as a literal address."""
    for address in ("127.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "fe80::5"):
        with pytest.raises(TargetRefusedError):
            check_address(ipaddress.ip_address(address), STRICT)


def test_the_signature_is_the_standard_webhooks_one() -> None:
    """The specification's published example (svix / standard-webhooks test vector)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, signature, 1614265400)
    assert not signing.verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body + b" ", signature, 1614265400)
    assert not signing.verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, signature, 1614265330 + 301)


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", first)
    assert first != second


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    for attempt, full in ((1, 5.0), (2, 10.0), (3, 20.0), (10, 2560.0), (11, 3600.0), (60, 3600.0)):
        waits = [backoff(attempt, 5.0, 3600.0, rng) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits)
        assert max(waits) - min(waits) > full / 10  # jittered, not one value


def test_event_types_are_the_published_ones() -> None:
    assert "pmo.projects.milestone-reached" in catalogue.event_types()
    assert "pmo.reporting.alert-raised" in catalogue.event_types()
    assert check_event_types(["pmo.budget.funding-secured", "pmo.budget.funding-secured"]) == [
        "pmo.budget.funding-secured"
    ]
    with pytest.raises(InvalidCommandError) as refused:
        check_event_types(["pmo.budget.funding-secured", "pmo.budget.money-printed"])
    assert refused.value.field == "event_types.1"
    with pytest.raises(InvalidCommandError) as refused:
        check_alert_rules(["underfunding-risk", "sunny-weather"])
    assert refused.value.field == "alert_rules.1"


def test_the_alert_rules_are_those_the_evaluator_raises() -> None:
    """Kept in step with the rule names written in the evaluator's rule modules."""
    domain = Path(__file__).parents[2] / "services/reporting/reporting/domain"
    found = set()
    for module in ("rules.py", "raid.py"):
        source = (domain / module).read_text()
        found |= set(re.findall(r"Condition\(\s*\"([a-z][a-z-]+)\"", source))
    assert found == catalogue.ALERT_RULES


BASE = {"database_url": "postgresql+asyncpg://x/y", "kafka_bootstrap_servers": "k:9092"}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"smtp_host": "mail.example.com"}, "PMO_SMTP_FROM"),
        ({"smtp_host": "mail.example.com", "smtp_from": "not an address"}, "PMO_SMTP_FROM"),
        ({"smtp_host": "m", "smtp_from": "pmo@example.com", "smtp_user": "u"}, "PMO_SMTP_PASSWORD"),
        (
            {
                "smtp_host": "m",
                "smtp_from": "pmo@example.com",
                "smtp_user": "u",
                "smtp_password": "p",
                "smtp_starttls": False,
            },
            "STARTTLS",
        ),
        ({"webhook_backoff_seconds": 10, "webhook_backoff_max_seconds": 5}, "PMO_WEBHOOK_BACKOFF_MAX_SECONDS"),
        ({"webhook_max_attempts": 0}, "webhook_max_attempts"),
        ({"webhook_timeout_seconds": 600}, "webhook_timeout_seconds"),
        ({"notification_concurrency": 1000}, "notification_concurrency"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(extra: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**BASE, **extra)  # type: ignore[arg-type]
    assert named in str(refused.value)


def test_the_alert_mail_names_the_alert_on_one_subject_line() -> None:
    payload = messages.alert_mail(
        "alert-raised",
        {
            "rule": "underfunding-risk",
            "severity": "critical",
            "title": "Funding\r\nBcc: x@evil.example",
            "project_id": "p1",
            "portfolio_id": "pf",
            "alert_id": "a" * 24,
        },
        "dora@example.com",
        datetime(2027, 1, 8, 9, tzinfo=UTC),
    )
    mail = messages.mime(payload, "pmo@example.com", "d1", datetime(2027, 1, 8, 9, tzinfo=UTC))
    assert mail["To"] == "dora@example.com"
    assert mail["Subject"] == "[PMO critical] Funding Bcc: x@evil.example"
    assert mail["Bcc"] is None
    assert "Rule: underfunding-risk" in mail.get_content()


async def test_a_name_is_checked_on_every_address_it_resolves_to_at_delivery() -> None:
    """A name accepted when it was written (not a local name by its spelling) but resolving to loopback is refused
    when a delivery resolves it; with loopback allowed, the delivery connects to the address it checked."""
    target = Target("http", "localhost", 8080, "/hook")
    with pytest.raises(TargetRefusedError, match="loopback"):
        await resolve(target, STRICT)
    address = await resolve(target, LOOPBACK)
    assert address.is_loopback
    assert target.url_at(address) in ("http://127.0.0.1:8080/hook", "http://[::1]:8080/hook")


def test_a_caller_of_some_portfolios_subscribes_only_to_one_of_them() -> None:
    scoped = Principal("paula", frozenset({Role.PMO}), portfolios=frozenset({"digital"}))
    check_portfolio(scoped, "digital")
    for portfolio in (None, "finance"):
        with pytest.raises(InvalidCommandError) as refused:
            check_portfolio(scoped, portfolio)
        assert refused.value.field == "portfolio_id"
    check_portfolio(Principal("dora", frozenset({Role.DIRECTOR})), None)
    assert visible_portfolios(scoped) == ["digital"]
    assert visible_portfolios(Principal("dora", frozenset({Role.DIRECTOR}))) is None
