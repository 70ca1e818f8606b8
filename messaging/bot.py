"""The chat bot: a message starting with "/" or mentioning @bot is a question.

Intents come from the registry (domain apps add theirs). The answer is a `bot` message in
the same room addressed to the asker only, built from what the asker may see: each intent
handler receives the asking user and their TenantContext, and reads through the tenancy choke
point with it.
"""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messaging import registry
from messaging.models import MessageKind

# "@bot" as a word of its own: not inside an e-mail address or a longer handle ("a@bot.com", "@bots").
MENTION = re.compile(r"(?<![A-Za-z0-9_.])@bot(?![A-Za-z0-9_.@-])", re.IGNORECASE)
COMMAND = re.compile(r"^/(?P<command>[a-zA-Z_]+)\b\s*(?P<args>.*)$", re.DOTALL)


def is_query(body):
    text = body.strip()
    return text.startswith("/") or bool(MENTION.search(text))


def match_intent(text):
    """(intent, match, rest) for a question, or (None, None, text)."""
    text = text.strip()
    command = COMMAND.match(text)
    if command:
        name = "/" + command.group("command").lower()
        for intent in registry.INTENTS.values():
            if intent.command == name:
                return intent, command, command.group("args").strip()
        return None, None, text
    free = MENTION.sub(" ", text).strip()
    for intent in registry.INTENTS.values():
        for pattern in intent.patterns:
            found = pattern.search(free)
            if found:
                return intent, found, free
    return None, None, free


def help_text():
    lines = [_("I can answer these questions (only with what you may see):")]
    for intent in sorted(registry.INTENTS.values(), key=lambda i: i.usage):
        line = f"- `{intent.usage}` — {intent.help_text}"
        if intent.examples:
            line += " " + _("e.g.") + " " + " · ".join(f"“{e}”" for e in intent.examples)
        lines.append(line)
    return lines[0] + "\n\n" + "\n".join(lines[1:])


def _help(*, tenant, user, room, text, match, context):
    return help_text()


def register():
    """The built-in intents; called from MessagingConfig.ready()."""
    registry.register_intent(
        "help",
        command="/help",
        patterns=[re.compile(r"^(help|帮助|你能做什么|怎么用)\s*[?？]?$", re.IGNORECASE)],
        handler=_help,
        usage="/help",
        help_text=gettext_lazy("what I can do"),
        examples=["@bot 帮助"],
    )



def answer(*, tenant, asker, room, question, context):
    """Posts the bot's answer to `question` (a Message) in its room, visible to the asker only.
    `context`: the asker's TenantContext in the tenant (message_post's)."""
    from messaging.services import event_post

    intent, match, rest = match_intent(question.body)
    if intent is None:
        text = _("Sorry, I did not understand that.") + "\n\n" + help_text()
        name = "unknown"
    else:
        text = intent.handler(tenant=tenant, user=asker, room=room, text=rest, match=match, context=context)
        name = intent.name
    return event_post(
        tenant=tenant,
        room=room,
        body=text[:10_000],
        payload={"intent": name},
        kind=MessageKind.BOT,
        recipient=asker,
        refers_to=question.seq,
        relation="reply",
    )
