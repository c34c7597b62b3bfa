"""URLs of the administrator's console, under /admin/; the paths mirror the reference's."""

from django.urls import path

from cardid.console import views

app_name = "console"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("options/sync/test", views.sync_test, name="sync-test"),
    path("options/sync/run", views.sync_now, name="sync-now"),
    path("options/notifications/preview", views.notification_preview, name="preview"),
    path("options/notifications/test", views.notification_test, name="test-mail"),
    path("options/card-readers/rules", views.rule_save, name="rule-save"),
    path("options/card-readers/rules/delete", views.rule_delete, name="rule-delete"),
    path("options/card-readers/try", views.rule_try, name="rule-try"),
    path("options/card-readers/derive", views.rule_derive, name="rule-derive"),
    path("options/<slug:slug>", views.options_page, name="options"),
    path("users/", views.users, name="users"),
    path("users/print", views.users_print, name="users-print"),
    path("users/import", views.users_import, name="users-import"),
    path("users/export.csv", views.users_export, name="users-export"),
    path("tokens/", views.api_tokens, name="tokens"),
    path("tokens/revoke", views.api_token_revoke, name="token-revoke"),
    path("users/<int:pk>/", views.user_detail, name="user"),
    path("users/<int:pk>/numbers", views.user_numbers, name="user-numbers"),
    path("users/<int:pk>/generate", views.user_generate, name="user-generate"),
    path("users/<int:pk>/clear", views.user_clear, name="user-clear"),
    path("users/<int:pk>/pin", views.user_pin, name="user-pin"),
    path("groups/", views.groups, name="groups"),
    path("groups/bulk", views.bulk, name="bulk"),
    path("groups/<int:pk>/", views.group_detail, name="group"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/download", views.job_download, name="job-download"),
    path("sync/", views.sync_history, name="sync-history"),
    path("sync/<int:pk>/", views.sync_run, name="sync-run"),
    path("notifications/", views.notification_log, name="notifications"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/export.csv", views.audit_csv, name="audit-csv"),
]
