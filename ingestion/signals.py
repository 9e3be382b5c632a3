import copy

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Image


@receiver(post_delete, sender=Image)
def clean_up_deleted_image(sender, instance: Image, **kwargs) -> None:
    from .services import remove_image_artifacts

    # A copy: delete() clears instance.pk, before the callback runs when an outer transaction is open.
    deleted = copy.copy(instance)
    transaction.on_commit(lambda: remove_image_artifacts(deleted))
