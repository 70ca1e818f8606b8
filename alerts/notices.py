"""What a notice (`Notification`) says, rendered for the person reading it.

A notice stores what it says as a key and parameters (`keyed_text`, messaging.texts) and its
rendering in the tenant's language at the time (`text`). In a request (the API, the header's
bell, the pages) it is shown in the request's language; outside one (an e-mail, a WeCom,
DingTalk or Feishu push) in the recipient's saved language, else the tenant's default. A notice
written before notices were keyed, or whose key nobody registers any more, shows its `text`.
"""

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext as _

from messaging.texts import text_render
from scm_portal.tenancy.language import user_language

SUBJECT_MAX = 120


def notification_text(notice, language=None):
    """What `notice` says in `language` (None: the active language)."""
    keyed = notice.keyed_text
    if not isinstance(keyed, dict) or not isinstance(keyed.get("key"), str):
        return notice.text
    return text_render(keyed, language, fallback=notice.text)


def notification_language(notice):
    """The language a notice goes out in, outside a request: the recipient's saved language, else
    the tenant's default."""
    return user_language(notice.user, notice.tenant)


def notification_outbound(notice, language=None):
    """`{"language", "subject", "body"}` of `notice` for an outbound channel (e-mail, WeCom,
    DingTalk, Feishu): in `language`, by default the recipient's (notification_language)."""
    language = language or notification_language(notice)
    with translation.override(language):
        body = notification_text(notice, language)
        label = _("Escalated to you") if notice.kind == "escalation" else _("Alert")
        first_line = body.strip().splitlines()[0] if body.strip() else ""
        first_line = first_line.replace("*", "").strip()  # the card's bold markers
        subject = _("{label}: {text}").format(label=label, text=first_line) if first_line else str(label)
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    return {"language": language, "subject": subject, "body": body}


def notification_email(notice, language=None):
    """The e-mail telling `notice`'s recipient, in their language (notification_outbound)."""
    said = notification_outbound(notice, language)
    message = EmailMessage(subject=said["subject"], body=said["body"], from_email=settings.DEFAULT_FROM_EMAIL,
                           to=[notice.user.email])
    message.extra_headers["Content-Language"] = said["language"]
    return message
