"""DRF's token authentication with its query compiled once: it runs on every API request."""

from django.contrib.auth import get_user_model
from django.db import router
from rest_framework import authentication
from rest_framework.authtoken.models import Token

from scm_portal.db.templates import QueryTemplate, attnames


_TOKEN = QueryTemplate(
    lambda shape, *, key: Token.objects.filter(key=key).values_list(
        *attnames(Token), *(f"user__{name}" for name in attnames(get_user_model()))
    )
)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token check; a valid token costs one compiled statement."""

    def authenticate_credentials(self, key):
        using = router.db_for_read(Token)
        rows = _TOKEN.rows(using=using, key=key)
        if not rows:
            return super().authenticate_credentials(key)  # DRF's own refusal and message
        token_fields = attnames(Token)
        token = Token.from_db(using, token_fields, rows[0][: len(token_fields)])
        user = get_user_model().from_db(using, attnames(get_user_model()), rows[0][len(token_fields) :])
        if not user.is_active:
            return super().authenticate_credentials(key)
        token.user = user
        return (user, token)
