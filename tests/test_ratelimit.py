"""Per-client limits, with a clock the test moves by hand."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from feeds.web.ratelimit import RateLimiter, client_address, client_key


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_the_limit_at_once_then_is_refused():
    limiter = RateLimiter(3, timedelta(minutes=30), clock=Clock())
    assert [limiter.hit("192.0.2.1") for _ in range(4)] == [True, True, True, False]


def test_another_client_is_not_held_back():
    limiter = RateLimiter(1, timedelta(hours=1), clock=Clock())
    assert limiter.hit("192.0.2.1")
    assert not limiter.hit("192.0.2.1")
    assert limiter.hit("192.0.2.2")


def test_requests_come_back_as_time_passes():
    clock = Clock()
    limiter = RateLimiter(3, timedelta(minutes=30), clock=clock)
    for _ in range(3):
        limiter.hit("c")
    assert not limiter.hit("c")
    assert limiter.retry_after("c") == 600
    clock.now += 599
    assert not limiter.hit("c")
    clock.now += 2
    assert limiter.hit("c")
    assert not limiter.hit("c")


def test_a_long_pause_refills_only_up_to_the_limit():
    clock = Clock()
    limiter = RateLimiter(2, timedelta(minutes=10), clock=clock)
    clock.now += 86400
    assert [limiter.hit("c") for _ in range(3)] == [True, True, False]


def test_memory_is_bounded_by_forgetting_the_oldest_client():
    limiter = RateLimiter(1, timedelta(hours=1), clock=Clock(), max_clients=2)
    for client in ("a", "b", "c"):
        limiter.hit(client)
    assert list(limiter.buckets) == ["b", "c"]


def test_ipv6_clients_are_limited_per_64_and_ipv4_per_address():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") != client_key("192.0.2.8")


PROXY = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy():
    assert client_address("198.51.100.9", ["203.0.113.5"], PROXY) == "198.51.100.9"
    assert client_address("127.0.0.1", ["203.0.113.5"], []) == "127.0.0.1"


def test_behind_proxies_the_client_is_the_rightmost_untrusted_hop():
    forged_then_real = ["1.2.3.4, 203.0.113.5", "10.1.1.1"]
    assert client_address("127.0.0.1", forged_then_real, PROXY) == "203.0.113.5"


def test_a_trusted_proxy_without_forwarded_for_is_the_client():
    assert client_address("127.0.0.1", [], PROXY) == "127.0.0.1"
