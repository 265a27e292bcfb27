"""Admin pages of the integration platform: channel tokens (create, shown once; revoke) and
webhook subscriptions (create, secret shown once; pause; every delivery and attempt)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from . import tokens, webhooks
from .db import db, utcnow
from .errors import NotFound, OficialiaError
from .models import CHANNEL_LABELS, Role, User

bp = Blueprint("platform", __name__, url_prefix="/admin")


def _admin() -> User:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role is not Role.ADMIN:
        abort(403)
    user: User = current_user._get_current_object()
    return user


def _token_page(**extra: object) -> str:
    users = db.session.execute(select(User).where(User.active.is_(True)).order_by(User.email)).scalars().all()
    return render_template("admin/tokens.html", tokens=tokens.list_tokens(db.session), users=users,
                           scopes=tokens.SCOPE_LABELS, role_scopes=tokens.ROLE_SCOPES,
                           channels=[(c.value, CHANNEL_LABELS[c]) for c in tokens.TOKEN_CHANNELS], **extra)


@bp.route("/tokens", methods=["GET", "POST"], endpoint="tokens")
def tokens_page() -> ResponseReturnValue:
    """Channel tokens: list and create (the new token is shown this once)."""
    _admin()
    if request.method == "POST":
        f = request.form
        user = db.session.execute(select(User).where(User.email == (f.get("email") or "").strip().lower())
                                  ).scalar_one_or_none()
        try:
            if user is None:
                raise OficialiaError("Elija un usuario existente.")
            row, secret = tokens.issue_token(db.session, user, name=(f.get("name") or "").strip() or "api",
                                             scopes=f.getlist("scopes"), channel=f.get("channel") or None)
            db.session.commit()
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
            return _token_page(form=f), e.http_status
        return _token_page(form={}, new_token=secret, new_row=row), 201
    return _token_page(form={})


@bp.post("/tokens/<int:token_id>/revocar")
def revoke(token_id: int) -> ResponseReturnValue:
    """Revoke a token: it stops working at once."""
    _admin()
    row = tokens.revoke_token(db.session, token_id)
    db.session.commit()
    flash(f"Token {row.prefix}… revocado.", "success")
    return redirect(url_for("platform.tokens"))


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks_page() -> ResponseReturnValue:
    """Webhook subscriptions: list and create (the secret is shown this once)."""
    admin = _admin()
    extra: dict[str, object] = {"form": {}}
    status = 200
    if request.method == "POST":
        f = request.form
        try:
            sub, secret = webhooks.create_subscription(db.session, url=f.get("url", ""), events=f.getlist("events"),
                                                       description=f.get("description", ""), created_by=admin)
            db.session.commit()
            extra = {"form": {}, "new_secret": secret, "new_sub": sub}
            status = 201
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
            extra, status = {"form": f}, e.http_status
    subs = db.session.execute(select(webhooks.WebhookSubscription).order_by(
        webhooks.WebhookSubscription.id.desc())).scalars().all()
    return render_template("admin/webhooks.html", subs=subs, events=webhooks.EVENTS,
                           deliveries=webhooks.recent_deliveries(db.session, limit=50),
                           labels=webhooks.DELIVERY_LABELS, **extra), status


@bp.get("/webhooks/<int:subscription_id>")
def webhook_detail(subscription_id: int) -> ResponseReturnValue:
    """One subscription's deliveries, each with its attempts (status code, time, error)."""
    _admin()
    sub = db.session.get(webhooks.WebhookSubscription, subscription_id)
    if sub is None:
        abort(404)
    return _webhook_page(sub)


def _webhook_page(sub: webhooks.WebhookSubscription, status: int = 200, **extra: object) -> ResponseReturnValue:
    return render_template("admin/webhook_detail.html", sub=sub, events=webhooks.EVENTS,
                           deliveries=webhooks.recent_deliveries(db.session, sub.id, limit=200),
                           labels=webhooks.DELIVERY_LABELS, grace_choices=GRACE_CHOICES,
                           previous=sub.previous_secret_at(utcnow()), **extra), status


#: periods offered for the former secret to keep signing, in hours, with their labels
GRACE_CHOICES = ((24, "24 horas"), (72, "3 días"), (168, "7 días"), (0, "Ninguno: deja de valer ya"))


@bp.post("/webhooks/<int:subscription_id>/secreto")
def webhook_rotate(subscription_id: int) -> ResponseReturnValue:
    """A new secret, shown this once; the former one keeps signing for the period chosen."""
    _admin()
    try:
        grace = int(request.form.get("grace_hours", "24"))
    except ValueError:
        grace = -1
    try:
        sub, secret = webhooks.rotate_secret(db.session, subscription_id, grace_hours=grace)
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
        current = db.session.get(webhooks.WebhookSubscription, subscription_id)
        if current is None:
            abort(404)
        return _webhook_page(current, e.http_status)
    return _webhook_page(sub, new_secret=secret)


@bp.post("/webhooks/<int:subscription_id>/estado")
def webhook_toggle(subscription_id: int) -> ResponseReturnValue:
    """Pause or resume a subscription."""
    _admin()
    sub = webhooks.set_active(db.session, subscription_id, request.form.get("active") == "1")
    db.session.commit()
    flash("Suscripción activada." if sub.active else "Suscripción pausada: no se enviará nada.", "success")
    return redirect(url_for("platform.webhooks_page"))
