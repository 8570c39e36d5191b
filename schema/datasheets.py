"""The one declaration of every datasheet.

A datasheet is a kind of personal-data record (employees, contacts, job applicants).
Each field is declared once here, as plain data: its name (used both as the GraphQL
field name and as the stored key), its type, whether it is required on create, and how
it is kept at rest. Everything else is derived from these declarations: the GraphQL
types and inputs (:mod:`schema.types`), the storage projection and encryption
(:mod:`storage`), and export columns.

Sensitivity decides storage:

- ``PLAINTEXT``: stored as is; filterable and sortable. Only for non-personal
  organisational facts (department, job title, stage...).
- ``DETERMINISTIC``: encrypted with AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic, so the
  same value gives the same ciphertext and equality filters work (emails, last names,
  national ids).
- ``RANDOM``: encrypted with the randomized algorithm; never filterable.

Each field also declares its data category (:class:`DataCategory`): what kind of personal
data it is, as a breach report (GDPR Art. 33(3)) and a notification name it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "DATASHEETS",
    "EMAIL",
    "DataCategory",
    "Datasheet",
    "Field",
    "FieldType",
    "Sensitivity",
    "datasheet",
]


class Sensitivity(enum.Enum):
    PLAINTEXT = "plaintext"
    DETERMINISTIC = "deterministic"
    RANDOM = "random"


class FieldType(enum.Enum):
    STRING = "String"
    EMAIL = "Email"
    INT = "Int"
    DATE = "Date"
    ENUM = "Enum"


class DataCategory(enum.Enum):
    """The kinds of personal data a field holds, declared with each field."""

    #: Names and dates of birth: who the person is.
    IDENTITY = "identity"
    #: Email addresses, phone numbers, postal addresses: how to reach the person.
    CONTACT = "contact"
    #: National ids, and online identifiers (IP addresses, user agents).
    IDENTIFIERS = "identifiers"
    #: Salaries and other amounts of money.
    FINANCIAL = "financial"
    #: Jobs, departments, employment and application status, companies, dates of these.
    EMPLOYMENT = "employment"
    #: Free text (notes, CVs): may hold anything, special categories included.
    FREE_TEXT = "free_text"
    #: Not declared (fields of no datasheet).
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a datasheet."""

    name: str
    type: FieldType
    sensitivity: Sensitivity
    required: bool = False
    description: str = ""
    #: For ``FieldType.ENUM``: the GraphQL enum's name and its values.
    enum_name: str | None = None
    enum_values: tuple[str, ...] = ()
    #: Longest accepted string, in characters (strings and emails only).
    max_length: int = 200
    #: What kind of personal data it is (reports and notifications of breaches).
    category: DataCategory = DataCategory.OTHER

    @property
    def encrypted(self) -> bool:
        return self.sensitivity is not Sensitivity.PLAINTEXT

    @property
    def filterable(self) -> bool:
        """Equality filters work on plaintext and deterministic-encrypted fields only."""
        return self.sensitivity is not Sensitivity.RANDOM


@dataclass(frozen=True, slots=True)
class Datasheet:
    """A kind of record: its collection, GraphQL names and fields."""

    name: str  # collection name and plural GraphQL query field, e.g. "employees"
    type_name: str  # GraphQL object type, e.g. "Employee"
    singular: str  # GraphQL single-record query field, e.g. "employee"
    description: str
    fields: tuple[Field, ...]
    by_name: Mapping[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"datasheet {self.name}: duplicate field names")
        reserved = {"id", "version", "archived", "createdAt", "updatedAt"}
        if clash := reserved.intersection(names):
            raise ValueError(f"datasheet {self.name}: reserved field names {sorted(clash)}")
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def encrypted_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.encrypted)


