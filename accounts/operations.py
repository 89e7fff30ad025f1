"""Use cases for practices, staff, logins, API tokens and the audit log.

Operations flush but never commit: the view, API call or CLI command that calls them commits once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import lazy_gettext as _l

from accounts.models import LOCALES, ROLES, ApiToken, AuditEvent, LoginSession, Practice, User
from core.access import get_scoped
from core.actor import Actor
from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.tokens import new_token, token_hash
from core.validation import PHONE_RE, canonical_timezone, clean_name, normalise_email, positive_int
from extensions import db

PASSWORD_MIN = 12
PASSWORD_MAX = 200
INVITE_VALID = timedelta(days=7)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise Invalid(
            _l("Use at least %(n)d characters.", n=PASSWORD_MIN),
            {"password": str(_l("Use at least %(n)d characters.", n=PASSWORD_MIN))},
        )
    if len(password) > PASSWORD_MAX:
        raise Invalid(_l("The password is too long."), {"password": str(_l("The password is too long."))})


# --- practices -----------------------------------------------------------------------------------------------


def get_or_create_practice(name: str, **fields) -> Practice:
    name = clean_name(name)
    practice = db.session.execute(sa.select(Practice).where(Practice.name == name)).scalar_one_or_none()
    if practice is None:
        practice = Practice(name=name, **fields)
        db.session.add(practice)
        db.session.flush()
    return practice


def update_practice(
    actor: Actor, *, name: str, address: str, timezone: str, locale: str, sender_email: str, phone: str
) -> Practice:
    practice = db.session.get(Practice, actor.practice_id)
    errors: dict[str, str] = {}
    try:
        name = clean_name(name)
    except ValueError as exc:
        errors["name"] = str(exc)
    timezone = canonical_timezone(timezone)
    if timezone is None:
        errors["timezone"] = str(_l("Unknown time zone. Use a name like Europe/Amsterdam."))
    phone = (phone or "").strip()
    if phone and not PHONE_RE.match(phone):
        errors["phone"] = str(_l("Enter a phone number with digits, spaces, + or -."))
    if locale not in LOCALES:
        errors["locale"] = str(_l("Choose Dutch or English."))
    if sender_email:
        try:
            sender_email = normalise_email(sender_email)
        except ValueError as exc:
            errors["sender_email"] = str(exc)
    if (
        name
        and name != practice.name
        and db.session.execute(sa.select(Practice.id).where(Practice.name == name, Practice.id != practice.id)).first()
    ):
        errors["name"] = str(_l("Another practice already uses this name."))
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    new = {
        "name": name,
        "address": address.strip()[:300],
        "timezone": timezone,
        "locale": locale,
        "sender_email": sender_email,
        "phone": phone.strip(),
    }
    changed = sorted(key for key, value in new.items() if getattr(practice, key) != value)
    for key in changed:
        setattr(practice, key, new[key])
    db.session.flush()
    if changed:
        audit(actor, "update", patient_id=None, object_type="practice", object_id=practice.id, detail=",".join(changed))
    return practice


# --- staff ---------------------------------------------------------------------------------------------------


def _validate_staff(email: str, name: str, role: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    try:
        email = normalise_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    try:
        name = clean_name(name)
    except ValueError as exc:
        errors["name"] = str(exc)
    if role not in ROLES:
        errors["role"] = str(_l("Choose admin, therapist or assistant."))
    if not errors and db.session.execute(sa.select(User.id).where(sa.func.lower(User.email) == email.lower())).first():
        raise Conflict(
            _l("A staff member with this email already exists."),
            {"email": str(_l("A staff member with this email already exists."))},
        )
    if errors:
        raise Invalid(_l("Please correct the marked fields."), errors)
    return email, name


def create_user(practice: Practice, *, email: str, name: str, role: str, password: str) -> User:
    """Create an active staff user with a password (CLI and demo data)."""
    email, name = _validate_staff(email, name, role)
    check_password_rules(password)
    user = User(practice_id=practice.id, email=email, name=name, role=role, password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user


def invite_staff(actor: Actor, *, email: str, name: str, role: str) -> tuple[User, str]:
    """Add a staff member who sets their own password through a one-time link; returns (user, token)."""
    _require_admin(actor)
    email, name = _validate_staff(email, name, role)
    token = new_token()
    user = User(
        practice_id=actor.practice_id,
        email=email,
        name=name,
        role=role,
        invite_token_hash=token_hash(token),
        invite_expires_at=utcnow() + INVITE_VALID,
    )
    db.session.add(user)
    db.session.flush()
    audit(actor, "invite", patient_id=None, object_type="user", object_id=user.id, detail=f"role={role}")
    return user, token


def renew_invite(actor: Actor, user_id: int) -> tuple[User, str]:
    """A new invitation link for someone who has not set a password yet (never a way into an existing account)."""
    _require_admin(actor)
    user = get_scoped(User, user_id, actor.practice_id)
    if user.password_hash:
        raise Invalid(_l("%(name)s already has a password. Ask them to use it to log in.", name=user.name))
    token = new_token()
    user.invite_token_hash, user.invite_expires_at = token_hash(token), utcnow() + INVITE_VALID
    db.session.flush()
    audit(actor, "invite", patient_id=None, object_type="user", object_id=user.id, detail="new invitation link")
    return user, token


def user_for_invite(token: str) -> User | None:
    if not token or len(token) > 100:
        return None
    user = db.session.execute(sa.select(User).where(User.invite_token_hash == token_hash(token))).scalar_one_or_none()
    if user is None or user.invite_expires_at is None or user.invite_expires_at < utcnow() or not user.active:
        return None
    return None if user.password_hash else user


def accept_invite(token: str, password: str) -> User:
    user = user_for_invite(token)
    if user is None:
        raise Invalid(_l("This invitation link is not valid any more. Ask your practice admin for a new one."))
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.invite_token_hash = None
    user.invite_expires_at = None
    db.session.flush()
    audit(
        Actor.for_user(user),
        "set_password",
        patient_id=None,
        object_type="user",
        object_id=user.id,
        detail="invitation accepted",
    )
    return user


def set_staff_active(actor: Actor, user_id: int, active: bool) -> User:
    _require_admin(actor)
    user = get_scoped(User, user_id, actor.practice_id)
    if user.id == actor.user_id and not active:
        raise Invalid(_l("You cannot deactivate yourself."))
    user.active = active
    audit(actor, "activate" if active else "deactivate", patient_id=None, object_type="user", object_id=user.id)
    if not active:
        # A deactivated user's open sessions and tokens stop working at once.
        db.session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
        db.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    db.session.flush()
    return user


def change_role(actor: Actor, user_id: int, role: str) -> User:
    _require_admin(actor)
    user = get_scoped(User, user_id, actor.practice_id)
    if role not in ROLES:
        raise Invalid(
            _l("Choose admin, therapist or assistant."), {"role": str(_l("Choose admin, therapist or assistant."))}
        )
    if user.id == actor.user_id and role != "admin":
        raise Invalid(_l("You cannot remove your own admin role."))
    if user.role != role:
        audit(
            actor, "update", patient_id=None, object_type="user", object_id=user.id, detail=f"role {user.role}->{role}"
        )
    user.role = role
    db.session.flush()
    return user


def list_staff(actor: Actor) -> list[User]:
    return list(
        db.session.execute(sa.select(User).where(User.practice_id == actor.practice_id).order_by(User.name)).scalars()
    )


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden(_l("Only a practice admin can manage staff."))


# --- login ---------------------------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None (same time cost either way)."""
    if not isinstance(email, str) or not isinstance(password, str) or len(password) > PASSWORD_MAX:
        return None
    user = db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == email.strip().lower())
    ).scalar_one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active or not user.password_hash:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def start_login_session(user: User, ip: str) -> LoginSession:
    login = LoginSession(id=secrets.token_urlsafe(32), user_id=user.id, ip=ip[:64])
    user.last_login_at = utcnow()
    db.session.add(login)
    db.session.flush()
    return login


