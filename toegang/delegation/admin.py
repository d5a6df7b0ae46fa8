"""Nothing of delegation is in the Django admin, on purpose.

Role assignments are appointed and ended only through ``delegation.services`` (the rank rules of
``delegation.authz``, one audit event per change); an admin form would bypass both.
"""
