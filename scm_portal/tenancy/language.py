"""Which language a person reads the portal in.

A request's language: its `Accept-Language` when that names a supported language; else the
user's saved language (UserPreferences, `PATCH /api/v1/me/`); else the tenant's default
(Tenant.default_language); else the portal's (LANGUAGE_CODE). A socket resolves it once, at its
handshake, the same way. What is rendered for a person outside a request (a bot answer, a
notification) uses `user_language`: their saved language, else the tenant's default.
"""

from django.conf import settings
from django.utils import translation

SUPPORTED = tuple(code for code, _name in settings.LANGUAGES)


def accepted_language(header):
    """The first supported language an Accept-Language header names (by q, then order), or None."""
    if not isinstance(header, str) or not header or len(header) > 500:
        return None
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _sep, params = item.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    for _q, _position, tag in sorted(ranked):
        try:
            return translation.get_supported_language_variant(tag.lower())
        except LookupError:
            continue
    return None


def saved_language(user):
    """The user's saved language, or "" (none chosen, or no user)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    from scm_portal.tenancy.models import UserPreferences

    return UserPreferences.objects.filter(user_id=user.pk).values_list("language", flat=True).first() or ""


def user_language(user, tenant=None, saved=None):
    """The language rendered for a person outside a request: saved, else the tenant's default."""
    saved = saved_language(user) if saved is None else saved
    if saved in SUPPORTED:
        return saved
    if tenant is not None and tenant.default_language in SUPPORTED:
        return tenant.default_language
    return settings.LANGUAGE_CODE


def reader_language(*, accept_language=None, user=None, tenant=None, saved=None):
    """Accept-Language when it names a supported language; else the user's; else the tenant's."""
    return accepted_language(accept_language) or user_language(user, tenant, saved)


def request_language(request, tenant=None, saved=None):
    """reader_language of a request, read once and kept on it (`request.reader_language`).
    `saved`: the user's saved language when the caller has read it already (the tenant context
    carries it), so that it is not read again; None: read it here if it is needed."""
    known = getattr(request, "reader_language", None)
    if known is None:
        known = reader_language(accept_language=request.META.get("HTTP_ACCEPT_LANGUAGE"),
                                user=getattr(request, "user", None), tenant=tenant, saved=saved)
        request.reader_language = known
    return known


def activate_request_language(request, tenant=None, saved=None):
    """Activates the request's language for the rest of it (its answer, its errors)."""
    language = request_language(request, tenant, saved)
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language
