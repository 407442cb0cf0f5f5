"""The pages a browser opens without a key (the web composer at /, Swagger UI at /v1/docs): the
security headers they share, and Swagger UI's page.

Both pages take an API key from the person at the keyboard, so neither may be framed (clickjacking)
nor run a script or style it does not name. The composer's files are served from this origin
('self'); Swagger UI's are inline (the copy that ships with Powertools, so no CDN is trusted and
the page works where the CDN is unreachable), each named in the policy by its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools import event_handler


def page_headers(*, scripts: str, styles: str, images: str) -> dict[str, str]:
    """A page's headers: it talks to this API only, is never framed, and sends no Referer (a page
    URL may carry a message id)."""
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src {images}; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


# Swagger UI as Powertools' enable_swagger configures it, less what would keep the key:
# persistAuthorization writes what Authorize takes to localStorage, where it outlives the tab and
# any script of the origin reads it; without it, the key lives in the page's memory only. (Deep
# links are off: Swagger UI warns on every one that its form of them is deprecated.)
_START = """
const ui = SwaggerUIBundle({
  spec: JSON.parse(document.getElementById("openapi").textContent),
  dom_id: "#swagger-ui",
  docExpansion: "list",
  deepLinking: false,
  filter: true,
  layout: "BaseLayout",
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis],
  persistAuthorization: false,
  validatorUrl: null,
});
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _swagger_assets() -> tuple[str, str, str, str]:
    """Swagger UI's script and stylesheet as Powertools ships them, and the hashes that name them
    and _START in the policy (1.5 MB to hash: once per container)."""
    folder = Path(event_handler.__file__).parent / "openapi" / "swagger_ui"
    script = (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (folder / "swagger-ui.min.css").read_text(encoding="utf-8")
    return script, style, f"{_sha256(script)} {_sha256(_START)}", _sha256(style)


def swagger_page(openapi_json: str) -> tuple[str, dict[str, str]]:
    """Swagger UI for the document `openapi_json`, and the headers to serve it with."""
    script, style, scripts, styles = _swagger_assets()
    # The document is data, not a script (the policy need not name it); "</" inside it would end
    # its element early, and "<\\/" reads as "</" in JSON.
    document = openapi_json.replace("</", "<\\/")
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Sinch messaging gateway · API</title>\n"
        # Relative to /{stage}/v1/docs: the composer's icon (a browser asks for /favicon.ico else).
        '<link rel="icon" href="../web/favicon.svg" type="image/svg+xml">\n'
        f"<style>{style}</style>\n</head>\n<body>\n"
        '<div id="swagger-ui"></div>\n'
        f'<script type="application/json" id="openapi">{document}</script>\n'
        f"<script>{script}</script>\n<script>{_START}</script>\n</body>\n</html>\n"
    )
    # Swagger UI's icons are data: URLs in its stylesheet.
    headers = page_headers(scripts=scripts, styles=styles, images="'self' data:")
    return html, headers