def end_login_session(session_id: str | None) -> None:
    if session_id:
        db.session.execute(sa.delete(LoginSession).where(LoginSession.id == session_id))


def user_for_login_session(session_id: str, user_id: str, idle: timedelta) -> User | None:
    """The user of a live login session; an idle or unknown one is removed and gives None."""
    if not session_id or positive_int(str(user_id)) is None:
        return None
    login = db.session.get(LoginSession, session_id)
    if login is None or str(login.user_id) != str(user_id):
        return None
    now = utcnow()
    if now - login.last_seen_at > idle:
        db.session.delete(login)
        db.session.flush()
        return None
    # Touch at most once a minute: a write on every request would serialise readers on SQLite.
    if now - login.last_seen_at > timedelta(minutes=1):
        login.last_seen_at = now
        db.session.flush()
    user = db.session.get(User, login.user_id)
    return user if user is not None and user.active else None


# --- API tokens ----------------------------------------------------------------------------------------------


def issue_api_token(user: User, label: str = "") -> str:
    token = new_token("motio_")
    db.session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), label=label[:100]))
    db.session.flush()
    return token


def list_api_tokens(actor: Actor) -> list[ApiToken]:
    return list(
        db.session.execute(
            sa.select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.created_at.desc())
        ).scalars()
    )


