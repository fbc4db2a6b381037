from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated

from medcloud.core.permissions import IsAdmin

from .models import AuditEvent
from .selectors import audit_events


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "outcome", "target_type", "target_id", "ip_address", "user_agent",
                  "details"]


class AuditFilterInput(serializers.Serializer):
    actor = serializers.IntegerField(required=False)
    action = serializers.CharField(required=False, help_text="prefix, e.g. 'auth.' or 'study.view'")
    target_type = serializers.CharField(required=False)
    target_id = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


@extend_schema(parameters=[AuditFilterInput], summary="The audit log (admins only), newest first")
class AuditEventListView(ListAPIView):
    permission_classes = [IsAuthenticated, IsAdmin]  # a list, so that IsAdmin's message reaches the caller
    serializer_class = AuditEventOutput

    def get_queryset(self):
        filters = AuditFilterInput(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return audit_events(actor_id=data.get("actor"), action=data.get("action"), target_type=data.get("target_type"),
                            target_id=data.get("target_id"), since=data.get("since"), until=data.get("until"))
