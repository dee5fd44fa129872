"""Accounts API input and output. Inputs forbid unknown fields and bound every string, so a malformed payload
is a 422 ``invalid_request`` from the shared handler before any code runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from o2o.accounts.permissions import Role

PHONE_EXAMPLE = "+86 138 0013 8000"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --------------------------------------------------------------------------------------------------------------
# Codes and sessions


class CodeRequest(_In):
    phone: str = Field(
        min_length=1,
        max_length=32,
        description="A mobile number; without `+country` it is read as the platform's region (China).",
        examples=[PHONE_EXAMPLE],
    )


class CodeSentOut(_Out):
    phone_e164: str = Field(examples=["+8613800138000"])
    expires_at: dt.datetime = Field(description="The code works until then (UTC).")


class SessionCreate(_In):
    """Sign in (or up) with the code from the text message, or sign in with a password."""

    phone: str = Field(min_length=1, max_length=32, examples=[PHONE_EXAMPLE])
    code: str | None = Field(
        default=None,
        min_length=6,
        max_length=6,
        pattern=r"^[0-9]{6}$",
        description="The 6-digit code sent by SMS.",
    )
    password: str | None = Field(default=None, min_length=1, max_length=128)
    display_name: str | None = Field(
        default=None, max_length=50, description="Used when this sign-in creates the account."
    )

    @model_validator(mode="after")
    def _one_proof(self) -> SessionCreate:
        if (self.code is None) == (self.password is None):
            raise ValueError("give either `code` or `password`")
        if self.password is not None and self.display_name is not None:
            raise ValueError("`display_name` goes with a code (sign-up), not a password")
        return self

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"phone": PHONE_EXAMPLE, "code": "123456"},
                {"phone": "+8613800138000", "password": "correct horse battery staple"},
            ]
        },
    )


class RoleGrantOut(_Out):
    id: uuid.UUID
    role: Role
    city_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    created_at: dt.datetime


class PersonOut(_Out):
    """The signed-in person's own profile."""

    id: uuid.UUID
    phone_e164: str = Field(examples=["+8613800138000"])
    phone_masked: str = Field(examples=["+86 138****8000"])
    display_name: str | None = Field(default=None, examples=["Li Lei"])
    locale: str = Field(examples=["zh-CN"])
    home_city_id: uuid.UUID | None = None
    has_password: bool
    verified: bool = Field(description="True once the real name is verified with a resident identity number.")
    real_name: str | None = None
    id_number_masked: str | None = Field(default=None, examples=["110105********0021"])
    age: int | None = Field(default=None, description="From the verified birth date; null until verified.")
    roles: list[RoleGrantOut]
    created_at: dt.datetime


class SessionOut(_Out):
    token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown once; keep it secret.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: dt.datetime
    created: bool = Field(description="True when this sign-in created the account (sign-up).")
    person: PersonOut


class DeviceOut(_Out):
    """One signed-in session (a device or an API client)."""

    id: uuid.UUID
    method: str = Field(examples=["otp"])
    channel: str = Field(examples=["api"])
    user_agent: str | None = None
    created_at: dt.datetime
    expires_at: dt.datetime
    current: bool


# --------------------------------------------------------------------------------------------------------------
# Profile, password, real name


class ProfileUpdate(_In):
    """Only the fields given change; `null` clears the display name or the home city."""

    display_name: str | None = Field(default=None, max_length=50, examples=["Li Lei"])
    locale: str | None = Field(
        default=None, max_length=16, examples=["zh-CN"], description="en, zh-CN or ko-KR"
    )
    home_city_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _locale_not_null(self) -> ProfileUpdate:
        if "locale" in self.model_fields_set and self.locale is None:
            raise ValueError("`locale` cannot be null")
        return self


class PasswordSet(_In):
    password: str = Field(min_length=8, max_length=128, examples=["correct horse battery staple"])
    current_password: str | None = Field(
        default=None,
        max_length=128,
        description="Needed to change an existing password, unless you signed in by code in the last 10 minutes.",
    )


class RealNameSubmit(_In):
    real_name: str = Field(min_length=1, max_length=50, examples=["李雷"])
    id_number: str = Field(
        min_length=1,
        max_length=32,
        description="18-character resident identity number.",
        examples=["11010519491231002X"],
    )


# --------------------------------------------------------------------------------------------------------------
# Roles


class RoleGrantCreate(_In):
    role: Role
    city_id: uuid.UUID | None = Field(default=None, description="The city of a city or store role.")
    store_id: uuid.UUID | None = Field(default=None, description="The store of a merchant role.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"role": "courier", "city_id": "0192f0c1-7a55-7000-8000-000000000001"},
                {
                    "role": "merchant_staff",
                    "city_id": "0192f0c1-7a55-7000-8000-000000000001",
                    "store_id": "0192f0c1-7a55-7000-8000-0000000000a1",
                },
            ]
        },
    )


class PersonSummary(_Out):
    """What an operator sees of a person they look up to grant a role."""

    id: uuid.UUID
    phone_masked: str
    display_name: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Favourites


FavouriteKind = Literal["store", "deal", "home"]


class FavouriteOut(_Out):
    kind: FavouriteKind
    target_id: uuid.UUID
    city_id: uuid.UUID
    created_at: dt.datetime