def revoke_api_token(actor: Actor, token_id: int) -> ApiToken:
    """Staff revoke their own tokens; someone else's token id is simply not found."""
    token = db.session.execute(
        sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == actor.user_id)
    ).scalar_one_or_none()
    if token is None:
        raise NotFound(_l("Not found."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
    return token


def user_for_api_token(token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = db.session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now  # committed with the request; coarse so a busy client does not write every call
    return row.user


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == (email or "").strip().lower())
    ).scalar_one_or_none()


# --- audit ---------------------------------------------------------------------------------------------------


def audit(
    actor: Actor,
    action: str,
    *,
    patient_id: int | None,
    object_type: str,
    object_id: int | None = None,
    detail: str = "",
) -> None:
    """Record an access to patient data. Written in the same transaction as the change it describes."""
    db.session.add(
        AuditEvent(
            practice_id=actor.practice_id,
            user_id=actor.user_id,
            actor_type=actor.kind,
            patient_id=patient_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            ip=actor.ip[:64],
            detail=detail[:2000],
        )
    )


def _audit_query(actor: Actor, patient_id: int | None, user_id: int | None, action: str | None):
    query = sa.select(AuditEvent).where(AuditEvent.practice_id == actor.practice_id)
    if patient_id:
        query = query.where(AuditEvent.patient_id == patient_id)
    if user_id:
        query = query.where(AuditEvent.user_id == user_id)
    if action:
        query = query.where(AuditEvent.action == action)
    return query


def audit_events(
    actor: Actor,
    *,
    patient_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
    page: int = 1,
    per_page: int = 50,
):
    query = _audit_query(actor, patient_id, user_id, action)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        db.session.execute(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).offset((page - 1) * per_page).limit(per_page)
        )
        .scalars()
        .all()
    )
    return rows, total


def patient_names(actor: Actor, patient_ids: set[int]) -> dict[int, str]:
    """Names for the audit page; erased patients are simply missing (the log keeps only their number)."""
    from patients.models import Patient  # the audit log spans domains; patients depends on accounts, not back

    if not patient_ids:
        return {}
    return dict(
        db.session.execute(
            sa.select(Patient.id, Patient.name).where(
                Patient.practice_id == actor.practice_id, Patient.id.in_(patient_ids)
            )
        ).all()
    )


def audit_rows_for_export(
    actor: Actor, *, patient_id: int | None = None, user_id: int | None = None, action: str | None = None
):
    query = _audit_query(actor, patient_id, user_id, action)
    return db.session.execute(query.order_by(AuditEvent.at, AuditEvent.id)).scalars()
