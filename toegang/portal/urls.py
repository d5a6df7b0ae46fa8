from django.urls import path, re_path

from toegang.portal import account_views, help_views, login_views, subdepartment_views, user_views, users, views
from toegang.portal.csv_import import users_import

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("help/", help_views.help_page, name="help"),
    path("help/img/<str:name>", help_views.help_image, name="help_image"),
    path("audience/", login_views.audience, name="audience"),
    path("step-up/", login_views.step_up, name="step_up"),
    path("me/history/", login_views.my_history, name="my_history"),
    path("e/<int:pk>/legal/", views.legal, name="legal"),
    path("e/<int:pk>/", views.enterprise_home, name="enterprise"),
    path("q/<int:pk>/", views.quality_home, name="quality"),
    path("s/<int:pk>/", subdepartment_views.home, name="subdepartment"),
    path("s/<int:pk>/details/", subdepartment_views.details, name="subdepartment_details"),
    path("s/<int:pk>/affairs/", subdepartment_views.affairs, name="subdepartment_affairs"),
    path("s/<int:pk>/certificates/", subdepartment_views.certificates, name="certificates"),
    path(
        "s/<int:pk>/certificates/<int:certificate_pk>/replace/",
        subdepartment_views.certificate_replace_view,
        name="certificate_replace",
    ),
    path(
        "s/<int:pk>/certificates/<int:certificate_pk>/revoke/",
        subdepartment_views.certificate_revoke_view,
        name="certificate_revoke",
    ),
    path("me/", account_views.me, name="me"),
    re_path(r"^(?P<level>[eqs])/(?P<pk>[0-9]+)/audit/$", views.audit, name="audit"),
    path("roles/<int:pk>/end/", views.role_end_view, name="role_end"),
    path("s/<int:pk>/users/", users.users_list, name="users"),
    path("s/<int:pk>/users/bulk/", users.users_bulk, name="users_bulk"),
    path("s/<int:pk>/users/export.csv", users.users_export, name="users_export"),
    path("s/<int:pk>/users/import/", users_import, name="users_import"),
    path("s/<int:pk>/users/new/", user_views.user_add, name="user_add"),
    path("s/<int:pk>/users/<int:membership_pk>/", user_views.user_detail, name="user_detail"),
    path("s/<int:pk>/users/<int:membership_pk>/end/", user_views.user_end, name="user_end"),
    path("operator/", views.operator_home, name="operator"),
    path("operator/e/<int:pk>/", views.operator_enterprise, name="operator_enterprise"),
]
