"""The manual's example as demo data, built through the same services the portal uses."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.mfa.totp.internal.auth import TOTP
from django.db import transaction
from django.utils import timezone

from toegang.accounts.models import Activation, Title, User
from toegang.applications.models import SecuredApplication
from toegang.delegation.models import Role
from toegang.delegation.services import person_get_or_create, role_appoint, subdepartment_user_add
from toegang.identifiers import cbe_make, ssin_make
from toegang.organisations.models import (
    Audience,
    Enterprise,
    EnterpriseQuality,
    IdentificationScheme,
    Quality,
    Subdepartment,
)
from toegang.organisations.services import enterprise_register, quality_activate, subdepartment_create

DEMO_PASSWORD = "toegang-demo-2026"
# Demo managers have a code from a mobile app (TOTP) with this secret: add it to an authenticator
# app, or run `make totp` for the current code. Management screens need level 400 (README).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str
    title: str
    ssin: str
    what: str


PERSONS = [
    DemoPerson("wv", "Willem", "Vertegenwoordiger", Title.MR, ssin_make(1968, 3, 14, 11), "legal representative"),
    DemoPerson("htb", "Hilde", "Hoofdbeheerder", Title.MS, ssin_make(1975, 5, 20, 22), "main access manager (HTB)"),
    DemoPerson("cohtb", "Carl", "Cohoofd", Title.MR, ssin_make(1980, 8, 1, 31), "co-main access manager"),
    DemoPerson("tb", "Tom", "Toegang", Title.MR, ssin_make(1982, 11, 9, 45), "access manager of the quality (TB)"),
    DemoPerson("cotb", "Chantal", "Cotoegang", Title.MS, ssin_make(1990, 1, 23, 52), "co-access manager"),
    DemoPerson(
        "sb",
        "Sofie",
        "Subbeheer",
        Title.MS,
        ssin_make(1987, 6, 30, 64),
        "subdepartment manager (SB) of both facilities",
    ),
    DemoPerson(
        "cosb", "Koen", "Cosub", Title.MR, ssin_make(2001, 2, 3, 71), "co-subdepartment manager of Campus Noord"
    ),
    DemoPerson(
        "gebruiker",
        "Greet",
        "Gebruiker",
        Title.MS,
        ssin_make(1995, 9, 12, 88),
        "user of Campus Noord and of the short-stay centre (E-loket, RaaS)",
    ),
    DemoPerson("ander", "Anna", "Anders", Title.MS, ssin_make(1979, 4, 4, 94), "HTB of another enterprise"),
]

APPLICATIONS = [
    (
        "cirro",
        ("CIRRO",) * 4,
        "https://www.zorg-en-gezondheid.be/cirro",
        (
            "Communicatie, Interactie, Resultaatsgerichtheid, Registratie, Ondersteuning",
            "Communication, Interaction, Orientation résultats, Enregistrement, Soutien",
            "Kommunikation, Interaktion, Ergebnisorientierung, Registrierung, Unterstützung",
            "Communication, Interaction, Results orientation, Registration, Support",
        ),
    ),
    (
        "eloket",
        ("E-loket Zorg en Gezondheid",) * 4,
        "https://eloket.zorg-en-gezondheid.be/",
        (
            "E-loket Zorg en Gezondheid",
            "Guichet électronique Soins et Santé",
            "E-Schalter Pflege und Gesundheit",
            "E-desk Care and Health",
        ),
    ),
    (
        "raas",
        ("RaaS",) * 4,
        "https://www.zorg-en-gezondheid.be/raas",
        ("RVT als dienst", "MRS en tant que service", "Pflegeheim als Dienst", "Nursing home as a service"),
    ),
]


def catalogue_load() -> Quality:
    """The catalogue of the demo and of the tests: the three applications and the quality that offers them."""
    apps = []
    for code, names, url, descriptions in APPLICATIONS:
        app, _ = SecuredApplication.objects.update_or_create(
            code=code,
            defaults={
                "url": url,
                **{f"name_{lang}": n for lang, n in zip(("nl", "fr", "de", "en"), names, strict=True)},
                **{f"description_{lang}": d for lang, d in zip(("nl", "fr", "de", "en"), descriptions, strict=True)},
            },
        )
        apps.append(app)
    quality, _ = Quality.objects.update_or_create(
        code="residential_care",
        defaults={
            "audience": Audience.objects.get(code="healthcare_actor"),
            "name_nl": "Residentiële zorginstelling",
            "name_fr": "Établissement de soins résidentiels",
            "name_de": "Stationäre Pflegeeinrichtung",
            "name_en": "Residential care facility",
            "identification_scheme": IdentificationScheme.NIHII,
            # The RIZIV/INAMI number, as each language names it (docs/glossary.md).
            "identification_label_nl": "RIZIV-nummer",
            "identification_label_fr": "Numéro INAMI",
            "identification_label_de": "LIKIV-Nummer",
            "identification_label_en": "NIHII number",
        },
    )
    quality.applications.set(apps)
    Quality.objects.update_or_create(
        code="employer",
        defaults={
            "audience": Audience.objects.get(code="employer"),
            "name_nl": "Werkgever",
            "name_fr": "Employeur",
            "name_de": "Arbeitgeber",
            "name_en": "Employer",
            "identification_scheme": IdentificationScheme.DIGITS,
        },
    )
    return quality


@transaction.atomic
def demo_load() -> list[DemoPerson]:
    operator, _ = User.objects.get_or_create(
        username="operator",
        defaults={"first_name": "Olga", "last_name": "Operator", "is_staff": True, "is_superuser": True},
    )
    operator.set_password(DEMO_PASSWORD)
    operator.save()
    TOTP.activate(operator, DEMO_TOTP_SECRET)
    people: dict[str, User] = {}
    for p in PERSONS:
        person, _ = person_get_or_create(ssin=p.ssin, first_name=p.first_name, last_name=p.last_name)
        person.username, person.title = p.username, p.title
        # The demo persons activated their accounts themselves: a password, their own login address.
        person.email = f"{p.username}@demo.toegang.invalid"
        person.activation, person.activated_at = Activation.PERSON, timezone.now()
        person.set_password(DEMO_PASSWORD)
        person.save()
        if p.username != "gebruiker":  # a plain user logs in with a password alone
            TOTP.activate(person, DEMO_TOTP_SECRET)
        people[p.username] = person
    quality = catalogue_load()
    apps = list(quality.applications.all())

    def add(by: User, role: Role, scope: Enterprise | EnterpriseQuality | Subdepartment, who: str) -> None:
        p = people[who]
        role_appoint(actor=by, role=role, scope=scope, ssin=p.ssin or "", email=p.email, phone="+32 2 000 00 00")

    zonnebloem = enterprise_register(actor=operator, cbe_number=cbe_make(4031707), name="WZC De Zonnebloem vzw")
    add(operator, Role.LEGAL_REPRESENTATIVE, zonnebloem, "wv")
    add(people["wv"], Role.MAIN_ACCESS_MANAGER, zonnebloem, "htb")
    add(people["htb"], Role.CO_MAIN_ACCESS_MANAGER, zonnebloem, "cohtb")
    eq = quality_activate(actor=people["htb"], enterprise=zonnebloem, quality=quality)
    add(people["htb"], Role.ACCESS_MANAGER, eq, "tb")
    add(people["tb"], Role.CO_ACCESS_MANAGER, eq, "cotb")
    sd = subdepartment_create(
        actor=people["tb"],
        enterprise_quality=eq,
        name="Residentiële zorginstelling",
        identification_code="71000040345",
        applications=apps,
    )
    # The manual's step 6 starts here: the facility's list holds only its manager (SB), and ends
    # with two users once the SB adds one.
    add(people["tb"], Role.SUBDEPARTMENT_MANAGER, sd, "sb")
    # A second facility of the same SB (the manual's entity choice shows two "Subafdeling" links),
    # with the co-SB and a user who already has applications.
    noord = subdepartment_create(
        actor=people["tb"],
        enterprise_quality=eq,
        name="Residentiële zorginstelling Campus Noord",
        identification_code="71000238",
        applications=apps,
    )
    add(people["tb"], Role.SUBDEPARTMENT_MANAGER, noord, "sb")
    add(people["sb"], Role.CO_SUBDEPARTMENT_MANAGER, noord, "cosb")
    greet = people["gebruiker"]
    subdepartment_user_add(
        actor=people["sb"],
        subdepartment=noord,
        ssin=greet.ssin or "",
        email=greet.email,
        applications=[a for a in apps if a.code in ("eloket", "raas")],
    )
    # A user whose name has accents, found by the list's search as people type it ("lefevre").
    subdepartment_user_add(
        actor=people["sb"],
        subdepartment=noord,
        ssin=ssin_make(1993, 10, 5, 117),
        email="zoe.lefevre@demo.toegang.invalid",
        first_name="Zoë",
        last_name="Lefèvre",
        title=Title.MS,
        language="fr",
        applications=[a for a in apps if a.code == "raas"],
    )
    # A third facility, managed by the TB directly (the TB may do step 6 too), where the same user
    # also works: the applications' facility picker then offers two facilities.
    kortverblijf = subdepartment_create(
        actor=people["tb"],
        enterprise_quality=eq,
        name="Centrum voor kortverblijf De Zonnebloem",
        identification_code="71000337",
        applications=apps,
    )
    subdepartment_user_add(
        actor=people["tb"],
        subdepartment=kortverblijf,
        ssin=greet.ssin or "",
        email=greet.email,
        applications=[a for a in apps if a.code in ("eloket", "raas")],
    )

    # A second enterprise of the same legal representative, with nothing appointed yet: the one
    # to carry through steps 1-5 by hand.
    nieuw = enterprise_register(actor=operator, cbe_number=cbe_make(12345678), name="Zorggroep Nieuwe Horizon vzw")
    add(operator, Role.LEGAL_REPRESENTATIVE, nieuw, "wv")

    # Another tenant, to see that nothing crosses enterprises.
    ander = enterprise_register(actor=operator, cbe_number=cbe_make(8765432), name="Andere Zorg vzw")
    add(operator, Role.LEGAL_REPRESENTATIVE, ander, "ander")
    add(people["ander"], Role.MAIN_ACCESS_MANAGER, ander, "ander")
    return PERSONS
