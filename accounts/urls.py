from django.urls import path

from accounts import reauth, sessions_views, views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("account/security/", views.security, name="security"),
    path("account/2fa/setup/", views.two_factor_setup, name="2fa_setup"),
    path("account/2fa/verify/", views.two_factor_verify, name="2fa_verify"),
    path("account/2fa/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("account/reauth/", reauth.reauth_view, name="reauth"),
    path("account/sessions/", sessions_views.sessions_page, name="sessions"),
    path("account/sessions/sign-out/", sessions_views.session_sign_out, name="session_sign_out"),
    path(
        "account/sessions/sign-out-others/",
        sessions_views.sessions_sign_out_others,
        name="sessions_sign_out_others",
    ),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("o/<slug:org_slug>/", views.dashboard, name="dashboard"),
    path("o/<slug:org_slug>/members/", views.members, name="members"),
    path("o/<slug:org_slug>/members/invite/", views.invite, name="invite"),
    path("o/<slug:org_slug>/members/<int:member_id>/role/", views.member_role, name="member_role"),
    path(
        "o/<slug:org_slug>/members/<int:member_id>/sign-out/",
        sessions_views.member_sign_out,
        name="member_sign_out",
    ),
    path(
        "o/<slug:org_slug>/members/<int:member_id>/deactivate/",
        views.member_deactivate,
        name="member_deactivate",
    ),
    path(
        "o/<slug:org_slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("o/<slug:org_slug>/settings/", views.org_settings, name="settings"),
]
