"""Which media types Sinch takes, per API, and what their content must look like.

The simulator's own tables, kept apart from the gateway's on purpose: a fake that shares the
product's rules cannot catch a bug in them.
"""

from __future__ import annotations

from collections.abc import Callable

# XMS `mt_media`: Sinch's MMS best practices list GIF/JPEG/PNG images, MP3/WAV audio,
# 3GP/MP4/MPEG/AVI/WMV video and plain text. Sinch documents no other list for XMS.
XMS_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/png",
        "image/gif",
        "audio/mpeg",
        "audio/mp3",
        "audio/wav",
        "audio/x-wav",
        "video/3gpp",
        "video/mp4",
        "video/mpeg",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "text/plain",
    }
)

# The MMS JSON API: the types each slide kind takes, as its API specification lists them.
MMS_KIND_TYPES: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpg", "image/jpeg", "image/png", "image/gif"}),
    "audio": frozenset({"audio/mp3", "audio/mpeg", "audio/x-wave", "audio/x-wav", "audio/amr"}),
    "video": frozenset(
        {"video/mp4", "video/mpeg", "video/x-msvideo", "video/x-ms-wmv", "video/quicktime", "video/3gpp"}
    ),
    "contact": frozenset({"text/vcard", "text/v-card", "text/x-vcard"}),
    "calendar": frozenset({"text/calendar"}),
    "pdf": frozenset({"application/pdf", "application/x-pdf"}),
}
MMS_KINDS = tuple(MMS_KIND_TYPES)


def _mp3(body: bytes) -> bool:
    """An ID3 tag, or straight into an MPEG audio frame (11 sync bits)."""
    return body.startswith(b"ID3") or (len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0)


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda body: body.startswith(b"RIFF") and body[8:12] == form


def _iso_media(body: bytes) -> bool:
    """MP4, QuickTime and 3GP files start with a box: 4 bytes of size, then its type."""
    return body[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def _text(marker: bytes) -> Callable[[bytes], bool]:
    return lambda body: body.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(marker)


def _prefix(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda body: body.startswith(prefixes)


# What a file of each MMS JSON API type starts with: content that does not is what "encoding fails"
# on (a postback, after the request was accepted).
_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/jpg": _prefix(b"\xff\xd8\xff"),
    "image/jpeg": _prefix(b"\xff\xd8\xff"),
    "image/png": _prefix(b"\x89PNG\r\n\x1a\n"),
    "image/gif": _prefix(b"GIF87a", b"GIF89a"),
    "audio/mp3": _mp3,
    "audio/mpeg": _mp3,
    "audio/x-wave": _riff(b"WAVE"),
    "audio/x-wav": _riff(b"WAVE"),
    "audio/amr": _prefix(b"#!AMR"),
    "video/mp4": _iso_media,
    "video/quicktime": _iso_media,
    "video/3gpp": _iso_media,
    "video/mpeg": _prefix(b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"),
    "video/x-msvideo": _riff(b"AVI "),
    "video/x-ms-wmv": _prefix(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # the ASF header GUID
    "text/vcard": _text(b"BEGIN:VCARD"),
    "text/v-card": _text(b"BEGIN:VCARD"),
    "text/x-vcard": _text(b"BEGIN:VCARD"),
    "text/calendar": _text(b"BEGIN:VCALENDAR"),
    "application/pdf": _prefix(b"%PDF-"),
    "application/x-pdf": _prefix(b"%PDF-"),
}


def looks_like(content_type: str, body: bytes) -> bool:
    """Whether the bytes are a file of this (MMS JSON API) type."""
    check = _SIGNATURES.get(content_type)
    return check is not None and check(body)
