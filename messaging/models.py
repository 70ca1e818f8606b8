"""Rooms and their append-only, hash-chained messages.

Per room, `seq` is gapless: it is taken from `Room.last_seq` under a row lock on that one room
(never a tenant-wide lock), and each message's `hash` covers its canonical form and the
previous message's hash, so editing any stored message breaks the chain from there on.
"""

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Concat, StrIndex
from django.db.models.lookups import GreaterThan
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from scm_portal.tenancy.models import Membership, Partnership, PartnershipGroupObjectPermission, PartnershipUserObjectPermission, Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import CORE_ROLES, PARTNER_ROLES, WHOLE_ROOM_READERS, Role, reads_whole_room

GENESIS_HASH = "0" * 64


class RoomKind(models.TextChoices):
    PARTNER = "partner", _("Partner room")
    INTERNAL = "internal", _("Internal room")


class RoomAccessPolicy(AccessPolicy):
    """Who sees a room.

    A partner room: the partner's own people in this tenant, and core staff who follow that
    partner (through their role group or a direct grant, both guardian direct-FK rows).
    An internal room: core staff, all of them or those of its team role.
    Any room: a direct `view_room` grant. Always within an active membership of the tenant.
    """

    def condition(self, model, user, action):
        active = Membership.objects.active().filter(user=user, tenant=OuterRef("tenant"))
        core = active.filter(role__in=CORE_ROLES)
        partner_side = Q(kind=RoomKind.PARTNER) & Q(
            Exists(active.filter(role__in=PARTNER_ROLES, organization=OuterRef("partnership__organization")))
        )
        core_side = Q(Exists(core)) & (
            (Q(kind=RoomKind.PARTNER) & Q(partnership__active=True) & _follows(user))
            | (Q(kind=RoomKind.INTERNAL) & (Q(team_role="") | Q(Exists(core.filter(role=OuterRef("team_role"))))))
        )
        granted = _granted(user) & Q(Exists(active))
        return partner_side | core_side | granted

    def condition_in_context(self, model, user, action, context):
        """The same rule with the user's active memberships in the tenant known (see context.py)."""
        never = Q(pk__in=[])
        if not context.memberships:
            return never
        cond = never
        partner_organizations = sorted(context.organizations(PARTNER_ROLES))
        if partner_organizations:
            cond |= Q(kind=RoomKind.PARTNER, partnership__organization__in=partner_organizations)
        core_roles = sorted(context.roles & CORE_ROLES)
        if core_roles:
            cond |= Q(kind=RoomKind.PARTNER, partnership__active=True) & _follows(user)
            cond |= Q(kind=RoomKind.INTERNAL) & (Q(team_role="") | Q(team_role__in=core_roles))
        return cond | _granted(user)


def _follows(user):
    """Rooms of partners the user follows: through one of their groups or a direct grant."""
    return Q(
        Exists(
            PartnershipGroupObjectPermission.objects.filter(
                group__user=user, permission__codename="follow_partnership", content_object=OuterRef("partnership")
            )
        )
    ) | Q(
        Exists(
            PartnershipUserObjectPermission.objects.filter(
                user=user, permission__codename="follow_partnership", content_object=OuterRef("partnership")
            )
        )
    )


def _granted(user):
    return Q(
        Exists(
            RoomUserObjectPermission.objects.filter(
                user=user, permission__codename="view_room", content_object=OuterRef("pk")
            )
        )
    )


class Room(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rooms")
    kind = models.CharField(max_length=20, choices=RoomKind.choices)
    partnership = models.OneToOneField(Partnership, null=True, blank=True, on_delete=models.PROTECT, related_name="room")
    team_role = models.CharField(max_length=30, blank=True, default="")  # internal rooms: "" = all core staff
    name = models.CharField(max_length=200)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    # Row visibility is RoomAccessPolicy.condition(); "add" (internal rooms) is by role.
    access_policy = RoomAccessPolicy(core={"add": {Role.TENANT_ADMIN, Role.COORDINATOR}})

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="internal", partnership__isnull=True) | Q(kind="partner", partnership__isnull=False),
                name="room_kind_matches_partnership",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def group_name(self):
        """The channel-layer group of this room (server-derived, never from client input)."""
        return f"room.{self.pk}"


class RoomUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Room, on_delete=models.CASCADE)


class RoomGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Room, on_delete=models.CASCADE)


class MessageKind(models.TextChoices):
    CHAT = "chat", _("Chat")
    EVENT = "event", _("Event")
    BOT = "bot", _("Bot")
    SYSTEM = "system", _("System")


