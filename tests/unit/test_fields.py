"""Input validation shared by the web forms and the API."""
from datetime import date

import pytest

from caseflow.workflows.definition import (
    BAD_PHONE, BAD_RESIDENT_ID, DATE_IN_FUTURE, NOT_A_CHOICE, REQUIRED, Field, Text, clean_fields, format_yuan,
)

TODAY = date(2026, 11, 23)


def clean(field, value):
    return field.clean(value, TODAY)


def error_of(field, value):
    with pytest.raises(ValueError) as info:
        clean(field, value)
    return info.value.args[0]


def test_resident_id_checks_length_date_region_and_check_digit():
    field = Field("id", Text("身份证", "ID"), "resident_id")
    assert clean(field, " 11010519491231002x ") == "11010519491231002X"
    assert error_of(field, "110105194912310021") == BAD_RESIDENT_ID  # wrong check digit
    assert error_of(field, "11010519491331002X") == BAD_RESIDENT_ID  # month 13
    assert error_of(field, "1101051949123100") == BAD_RESIDENT_ID


def test_phone_is_normalised_to_e164():
    field = Field("phone", Text("电话", "Phone"), "phone")
    assert clean(field, "138 1234 5678") == "+8613812345678"
    assert clean(field, "010-65123456") == "+861065123456"
    assert error_of(field, "12345") == BAD_PHONE


def test_dates_integers_choices_and_required():
    married = Field("married", Text("结婚", "Married"), "date", past_only=True)
    assert clean(married, "2020-05-01") == "2020-05-01"
    assert error_of(married, "2026-11-24") == DATE_IN_FUTURE
    children = Field("n", Text("子女", "Children"), "integer", min_value=0, max_value=20)
    assert clean(children, "2") == 2
    assert error_of(children, "21").en == "Enter a number from 0 to 20."
    assert error_of(children, "two").en == "Enter a whole number."
    channel = Field("c", Text("方式", "Channel"), "choice", choices=(("online", Text("网上", "online")),))
    assert error_of(channel, "fax") == NOT_A_CHOICE
    assert error_of(channel, "  ") == REQUIRED


def test_clean_fields_reports_every_error_at_once_and_drops_unknown_keys():
    fields = (Field("a", Text("甲", "A")), Field("b", Text("乙", "B"), required=False), Field("c", Text("丙", "C")))
    values, errors = clean_fields(fields, {"a": "x", "z": "smuggled"}, TODAY)
    assert values == {"a": "x"}
    assert errors == {"c": REQUIRED}
    too_long = Field("t", Text("文", "T"), max_length=3)
    assert clean_fields((too_long,), {"t": "abcd"}, TODAY)[1]["t"].zh == "不能超过 3 个字符。"


def test_money_is_typed_in_yuan_and_kept_in_integer_fen():
    amount = Field("amount", Text("金额", "Amount"), "money", max_value=100_000_00)
    assert clean(amount, "1234.5") == 123450
    assert clean(amount, "¥1,234.56") == 123456
    assert clean(amount, "0.07") == 7 and isinstance(clean(amount, "0.07"), int)
    assert clean(amount, "100000") == 100_000_00
    for bad in ("12.345", "-5", "1e3", "abc", "1.2.3"):
        assert error_of(amount, bad).en.startswith("Enter an amount in yuan"), bad
    assert error_of(amount, "100000.01").en == "Enter a number from 0.00 to 100,000.00."


def test_format_yuan_round_trips_fen():
    assert format_yuan(123450) == "1,234.50"
    assert format_yuan(7) == "0.07"
    assert format_yuan(-250) == "-2.50"


def test_configured_choices_are_checked_against_the_list_given():
    scheme = Field("scheme", Text("项目", "Scheme"), "choice", choices_from="subsidy_schemes")
    listed = (("jiangfu", Text("奖扶", "Reward")),)
    values, errors = clean_fields((scheme,), {"scheme": "jiangfu"}, TODAY, {"subsidy_schemes": listed})
    assert values == {"scheme": "jiangfu"} and errors == {}
    _values, errors = clean_fields((scheme,), {"scheme": "jiangfu"}, TODAY, {"subsidy_schemes": ()})
    assert errors == {"scheme": NOT_A_CHOICE}  # a retired entry cannot be chosen for new input
