from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import tenancy

        # The post_migrate and connection receivers are connected by importing tenancy;
        # the grant guard needs guardian's models, which are loaded by now.
        tenancy.connect_grant_guard()
