from django.urls import path
from rest_framework.routers import SimpleRouter

from messaging.api import views

T = "t/<slug:tenant>/"

router = SimpleRouter()
router.register(r"t/(?P<tenant>[a-z0-9-]+)/rooms", views.RoomViewSet, basename="room")

urlpatterns = [
    *router.urls,
    path(T + "rooms/<int:room_id>/messages/", views.RoomMessagesView.as_view(), name="room-messages"),
    path(T + "rooms/<int:room_id>/messages/<int:seq>/actions/<slug:action_name>/", views.MessageActionView.as_view(), name="message-action"),
    path(T + "rooms/<int:room_id>/attachments/", views.AttachmentUploadView.as_view(), name="room-attachments"),
    path(T + "rooms/<int:room_id>/attachments/<int:attachment_id>/", views.AttachmentDownloadView.as_view(), name="attachment-download"),
    path(T + "messages/search/", views.MessageSearchView.as_view(), name="message-search"),
    path(T + "conversations/", views.ConversationView.as_view(), name="conversation"),
]
