"""Access control shared by the services (SECURITY.md): who is calling (tokens the system
issues, the bank's SSO JWTs), what each role may do, and the audit log of what they changed."""

from shared.auth.roles import Action, Identity, Role, permits

__all__ = ["Action", "Identity", "Role", "permits"]
