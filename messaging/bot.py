"""The chat bot: a message starting with "/" or mentioning @bot is a question.

Intents come from the registry (domain apps add theirs); a handler answers with a
messaging.texts.Text (stored keyed, read in the asker's language) or, for free text, a string.
The answer is a `bot` message in the same room addressed to the asker only, built from what the asker may see: each intent
handler receives the asking user and their TenantContext, and reads through the tenancy choke
point with it.
"""

import re

from django.utils import translation
from django.utils.translation import gettext_lazy

from messaging import registry
from messaging.models import MessageKind
from messaging.texts import Text, register_text

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
    """What the bot can answer, as a Text (rendered in the reader's language)."""
    lines = []
    for intent in sorted(registry.INTENTS.values(), key=lambda i: i.usage):
        params = {"usage": intent.usage, "help": Text(registry.intent_text_key(intent.name))}
        if intent.examples:
            params["examples"] = " · ".join(f"“{e}”" for e in intent.examples)
            lines.append(Text("messaging.bot.help_line_examples", params))
        else:
            lines.append(Text("messaging.bot.help_line", params))
    return Text("messaging.bot.help", {"lines": lines})


def _help(*, tenant, user, room, text, match, context):
    return help_text()


def register():
    """The built-in intents and the bot's texts; called from MessagingConfig.ready()."""
    register_text("messaging.bot.help", gettext_lazy("I can answer these questions (only with what you may see):\n\n{lines}"))
    register_text("messaging.bot.help_line", gettext_lazy("- `{usage}` — {help}"))
    register_text("messaging.bot.help_line_examples", gettext_lazy("- `{usage}` — {help} e.g. {examples}"))
    register_text("messaging.bot.unknown", gettext_lazy("Sorry, I did not understand that.\n\n{help}"))
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
        text = Text("messaging.bot.unknown", {"help": help_text()})
        name = "unknown"
    else:
        text = intent.handler(tenant=tenant, user=asker, room=room, text=rest, match=match, context=context)
        name = intent.name
    # A Text is stored keyed (the asker reads it in their language, whatever they ask in later);
    # its `body` is rendered in the language the question was asked in (the request's, the socket's).
    said = {"text": text, "body_language": translation.get_language()} if isinstance(text, Text) else {"body": str(text)[:10_000]}
    return event_post(
        tenant=tenant,
        room=room,
        **said,
        payload={"intent": name},
        kind=MessageKind.BOT,
        recipient=asker,
        refers_to=question.seq,
        relation="reply",
    )
