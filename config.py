"""Settings from environment variables, with safe local defaults.

`load_config()` returns a plain dict so `create_app(config)` can overlay test or deployment values.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """A setting is missing or wrong in a way that must stop start-up."""


def env_bool(value: str | None, default: bool = False) -> bool:
    """Read true/false/1/0/yes/no as a boolean; anything else is a configuration error."""
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"Expected true/false/1/0, got {value!r}")


def normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _int(env, name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def _local_secret_key() -> str:
    """Generate a secret once and keep it in instance/, so local sessions survive restarts."""
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(environ: dict[str, str] | None = None) -> dict:
    env = os.environ if environ is None else environ
    motio_env = env.get("MOTIO_ENV", "development")
    if motio_env not in ENVIRONMENTS:
        raise ConfigError(f"MOTIO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {motio_env!r}")
    production = motio_env == "production"

    secret_key = env.get("SECRET_KEY")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY must be set in production (MOTIO_ENV=production)")
        secret_key = _local_secret_key()

    default_db = f"sqlite:///{INSTANCE / 'motio.db'}"
    database_url = normalise_database_url(env.get("DATABASE_URL") or default_db)
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:///:memory:"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    mail_port = _int(env, "MAIL_PORT", 25)
    video_max_mb = _int(env, "EDUCATION_VIDEO_MAX_MB", 200)

    return {
        "MOTIO_ENV": motio_env,
        "TESTING": motio_env == "testing",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PUBLIC_BASE_URL": (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "MAIL_SERVER": env.get("MAIL_SERVER") or "",
        "MAIL_PORT": mail_port,
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or "",
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or "",
        "MAIL_USE_TLS": env_bool(env.get("MAIL_USE_TLS")),
        "MAIL_FROM": env.get("MAIL_FROM") or "",
        "REDIS_URL": env.get("REDIS_URL") or "",
        "MAIL_TIMEOUT": _int(env, "MAIL_TIMEOUT", 30),
        # Seconds between dispatcher runs of the scheduler process.
        "DISPATCH_SECONDS": _int(env, "DISPATCH_SECONDS", 5),
        "OUTBOX_BATCH_SIZE": _int(env, "OUTBOX_BATCH_SIZE", 100),
        # How long a claimed message stays with its dispatcher; after a crash it is sent again after this.
        "OUTBOX_LEASE_SECONDS": _int(env, "OUTBOX_LEASE_SECONDS", 300),
        # Rate limits are settings; the test environment switches them off unless a test turns them on.
        "RATELIMIT_ENABLED": env_bool(env.get("RATELIMIT_ENABLED"), default=motio_env != "testing"),
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN") or "5 per minute",
        "RATELIMIT_LOGIN_IP": env.get("RATELIMIT_LOGIN_IP") or "30 per minute",
        "RATELIMIT_API": env.get("RATELIMIT_API") or "1200 per minute",
        "LOGIN_IDLE_MINUTES": _int(env, "LOGIN_IDLE_MINUTES", 30),
        # Number of reverse proxies in front of the app (nginx: 1), so client IPs and https are read correctly.
        "PROXY_COUNT": _int(env, "MOTIO_PROXY_COUNT", 0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "BABEL_DEFAULT_LOCALE": "nl",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Amsterdam",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Uploaded education videos (mp4/webm) live here, served to logged-in staff only.
        "UPLOAD_FOLDER": env.get("UPLOAD_FOLDER") or str(INSTANCE / "uploads"),
        "EDUCATION_VIDEO_MAX_BYTES": video_max_mb * 1024 * 1024,
        # Item wording of the questionnaires; point it at a file with licensed STarT Back / TSK-11 text.
        "INSTRUMENT_ITEMS_FILE": env.get("INSTRUMENT_ITEMS_FILE") or "",
    }
