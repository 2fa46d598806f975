from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    """Every operation the audit log knows. Later issues add theirs here."""

    LOGIN = "login", _("Login")
    LOGOUT = "logout", _("Logout")
    LOGIN_FAILED = "login_failed", _("Failed login")
    LOCKOUT = "lockout", _("Account locked out")
    TWO_FACTOR_ENROLLED = "2fa_enrolled", _("Two-factor enrolled")
    TWO_FACTOR_FAILED = "2fa_failed", _("Two-factor code rejected")
    RECOVERY_CODES_GENERATED = "2fa_recovery_codes", _("Recovery codes generated")
    IP_REFUSED = "ip_refused", _("Request refused by IP allow-list")
    INVITATION_SENT = "invitation_sent", _("Invitation sent")
    INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
    INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")
    MEMBER_ADDED = "member_added", _("Member added")
    ROLE_CHANGED = "role_changed", _("Role changed")
    MEMBER_DEACTIVATED = "member_deactivated", _("Member deactivated")
    ORGANIZATION_CREATED = "organization_created", _("Organisation created")
    POLICY_CHANGED = "policy_changed", _("Organisation policy changed")
    AUDIT_EXPORTED = "audit_exported", _("Audit log exported")
    # security operations: re-authentication (accounts.reauth), sessions
    # (accounts.sessions), alerts (audit.alerts)
    REAUTH_FAILED = "reauth_failed", _("Re-authentication failed")
    SESSION_SIGNED_OUT = "session_signed_out", _("Session signed out")
    MEMBER_SIGNED_OUT = "member_signed_out", _("Member signed out everywhere")
    ALERT_ACKNOWLEDGED = "alert_acknowledged", _("Alert acknowledged")
    ALERT_RULES_CHANGED = "alert_rules_changed", _("Alert thresholds changed")
    BULK_CREATE = "bulk_create", _("Bulk create")
    BULK_UPDATE = "bulk_update", _("Bulk update")
    # contacts
    CONTACT_CREATED = "contact_created", _("Contact created")
    CONTACT_UPDATED = "contact_updated", _("Contact updated")
    CONTACT_DELETED = "contact_deleted", _("Contact deleted")
    CONTACTS_IMPORTED = "contacts_imported", _("Contacts imported")
    CONTACTS_EXPORTED = "contacts_exported", _("Contacts exported")
    # No longer written (exports use accounts.reauth, which writes REAUTH_FAILED); kept so
    # that older entries of the append-only log still show their label.
    EXPORT_REAUTH_FAILED = "export_reauth_failed", _("Export re-authentication failed")
    CONTACT_LIST_CREATED = "contact_list_created", _("Contact list created")
    CONTACT_LIST_CHANGED = "contact_list_changed", _("Contact list changed")
    CONTACT_LIST_DELETED = "contact_list_deleted", _("Contact list deleted")
    CONTACT_LIST_MEMBERS_CHANGED = "contact_list_members_changed", _("Contact list members changed")
    CONTACT_LIST_GRANT_CHANGED = "contact_list_grant_changed", _("Contact list access changed")
    SUPPRESSION_ADDED = "suppression_added", _("Address suppressed")
    SUPPRESSION_LIFTED = "suppression_lifted", _("Suppression lifted")
    CUSTOM_FIELD_CHANGED = "custom_field_changed", _("Custom field changed")
    # segments
    SEGMENT_CREATED = "segment_created", _("Segment created")
    SEGMENT_UPDATED = "segment_updated", _("Segment changed")
    SEGMENT_DELETED = "segment_deleted", _("Segment deleted")
    # campaigns
    CAMPAIGN_CREATED = "campaign_created", _("Campaign created")
    CAMPAIGN_CHANGED = "campaign_changed", _("Campaign changed")
    CAMPAIGN_CLONED = "campaign_cloned", _("Campaign cloned")
    CAMPAIGN_SUBMITTED = "campaign_submitted", _("Campaign submitted for approval")
    CAMPAIGN_WITHDRAWN = "campaign_withdrawn", _("Campaign withdrawn from approval")
    CAMPAIGN_APPROVAL_GIVEN = "campaign_approval_given", _("Campaign approval given")
    CAMPAIGN_APPROVED = "campaign_approved", _("Campaign approved")
    CAMPAIGN_REJECTED = "campaign_rejected", _("Campaign rejected")
    CAMPAIGN_SELF_APPROVAL_REFUSED = (
        "campaign_self_approval_refused",
        _("Self-approval of a campaign refused"),
    )
    CAMPAIGN_APPROVALS_VOIDED = "campaign_approvals_voided", _("Campaign approvals voided")
    CAMPAIGN_HELD = "campaign_held", _("Campaign held for re-approval")
    CAMPAIGN_CANCELLED = "campaign_cancelled", _("Campaign cancelled")
    CAMPAIGN_PAUSED = "campaign_paused", _("Campaign paused")
    CAMPAIGN_RESUMED = "campaign_resumed", _("Campaign resumed")
    CAMPAIGN_SENDING = "campaign_sending", _("Campaign sending started")
    CAMPAIGN_SENT = "campaign_sent", _("Campaign sent")
    CAMPAIGN_TEST_SENT = "campaign_test_sent", _("Campaign test send")
    LAYOUT_CREATED = "layout_created", _("Layout created")
    LAYOUT_CHANGED = "layout_changed", _("Layout changed")
    SENDER_PROFILE_CHANGED = "sender_profile_changed", _("Sender profile changed")
    # delivery
    SENDING_DOMAIN_ADDED = "sending_domain_added", _("Sending domain added")
    SENDING_DOMAIN_VERIFIED = "sending_domain_verified", _("Sending domain verified")
    SENDING_DOMAIN_CHECK_FAILED = "sending_domain_check_failed", _("Sending domain check failed")
    SENDING_DOMAIN_REMOVED = "sending_domain_removed", _("Sending domain removed")
    DKIM_KEY_GENERATED = "dkim_key_generated", _("DKIM key generated")
    RELAY_CREATED = "relay_created", _("SMTP relay added")
    RELAY_CHANGED = "relay_changed", _("SMTP relay changed")
    RELAY_REMOVED = "relay_removed", _("SMTP relay removed")
    RELAY_TESTED = "relay_tested", _("SMTP relay tested")
    CAMPAIGN_DISPATCHED = "campaign_dispatched", _("Campaign recipients frozen and queued")
    CAMPAIGN_QUOTA_REFUSED = "campaign_quota_refused", _("Campaign refused: monthly limit")
    CIRCUIT_BREAKER_TRIPPED = "circuit_breaker_tripped", _("Campaign paused: failure rate")
    RELAY_OUTAGE = "relay_outage", _("Campaign paused: relay unreachable or TLS refused")
    SENDING_FAULT = "sending_fault", _("Campaign paused: messages could not be prepared")
    SUPPRESSED_BY_BOUNCE = "suppressed_by_bounce", _("Address suppressed after a hard bounce")
    SUPPRESSED_BY_COMPLAINT = "suppressed_by_complaint", _("Address suppressed after a complaint")
    UNSUBSCRIBED = "unsubscribed", _("Recipient unsubscribed")
    LIST_UNSUBSCRIBED = "list_unsubscribed", _("Recipient left a list")
    REPORT_EXPORTED = "report_exported", _("Campaign report exported")
    # API tokens (accounts.tokens): use is recorded at most once an hour per token, and
    # whenever a token is used from a new address.
    API_TOKEN_CREATED = "api_token_created", _("API token created")
    API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")
    API_TOKEN_USED = "api_token_used", _("API token used")
