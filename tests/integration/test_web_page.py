"""SendFunction serves the web composer: the page at the stage's root, its files, nothing else."""

import base64
import hashlib
import json
import re
from typing import Any

from tests.integration.conftest import ROOT, Env


def get(env: Env, resource: str, path: str, sent_path: str) -> dict[str, Any]:
    """A keyless GET as API Gateway passes it: `sent_path` is what the browser asked for."""
    event = json.loads((ROOT / "events" / "api-send-sms.json").read_text())
    event.update(httpMethod="GET", path=path, resource=resource, body=None, headers={}, multiValueHeaders={})
    event["pathParameters"] = {"asset": path.removeprefix("/web/")} if resource == "/web/{asset}" else None
    event["requestContext"].update(path=sent_path, resourcePath=resource, httpMethod="GET")
    event["requestContext"]["identity"]["apiKeyId"] = None
    result: dict[str, Any] = env.handler("SendFunction")(event)
    return result


def header(answer: dict[str, Any], name: str) -> str:
    """A header of a proxy result (Powertools answers in multiValueHeaders when asked in them)."""
    (value,) = answer["multiValueHeaders"][name]
    return str(value)


def test_the_page_is_served_under_the_stage_with_its_files_relative_to_it(env: Env) -> None:
    page = get(env, "/", "/", "/prod/")
    assert page["statusCode"] == 200
    assert header(page, "Content-Type") == "text/html; charset=utf-8"
    assert "script-src 'self'" in header(page, "Content-Security-Policy")
    # Relative links: under https://host/prod/ they are /prod/web/..., at the local root /web/...
    assert '<script type="module" src="web/app.js">' in page["body"]
    assert '<label for="api-key">API key</label>' in page["body"]


def test_the_stage_without_its_slash_is_sent_to_it(env: Env) -> None:
    # https://host/prod would resolve web/app.js to https://host/web/app.js, outside the stage.
    answer = get(env, "/", "/", "/prod")
    assert (answer["statusCode"], header(answer, "Location")) == (302, "prod/")


def test_only_the_pages_own_files_are_served(env: Env) -> None:
    script = get(env, "/web/{asset}", "/web/segments.js", "/prod/web/segments.js")
    assert script["statusCode"] == 200
    assert header(script, "Content-Type") == "text/javascript; charset=utf-8"
    assert "export function countSegments" in script["body"]
    for name in ("index.html", "..%2Fapp.py", "nope.js"):
        answer = get(env, "/web/{asset}", f"/web/{name}", f"/prod/web/{name}")
        assert answer["statusCode"] == 404, name
        assert json.loads(answer["body"])["type"] == "/problems/no-such-route"


def test_swagger_ui_names_exactly_its_inline_scripts_and_style_in_its_policy(env: Env) -> None:
    answer = get(env, "/v1/docs", "/v1/docs", "/prod/v1/docs")
    assert answer["statusCode"] == 200
    html, policy = answer["body"], header(answer, "Content-Security-Policy")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))

    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(scripts) == 2 and len(styles) == 1  # Swagger UI, and what starts it
    assert directives["script-src"].split() == [sha256(s) for s in scripts]
    assert directives["style-src"].split() == [sha256(s) for s in styles]
    assert "persistAuthorization: false" in scripts[1]
    # The document is data (no policy names it), its "</" escaped so that it cannot end its element.
    [document] = re.findall(r'<script type="application/json" id="openapi">(.*?)</script>', html, re.DOTALL)
    assert json.loads(document)["info"]["title"] == "Sinch messaging gateway"
    assert header(answer, "X-Frame-Options") == "DENY" and "frame-ancestors 'none'" in policy


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
