from __future__ import annotations

from django.db import models


class DataKey(models.Model):
    """An AES-256 data key, stored only wrapped (AES-256-GCM) by the key-encryption key from the environment.

    Values name the data key that sealed them, so a new primary key can be introduced while older values
    stay readable until `manage.py rotate_keys` has re-encrypted them.
    """

    key_id = models.CharField(max_length=32, unique=True)
    wrapped_key = models.BinaryField()
    kek_id = models.CharField(max_length=16, help_text="Fingerprint of the key-encryption key that wrapped it")
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_primary"], condition=models.Q(is_primary=True), name="one_primary_data_key"
            )
        ]

    def __str__(self) -> str:
        return self.key_id
