"""The data categories of what a breach touched, and what they mean for the people concerned.

The category of each datasheet field is declared with the field (schema.datasheets); this adds
the few names the access log uses besides datasheet fields, and the plain words a report to the
authority (Art. 33(3)) and a notification to the people (Art. 34) use for each category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schema.datasheets import DATASHEETS, DataCategory, Datasheet, FieldType

__all__ = [
    "CONSEQUENCES",
    "DESCRIPTIONS",
    "category_of",
    "email_fields",
    "likely_consequences",
]

#: Categories of what the access log names besides datasheet fields: a user's sign-in
#: address, IP address and user agent (``users``), values read through the audit log of an
#: entry about no record (``audit``, e.g. a subject access request's address).
_OTHER_FIELDS: Mapping[str, Mapping[str, DataCategory]] = {
    "users": {
        "email": DataCategory.CONTACT,
        "ip": DataCategory.IDENTIFIERS,
        "userAgent": DataCategory.IDENTIFIERS,
    },
    "audit": {"email": DataCategory.CONTACT},
}

#: Each category in plain words, as the people concerned read it.
DESCRIPTIONS: Mapping[DataCategory, str] = {
    DataCategory.IDENTITY: "your name and date of birth",
    DataCategory.CONTACT: "your contact details (email addresses, phone numbers, postal address)",
    DataCategory.IDENTIFIERS: "identifiers such as a national id number or online identifiers",
    DataCategory.FINANCIAL: "financial details such as salary",
    DataCategory.EMPLOYMENT: "details of your job, employment or application",
    DataCategory.FREE_TEXT: "free-text notes or documents (such as a CV) that may hold anything",
    DataCategory.OTHER: "other details",
}

#: The likely consequences of each category getting into the wrong hands.
CONSEQUENCES: Mapping[DataCategory, str] = {
    DataCategory.IDENTITY: "impersonation or identity fraud when combined with other details",
    DataCategory.CONTACT: "unsolicited messages and phishing that use your details to look genuine",
    DataCategory.IDENTIFIERS: "identity fraud using identifiers that are hard to change",
    DataCategory.FINANCIAL: "targeted fraud, and disclosure of your financial situation",
    DataCategory.EMPLOYMENT: "disclosure of your professional situation to others",
    DataCategory.FREE_TEXT: "disclosure of whatever notes or documents hold, possibly sensitive",
    DataCategory.OTHER: "disclosure of the details concerned",
}


def category_of(datasheet: str, field_name: str) -> DataCategory:
    """The declared category of *field_name* of *datasheet* (``OTHER`` if undeclared)."""
    sheet = DATASHEETS.get(datasheet)
    if sheet is not None and (declared := sheet.by_name.get(field_name)) is not None:
        return declared.category
    return _OTHER_FIELDS.get(datasheet, {}).get(field_name, DataCategory.OTHER)


def likely_consequences(categories: Iterable[str]) -> list[str]:
    """The likely consequences of the categories named *categories* (their values), in the
    categories' declaration order; unknown names are ``OTHER``."""
    known = {c.value for c in DataCategory}
    named = {DataCategory(c) if c in known else DataCategory.OTHER for c in categories}
    return [CONSEQUENCES[c] for c in DataCategory if c in named]


def email_fields(sheet: Datasheet) -> tuple[str, ...]:
    """The fields of *sheet* that hold a person's email address, in declaration order."""
    return tuple(
        f.name
        for f in sheet.fields
        if f.type is FieldType.EMAIL and f.category is DataCategory.CONTACT
    )
