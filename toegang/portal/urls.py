from django.urls import path, re_path

from toegang.portal.views import (
    about,
    account,
    activation,
    audit,
    enterprise,
    help,
    home,
    login,
    operator,
    subdepartment,
    user,
    users,
    users_import,
)

app_name = "portal"

urlpatterns = [
    path("", home.home, name="home"),
    path("help/", help.help_page, name="help"),
    path("help/img/<str:lang>/<str:name>", help.help_image, name="help_image"),
    path("about/<slug:page>/", about.about, name="about"),
    path("audience/", login.audience, name="audience"),
    path("step-up/", login.step_up, name="step_up"),
    path("activate/<str:token>/", activation.activate, name="activate"),
    path("me/claim/", account.claim, name="claim"),
    path("me/history/", audit.my_history, name="my_history"),
    path("e/<int:pk>/legal/", enterprise.legal, name="legal"),
    path("e/<int:pk>/", enterprise.enterprise_home, name="enterprise"),
    path("q/<int:pk>/", enterprise.quality_home, name="quality"),
    path("s/<int:pk>/", subdepartment.home, name="subdepartment"),
    path("s/<int:pk>/details/", subdepartment.details, name="subdepartment_details"),
    path("s/<int:pk>/affairs/", subdepartment.affairs, name="subdepartment_affairs"),
    path("s/<int:pk>/certificates/", subdepartment.certificates, name="certificates"),
    path(
        "s/<int:pk>/certificates/<int:certificate_pk>/replace/",
        subdepartment.certificate_replace_view,
        name="certificate_replace",
    ),
    path(
        "s/<int:pk>/certificates/<int:certificate_pk>/revoke/",
        subdepartment.certificate_revoke_view,
        name="certificate_revoke",
    ),
    path("me/", account.me, name="me"),
    re_path(r"^(?P<level>[eqs])/(?P<pk>[0-9]+)/audit/$", audit.audit, name="audit"),
    path("roles/<int:pk>/end/", home.role_end_view, name="role_end"),
    path("s/<int:pk>/users/", users.users_list, name="users"),
    path("s/<int:pk>/users/bulk/", users.users_bulk, name="users_bulk"),
    path("s/<int:pk>/users/export.csv", users.users_export, name="users_export"),
    path("s/<int:pk>/users/import/", users_import.users_import, name="users_import"),
    path("s/<int:pk>/users/import/template.csv", users_import.users_import_template, name="users_import_template"),
    path("s/<int:pk>/users/import/<int:import_pk>/", users_import.users_import_progress, name="users_import_progress"),
    path(
        "s/<int:pk>/users/import/<int:import_pk>/status/", users_import.users_import_status, name="users_import_status"
    ),
    path(
        "s/<int:pk>/users/import/<int:import_pk>/report/", users_import.users_import_report, name="users_import_report"
    ),
    path("s/<int:pk>/users/new/", user.user_add, name="user_add"),
    path("s/<int:pk>/users/<int:membership_pk>/", user.user_detail, name="user_detail"),
    path("s/<int:pk>/users/<int:membership_pk>/end/", user.user_end, name="user_end"),
    path("s/<int:pk>/users/<int:membership_pk>/last-day/", user.user_last_day, name="user_last_day"),
    path("s/<int:pk>/users/<int:membership_pk>/person/", user.user_correct, name="user_correct"),
    path("s/<int:pk>/users/<int:membership_pk>/again/", user.user_access_again, name="user_access_again"),
    path("s/<int:pk>/users/<int:membership_pk>/activation/", user.user_activation, name="user_activation"),
    path("operator/", operator.operator_home, name="operator"),
    path("operator/e/<int:pk>/", operator.operator_enterprise, name="operator_enterprise"),
]
