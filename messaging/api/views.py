"""Rooms and messages over HTTP (thin: validation here, writes in services, reads in selectors)."""

from asgiref.sync import sync_to_async
from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors, services
from messaging.access import access_attachment, access_message, access_room
from messaging.api import serializers as s
from messaging.chain import chain_verify
from messaging.frames import message_frame
from messaging.models import Room
from messaging.references import message_frames
from scm_portal.api.errors import Conflict
from scm_portal.api.params import int_param
from scm_portal.api.parsers import MultiPartParser
from scm_portal.api.viewsets import TenantContextMixin, TenantScopedViewSet


def _frames(request, messages, context):
    """The messages as the requesting reader sees them: texts in the request's language (the
    view's TenantContextMixin activated it), buttons and references for their tenant context."""
    return message_frames(request.user, messages, context)


class RoomViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Rooms the user may see, with unread counts; tenant admins and coordinators open internal rooms."""

    model = Room
    serializer_class = s.RoomSerializer
    pagination_class = None  # a user sees tens of rooms, ordered by activity
    action_permissions = {"read": "view", "verify": "view"}
    read_only_roles_may = frozenset({"read"})  # the reader's own read mark

    def safely_get_queryset(self, queryset):
        return selectors.room_list_from(queryset, self.request.user, self.tenant_context)

    @extend_schema(request=s.RoomCreateSerializer, responses={201: s.RoomSerializer})
    def create(self, request, tenant=None):
        data = s.RoomCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.room_create_internal(tenant=self.tenant, actor=request.user, **data.validated_data)
        room.unread = 0
        return Response(s.RoomSerializer(room).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReadSerializer, responses={200: s.ReadSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, tenant=None, pk=None):
        room = self.get_object()
        data = s.ReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        state = services.room_read(tenant=self.tenant, user=request.user, room=room, seq=data.validated_data["seq"])
        return Response({"seq": state.last_read_seq})

    @extend_schema(responses={200: s.ChainSerializer})
    @action(detail=True, methods=["get"], url_path="chain")
    def verify(self, request, tenant=None, pk=None):
        """Recomputes the room's hash chain (auditors and admins use it; anyone in the room may)."""
        report = chain_verify(self.get_object())
        return Response({"room": report.room_id, "ok": report.ok, "checked": report.checked,
                         "broken_seq": report.broken_seq, "reason": report.reason, "head": report.head})