class MessageQuerySet(TenantQuerySet):
    def visible_to(self, user, action="view", context=None):
        """Messages of rooms the user sees; internal notes only for core staff; a message with
        a core audience only for the core staff holding one of its roles (the partner side of
        the room still sees it); a message addressed to one user (a bot question, its answer)
        only for that user. A whole-room reader (the auditor: roles.reads_whole_room) sees every
        message of the rooms they see, whatever its audience or recipient."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if context is not None:
            return self._visible_in_context(user, context)
        rooms = Room.objects.visible_to(user, "view")
        active = Membership.objects.active().filter(user=user, tenant=OuterRef("tenant"))
        core = active.filter(role__in=CORE_ROLES)
        in_audience = core.annotate(
            _at=StrIndex(OuterRef("core_audience"), Concat(Value(","), F("role"), Value(",")))
        ).filter(_at__gt=0)
        routed_to_user = (
            (Q(core_audience="") | ~Q(Exists(core)) | Q(Exists(in_audience)))
            & (Q(recipient__isnull=True) | Q(recipient=user))
        )
        return self.filter(
            Q(room__in=rooms),
            Q(internal=False) | Q(Exists(core)),
            routed_to_user | Q(Exists(active.filter(role__in=WHOLE_ROOM_READERS))),
        )

    def _visible_in_context(self, user, context):
        rooms = Room.objects.visible_to(user, "view", context=context)
        core_roles = sorted(context.roles & CORE_ROLES)
        conditions = [Q(room__in=rooms)]
        if not core_roles:
            conditions.append(Q(internal=False))
        if not reads_whole_room(context.roles):
            conditions.append(Q(recipient__isnull=True) | Q(recipient=user))
            if core_roles:
                in_audience = Q(core_audience="")
                for role in core_roles:
                    in_audience |= Q(GreaterThan(StrIndex("core_audience", Value(f",{role},")), 0))
                conditions.append(in_audience)
        return self._scoped_to_context(user, context).filter(*conditions)


class Message(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()  # markdown source as written; rendered through the sanitiser
    # What an event card, notice or bot answer says, as {"key", "params"} (messaging.texts): each
    # reader sees it rendered in their language. `body` then holds its rendering in the tenant's
    # language (the bot's: the asker's), which search and the trail read. Null for chat.
    text = models.JSONField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # [{"name"}] (older rows: [{"name", "label"}]); labels and who may press are per reader
    actions = models.JSONField(default=list, blank=True)
    subject_kind = models.CharField(max_length=40, blank=True, default="")
    subject_ref = models.CharField(max_length=64, blank=True, default="")
    internal = models.BooleanField(default=False)  # visible to core staff only
    # ",warehouse,planner,": of the core staff, only these roles see it ("" = all who see the room)
    core_audience = models.CharField(max_length=300, blank=True, default="")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    refers_to = models.BigIntegerField(null=True, blank=True)  # seq this one edits, retracts or answers
    relation = models.CharField(max_length=10, blank=True, default="")  # "edit" | "retract" | "reply" | ""
    client_id = models.CharField(max_length=64, null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    # A tombstone (docs/AUDIT_RETENTION.md): destroyed under the tenant's retention policy. Its
    # content is cleared by the database function retention_tombstone() (the app's role may not
    # UPDATE messages); seq, prev_hash and hash stay, so the room's chain still links through it.
    destroyed_at = models.DateTimeField(null=True, blank=True)
    destroyed_policy_id = models.BigIntegerField(null=True, blank=True)  # audit.RetentionPolicy (no FK: audit is above)

    objects = MessageQuerySet.as_manager()
    access_policy = AccessPolicy()  # visibility is MessageQuerySet.visible_to (through the room)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq_unique"),
            models.UniqueConstraint(
                fields=["room", "sender", "client_id"], condition=Q(client_id__isnull=False), name="message_client_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "subject_kind", "subject_ref"]),
            models.Index(fields=["tenant", "created_at"]),
        ]

    def __str__(self):
        return f"{self.room_id}#{self.seq}"


class Attachment(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "message"])]


class ReadState(models.Model):
    """How far a user has read a room (for unread counts and read receipts)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="read_state_unique")]


class ActionPress(models.Model):
    """An action button pressed on a message: once per (message, action); later presses are answered."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="presses")
    action = models.CharField(max_length=64)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome_seq = models.BigIntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "action"], name="action_press_once")]
