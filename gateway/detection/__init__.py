"""Detection of suspected breaches over the access and sign-in logs, off the request path:
:mod:`~gateway.detection.rules` (what is unusual), :mod:`~gateway.detection.detector` (which
tenants a pass visits, the incidents it opens) and :mod:`~gateway.detection.webhook` (signed,
retried alerts)."""

from gateway.detection.detector import ACTIVE, Detector
from gateway.detection.rules import RULES, Alert
from gateway.detection.webhook import Webhook, parse_secret, signature

__all__ = ["ACTIVE", "RULES", "Alert", "Detector", "Webhook", "parse_secret", "signature"]
