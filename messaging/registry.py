"""What domain apps contribute to chat, registered from their AppConfig.ready():

- actions: buttons on event messages ("确认收货", "安排补货") and the handler a press runs;
- bot intents: questions the bot answers (`/po`, `/stock`, "PO-… 的物流状态?");
- subjects: record kinds a message may link to (purchase_order, alert, ...), with the
  resolver that finds a record *as the asking user may see it*.

Messaging never imports a domain app; domain apps import this module.
"""

from dataclasses import dataclass, field
from typing import Callable

from messaging.texts import register_text


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
    # available(*, message, context, record) -> "enabled" | "disabled" | "gone" | None: whether this
    # reader is offered the button now. `context`: the reader's TenantContext; decide from its tenant and
    # memberships only, never the user id unless `personal` (readers with the same memberships share one socket
    # frame). `record`: what the message's subject kind's `state` loader gave for its subject (None
    # without one). No database access: it runs for every reader of every card. None: not this
    # reader's to press (their role; a press is refused 403); "disabled": shown greyed, "gone": not
    # shown, because the record's state no longer allows it (a late press reaches the handler, which
    # answers why: StateConflict, 409). Without one: offered, enabled, to whoever may write in the room.
    available: Callable | None = None
    # url(*, message) -> a path in the portal: a button that opens a page instead of being pressed,
    # for a next step that needs input a press cannot carry (a form). Offered by the same
    # `available` rules; the page checks again. None: a pressable button.
    url: Callable | None = None
    # personal=True: `available` also reads who the reader is (context.user_id: the maker, one who
    # decided already) and how their credential is verified (context.second_factor_at): each
    # reader's buttons are then decided for them alone, never shared with others of the same
    # memberships (realtime.hub.ReaderFrames). For the few cards that need it (money decisions).
    personal: bool = False
    # What a disabled button tells its reader (why, and how to make it pressable); a lazy translation.
    hint: str | None = None
    # Text fields a press carries (`{"reason": "..."}` in the press body or socket frame): the
    # handler then receives them as `data` (a dict of strings, each given and at most 2,000
    # characters); a press with others is a 400.
    inputs: tuple = ()


@dataclass(frozen=True)
class Intent:
    name: str
    command: str | None  # "/po"
    patterns: tuple  # compiled regexes matched against free text after "@bot"
    # handler(*, tenant, user, room, text, match, context) -> the answer: a messaging.texts.Text
    # (markdown once rendered), built only from what `context` (the asker's TenantContext in the
    # tenant) lets the asker see.
    handler: Callable
    usage: str  # e.g. "/po PO-20231026"
    help_text: str  # lazy translation
    examples: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class Subject:
    kind: str
    resolve: Callable  # resolve(*, tenant, user, ref) -> object or None (None: missing or not visible)
    label: Callable = str  # label(obj) -> text shown on the message
    # state(*, tenant_id, refs) -> {ref: JSON-able dict}: the records' current state, one query for
    # all, handed to the buttons' `available` as `record` (it travels in socket events: plain JSON).
    state: Callable | None = None


ACTIONS: dict[str, Action] = {}
INTENTS: dict[str, Intent] = {}
SUBJECTS: dict[str, Subject] = {}


def register_action(name, *, label, handler=None, rooms=None, available=None, url=None, personal=False, hint=None,
                    inputs=()):
    """`label`: a lazy translation, shown in each reader's language (and a registered text,
    `action_text_key(name)`, for the notices that name the button); `available`, `url`, `personal`,
    `hint`, `inputs`: see Action. A link button (`url`) has no handler: pressing it is refused."""
    if (handler is None) == (url is None):
        raise TypeError(f"register_action({name!r}): give a handler, or a url for a link button")
    register_text(action_text_key(name), label)
    ACTIONS[name] = Action(name=name, label=label, handler=handler, rooms=rooms, available=available, url=url,
                           personal=personal, hint=hint, inputs=tuple(inputs))


def action_text_key(name):
    """The text key of an action's label (messaging.texts), for a notice that names the button."""
    return f"action.{name}"


def intent_text_key(name):
    """The text key of an intent's help line (messaging.texts)."""
    return f"bot.intent.{name}"


def register_intent(name, *, handler, usage, help_text, command=None, patterns=(), examples=()):
    register_text(intent_text_key(name), help_text)
    INTENTS[name] = Intent(
        name=name, command=command, patterns=tuple(patterns), handler=handler, usage=usage, help_text=help_text,
        examples=tuple(examples),
    )


def register_subject(kind, *, resolve, label=str, state=None):
    SUBJECTS[kind] = Subject(kind=kind, resolve=resolve, label=label, state=state)
