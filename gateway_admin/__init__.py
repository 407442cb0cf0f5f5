"""Administering a gateway stack, deployed or local: what the operator's command (``ops``) and the
local stack (``devstack``) share, so that neither imports the other."""
