"""The catalogue of certificate types: schema, validity rules, layout; managed by the node operator.

A type code is the USCC of the body that defines the type plus a 3-digit sequence (GB/T 36904).
The default catalogue is written on first use; the operator may change or add types later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_svc import reasons
from cert_svc.models import CertTypeRow
from hutong import audit, identifiers
from hutong.errors import HutongError, InvalidArgument, NotFound

HolderKind = Literal["person", "organisation"]
FieldType = Literal["string", "date", "integer", "decimal", "citizen_id", "uscc", "enum"]
FIELD_TYPES: tuple[FieldType, ...] = ("string", "date", "integer", "decimal", "citizen_id", "uscc", "enum")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: FieldType = "string"
    required: bool = True
    pattern: str = ""
    max_length: int = 0
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidityRule:
    default_years: int = 0  # 0: open-ended (长期) unless a date is given
    max_years: int = 0  # 0: no maximum
    open_ended_allowed: bool = True


@dataclass(frozen=True)
class Layout:
    title: str
    field_order: tuple[str, ...] = ()
    footer: str = ""


@dataclass(frozen=True)
class CertTypeSpec:
    code: str
    name: str
    authority: str
    holder_kind: HolderKind
    fields: tuple[FieldSpec, ...]
    validity: ValidityRule = ValidityRule()
    layout: Layout = field(default_factory=lambda: Layout(title=""))
    active: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CertTypeSpec:
        raw = json.loads(text)
        return cls(
            code=raw["code"], name=raw["name"], authority=raw["authority"], holder_kind=raw["holder_kind"],
            fields=tuple(FieldSpec(**{**f, "choices": tuple(f.get("choices", ()))}) for f in raw["fields"]),
            validity=ValidityRule(**raw["validity"]),
            layout=Layout(**{**raw["layout"], "field_order": tuple(raw["layout"]["field_order"])}),
            active=raw.get("active", True),
        )


# -- checking a catalogue entry ----------------------------------------------------------------

def check_spec(spec: CertTypeSpec) -> CertTypeSpec:
    """Refuse an entry that could never be issued correctly; returns it with a normalised code."""
    code = _check_type_code(spec.code)
    if not spec.name.strip() or spec.holder_kind not in ("person", "organisation") or not spec.fields:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, "a type needs a name, a holder kind and fields")
    names = [f.name for f in spec.fields]
    if len(set(names)) != len(names) or any(not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", n) for n in names):
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, "field names must be unique snake_case names")
    for f in spec.fields:
        _check_field_spec(f)
    if spec.validity.default_years < 0 or spec.validity.max_years < 0:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, "validity years cannot be negative")
    if spec.validity.default_years == 0 and not spec.validity.open_ended_allowed:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, "a type without open-ended validity needs default years")
    unknown = set(spec.layout.field_order) - set(names)
    if unknown:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, f"layout names unknown fields: {sorted(unknown)}")
    return replace(spec, code=code)


def _check_type_code(code: str) -> str:
    code = code.strip().upper()
    if len(code) != 21 or not code[18:].isdigit():
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, "a type code is a USCC followed by 3 digits")
    try:
        return identifiers.normalise_uscc(code[:18]) + code[18:]
    except HutongError as exc:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, f"the type code's defining body: {exc.message}") from None


def _check_field_spec(f: FieldSpec) -> None:
    if f.type not in FIELD_TYPES:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, f"field {f.name}: unknown type {f.type!r}")
    if f.type == "enum" and not f.choices:
        raise InvalidArgument(reasons.CERT_TYPE_INVALID, f"field {f.name}: an enum needs choices")
    if f.pattern:
        try:
            re.compile(f.pattern)
        except re.error:
            raise InvalidArgument(reasons.CERT_TYPE_INVALID, f"field {f.name}: the pattern is invalid") from None


# -- checking values against the schema --------------------------------------------------------

def _field_error(name: str, why: str) -> InvalidArgument:
    # The message names the field, never the value: values may be personal data.
    return InvalidArgument(reasons.FIELD_INVALID, f"field {name!r} {why}", metadata={"field": name})


def check_fields(spec: CertTypeSpec, values: Mapping[str, str]) -> dict[str, str]:
    """Validate field values against the type's schema; returns the normalised values."""
    known = {f.name: f for f in spec.fields}
    for name in values:
        if name not in known:
            raise _field_error(name, "is not part of this certificate type")
    out: dict[str, str] = {}
    for f in spec.fields:
        value = (values.get(f.name) or "").strip()
        if not value:
            if f.required:
                raise _field_error(f.name, "is required")
            continue
        out[f.name] = _check_value(f, value)
    return out


