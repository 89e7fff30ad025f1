"""SMTP transport: one connection for a batch, and a verdict per message (sent, retry later, failed for good).

smtplib does the protocol; this module only sorts its answers the way RELIABILITY.md asks: 4xx, refused
connections and time-outs are temporary, 5xx and refused recipients are permanent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str = ""
    password: str = ""
    use_tls: bool = False
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config) -> SmtpSettings:
        return cls(
            host=config["MAIL_SERVER"],
            port=config["MAIL_PORT"],
            username=config["MAIL_USERNAME"],
            password=config["MAIL_PASSWORD"],
            use_tls=config["MAIL_USE_TLS"],
            timeout=float(config.get("MAIL_TIMEOUT", 30)),
        )


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "sent", "retry" or "failed"
    error: str = ""


SENT = Verdict("sent")


class ConnectionLost(Exception):
    """The connection broke mid-batch: this and the remaining messages are retried later."""


def _describe(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def _verdict(code: int, message) -> Verdict:
    return Verdict("failed" if code >= 500 else "retry", _describe(code, message))


class MailTransport:
    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailTransport:
        """Connect (STARTTLS and login when configured). Raises ConnectionLost with a readable reason."""
        s = self.settings
        try:
            self.smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            self.smtp.ehlo_or_helo_if_needed()
            if s.use_tls:
                self.smtp.starttls(context=ssl.create_default_context())
                self.smtp.ehlo()
            if s.username:
                self.smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            self._close()
            raise ConnectionLost(
                f"SMTP login refused by {s.host}:{s.port}: {_describe(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._close()
            raise ConnectionLost(
                f"SMTP server {s.host}:{s.port} answered {_describe(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._close()
            raise ConnectionLost(f"Cannot reach SMTP server {s.host}:{s.port}: {exc}") from exc
        return self

    def send(self, sender: str, recipient: str, message: bytes) -> Verdict:
        assert self.smtp is not None, "use MailTransport as a context manager"
        try:
            refused = self.smtp.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"recipient refused"))
            return _verdict(code, text)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return _verdict(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # "service closing": the connection is gone
                self._close()
                raise ConnectionLost(_describe(exc.smtp_code, exc.smtp_error)) from exc
            return _verdict(exc.smtp_code, exc.smtp_error)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._close()
            raise ConnectionLost(f"connection lost: {exc}") from exc
        if refused:
            code, text = refused[recipient]
            return _verdict(code, text)
        return SENT

    def _close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
        self.smtp = None

    def __exit__(self, *exc_info) -> None:
        self._close()