class RoomMessagesView(TenantContextMixin, APIView):
    """GET ?after_seq=N (oldest first) or ?before_seq=N (the page before N); POST a chat message."""

    parent_model = Room

    @extend_schema(
        parameters=[
            OpenApiParameter("after_seq", int),
            OpenApiParameter("before_seq", int),
            OpenApiParameter("limit", int),
        ],
        responses={200: s.MessagePageSerializer},
    )
    def get(self, request, tenant, room_id):
        room = access_room(request.user, self.tenant, room_id, self.tenant_context)
        limit = min(int_param(request, "limit", 100, minimum=1), selectors.PAGE_MAX)
        before = int_param(request, "before_seq", minimum=1)
        if before is not None:
            page = selectors.message_list_before(request.user, room, before, limit)
            more = bool(page) and page[0].seq > 1
            next_url = (
                request.build_absolute_uri(f"?before_seq={page[0].seq}&limit={limit}") if more and len(page) == limit else None
            )
        else:
            after = int_param(request, "after_seq", 0)
            page = selectors.message_list_after(request.user, room, after, limit)
            next_url = request.build_absolute_uri(f"?after_seq={page[-1].seq}&limit={limit}") if len(page) == limit else None
        return Response({"results": _frames(request, page, self.tenant_context), "next": next_url})

    @extend_schema(request=s.MessageCreateSerializer, responses={201: s.MessageFrameSerializer, 200: s.MessageFrameSerializer})
    def post(self, request, tenant, room_id):
        room = access_room(request.user, self.tenant, room_id, self.tenant_context)
        data = s.MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            message, created = services.message_post(
                tenant=self.tenant, actor=request.user, context=self.tenant_context, room=room, **data.validated_data
            )
        except services.Conflict as exc:
            raise Conflict(str(exc)) from None
        # A message created here carries no files; a replayed one may (an upload's client_id), and
        # its reference is shown as the poster may see it now.
        frame = (message_frame(message, [], context=self.tenant_context) if created
                 else _frames(request, [message], self.tenant_context)[0])
        return Response(frame, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MessageActionView(TenantContextMixin, APIView):
    """Presses an action button; permission is checked now, against the presser's role."""

    parent_model = Room

    @extend_schema(request=s.ActionPressSerializer, responses={200: s.ActionResultSerializer, 201: s.ActionResultSerializer})
    def post(self, request, tenant, room_id, seq, action_name):
        room = access_room(request.user, self.tenant, room_id, self.tenant_context)
        message = access_message(request.user, room, seq)
        # The button's fields (its frame's `input`), checked by the service against what it takes.
        data = request.data.dict() if hasattr(request.data, "dict") else request.data
        press, created = services.action_press(tenant=self.tenant, actor=request.user, room=room, message=message,
                                               action=action_name, context=self.tenant_context, data=data or None)
        body = {"seq": message.seq, "action": action_name, "already_pressed": not created,
                "pressed_by": press.actor.username, "outcome_seq": press.outcome_seq}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AttachmentUploadView(TenantContextMixin, APIView):
    """POST multipart `file` (+ optional `body`, `client_id`): a message carrying the file."""

    parent_model = Room
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": s.AttachmentUploadSerializer}, responses={201: s.MessageFrameSerializer})
    def post(self, request, tenant, room_id):
        room = access_room(request.user, self.tenant, room_id, self.tenant_context)
        files = request.FILES.getlist("file")
        if len(files) != 1:
            raise exceptions.ValidationError({"file": [_("Send exactly one file.")]})
        unknown = set(request.data) - {"file", "body", "client_id"}
        if unknown:
            raise exceptions.ValidationError({k: [_("Unknown field.")] for k in unknown}, code="unknown_field")
        try:
            message, created = services.message_post(
                tenant=self.tenant, actor=request.user, room=room, body=request.data.get("body", ""),
                client_id=request.data.get("client_id") or None, files=files, context=self.tenant_context,
            )
        except services.Conflict as exc:
            raise Conflict(str(exc)) from None
        return Response(message_frame(message, context=self.tenant_context), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AttachmentDownloadView(TenantContextMixin, APIView):
    parent_model = Room

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, tenant, room_id, attachment_id):
        room = access_room(request.user, self.tenant, room_id, self.tenant_context)
        attachment = access_attachment(request.user, room, attachment_id)
        file = attachment.file.open("rb")
        response = FileResponse(_blocks_of(file, FileResponse.block_size), as_attachment=True, filename=attachment.name,
                                content_type="application/octet-stream")
        response.set_headers(file)  # Content-Length and Content-Disposition, as for a file given directly
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["X-Checksum-SHA256"] = attachment.sha256
        return response


async def _blocks_of(file, block_size):
    """The file one block at a time, each read in a worker thread. An async iterator: Django's ASGI
    handler reads a sync one whole into memory before sending it, a large attachment per download."""
    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while block := await read(block_size):
            yield block
    finally:
        file.close()


class MessageSearchView(TenantContextMixin, APIView):
    """Messages containing `q` in the rooms the user may see (Chinese works: substring match)."""

    @extend_schema(parameters=[OpenApiParameter("q", str, required=True), OpenApiParameter("room", int)],
                   responses={200: s.MessagePageSerializer})
    def get(self, request, tenant):
        query = (request.query_params.get("q") or "").strip()
        if not 1 <= len(query) <= 200:
            raise exceptions.ValidationError({"q": [_("Search for 1 to 200 characters.")]})
        room_id = int_param(request, "room", minimum=1)
        room = access_room(request.user, self.tenant, room_id, self.tenant_context) if room_id else None
        return Response({"results": _frames(request, selectors.message_search(request.user, self.tenant, query, room),
                                            self.tenant_context), "next": None})


class ConversationView(TenantContextMixin, APIView):
    """A record's conversation: the messages linked to one subject, from every room the user sees."""

    @extend_schema(parameters=[OpenApiParameter("kind", str, required=True), OpenApiParameter("id", str, required=True)],
                   responses={200: s.MessagePageSerializer})
    def get(self, request, tenant):
        from messaging import registry

        kind, ref = request.query_params.get("kind", ""), request.query_params.get("id", "")
        entry = registry.SUBJECTS.get(kind)
        if entry is None:
            raise exceptions.ValidationError({"kind": [_("Unknown subject kind.")]})
        if not ref or entry.resolve(tenant=self.tenant, user=request.user, ref=ref) is None:
            raise exceptions.NotFound()
        return Response({"results": _frames(request, selectors.message_list_about(request.user, self.tenant, kind, ref),
                                            self.tenant_context), "next": None})