def _check_value(f: FieldSpec, value: str) -> str:
    if f.max_length and len(value) > f.max_length:
        raise _field_error(f.name, f"is longer than {f.max_length} characters")
    value = _typed_value(f, value)
    if f.pattern and not re.fullmatch(f.pattern, value):
        raise _field_error(f.name, "does not match the required pattern")
    return value


def _typed_value(f: FieldSpec, value: str) -> str:
    try:
        match f.type:
            case "date":
                return date.fromisoformat(value).isoformat()
            case "integer":
                return str(int(value))
            case "decimal":
                return str(Decimal(value))
            case "citizen_id":
                return identifiers.normalise_citizen_id(value)
            case "uscc":
                return identifiers.normalise_uscc(value)
            case "enum":
                if value not in f.choices:
                    raise ValueError
    except (ValueError, InvalidOperation, HutongError):
        raise _field_error(f.name, f"is not a valid {f.type}") from None
    return value


# -- storage -----------------------------------------------------------------------------------

def get_type(session: Session, code: str, *, for_issuing: bool = False) -> CertTypeSpec:
    ensure_defaults(session)
    row = session.get(CertTypeRow, code.strip().upper())
    if row is None or (for_issuing and not row.active):
        if for_issuing:
            raise InvalidArgument(reasons.CERT_TYPE_UNKNOWN, "no active certificate type has this code")
        raise NotFound(reasons.CERT_TYPE_NOT_FOUND, "no certificate type has this code")
    return CertTypeSpec.from_json(row.spec)


def list_types(session: Session) -> list[CertTypeSpec]:
    ensure_defaults(session)
    return [CertTypeSpec.from_json(r.spec) for r in session.scalars(select(CertTypeRow).order_by(CertTypeRow.code))]


def put_type(session: Session, spec: CertTypeSpec, *, actor: str) -> CertTypeSpec:
    ensure_defaults(session)
    spec = check_spec(spec)
    row = session.get(CertTypeRow, spec.code)
    _store(session, spec, row)
    audit.append(session, actor=actor, action="cert.type.put" if row else "cert.type.create", target=spec.code,
                 details={"name": spec.name, "active": spec.active})
    return spec


def _store(session: Session, spec: CertTypeSpec, row: CertTypeRow | None) -> None:
    now = datetime.now(UTC)
    if row is None:
        session.add(CertTypeRow(code=spec.code, name=spec.name, spec=spec.to_json(), active=spec.active,
                                updated_at=now))
    else:
        row.name, row.spec, row.active, row.updated_at = spec.name, spec.to_json(), spec.active, now
    session.flush()


def ensure_defaults(session: Session) -> None:
    """Write the default catalogue the first time the catalogue is used."""
    if session.scalars(select(CertTypeRow.code).limit(1)).first() is not None:
        return
    for spec in DEFAULT_TYPES:
        _store(session, check_spec(spec), None)
    audit.append(session, actor="node", action="cert.type.defaults", target="catalogue",
                 details={"types": [s.code for s in DEFAULT_TYPES]})


# -- the default catalogue ---------------------------------------------------------------------
# Defining bodies: market regulation (SAMR), public security (MPS), education (MOE).
SAMR, MPS, MOE = "11100000000013338W", "11100000000019713D", "111000000000151004"
_NAME = r"[^\x00-\x1f]{1,100}"

BUSINESS_LICENCE = SAMR + "011"
RESIDENT_ID = MPS + "001"
DRIVING_LICENCE = MPS + "002"
DIPLOMA = MOE + "001"
FOOD_PERMIT = SAMR + "051"

