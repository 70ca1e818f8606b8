"""What a card, a notice or a bot answer says, as a key and parameters, rendered per reader.

A stored text is `{"key": "alerts.state.resolved", "params": {"who": "李仓管"}}`: the form the
hash chain hashes, the same for every reader. Each reader sees it rendered in their language:

    register_text("alerts.state.resolved", gettext_lazy("{who} resolved the alert."))  # AppConfig.ready()
    text = Text("alerts.state.resolved", {"who": "李仓管"})
    text_render(text, "en")  # "李仓管 resolved the alert."

A parameter is a plain value (a string, a number: shown as it is), a nested Text (or its stored
dict) rendered in the same language (a state label, an alert kind label, a whole sentence), or a
list of those, rendered one per line. A template names its parameters `{name}`; a format spec
(`{usual:.0f}`) applies to a number. A key nobody registers (any more) renders as the fallback the
caller gives (the text stored when the message was written).
"""

from dataclasses import dataclass, field
from typing import Any

from django.utils import translation

TEXTS: dict[str, Any] = {}


def register_text(key, template):
    """Registers a text under `key` (call it from your AppConfig.ready()): `template` is a lazy
    translation with `{name}` placeholders. Registering a key again with the same template is a
    no-op; another template under a taken key is a ValueError (two apps would share its texts)."""
    if not isinstance(key, str) or not key or len(key) > 100:
        raise ValueError(f"A text key is a non-empty string of at most 100 characters, not {key!r}")
    known = TEXTS.get(key)
    if known is not None and known is not template and str(_source(known)) != str(_source(template)):
        raise ValueError(f"Text {key!r} is registered already, with another template")
    TEXTS[key] = template
    return key


def _source(template):
    """The untranslated message of a lazy translation (to compare registrations)."""
    with translation.override(None):
        return str(template)


@dataclass(frozen=True)
class Text:
    key: str
    params: dict = field(default_factory=dict)

    def stored(self):
        """The JSON form kept on a message (and hashed with it)."""
        return {"key": self.key, "params": {name: _stored_param(value) for name, value in self.params.items()}}

    @classmethod
    def from_stored(cls, data):
        if isinstance(data, Text):
            return data
        return cls(data["key"], dict(data.get("params") or {}))


def _stored_param(value):
    if isinstance(value, Text):
        return value.stored()
    if isinstance(value, (list, tuple)):
        return [_stored_param(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict) and "key" in value:
        return Text.from_stored(value).stored()
    return str(value)  # a Decimal, a date: stored as the text it shows


def check_text(text):
    """A Text whose key is registered (a programming error otherwise, before anything is written)."""
    if not isinstance(text, Text):
        raise TypeError(f"expected a messaging.texts.Text, got {type(text).__name__}")
    if text.key not in TEXTS:
        raise ValueError(f"Text {text.key!r} is not registered (register_text in AppConfig.ready())")
    for value in text.params.values():
        for nested in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(nested, Text):
                check_text(nested)
    return text


class _Params(dict):
    def __missing__(self, name):  # a template naming a parameter the text lacks shows the name
        return "{" + name + "}"


def _render(data, fallback=""):
    """`data` (a Text or its stored dict) in the active language."""
    text = Text.from_stored(data)
    template = TEXTS.get(text.key)
    if template is None:
        return fallback or text.key
    params = _Params({name: _render_param(value) for name, value in text.params.items()})
    try:
        return str(template).format_map(params)
    except (ValueError, TypeError, IndexError, AttributeError, KeyError):
        # A translation with a broken placeholder, or a parameter missing under a format spec: the
        # untranslated template, else the template as written, rather than an error.
        with translation.override(None):
            source = str(template)
        try:
            return source.format_map(params)
        except (ValueError, TypeError, IndexError, AttributeError, KeyError):
            return source


def _render_param(value):
    if isinstance(value, Text) or (isinstance(value, dict) and "key" in value):
        return _render(value)
    if isinstance(value, (list, tuple)):
        return "\n".join(str(_render_param(item)) for item in value)
    return value


# How many texts were rendered (a test and the benchmark read it: renders per message per language).
render_count = 0


def text_render(text, language, fallback=""):
    """`text` (a Text or its stored dict) in `language` (None: the active language). `fallback`:
    what to show when its key is not registered (any more)."""
    global render_count
    render_count += 1
    if language is None:
        return _render(text, fallback)
    with translation.override(language):
        return _render(text, fallback)
