"""Nothing of accounts is in the Django admin, on purpose.

Persons come from appointments and change only through the portal's services (permission check,
audit event); an admin form would be a second, unaudited way to edit them. Operators reset a
password with ``manage.py set_temporary_password``.
"""
