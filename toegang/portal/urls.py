from django.urls import path, re_path

from toegang.portal import user_views, users, views
from toegang.portal.csv_import import users_import

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("help/", views.help_page, name="help"),
    path("e/<int:pk>/legal/", views.legal, name="legal"),
    path("e/<int:pk>/", views.enterprise_home, name="enterprise"),
    path("q/<int:pk>/", views.quality_home, name="quality"),
    path("s/<int:pk>/", views.subdepartment_home, name="subdepartment"),
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
