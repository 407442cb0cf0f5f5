"""Requests to an address a caller gave us (a media URL, a statusCallbackUrl): a guarded HTTP client.

Such a request is an SSRF risk, so every one of them, and every hop of a redirect, is held to:
1. the URL: https (http only where the policy allows it), no user name or password, a valid host
   and port (addresses.Target);
2. the addresses: the host is looked up once, by a deadline, and every address it gives must be
   public, on the scheme's standard port, unless the policy's allowlist names the host
   (addresses.allowed_addresses);
3. the connection: to one of those checked addresses, never to the name again, so DNS rebinding
   cannot slip past; the name is kept for Host, SNI and the certificate (client);
4. the answer: its head read up to a bound, a body only as far as the client's caller allows, every
   read by the deadline (client).
Every way a host can fail to answer gives the same one reason, so a caller cannot map our ports or
services through us. One absolute deadline covers every lookup, hop and address, and a shorter one
each lookup and each request.

Sinch's own API, at an address we chose, is reached by `sinch/`, not through here.
"""