DEFAULT_TYPES: tuple[CertTypeSpec, ...] = (
    CertTypeSpec(
        code=BUSINESS_LICENCE, name="营业执照", authority="国家市场监督管理总局", holder_kind="organisation",
        fields=(
            FieldSpec("name", "名称", pattern=_NAME),
            FieldSpec("entity_type", "类型", max_length=100),
            FieldSpec("legal_representative", "法定代表人", pattern=_NAME),
            FieldSpec("legal_representative_id", "法定代表人身份证号", "citizen_id"),
            FieldSpec("registered_capital", "注册资本（万元）", "decimal", required=False),
            FieldSpec("established_on", "成立日期", "date"),
            FieldSpec("address", "住所", max_length=200),
            FieldSpec("business_scope", "经营范围", max_length=2000),
            FieldSpec("registration_authority", "登记机关", max_length=100),
        ),
        validity=ValidityRule(default_years=0, open_ended_allowed=True),
        layout=Layout(title="营业执照", field_order=("name", "entity_type", "legal_representative",
                                                   "registered_capital", "established_on", "address",
                                                   "business_scope", "registration_authority"),
                      footer="国家企业信用信息公示系统"),
    ),
    CertTypeSpec(
        code=RESIDENT_ID, name="居民身份证电子证照", authority="公安部", holder_kind="person",
        fields=(
            FieldSpec("name", "姓名", pattern=_NAME),
            FieldSpec("sex", "性别", "enum", choices=("男", "女")),
            FieldSpec("ethnicity", "民族", max_length=20),
            FieldSpec("birth_date", "出生", "date"),
            FieldSpec("address", "住址", max_length=200),
            FieldSpec("issuing_authority", "签发机关", max_length=100),
        ),
        validity=ValidityRule(default_years=10, max_years=20, open_ended_allowed=True),
        layout=Layout(title="居民身份证", field_order=("name", "sex", "ethnicity", "birth_date", "address",
                                                    "issuing_authority")),
    ),
    CertTypeSpec(
        code=DRIVING_LICENCE, name="机动车驾驶证电子证照", authority="公安部", holder_kind="person",
        fields=(
            FieldSpec("name", "姓名", pattern=_NAME),
            FieldSpec("sex", "性别", "enum", choices=("男", "女")),
            FieldSpec("nationality", "国籍", max_length=50),
            FieldSpec("address", "住址", max_length=200),
            FieldSpec("first_issued_on", "初次领证日期", "date"),
            FieldSpec("vehicle_class", "准驾车型", pattern=r"[A-DMNP][1-3]?(?:[A-DMNP][1-3]?)*"),
        ),
        validity=ValidityRule(default_years=6, max_years=10, open_ended_allowed=True),
        layout=Layout(title="中华人民共和国机动车驾驶证",
                      field_order=("name", "sex", "nationality", "address", "first_issued_on", "vehicle_class")),
    ),
    CertTypeSpec(
        code=DIPLOMA, name="学历证书", authority="教育部", holder_kind="person",
        fields=(
            FieldSpec("name", "姓名", pattern=_NAME),
            FieldSpec("institution", "学校名称", max_length=100),
            FieldSpec("major", "专业", max_length=100),
            FieldSpec("level", "层次", "enum", choices=("专科", "本科", "硕士研究生", "博士研究生")),
            FieldSpec("enrolled_on", "入学日期", "date"),
            FieldSpec("graduated_on", "毕业日期", "date"),
            FieldSpec("certificate_number", "证书编号", pattern=r"\d{18}"),
        ),
        validity=ValidityRule(default_years=0, open_ended_allowed=True),
        layout=Layout(title="毕业证书", field_order=("name", "institution", "major", "level", "enrolled_on",
                                                  "graduated_on", "certificate_number")),
    ),
    CertTypeSpec(
        code=FOOD_PERMIT, name="食品经营许可证", authority="国家市场监督管理总局", holder_kind="organisation",
        fields=(
            FieldSpec("operator_name", "经营者名称", pattern=_NAME),
            FieldSpec("legal_representative", "法定代表人（负责人）", pattern=_NAME),
            FieldSpec("address", "经营场所", max_length=200),
            FieldSpec("main_business", "主体业态", max_length=100),
            FieldSpec("business_items", "经营项目", max_length=1000),
            FieldSpec("permit_number", "许可证编号", pattern=r"JY\d{14}"),
        ),
        validity=ValidityRule(default_years=5, max_years=5, open_ended_allowed=False),
        layout=Layout(title="食品经营许可证", field_order=("operator_name", "legal_representative", "address",
                                                      "main_business", "business_items", "permit_number")),
    ),
)
