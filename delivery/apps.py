from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Campaigns never import delivery (DESIGN.md); delivery plugs itself in here.
        from campaigns import hooks
        from delivery.engagement import DeliveryEngagement
        from delivery.services import domain_status
        from delivery.testsend import send_test_message
        from segments import engagement

        hooks.register_domain_checker(domain_status)
        hooks.register_test_sender(send_test_message)
        engagement.register(DeliveryEngagement())
