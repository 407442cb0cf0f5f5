"""Requests to an address a caller gave us (a media URL, a statusCallbackUrl): a guarded HTTP client.

Such a request is an SSRF risk: every hop is resolved once, checked, and connected to by that
checked address (never by name again), so DNS rebinding cannot slip past; only the scheme's
standard port is used, and every way a host can fail to answer gives the same one reason, so a
caller cannot map our ports or services through us (addresses). One absolute deadline covers every
lookup, hop and address, and a shorter one each lookup and each request; answers are read only as
far as the caller of the client allows, each read given only the time that is left (client).

Sinch's own API, at an address we chose, is reached by `sinch/`, not through here.
"""
