"""What domain apps contribute to chat, registered from their AppConfig.ready():

- actions: buttons on event messages ("确认收货", "安排补货") and the handler a press runs;
- bot intents: questions the bot answers (`/po`, `/stock`, "PO-… 的物流状态?");
- subjects: record kinds a message may link to (purchase_order, alert, ...), with the
  resolver that finds a record *as the asking user may see it*.

Messaging never imports a domain app; domain apps import this module.
"""

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Action:
    name: str
    label: str  # shown on the button; may be a lazy translation
    # handler(*, tenant, actor, message, room, context) -> dict; raises PermissionDenied / ValidationError.
    # `context`: the presser's TenantContext in the tenant; the handler checks roles against it.
    handler: Callable
    # rooms(*, tenant, message) -> ids of the other rooms the handler writes to: the press locks
    # them with the pressed room, in id order, before the handler locks anything else.
    rooms: Callable | None = None


@dataclass(frozen=True)
class Intent:
    name: str
    command: str | None  # "/po"
    patterns: tuple  # compiled regexes matched against free text after "@bot"
    # handler(*, tenant, user, room, text, match, context) -> markdown answer, built only from what
    # `context` (the asker's TenantContext in the tenant) lets the asker see.
    handler: Callable
    usage: str  # e.g. "/po PO-20231026"
    help_text: str  # lazy translation
    examples: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class Subject:
    kind: str
    resolve: Callable  # resolve(*, tenant, user, ref) -> object or None (None: missing or not visible)
    label: Callable = str  # label(obj) -> text shown on the message


ACTIONS: dict[str, Action] = {}
INTENTS: dict[str, Intent] = {}
SUBJECTS: dict[str, Subject] = {}


def register_action(name, *, label, handler, rooms=None):
    ACTIONS[name] = Action(name=name, label=label, handler=handler, rooms=rooms)


def register_intent(name, *, handler, usage, help_text, command=None, patterns=(), examples=()):
    INTENTS[name] = Intent(
        name=name, command=command, patterns=tuple(patterns), handler=handler, usage=usage, help_text=help_text,
        examples=tuple(examples),
    )


def register_subject(kind, *, resolve, label=str):
    SUBJECTS[kind] = Subject(kind=kind, resolve=resolve, label=label)
