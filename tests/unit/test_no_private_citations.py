"""No tracked file cites a document the repository does not have: the team's design and Sinch notes
live outside it, so a reader could not follow such a citation. State the fact, or link Sinch's or
AWS's public documentation."""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The documents by name, and a bare section sign before a number ("§4.6"), which in this repository
# only ever pointed into them. A standard's section ("RFC 6749 §5.2, §4.1.2.1") stays allowed.
_NAMED = re.compile(r"\b(?:design|sinch-api|toolchain-notes)\.md\b|\bsinch-api\s*§|\bdesign\s*§")
_SECTION = re.compile(r"§\s*\d")
_STANDARD_BEFORE = re.compile(r"\bRFC\s*\d+[^()\n]*$")


def citations(text: str) -> list[str]:
    """The lines of `text` that cite the outside documents, as `<line number>: <line>`."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        bare_section = any(not _STANDARD_BEFORE.search(line[: m.start()]) for m in _SECTION.finditer(line))
        if _NAMED.search(line) or bare_section:
            found.append(f"{number}: {line.strip()}")
    return found


def test_citations_are_found_however_they_are_written() -> None:
    planted = [
        '"""Checked media (design.md §11): one object per file."""',
        "# Sinch's codes are small numbers (sinch-api.md section 4.2).",
        "# XMS speaks HTTP statuses (sinch-api §3)",
        "# with an E-code for everything it refuses (§6.5-6.6)",
        "see toolchain-notes.md",
        "as the design § 4 says",
    ]
    for line in planted:
        assert citations(line) == [f"1: {line}"], line


def test_what_is_not_a_citation_is_left_alone() -> None:
    clean = [
        '_NO_STORE = {"Cache-Control": "no-store"}  # RFC 6749 §5.1',
        "# OAuth2 error names (RFC 6749 §5.2, §4.1.2.1).",
        '    """RFC 6750 §3 challenges; the SDK renews its token."""',
        '    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"',
        "See docs/design-notes.md and the README's design section.",
        "# https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/",
    ]
    for line in clean:
        assert citations(line) == [], line


def test_no_tracked_file_cites_a_document_the_repository_does_not_have() -> None:
    git = shutil.which("git")
    assert git, "git is needed to list the tracked files"
    tracked = subprocess.run(  # noqa: S603 - git on our own checkout
        [git, "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    cited = {}
    for name in filter(None, tracked):
        path = ROOT / name
        # Not this file (its planted examples cite them), nor one deleted but still in the index.
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        found = citations(path.read_bytes().decode("utf-8", errors="replace"))
        if found:
            cited[name] = found
    assert cited == {}
