"""Headers every response carries, the body cap and the access log, on a tiny ASGI app."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from feeds.web.middleware import AccessLog, BodyLimit, SecurityHeaders


async def echo(request: Request):
    body = await request.body()
    return PlainTextResponse(f"{len(body)} bytes")


def app(*, https: bool = False, max_bytes: int = 1000):
    inner = Starlette(routes=[Route("/echo/{token}", echo, methods=["GET", "POST"])])
    too_large = PlainTextResponse("too large", status_code=413)
    return AccessLog(
        SecurityHeaders(BodyLimit(inner, max_bytes=max_bytes, too_large=too_large), https=https)
    )


async def request(asgi, method: str, url: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, url, **kwargs)


def run(coroutine):
    import asyncio

    return asyncio.run(coroutine)


def test_every_response_has_the_security_headers_even_a_404():
    for url in ("/echo/x", "/nowhere"):
        response = run(request(app(), "GET", url))
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "default-src 'none'" in policy
        assert "strict-transport-security" not in response.headers


def test_hsts_only_under_https():
    response = run(request(app(https=True), "GET", "/echo/x"))
    assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_a_body_over_the_cap_gets_413_by_its_length():
    response = run(request(app(), "POST", "/echo/x", content=b"x" * 1001))
    assert (response.status_code, response.text) == (413, "too large")
    assert response.headers["x-frame-options"] == "DENY"


def test_a_streamed_body_without_length_is_cut_off_at_the_cap():
    async def chunks():
        for _ in range(20):
            yield b"x" * 100

    response = run(request(app(), "POST", "/echo/x", content=chunks()))
    assert response.status_code == 413


def test_a_body_at_the_cap_passes():
    response = run(request(app(), "POST", "/echo/x", content=b"x" * 1000))
    assert (response.status_code, response.text) == (200, "1000 bytes")


def test_the_access_log_names_the_route_not_the_token_query_or_client(caplog):
    with caplog.at_level(logging.INFO, logger="feeds.web.access"):
        run(request(app(), "GET", "/echo/SECRET-TOKEN?email=a@example.org"))
        run(request(app(), "GET", "/nowhere/SECRET"))
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("GET /echo/{token} 200 ")
    assert lines[1].startswith("GET (no route) 404 ")
    assert not any(
        "SECRET" in line or "example.org" in line or "127.0.0.1" in line for line in lines
    )


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_malformed_content_length_is_refused(length):
    response = run(
        request(app(), "POST", "/echo/x", content=b"x", headers={"content-length": length})
    )
    assert response.status_code == 413
