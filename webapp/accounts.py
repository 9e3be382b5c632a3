"""Accounts: sign-up, the account page (API token) and password change; log-in and log-out are
Django's own views."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from core.errors import BadInput
from core.forms import InputForm, StrictChoiceField


def signup(request):
    if request.user.is_authenticated:
        return redirect("gallery")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("gallery")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account(request):
    token = Token.objects.filter(user=request.user).first()
    # The key is shown in full once, right after it is made; afterwards only its start.
    fresh = request.session.pop("fresh_token", None)
    context = {
        "token": token,
        "fresh_key": fresh if token and fresh == token.key else None,
        "image_count": request.user.images.count(),
    }
    return render(request, "accounts/account.html", context)


class TokenActionForm(InputForm):
    action = StrictChoiceField(choices=["create", "revoke"], required=True)


@login_required
@require_POST
def token(request):
    """Create (or replace) the account's API token, or revoke it. DRF keeps one token per user, so
    creating a new one revokes the old."""
    try:
        action = TokenActionForm(request.POST).cleaned()["action"]
    except BadInput as exc:
        messages.error(request, str(exc))
        return redirect("account")
    with transaction.atomic():
        Token.objects.filter(user=request.user).delete()
        if action == "create":
            request.session["fresh_token"] = Token.objects.create(user=request.user).key
            messages.success(request, _("New API token created; copy it now, it is shown only once."))
        else:
            messages.success(request, _("API token revoked; programs using it can no longer sign in."))
    return redirect("account")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view in the site's layout. A new password also revokes the API token: whoever knew
    the old password may have made one."""

    success_url = reverse_lazy("account")

    def form_valid(self, form):
        response = super().form_valid(form)
        revoked = Token.objects.filter(user=self.request.user).delete()[0]
        note = _(" Your API token was revoked; create a new one if a program needs it.") if revoked else ""
        messages.success(self.request, _("Password changed.") + note)
        return response
