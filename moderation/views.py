"""Moderation pages: the review queue (groups side by side, keep / hide / not a duplicate, bulk,
keyboard shortcuts), the ban bank and the audit log. Moderators only; input through
`moderation.forms`, errors shown by the site's error page (`webapp.errors`)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.errors import BadInput
from ingestion.access import get_image_for_user
from search.query.copies import semantic_off_reason

from . import bans, review, services, withholding
from .forms import (
    AuditForm,
    BanFieldsForm,
    BankForm,
    BulkForm,
    DismissForm,
    GroupListForm,
    ResolveForm,
    ReviewerSettingsForm,
    ReviewRequestForm,
)
from .models import AuditEntry, BanCategory, BanEntry, Rescan
from .permissions import moderator_required

QUEUE_PAGE_SIZE = 20
AUDIT_PAGE_SIZE = 100
RESCANS_SHOWN = 10


@moderator_required
def queue(request):
    params = GroupListForm(request.GET).cleaned()
    status = params["status"] or "open"
    order = params["order"] or "newest"
    groups = review.groups_queryset(params["kind"], status, order)
    page = Paginator(groups, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    context = {
        "page": page,
        "groups": review.with_members(list(page.object_list), request.user),
        "kind": params["kind"] or "",
        "status": status,
        "order": order,
        "counts": review.open_counts(),
        "semantic_off": semantic_off_reason(),
        "filters_query": kept.urlencode(),
        "ban_categories": BanCategory.choices,
        "blur": services.blurs_thumbnails(request.user),
    }
    return render(request, "moderation/queue.html", context)


def _back(request) -> str:
    nxt = request.POST.get("next", "")
    return nxt if nxt.startswith("/moderation/") else reverse("moderation-queue")


@require_POST
@moderator_required
def resolve(request, pk: int):
    params = ResolveForm(request.POST).cleaned()
    outcome = review.resolve(
        request.user, services.get_group(pk), params["keep"], params["action"], params["note"]
    )
    done = review.PAST[params["action"]]
    messages.success(request, f"Group {pk}: kept {outcome.kept or 'nothing'}, {done} {outcome.removed}.")
    return redirect(_back(request))


@require_POST
@moderator_required
def dismiss(request, pk: int):
    params = DismissForm(request.POST).cleaned()
    review.dismiss(request.user, services.get_group(pk), params["note"])
    messages.success(request, f"Group {pk} dismissed.")
    return redirect(_back(request))


@require_POST
@moderator_required
def bulk(request):
    params = BulkForm({**request.POST.dict(), "groups": ",".join(request.POST.getlist("groups"))}).cleaned()
    if not params["groups"]:
        raise BadInput("Select at least one group.")
    done = services.bulk(request.user, params["groups"], params["action"], params["note"])
    messages.success(request, f"{len(done['resolved'])} group(s) done, {len(done['skipped'])} skipped.")
    return redirect(_back(request))


def _back_to(request, fallback: str) -> str:
    """The page the form came from (same site only), else `fallback`."""
    nxt = request.POST.get("next", "")
    if nxt.startswith("/") and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return fallback


@require_POST
@moderator_required
def ban(request, pk: int):
    """Ban an image from the site (the image page's and the queue's form): the same 404 as a
    missing id for an image the moderator may not see, as the API's ban does."""
    image = services.get_bannable_image(request.user, pk)
    params = BanFieldsForm(request.POST).cleaned()
    entry = bans.ban_image(
        request.user, image, params["note"], params["bank"] or bans.DEFAULT_BANK, params["category"]
    )
    messages.success(
        request,
        f"Image {pk} banned into {entry.bank.name} (ban #{entry.pk}); it is withheld. Copies already "
        f"stored are being matched in the background (rescan #{entry.rescan_id}, on the ban bank page).",
    )
    # Someone else's private image is reviewed in the queue only: its page would be a 404.
    opens = image.visible_to(request.user, moderator=True)
    return redirect(_back_to(request, image.get_absolute_url() if opens else reverse("moderation-queue")))


@require_POST
@moderator_required
def unban(request, pk: int):
    """Unban from the bank page: what this entry alone withheld is shown again."""
    entry = services.get_entry(pk)
    bans.delete_entry(request.user, entry, DismissForm(request.POST).cleaned()["note"])
    messages.success(request, f"Ban #{pk} removed; what it alone withheld is shown again.")
    return redirect(_back_to(request, reverse("moderation-bans")))


@require_POST
@moderator_required
def reviewer_settings(request):
    """The queue's "blur thumbnails by default" switch, kept per moderator."""
    blur = ReviewerSettingsForm(request.POST).cleaned()["blur"] == "on"
    services.set_blur_thumbnails(request.user, blur)
    done = "Thumbnails are blurred by default." if blur else "Thumbnails are shown unblurred."
    messages.success(request, done)
    return redirect(_back(request))


@login_required
@require_POST
def request_review(request, pk: int):
    """The owner of a withheld image asks moderators to look again (the image page's button)."""
    image = get_image_for_user(request.user, pk, write=True, action="ask for a review of")
    params = ReviewRequestForm(request.POST).cleaned()
    withholding.request_review(request.user, image, params["note"])
    messages.success(request, "Thank you: a moderator will look at this image again.")
    return redirect(image.get_absolute_url())


@moderator_required
def bans_page(request):
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "toggle":
            bank = services.get_bank(request.POST.get("bank", ""))
            bans.set_bank_enabled(request.user, bank, not bank.enabled)
        elif action == "distance":
            bank = services.get_bank(request.POST.get("bank", ""))
            bans.set_bank_distance(request.user, bank, BankForm(request.POST).cleaned()["max_distance"])
        elif action == "import":
            upload = request.FILES.get("file")
            if upload is None:
                raise BadInput("Choose a CSV file to import.")
            result = bans.import_csv(request.user, upload.read(settings.MODERATION_IMPORT_MAX_BYTES + 1))
            done = f"Imported {result['imported']}, skipped {result['skipped']}."
            if result["rescan"]:
                done += f" Matching them against the stored images: rescan #{result['rescan'].pk} below."
            messages.success(request, done)
        else:
            raise BadInput("Unknown action.")
        return redirect("moderation-bans")
    entries = BanEntry.objects.select_related("bank", "created_by").order_by("-created_at", "-id")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "banks": services.banks_with_counts(),
        "blur": services.blurs_thumbnails(request.user),
        "default_distance": settings.BAN_PDQ_DISTANCE,
        "rescans": Rescan.objects.all()[:RESCANS_SHOWN],
    }
    return render(request, "moderation/bans.html", context)


@moderator_required
def audit_page(request):
    AuditForm(request.GET).cleaned()
    page = Paginator(AuditEntry.objects.all(), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "moderation/audit.html", {"page": page})
