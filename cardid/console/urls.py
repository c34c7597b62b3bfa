"""URLs of the administrator's console, under /admin/; the paths mirror the reference's."""

from django.urls import path

from cardid.console.views import home, logs, options, people, tokens, webhooks

app_name = "console"

urlpatterns = [
    path("", home.dashboard, name="dashboard"),
    path("login", home.login, name="login"),
    path("logout", home.logout, name="logout"),
    path("sign-in", home.sso_start, name="sso-start"),
    path("sign-in/done", home.sso_done, name="sso-done"),
    path("options/security/unlock", options.unlock, name="unlock"),
    path("options/sync/test", options.sync_test, name="sync-test"),
    path("options/sign-in/test", options.sign_in_test, name="sign-in-test"),
    path("options/sync/run", options.sync_now, name="sync-now"),
    path("options/sync/apply/<int:pk>", options.sync_apply, name="sync-apply"),
    path("options/notifications/preview", options.notification_preview, name="preview"),
    path("options/notifications/test", options.notification_test, name="test-mail"),
    path("options/card-readers/rules", options.rule_save, name="rule-save"),
    path("options/card-readers/rules/delete", options.rule_delete, name="rule-delete"),
    path("options/card-readers/try", options.rule_try, name="rule-try"),
    path("options/card-readers/derive", options.rule_derive, name="rule-derive"),
    path("options/<slug:slug>", options.options_page, name="options"),
    path("users/", people.users, name="users"),
    path("users/print", people.users_print, name="users-print"),
    path("users/import", people.users_import, name="users-import"),
    path("users/import/apply", people.users_import_apply, name="users-import-apply"),
    path("users/export.csv", people.users_export, name="users-export"),
    path("tokens/", tokens.api_tokens, name="tokens"),
    path("webhooks", webhooks.webhooks, name="webhooks"),
    path("webhooks/remove", webhooks.webhook_remove, name="webhook-remove"),
    path("tokens/revoke", tokens.api_token_revoke, name="token-revoke"),
    path("users/<int:pk>/", people.user_detail, name="user"),
    path("users/<int:pk>/numbers", people.user_numbers, name="user-numbers"),
    path("users/<int:pk>/generate", people.user_generate, name="user-generate"),
    path("users/<int:pk>/clear", people.user_clear, name="user-clear"),
    path("users/<int:pk>/pin", people.user_pin, name="user-pin"),
    path("groups/", people.groups, name="groups"),
    path("groups/bulk", people.bulk, name="bulk"),
    path("groups/<int:pk>/", people.group_detail, name="group"),
    path("jobs/", logs.jobs, name="jobs"),
    path("jobs/<int:pk>/", logs.job_detail, name="job"),
    path("jobs/<int:pk>/download", logs.job_download, name="job-download"),
    path("jobs/<int:pk>/again", logs.job_again, name="job-again"),
    path("sync/", logs.sync_history, name="sync-history"),
    path("sync/<int:pk>/", logs.sync_run, name="sync-run"),
    path("notifications/", logs.notification_log, name="notifications"),
    path("audit/", logs.audit_log, name="audit"),
    path("audit/export.csv", logs.audit_csv, name="audit-csv"),
]
