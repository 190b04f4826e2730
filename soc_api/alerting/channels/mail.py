"""E-mail over SMTP with STARTTLS: one message per notification (text and HTML alternatives; a
bulletin's HTML inline and its PDF attached). The idempotency key is the `Message-ID` (and an
`X-Datasoc-Idempotency-Key` header), so a mail system or a reader can tell a repeat."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from soc_api.alerting.channels.base import Delivery, Sender, SendResult, tls_context
from soc_api.alerting.errors import DeliveryError
from soc_api.alerting.notices import Notice, created, html, text, title


class SmtpSender(Sender):
    """SMTP (see module docstring); a new connection per delivery (mail is not the bulk channel)."""

    type = "smtp"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._context = tls_context(settings.ca_file)

    def message(self, notice: Notice, key: str, delivery: Delivery) -> EmailMessage:
        """The e-mail of one notification."""
        s = self.settings
        message = EmailMessage()
        message["Subject"] = title(notice)
        message["From"] = s.sender
        message["To"] = ", ".join(s.to)
        message["Date"] = formatdate(created(notice).timestamp(), usegmt=True)
        domain = s.sender.split("@", 1)[1]
        message["Message-ID"] = f"<{key}@{domain}>"
        message["X-Datasoc-Idempotency-Key"] = key
        message.set_content(text(notice))
        bulletin = notice.bulletin
        documents = delivery.documents(bulletin.id) if bulletin is not None else None
        if bulletin is not None and documents is not None:
            message.add_alternative(documents.html.decode("utf-8"), subtype="html")
            message.add_attachment(
                documents.pdf, maintype="application", subtype="pdf", filename=f"{bulletin.id}.pdf"
            )
        else:
            message.add_alternative(html(notice), subtype="html")
        return message

    def send(self, delivery: Delivery) -> SendResult:
        s = self.settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if s.username and s.password is not None:
                    smtp.login(s.username, s.password.get_secret_value())
                for notice in delivery.notices:  # decoded once, here
                    key = notice.key if len(delivery.payloads) > 1 else delivery.key
                    smtp.send_message(self.message(notice, key, delivery))
        except smtplib.SMTPResponseException as exc:
            # 5xx is permanent (bad recipient, refused): retrying cannot help; 4xx is temporary.
            raise DeliveryError(f"{self.name}: SMTP {exc.smtp_code}", retry=exc.smtp_code < 500) from None
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}") from None
        return SendResult()