P, D, R = Sensitivity.PLAINTEXT, Sensitivity.DETERMINISTIC, Sensitivity.RANDOM
S, E, INT, DT, EN = FieldType.STRING, FieldType.EMAIL, FieldType.INT, FieldType.DATE, FieldType.ENUM
ID_, CT, IDS = DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.IDENTIFIERS
FIN, EMP, FT = DataCategory.FINANCIAL, DataCategory.EMPLOYMENT, DataCategory.FREE_TEXT

#: An email address outside the datasheets: a user's sign-in address, a data subject's
#: address in an access or erasure request. Deterministic, so it can be looked up.
EMAIL = Field("email", E, D, required=True, max_length=254, category=CT)

EMPLOYEES = Datasheet(
    name="employees",
    type_name="Employee",
    singular="employee",
    description="People employed by the client organisation.",
    fields=(
        Field("firstName", S, R, required=True, category=ID_),
        Field("lastName", S, D, required=True, description="Searchable by equality.", category=ID_),
        Field("workEmail", E, D, required=True, max_length=254, category=CT),
        Field("personalEmail", E, D, max_length=254, category=CT),
        Field("phone", S, R, max_length=40, category=CT),
        Field("dateOfBirth", DT, R, category=ID_),
        Field(
            "nationalId", S, D, max_length=40, description="Searchable by equality.", category=IDS
        ),
        Field("address", S, R, max_length=500, category=CT),
        Field("jobTitle", S, P, category=EMP),
        Field("department", S, P, category=EMP),
        Field(
            "salary", INT, R, description="Gross yearly salary, whole currency units.", category=FIN
        ),
        Field("startDate", DT, P, category=EMP),
        Field(
            "status",
            EN,
            P,
            required=True,
            enum_name="EmploymentStatus",
            enum_values=("ACTIVE", "ON_LEAVE", "TERMINATED"),
            category=EMP,
        ),
    ),
)

CONTACTS = Datasheet(
    name="contacts",
    type_name="Contact",
    singular="contact",
    description="People at customers, suppliers and partners.",
    fields=(
        Field("firstName", S, R, required=True, category=ID_),
        Field("lastName", S, D, required=True, category=ID_),
        Field("email", E, D, max_length=254, category=CT),
        Field("phone", S, R, max_length=40, category=CT),
        Field("company", S, P, category=EMP),
        Field("jobTitle", S, P, category=EMP),
        Field("address", S, R, max_length=500, category=CT),
        Field("notes", S, R, max_length=5000, category=FT),
        Field(
            "kind",
            EN,
            P,
            required=True,
            enum_name="ContactKind",
            enum_values=("CUSTOMER", "SUPPLIER", "PARTNER", "OTHER"),
            category=EMP,
        ),
    ),
)

APPLICANTS = Datasheet(
    name="applicants",
    type_name="JobApplicant",
    singular="applicant",
    description="People who applied for a position.",
    fields=(
        Field("firstName", S, R, required=True, category=ID_),
        Field("lastName", S, D, required=True, category=ID_),
        Field("email", E, D, required=True, max_length=254, category=CT),
        Field("phone", S, R, max_length=40, category=CT),
        Field("position", S, P, required=True, category=EMP),
        Field(
            "stage",
            EN,
            P,
            required=True,
            enum_name="ApplicationStage",
            enum_values=("APPLIED", "SCREENING", "INTERVIEW", "OFFER", "HIRED", "REJECTED"),
            category=EMP,
        ),
        Field("source", S, P, category=EMP),
        Field("appliedOn", DT, P, category=EMP),
        Field("expectedSalary", INT, R, category=FIN),
        Field("cvText", S, R, max_length=20000, description="The CV as plain text.", category=FT),
    ),
)

DATASHEETS: Mapping[str, Datasheet] = {d.name: d for d in (EMPLOYEES, CONTACTS, APPLICANTS)}


def datasheet(name: str) -> Datasheet:
    """The datasheet called *name*; ``KeyError`` if there is none."""
    return DATASHEETS[name]
