"""StorableTextMiddleware: a request whose address, query string, headers or page form carries a
NUL or a lone surrogate is answered 400 before anything reads it (why: scm_portal/api/text.py).

It runs before the session, authentication and every view, for the API (the contract's error
format, `invalid_text`) and for pages (the portal's 400 page). JSON and multipart bodies of the
API are checked by its parsers instead (scm_portal/api/parsers.py), where DRF reads them.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import JsonResponse
from django.utils import translation

from scm_portal.api.text import UNSTORABLE_MESSAGE, error_fields, is_unstorable
from scm_portal.errors import bad_request, error_body, is_api_request

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_HEADER_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def unstorable_input(request):
    """None when the request's address, headers and query string are storable, else the path to
    the offending input for the error's `fields` (empty when naming it would echo it, and for the
    address and headers)."""
    if is_unstorable(request.path_info):
        return ()
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in _HEADER_KEYS) and isinstance(value, str) and "\x00" in value:
            return ()  # HTTP servers refuse a NUL in a header; an in-process client need not
    return _first_unstorable(request.GET.lists())


def posts_page_form(request):
    if is_api_request(request):
        return False  # the API's parsers check its bodies
    return request.method in ("POST", "PUT", "PATCH") and request.content_type in _FORM_TYPES


def unstorable_form(request):
    """The same for a page's posted form (the API's bodies are its parsers' to check)."""
    found = _first_unstorable(request.POST.lists())
    if found is None:
        found = _first_unstorable((name, [f.name or "" for f in files]) for name, files in request.FILES.lists())
    return found


def _first_unstorable(lists):
    for name, values in lists:
        if is_unstorable(name):
            return ()
        if any(is_unstorable(value) for value in values):
            return (name,)
    return None


def refusal(request, path):
    if is_api_request(request):
        body = error_body("invalid_text", UNSTORABLE_MESSAGE, error_fields(path, UNSTORABLE_MESSAGE))
        return JsonResponse(body, status=400, json_dumps_params={"ensure_ascii": False})
    # Before LocaleMiddleware: the page in the language the browser asks for.
    with translation.override(translation.get_language_from_request(request)):
        return bad_request(request)


class StorableTextMiddleware:
    sync_capable = True
    async_capable = True  # no thread hop of its own under ASGI

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        path = unstorable_input(request)
        if path is None and posts_page_form(request):
            path = unstorable_form(request)
        return refusal(request, path) if path is not None else self.get_response(request)

    async def _acall(self, request):
        path = unstorable_input(request)
        if path is None and posts_page_form(request):
            path = await sync_to_async(unstorable_form)(request)  # parsing may spool files to disk
        if path is not None:
            return await sync_to_async(refusal)(request, path)  # a page renders templates
        return await self.get_response(request)
